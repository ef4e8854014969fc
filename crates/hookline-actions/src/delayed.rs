//! [`delayed_run`](crate::AsyncAction::delayed_run): a run that starts after a delay unless it is
//! cancelled first, and the [`DelayedRun`] handle that cancels it or awaits its result.

use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError};

use futures_util::future::{Either, select};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::action::AsyncAction;
use crate::cache::Probe;
use crate::options::{BreakPolicy, DelayedRunOptions};
use crate::result::{ActionError, ActionResult, panic_message};

const PENDING: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// The shared switch between a delayed run's timer task and whoever may cancel it.
#[derive(Default)]
pub(crate) struct DelayControl {
    state: AtomicU8,
    wake: Notify,
}

impl DelayControl {
    /// Cancels the run if it has not started; `true` if this call cancelled it.
    pub(crate) fn cancel(&self) -> bool {
        let cancelled = self
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if cancelled {
            self.wake.notify_one();
        }
        cancelled
    }

    /// Claims the start; `false` if the run was cancelled.
    pub(crate) fn claim(&self) -> bool {
        self.state
            .compare_exchange(PENDING, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Sleeps until `deadline`, or less if cancelled, then claims the start.
    pub(crate) async fn sleep_then_claim(&self, deadline: Instant) -> bool {
        let sleep = pin!(tokio::time::sleep_until(deadline));
        let cancelled = pin!(self.wake.notified());
        if let Either::Right(_) = select(sleep, cancelled).await {
            return false;
        }
        self.claim()
    }
}

/// A run scheduled by [`delayed_run`](crate::AsyncAction::delayed_run): cancel it before it
/// starts, or await its result. Dropping the handle does not cancel the run.
pub struct DelayedRun<T, E> {
    pub(crate) control: Arc<DelayControl>,
    pub(crate) task: JoinHandle<Option<ActionResult<T, E>>>,
}

impl<T, E> DelayedRun<T, E> {
    /// Cancels the run if it has not started yet (Pullstate's returned cancel function).
    /// Returns `true` if this call cancelled it, `false` if it had already started or been
    /// cancelled. A run that has started is not stopped.
    pub fn cancel(&self) -> bool {
        self.control.cancel()
    }

    /// Waits for the run and returns its result, or `None` if it was cancelled before it
    /// started.
    pub async fn result(self) -> Option<ActionResult<T, E>> {
        match self.task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Some(Err(ActionError::Panicked(panic_message(
                error.into_panic().as_ref(),
            )))),
            Err(_) => Some(Err(ActionError::Cancelled)),
        }
    }
}

impl<T, E> fmt::Debug for DelayedRun<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.control.state.load(Ordering::Acquire) {
            PENDING => "pending",
            STARTED => "started",
            _ => "cancelled",
        };
        f.debug_struct("DelayedRun").field("state", &state).finish()
    }
}

impl<A, T, E, K> AsyncAction<A, T, E, K>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Runs the action once the delay (counted from this call) has passed, unless cancelled first (Pullstate's `delayedRun`, for
    /// debounced input such as search-as-you-type).
    ///
    /// By default this cancels the previous pending delayed run of this action in this
    /// instance, and runs at once when a finished result is cached that the cache-break check
    /// (the run options' [`BreakPolicy`], else the hook) would keep. The run itself is
    /// [`run_with`](Self::run_with) with the options' run options.
    ///
    /// ```
    /// use hookline_actions::{AsyncAction, DelayedRunOptions};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let search = AsyncAction::new("search", |q: String| async move { Ok::<_, ()>(q.len()) });
    /// let typed_c = search.delayed_run("c".into(), DelayedRunOptions::new(Duration::from_millis(300)));
    /// let typed_ca = search.delayed_run("ca".into(), DelayedRunOptions::new(Duration::from_millis(300)));
    /// assert!(typed_c.result().await.is_none()); // cancelled by the newer keystroke
    /// assert_eq!(*typed_ca.result().await.unwrap().unwrap(), 2);
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn delayed_run(&self, args: A, options: DelayedRunOptions<A, T, E>) -> DelayedRun<T, E> {
        let deadline = Instant::now() + options.delay;
        let control = Arc::new(DelayControl::default());
        {
            let mut pending = self
                .cache
                .delayed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if options.clear_old_run
                && let Some(old) = pending.take()
            {
                old.cancel();
            }
            *pending = Some(control.clone());
        }
        let this = self.clone();
        let switch = control.clone();
        let task = tokio::spawn(async move {
            let DelayedRunOptions {
                immediate_if_cached,
                run,
                ..
            } = options;
            let (args, immediate) = if immediate_if_cached {
                this.cached_and_kept(args, run.cache_break.as_ref()).await
            } else {
                (args, false)
            };
            let go = if immediate {
                switch.claim()
            } else {
                switch.sleep_then_claim(deadline).await
            };
            if !go {
                return None;
            }
            Some(this.run_with(args, run).await)
        });
        DelayedRun { control, task }
    }

    /// `true` if a finished result is cached for `args` and the cache-break check would keep
    /// it (a failing check counts as "would break").
    async fn cached_and_kept(&self, args: A, policy: Option<&BreakPolicy<A, T, E>>) -> (A, bool) {
        let Probe::Hit(hit) = self.cache.probe(&self.slot(&args)) else {
            return (args, false);
        };
        let (args, decision) = self.would_break(args, &hit, policy).await;
        let kept = match decision {
            None | Some(Ok(false)) => true,
            Some(Ok(true)) => false,
            Some(Err(error)) => {
                self.hook_failed(&args, error);
                false
            }
        };
        (args, kept)
    }
}
