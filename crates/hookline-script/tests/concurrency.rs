//! Many tasks calling script taps at once through a two-worker pool: every call gets its own
//! result, data-API calls are served by the calling tasks, a blocked script holds one worker
//! and not the pool, and waiting never blocks the async executor.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hookline::{Flow, Hook};
use hookline_script::{
    HookPhase, JsonContext, MemoryTables, PoolConfig, ScriptPool, ScriptSource, ScriptTap,
};
use serde_json::{Value, json};
use support::Gate;

const TASKS: usize = 200;

fn pool() -> ScriptPool {
    ScriptPool::new(
        PoolConfig::default()
            .workers(2)
            .time_limit(Duration::from_secs(10)),
    )
    .expect("a script pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_through_two_workers_each_get_their_own_result() {
    let pool = pool();
    let double = pool
        .load(ScriptSource::function(
            "double.js",
            "export default async ({ record }) => { record.out = record.n * 2; return { ok: true }; };",
        ))
        .await
        .unwrap();
    let label = pool
        .load(ScriptSource::body(
            "label.js",
            "@BODY.label = `n=${@BODY.n}`;",
            HookPhase::Pre,
        ))
        .await
        .unwrap();
    let tables = Arc::new(MemoryTables::new().with_table("audit"));
    let audit = pool
        .load(ScriptSource::body(
            "audit.js",
            "await #audit.create({ data: { n: @BODY.n } });",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let hook: Hook<JsonContext, Value> = Hook::new("concurrent");
    hook.tap_handler("double", pool.tap([double])).unwrap();
    hook.tap_handler(
        "label-and-audit",
        ScriptTap::new(&pool, [label, audit]).with_tables(tables.clone()),
    )
    .unwrap();

    let mut calls = Vec::new();
    for n in 0..TASKS {
        let hook = hook.clone();
        calls.push(tokio::spawn(async move {
            let mut ctx = JsonContext::new()
                .with("record", json!({ "n": n }))
                .with("body", json!({ "n": n }));
            let flow = hook.call(&mut ctx).await.unwrap();
            (n, flow, ctx)
        }));
    }
    for call in calls {
        let (n, flow, ctx) = call.await.unwrap();
        assert_eq!(flow, Flow::Continue);
        assert_eq!(ctx.get("record").unwrap()["out"], json!(n * 2));
        assert_eq!(ctx.get("body").unwrap()["label"], json!(format!("n={n}")));
    }
    let rows = tables.rows("audit").unwrap();
    let ns: BTreeSet<u64> = rows.iter().map(|r| r["n"].as_u64().unwrap()).collect();
    let ids: BTreeSet<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ns, (0..TASKS as u64).collect());
    assert_eq!(ids, (1..=TASKS as u64).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_waiting_on_the_data_api_holds_one_worker_not_the_pool() {
    let pool = pool();
    let (gate, mut entered, open) = Gate::new();
    let waiting = pool
        .load(ScriptSource::body(
            "waits.js",
            "const { data } = await #gate.find();\n@DATA = data[0];",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let quick = pool
        .load(ScriptSource::body(
            "quick.js",
            "@DATA = @DATA + 1;",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let blocked_tap = ScriptTap::new(&pool, [waiting]).with_tables(Arc::new(gate));
    let blocked = tokio::spawn(async move {
        let mut ctx = JsonContext::new();
        blocked_tap.run(&mut ctx).await.map(|_| ctx)
    });
    entered
        .recv()
        .await
        .expect("the waiting script called the data API");

    // One worker is held by `waits.js`; the other serves everyone else meanwhile.
    let quick_tap = pool.tap([quick]);
    for n in 0..20 {
        let mut ctx = JsonContext::new().with("data", n);
        quick_tap.run(&mut ctx).await.unwrap();
        assert_eq!(ctx.get("data").unwrap(), &json!(n + 1));
    }
    assert!(!blocked.is_finished());

    open.add_permits(1);
    let ctx = blocked.await.unwrap().unwrap();
    assert_eq!(ctx.get("data").unwrap(), &json!({ "passed": true }));
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_for_a_script_never_blocks_the_executor() {
    // One thread runs both tasks: the script's data-API call can only be answered if the task
    // opening the gate gets to run while the script waits.
    let pool = pool();
    let (gate, mut entered, open) = Gate::new();
    let waiting = pool
        .load(ScriptSource::body(
            "waits.js",
            "const { data } = await #gate.find();\n@DATA = data[0].passed;",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let tap = ScriptTap::new(&pool, [waiting]).with_tables(Arc::new(gate));
    let opener = tokio::spawn(async move {
        entered
            .recv()
            .await
            .expect("the script called the data API");
        open.add_permits(1);
    });
    let mut ctx = JsonContext::new();
    tap.run(&mut ctx).await.unwrap();
    opener.await.unwrap();
    assert_eq!(ctx.get("data").unwrap(), &json!(true));
}
