//! Per-call options: [`RunOptions`], [`CallOptions`] (beckon, watch, read), [`UpdateOptions`],
//! [`DelayedRunOptions`], and the per-call cache-break override [`BreakPolicy`].
//!
//! All are builders with Pullstate's defaults; `Default` gives the same as `new()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::context::CacheBreak;

/// A cache-break decision function, as [`BreakPolicy::Custom`] holds it.
pub type BreakFn<A, T, E> = Arc<dyn Fn(&CacheBreak<A, T, E>) -> bool + Send + Sync>;

/// A per-call replacement for the cache-break hook (Pullstate's `cacheBreak: boolean | number |
/// fn` option).
///
/// ```
/// use hookline_actions::BreakPolicy;
/// use std::time::Duration;
///
/// let always: BreakPolicy<u32, String, ()> = true.into();
/// let fresh_for_a_minute: BreakPolicy<u32, String, ()> = Duration::from_secs(60).into();
/// let only_errors = BreakPolicy::<u32, String, ()>::custom(|ctx| ctx.result().is_err());
/// # let _ = (always, fresh_for_a_minute, only_errors);
/// ```
pub enum BreakPolicy<A, T, E> {
    /// Never break: always use the cached result.
    Never,
    /// Always break: run again whenever the result is finished.
    Always,
    /// Break results older than this. Error results always break.
    MaxAge(Duration),
    /// Break when the function returns `true`.
    Custom(BreakFn<A, T, E>),
}

impl<A, T, E> BreakPolicy<A, T, E> {
    /// A policy from a function of the cached entry.
    pub fn custom(f: impl Fn(&CacheBreak<A, T, E>) -> bool + Send + Sync + 'static) -> Self {
        BreakPolicy::Custom(Arc::new(f))
    }

    /// Whether this policy breaks the entry.
    pub(crate) fn breaks(&self, entry: &CacheBreak<A, T, E>) -> bool {
        match self {
            BreakPolicy::Never => false,
            BreakPolicy::Always => true,
            BreakPolicy::MaxAge(max) => entry.result().is_err() || entry.age() > *max,
            BreakPolicy::Custom(f) => f(entry),
        }
    }
}

impl<A, T, E> From<bool> for BreakPolicy<A, T, E> {
    fn from(always: bool) -> Self {
        if always {
            BreakPolicy::Always
        } else {
            BreakPolicy::Never
        }
    }
}

impl<A, T, E> From<Duration> for BreakPolicy<A, T, E> {
    fn from(max_age: Duration) -> Self {
        BreakPolicy::MaxAge(max_age)
    }
}

impl<A, T, E> Clone for BreakPolicy<A, T, E> {
    fn clone(&self) -> Self {
        match self {
            BreakPolicy::Never => BreakPolicy::Never,
            BreakPolicy::Always => BreakPolicy::Always,
            BreakPolicy::MaxAge(max) => BreakPolicy::MaxAge(*max),
            BreakPolicy::Custom(f) => BreakPolicy::Custom(f.clone()),
        }
    }
}

impl<A, T, E> fmt::Debug for BreakPolicy<A, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakPolicy::Never => f.write_str("Never"),
            BreakPolicy::Always => f.write_str("Always"),
            BreakPolicy::MaxAge(max) => f.debug_tuple("MaxAge").field(max).finish(),
            BreakPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Options of [`run_with`](crate::AsyncAction::run_with).
///
/// By default a run ignores the cache, starts the action (after asking the short-circuit
/// hook), supersedes any run of the key in flight, and fires the post-action hook with
/// [`DirectRun`](crate::PostActionContext::DirectRun).
///
/// ```
/// use hookline_actions::RunOptions;
/// use std::time::Duration;
/// let opts: RunOptions<u32, String, ()> =
///     RunOptions::new().respect_cache().cache_break(Duration::from_secs(30));
/// # let _ = opts;
/// ```
pub struct RunOptions<A, T, E> {
    pub(crate) respect_cache: bool,
    pub(crate) treat_as_update: bool,
    pub(crate) ignore_short_circuit: bool,
    pub(crate) cache_break: Option<BreakPolicy<A, T, E>>,
}

impl<A, T, E> RunOptions<A, T, E> {
    /// Pullstate's defaults: ignore the cache, ask the short-circuit hook, not an update.
    pub fn new() -> Self {
        RunOptions {
            respect_cache: false,
            treat_as_update: false,
            ignore_short_circuit: false,
            cache_break: None,
        }
    }

    /// Use a finished cached result if there is one (firing
    /// [`RunHitCache`](crate::PostActionContext::RunHitCache)), and wait for a run of the key in
    /// flight instead of starting another.
    pub fn respect_cache(mut self) -> Self {
        self.respect_cache = true;
        self
    }

    /// Keep showing the previous finished result while this run is in flight: observers see
    /// `finished` and `updating` instead of an unfinished state.
    pub fn treat_as_update(mut self) -> Self {
        self.treat_as_update = true;
        self
    }

    /// Do not ask the short-circuit hook.
    pub fn ignore_short_circuit(mut self) -> Self {
        self.ignore_short_circuit = true;
        self
    }

    /// Replace the cache-break hook for this call (only used with
    /// [`respect_cache`](Self::respect_cache)).
    pub fn cache_break(mut self, policy: impl Into<BreakPolicy<A, T, E>>) -> Self {
        self.cache_break = Some(policy.into());
        self
    }
}

impl<A, T, E> Default for RunOptions<A, T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A, T, E> Clone for RunOptions<A, T, E> {
    fn clone(&self) -> Self {
        RunOptions {
            respect_cache: self.respect_cache,
            treat_as_update: self.treat_as_update,
            ignore_short_circuit: self.ignore_short_circuit,
            cache_break: self.cache_break.clone(),
        }
    }
}

impl<A, T, E> fmt::Debug for RunOptions<A, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("respect_cache", &self.respect_cache)
            .field("treat_as_update", &self.treat_as_update)
            .field("ignore_short_circuit", &self.ignore_short_circuit)
            .field("cache_break", &self.cache_break)
            .finish()
    }
}

/// Options of [`beckon_with`](crate::AsyncAction::beckon_with),
/// [`watch_with`](crate::AsyncAction::watch_with) and [`read_with`](crate::AsyncAction::read_with).
///
/// Unset options take the call's default, as in Pullstate: `beckon` and `read` fire the
/// post-action hook on a cache hit and check the cache-break hook; `watch` does neither.
#[derive(Debug)]
pub struct CallOptions<A, T, E> {
    pub(crate) post_action: Option<bool>,
    pub(crate) check_cache_break: Option<bool>,
    pub(crate) cache_break: Option<BreakPolicy<A, T, E>>,
}

impl<A, T, E> CallOptions<A, T, E> {
    /// Every option at the call's default.
    pub fn new() -> Self {
        CallOptions {
            post_action: None,
            check_cache_break: None,
            cache_break: None,
        }
    }

    /// Fire (or not) the post-action hook for this call: on a cache hit, after a short-circuit,
    /// and when a run this call started finishes. `watch` needs `post_action(true)` to fire
    /// [`WatchHitCache`](crate::PostActionContext::WatchHitCache).
    pub fn post_action(mut self, enabled: bool) -> Self {
        self.post_action = Some(enabled);
        self
    }

    /// Check (or not) whether a finished cached result should be broken.
    pub fn check_cache_break(mut self, enabled: bool) -> Self {
        self.check_cache_break = Some(enabled);
        self
    }

    /// Replace the cache-break hook for this call; this also turns checking on.
    pub fn cache_break(mut self, policy: impl Into<BreakPolicy<A, T, E>>) -> Self {
        self.cache_break = Some(policy.into());
        self.check_cache_break = Some(true);
        self
    }
}

impl<A, T, E> Default for CallOptions<A, T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A, T, E> Clone for CallOptions<A, T, E> {
    fn clone(&self) -> Self {
        CallOptions {
            post_action: self.post_action,
            check_cache_break: self.check_cache_break,
            cache_break: self.cache_break.clone(),
        }
    }
}

/// Options of [`update_cached`](crate::AsyncAction::update_cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    pub(crate) run_post_action_hook: bool,
    pub(crate) reset_time_cached: bool,
}

impl UpdateOptions {
    /// Pullstate's defaults: no post-action hook, and the time cached is reset to now.
    pub fn new() -> Self {
        UpdateOptions {
            run_post_action_hook: false,
            reset_time_cached: true,
        }
    }

    /// Fire the post-action hook with [`CacheUpdate`](crate::PostActionContext::CacheUpdate)
    /// after the update.
    pub fn run_post_action_hook(mut self) -> Self {
        self.run_post_action_hook = true;
        self
    }

    /// Keep the time the result was first cached (age-based cache breaks then still count from
    /// the original run).
    pub fn keep_time_cached(mut self) -> Self {
        self.reset_time_cached = false;
        self
    }
}

impl Default for UpdateOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Options of [`delayed_run`](crate::AsyncAction::delayed_run).
///
/// By default a delayed run cancels the previous pending delayed run of the same action, and
/// runs at once (without waiting) when a finished, unbreakable result is cached.
#[derive(Debug)]
pub struct DelayedRunOptions<A, T, E> {
    pub(crate) delay: Duration,
    pub(crate) clear_old_run: bool,
    pub(crate) immediate_if_cached: bool,
    pub(crate) run: RunOptions<A, T, E>,
}

impl<A, T, E> DelayedRunOptions<A, T, E> {
    /// Run after `delay`.
    pub fn new(delay: Duration) -> Self {
        DelayedRunOptions {
            delay,
            clear_old_run: true,
            immediate_if_cached: true,
            run: RunOptions::new(),
        }
    }

    /// Leave the previous pending delayed run of this action alone instead of cancelling it.
    pub fn keep_old_run(mut self) -> Self {
        self.clear_old_run = false;
        self
    }

    /// Whether to run at once when a finished result is cached and the cache-break check would
    /// keep it (default `true`).
    pub fn immediate_if_cached(mut self, immediate: bool) -> Self {
        self.immediate_if_cached = immediate;
        self
    }

    /// The options of the run itself.
    pub fn run(mut self, options: RunOptions<A, T, E>) -> Self {
        self.run = options;
        self
    }
}
