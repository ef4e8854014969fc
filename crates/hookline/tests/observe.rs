//! Observability: interceptors see register / call / result / error, a `tracing` span is opened
//! per tap, and isolated failures are logged as `tracing` error events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::{
    After, AfterFailures, AfterRuns, Flow, Hook, HookError, Interceptor, Pipeline, Share, TapError,
    TapInfo,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Interceptor for Recorder {
    fn register(&self, hook: &str, tap: &TapInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("register {hook}/{}", tap.name()));
    }
    fn call(&self, _: &str, tap: &TapInfo) {
        self.0.lock().unwrap().push(format!("call {}", tap.name()));
    }
    fn result(&self, _: &str, tap: &TapInfo, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push(format!("result {}", tap.name()));
    }
    fn error(&self, _: &str, tap: &TapInfo, error: &HookError, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push(format!("error {} {}", tap.name(), error.status()));
    }
}

#[tokio::test]
async fn interceptors_see_every_step_including_taps_registered_before_them() {
    let hook: Hook<u32> = Hook::new("h");
    hook.tap("before-install", |_: &mut u32| Ok(Flow::Continue))
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    hook.intercept(recorder.clone());
    hook.tap_async("async", |n| {
        Box::pin(async move {
            if *n > 1 {
                return Err(TapError::reject("too big").with_status(400));
            }
            Ok(Flow::Continue)
        })
    })
    .unwrap();
    hook.call(&mut 1).await.unwrap();
    hook.call(&mut 2).await.unwrap_err();
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "register h/before-install",
            "register h/async",
            "call before-install",
            "result before-install",
            "call async",
            "result async",
            "call before-install",
            "result before-install",
            "call async",
            "error async 400",
        ]
    );
}

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

#[test]
fn a_span_per_tap_and_an_error_event_per_isolated_failure() {
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
}
