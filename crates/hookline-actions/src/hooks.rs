//! Calling the three hooks of an action: building each context, running the engine hook, and
//! turning its answer (or failure) into what the call algorithms in [`crate::calls`] need.
//!
//! Contexts own the arguments, so each helper hands them back: the hit path never clones them.
//! An empty hook is skipped without building a context.

use std::hash::Hash;
use std::sync::Arc;

use hookline::HookError;

use crate::action::{AsyncAction, into_action_result};
use crate::cache::{Broke, Hit};
use crate::context::{CacheBreak, PostAction, PostActionContext, ShortCircuit};
use crate::options::BreakPolicy;
use crate::result::{ActionError, ActionResult};

/// The outcome of a cache-break check on a finished result.
pub(crate) enum Checked<A, T, E> {
    /// Use the cached result (the check kept it, or the loop guard refused to break it).
    Keep(A, Hit<T, E>),
    /// The result was dropped: run the action.
    Broken(A),
    /// The entry changed while the check ran: look again.
    Changed(A),
    /// The cache-break hook failed (already recorded and logged).
    Failed(A, Arc<HookError>),
}

/// The outcome of asking the short-circuit hook.
pub(crate) enum Shorted<A, T, E> {
    /// A tap gave the result.
    Result(A, ActionResult<T, E>),
    /// No tap did: run the action.
    Continue(A),
    /// The hook failed (already recorded and logged).
    Failed(A, Arc<HookError>),
}

impl<A, T, E, K> AsyncAction<A, T, E, K>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Runs the post-action hook for `result`. Returns the arguments and what the caller gets:
    /// `result`, or [`ActionError::Hook`] if a tap failed (the cached result is unchanged).
    pub(crate) async fn after(
        &self,
        args: A,
        result: ActionResult<T, E>,
        context: PostActionContext,
    ) -> (A, ActionResult<T, E>) {
        let hook = &self.def.post_action;
        if hook.is_empty() {
            return (args, result);
        }
        let mut ctx = PostAction::new(args, result, self.stores().clone(), context);
        let outcome = hook.call(&mut ctx).await;
        let (args, result) = ctx.into_parts();
        match outcome {
            Ok(_) => (args, result),
            Err(error) => {
                let error = self.hook_failed(&args, error);
                (args, Err(ActionError::Hook(error)))
            }
        }
    }

    /// Asks the short-circuit hook for a result.
    pub(crate) async fn ask_short_circuit(&self, args: A) -> Shorted<A, T, E> {
        let hook = &self.def.short_circuit;
        if hook.is_empty() {
            return Shorted::Continue(args);
        }
        let mut ctx = ShortCircuit::new(args, self.stores().clone());
        let outcome = hook.bail(&mut ctx).await;
        let args = ctx.into_args();
        match outcome {
            Ok(Some(result)) => Shorted::Result(args, into_action_result(result)),
            Ok(None) => Shorted::Continue(args),
            Err(error) => {
                let error = self.hook_failed(&args, error);
                Shorted::Failed(args, error)
            }
        }
    }

    /// Whether the cache-break check would break `hit`: the per-call policy if given, else the
    /// hook (`None` when neither exists, so nothing was asked).
    pub(crate) async fn would_break(
        &self,
        args: A,
        hit: &Hit<T, E>,
        policy: Option<&BreakPolicy<A, T, E>>,
    ) -> (A, Option<Result<bool, HookError>>) {
        if let Some(policy) = policy {
            let ctx = self.break_context(args, hit);
            let decision = policy.breaks(&ctx);
            return (ctx.into_args(), Some(Ok(decision)));
        }
        let hook = &self.def.cache_break;
        if hook.is_empty() {
            return (args, None);
        }
        let mut ctx = self.break_context(args, hit);
        let decision = hook.bail(&mut ctx).await.map(|d| d.unwrap_or(false));
        (ctx.into_args(), Some(decision))
    }

    fn break_context(&self, args: A, hit: &Hit<T, E>) -> CacheBreak<A, T, E> {
        CacheBreak::new(
            args,
            hit.result.clone(),
            self.stores().clone(),
            hit.time_cached,
        )
    }

    /// Runs the cache-break check on `hit` (if `enabled`) and applies its decision, with the
    /// loop guard.
    pub(crate) async fn check_break(
        &self,
        args: A,
        hit: Hit<T, E>,
        policy: Option<&BreakPolicy<A, T, E>>,
        enabled: bool,
    ) -> Checked<A, T, E> {
        if !enabled {
            return Checked::Keep(args, hit);
        }
        let (args, decision) = self.would_break(args, &hit, policy).await;
        match decision {
            None => Checked::Keep(args, hit),
            Some(Ok(false)) => {
                self.cache.keep_entry(&self.slot(&args));
                Checked::Keep(args, hit)
            }
            Some(Ok(true)) => match self.cache.break_entry(&self.slot(&args), hit.version) {
                Broke::Broken => Checked::Broken(args),
                Broke::Changed => Checked::Changed(args),
                Broke::Guarded => {
                    tracing::error!(
                        action = &*self.def.name,
                        limit = crate::cache::BREAK_LOOP_LIMIT,
                        "cache-break loop stopped: the cache-break check broke this key's result \
                         on every call, so the action ran again each time; the cached result is \
                         used until a check keeps it. Make the cache-break hook (or the call's \
                         `BreakPolicy`) keep fresh results."
                    );
                    Checked::Keep(args, hit)
                }
            },
            Some(Err(error)) => {
                let error = self.hook_failed(&args, error);
                Checked::Failed(args, error)
            }
        }
    }

    /// Logs a hook failure and records it on the key.
    pub(crate) fn hook_failed(&self, args: &A, error: HookError) -> Arc<HookError> {
        let error = Arc::new(error);
        tracing::error!(action = &*self.def.name, error = %error, "hook failed");
        self.cache.hook_failed(&self.slot(args), error.clone());
        error
    }
}
