//! `console` lines of a run dropped on the calling thread are not logged: a call that moves to
//! a worker logs each line once. (Its own test binary: it installs a global subscriber, since
//! workers log on their own threads.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_script::{JsonContext, MemoryTables, PoolConfig, ScriptPool, ScriptSource, ScriptTap};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps the message of every `hookline_script` event.
struct Lines(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Lines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "hookline_script"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = String::new();
        event.record(&mut Message(&mut text));
        self.0.lock().unwrap().push(text);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn lines_of_a_moved_call_are_logged_once() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Lines(lines.clone())).unwrap();
    let pool = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .inline_budget(Duration::from_millis(1)),
    )
    .unwrap();
    let quick = pool
        .load(ScriptSource::function(
            "quick.js",
            "export default async () => { console.log('quick'); return { ok: true }; };",
        ))
        .await
        .unwrap();
    let slow = pool
        .load(ScriptSource::function(
            "slow.js",
            "export default async () => {\n  console.log('slow start');\n  const end = Date.now() + 30;\n  while (Date.now() < end) {}\n  console.log('slow end');\n  return { ok: true };\n};",
        ))
        .await
        .unwrap();
    let data = pool
        .load(ScriptSource::function(
            "data.js",
            "export default async ({ tables }) => {\n  console.log('data start');\n  await tables.flats.find({});\n  console.log('data end');\n  return { ok: true };\n};",
        ))
        .await
        .unwrap();
    let tables = Arc::new(MemoryTables::new().with_table("flats"));
    for tap in [
        pool.tap([quick]),
        pool.tap([slow]),
        ScriptTap::new(&pool, [data]).with_tables(tables),
    ] {
        tap.run(&mut JsonContext::new().with("record", json!({})))
            .await
            .unwrap();
    }
    assert_eq!(
        *lines.lock().unwrap(),
        ["quick", "slow start", "slow end", "data start", "data end"]
    );
}
