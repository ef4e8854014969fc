//! [`Applied`]: the record of a transaction as it ran — every diff, its level, the actions that
//! applied it and their final outputs (Octo's `DiffMetadata[][]`, for models and resources).
//!
//! Commit hooks and the committer read it; [`Transactions::run`](super::Transactions::run)
//! returns it.

use std::fmt;
use std::sync::Arc;

use super::{ActionId, Diff, Domain};

/// A transaction as it ran: the inputs, and the model and resource diffs level by level.
pub struct Applied<D: Domain> {
    pub(crate) inputs: Arc<D::Inputs>,
    pub(crate) model: Vec<Vec<AppliedDiff<D>>>,
    pub(crate) resource: Vec<Vec<AppliedDiff<D>>>,
}

impl<D: Domain> Applied<D> {
    /// The transaction's inputs.
    pub fn inputs(&self) -> &D::Inputs {
        &self.inputs
    }

    /// The model diffs, level by level (Octo's `modelTransaction`).
    pub fn model(&self) -> &[Vec<AppliedDiff<D>>] {
        &self.model
    }

    /// The resource diffs, level by level (Octo's `resourceTransaction`). Empty while resource
    /// diffs are being planned.
    pub fn resource(&self) -> &[Vec<AppliedDiff<D>>] {
        &self.resource
    }

    /// Every model diff with the final outputs of `action` for it, in running order.
    pub fn outputs_of<'a>(
        &'a self,
        action: &ActionId,
    ) -> impl Iterator<Item = (&'a Diff<D>, &'a D::Outputs)> + use<'a, D> {
        let action = action.clone();
        self.model
            .iter()
            .flatten()
            .filter_map(move |applied| Some((applied.diff(), applied.outputs(&action)?)))
    }

    /// The model diffs, level by level, by value: a caller done with the transaction takes
    /// the actions' outputs without cloning them.
    pub fn into_model(self) -> Vec<Vec<AppliedDiff<D>>> {
        self.model
    }
}

impl<D: Domain> fmt::Debug for Applied<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applied")
            .field("model", &self.model)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// One diff as it ran: its level and the actions that applied it.
pub struct AppliedDiff<D: Domain> {
    pub(crate) diff: Arc<Diff<D>>,
    pub(crate) level: usize,
    pub(crate) actions: Vec<AppliedAction<D>>,
}

impl<D: Domain> AppliedDiff<D> {
    /// The diff.
    pub fn diff(&self) -> &Diff<D> {
        &self.diff
    }

    /// Its dependency level (0 first).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The actions whose filter accepted the diff, in the order they ran. Empty if no action
    /// accepted it.
    pub fn actions(&self) -> &[AppliedAction<D>] {
        &self.actions
    }

    /// The final outputs of model action `action` for this diff (after its post-hooks).
    pub fn outputs(&self, action: &ActionId) -> Option<&D::Outputs> {
        self.actions
            .iter()
            .find(|a| a.id == *action)
            .and_then(|a| a.outputs.as_ref())
    }

    /// The diff, its level and its actions, by value (the diff stays shared: hooks may hold
    /// it).
    pub fn into_parts(self) -> (Arc<Diff<D>>, usize, Vec<AppliedAction<D>>) {
        (self.diff, self.level, self.actions)
    }
}

impl<D: Domain> fmt::Debug for AppliedDiff<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppliedDiff")
            .field("diff", &self.diff)
            .field("level", &self.level)
            .field("actions", &self.actions)
            .finish()
    }
}

/// One action that applied a diff, with its final outputs if it is a model action.
pub struct AppliedAction<D: Domain> {
    pub(crate) id: ActionId,
    pub(crate) outputs: Option<D::Outputs>,
}

impl<D: Domain> AppliedAction<D> {
    /// The action's id.
    pub fn id(&self) -> &ActionId {
        &self.id
    }

    /// The outputs after the post-model-action hooks; `None` for a resource action.
    pub fn outputs(&self) -> Option<&D::Outputs> {
        self.outputs.as_ref()
    }

    /// The outputs by value; `None` for a resource action.
    pub fn into_outputs(self) -> Option<D::Outputs> {
        self.outputs
    }
}

impl<D: Domain> fmt::Debug for AppliedAction<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppliedAction")
            .field("id", &self.id)
            .field("has_outputs", &self.outputs.is_some())
            .finish()
    }
}
