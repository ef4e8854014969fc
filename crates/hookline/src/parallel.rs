//! [`ParallelHook`]: taps that run concurrently over a shared `&C` and are joined.

use std::borrow::Cow;
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};

use crate::dispatch::TapCall;
use crate::error::{HookError, Phase, RegisterError};
use crate::flow::{Flow, TapResult};
use crate::registry::{Registration, Registry, common_methods};
use crate::tap::{Site, Tap, TapHandle, TapKind};

type ParSync<C, O> = Arc<dyn Fn(&C) -> TapResult<O> + Send + Sync>;
type ParAsync<C, O> = Arc<dyn for<'a> Fn(&'a C) -> BoxFuture<'a, TapResult<O>> + Send + Sync>;

enum ParHandler<C, O> {
    Sync(ParSync<C, O>),
    Async(ParAsync<C, O>),
}

impl<C, O> Clone for ParHandler<C, O> {
    fn clone(&self) -> Self {
        match self {
            ParHandler::Sync(f) => ParHandler::Sync(f.clone()),
            ParHandler::Async(f) => ParHandler::Async(f.clone()),
        }
    }
}

/// A hook whose taps run concurrently over a shared context and are joined (tapable's
/// `AsyncParallelHook` / `AsyncParallelBailHook`).
///
/// Every tap runs to the end, even when another fails. The result follows registration order,
/// not completion order: the first failing tap's error is returned (the other failures are in
/// [`HookError::suppressed`]); otherwise the first tap that returned a value wins.
///
/// ```
/// use hookline::{Flow, ParallelHook};
/// # futures_util::FutureExt::now_or_never(async {
/// let notify: ParallelHook<String, &'static str> = ParallelHook::new("notify");
/// notify.tap_async("email", |msg| Box::pin(async move { Ok(Flow::Continue) }))?;
/// notify.tap_async("sms", |msg| Box::pin(async move { Ok(Flow::Return("sms sent")) }))?;
/// assert_eq!(notify.call(&"hello".to_string()).await?, Some("sms sent"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub struct ParallelHook<C, O = ()> {
    reg: Arc<Registry<ParHandler<C, O>>>,
}

common_methods!(ParallelHook, with_clone_and_debug);

impl<C: Sync + 'static, O: Send + 'static> ParallelHook<C, O> {
    /// A hook with no taps.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        ParallelHook {
            reg: Arc::new(Registry::new(name.into())),
        }
    }

    /// Registers a synchronous tap.
    #[track_caller]
    pub fn tap<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: Fn(&C) -> TapResult<O> + Send + Sync + 'static,
    {
        self.reg.register(Registration {
            tap: tap.into(),
            kind: TapKind::Sync,
            site: Site::caller(),
            handler: ParHandler::Sync(Arc::new(f)),
        })
    }

    /// Registers an asynchronous tap.
    #[track_caller]
    pub fn tap_async<F>(&self, tap: impl Into<Tap>, f: F) -> Result<TapHandle, RegisterError>
    where
        F: for<'a> Fn(&'a C) -> BoxFuture<'a, TapResult<O>> + Send + Sync + 'static,
    {
        self.reg.register(Registration {
            tap: tap.into(),
            kind: TapKind::Async,
            site: Site::caller(),
            handler: ParHandler::Async(Arc::new(f)),
        })
    }

    /// Runs every tap concurrently and joins them.
    pub async fn call(&self, ctx: &C) -> Result<Option<O>, HookError> {
        let snapshot = self.reg.load_full();
        let interceptors = snapshot.interceptors.as_deref();
        let hook = &self.reg.name;
        let results = join_all(snapshot.taps.iter().map(|slot| async move {
            let call = TapCall {
                hook,
                info: &slot.info,
                phase: Phase::Call,
                interceptors,
            };
            match &slot.handler {
                ParHandler::Sync(f) => call.run_sync(|| f(ctx)),
                ParHandler::Async(f) => {
                    call.run_future(|| {
                        let future = f(ctx);
                        async move {
                            future.await.map_err(|e| {
                                HookError::from_tap(hook, Some(&slot.info), Phase::Call, e)
                            })
                        }
                    })
                    .await
                }
            }
        }))
        .await;

        let mut first_error: Option<HookError> = None;
        let mut first_value = None;
        for result in results {
            match (result, &mut first_error) {
                (Err(error), None) => first_error = Some(error),
                (Err(error), Some(first)) => first.push_suppressed(error),
                (Ok(Flow::Return(value)), _) if first_value.is_none() => first_value = Some(value),
                (Ok(_), _) => {}
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(first_value),
        }
    }
}
