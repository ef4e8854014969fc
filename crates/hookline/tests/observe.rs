//! Observability: interceptors see register / call / result / error. The `tracing` side (a span
//! per tap, an error event per isolated failure) is tested in `spans.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::{Flow, Hook, HookError, Interceptor, TapError, TapInfo};

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
