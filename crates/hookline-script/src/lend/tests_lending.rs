//! Contexts that lend their values ([`Lend::lend_script`](crate::lend::Lend::lend_script)): the values move to the
//! worker and come back, with the scripts' changes when the call continues and as they were
//! when it is rejected or fails. A call dropped midway loses them, and a hook call then fails.

use std::time::Duration;

use crate::lend::{Lend, Returned};
use crate::{
    ContextError, PoolConfig, Script, ScriptError, ScriptOutcome, ScriptPool, ScriptSource,
};
use hookline::{ErrorKind, Hook, Tap};
use serde_json::{Map, Value, json};

fn pool() -> ScriptPool {
    ScriptPool::new(PoolConfig::default().workers(1)).expect("a script pool")
}

async fn load(pool: &ScriptPool, name: &str, code: &str) -> Script {
    pool.load(ScriptSource::function(name, code))
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// A context that moves its rows to the worker as JSON values (records can also go as rows,
/// with [`ScriptContext::lend_records`]: see `records.rs`), and
/// records how they came back.
#[derive(Debug, Default)]
struct Rows {
    rows: Vec<Value>,
    returned: Vec<&'static str>,
}

impl Rows {
    fn new() -> Self {
        Rows {
            rows: vec![
                json!({ "id": 1, "price": 1200.0, "country": "ua" }),
                json!({ "id": 2, "price": 900.5, "country": "pl" }),
            ],
            returned: Vec::new(),
        }
    }

    fn take(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        match values.remove("rows") {
            Some(Value::Array(rows)) => {
                self.rows = rows;
                Ok(())
            }
            _ => Err(ContextError::invalid("`rows` must stay an array")),
        }
    }
}

impl Lend for Rows {
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        let rows = std::mem::take(&mut self.rows);
        Ok(Map::from_iter([("rows".into(), Value::from(rows))]))
    }

    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        match values {
            Returned::Changed(values) => {
                self.returned.push("changed");
                self.take(values)
            }
            Returned::Unchanged(values) => {
                self.returned.push("unchanged");
                self.take(values)
            }
        }
    }
}

/// A tap that lends its context, as the data binding's taps do.
struct LendingTap(crate::ScriptTap);

impl hookline::AsyncTap<Rows> for LendingTap {
    async fn call(&self, ctx: &mut Rows) -> hookline::TapResult {
        self.0.run_lent(ctx).await?;
        Ok(hookline::Flow::Continue)
    }
}

#[tokio::test]
async fn lent_rows_come_back_with_the_changes_and_their_number_kinds() {
    let pool = pool();
    let script = load(
        &pool,
        "upper.js",
        "export default ({ rows }) => { for (const r of rows) { r.country = r.country.toUpperCase(); r.per = r.price / 10; } rows[0].price = 1300; return { ok: true }; };",
    )
    .await;
    let mut ctx = Rows::new();
    let outcome = pool.tap([script]).run_lent(&mut ctx).await.unwrap();
    assert_eq!(outcome, ScriptOutcome::Continue);
    assert_eq!(ctx.returned, ["changed"]);
    assert_eq!(
        ctx.rows,
        [
            json!({ "id": 1, "price": 1300.0, "country": "UA", "per": 120 }),
            json!({ "id": 2, "price": 900.5, "country": "PL", "per": 90.05 }),
        ]
    );
    assert!(ctx.rows[0]["price"].is_f64() && ctx.rows[0]["id"].is_i64());
}

#[tokio::test]
async fn rejected_and_failed_calls_hand_the_rows_back_unchanged() {
    let pool = pool();
    let rejects = load(
        &pool,
        "rejects.js",
        "export default ({ rows }) => { rows.length = 0; return { ok: false, error: 'no' }; };",
    )
    .await;
    let throws = load(
        &pool,
        "throws.js",
        "export default ({ rows }) => { rows[0].id = 5; throw new Error('boom'); };",
    )
    .await;

    let mut ctx = Rows::new();
    let outcome = pool.tap([rejects]).run_lent(&mut ctx).await.unwrap();
    assert!(
        matches!(outcome, ScriptOutcome::Rejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(ctx.returned, ["unchanged"]);
    assert_eq!(ctx.rows, Rows::new().rows);

    let mut ctx = Rows::new();
    let err = pool.tap([throws]).run_lent(&mut ctx).await.unwrap_err();
    assert!(matches!(err, ScriptError::Thrown { .. }), "{err}");
    assert_eq!(ctx.returned, ["unchanged"]);
    assert_eq!(ctx.rows, Rows::new().rows);
}

#[tokio::test]
async fn a_call_dropped_midway_loses_the_rows_and_its_hook_call_fails() {
    let pool = pool();
    let slow = load(&pool, "slow.js", "export default () => { for (;;) {} };").await;

    // Dropped by hand: the rows are gone and were never handed back.
    let mut ctx = Rows::new();
    let tap = pool.tap([slow.clone()]);
    let run = tokio::time::timeout(Duration::from_millis(50), tap.run_lent(&mut ctx)).await;
    assert!(run.is_err(), "the call is still running");
    assert!(ctx.rows.is_empty() && ctx.returned.is_empty());

    // Dropped by a tap timeout inside a hook call: the call fails, nothing goes on without
    // the rows.
    let hook: Hook<Rows> = Hook::new("items.list.after_datasource_response");
    hook.tap_handler(
        Tap::named("slow").timeout(Duration::from_millis(50)),
        LendingTap(pool.tap([slow])),
    )
    .unwrap();
    let mut ctx = Rows::new();
    let err = hook.call(&mut ctx).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut { .. }), "{err}");
}
