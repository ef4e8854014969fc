//! A `before_save` that sets one field of a 10-field record: as a native Rust tap, as a
//! function-style script and as a body-style script; one call at a time (latency), and 64
//! concurrent calls on 1 and 2 workers (throughput).
//!
//! Run with `cargo bench -p hookline-script --bench script_tap`.

use std::sync::Arc;

use futures_util::future::join_all;
use hookline::{Flow, Hook};
use hookline_script::{HookPhase, JsonContext, PoolConfig, ScriptPool, ScriptSource, ScriptTap};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

const CONCURRENT: usize = 64;

/// The context of a `before_save`: a 10-field record and the user. Function-style scripts see
/// the record as `record`; body-style scripts as `@BODY`.
fn context(record_key: &str) -> JsonContext {
    let record = json!({
        "id": 17, "title": "Loft by the river", "price": 2500.5, "rooms": 3,
        "area": 84.25, "city": "Lisbon", "listed": true, "realtor_id": 4,
        "description": "Bright, quiet, close to the tram.", "status": "draft"
    });
    JsonContext::new()
        .with(record_key, record)
        .with("user", json!({ "id": 4, "role": "realtor" }))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn native_hook() -> Hook<JsonContext, Value> {
    let hook = Hook::new("apartments.create.before_save");
    hook.tap("set-status", |ctx: &mut JsonContext| {
        if let Some(record) = ctx.get_mut("record").and_then(Value::as_object_mut) {
            record.insert("status".into(), Value::from("checked"));
        }
        Ok(Flow::Continue)
    })
    .expect("register the native tap");
    hook
}

fn script_hook(rt: &Runtime, workers: usize, body: bool) -> Hook<JsonContext, Value> {
    let pool = ScriptPool::new(PoolConfig::default().workers(workers)).expect("a script pool");
    let source = if body {
        ScriptSource::body("set_status.js", "@BODY.status = 'checked';", HookPhase::Pre)
    } else {
        ScriptSource::function(
            "set_status.js",
            "export default async ({ record }) => { record.status = 'checked'; return { ok: true }; }",
        )
    };
    let script = rt.block_on(pool.load(source)).expect("the script loads");
    let hook = Hook::new("apartments.create.before_save");
    hook.tap_handler("set-status", ScriptTap::new(&pool, [script]))
        .expect("register the script tap");
    hook
}

/// One call at a time: the latency of a call through the hook.
#[divan::bench(args = ["native", "function", "body"], sample_count = 500)]
fn one_call(bencher: divan::Bencher, kind: &str) {
    let rt = runtime();
    let hook = match kind {
        "native" => native_hook(),
        "function" => script_hook(&rt, 1, false),
        _ => script_hook(&rt, 1, true),
    };
    let template = context(if kind == "body" { "body" } else { "record" });
    bencher
        .with_inputs(|| template.clone())
        .bench_local_values(|mut ctx| {
            rt.block_on(hook.call(&mut ctx))
                .expect("the hook call succeeds");
            ctx
        });
}

/// 64 calls in flight at once, from one task each; time per batch of 64.
#[divan::bench(args = [1, 2], sample_count = 200)]
fn concurrent_function_calls(bencher: divan::Bencher, workers: usize) {
    let rt = runtime();
    let hook = Arc::new(script_hook(&rt, workers, false));
    let template = context("record");
    bencher
        .with_inputs(|| vec![template.clone(); CONCURRENT])
        .bench_local_values(|contexts| {
            rt.block_on(join_all(contexts.into_iter().map(|mut ctx| {
                let hook = hook.clone();
                async move {
                    hook.call(&mut ctx).await.expect("the hook call succeeds");
                    ctx
                }
            })))
        });
}
