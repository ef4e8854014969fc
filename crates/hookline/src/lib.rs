//! # hookline — typed, ordered, removable lifecycle hooks
//!
//! A **hook** is a named point in your code that other code can *tap*. hookline gives Rust the
//! hook system that tapable, pluggy, Feathers and PocketBase give their languages, with their
//! known faults fixed: the order is deterministic and explainable, taps can be removed, failures
//! name the tap that failed (and panics and timeouts are caught), after-taps cannot silently
//! swallow errors, and a call never sorts or allocates for synchronous taps.
//!
//! This crate has no I/O: no database, HTTP or script dependency. The data, actions, script and
//! server crates of hookline build on it.
//!
//! ## A first hook
//!
//! ```
//! use hookline::{Flow, Hook, Tap, TapError};
//!
//! #[derive(Default)]
//! struct Signup { email: String, log: Vec<&'static str> }
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let before_signup: Hook<Signup> = Hook::new("signup.before");
//! before_signup.tap("normalize", |s: &mut Signup| {
//!     s.email = s.email.trim().to_lowercase();
//!     s.log.push("normalize");
//!     Ok(Flow::Continue)
//! })?;
//! before_signup.tap(Tap::named("validate").after("normalize"), |s: &mut Signup| {
//!     s.log.push("validate");
//!     if !s.email.contains('@') {
//!         return Err(TapError::reject("not an email address").with_status(400));
//!     }
//!     Ok(Flow::Continue)
//! })?;
//!
//! let mut signup = Signup { email: "  Ada@Example.ORG ".into(), ..Default::default() };
//! before_signup.call(&mut signup).await?;
//! assert_eq!(signup.email, "ada@example.org");
//!
//! let mut bad = Signup { email: "nope".into(), ..Default::default() };
//! let err = before_signup.call(&mut bad).await.unwrap_err();
//! assert_eq!((err.status(), err.tap().unwrap().name()), (400, "validate"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! ## Kinds
//!
//! | kind | type | call |
//! |---|---|---|
//! | series: continue / short-circuit / reject | [`Hook`], [`SyncHook`] | `call(&mut ctx)` → [`Flow`] |
//! | bail: first value wins | [`Hook`], [`SyncHook`] | `bail(&mut ctx)` → `Option<O>` |
//! | waterfall: each tap sees the previous one's changes | [`Hook`], [`SyncHook`] | `waterfall(value)` → value |
//! | parallel: join, result by registration order | [`ParallelHook`] | `call(&ctx)` |
//! | around: wrappers with `next` | [`AroundHook`] | `call(&mut ctx, inner)` → [`Outcome`] |
//! | pipeline: before → handler → after | [`Pipeline`] | `run(input, handler)` → [`Outcome`] |
//!
//! An around tap that returns without calling `next` short-circuits: the call succeeds with the
//! tap's value, [`Outcome::origin`] names the tap and a warning is logged — unless the hook is
//! built with [`AroundHook::require_next`], where that is an error (see [`AroundHook::tap`]).
//!
//! A tap returns a [`TapResult`]: `Ok(Flow::Continue)`, `Ok(Flow::Return(value))` to
//! short-circuit, or `Err(TapError::reject(..))` / any error via `?`. Errors leave a call as a
//! [`HookError`] naming the hook, the tap (name, module, `file:line` of registration), the
//! [`Phase`], and whether data was already committed.
//!
//! ## Order
//!
//! Taps run sorted by **(stage, placement sequence)**; then **module order** and
//! **`before`/`after`** constraints are applied by a stable topological sort:
//!
//! - `stage` (default 0): lower runs first.
//! - placement: [`Tap::first`] (AdminForth's `unshift`) gets sequence −1, −2, … so the *last*
//!   `first()` runs first; [`Tap::last`] (the default, `push`) gets 1, 2, …. So `last()` taps
//!   run in registration order — and modules, which register their taps when installed, in
//!   installation order (Octo's order; a module is installed after the modules it depends on).
//! - module order: within a stage, a tap of a [`Module`] runs after the taps of the modules that
//!   module depends on, directly or not; it waits for them and otherwise keeps its place. This
//!   only moves `first()` taps and taps registered late. Taps without a module have none.
//! - `before("x")` / `after("x")`: the tap moves just as far as needed; among taps whose
//!   constraints are met, the one earliest by the rules above runs next. An unknown name, a
//!   cycle, or a constraint against the module order is a [`RegisterError`] that names the taps.
//!
//! A worked example, with every rule at once:
//!
//! ```
//! use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError, Tap};
//!
//! type Ctx = ();
//! fn ok(_: &mut Ctx) -> hookline::TapResult { Ok(Flow::Continue) }
//!
//! struct Auth(Hook<Ctx>);
//! impl Module for Auth {
//!     fn name(&self) -> &str { "auth" }
//!     fn register_hooks(&self, s: &ModuleScope) -> Result<(), RegisterError> {
//!         self.0.tap(s.tap("session"), ok)?;
//!         Ok(())
//!     }
//! }
//! struct Audit(Hook<Ctx>);
//! impl Module for Audit {
//!     fn name(&self) -> &str { "audit" }
//!     fn depends_on(&self) -> Vec<String> { vec!["auth".into()] }
//!     fn register_hooks(&self, s: &ModuleScope) -> Result<(), RegisterError> {
//!         self.0.tap(s.tap("record").first(), ok)?; // first(), yet after auth's taps
//!         Ok(())
//!     }
//! }
//!
//! let hook: Hook<Ctx> = Hook::new("save");
//! hook.tap("a", ok)?;                                  // stage 0, seq 1
//! hook.tap(Tap::named("b").first(), ok)?;              // stage 0, seq -1
//! hook.tap(Tap::named("c").first(), ok)?;              // stage 0, seq -2: before b
//! hook.tap(Tap::named("late").stage(10), ok)?;         // stage 10: after everything at stage 0
//! hook.tap(Tap::named("early").stage(-5), ok)?;        // stage -5: before everything
//! let modules = Modules::new();
//! modules.install(Auth(hook.clone()))?;                // session: seq 2
//! modules.install(Audit(hook.clone()))?;               // record: seq -3, waits for session
//! hook.tap(Tap::named("d").before("c"), ok)?;          // seq 3, but must precede c
//!
//! assert_eq!(
//!     hook.explain().names(),
//!     ["early", "d", "c", "b", "a", "session", "record", "late"]
//! );
//! # Ok::<(), RegisterError>(())
//! ```
//!
//! `hook.explain()` shows this order with each tap's module, stage, placement, constraints and
//! registration site, as text or as a Mermaid flowchart ([`Explain::mermaid`]).
//!
//! ## Cost
//!
//! Each hook keeps an immutable, ordered snapshot of its taps, rebuilt when taps change. Each
//! thread caches the snapshots it uses, so a call finds its tap list without locking and without
//! an atomic read-modify-write, and walks it: no sorting, and no allocation for
//! synchronous taps — including synchronous taps inside an async [`Pipeline`]. An async tap
//! costs one boxed future. Interceptors ([`Interceptor`]) and timing cost nothing unless
//! installed; a `tracing` span is opened per tap at `TRACE` level. `BENCHMARKS.md` in the
//! repository has the measurements.
//!
//! ## Transactions
//!
//! [`transaction`] is the Octo model on top of these hooks: a transaction's diffs are applied in
//! dependency levels by model actions, then resource actions, through a per-transaction session
//! (a staged copy, or a database transaction), and committed by a committer. Modules tap six hook
//! lists — pre/post commit, pre/post model action (which may replace the action's outputs),
//! pre/post resource action — and module order orders them. Errors say whether anything
//! was committed.
//!
//! ## Failures
//!
//! - an error or rejection from a tap stops the chain and is returned, naming the tap;
//! - a panic inside a tap is caught and returned as [`ErrorKind::Panicked`];
//! - an async tap with a [`Tap::timeout`] that runs over is stopped ([`ErrorKind::TimedOut`];
//!   timeouts need a Tokio runtime);
//! - in a pipeline with [`AfterFailures::Isolate`], after-tap failures are recorded in the
//!   [`Outcome`] (or the error's [`HookError::suppressed`]) and logged, never dropped.

mod around;
mod dispatch;
mod error;
mod explain;
mod flow;
mod hook;
mod intercept;
mod local;
mod module;
mod order;
mod parallel;
mod pipeline;
mod registry;
mod share;
mod tap;
pub mod transaction;

pub use around::{AroundHook, Next, Scope};
pub use dispatch::panic_message;
pub use error::{BoxError, ErrorKind, HookError, Phase, RegisterError};
pub use explain::Explain;
pub use flow::{Flow, Origin, Outcome, TapError, TapResult};
pub use hook::{AsyncTap, Hook, SyncHook};
pub use intercept::{Interceptor, SlowTapWarning};
pub use module::{Module, ModuleScope, Modules};
pub use parallel::ParallelHook;
pub use pipeline::{After, AfterFailures, AfterRuns, Before, Pipeline, Policies};
pub use share::Share;
pub use tap::{Placement, Site, Tap, TapHandle, TapInfo, TapKind};

/// A boxed, `Send` future, as async taps return (re-exported from `futures-util`).
pub use futures_util::future::BoxFuture;
