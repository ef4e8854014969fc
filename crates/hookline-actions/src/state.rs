//! What observers see: [`ActionState`] (one key's state) and [`Watcher`] (a subscription to
//! it, as a [`tokio::sync::watch`] receiver or a stream).

use std::fmt;
use std::sync::Arc;

use futures_util::Stream;
use futures_util::future::BoxFuture;
use hookline::HookError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::result::{ActionError, ActionResult};

/// The state of one cache key, as observers see it (Pullstate's `[started, finished, result,
/// updating, timeCached]`).
///
/// | situation | started | finished | updating | result |
/// |---|---|---|---|---|
/// | nothing cached, nothing running | `false` | `false` | `false` | `None` |
/// | a run in flight | `true` | `false` | `false` | `None` |
/// | a result cached | `true` | `true` | `false` | `Some` |
/// | a [`treat_as_update`](crate::RunOptions::treat_as_update) run in flight | `true` | `true` | `true` | `Some` (the previous result) |
#[non_exhaustive]
pub struct ActionState<T, E> {
    /// A run was started (or a result was written) and not cleared since.
    pub started: bool,
    /// A result is cached; `result` is `Some` exactly when this is `true`.
    pub finished: bool,
    /// A [`treat_as_update`](crate::RunOptions::treat_as_update) run is in flight while the
    /// previous result is still shown.
    pub updating: bool,
    /// The cached result.
    pub result: Option<ActionResult<T, E>>,
    /// When the result was cached.
    pub time_cached: Option<Instant>,
    /// The cache-break loop guard is holding this key: its last three cache breaks were
    /// consecutive, so further breaks are refused (and reported as `tracing` errors) until a
    /// cache-break check keeps the cached result.
    pub break_loop: bool,
    /// The last hook failure on this key since its result was last written — also from paths
    /// with no caller to return it to (a beckon's run, a watch). Logged as well.
    pub hook_error: Option<Arc<HookError>>,
}

impl<T, E> ActionState<T, E> {
    /// The payload, if a successful result is cached.
    pub fn payload(&self) -> Option<&Arc<T>> {
        self.result.as_ref()?.as_ref().ok()
    }

    /// `true` while the action runs with nothing to show yet, or while an update runs.
    pub fn is_loading(&self) -> bool {
        self.started && (!self.finished || self.updating)
    }
}

impl<T, E> Default for ActionState<T, E> {
    fn default() -> Self {
        ActionState {
            started: false,
            finished: false,
            updating: false,
            result: None,
            time_cached: None,
            break_loop: false,
            hook_error: None,
        }
    }
}

impl<T, E> Clone for ActionState<T, E> {
    fn clone(&self) -> Self {
        ActionState {
            started: self.started,
            finished: self.finished,
            updating: self.updating,
            result: self.result.clone(),
            time_cached: self.time_cached,
            break_loop: self.break_loop,
            hook_error: self.hook_error.clone(),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for ActionState<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionState")
            .field("started", &self.started)
            .field("finished", &self.finished)
            .field("updating", &self.updating)
            .field("result", &self.result)
            .field("time_cached", &self.time_cached)
            .field("break_loop", &self.break_loop)
            .field("hook_error", &self.hook_error)
            .finish()
    }
}

/// Starts the action again for a beckon whose key was cleared.
pub(crate) type Rebeckon = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A subscription to one key's [`ActionState`], returned by
/// [`beckon`](crate::AsyncAction::beckon) and [`watch`](crate::AsyncAction::watch).
///
/// Observers are told after the post-action hook ran. A slow observer sees the latest state
/// (intermediate states may be skipped). A watcher from `beckon` keeps beckoning: when the key is
/// cleared while it waits in [`changed`](Self::changed), it starts the action again (Pullstate:
/// "watchers return to neutral, beckons re-initiate").
pub struct Watcher<T, E> {
    rx: watch::Receiver<ActionState<T, E>>,
    rebeckon: Option<Rebeckon>,
}

impl<T, E> Watcher<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn new(rx: watch::Receiver<ActionState<T, E>>, rebeckon: Option<Rebeckon>) -> Self {
        Watcher { rx, rebeckon }
    }

    /// The current state.
    pub fn state(&self) -> ActionState<T, E> {
        self.rx.borrow().clone()
    }

    /// Waits for the next change and returns the new state; `None` once the action's cache is
    /// gone (its instance and every handle of the action were dropped).
    pub async fn changed(&mut self) -> Option<ActionState<T, E>> {
        self.rx.changed().await.ok()?;
        let state = self.rx.borrow_and_update().clone();
        if !state.started
            && let Some(rebeckon) = &self.rebeckon
        {
            rebeckon().await;
        }
        Some(state)
    }

    /// Waits until a result is cached and returns it (at once if one is). Waits for ever on a
    /// `watch` of a key that nothing runs; [`ActionError::Cancelled`] if the cache is gone.
    pub async fn finished(&mut self) -> ActionResult<T, E> {
        loop {
            if let Some(result) = &self.rx.borrow_and_update().result {
                return result.clone();
            }
            if self.changed().await.is_none() {
                return Err(ActionError::Cancelled);
            }
        }
    }

    /// The states as a stream: the current one first, then every change (a beckon's watcher
    /// keeps beckoning, as in [`changed`](Self::changed)).
    pub fn into_stream(mut self) -> impl Stream<Item = ActionState<T, E>> + Send {
        let first = self.rx.borrow_and_update().clone();
        futures_util::stream::unfold((self, Some(first)), |(mut watcher, first)| async move {
            match first {
                Some(state) => Some((state, (watcher, None))),
                None => {
                    let state = watcher.changed().await?;
                    Some((state, (watcher, None)))
                }
            }
        })
    }

    /// The underlying channel receiver (without the beckon's re-initiation).
    pub fn receiver(&self) -> watch::Receiver<ActionState<T, E>> {
        self.rx.clone()
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Watcher<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("state", &*self.rx.borrow())
            .field("beckons", &self.rebeckon.is_some())
            .finish()
    }
}
