//! What the six hook lists receive: [`ModelActionCall`] (pre/post model action),
//! [`ResourceActionCall`] (pre/post resource action), [`PreCommit`] and [`PostCommit`] — and how
//! a list is run.
//!
//! Every list is an engine [`Hook`](crate::Hook), so taps are ordered by module order and then
//! registration order, explained, traced, timed out and panic-checked like any other hook.
//! Unlike a plain `Hook::call`, a transaction hook list runs **every** tap: a tap's
//! `Flow::Return(())` is treated like `Flow::Continue`, because Octo ignores what these hooks
//! return (model hooks change outputs through [`ModelActionCall::outputs`] instead). The first
//! error stops the list.

use std::fmt;
use std::sync::Arc;

use super::{ActionId, Applied, Diff, Domain};
use crate::dispatch::TapCall;
use crate::error::{HookError, Phase};
use crate::hook::{Handler, Hook};

/// What a pre- or post-model-action hook receives: the diff, the inputs, and the outputs so far
/// (Octo's `handle(diff, actionInputs, actionOutputs)`).
///
/// The outputs are a waterfall: pre-hooks start from `Default::default()` and the action
/// receives what they leave; post-hooks receive the action's outputs and the transaction keeps
/// what the last one leaves. Octo's "return the outputs, which replace them" is assigning
/// [`outputs`](ModelActionCall::outputs) (or calling [`replace_outputs`]).
///
/// [`replace_outputs`]: ModelActionCall::replace_outputs
pub struct ModelActionCall<D: Domain> {
    pub(crate) action: ActionId,
    pub(crate) diff: Arc<Diff<D>>,
    pub(crate) inputs: Arc<D::Inputs>,
    /// The outputs so far; change or replace them.
    pub outputs: D::Outputs,
}

impl<D: Domain> ModelActionCall<D> {
    /// The action the hook runs around.
    pub fn action(&self) -> &ActionId {
        &self.action
    }

    /// The diff the action applies.
    pub fn diff(&self) -> &Diff<D> {
        &self.diff
    }

    /// The transaction's inputs.
    pub fn inputs(&self) -> &D::Inputs {
        &self.inputs
    }

    /// Replaces the outputs and returns the previous ones.
    pub fn replace_outputs(&mut self, outputs: D::Outputs) -> D::Outputs {
        std::mem::replace(&mut self.outputs, outputs)
    }
}

impl<D: Domain> fmt::Debug for ModelActionCall<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelActionCall")
            .field("action", &self.action)
            .field("diff", &self.diff)
            .finish_non_exhaustive()
    }
}

/// What a pre- or post-resource-action hook receives: the diff and the inputs, to observe.
pub struct ResourceActionCall<D: Domain> {
    pub(crate) action: ActionId,
    pub(crate) diff: Arc<Diff<D>>,
    pub(crate) inputs: Arc<D::Inputs>,
}

impl<D: Domain> ResourceActionCall<D> {
    /// The action the hook runs around.
    pub fn action(&self) -> &ActionId {
        &self.action
    }

    /// The diff the action applies.
    pub fn diff(&self) -> &Diff<D> {
        &self.diff
    }

    /// The transaction's inputs.
    pub fn inputs(&self) -> &D::Inputs {
        &self.inputs
    }
}

impl<D: Domain> fmt::Debug for ResourceActionCall<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceActionCall")
            .field("action", &self.action)
            .field("diff", &self.diff)
            .finish_non_exhaustive()
    }
}

/// What a pre-commit hook receives: the whole transaction as it ran, and the session it is about
/// to be committed through. An error here rolls the session back: nothing is committed.
pub struct PreCommit<D: Domain> {
    pub(crate) applied: Applied<D>,
    pub(crate) session: D::Session,
}

impl<D: Domain> PreCommit<D> {
    /// The transaction: model and resource diffs, level by level, with outputs.
    pub fn transaction(&self) -> &Applied<D> {
        &self.applied
    }

    /// The session, still uncommitted: read through it to check an invariant before
    /// committing (a SQL layer's hooks query the open database transaction here).
    pub fn session(&mut self) -> &mut D::Session {
        &mut self.session
    }
}

impl<D: Domain> fmt::Debug for PreCommit<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreCommit")
            .field("transaction", &self.applied)
            .finish_non_exhaustive()
    }
}

/// What a post-commit hook receives: the committed transaction. An error here is returned with
/// [`committed`](crate::HookError::committed) set: the data stays.
pub struct PostCommit<D: Domain> {
    pub(crate) applied: Applied<D>,
}

impl<D: Domain> PostCommit<D> {
    /// The committed transaction.
    pub fn transaction(&self) -> &Applied<D> {
        &self.applied
    }
}

impl<D: Domain> fmt::Debug for PostCommit<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostCommit")
            .field("transaction", &self.applied)
            .finish()
    }
}

/// Runs every tap of `hook` over `ctx` in order; the first error stops the list and is returned
/// in `phase`, naming `action` if the list is bound to one.
pub(crate) async fn run_hooks<C: Send + 'static>(
    hook: &Hook<C>,
    phase: Phase,
    action: Option<&ActionId>,
    ctx: &mut C,
) -> Result<(), HookError> {
    let snapshot = hook.snapshot();
    let interceptors = snapshot.interceptors.as_deref();
    for slot in snapshot.taps.iter() {
        let call = TapCall {
            hook: hook.name_arc(),
            info: &slot.info,
            phase,
            interceptors,
        };
        let result = match &slot.handler {
            Handler::Sync(f) => call.run_sync(|| f(ctx)),
            Handler::Async(f) => call.run_async(&**f, ctx).await,
        };
        if let Err(error) = result {
            return Err(match action {
                Some(action) => name_action(error, action),
                None => error,
            });
        }
    }
    Ok(())
}

/// Names `action` on an error, unless it already names one (an error passed on from a nested
/// transaction keeps its own).
pub(crate) fn name_action(error: HookError, action: &ActionId) -> HookError {
    if error.action().is_some() {
        error
    } else {
        error.with_action(action.as_str())
    }
}
