//! A `tracing` span is opened per tap, isolated failures are logged as `tracing` error events,
//! and an around tap that short-circuits (returns without calling `next`) as a warning.
//!
//! This is its own test binary on purpose: tracing-core caches per-call-site interest for all
//! threads, and a test on another thread registering the tap call site while this one installs
//! its subscriber can leave that cache stale (a race in tracing-core, not in the engine). Alone in
//! its process, the test registers every call site under its own subscriber.

use std::sync::{Arc, Mutex};

use hookline::{
    After, AfterFailures, AfterRuns, AroundHook, BoxFuture, Flow, Next, Origin, Pipeline, Scope,
    Share, TapError,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A minimal subscriber that records span names with their `tap` field, and error events.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(Vec<(String, String)>);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        span.record(&mut fields);
        let tap = fields
            .0
            .iter()
            .find(|(k, _)| k == "tap")
            .map(|(_, v)| v.clone());
        let phase = fields
            .0
            .iter()
            .find(|(k, _)| k == "phase")
            .map(|(_, v)| v.clone());
        self.0.lock().unwrap().push(format!(
            "span {} tap={} phase={}",
            span.metadata().name(),
            tap.unwrap_or_default(),
            phase.unwrap_or_default()
        ));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let message = fields
            .0
            .iter()
            .find(|(k, _)| k == "message")
            .map(|(_, v)| v.clone());
        self.0.lock().unwrap().push(format!(
            "event {} {}",
            event.metadata().level(),
            message.unwrap_or_default()
        ));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn cache<'a>(_: &'a mut u32, _: Next<'a, u32, u32>) -> BoxFuture<'a, Result<u32, TapError>> {
    Box::pin(async { Ok(42) })
}

fn handler<'b>(_: &'b mut u32, _: Scope<'b, '_>) -> BoxFuture<'b, Result<u32, TapError>> {
    Box::pin(async { Ok(0) })
}

#[test]
fn a_span_per_tap_an_error_event_per_isolated_failure_and_a_warning_per_around_short_circuit() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let p: Pipeline<u32, u32> = Pipeline::new("p")
        .after_runs(AfterRuns::Always)
        .after_failures(AfterFailures::Isolate);
    p.before()
        .tap("check", |_: &mut hookline::Before<u32>| Ok(Flow::Continue))
        .unwrap();
    p.after()
        .tap("audit", |_: &mut After<u32, u32>| {
            Err(TapError::fail("disk full"))
        })
        .unwrap();
    let out =
        futures_util::FutureExt::now_or_never(p.run(1, async |n: &mut u32, _: &Share| Ok(*n + 1)))
            .unwrap()
            .unwrap();
    assert_eq!(out.output, 2);
    assert_eq!(out.isolated.len(), 1);
    assert_eq!(
        *capture.0.lock().unwrap(),
        [
            "span tap tap=check phase=before",
            "span tap tap=audit phase=after",
            "event ERROR isolated after-tap failed",
        ]
    );

    capture.0.lock().unwrap().clear();
    let around: AroundHook<u32, u32> = AroundHook::new("query");
    around.tap("cache", cache).unwrap();
    let out = futures_util::FutureExt::now_or_never(around.call(&mut 1, handler))
        .unwrap()
        .unwrap();
    assert_eq!(
        (out.output, out.origin),
        (
            42,
            Origin::ShortCircuit {
                tap: "cache".into()
            }
        )
    );
    assert_eq!(
        *capture.0.lock().unwrap(),
        [
            "span tap tap=cache phase=call",
            "event WARN around tap returned without calling `next`; the wrapped function did not run",
        ]
    );
}
