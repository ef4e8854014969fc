//! Running one tap: the tracing span, interceptors, panic capture and the timeout. Every hook
//! kind calls through here, so these rules hold everywhere.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::error::{ErrorKind, HookError, Phase};
use crate::flow::{Flow, TapResult};
use crate::intercept::Interceptor;
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

impl TapCall<'_> {
    #[inline]
    fn span(&self) -> tracing::Span {
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

    fn panicked(&self, payload: Box<dyn Any + Send>) -> HookError {
        HookError::new(
            self.hook.clone(),
            self.phase,
            ErrorKind::Panicked(panic_message(payload.as_ref())),
        )
        .with_tap(self.info)
    }

    #[inline]
    fn convert<O>(&self, result: TapResult<O>) -> Result<Flow<O>, HookError> {
        result.map_err(|e| HookError::from_tap(self.hook, Some(self.info), self.phase, e))
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
    pub(crate) async fn run_future<T, F>(&self, make: impl FnOnce() -> F) -> Result<T, HookError>
    where
        F: Future<Output = Result<T, HookError>>,
    {
        let span = self.span();
        let started = self.start();
        let result = async {
            let future = match catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => future,
                Err(payload) => return Err(self.panicked(payload)),
            };
            let guarded = AssertUnwindSafe(future).catch_unwind();
            let outcome = match self.info.timeout {
                None => guarded.await,
                Some(limit) => with_timeout(limit, guarded).await.map_err(|kind| {
                    HookError::new(self.hook.clone(), self.phase, kind).with_tap(self.info)
                })?,
            };
            outcome.unwrap_or_else(|payload| Err(self.panicked(payload)))
        }
        .instrument(span)
        .await;
        self.finish(started, &result);
        result
    }

    /// Runs an asynchronous tap.
    #[inline]
    pub(crate) async fn run_async<C, O>(
        &self,
        f: &(dyn for<'a> Fn(&'a mut C) -> BoxFuture<'a, TapResult<O>> + Send + Sync),
        ctx: &mut C,
    ) -> Result<Flow<O>, HookError> {
        self.run_future(|| {
            let future = f(ctx);
            async move { self.convert(future.await) }
        })
        .await
    }
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

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
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
    F: Future<Output = Result<O, crate::TapError>>,
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
