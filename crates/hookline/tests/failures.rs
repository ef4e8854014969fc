//! Failures on every path: errors, rejections, panics, timeouts, registration errors and removal
//! errors — each naming the hook, the tap, its module and registration site, and the phase.

use std::io;
use std::time::Duration;

use futures_util::FutureExt;
use hookline::{
    ErrorKind, Flow, Hook, HookError, Module, ModuleScope, Modules, Phase, RegisterError, SyncHook,
    Tap, TapError,
};

#[test]
fn a_rejection_keeps_its_message_and_status_and_stops_the_chain() {
    let hook: SyncHook<Vec<&str>> = SyncHook::new("create.before_save");
    hook.tap("default-status", |_: &mut Vec<&str>| {
        Err(TapError::reject("price must be positive"))
    })
    .unwrap();
    hook.tap("never", |v: &mut Vec<&str>| {
        v.push("never");
        Ok(Flow::Continue)
    })
    .unwrap();
    let mut trace = Vec::new();
    let err = hook.call(&mut trace).unwrap_err();
    assert!(trace.is_empty(), "the chain stopped");
    assert_eq!(err.status(), 422);
    assert!(err.is_rejection());
    assert_eq!(err.user_message(), "price must be positive");
    assert!(matches!(
        err.kind(),
        ErrorKind::Rejected { status: 422, .. }
    ));
    assert_eq!(
        TapError::reject("x").with_status(403).status(),
        403,
        "with_status changes the status"
    );
}

#[test]
fn an_error_through_question_mark_is_a_failure_with_its_source() {
    let hook: SyncHook<()> = SyncHook::new("load");
    let line = line!() + 1;
    hook.tap("read-config", |_: &mut ()| {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "config.toml missing",
        ))?;
        Ok(Flow::Continue)
    })
    .unwrap();
    let err = hook.call(&mut ()).unwrap_err();
    assert_eq!(err.status(), 500);
    assert!(!err.is_rejection());
    assert_eq!(err.user_message(), "internal error in a hook");
    let source = std::error::Error::source(&err).expect("keeps the source");
    assert_eq!(source.to_string(), "config.toml missing");
    let tap = err.tap().expect("names the tap");
    assert_eq!((tap.name(), tap.site().line()), ("read-config", line));
    assert!(tap.site().file().ends_with("failures.rs"));
    assert_eq!(
        err.to_string(),
        format!(
            "hook `load`, tap `read-config` (registered at {}), call phase: failed: config.toml missing",
            tap.site()
        )
    );
}

#[test]
fn a_panicking_tap_becomes_an_error_and_the_hook_stays_usable() {
    let hook: SyncHook<u32> = SyncHook::new("count");
    hook.tap("explode-on-3", |n: &mut u32| {
        if *n == 3 {
            panic!("three is not allowed");
        }
        *n += 1;
        Ok(Flow::Continue)
    })
    .unwrap();
    let err = hook.call(&mut 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Panicked(m) if m == "three is not allowed"),
        "{err:?}"
    );
    assert_eq!(err.tap().unwrap().name(), "explode-on-3");
    let mut n = 1;
    hook.call(&mut n).unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn async_taps_panicking_while_polled_or_while_built_become_errors() {
    let hook: Hook<u32> = Hook::new("async");
    hook.tap_async("polled", |n| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            if *n == 1 {
                panic!("in the future");
            }
            Ok(Flow::Continue)
        })
    })
    .unwrap();
    hook.tap_async("built", |n| {
        if *n == 2 {
            panic!("before the future");
        }
        Box::pin(async { Ok(Flow::Continue) })
    })
    .unwrap();
    let err = hook.call(&mut 1).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Panicked(m) if m == "in the future"));
    assert_eq!(err.tap().unwrap().name(), "polled");
    let err = hook.call(&mut 2).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Panicked(m) if m == "before the future"));
    assert_eq!(err.tap().unwrap().name(), "built");
    hook.call(&mut 0).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_hanging_async_tap_times_out_with_status_504() {
    let hook: Hook<()> = Hook::new("notify");
    hook.tap_async(
        Tap::named("webhook").timeout(Duration::from_secs(2)),
        |_| {
            Box::pin(async {
                std::future::pending::<()>().await;
                Ok(Flow::Continue)
            })
        },
    )
    .unwrap();
    let err = hook.call(&mut ()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut(d) if *d == Duration::from_secs(2)));
    assert_eq!(err.status(), 504);
    assert_eq!(err.tap().unwrap().name(), "webhook");
    assert!(err.to_string().contains("timed out after 2s"));
}

#[test]
fn a_timeout_outside_a_tokio_runtime_is_a_clear_error_not_a_panic() {
    let hook: Hook<()> = Hook::new("no-runtime");
    hook.tap_async(Tap::named("t").timeout(Duration::from_secs(1)), |_| {
        Box::pin(async { Ok(Flow::Continue) })
    })
    .unwrap();
    let err = hook.call(&mut ()).now_or_never().unwrap().unwrap_err();
    assert!(err.to_string().contains("need a Tokio runtime"), "{err}");
}

#[test]
fn a_sync_tap_cannot_have_a_timeout() {
    let hook: SyncHook<()> = SyncHook::new("h");
    let err = hook
        .tap(
            Tap::named("t").timeout(Duration::from_secs(1)),
            |_: &mut ()| Ok(Flow::Continue),
        )
        .unwrap_err();
    assert!(matches!(err, RegisterError::SyncTimeout { .. }));
    assert!(hook.is_empty());
}

/// The error of a `checkout` hook whose tap `charge`, of module `billing`, declines.
async fn declined_charge() -> (Hook<()>, HookError) {
    struct Billing(Hook<()>);
    impl Module for Billing {
        fn name(&self) -> &str {
            "billing"
        }
        fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
            self.0.tap(scope.tap("charge"), |_: &mut ()| {
                Err(TapError::reject("card declined").with_status(402))
            })?;
            Ok(())
        }
    }
    let hook: Hook<()> = Hook::new("checkout");
    Modules::new().install(Billing(hook.clone())).unwrap();
    let err = hook.call(&mut ()).await.unwrap_err();
    (hook, err)
}

#[tokio::test]
async fn an_error_names_the_module_of_the_tap() {
    let (_, err) = declined_charge().await;
    assert_eq!(err.tap().unwrap().module(), Some("billing"));
    assert!(err.to_string().contains("tap `charge` of module `billing`"));
    assert_eq!(err.status(), 402);
}

/// `unwrap`, `expect` and `main` returning `Result` print `Debug`: it names the module and the
/// registration site as `Display` does.
#[tokio::test]
async fn debug_output_names_the_module_and_the_registration_site_like_display() {
    let (hook, err) = declined_charge().await;
    let site = err.tap().unwrap().site().to_string();
    assert!(
        site.starts_with("crates/hookline/tests/failures.rs:"),
        "{site}"
    );
    assert!(err.to_string().contains(&format!("(registered at {site})")));

    let debug = format!("{err:?}");
    assert!(debug.contains(r#"tap: Some("charge")"#), "{debug}");
    assert!(debug.contains(r#"module: Some("billing")"#), "{debug}");
    assert!(
        debug.contains(&format!("registered_at: Some({site})")),
        "{debug}"
    );
    assert!(debug.contains("card declined"), "{debug}");
    // What `unwrap` prints.
    let again = hook.call(&mut ()).await;
    let unwrapped =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| again.unwrap())).unwrap_err();
    let message = unwrapped.downcast_ref::<String>().unwrap();
    assert!(message.contains(r#"module: Some("billing")"#), "{message}");
    assert!(message.contains(&site), "{message}");

    // A tap without a module, and an error without a tap, say so.
    let plain: Hook<()> = Hook::new("plain");
    plain
        .tap("boom", |_: &mut ()| Err(TapError::reject("no")))
        .unwrap();
    let debug = format!("{:?}", plain.call(&mut ()).await.unwrap_err());
    assert!(
        debug.contains(r#"tap: Some("boom"), module: None, registered_at: Some("#),
        "{debug}"
    );
    let debug = format!(
        "{:?}",
        HookError::new("h", Phase::Handler, ErrorKind::NextNotCalled)
    );
    assert!(
        debug.contains("tap: None, module: None, registered_at: None"),
        "{debug}"
    );
}

#[test]
fn removal_errors_are_clear_and_change_nothing() {
    let hook: SyncHook<()> = SyncHook::new("h");
    let other: SyncHook<()> = SyncHook::new("other");
    let ok = |_: &mut ()| Ok(Flow::Continue);
    let a = hook.tap("a", ok).unwrap();
    hook.tap(Tap::named("b").after("a"), ok).unwrap();
    let foreign = other.tap("z", ok).unwrap();

    let err = hook.remove(a).unwrap_err();
    assert_eq!(
        err,
        RegisterError::Referenced {
            hook: "h".into(),
            tap: "a".into(),
            referenced_by: vec!["b".into()],
        }
    );
    assert_eq!(hook.len(), 2);
    assert!(matches!(
        hook.remove(foreign),
        Err(RegisterError::UnknownHandle { .. })
    ));
    other.remove(foreign).unwrap();
    assert!(matches!(
        other.remove(foreign),
        Err(RegisterError::UnknownHandle { .. })
    ));
}

#[test]
fn a_module_whose_registration_fails_leaves_no_taps_behind() {
    struct Broken(SyncHook<()>);
    impl Module for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
            self.0
                .tap(scope.tap("one"), |_: &mut ()| Ok(Flow::Continue))?;
            self.0.tap(scope.tap("two").after("nobody"), |_: &mut ()| {
                Ok(Flow::Continue)
            })?;
            Ok(())
        }
    }
    let hook = SyncHook::new("h");
    let modules = Modules::new();
    let err = modules.install(Broken(hook.clone())).unwrap_err();
    assert!(matches!(err, RegisterError::UnknownTap { .. }));
    assert!(hook.is_empty(), "tap `one` was rolled back");
    assert!(modules.names().is_empty());
}

#[test]
fn module_errors_unknown_dependency_cycle_duplicate_and_dependents() {
    struct M(&'static str, &'static [&'static str]);
    impl Module for M {
        fn name(&self) -> &str {
            self.0
        }
        fn depends_on(&self) -> Vec<String> {
            self.1.iter().map(|s| s.to_string()).collect()
        }
        fn register_hooks(&self, _: &ModuleScope) -> Result<(), RegisterError> {
            Ok(())
        }
    }
    let modules = Modules::new();
    let err = modules.install(M("auth", &["core"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("depends on `core`, which is not installed")
    );
    let err = modules
        .install_all([
            Box::new(M("a", &["b"])) as Box<dyn Module>,
            Box::new(M("b", &["a"])),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("cycle among: a, b"), "{err}");
    modules.install(M("core", &[])).unwrap();
    let err = modules.install(M("core", &[])).unwrap_err();
    assert!(err.to_string().contains("already installed"));
    modules.install(M("auth", &["core"])).unwrap();
    let err = modules.remove("core").unwrap_err();
    assert!(err.to_string().contains("auth depend(s) on it"), "{err}");
    modules.remove("auth").unwrap();
    modules.remove("core").unwrap();
    assert!(modules.remove("core").is_err());
}

#[tokio::test]
async fn a_hook_error_passed_on_by_a_tap_keeps_its_original_location() {
    let inner: Hook<()> = Hook::new("inner");
    inner
        .tap("deny", |_: &mut ()| {
            Err(TapError::reject("no").with_status(403))
        })
        .unwrap();
    let outer: Hook<()> = Hook::new("outer");
    let nested = inner.clone();
    outer
        .tap_async("delegate", move |ctx| {
            let nested = nested.clone();
            Box::pin(async move {
                nested.call(ctx).await?;
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    let err: HookError = outer.call(&mut ()).await.unwrap_err();
    assert_eq!(err.hook(), "inner");
    assert_eq!(err.tap().unwrap().name(), "deny");
    assert_eq!((err.status(), err.phase()), (403, Phase::Call));
}

#[test]
fn a_tap_may_report_a_time_limit_of_its_own_as_a_timeout() {
    let hook: SyncHook<()> = SyncHook::new("script");
    hook.tap("slow-script", |_: &mut ()| {
        Err(TapError::timed_out(Duration::from_millis(250)))
    })
    .unwrap();
    let err = hook.call(&mut ()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut(d) if *d == Duration::from_millis(250)));
    assert_eq!(
        (err.status(), err.tap().unwrap().name()),
        (504, "slow-script")
    );
}
