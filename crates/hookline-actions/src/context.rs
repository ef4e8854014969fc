//! What the three hooks of an action receive: [`ShortCircuit`], [`CacheBreak`] and
//! [`PostAction`] with its [`PostActionContext`].
//!
//! Each is the `&mut C` context of an engine [`Hook`](hookline::Hook), so taps on these hooks get
//! everything engine taps get: ordering, removal, explain, tracing, panic capture, timeouts. The
//! fields are read through accessors: changing them would have no effect, so taps cannot.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::result::ActionResult;
use crate::store::Stores;

/// How a post-action hook call came about (Pullstate's `EPostActionContext`, all nine values).
///
/// | context | emitted by |
/// |---|---|
/// | `BeckonHitCache` | [`beckon`](crate::AsyncAction::beckon) found a finished cached result |
/// | `WatchHitCache` | [`watch_with`](crate::AsyncAction::watch_with) found one — opt-in: [`CallOptions::post_action`](crate::CallOptions::post_action)`(true)` |
/// | `RunHitCache` | [`run_with`](crate::AsyncAction::run_with) with [`respect_cache`](crate::RunOptions::respect_cache) found one |
/// | `ReadHitCache` | [`read`](crate::AsyncAction::read) found one |
/// | `ShortCircuit` | the short-circuit hook produced the result (in `run`, `beckon` or `read`) |
/// | `DirectRun` | a run started by `run` (or [`delayed_run`](crate::AsyncAction::delayed_run)) finished |
/// | `BeckonRun` | a run started by `beckon` finished |
/// | `ReadRun` | a run started by `read` finished |
/// | `CacheUpdate` | [`update_cached`](crate::AsyncAction::update_cached) changed the result — opt-in: [`UpdateOptions::run_post_action_hook`](crate::UpdateOptions::run_post_action_hook) |
///
/// A call that waits for a run another call started fires no post-action hook: that run fires
/// its own, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostActionContext {
    /// A beckon hit a finished cached result.
    BeckonHitCache,
    /// A watch hit a finished cached result (only when the watch opted in).
    WatchHitCache,
    /// A `run` with `respect_cache` hit a finished cached result.
    RunHitCache,
    /// A `read` hit a finished cached result.
    ReadHitCache,
    /// The short-circuit hook returned the result; the action did not run.
    ShortCircuit,
    /// A run started by `run` finished.
    DirectRun,
    /// A run started by `beckon` finished.
    BeckonRun,
    /// A run started by `read` finished.
    ReadRun,
    /// `update_cached` changed the cached payload (only when it opted in).
    CacheUpdate,
}

impl PostActionContext {
    /// All nine contexts.
    pub const ALL: [PostActionContext; 9] = [
        PostActionContext::BeckonHitCache,
        PostActionContext::WatchHitCache,
        PostActionContext::RunHitCache,
        PostActionContext::ReadHitCache,
        PostActionContext::ShortCircuit,
        PostActionContext::DirectRun,
        PostActionContext::BeckonRun,
        PostActionContext::ReadRun,
        PostActionContext::CacheUpdate,
    ];

    /// Pullstate's name for the context (`"BECKON_HIT_CACHE"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PostActionContext::BeckonHitCache => "BECKON_HIT_CACHE",
            PostActionContext::WatchHitCache => "WATCH_HIT_CACHE",
            PostActionContext::RunHitCache => "RUN_HIT_CACHE",
            PostActionContext::ReadHitCache => "READ_HIT_CACHE",
            PostActionContext::ShortCircuit => "SHORT_CIRCUIT",
            PostActionContext::DirectRun => "DIRECT_RUN",
            PostActionContext::BeckonRun => "BECKON_RUN",
            PostActionContext::ReadRun => "READ_RUN",
            PostActionContext::CacheUpdate => "CACHE_UPDATE",
        }
    }

    /// `true` for the four `…HitCache` contexts: the result came from the cache.
    pub fn is_cache_hit(self) -> bool {
        matches!(
            self,
            PostActionContext::BeckonHitCache
                | PostActionContext::WatchHitCache
                | PostActionContext::RunHitCache
                | PostActionContext::ReadHitCache
        )
    }
}

impl fmt::Display for PostActionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What post-action taps receive: the arguments, the result, the instance's stores, and how the
/// result came.
///
/// The hook runs on every path — fresh runs, short-circuits and cache hits — **after** the
/// result is in the cache (so [`get_cached`](crate::AsyncAction::get_cached) inside a tap sees
/// it) and **before** observers are told. Its taps update stores the same way whichever way the
/// result came, which is the point of Pullstate's `postActionHook`. A tap that returns
/// `Flow::Return(())` skips the taps after it; a tap that fails makes the call that fired the
/// hook return [`ActionError::Hook`](crate::ActionError::Hook), while the result stays cached.
#[derive(Debug)]
pub struct PostAction<A, T, E> {
    args: A,
    result: ActionResult<T, E>,
    stores: Stores,
    context: PostActionContext,
}

impl<A, T, E> PostAction<A, T, E> {
    pub(crate) fn new(
        args: A,
        result: ActionResult<T, E>,
        stores: Stores,
        context: PostActionContext,
    ) -> Self {
        PostAction {
            args,
            result,
            stores,
            context,
        }
    }

    pub(crate) fn into_parts(self) -> (A, ActionResult<T, E>) {
        (self.args, self.result)
    }

    /// The arguments of this call.
    pub fn args(&self) -> &A {
        &self.args
    }

    /// The result, as cached.
    pub fn result(&self) -> &ActionResult<T, E> {
        &self.result
    }

    /// The stores of the instance the call ran in.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// How the result came.
    pub fn context(&self) -> PostActionContext {
        self.context
    }
}

/// What short-circuit taps receive: the arguments and the instance's stores.
///
/// The hook is a *bail* hook: the first tap that returns `Ok(Flow::Return(result))` decides the
/// result, which is cached like an action's result and passed to the post-action hook with
/// [`PostActionContext::ShortCircuit`]; the action does not run. It is asked only when a call
/// would start a new run: never on a cache hit, never when a run of the key is in flight (except
/// by `run` without `respect_cache`, which always starts one), and not by
/// [`RunOptions::ignore_short_circuit`](crate::RunOptions::ignore_short_circuit) runs.
#[derive(Debug)]
pub struct ShortCircuit<A> {
    args: A,
    stores: Stores,
}

impl<A> ShortCircuit<A> {
    pub(crate) fn new(args: A, stores: Stores) -> Self {
        ShortCircuit { args, stores }
    }

    pub(crate) fn into_args(self) -> A {
        self.args
    }

    /// The arguments of this call.
    pub fn args(&self) -> &A {
        &self.args
    }

    /// The stores of the instance the call runs in.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}

/// What cache-break taps (and [`BreakPolicy::custom`](crate::BreakPolicy::custom) functions)
/// receive: the arguments, the cached result, the stores and when the result was cached.
///
/// The hook is a *bail* hook over `bool`: taps run in order until one returns
/// `Ok(Flow::Return(decision))`, and that decision stands — `true` breaks the cache (the entry
/// is dropped and the call runs the action again), `false` keeps it and stops the taps after it
/// (a veto, for a tap placed `first()`). If every tap continues, the cached result is kept. So
/// several independent taps combine as "any tap may break", and ordering decides who can veto.
///
/// It is asked only for a *finished* cached result, by `run` with `respect_cache`, `beckon`
/// and `read` (and by `watch` when it opts in). A per-call
/// [`BreakPolicy`](crate::BreakPolicy) replaces the hook for that call.
#[derive(Debug)]
pub struct CacheBreak<A, T, E> {
    args: A,
    result: ActionResult<T, E>,
    stores: Stores,
    time_cached: Instant,
}

impl<A, T, E> CacheBreak<A, T, E> {
    pub(crate) fn new(
        args: A,
        result: ActionResult<T, E>,
        stores: Stores,
        time_cached: Instant,
    ) -> Self {
        CacheBreak {
            args,
            result,
            stores,
            time_cached,
        }
    }

    pub(crate) fn into_args(self) -> A {
        self.args
    }

    /// The arguments of this call.
    pub fn args(&self) -> &A {
        &self.args
    }

    /// The cached result.
    pub fn result(&self) -> &ActionResult<T, E> {
        &self.result
    }

    /// The stores of the instance the call runs in.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// When the result was cached.
    pub fn time_cached(&self) -> Instant {
        self.time_cached
    }

    /// How long ago the result was cached.
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.time_cached)
    }
}
