//! Running one tap: the tracing span, interceptors, panic capture and the timeout. Every hook
//! kind calls through here, so these rules hold everywhere.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::error::{ErrorKind, HookError, Phase};
use crate::flow::{Flow, TapError, TapResult};
use crate::intercept::Interceptor;
use crate::registry::Slot;
use crate::tap::TapInfo;

/// A synchronous tap over context `C`.
pub(crate) type SyncFn<C, O> = Arc<dyn Fn(&mut C) -> TapResult<O> + Send + Sync>;
/// An asynchronous tap over context `C`.
pub(crate) type AsyncFn<C, O> =
    Arc<dyn for<'a> Fn(&'a mut C) -> BoxFuture<'a, TapResult<O>> + Send + Sync>;

/// The identity of the tap being run, and what watches it.
pub(crate) struct TapCall<'s> {
    pub(crate) hook: &'s Arc<str>,
    pub(crate) info: &'s Arc<TapInfo>,
    pub(crate) phase: Phase,
    pub(crate) interceptors: Option<&'s [Arc<dyn Interceptor>]>,
}

/// `true` if a `TRACE` span could be enabled: the level check `trace_span!` starts with, inlined
/// into the tap loop so that a disabled span costs one load and compare, not a call.
#[inline(always)]
fn spans_enabled() -> bool {
    tracing::Level::TRACE <= tracing::level_filters::STATIC_MAX_LEVEL
        && tracing::Level::TRACE <= tracing::level_filters::LevelFilter::current()
}

impl TapCall<'_> {
    /// The tap's span, or a disabled one without a call when `TRACE` is off.
    #[inline(always)]
    fn span(&self) -> tracing::Span {
        if spans_enabled() {
            self.make_span()
        } else {
            tracing::Span::none()
        }
    }

    #[inline(never)]
    fn make_span(&self) -> tracing::Span {
        tracing::trace_span!(
            "tap",
            hook = &**self.hook,
            tap = self.info.name(),
            module = self.info.module(),
            phase = self.phase.as_str()
        )
    }

    #[inline]
    fn start(&self) -> Option<Instant> {
        let interceptors = self.interceptors?;
        for i in interceptors {
            i.call(self.hook, self.info);
        }
        Some(Instant::now())
    }

    #[inline]
    fn finish<T>(&self, started: Option<Instant>, result: &Result<T, HookError>) {
        let (Some(started), Some(interceptors)) = (started, self.interceptors) else {
            return;
        };
        let elapsed = started.elapsed();
        for i in interceptors {
            match result {
                Ok(_) => i.result(self.hook, self.info, elapsed),
                Err(error) => i.error(self.hook, self.info, error, elapsed),
            }
        }
    }

    #[cold]
    pub(crate) fn panicked(&self, payload: Box<dyn Any + Send>) -> HookError {
        HookError::new(
            self.hook.clone(),
            self.phase,
            ErrorKind::Panicked(panic_message(payload.as_ref())),
        )
        .with_tap(self.info)
    }

    #[inline]
    fn convert<O>(&self, result: TapResult<O>) -> Result<Flow<O>, HookError> {
        result.map_err(|e| self.failed(e))
    }

    #[cold]
    fn failed(&self, error: TapError) -> HookError {
        HookError::from_tap(self.hook, Some(self.info), self.phase, error)
    }

    /// Runs a synchronous tap: no allocation, a panic becomes an error.
    #[inline]
    pub(crate) fn run_sync<O>(
        &self,
        f: impl FnOnce() -> TapResult<O>,
    ) -> Result<Flow<O>, HookError> {
        let _span = self.span().entered();
        let started = self.start();
        let result = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(result) => self.convert(result),
            Err(payload) => Err(self.panicked(payload)),
        };
        self.finish(started, &result);
        result
    }

    /// Runs any future-returning tap (`make` builds the future): panics while building or
    /// polling it become errors, and the tap's timeout applies.
    pub(crate) fn run_future<T, F>(
        &self,
        make: impl FnOnce() -> F,
    ) -> impl Future<Output = Result<T, HookError>>
    where
        F: Future<Output = Result<T, HookError>>,
    {
        self.run_guarded(make, |result| result)
    }

    /// Runs an asynchronous tap.
    ///
    /// A tap nobody watches (no `TRACE` span, no interceptor) and without a timeout takes a
    /// lean path: the same panic capture, without the span, timing and timer bookkeeping.
    pub(crate) async fn run_async<C, O>(
        &self,
        f: &(dyn for<'a> Fn(&'a mut C) -> BoxFuture<'a, TapResult<O>> + Send + Sync),
        ctx: &mut C,
    ) -> Result<Flow<O>, HookError> {
        if self.interceptors.is_some() || self.info.timeout.is_some() || spans_enabled() {
            return self
                .run_guarded(move || f(ctx), |result| self.convert(result))
                .await;
        }
        let future = match build(move || f(ctx)) {
            Ok(future) => future,
            Err(payload) => return Err(self.panicked(payload)),
        };
        match AssertUnwindSafe(future).catch_unwind().await {
            Ok(result) => self.convert(result),
            Err(payload) => Err(self.panicked(payload)),
        }
    }

    /// Runs an asynchronous tap inside a panic guard the caller holds around a whole run of
    /// taps (see `run_series`): a tap nobody watches is called and awaited bare, a watched one
    /// (span, interceptor, timeout) as [`TapCall::run_async`] does.
    pub(crate) async fn run_async_in_guard<C, O>(
        &self,
        f: &(dyn for<'a> Fn(&'a mut C) -> BoxFuture<'a, TapResult<O>> + Send + Sync),
        ctx: &mut C,
    ) -> Result<Flow<O>, HookError> {
        if self.interceptors.is_some() || self.info.timeout.is_some() || spans_enabled() {
            return self
                .run_guarded(move || f(ctx), |result| self.convert(result))
                .await;
        }
        self.convert(f(ctx).await)
    }

    /// Builds the tap's future with `make` and awaits it inside the tap's span, turning panics
    /// into errors, applying the tap's timeout, and converting the output with `convert`.
    ///
    /// One flat state machine: the span is entered around each poll by hand instead of through
    /// `Instrument`, so a tap costs no nested future (and nothing at all for the span when
    /// `TRACE` is off).
    async fn run_guarded<R, T, F>(
        &self,
        make: impl FnOnce() -> F,
        convert: impl FnOnce(R) -> Result<T, HookError>,
    ) -> Result<T, HookError>
    where
        F: Future<Output = R>,
    {
        let span = spans_enabled().then(|| self.make_span());
        let started = self.start();
        let built = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            build(make)
        };
        let result = match built {
            Err(payload) => Err(self.panicked(payload)),
            Ok(future) => {
                let guarded = AssertUnwindSafe(future).catch_unwind();
                let outcome = match self.info.timeout {
                    None => Ok(in_span(&span, pin!(guarded)).await),
                    // Boxed: the timer's state is large, and only calls of taps with a timeout
                    // (which register a timer anyway) should carry it.
                    Some(limit) => in_span(&span, Box::pin(with_timeout(limit, guarded)))
                        .await
                        .map_err(|kind| {
                            HookError::new(self.hook.clone(), self.phase, kind).with_tap(self.info)
                        }),
                };
                match outcome {
                    Ok(Ok(output)) => convert(output),
                    Ok(Err(payload)) => Err(self.panicked(payload)),
                    Err(timed_out) => Err(timed_out),
                }
            }
        };
        self.finish(started, &result);
        result
    }
}

/// Where a run of consecutive sync taps stopped.
pub(crate) enum SyncRun<O> {
    /// Every tap of the run continued; this many taps ran, and the next one (if any) is async.
    Continued(usize),
    /// The tap at this index of the run short-circuited with the value.
    Returned(O, usize),
}

/// The part of a tap call that is the same for every tap of one series call.
pub(crate) struct Series<'s> {
    pub(crate) hook: &'s Arc<str>,
    pub(crate) phase: Phase,
    pub(crate) interceptors: Option<&'s [Arc<dyn Interceptor>]>,
}

impl<'s> Series<'s> {
    /// The call of one tap of this series.
    #[inline]
    pub(crate) fn tap(&self, info: &'s Arc<TapInfo>) -> TapCall<'s> {
        TapCall {
            hook: self.hook,
            info,
            phase: self.phase,
            interceptors: self.interceptors,
        }
    }

    /// Runs the sync taps at the start of `slots` in order over `ctx`, until one short-circuits
    /// or fails, or `sync` finds an async tap (`None`), which is left to the caller.
    ///
    /// Each tap runs in its own span and a panic is blamed on the tap that raised it, as
    /// [`TapCall::run_sync`] does. Without interceptors this is the hot path: one `catch_unwind`
    /// guards the whole run (the index of the running tap names the one that panicked), and
    /// whether `TRACE` spans are on is read once per run rather than once per tap. With
    /// interceptors every tap goes through [`TapCall::run_sync`], so interceptors stay outside
    /// the panic guard.
    #[inline]
    pub(crate) fn run_sync_taps<H, C, O>(
        &self,
        slots: &'s [Slot<H>],
        ctx: &mut C,
        sync: impl Fn(&H) -> Option<&SyncFn<C, O>>,
    ) -> Result<SyncRun<O>, HookError> {
        if self.interceptors.is_some() {
            return self.run_sync_taps_watched(slots, ctx, sync);
        }
        if slots.is_empty() {
            return Ok(SyncRun::Continued(0));
        }
        let mut running = 0;
        let spans = spans_enabled();
        let run = catch_unwind(AssertUnwindSafe(|| {
            for (i, slot) in slots.iter().enumerate() {
                let Some(f) = sync(&slot.handler) else {
                    return Ok(SyncRun::Continued(i));
                };
                running = i;
                let result = if spans {
                    let _span = self.tap(&slot.info).make_span().entered();
                    f(ctx)
                } else {
                    f(ctx)
                };
                match result {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Return(value)) => return Ok(SyncRun::Returned(value, i)),
                    Err(error) => return Err((error, i)),
                }
            }
            Ok(SyncRun::Continued(slots.len()))
        }));
        match run {
            Ok(Ok(stop)) => Ok(stop),
            Ok(Err((error, i))) => Err(self.tap(&slots[i].info).failed(error)),
            Err(payload) => Err(self.tap(&slots[running].info).panicked(payload)),
        }
    }

    /// [`Series::run_sync_taps`] with interceptors: every tap through [`TapCall::run_sync`].
    #[inline(never)]
    fn run_sync_taps_watched<H, C, O>(
        &self,
        slots: &'s [Slot<H>],
        ctx: &mut C,
        sync: impl Fn(&H) -> Option<&SyncFn<C, O>>,
    ) -> Result<SyncRun<O>, HookError> {
        for (i, slot) in slots.iter().enumerate() {
            let Some(f) = sync(&slot.handler) else {
                return Ok(SyncRun::Continued(i));
            };
            if let Flow::Return(value) = self.tap(&slot.info).run_sync(|| f(ctx))? {
                return Ok(SyncRun::Returned(value, i));
            }
        }
        Ok(SyncRun::Continued(slots.len()))
    }
}

/// Builds a tap's future, catching a panic while doing so.
fn build<F>(make: impl FnOnce() -> F) -> Result<F, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(make))
}

/// Polls `future` with `span` (if any) entered, as `tracing::Instrument` does.
fn in_span<F: Future + Unpin>(
    span: &Option<tracing::Span>,
    mut future: F,
) -> impl Future<Output = F::Output> {
    poll_fn(move |cx| {
        let _entered = span.as_ref().map(tracing::Span::enter);
        future.poll_unpin(cx)
    })
}

async fn with_timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, ErrorKind> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(ErrorKind::Failed(
            "tap timeouts need a Tokio runtime, and this call is not running inside one".into(),
        ));
    }
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| ErrorKind::TimedOut(limit))
}

/// The message of a caught panic's payload (`&str` or `String`), or a placeholder — what
/// [`ErrorKind::Panicked`] carries. For integrations that catch panics of their own.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs a handler future (a pipeline's handler, an around hook's wrapped function): a panic while
/// polling it becomes an error of `phase` with no tap to blame.
pub(crate) async fn run_handler<O, F>(
    hook: &Arc<str>,
    phase: Phase,
    future: F,
) -> Result<O, HookError>
where
    F: Future<Output = Result<O, TapError>>,
{
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result.map_err(|e| HookError::from_tap(hook, None, phase, e)),
        Err(payload) => Err(HookError::new(
            hook.clone(),
            phase,
            ErrorKind::Panicked(panic_message(payload.as_ref())),
        )),
    }
}
