//! One run of an action: spawned on the Tokio runtime, panics caught, the result written only if
//! the run is still the newest of its key, then the post-action hook, then the observers.
//!
//! Runs are tasks of their own so that a caller that stops waiting (a dropped future, a
//! timeout) never cancels a run other callers share, and never leaves its key marked running:
//! if the task itself is dropped (the runtime shuts down), a guard marks the key idle again.

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::action::AsyncAction;
use crate::cache::{ActionCache, OwnedSlot};
use crate::context::PostActionContext;
use crate::result::{ActionError, ActionResult, panic_message};

/// Marks the key idle if the run's task is dropped before the run finished.
struct AbandonGuard<'a, K: Hash + Eq + Clone, T, E> {
    cache: &'a ActionCache<K, T, E>,
    slot: &'a OwnedSlot<K>,
    ord: u64,
    armed: bool,
}

impl<K: Hash + Eq + Clone, T, E> Drop for AbandonGuard<'_, K, T, E> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.abandon(&self.slot.as_slot(), self.ord);
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
    /// Spawns run `ord` (already registered in the cache) of `args`. The handle resolves to
    /// what the starter gets: the result, or [`ActionError::Hook`] if the post-action hook
    /// failed.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub(crate) fn spawn_run(
        &self,
        args: A,
        ord: u64,
        context: PostActionContext,
        post_action: bool,
    ) -> JoinHandle<ActionResult<T, E>> {
        let this = self.clone();
        let slot = self.slot(&args).to_owned();
        let span = tracing::debug_span!("action", action = &*self.def.name, %context);
        tokio::spawn(
            async move { this.execute(slot, args, ord, context, post_action).await }
                .instrument(span),
        )
    }

    async fn execute(
        self,
        slot: OwnedSlot<K>,
        args: A,
        ord: u64,
        context: PostActionContext,
        post_action: bool,
    ) -> ActionResult<T, E> {
        tracing::debug!("action started");
        let mut guard = AbandonGuard {
            cache: &self.cache,
            slot: &slot,
            ord,
            armed: true,
        };
        let result = self.invoke(args.clone()).await;
        guard.armed = false;
        if !self.cache.complete(&slot.as_slot(), ord, result.clone()) {
            tracing::debug!("run superseded or cleared: its result goes to its caller only");
            return result;
        }
        let delivered = if post_action {
            self.after(args, result, context).await.1
        } else {
            result
        };
        self.cache.publish(&slot.as_slot());
        delivered
    }

    /// Calls the action function, turning a panic (while building or polling its future) into
    /// an error result.
    async fn invoke(&self, args: A) -> ActionResult<T, E> {
        let stores = self.stores().clone();
        let outcome = match catch_unwind(AssertUnwindSafe(|| (self.def.action)(args, stores))) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(payload) => Err(payload),
        };
        match outcome {
            Ok(Ok(payload)) => Ok(Arc::new(payload)),
            Ok(Err(error)) => Err(ActionError::Failed(Arc::new(error))),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                tracing::error!(action = &*self.def.name, %message, "action panicked");
                Err(ActionError::Panicked(message))
            }
        }
    }
}

/// What the starter of a run gets from its task.
pub(crate) async fn joined<T, E>(task: JoinHandle<ActionResult<T, E>>) -> ActionResult<T, E> {
    match task.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(ActionError::Panicked(panic_message(
            error.into_panic().as_ref(),
        ))),
        Err(_) => Err(ActionError::Cancelled),
    }
}
