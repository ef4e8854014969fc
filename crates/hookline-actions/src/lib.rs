//! # hookline-actions — cached async actions with post-action hooks, and stores
//!
//! The Pullstate model on the hookline engine. An [`AsyncAction`] is an async function of its
//! arguments whose results are cached per key. Three hooks shape it:
//!
//! - **short-circuit** ([`ShortCircuit`]): give a result without running the action;
//! - **cache-break** ([`CacheBreak`]): decide that a cached result is stale;
//! - **post-action** ([`PostAction`]): run after *every* result — fresh runs, short-circuits and
//!   cache hits alike — told how the result came ([`PostActionContext`], all nine of
//!   Pullstate's contexts). This is where stores are updated, so that a cache hit updates them
//!   exactly like a fresh run.
//!
//! They are engine [`Hook`](hookline::Hook)s, so their taps get ordering (`first`, `stage`,
//! `before`/`after`), removal, `explain()`, tracing spans, panic capture and timeouts.
//!
//! ```
//! use hookline::Flow;
//! use hookline_actions::{AsyncAction, Instance, PostActionContext, RunOptions, Store, Stores};
//!
//! #[derive(Default, Clone)]
//! struct Gallery { pictures: Vec<String> }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let instance = Instance::with_stores(Stores::new().with(Store::new(Gallery::default())));
//! let search = AsyncAction::new("search_pictures", |tag: String| async move {
//!     Ok::<_, String>(vec![format!("{tag}-1.jpg"), format!("{tag}-2.jpg")])
//! })
//! .in_instance(&instance);
//!
//! // Not inside the action: on a cache hit the action does not run, the hook does.
//! search.post_action().tap("gallery", |ctx| {
//!     if let Ok(pictures) = ctx.result() {
//!         let pictures = pictures.to_vec();
//!         ctx.stores().store::<Gallery>()?.update(|g| g.pictures = pictures);
//!     }
//!     Ok(Flow::Continue)
//! })?;
//!
//! search.run("cats".into()).await.unwrap();                      // DirectRun
//! search.run("dogs".into()).await.unwrap();                      // DirectRun
//! let gallery = instance.stores().store::<Gallery>()?;
//! assert_eq!(gallery.get().pictures[0], "dogs-1.jpg");
//!
//! search.run_with("cats".into(), RunOptions::new().respect_cache()).await.unwrap(); // RunHitCache
//! assert_eq!(gallery.get().pictures[0], "cats-1.jpg");           // updated without a run
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Calls
//!
//! | call | cache hit | run in flight | nothing cached | post-action context |
//! |---|---|---|---|---|
//! | [`run`](AsyncAction::run) | ignored | superseded | runs | `DirectRun` (`ShortCircuit`) |
//! | [`run_with`](AsyncAction::run_with) + `respect_cache` | used | awaited | runs | `RunHitCache`, `DirectRun` |
//! | [`beckon`](AsyncAction::beckon) | used | shared | starts in background | `BeckonHitCache`, `BeckonRun` |
//! | [`watch`](AsyncAction::watch) | observed | observed | never starts | `WatchHitCache` (opt-in) |
//! | [`read`](AsyncAction::read) | used | awaited | runs | `ReadHitCache`, `ReadRun` |
//! | [`update_cached`](AsyncAction::update_cached) | updated | — | — | `CacheUpdate` (opt-in) |
//!
//! Also [`get_cached`](AsyncAction::get_cached), [`set_cached`](AsyncAction::set_cached),
//! [`clear_cache`](AsyncAction::clear_cache), [`clear_all_cache`](AsyncAction::clear_all_cache),
//! [`clear_all_unwatched_cache`](AsyncAction::clear_all_unwatched_cache) and
//! [`delayed_run`](AsyncAction::delayed_run). Observers ([`Watcher`]) see each key's
//! [`ActionState`]: started, finished, result, updating, time cached.
//!
//! ## Concurrency
//!
//! `beckon`, `watch`, `read` and `run` with `respect_cache` share one run in flight per key: ten
//! thousand concurrent beckons of one key run the action once. A plain `run` supersedes older
//! runs of its key: only the newest writes the cache and fires the post-action hook, while
//! older callers still get their own result. `clear_cache` discards the result of a run in
//! flight and frees the key at once. A failing or panicking action produces an error result
//! that is cached like any other, so a key is never stuck running; a hook failure is returned
//! as [`ActionError::Hook`] and never cached.
//!
//! ## Where hookline differs from Pullstate
//!
//! - The post-action hook runs **after** the result is in the cache and **before** observers
//!   are told, on every path (Pullstate runs it before the cache write on most paths, so
//!   `getCached` inside the hook sees stale state).
//! - Keys are typed values (`Hash + Eq`), not strings: Pullstate's `keyFromObject` makes all
//!   dates equal and does not escape strings.
//! - `clear_all_cache` clears keys written only by `set_cached`; `clear_cache` during a run
//!   frees the key (Pullstate leaves the discarded action registered, so beckons never start
//!   it again); `beckon` starts a key that a `watch` placeholder holds.
//! - `post_action(false)` on a call also turns off its `ShortCircuit` context (Pullstate fires
//!   it regardless).
//! - A caller waiting for someone else's run fires no post-action hook (Pullstate's `read`
//!   re-renders and fires `READ_HIT_CACHE` for it).
//! - The cache-break loop guard lifts when a check next *keeps* the result (Pullstate's never
//!   lifts once tripped, and logs on every later call). Its state is visible as
//!   [`ActionState::break_loop`].
//! - Hooks may be async; the cache is never locked across an `.await`.
//!
//! ## Why the cache is not moka
//!
//! moka's `get_with` coalesces concurrent loads well, but Pullstate's rules are not a loading
//! cache's: a plain `run` must *supersede* a load in flight (ordinals, newest writer wins),
//! `clear_cache` must discard a load in flight, error results are cached, observers need every
//! state change of a key (started, updating, finished) and the post-action hook must run
//! between the write and the notification. Each action therefore keeps a small map per
//! instance — one entry per key with its state, ordinal, loop-guard streak and observer channel —
//! behind a `Mutex` held only for map operations. There is no eviction, as in Pullstate:
//! entries leave through the clear calls. The benchmark in `BENCHMARKS.md` compares a cache
//! hit here with a bare moka `get`.
//!
//! ## Stores and instances
//!
//! A [`Store`] holds one piece of state (`update`, `get`, `subscribe`); [`Stores`] finds stores
//! by type. An [`Instance`] owns stores and one cache per action: server rendering creates one
//! per request, and [`AsyncAction::in_instance`] binds an action to it, so the action and its
//! hooks receive that request's stores.

mod action;
mod cache;
mod calls;
mod context;
mod delayed;
mod hooks;
mod instance;
mod options;
mod result;
mod state;
mod store;
mod task;

pub use action::{ActionBuilder, AsyncAction};
pub use context::{CacheBreak, PostAction, PostActionContext, ShortCircuit};
pub use delayed::DelayedRun;
pub use instance::Instance;
pub use options::{
    BreakFn, BreakPolicy, CallOptions, DelayedRunOptions, RunOptions, UpdateOptions,
};
pub use result::{ActionError, ActionResult};
pub use state::{ActionState, Watcher};
pub use store::{MissingStore, Store, Stores};
