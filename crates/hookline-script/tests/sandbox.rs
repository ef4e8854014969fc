//! The sandbox: every limit stops the script with an error naming it and the limit, and the
//! same worker (a pool of one) serves the next call; nothing outside is reachable.

mod support;

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use hookline::BoxFuture;
use hookline_script::{
    FindQuery, HookPhase, JsonContext, Limit, PoolConfig, Record, Script, ScriptError,
    ScriptOutcome, ScriptPool, ScriptSource, ScriptTap, TableApi, TableError,
};
use serde_json::{Value, json};
use support::Signalling;
use tokio::sync::mpsc;

const TIME: Duration = Duration::from_millis(250);
const MEMORY: usize = 16 << 20;
const STACK: usize = 256 << 10;

fn pool() -> ScriptPool {
    ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .time_limit(TIME)
            .memory_limit(MEMORY)
            .stack_limit(STACK),
    )
    .expect("a script pool")
}

async fn function(pool: &ScriptPool, name: &str, code: &str) -> Script {
    pool.load(ScriptSource::function(name, code))
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

async fn run(pool: &ScriptPool, script: &Script) -> Result<ScriptOutcome, ScriptError> {
    let mut ctx = JsonContext::new().with("record", json!({ "n": 1 }));
    pool.tap([script.clone()]).run(&mut ctx).await
}

/// Proves the worker still works: a script that was compiled before the failure runs again.
async fn still_serves(pool: &ScriptPool, healthy: &Script) {
    let mut ctx = JsonContext::new().with("record", json!({ "n": 1 }));
    let outcome = pool.tap([healthy.clone()]).run(&mut ctx).await;
    assert_eq!(outcome.unwrap(), ScriptOutcome::Continue);
    assert_eq!(ctx.get("record").unwrap()["n"], 2);
}

async fn healthy(pool: &ScriptPool) -> Script {
    function(
        pool,
        "healthy.js",
        "export default async ({ record }) => { record.n += 1; return { ok: true }; };",
    )
    .await
}

fn limit_of(error: &ScriptError) -> Limit {
    error
        .limit()
        .unwrap_or_else(|| panic!("not a limit error: {error}"))
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_time_limit() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let looping = function(
        &pool,
        "loop.js",
        "export default async ({ record }) => {\n  while (true) {\n    record.n += 1;\n  }\n};",
    )
    .await;
    let err = run(&pool, &looping).await.unwrap_err();
    assert_eq!(limit_of(&err), Limit::Time(TIME));
    assert_eq!(err.script(), Some("loop.js"));
    assert!(
        err.to_string().starts_with(
            "script `loop.js` was stopped: it exceeded the time limit of 250ms at loop.js:"
        ),
        "{err}"
    );
    // QuickJS places an interruption at the running function, not at the exact statement.
    assert_eq!(err.location().map(|l| &*l.file), Some("loop.js"));
    still_serves(&pool, &healthy).await;

    // The interruption cannot be caught.
    let stubborn = pool
        .load(ScriptSource::body(
            "stubborn.js",
            "for (;;) { try { while (true) {} } catch (e) { @DATA = 'caught'; } }",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let err = pool
        .tap([stubborn])
        .run(&mut JsonContext::new())
        .await
        .unwrap_err();
    assert_eq!(limit_of(&err), Limit::Time(TIME));
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn unbounded_recursion_is_stopped_at_the_stack_limit() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let recursive = function(
        &pool,
        "recurse.js",
        "function down(n) { return down(n + 1) + 1; }\nexport default async () => down(0);",
    )
    .await;
    let err = run(&pool, &recursive).await.unwrap_err();
    assert_eq!(limit_of(&err), Limit::Stack(STACK));
    assert!(
        err.to_string().starts_with("script `recurse.js` was stopped: it exceeded the stack limit of 256 KiB at recurse.js:1:"),
        "{err}"
    );
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn allocating_without_end_is_stopped_at_the_memory_limit() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    for (name, code) in [
        (
            "array_bomb.js",
            "export default async () => { const keep = []; while (true) keep.push(new Array(100000).fill(1)); };",
        ),
        (
            "string_bomb.js",
            "export default async () => { let s = 'x'; for (;;) { s = s + s; s.charCodeAt(s.length - 1); } };",
        ),
        (
            "repeat_bomb.js",
            "export default async () => 'x'.repeat(2 ** 28).length;",
        ),
    ] {
        let bomb = function(&pool, name, code).await;
        let err = run(&pool, &bomb).await.unwrap_err();
        assert_eq!(limit_of(&err), Limit::Memory(MEMORY), "{name}: {err}");
        assert!(
            err.to_string().starts_with(&format!(
                "script `{name}` was stopped: it exceeded the memory limit of 16 MiB"
            )),
            "{err}"
        );
        still_serves(&pool, &healthy).await;
    }
}

#[tokio::test]
async fn a_context_too_large_for_the_heap_is_a_memory_limit() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let mut huge = JsonContext::new().with("blob", Value::String("x".repeat(MEMORY)));
    let err = pool
        .tap([healthy.clone()])
        .run(&mut huge)
        .await
        .unwrap_err();
    assert_eq!(limit_of(&err), Limit::Memory(MEMORY), "{err}");
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn a_throw_is_an_error_with_its_position_and_the_worker_serves_on() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let thrower = function(
        &pool,
        "thrower.js",
        "export default async ({ record }) => {\n  if (record.n > 0) throw new RangeError('n must stay 0');\n};",
    )
    .await;
    let err = run(&pool, &thrower).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "script `thrower.js` threw RangeError: n must stay 0 at thrower.js:2:31"
    );
    still_serves(&pool, &healthy).await;

    let value = function(
        &pool,
        "value.js",
        "export default async () => { throw { code: 7 }; };",
    )
    .await;
    let err = run(&pool, &value).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"script `value.js` threw the value {"code":7}"#
    );
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn a_limit_in_a_chain_names_the_script_that_hit_it() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let looping = function(
        &pool,
        "second_loops.js",
        "export default () => { for (;;) {} };",
    )
    .await;
    let mut ctx = JsonContext::new().with("record", json!({ "n": 1 }));
    let err = pool
        .tap([healthy.clone(), looping])
        .run(&mut ctx)
        .await
        .unwrap_err();
    assert_eq!(err.script(), Some("second_loops.js"));
    assert_eq!(ctx.get("record").unwrap()["n"], 1, "nothing applied");
}

#[tokio::test]
async fn a_promise_that_never_settles_is_an_error() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let waiting = function(
        &pool,
        "waits.js",
        "export default async () => { await new Promise(() => {}); };",
    )
    .await;
    let err = run(&pool, &waiting).await.unwrap_err();
    assert!(matches!(err, ScriptError::Unsettled { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "script `waits.js` awaits a promise that never settles"
    );
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn nothing_outside_the_sandbox_is_reachable() {
    let pool = pool();
    let probe = function(
        &pool,
        "probe.js",
        "export default async ({ record }) => {
           record.found = ['require', 'process', 'fetch', 'XMLHttpRequest', 'WebSocket', 'setTimeout',
             'setInterval', 'std', 'os', 'Deno', 'Bun', 'print', 'scriptArgs', 'module', 'exports',
             '__hookline_host', 'host']
             .filter((name) => typeof globalThis[name] !== 'undefined');
           try { await import('os'); record.imported = true; } catch (e) { record.import_error = e.message; }
           return { ok: true };
         };",
    )
    .await;
    let mut ctx = JsonContext::new().with("record", json!({}));
    pool.tap([probe]).run(&mut ctx).await.unwrap();
    let record = ctx.get("record").unwrap();
    assert_eq!(record["found"], json!([]));
    assert_eq!(record["import_error"], "could not load module 'os'");

    let err = pool
        .load(ScriptSource::function(
            "imports.js",
            "import { readFileSync } from 'fs';\nexport default async () => ({ ok: true });",
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("could not load module 'fs' (scripts cannot import modules)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_module_that_loops_at_load_time_is_stopped() {
    let pool = pool();
    let err = pool
        .load(ScriptSource::function(
            "top_level.js",
            "while (true) {}\nexport default async () => ({ ok: true });",
        ))
        .await
        .unwrap_err();
    assert_eq!(limit_of(&err), Limit::Time(TIME));
    let healthy = healthy(&pool).await;
    still_serves(&pool, &healthy).await;
}

/// A data API that signals each call and never answers.
struct Silent(mpsc::UnboundedSender<String>);

impl Silent {
    fn wait<'a, T: Send + 'a>(&'a self, table: &str) -> BoxFuture<'a, Result<T, TableError>> {
        let _ = self.0.send(table.to_string());
        Box::pin(pending())
    }
}

impl TableApi for Silent {
    fn find<'a>(
        &'a self,
        table: &'a str,
        _: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>> {
        self.wait(table)
    }
    fn create<'a>(
        &'a self,
        table: &'a str,
        _: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        self.wait(table)
    }
    fn update<'a>(
        &'a self,
        table: &'a str,
        _: Value,
        _: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        self.wait(table)
    }
    fn delete<'a>(&'a self, table: &'a str, _: Value) -> BoxFuture<'a, Result<Record, TableError>> {
        self.wait(table)
    }
}

#[tokio::test]
async fn the_time_limit_covers_data_api_calls() {
    let pool = pool();
    let healthy = healthy(&pool).await;
    let (calls, mut seen) = mpsc::unbounded_channel();
    let script = pool
        .load(ScriptSource::body(
            "slow_api.js",
            "await #slow.find({});",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let err = ScriptTap::new(&pool, [script])
        .with_tables(Arc::new(Silent(calls)))
        .run(&mut JsonContext::new())
        .await
        .unwrap_err();
    assert_eq!(seen.recv().await.as_deref(), Some("slow"));
    assert_eq!(limit_of(&err), Limit::Time(TIME), "{err}");
    still_serves(&pool, &healthy).await;
}

#[tokio::test]
async fn a_caller_that_stops_waiting_frees_the_worker() {
    let pool = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .time_limit(Duration::from_secs(3600)),
    )
    .unwrap();
    let healthy = healthy(&pool).await;
    let (calls, mut seen) = mpsc::unbounded_channel();
    let tables = Arc::new(Signalling::new(
        calls,
        hookline_script::MemoryTables::new().with_table("started"),
    ));
    let script = pool
        .load(ScriptSource::body(
            "abandoned.js",
            "await #started.create({ data: {} });\nwhile (true) {}",
            HookPhase::Post,
        ))
        .await
        .unwrap();
    let tap = ScriptTap::new(&pool, [script]).with_tables(tables);
    let call = tokio::spawn(async move { tap.run(&mut JsonContext::new()).await });
    assert_eq!(seen.recv().await.as_deref(), Some("started"));
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // With an hour-long time limit, only the cancellation can free the single worker; the
    // guard turns a regression into a failure instead of a hang.
    tokio::time::timeout(Duration::from_secs(60), still_serves(&pool, &healthy))
        .await
        .expect("the worker was freed when its caller went away");
}

#[tokio::test]
async fn through_a_hook_a_script_out_of_time_is_a_timeout_with_status_504() {
    let pool = pool();
    let endless = function(
        &pool,
        "endless.js",
        "export default async () => { while (true) {} };",
    )
    .await;
    let hook: hookline::Hook<JsonContext> = hookline::Hook::new("apartments.create.before_save");
    hook.tap_handler("endless", pool.tap([endless]))
        .expect("the tap registers");
    let mut ctx = JsonContext::new().with("record", json!({ "n": 1 }));
    let error = hook
        .call(&mut ctx)
        .await
        .expect_err("the script is stopped");
    assert!(
        matches!(error.kind(), hookline::ErrorKind::TimedOut(limit) if *limit == TIME),
        "{error:?}"
    );
    assert_eq!(error.status(), 504);
    assert_eq!(error.tap().map(|t| t.name()), Some("endless"));
    let healthy = healthy(&pool).await;
    still_serves(&pool, &healthy).await;
}
