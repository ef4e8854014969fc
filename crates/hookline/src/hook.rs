//! Series hooks: [`Hook`] (sync and async taps, called with `.await`) and [`SyncHook`] (sync taps
//! only, called without a runtime).
//!
//! Both run their taps one after another over a `&mut C` context, so each tap sees what the
//! previous ones changed (a waterfall); a tap may stop the chain with [`Flow::Return`] (bail) or
//! an error. Parallel and around hooks live in [`crate::parallel`] and [`crate::around`].

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::FutureExt;

use futures_util::future::BoxFuture;

use crate::dispatch::{AsyncFn, Series, SyncFn, SyncRun};
use crate::error::{HookError, Phase, RegisterError};
use crate::flow::{Flow, TapResult};
use crate::registry::{Registration, Registry, Snapshot, common_methods};
use crate::tap::{Site, Tap, TapHandle, TapInfo, TapKind};

/// A tap written as a type, for handlers that carry state or are easier to write as an
/// `async fn` than as a closure returning `Box::pin(async move { .. })`.
///
/// ```
/// use hookline::{AsyncTap, Flow, Hook, TapResult};
///
/// struct Double;
/// impl AsyncTap<u32> for Double {
///     async fn call(&self, n: &mut u32) -> TapResult {
///         *n *= 2;
///         Ok(Flow::Continue)
///     }
/// }
///
/// let hook: Hook<u32> = Hook::new("double");
/// hook.tap_handler("double", Double).unwrap();
/// let mut n = 21;
/// futures_util::FutureExt::now_or_never(hook.call(&mut n)).unwrap().unwrap();
/// assert_eq!(n, 42);
/// ```
pub trait AsyncTap<C, O = ()>: Send + Sync + 'static {
    /// Handles one call.
    fn call(&self, ctx: &mut C) -> impl Future<Output = TapResult<O>> + Send;
}

pub(crate) enum Handler<C, O> {
    Sync(SyncFn<C, O>),
    Async(AsyncFn<C, O>),
}

impl<C, O> Handler<C, O> {
    /// The tap, if it is synchronous.
    #[inline]
    fn sync(&self) -> Option<&SyncFn<C, O>> {
        match self {
            Handler::Sync(f) => Some(f),
            Handler::Async(_) => None,
        }
    }
}

impl<C, O> Clone for Handler<C, O> {
    fn clone(&self) -> Self {
        match self {
            Handler::Sync(f) => Handler::Sync(f.clone()),
            Handler::Async(f) => Handler::Async(f.clone()),
        }
    }
}

/// Runs the taps of `reg` in order over `ctx`; sync taps inline, async taps awaited. Returns the
/// short-circuit value with the tap that produced it.
///
/// The sync taps at the front run on the thread's cached snapshot (see [`crate::local`]), which
/// costs no atomic read-modify-write; the snapshot is owned (to be held across `.await`) only
/// once an async tap is reached.
pub(crate) async fn run_series<C, O>(
    reg: &Registry<Handler<C, O>>,
    phase: Phase,
    ctx: &mut C,
) -> Result<Option<(O, Arc<TapInfo>)>, HookError>
where
    C: Send + 'static,
    O: Send + 'static,
{
    let (snapshot, mut next) = {
        let local = reg.load_local();
        let series = Series {
            hook: &reg.name,
            phase,
            interceptors: local.interceptors.as_deref(),
        };
        match series.run_sync_taps(&local.taps, ctx, Handler::sync)? {
            SyncRun::Returned(value, i) => return Ok(Some((value, local.taps[i].info.clone()))),
            SyncRun::Continued(ran) if ran == local.taps.len() => return Ok(None),
            SyncRun::Continued(ran) => (reg.hold(&local), ran),
        }
    };
    let series = Series {
        hook: &reg.name,
        phase,
        interceptors: snapshot.interceptors.as_deref(),
    };
    let taps = &snapshot.taps[..];
    // One panic guard around the rest of the run instead of two per async tap; `running`
    // names the tap to blame. (Sync runs inside keep their own guard.)
    let running = AtomicUsize::new(next);
    let rest = async {
        while let Some(slot) = taps.get(next) {
            running.store(next, Ordering::Relaxed);
            match &slot.handler {
                // A run of sync taps is dispatched in one go, without a future per tap.
                Handler::Sync(_) => {
                    match series.run_sync_taps(&taps[next..], ctx, Handler::sync)? {
                        SyncRun::Continued(ran) => next += ran,
                        SyncRun::Returned(value, i) => {
                            return Ok(Some((value, taps[next + i].info.clone())));
                        }
                    }
                }
                Handler::Async(f) => {
                    let call = series.tap(&slot.info);
                    if let Flow::Return(value) = call.run_async_in_guard(&**f, ctx).await? {
                        return Ok(Some((value, slot.info.clone())));
                    }
                    next += 1;
                }
            }
        }
        Ok(None)
    };
    match AssertUnwindSafe(rest).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let blamed = &taps[running.load(Ordering::Relaxed)].info;
            Err(series.tap(blamed).panicked(payload))
        }
    }
}

/// A named hook point over a context `C`: an ordered, removable list of sync and async taps.
///
/// `O` is what a tap may short-circuit with (`()` if taps only observe or mutate). Cloning a
/// hook is cheap and every clone shares the same taps. Registration may happen while calls run:
/// a running call keeps the tap list it started with.
///
/// ```
/// use hookline::{Flow, Hook, Tap, TapError};
///
/// struct BeforeSave { record: Vec<(String, String)>, actor: u64 }
///
/// # futures_util::FutureExt::now_or_never(async {
/// let before_save: Hook<BeforeSave> = Hook::new("apartments.create.before_save");
/// // AdminForth: the realtor is always the creating user, whatever the client sent.
/// before_save.tap("set-realtor", |ctx: &mut BeforeSave| {
///     let actor = ctx.actor.to_string();
///     ctx.record.retain(|(k, _)| k != "realtor_id");
///     ctx.record.push(("realtor_id".into(), actor));
///     Ok(Flow::Continue)
/// })?;
/// // A plugin that must run before everyone else (AdminForth's `unshift`), asynchronously.
/// let approval = before_save.tap_async(Tap::named("approval").first(), |ctx| Box::pin(async move {
///     if ctx.actor == 0 { return Err(TapError::reject("anonymous users cannot create").with_status(403)); }
///     Ok(Flow::Continue)
/// }))?;
///
/// let mut ctx = BeforeSave { record: vec![("realtor_id".into(), "7".into())], actor: 42 };
/// before_save.call(&mut ctx).await?;
/// assert_eq!(ctx.record, [("realtor_id".to_string(), "42".to_string())]);
///
/// before_save.remove(approval)?;
/// assert_eq!(before_save.explain().names(), ["set-realtor"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Hook<C, O = ()> {
    reg: Arc<Registry<Handler<C, O>>>,
}

common_methods!(Hook, with_clone_and_debug);

impl<C: Send + 'static, O: Send + 'static> Hook<C, O> {
    /// A hook with no taps. The name appears in errors, traces and [`explain`](Hook::explain).
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Hook {
            reg: Arc::new(Registry::new(name.into())),
        }
    }

    /// Registers a synchronous tap. Sync taps are called inline and never allocate per call.
    ///
    /// `tap` is a name or a [`Tap`] with options. Fails if the name is taken (unless
    /// [`Tap::replace`]), a constraint names an unknown tap, or the constraints form a cycle.
    #[track_caller]
    pub fn tap<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: Fn(&mut C) -> TapResult<O> + Send + Sync + 'static,
    {
        let f: SyncFn<C, O> = Arc::new(f);
        self.register(tap.into(), TapKind::Sync, Site::caller(), Handler::Sync(f))
    }

    /// Registers an asynchronous tap: a closure returning `Box::pin(async move { .. })`.
    #[track_caller]
    pub fn tap_async<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: for<'a> Fn(&'a mut C) -> BoxFuture<'a, TapResult<O>> + Send + Sync + 'static,
    {
        let f: AsyncFn<C, O> = Arc::new(f);
        self.register(
            tap.into(),
            TapKind::Async,
            Site::caller(),
            Handler::Async(f),
        )
    }

    /// Registers an asynchronous tap written as a type implementing [`AsyncTap`].
    #[track_caller]
    pub fn tap_handler<T>(
        &self,
        tap: impl Into<Tap>,
        handler: T,
    ) -> Result<TapHandle, RegisterError>
    where
        T: AsyncTap<C, O>,
    {
        let handler = Arc::new(handler);
        let f: AsyncFn<C, O> = Arc::new(move |ctx| {
            let handler = handler.clone();
            Box::pin(async move { handler.call(ctx).await })
        });
        self.register(
            tap.into(),
            TapKind::Async,
            Site::caller(),
            Handler::Async(f),
        )
    }

    fn register(
        &self,
        tap: Tap,
        kind: TapKind,
        site: Site,
        handler: Handler<C, O>,
    ) -> Result<TapHandle, RegisterError> {
        self.reg.register(Registration {
            tap,
            kind,
            site,
            handler,
        })
    }

    /// Runs the taps in order. Returns [`Flow::Return`] with the value of the first tap that
    /// short-circuited (the rest did not run), or [`Flow::Continue`] if all continued. The first
    /// error stops the chain and is returned, naming the tap.
    pub async fn call(&self, ctx: &mut C) -> Result<Flow<O>, HookError> {
        Ok(match run_series(&self.reg, Phase::Call, ctx).await? {
            Some((value, _)) => Flow::Return(value),
            None => Flow::Continue,
        })
    }

    /// Bail: runs the taps until one returns a value, and returns that value (tapable's
    /// `AsyncSeriesBailHook`). `None` if every tap continued.
    pub async fn bail(&self, ctx: &mut C) -> Result<Option<O>, HookError> {
        Ok(self.call(ctx).await?.into_return())
    }

    /// Runs the taps for an integration: errors carry `phase`, and a short-circuit reports the
    /// tap that made it.
    pub(crate) async fn call_in(
        &self,
        phase: Phase,
        ctx: &mut C,
    ) -> Result<Option<(O, Arc<TapInfo>)>, HookError> {
        run_series(&self.reg, phase, ctx).await
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.reg.name
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot<Handler<C, O>>> {
        self.reg.load_full()
    }
}

impl<C: Send + 'static> Hook<C, ()> {
    /// Waterfall: threads `value` through the taps, each seeing the previous tap's changes, and
    /// returns it. A tap returning [`Flow::Return`] ends the chain early with the value as it is.
    pub async fn waterfall(&self, mut value: C) -> Result<C, HookError> {
        self.call(&mut value).await?;
        Ok(value)
    }
}

/// A hook whose taps are all synchronous: called without `.await`, without a runtime, and
/// without allocating.
///
/// ```
/// use hookline::{Flow, SyncHook, Tap};
///
/// let hook: SyncHook<Vec<&str>> = SyncHook::new("build");
/// hook.tap("b", |v: &mut Vec<&str>| { v.push("b"); Ok(Flow::Continue) }).unwrap();
/// hook.tap(Tap::named("a").first(), |v: &mut Vec<&str>| { v.push("a"); Ok(Flow::Continue) }).unwrap();
/// assert_eq!(hook.waterfall(Vec::new()).unwrap(), ["a", "b"]);
/// ```
pub struct SyncHook<C, O = ()> {
    reg: Arc<Registry<SyncFn<C, O>>>,
}

common_methods!(SyncHook, with_clone_and_debug);

impl<C: 'static, O: 'static> SyncHook<C, O> {
    /// A hook with no taps.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        SyncHook {
            reg: Arc::new(Registry::new(name.into())),
        }
    }

    /// Registers a tap (see [`Hook::tap`]).
    #[track_caller]
    pub fn tap<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: Fn(&mut C) -> TapResult<O> + Send + Sync + 'static,
    {
        self.reg.register(Registration {
            tap: tap.into(),
            kind: TapKind::Sync,
            site: Site::caller(),
            handler: Arc::new(f),
        })
    }

    /// Runs the taps in order (see [`Hook::call`]).
    pub fn call(&self, ctx: &mut C) -> Result<Flow<O>, HookError> {
        let snapshot = self.reg.load_local();
        let series = Series {
            hook: &self.reg.name,
            phase: Phase::Call,
            interceptors: snapshot.interceptors.as_deref(),
        };
        Ok(
            match series.run_sync_taps(&snapshot.taps, ctx, |f: &SyncFn<C, O>| Some(f))? {
                SyncRun::Returned(value, _) => Flow::Return(value),
                SyncRun::Continued(_) => Flow::Continue,
            },
        )
    }

    /// Bail: the first value a tap returns (see [`Hook::bail`]).
    pub fn bail(&self, ctx: &mut C) -> Result<Option<O>, HookError> {
        Ok(self.call(ctx)?.into_return())
    }
}

impl<C: 'static> SyncHook<C, ()> {
    /// Waterfall: threads `value` through the taps and returns it (see [`Hook::waterfall`]).
    pub fn waterfall(&self, mut value: C) -> Result<C, HookError> {
        self.call(&mut value)?;
        Ok(value)
    }
}
