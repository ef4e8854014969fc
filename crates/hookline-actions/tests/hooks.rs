//! The short-circuit, cache-break and post-action hooks: how taps combine, the per-call
//! cache-break override, the loop guard, and what happens when a tap fails.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gated, contexts, echo, payload, record_post_actions};
use hookline::{ErrorKind, Flow, Tap, TapError};
use hookline_actions::{
    ActionError, AsyncAction, BreakPolicy, CallOptions, PostActionContext, RunOptions,
};

fn respect() -> RunOptions<String, String, String> {
    RunOptions::new().respect_cache()
}

#[tokio::test]
async fn the_first_short_circuit_tap_with_a_result_wins() {
    let (action, runs) = echo("echo");
    let asked: Arc<Mutex<Vec<&str>>> = Arc::default();
    for name in ["late", "early"] {
        let asked = asked.clone();
        let tap = match name {
            "early" => Tap::named(name).first(),
            _ => Tap::named(name),
        };
        action
            .short_circuit()
            .tap(tap, move |ctx| {
                asked.lock().unwrap().push(name);
                Ok(if ctx.args() == "skip" {
                    Flow::Return(Ok(format!("{name} answered")))
                } else {
                    Flow::Continue
                })
            })
            .unwrap();
    }
    assert_eq!(payload(&action.run("skip".into()).await), "early answered");
    assert_eq!(*asked.lock().unwrap(), ["early"]);
    assert_eq!(payload(&action.run("go".into()).await), "go!");
    assert_eq!(*asked.lock().unwrap(), ["early", "early", "late"]);
    assert_eq!(*runs.lock().unwrap(), 1);
    assert_eq!(action.short_circuit().explain().names(), ["early", "late"]);
}

#[tokio::test]
async fn ignore_short_circuit_runs_the_action() {
    let (action, runs) = echo("echo");
    action
        .short_circuit()
        .tap("always", |_| Ok(Flow::Return(Ok("short".to_string()))))
        .unwrap();
    let result = action
        .run_with("a".into(), RunOptions::new().ignore_short_circuit())
        .await;
    assert_eq!(payload(&result), "a!");
    assert_eq!(*runs.lock().unwrap(), 1);
}

#[tokio::test]
async fn the_short_circuit_is_not_asked_on_a_cache_hit() {
    let (action, _) = echo("echo");
    let asked = Arc::new(Mutex::new(0));
    let count = asked.clone();
    action
        .short_circuit()
        .tap("count", move |_| {
            *count.lock().unwrap() += 1;
            Ok(Flow::Continue)
        })
        .unwrap();
    action.read("a".into()).await.unwrap();
    action.read("a".into()).await.unwrap();
    action.beckon("a".into()).await;
    action.run_with("a".into(), respect()).await.unwrap();
    assert_eq!(*asked.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_short_circuit_error_result_is_cached_like_an_action_error() {
    let (action, _) = echo("echo");
    action
        .short_circuit()
        .tap("offline", |_| Ok(Flow::Return(Err("offline".to_string()))))
        .unwrap();
    let error = action.read("a".into()).await.unwrap_err();
    assert_eq!(error.failure().map(String::as_str), Some("offline"));
    assert!(matches!(
        action.get_cached(&"a".into()).result,
        Some(Err(ActionError::Failed(_)))
    ));
}

#[tokio::test]
async fn a_cache_break_runs_the_action_again_for_run_beckon_and_read() {
    let (action, runs) = echo("echo");
    let seen = record_post_actions(&action);
    action
        .cache_break()
        .tap("stale", |ctx| Ok(Flow::Return(ctx.args() == "stale")))
        .unwrap();
    for args in ["stale", "fresh"] {
        action.set_cached(&args.into(), Ok("old".into()));
    }
    assert_eq!(
        payload(&action.run_with("stale".into(), respect()).await),
        "stale!"
    );
    action.set_cached(&"stale".into(), Ok("old".into()));
    let mut watcher = action.beckon("stale".into()).await;
    assert_eq!(payload(&watcher.finished().await), "stale!");
    action.set_cached(&"stale".into(), Ok("old".into()));
    assert_eq!(payload(&action.read("stale".into()).await), "stale!");
    assert_eq!(payload(&action.read("fresh".into()).await), "old");
    assert_eq!(*runs.lock().unwrap(), 3);
    assert_eq!(
        contexts(&seen),
        [
            PostActionContext::DirectRun,
            PostActionContext::BeckonRun,
            PostActionContext::ReadRun,
            PostActionContext::ReadHitCache
        ]
    );
}

#[tokio::test]
async fn any_cache_break_tap_may_break_and_an_earlier_tap_may_veto() {
    let (action, runs) = echo("echo");
    action
        .cache_break()
        .tap("no-opinion", |_| Ok(Flow::Continue))
        .unwrap();
    action.run("a".into()).await.unwrap();
    action.run_with("a".into(), respect()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 1, "no decision keeps the result");

    let breaker = action
        .cache_break()
        .tap("breaks", |_| Ok(Flow::Return(true)))
        .unwrap();
    action.run_with("a".into(), respect()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 2, "one tap saying break breaks");

    action
        .cache_break()
        .tap(Tap::named("veto").first(), |ctx| {
            Ok(Flow::Return(ctx.result().is_err()))
        })
        .unwrap();
    action.run_with("a".into(), respect()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 2, "an earlier `false` vetoes");
    assert_eq!(
        action.cache_break().explain().names(),
        ["veto", "no-opinion", "breaks"]
    );

    action.cache_break().remove(breaker).unwrap();
}

#[tokio::test(start_paused = true)]
async fn cache_break_taps_see_the_cached_result_and_its_age() {
    let (action, _) = echo("echo");
    let ages: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
    let log = ages.clone();
    action
        .cache_break()
        .tap("age", move |ctx| {
            let result = ctx
                .result()
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            log.lock().unwrap().push((ctx.age(), result));
            Ok(Flow::Return(ctx.age() > Duration::from_secs(60)))
        })
        .unwrap();
    action.run("a".into()).await.unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    action.read("a".into()).await.unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    action.read("a".into()).await.unwrap();
    assert_eq!(
        ages.lock().unwrap()[..],
        [
            (Duration::from_secs(30), "a!".to_string()),
            (Duration::from_secs(61), "a!".to_string())
        ]
    );
    let age = action
        .get_cached(&"a".into())
        .time_cached
        .unwrap()
        .elapsed();
    assert_eq!(
        age,
        Duration::ZERO,
        "the old result was broken and replaced"
    );
}

#[tokio::test]
async fn the_cache_break_hook_is_not_asked_while_a_run_is_in_flight() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    let asked = Arc::new(Mutex::new(0));
    let count = asked.clone();
    action
        .cache_break()
        .tap("count", move |_| {
            *count.lock().unwrap() += 1;
            Ok(Flow::Return(true))
        })
        .unwrap();
    let first = action.beckon("a".into()).await;
    gated.started(1).await;
    let second = action.beckon("a".into()).await;
    assert_eq!(*asked.lock().unwrap(), 0);
    gated.finish(1, Ok("one".into()));
    drop((first, second));
}

#[tokio::test(start_paused = true)]
async fn a_per_call_policy_replaces_the_hook() {
    let (action, runs) = echo("echo");
    action
        .cache_break()
        .tap("always", |_| Ok(Flow::Return(true)))
        .unwrap();
    action.run("a".into()).await.unwrap();

    action
        .run_with("a".into(), respect().cache_break(false))
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 1, "`false` never breaks");

    tokio::time::advance(Duration::from_secs(10)).await;
    let max_age = || respect().cache_break(Duration::from_secs(30));
    action.run_with("a".into(), max_age()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 1, "younger than the max age");
    tokio::time::advance(Duration::from_secs(21)).await;
    action.run_with("a".into(), max_age()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 2, "older than the max age");

    action.set_cached(&"a".into(), Err("failed".into()));
    action.run_with("a".into(), max_age()).await.unwrap();
    assert_eq!(
        *runs.lock().unwrap(),
        3,
        "an error result always breaks on a max age"
    );

    let custom = BreakPolicy::custom(|ctx| ctx.args() == "a");
    action
        .run_with("a".into(), respect().cache_break(custom.clone()))
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 4);
    action
        .read_with("a".into(), CallOptions::new().cache_break(false))
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 4);
}

#[tokio::test]
async fn watch_checks_the_cache_break_only_when_asked_and_then_never_runs() {
    let (action, runs) = echo("echo");
    action
        .cache_break()
        .tap("always", |_| Ok(Flow::Return(true)))
        .unwrap();
    action.set_cached(&"a".into(), Ok("old".into()));
    assert!(action.watch("a".into()).await.state().finished);
    let watcher = action
        .watch_with("a".into(), CallOptions::new().check_cache_break(true))
        .await;
    assert!(!watcher.state().started);
    assert_eq!(*runs.lock().unwrap(), 0);
}

/// Collects `tracing` output for the current thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_loop_guard_stops_after_three_consecutive_breaks_and_reports_it() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::ERROR)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (action, runs) = echo("loop");
    let breaking = Arc::new(AtomicBool::new(true));
    let flag = breaking.clone();
    action
        .cache_break()
        .tap("always", move |_| {
            Ok(Flow::Return(flag.load(Ordering::SeqCst)))
        })
        .unwrap();
    action.run("a".into()).await.unwrap();

    for expected_runs in [2, 3, 4] {
        action.run_with("a".into(), respect()).await.unwrap();
        assert_eq!(*runs.lock().unwrap(), expected_runs);
    }
    assert!(!logs.text().contains("cache-break loop"));
    assert!(!action.get_cached(&"a".into()).break_loop);

    action.run_with("a".into(), respect()).await.unwrap();
    action.read("a".into()).await.unwrap();
    assert_eq!(
        *runs.lock().unwrap(),
        4,
        "the guard refused the fourth and fifth break"
    );
    assert!(action.get_cached(&"a".into()).break_loop);
    let text = logs.text();
    assert_eq!(text.matches("cache-break loop stopped").count(), 2);
    assert!(text.contains("action=\"loop\""), "{text}");

    breaking.store(false, Ordering::SeqCst);
    action.run_with("a".into(), respect()).await.unwrap();
    assert!(
        !action.get_cached(&"a".into()).break_loop,
        "a kept result lifts the guard"
    );
    breaking.store(true, Ordering::SeqCst);
    action.run_with("a".into(), respect()).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 5, "breaking works again");
}

#[tokio::test]
async fn a_failing_post_action_tap_is_reported_to_the_caller_and_the_result_stays_cached() {
    let (action, _) = echo("echo");
    let failing = action
        .post_action()
        .tap("gallery", |_| {
            Err(TapError::reject("no gallery").with_status(409))
        })
        .unwrap();
    let error = action.run("a".into()).await.unwrap_err();
    let hook_error = error.hook_error().unwrap();
    assert_eq!(hook_error.hook(), "echo.post_action");
    assert_eq!(hook_error.tap().unwrap().name(), "gallery");
    assert_eq!(hook_error.status(), 409);

    let state = action.get_cached(&"a".into());
    assert_eq!(state.payload().map(|p| p.as_str()), Some("a!"));
    assert_eq!(
        state.hook_error.as_ref().unwrap().tap().unwrap().name(),
        "gallery"
    );

    action.post_action().remove(failing).unwrap();
    assert_eq!(payload(&action.run_with("a".into(), respect()).await), "a!");
}

#[tokio::test]
async fn a_panicking_post_action_tap_becomes_a_hook_error() {
    let (action, _) = echo("echo");
    action
        .post_action()
        .tap("boom", |_| panic!("tap exploded"))
        .unwrap();
    let error = action.read("a".into()).await.unwrap_err();
    assert!(matches!(
        error.hook_error().unwrap().kind(),
        ErrorKind::Panicked(message) if message == "tap exploded"
    ));
    assert!(action.get_cached(&"a".into()).finished);
}

#[tokio::test]
async fn a_failing_beckon_run_hook_is_recorded_on_the_key() {
    let (action, _) = echo("echo");
    action
        .post_action()
        .tap("broken", |_| {
            Err(TapError::fail(std::io::Error::other("disk full")))
        })
        .unwrap();
    let mut watcher = action.beckon("a".into()).await;
    assert_eq!(payload(&watcher.finished().await), "a!");
    let state = watcher.state();
    assert!(state.hook_error.unwrap().to_string().contains("disk full"));
}

#[tokio::test]
async fn a_failing_short_circuit_tap_fails_the_call_and_caches_nothing() {
    let (action, runs) = echo("echo");
    action
        .short_circuit()
        .tap("lookup", |_| {
            Err(TapError::fail(std::io::Error::other("no index")))
        })
        .unwrap();
    let error = action.run("a".into()).await.unwrap_err();
    assert_eq!(error.hook_error().unwrap().hook(), "echo.short_circuit");
    let error = action.read("a".into()).await.unwrap_err();
    assert!(error.to_string().contains("no index"));
    assert_eq!(*runs.lock().unwrap(), 0);
    assert!(!action.get_cached(&"a".into()).started);
}

#[tokio::test]
async fn a_failing_cache_break_tap_fails_the_call_and_keeps_the_cache() {
    let (action, runs) = echo("echo");
    action.set_cached(&"a".into(), Ok("cached".into()));
    action
        .cache_break()
        .tap("clock", |_| {
            Err(TapError::fail(std::io::Error::other("no clock")))
        })
        .unwrap();
    let error = action.run_with("a".into(), respect()).await.unwrap_err();
    assert_eq!(error.hook_error().unwrap().hook(), "echo.cache_break");
    assert_eq!(*runs.lock().unwrap(), 0);
    assert_eq!(
        action.get_cached(&"a".into()).payload().map(|p| p.as_str()),
        Some("cached")
    );
}

#[tokio::test]
async fn post_action_taps_run_in_engine_order_and_can_stop_the_rest() {
    let (action, _) = echo("echo");
    let order: Arc<Mutex<Vec<&str>>> = Arc::default();
    for (tap, name) in [
        (Tap::named("audit").stage(10), "audit"),
        (Tap::named("gallery"), "gallery"),
        (Tap::named("guard").first(), "guard"),
    ] {
        let order = order.clone();
        action
            .post_action()
            .tap(tap, move |ctx| {
                order.lock().unwrap().push(name);
                Ok(if name == "guard" && ctx.context().is_cache_hit() {
                    Flow::Return(())
                } else {
                    Flow::Continue
                })
            })
            .unwrap();
    }
    action.run("a".into()).await.unwrap();
    action.read("a".into()).await.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["guard", "gallery", "audit", "guard"]
    );
    assert_eq!(
        action.post_action().explain().names(),
        ["guard", "gallery", "audit"]
    );
}

#[tokio::test]
async fn async_taps_work_on_every_hook() {
    let action = AsyncAction::new("async", |n: u32| async move { Ok::<_, String>(n + 1) });
    action
        .short_circuit()
        .tap_async("zero", |ctx| {
            Box::pin(async move {
                tokio::task::yield_now().await;
                Ok(if *ctx.args() == 0 {
                    Flow::Return(Ok(100))
                } else {
                    Flow::Continue
                })
            })
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    action
        .post_action()
        .tap_async("log", move |ctx| {
            let log = log.clone();
            Box::pin(async move {
                tokio::task::yield_now().await;
                log.lock().unwrap().push(ctx.context());
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    assert_eq!(*action.read(0).await.unwrap(), 100);
    assert_eq!(*action.read(1).await.unwrap(), 2);
    assert_eq!(
        *seen.lock().unwrap(),
        [PostActionContext::ShortCircuit, PostActionContext::ReadRun]
    );
}
