//! Calls run on the calling thread first and move to a worker when they must: a short call
//! does not wait behind a busy worker, and a moved call keeps nothing of its first start.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hookline_script::{
    HookPhase, JsonContext, Limit, MemoryTables, PoolConfig, ScriptOutcome, ScriptPool,
    ScriptSource, ScriptTap,
};
use serde_json::json;
use support::{Gate, Signalling};
use tokio::sync::{Semaphore, mpsc};

/// An empty table `flats` whose calls are reported on the returned channel.
fn flats() -> (Arc<Signalling>, mpsc::UnboundedReceiver<String>) {
    let (calls, seen) = mpsc::unbounded_channel();
    let tables = MemoryTables::new().with_table("flats");
    (Arc::new(Signalling::new(calls, tables)), seen)
}

/// The data-API calls reported so far.
fn received(calls: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    std::iter::from_fn(|| calls.try_recv().ok()).collect()
}

/// Holds the only worker of `pool` with a script waiting on the gate until the returned
/// semaphore gets a permit; returns the task running that script too. (Scripts load on a
/// worker: load the others first.)
async fn hold(
    pool: &ScriptPool,
) -> (
    tokio::task::JoinHandle<Result<JsonContext, hookline_script::ScriptError>>,
    Arc<Semaphore>,
) {
    let (gate, mut seen, open) = Gate::new();
    let waiting = pool
        .load(ScriptSource::body(
            "waits.js",
            "const { data } = await #gate.find();\n@DATA = data[0];",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let tap = ScriptTap::new(pool, [waiting]).with_tables(Arc::new(gate));
    let held = tokio::spawn(async move {
        let mut ctx = JsonContext::new();
        tap.run(&mut ctx).await.map(|_| ctx)
    });
    seen.recv()
        .await
        .expect("the waiting script called the data API");
    (held, open)
}

async fn add_one(pool: &ScriptPool) -> ScriptTap {
    let script = pool
        .load(ScriptSource::function(
            "add_one.js",
            "export default async ({ record }) => { record.n += 1; return { ok: true }; };",
        ))
        .await
        .unwrap();
    pool.tap([script])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_call_does_not_wait_behind_a_busy_worker() {
    let pool = ScriptPool::new(PoolConfig::default().workers(1)).unwrap();
    let tap = add_one(&pool).await;
    let (held, open) = hold(&pool).await;
    for n in 0..20 {
        let mut ctx = JsonContext::new().with("record", json!({ "n": n }));
        assert_eq!(tap.run(&mut ctx).await.unwrap(), ScriptOutcome::Continue);
        assert_eq!(ctx.get("record").unwrap()["n"], n + 1);
    }
    // The only worker is still held: the calls above ran on this thread.
    assert!(!held.is_finished());
    open.add_permits(1);
    let ctx = held.await.unwrap().unwrap();
    assert_eq!(ctx.get("data").unwrap(), &json!({ "passed": true }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_inline_budget_every_call_waits_for_a_worker() {
    let pool = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .inline_budget(Duration::ZERO),
    )
    .unwrap();
    let tap = add_one(&pool).await;
    let (held, open) = hold(&pool).await;
    let call = tokio::spawn(async move {
        let mut ctx = JsonContext::new().with("record", json!({ "n": 1 }));
        tap.run(&mut ctx).await.map(|_| ctx)
    });
    // However slow the machine, the call cannot finish while the only worker is held.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished());
    open.add_permits(1);
    held.await.unwrap().unwrap();
    let ctx = call.await.unwrap().unwrap();
    assert_eq!(ctx.get("record").unwrap()["n"], 2);
}

#[tokio::test]
async fn a_call_moved_to_a_worker_for_its_time_keeps_nothing_of_its_first_start() {
    let pool = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .time_limit(Duration::from_secs(10))
            .inline_budget(Duration::from_millis(1)),
    )
    .unwrap();
    // 30 ms of work: past the inline budget, well within the time limit.
    let slow = pool
        .load(ScriptSource::function(
            "slow.js",
            "export default async ({ record }) => {\n  record.n += 1;\n  record.log.push('ran');\n  const end = Date.now() + 30;\n  while (Date.now() < end) {}\n  return { ok: true };\n};",
        ))
        .await
        .unwrap();
    let tap = pool.tap([slow]);
    for n in 1..=3 {
        let mut ctx = JsonContext::new().with("record", json!({ "n": n, "log": [] }));
        tap.run(&mut ctx).await.unwrap();
        assert_eq!(
            ctx.get("record").unwrap(),
            &json!({ "n": n + 1, "log": ["ran"] })
        );
    }
}

#[tokio::test]
async fn a_call_that_uses_the_data_api_runs_once_on_a_worker() {
    let pool = ScriptPool::new(PoolConfig::default().workers(1)).unwrap();
    let (tables, mut calls) = flats();
    let script = pool
        .load(ScriptSource::function(
            "count.js",
            "export default async ({ record, tables }) => {\n  record.n += 1;\n  const { data } = await tables.flats.find({});\n  record.seen = data.length;\n  return { ok: true };\n};",
        ))
        .await
        .unwrap();
    let tap = ScriptTap::new(&pool, [script]).with_tables(tables);
    for n in 1..=3 {
        let mut ctx = JsonContext::new().with("record", json!({ "n": n }));
        tap.run(&mut ctx).await.unwrap();
        assert_eq!(
            ctx.get("record").unwrap(),
            &json!({ "n": n + 1, "seen": 0 })
        );
        assert_eq!(received(&mut calls), ["flats"]);
    }
}

#[tokio::test]
async fn a_script_that_catches_the_data_api_move_still_moves() {
    // The run on the calling thread cannot be kept even if the script swallows the error
    // that stopped its data-API call there.
    let pool = ScriptPool::new(PoolConfig::default().workers(1)).unwrap();
    let (tables, mut calls) = flats();
    let script = pool
        .load(ScriptSource::function(
            "swallow.js",
            "export default async ({ record, tables }) => {\n  try {\n    const { data } = await tables.flats.find({});\n    record.seen = data.length;\n  } catch (e) {\n    record.seen = 'failed: ' + e.message;\n  }\n  return { ok: true };\n};",
        ))
        .await
        .unwrap();
    let mut ctx = JsonContext::new().with("record", json!({}));
    ScriptTap::new(&pool, [script])
        .with_tables(tables)
        .run(&mut ctx)
        .await
        .unwrap();
    assert_eq!(ctx.get("record").unwrap(), &json!({ "seen": 0 }));
    assert_eq!(received(&mut calls), ["flats"]);
}

const DEEP: &str = "function down(n) { return n === 0 ? 0 : down(n - 1) + 1; }\nexport default async ({ record }) => { record.depth = down(record.n); return { ok: true }; };";

async fn deep(pool: &ScriptPool, n: u64) -> Result<JsonContext, hookline_script::ScriptError> {
    let script = pool
        .load(ScriptSource::function("deep.js", DEEP))
        .await
        .unwrap();
    let mut ctx = JsonContext::new().with("record", json!({ "n": n }));
    pool.tap([script]).run(&mut ctx).await.map(|_| ctx)
}

#[tokio::test]
async fn a_script_that_needs_more_stack_than_a_calling_thread_has_runs_on_a_worker() {
    // The smallest depth that overflows the calling thread's 256 KiB (probed on a worker with
    // that limit, since frame sizes differ between builds).
    let small = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .stack_limit(256 << 10)
            .inline_budget(Duration::ZERO),
    )
    .unwrap();
    let mut n = 25;
    loop {
        match deep(&small, n).await {
            Ok(_) => n += 25,
            Err(error) => {
                assert_eq!(error.limit(), Some(Limit::Stack(256 << 10)), "{error}");
                break;
            }
        }
    }
    let pool = ScriptPool::new(PoolConfig::default().workers(1).stack_limit(4 << 20)).unwrap();
    let ctx = deep(&pool, n).await.unwrap();
    assert_eq!(ctx.get("record").unwrap()["depth"], n);
}
