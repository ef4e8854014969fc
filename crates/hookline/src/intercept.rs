//! Interceptors: code that watches every tap of a hook (tapable's `intercept`).
//!
//! An interceptor is told when a tap is registered, called, finishes and fails, with the tap's
//! timing. A hook with no interceptor pays nothing for this: the call path checks one `Option`
//! and takes no timestamps. [`SlowTapWarning`] is the built-in one; metrics and profilers are
//! others.

use std::time::Duration;

use crate::HookError;
use crate::tap::TapInfo;

/// Watches the taps of a hook. Every method has an empty default, so implement only what you
/// need. Methods are called on the dispatching thread, inside the call: keep them cheap.
///
/// ```
/// use hookline::{Hook, Flow, Interceptor, TapInfo};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct Calls(Mutex<Vec<String>>);
/// impl Interceptor for Calls {
///     fn result(&self, hook: &str, tap: &TapInfo, _elapsed: Duration) {
///         self.0.lock().unwrap().push(format!("{hook}/{}", tap.name()));
///     }
/// }
///
/// let hook: Hook<()> = Hook::new("ping");
/// hook.tap("a", |_: &mut ()| Ok(Flow::Continue)).unwrap();
/// let calls = Arc::new(Calls::default());
/// hook.intercept(calls.clone());
/// futures_util::FutureExt::now_or_never(hook.call(&mut ())).unwrap().unwrap();
/// assert_eq!(*calls.0.lock().unwrap(), ["ping/a"]);
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// A tap was registered (also called once for each existing tap when the interceptor is
    /// installed).
    fn register(&self, hook: &str, tap: &TapInfo) {
        let _ = (hook, tap);
    }

    /// A tap is about to run.
    fn call(&self, hook: &str, tap: &TapInfo) {
        let _ = (hook, tap);
    }

    /// A tap finished without error after `elapsed`.
    fn result(&self, hook: &str, tap: &TapInfo, elapsed: Duration) {
        let _ = (hook, tap, elapsed);
    }

    /// A tap failed (error, rejection, panic or timeout) after `elapsed`.
    fn error(&self, hook: &str, tap: &TapInfo, error: &HookError, elapsed: Duration) {
        let _ = (hook, tap, error, elapsed);
    }
}

/// Logs a `tracing` warning for every tap that takes longer than a threshold.
///
/// ```
/// # use hookline::{Hook, SlowTapWarning};
/// # use std::{sync::Arc, time::Duration};
/// let hook: Hook<()> = Hook::new("slow");
/// hook.intercept(Arc::new(SlowTapWarning::new(Duration::from_millis(50))));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SlowTapWarning {
    threshold: Duration,
}

impl SlowTapWarning {
    /// Warn about taps slower than `threshold`.
    pub fn new(threshold: Duration) -> Self {
        SlowTapWarning { threshold }
    }
}

impl Interceptor for SlowTapWarning {
    fn result(&self, hook: &str, tap: &TapInfo, elapsed: Duration) {
        if elapsed > self.threshold {
            tracing::warn!(
                hook,
                tap = tap.name(),
                module = tap.module(),
                site = %tap.site(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                threshold_ms = self.threshold.as_secs_f64() * 1e3,
                "slow tap"
            );
        }
    }
}
