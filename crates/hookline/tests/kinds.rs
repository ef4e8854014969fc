//! Hook kinds: series (continue / short-circuit / reject), bail, waterfall, parallel, around.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookline::{
    AroundHook, AsyncTap, ErrorKind, Flow, Hook, Next, Origin, ParallelHook, Phase, Scope,
    SyncHook, TapError, TapResult,
};
use tokio::sync::Barrier;

#[tokio::test]
async fn series_short_circuit_skips_the_rest_and_returns_the_value() {
    let hook: Hook<Vec<&str>, &str> = Hook::new("resolve");
    hook.tap("a", |v: &mut Vec<&str>| {
        v.push("a");
        Ok(Flow::Continue)
    })
    .unwrap();
    hook.tap("b", |v: &mut Vec<&str>| {
        v.push("b");
        Ok(Flow::Return("from b"))
    })
    .unwrap();
    hook.tap("c", |v: &mut Vec<&str>| {
        v.push("c");
        Ok(Flow::Return("from c"))
    })
    .unwrap();
    let mut trace = Vec::new();
    assert_eq!(hook.call(&mut trace).await.unwrap(), Flow::Return("from b"));
    assert_eq!(trace, ["a", "b"]);
    trace.clear();
    assert_eq!(hook.bail(&mut trace).await.unwrap(), Some("from b"));
}

#[test]
fn bail_is_none_when_every_tap_continues_and_empty_hooks_continue() {
    let hook: SyncHook<(), u8> = SyncHook::new("bail");
    assert_eq!(hook.call(&mut ()).unwrap(), Flow::Continue);
    hook.tap("pass", |_: &mut ()| Ok(Flow::Continue)).unwrap();
    assert_eq!(hook.bail(&mut ()).unwrap(), None);
}

#[tokio::test]
async fn waterfall_threads_the_value_and_a_return_ends_it_early() {
    let hook: Hook<String> = Hook::new("slug");
    hook.tap("trim", |s: &mut String| {
        *s = s.trim().to_owned();
        Ok(Flow::Continue)
    })
    .unwrap();
    hook.tap("stop-if-empty", |s: &mut String| {
        Ok(if s.is_empty() {
            Flow::Return(())
        } else {
            Flow::Continue
        })
    })
    .unwrap();
    hook.tap("lower", |s: &mut String| {
        *s = s.to_lowercase().replace(' ', "-");
        Ok(Flow::Continue)
    })
    .unwrap();
    assert_eq!(
        hook.waterfall("  Hello World ".into()).await.unwrap(),
        "hello-world"
    );
    assert_eq!(hook.waterfall("   ".into()).await.unwrap(), "");
}

struct AddTen;
impl AsyncTap<u32> for AddTen {
    async fn call(&self, n: &mut u32) -> TapResult {
        tokio::task::yield_now().await;
        *n += 10;
        Ok(Flow::Continue)
    }
}

#[tokio::test]
async fn handler_types_are_taps_too() {
    let hook: Hook<u32> = Hook::new("n");
    hook.tap_handler("add-ten", AddTen).unwrap();
    hook.tap("double", |n: &mut u32| {
        *n *= 2;
        Ok(Flow::Continue)
    })
    .unwrap();
    assert_eq!(hook.waterfall(1).await.unwrap(), 22);
}

#[tokio::test]
async fn parallel_taps_really_run_concurrently() {
    // Each tap waits for the other at a barrier: run one after another, they would hang.
    let hook: ParallelHook<Arc<Barrier>> = ParallelHook::new("fan-out");
    for name in ["left", "right"] {
        hook.tap_async(name, |barrier| {
            Box::pin(async move {
                barrier.wait().await;
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let joined =
        tokio::time::timeout(std::time::Duration::from_secs(10), hook.call(&barrier)).await;
    assert_eq!(joined.expect("no deadlock").unwrap(), None);
}

#[tokio::test]
async fn parallel_results_follow_registration_order_not_completion_order() {
    let hook: ParallelHook<(), &str> = ParallelHook::new("race");
    hook.tap_async("slow", |_| {
        Box::pin(async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            Ok(Flow::Return("slow"))
        })
    })
    .unwrap();
    hook.tap("fast", |_: &()| Ok(Flow::Return("fast"))).unwrap();
    assert_eq!(hook.call(&()).await.unwrap(), Some("slow"));
}

#[tokio::test]
async fn parallel_failures_all_run_and_the_first_by_order_is_returned() {
    let ran = Arc::new(AtomicUsize::new(0));
    let hook: ParallelHook<()> = ParallelHook::new("notify");
    for (name, fails) in [("email", false), ("sms", true), ("push", true)] {
        let ran = ran.clone();
        hook.tap_async(name, move |_| {
            let ran = ran.clone();
            Box::pin(async move {
                ran.fetch_add(1, Ordering::SeqCst);
                if fails {
                    return Err(TapError::fail(format!("{name} gateway down")));
                }
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    }
    let err = hook.call(&()).await.unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(err.tap().unwrap().name(), "sms");
    assert_eq!(err.suppressed().len(), 1);
    assert_eq!(err.suppressed()[0].tap().unwrap().name(), "push");
}

/// An around tap: `fn(&mut Vec<String>, Next) -> BoxFuture<Result<usize, TapError>>`.
trait Wrapper:
    for<'a> Fn(
        &'a mut Vec<String>,
        Next<'a, Vec<String>, usize>,
    ) -> hookline::BoxFuture<'a, Result<usize, TapError>>
    + Send
    + Sync
    + 'static
{
}

impl<F> Wrapper for F where
    F: for<'a> Fn(
            &'a mut Vec<String>,
            Next<'a, Vec<String>, usize>,
        ) -> hookline::BoxFuture<'a, Result<usize, TapError>>
        + Send
        + Sync
        + 'static
{
}

fn tracer(name: &'static str) -> impl Wrapper {
    move |trace, next| {
        Box::pin(async move {
            trace.push(format!("{name}:before"));
            let out = next.run(trace).await?;
            trace.push(format!("{name}:after"));
            Ok(out + 1)
        })
    }
}

#[tokio::test]
async fn around_wraps_outermost_first_and_may_transform_the_output() {
    let hook: AroundHook<Vec<String>, usize> = AroundHook::new("around");
    hook.tap("outer", tracer("outer")).unwrap();
    hook.tap("inner", tracer("inner")).unwrap();
    let mut trace = Vec::new();
    let out = hook
        .call(&mut trace, |t, _| {
            Box::pin(async move {
                t.push("handler".into());
                Ok(40)
            })
        })
        .await
        .unwrap();
    assert_eq!(out.output, 42);
    assert_eq!(out.origin, Origin::Handler);
    assert_eq!(
        trace,
        [
            "outer:before",
            "inner:before",
            "handler",
            "inner:after",
            "outer:after"
        ]
    );
}

fn cache<'a>(
    _: &'a mut Vec<String>,
    _next: Next<'a, Vec<String>, usize>,
) -> hookline::BoxFuture<'a, Result<usize, TapError>> {
    Box::pin(async { Ok(7) })
}

static HANDLER_RAN: AtomicUsize = AtomicUsize::new(0);

fn counting_handler<'b>(
    _: &'b mut Vec<String>,
    _: Scope<'b, '_>,
) -> hookline::BoxFuture<'b, Result<usize, TapError>> {
    HANDLER_RAN.fetch_add(1, Ordering::SeqCst);
    Box::pin(async { Ok(0) })
}

#[tokio::test]
async fn around_without_next_is_a_reported_short_circuit_or_an_error_when_required() {
    let lenient: AroundHook<Vec<String>, usize> = AroundHook::new("lenient");
    lenient.tap("outer", tracer("outer")).unwrap();
    lenient.tap("cache", cache).unwrap();
    let mut trace = Vec::new();
    let out = lenient.call(&mut trace, counting_handler).await.unwrap();
    assert_eq!(out.output, 8, "outer still transformed the cached value");
    assert_eq!(
        out.origin,
        Origin::ShortCircuit {
            tap: "cache".into()
        }
    );
    assert_eq!(trace, ["outer:before", "outer:after"]);

    let strict: AroundHook<Vec<String>, usize> = AroundHook::new("strict").require_next();
    strict.tap("cache", cache).unwrap();
    let err = strict
        .call(&mut Vec::new(), counting_handler)
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NextNotCalled));
    assert_eq!(err.tap().unwrap().name(), "cache");
    assert_eq!(HANDLER_RAN.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn around_errors_from_the_handler_pass_through_wrappers_unchanged() {
    let hook: AroundHook<Vec<String>, usize> = AroundHook::new("around");
    hook.tap("outer", tracer("outer")).unwrap();
    let mut trace = Vec::new();
    let err = hook
        .call(&mut trace, |_, _| {
            Box::pin(async { Err(TapError::reject("not found").with_status(404)) })
        })
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.phase()), (404, Phase::Handler));
    assert!(err.tap().is_none(), "the handler is not a tap");
    assert_eq!(trace, ["outer:before"], "the wrapper's `?` returned early");

    let err = hook
        .call(&mut Vec::new(), |_, _| {
            Box::pin(async { panic!("handler bug") })
        })
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Panicked(m) if m == "handler bug"));
    assert_eq!(err.phase(), Phase::Handler);
}

#[tokio::test]
async fn the_wrapped_function_may_borrow_the_callers_locals() {
    let hook: AroundHook<u32, u32> = AroundHook::new("borrow");
    hook.tap("plus-one", |n: &mut u32, next: Next<'_, u32, u32>| {
        Box::pin(async move { Ok(next.run(n).await? + 1) })
    })
    .unwrap();
    let calls = AtomicUsize::new(0);
    let base = String::from("four");
    let out = hook
        .call(&mut 10, |n, _| {
            Box::pin(async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(*n + base.len() as u32)
            })
        })
        .await
        .unwrap();
    assert_eq!(out.output, 15);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
