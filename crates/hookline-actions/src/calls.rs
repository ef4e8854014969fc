//! The calls that may run the action — `run`, `beckon`, `watch`, `read` — and their concurrency
//! rules (Pullstate's semantics):
//!
//! - `beckon`, `watch`, `read` and `run` with `respect_cache` share one run in flight per key:
//!   they start one only when the key is idle (the decision is made under the cache lock), and
//!   otherwise wait for (or observe) the run in flight.
//! - a plain `run` always starts a run, which supersedes older runs of the key: only the newest
//!   writes the cache and fires the post-action hook; older callers still get their own result.
//! - callers that wait for someone else's run fire no post-action hook; the run fires its own.
//!
//! Each call loops until it reaches a decision, because the cache may change while it awaits a
//! hook: a cache break that finds the entry changed looks again, a waiter whose key was
//! cleared starts over.

use std::hash::Hash;
use std::sync::Arc;

use hookline::HookError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::action::AsyncAction;
use crate::cache::Probe;
use crate::context::PostActionContext;
use crate::hooks::{Checked, Shorted};
use crate::options::{CallOptions, RunOptions};
use crate::result::{ActionError, ActionResult};
use crate::state::{ActionState, Rebeckon, Watcher};
use crate::task::joined;

/// What `initiate` did.
enum Initiated<A, T, E> {
    /// The short-circuit hook gave the result (cached, hooks run, observers told).
    ShortCircuited(A, ActionResult<T, E>),
    /// A run was started.
    Started(A, JoinHandle<ActionResult<T, E>>),
    /// Someone else started the key meanwhile: look again.
    Busy(A),
    /// The short-circuit hook failed.
    Failed(A, Arc<HookError>),
}

/// Waits for the result of the run in flight; `None` if the key was cleared (or the run
/// abandoned) first.
async fn wait_for_result<T, E>(
    mut rx: watch::Receiver<ActionState<T, E>>,
) -> Option<ActionResult<T, E>> {
    loop {
        rx.changed().await.ok()?;
        let state = rx.borrow_and_update();
        if let Some(result) = &state.result {
            return Some(result.clone());
        }
        if !state.started {
            return None;
        }
    }
}

impl<A, T, E, K> AsyncAction<A, T, E, K>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Runs the action with `args` and returns its result (Pullstate's `run` with default
    /// options): asks the short-circuit hook, starts a run that supersedes any run of the key in
    /// flight, caches the result, fires the post-action hook with
    /// [`DirectRun`](PostActionContext::DirectRun), then tells observers.
    ///
    /// ```
    /// use hookline_actions::{AsyncAction, RunOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let square = AsyncAction::new("square", |n: u64| async move { Ok::<_, String>(n * n) });
    /// assert_eq!(*square.run(12).await.unwrap(), 144);
    /// // A cached result is used only when asked for:
    /// assert_eq!(*square.run_with(12, RunOptions::new().respect_cache()).await.unwrap(), 144);
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (the run is spawned).
    pub async fn run(&self, args: A) -> ActionResult<T, E> {
        self.run_with(args, RunOptions::new()).await
    }

    /// Runs the action with options: [`respect_cache`](RunOptions::respect_cache) uses a
    /// finished cached result (after the cache-break check; firing
    /// [`RunHitCache`](PostActionContext::RunHitCache)) or waits for the run in flight;
    /// [`treat_as_update`](RunOptions::treat_as_update) keeps the previous result visible while
    /// running; [`ignore_short_circuit`](RunOptions::ignore_short_circuit) skips that hook;
    /// [`cache_break`](RunOptions::cache_break) replaces the cache-break hook for this call.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when the action has to run.
    pub async fn run_with(&self, mut args: A, options: RunOptions<A, T, E>) -> ActionResult<T, E> {
        if options.respect_cache {
            loop {
                match self.cache.probe(&self.slot(&args)) {
                    Probe::Hit(hit) => {
                        match self
                            .check_break(args, hit, options.cache_break.as_ref(), true)
                            .await
                        {
                            Checked::Keep(args, hit) => {
                                return self
                                    .after(args, hit.result, PostActionContext::RunHitCache)
                                    .await
                                    .1;
                            }
                            Checked::Broken(again) => {
                                args = again;
                                break;
                            }
                            Checked::Changed(again) => args = again,
                            Checked::Failed(_, error) => return Err(ActionError::Hook(error)),
                        }
                    }
                    Probe::Running(rx) => {
                        if let Some(result) = wait_for_result(rx).await {
                            return result;
                        }
                    }
                    Probe::Idle => break,
                }
            }
        }
        if !options.ignore_short_circuit {
            match self.ask_short_circuit(args).await {
                Shorted::Result(args, result) => {
                    return self.short_circuited(args, result, true).await.1;
                }
                Shorted::Continue(again) => args = again,
                Shorted::Failed(_, error) => return Err(ActionError::Hook(error)),
            }
        }
        let ord = self
            .cache
            .start_superseding(&self.slot(&args), options.treat_as_update);
        joined(self.spawn_run(args, ord, PostActionContext::DirectRun, true)).await
    }

    /// Makes sure the action has run, or is running, for `args`, and returns a [`Watcher`] of
    /// the key (Pullstate's `useBeckon`).
    ///
    /// A finished cached result is used (after the cache-break check), firing
    /// [`BeckonHitCache`](PostActionContext::BeckonHitCache) before this returns; a run in
    /// flight is shared; otherwise the short-circuit hook is asked and then a run is started in
    /// the background, firing [`BeckonRun`](PostActionContext::BeckonRun) when it finishes. This
    /// returns without waiting for the run: use [`Watcher::finished`] for the result.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when the action has to run.
    pub async fn beckon(&self, args: A) -> Watcher<T, E> {
        self.beckon_with(args, CallOptions::new()).await
    }

    /// [`beckon`](Self::beckon) with options (defaults: post-action hook on, cache-break check
    /// on).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when the action has to run.
    pub async fn beckon_with(&self, mut args: A, options: CallOptions<A, T, E>) -> Watcher<T, E> {
        let post_action = options.post_action.unwrap_or(true);
        let check = options.check_cache_break.unwrap_or(true);
        loop {
            match self.cache.probe(&self.slot(&args)) {
                Probe::Hit(hit) => {
                    match self
                        .check_break(args, hit, options.cache_break.as_ref(), check)
                        .await
                    {
                        Checked::Keep(args, hit) => {
                            let args = if post_action {
                                self.after(args, hit.result, PostActionContext::BeckonHitCache)
                                    .await
                                    .0
                            } else {
                                args
                            };
                            return self.beckon_watcher(args, post_action);
                        }
                        Checked::Broken(again) => args = again,
                        Checked::Changed(again) => {
                            args = again;
                            continue;
                        }
                        Checked::Failed(args, _) => return self.beckon_watcher(args, post_action),
                    }
                }
                Probe::Running(rx) => {
                    return Watcher::new(rx, Some(self.rebeckon(args, post_action)));
                }
                Probe::Idle => {}
            }
            match self
                .initiate(args, post_action, PostActionContext::BeckonRun)
                .await
            {
                Initiated::ShortCircuited(args, _)
                | Initiated::Started(args, _)
                | Initiated::Failed(args, _) => {
                    return self.beckon_watcher(args, post_action);
                }
                Initiated::Busy(again) => args = again,
            }
        }
    }

    /// Observes the key of `args` without ever starting a run (Pullstate's `useWatch`).
    ///
    /// By default it neither checks the cache-break hook nor fires the post-action hook; with
    /// [`CallOptions::post_action`]`(true)` a finished cached result fires
    /// [`WatchHitCache`](PostActionContext::WatchHitCache), and with
    /// [`CallOptions::check_cache_break`]`(true)` a broken result leaves the key neutral (no run
    /// is started).
    pub async fn watch(&self, args: A) -> Watcher<T, E> {
        self.watch_with(args, CallOptions::new()).await
    }

    /// [`watch`](Self::watch) with options (defaults: post-action hook off, cache-break check
    /// off).
    pub async fn watch_with(&self, mut args: A, options: CallOptions<A, T, E>) -> Watcher<T, E> {
        let post_action = options.post_action.unwrap_or(false);
        let check = options.check_cache_break.unwrap_or(false);
        loop {
            match self.cache.probe(&self.slot(&args)) {
                Probe::Hit(hit) => {
                    match self
                        .check_break(args, hit, options.cache_break.as_ref(), check)
                        .await
                    {
                        Checked::Keep(kept, hit) => {
                            args = if post_action {
                                self.after(kept, hit.result, PostActionContext::WatchHitCache)
                                    .await
                                    .0
                            } else {
                                kept
                            };
                        }
                        Checked::Broken(again) | Checked::Failed(again, _) => args = again,
                        Checked::Changed(again) => {
                            args = again;
                            continue;
                        }
                    }
                }
                Probe::Running(rx) => return Watcher::new(rx, None),
                Probe::Idle => {}
            }
            return Watcher::new(self.cache.subscribe(&self.slot(&args)), None);
        }
    }

    /// Returns the result for `args`, running the action if needed and waiting for it
    /// (Pullstate's `read`, without Suspense).
    ///
    /// A finished cached result is used (after the cache-break check), firing
    /// [`ReadHitCache`](PostActionContext::ReadHitCache); a run in flight is awaited (no hook
    /// fires for this caller); otherwise the short-circuit hook is asked and a run is started,
    /// firing [`ReadRun`](PostActionContext::ReadRun).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when the action has to run.
    pub async fn read(&self, args: A) -> ActionResult<T, E> {
        self.read_with(args, CallOptions::new()).await
    }

    /// [`read`](Self::read) with options (defaults: post-action hook on, cache-break check on).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when the action has to run.
    pub async fn read_with(
        &self,
        mut args: A,
        options: CallOptions<A, T, E>,
    ) -> ActionResult<T, E> {
        let post_action = options.post_action.unwrap_or(true);
        let check = options.check_cache_break.unwrap_or(true);
        loop {
            match self.cache.probe(&self.slot(&args)) {
                Probe::Hit(hit) => {
                    match self
                        .check_break(args, hit, options.cache_break.as_ref(), check)
                        .await
                    {
                        Checked::Keep(args, hit) => {
                            return if post_action {
                                self.after(args, hit.result, PostActionContext::ReadHitCache)
                                    .await
                                    .1
                            } else {
                                hit.result
                            };
                        }
                        Checked::Broken(again) => args = again,
                        Checked::Changed(again) => {
                            args = again;
                            continue;
                        }
                        Checked::Failed(_, error) => return Err(ActionError::Hook(error)),
                    }
                }
                Probe::Running(rx) => match wait_for_result(rx).await {
                    Some(result) => return result,
                    None => continue,
                },
                Probe::Idle => {}
            }
            match self
                .initiate(args, post_action, PostActionContext::ReadRun)
                .await
            {
                Initiated::ShortCircuited(_, result) => return result,
                Initiated::Started(_, task) => return joined(task).await,
                Initiated::Busy(again) => args = again,
                Initiated::Failed(_, error) => return Err(ActionError::Hook(error)),
            }
        }
    }

    /// Starts the key if it is idle: the short-circuit hook first, then a run.
    async fn initiate(
        &self,
        args: A,
        post_action: bool,
        context: PostActionContext,
    ) -> Initiated<A, T, E> {
        let args = match self.ask_short_circuit(args).await {
            Shorted::Result(args, result) => {
                let (args, result) = self.short_circuited(args, result, post_action).await;
                return Initiated::ShortCircuited(args, result);
            }
            Shorted::Continue(args) => args,
            Shorted::Failed(args, error) => return Initiated::Failed(args, error),
        };
        match self.cache.start_if_idle(&self.slot(&args)) {
            Some(ord) => {
                let task = self.spawn_run(args.clone(), ord, context, post_action);
                Initiated::Started(args, task)
            }
            None => Initiated::Busy(args),
        }
    }

    /// Caches a short-circuit result (superseding a run in flight), fires the post-action hook,
    /// then tells observers.
    async fn short_circuited(
        &self,
        args: A,
        result: ActionResult<T, E>,
        post_action: bool,
    ) -> (A, ActionResult<T, E>) {
        self.cache.write_newest(&self.slot(&args), result.clone());
        let (args, delivered) = if post_action {
            self.after(args, result, PostActionContext::ShortCircuit)
                .await
        } else {
            (args, result)
        };
        self.cache.publish(&self.slot(&args));
        (args, delivered)
    }

    fn beckon_watcher(&self, args: A, post_action: bool) -> Watcher<T, E> {
        let rx = self.cache.subscribe(&self.slot(&args));
        Watcher::new(rx, Some(self.rebeckon(args, post_action)))
    }

    /// What a beckon's watcher does when its key is cleared: start it again.
    fn rebeckon(&self, args: A, post_action: bool) -> Rebeckon {
        let this = self.clone();
        Arc::new(move || {
            let this = this.clone();
            let args = args.clone();
            Box::pin(async move {
                this.initiate(args, post_action, PostActionContext::BeckonRun)
                    .await;
            })
        })
    }
}
