//! [`AroundHook`]: wrappers with `next` (Feathers/koa around hooks, pluggy's new-style wrappers).
//!
//! Each tap receives the context and a [`Next`]; calling `next.run(ctx)` runs the inner taps and
//! finally the wrapped function, and gives back their result, which the tap may transform.
//! `Next::run` consumes `next`, so calling it twice does not compile:
//!
//! ```compile_fail
//! # use hookline::{AroundHook, Next};
//! let hook: AroundHook<u32, u32> = AroundHook::new("twice");
//! hook.tap("twice", |n: &mut u32, next: Next<'_, u32, u32>| Box::pin(async move {
//!     let a = next.run(n).await?;
//!     let b = next.run(n).await?; // error: use of moved value `next`
//!     Ok(a + b)
//! }));
//! ```
//!
//! A tap that returns without calling `next` short-circuits: the wrapped function does not run.
//! That is never silent: the [`Outcome::origin`] names the tap and a `tracing` warning is logged,
//! or, on a hook built with [`AroundHook::require_next`], the call fails.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;

use crate::dispatch::{TapCall, run_handler};
use crate::error::{ErrorKind, HookError, Phase, RegisterError};
use crate::flow::{Origin, Outcome, TapError};
use crate::intercept::Interceptor;
use crate::registry::{Registration, Registry, Slot, common_methods};
use crate::tap::{Site, Tap, TapHandle, TapKind};

type AroundFn<C, O> = Arc<
    dyn for<'a> Fn(&'a mut C, Next<'a, C, O>) -> BoxFuture<'a, Result<O, TapError>> + Send + Sync,
>;

/// A marker handed to the wrapped function of [`AroundHook::call`] next to the context. It
/// carries no data: its type tells the compiler that the function's future lives no longer than
/// the caller's borrows (`'s`), which is what lets the wrapped function borrow locals — a
/// database transaction, a counter — instead of needing `'static` captures.
pub struct Scope<'b, 's>(PhantomData<&'b &'s ()>);

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scope")
    }
}

/// The wrapped function, erased. A method with `&'b self` (rather than a `dyn Fn` returning
/// `BoxFuture<'b>`) keeps the caller's borrow lifetime out of the type, so `Next` needs one
/// lifetime only.
trait Inner<C, O>: Send + Sync {
    fn call<'b>(&'b self, ctx: &'b mut C) -> BoxFuture<'b, Result<O, TapError>>;
}

struct Scoped<'s, F>(F, PhantomData<&'s ()>);

impl<'s, C, O, F> Inner<C, O> for Scoped<'s, F>
where
    F: for<'b> Fn(&'b mut C, Scope<'b, 's>) -> BoxFuture<'b, Result<O, TapError>> + Send + Sync,
{
    fn call<'b>(&'b self, ctx: &'b mut C) -> BoxFuture<'b, Result<O, TapError>> {
        (self.0)(ctx, Scope(PhantomData))
    }
}

/// The rest of the chain, handed to an around tap. Consumed by [`Next::run`]; a tap that
/// returns without calling it short-circuits the call (see [`AroundHook::tap`]).
pub struct Next<'a, C, O> {
    hook: &'a Arc<str>,
    rest: &'a [Slot<AroundFn<C, O>>],
    interceptors: Option<&'a [Arc<dyn Interceptor>]>,
    inner: &'a (dyn Inner<C, O> + 'a),
    depth: usize,
    reached: &'a AtomicUsize,
}

impl<C, O> fmt::Debug for Next<'_, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("hook", self.hook)
            .field("remaining_taps", &self.rest.len())
            .finish()
    }
}

impl<'a, C: Send + 'static, O: Send + 'static> Next<'a, C, O> {
    /// Runs the inner taps and the wrapped function, returning their result.
    pub fn run<'b>(self, ctx: &'b mut C) -> BoxFuture<'b, Result<O, HookError>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            self.reached.fetch_max(self.depth, Ordering::Relaxed);
            let Some((slot, rest)) = self.rest.split_first() else {
                return run_handler(self.hook, Phase::Handler, self.inner.call(ctx)).await;
            };
            let call = TapCall {
                hook: self.hook,
                info: &slot.info,
                phase: Phase::Call,
                interceptors: self.interceptors,
            };
            let next = Next {
                rest,
                depth: self.depth + 1,
                ..self
            };
            call.run_future(|| {
                let future = (slot.handler)(ctx, next);
                async move {
                    future.await.map_err(|e| {
                        HookError::from_tap(self.hook, Some(&slot.info), Phase::Call, e)
                    })
                }
            })
            .await
        })
    }
}

/// A hook of wrappers around a function: each tap runs code before and after `next`.
///
/// A wrapper that returns **without calling `next`** short-circuits: the call succeeds with the
/// wrapper's value, and neither the inner wrappers nor the wrapped function run (Feathers', koa's
/// and pluggy's semantics; a cache is the usual reason). The [`Outcome::origin`] then names the
/// tap, and a `tracing` warning is logged. Build the hook with [`AroundHook::require_next`] to
/// make that an error instead. Details and an example: [`AroundHook::tap`].
///
/// ```
/// use hookline::{AroundHook, Next, Origin};
/// # futures_util::FutureExt::now_or_never(async {
/// let fetch: AroundHook<String, String> = AroundHook::new("fetch");
/// fetch.tap("upper", |url: &mut String, next: Next<'_, String, String>| Box::pin(async move {
///     let body = next.run(url).await?;
///     Ok(body.to_uppercase())
/// }))?;
/// let prefix = String::from("body of");
/// let prefix = &prefix; // the wrapped function may borrow locals
/// let out = fetch
///     .call(&mut "example".to_string(), |url, _| {
///         Box::pin(async move { Ok(format!("{prefix} {url}")) })
///     })
///     .await?;
/// assert_eq!(out.output, "BODY OF EXAMPLE");
/// assert_eq!(out.origin, Origin::Handler);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub struct AroundHook<C, O> {
    reg: Arc<Registry<AroundFn<C, O>>>,
    require_next: bool,
}

impl<C, O> Clone for AroundHook<C, O> {
    fn clone(&self) -> Self {
        AroundHook {
            reg: self.reg.clone(),
            require_next: self.require_next,
        }
    }
}

impl<C, O> fmt::Debug for AroundHook<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AroundHook")
            .field("name", &self.reg.name)
            .field("taps", &self.reg.len())
            .field("require_next", &self.require_next)
            .finish()
    }
}

common_methods!(AroundHook);

impl<C: Send + 'static, O: Send + 'static> AroundHook<C, O> {
    /// A hook with no taps. A tap may short-circuit by not calling `next` (see
    /// [`AroundHook::tap`]).
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        AroundHook {
            reg: Arc::new(Registry::new(name.into())),
            require_next: false,
        }
    }

    /// Makes a tap that returns without calling `next` an error
    /// ([`ErrorKind::NextNotCalled`], naming the tap) instead of a short-circuit: for hooks whose
    /// wrapped function must always run (a write, a commit). The tap's value is discarded.
    pub fn require_next(mut self) -> Self {
        self.require_next = true;
        self
    }

    /// Registers a wrapper: `f` receives the context and a [`Next`], and calls
    /// `next.run(ctx).await` to run the wrappers inside it and then the wrapped function. What
    /// `f` returns is what the wrappers outside it see.
    ///
    /// **Not calling `next` short-circuits, and the call succeeds.** A wrapper that returns
    /// `Ok(value)` without calling `next.run` ends the call there: the wrappers inside it and the
    /// wrapped function do not run, the wrappers outside it see `value`, and
    /// [`call`](Self::call) returns `Ok` with [`Outcome::origin`] =
    /// [`Origin::ShortCircuit`] naming the tap. This is deliberate — it is how an around hook
    /// answers from a cache, as in Feathers, koa and pluggy — and never hidden: the origin says
    /// so and a `tracing` warning (with the tap's registration site) is logged. Where the
    /// wrapped function must always run, build the hook with
    /// [`require_next`](Self::require_next): the same tap then fails the call with
    /// [`ErrorKind::NextNotCalled`].
    ///
    /// ```
    /// use hookline::{AroundHook, ErrorKind, Next, Origin, Scope};
    /// # futures_util::FutureExt::now_or_never(async {
    /// fn cache<'a>(sql: &'a mut String, next: Next<'a, String, u32>)
    ///     -> hookline::BoxFuture<'a, Result<u32, hookline::TapError>> {
    ///     Box::pin(async move {
    ///         if sql == "SELECT 42" {
    ///             return Ok(42); // a cache hit: `next` is never called
    ///         }
    ///         Ok(next.run(sql).await?)
    ///     })
    /// }
    /// let query: AroundHook<String, u32> = AroundHook::new("query");
    /// query.tap("cache", cache)?;
    /// fn database<'b>(_: &'b mut String, _: Scope<'b, '_>)
    ///     -> hookline::BoxFuture<'b, Result<u32, hookline::TapError>> {
    ///     Box::pin(async { Ok(7) })
    /// }
    ///
    /// let hit = query.call(&mut "SELECT 42".into(), database).await?;
    /// assert_eq!((hit.output, hit.origin), (42, Origin::ShortCircuit { tap: "cache".into() }));
    /// let miss = query.call(&mut "SELECT 7".into(), database).await?;
    /// assert_eq!((miss.output, miss.origin), (7, Origin::Handler));
    ///
    /// // Where the wrapped function must run, the same wrapper is an error.
    /// let strict: AroundHook<String, u32> = AroundHook::new("write").require_next();
    /// strict.tap("cache", cache)?;
    /// let err = strict.call(&mut "SELECT 42".into(), database).await.unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::NextNotCalled));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap().unwrap();
    /// ```
    #[track_caller]
    pub fn tap<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: for<'a> Fn(&'a mut C, Next<'a, C, O>) -> BoxFuture<'a, Result<O, TapError>>
            + Send
            + Sync
            + 'static,
    {
        self.reg.register(Registration {
            tap: tap.into(),
            kind: TapKind::Async,
            site: Site::caller(),
            handler: Arc::new(f),
        })
    }

    /// Runs `inner` inside every wrapper, the first-ordered one outermost.
    ///
    /// `inner` takes the context and a [`Scope`] marker (ignore it: `|ctx, _| ..`) and may borrow
    /// anything that outlives the call.
    pub async fn call<'s, F>(&self, ctx: &mut C, inner: F) -> Result<Outcome<O>, HookError>
    where
        F: for<'b> Fn(&'b mut C, Scope<'b, 's>) -> BoxFuture<'b, Result<O, TapError>>
            + Send
            + Sync
            + 's,
    {
        let inner = Scoped(inner, PhantomData);
        let snapshot = self.reg.load_full();
        let reached = AtomicUsize::new(0);
        let next = Next {
            hook: &self.reg.name,
            rest: &snapshot.taps,
            interceptors: snapshot.interceptors.as_deref(),
            inner: &inner,
            depth: 0,
            reached: &reached,
        };
        let output = next.run(ctx).await?;
        let depth = reached.load(Ordering::Relaxed);
        let origin = match snapshot.taps.get(depth) {
            // The deepest level reached is a wrapper, so it returned without calling `next`.
            Some(slot) => {
                if self.require_next {
                    return Err(HookError::new(
                        self.reg.name.clone(),
                        Phase::Call,
                        ErrorKind::NextNotCalled,
                    )
                    .with_tap(&slot.info));
                }
                tracing::warn!(
                    hook = &*self.reg.name,
                    tap = slot.info.name(),
                    site = %slot.info.site(),
                    "around tap returned without calling `next`; the wrapped function did not run"
                );
                Origin::ShortCircuit {
                    tap: slot.info.name_arc().clone(),
                }
            }
            _ => Origin::Handler,
        };
        Ok(Outcome {
            output,
            origin,
            isolated: Vec::new(),
        })
    }
}
