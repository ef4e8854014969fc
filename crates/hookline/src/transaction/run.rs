//! Running a transaction: plan levels → model actions → resource actions → pre-commit hooks →
//! commit → post-commit hooks. The error rules (which phase, what is rolled back) are in the
//! [module docs](super#errors).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tracing::Instrument;

use super::engine::{Actions, ModelEntry, ResourceEntry};
use super::hooks::{name_action, run_hooks};
use super::plan::{ResourcePlanner, group, levels};
use super::{
    ActionId, ActionKind, Applied, AppliedAction, AppliedDiff, Diff, Domain, ModelActionCall,
    PostCommit, PreCommit, ResourceActionCall, Transaction, Transactions,
};
use crate::dispatch::{panic_message, run_handler};
use crate::error::{ErrorKind, HookError, Phase};
use crate::flow::TapError;

impl<D: Domain> Transactions<D> {
    /// Runs `transaction` through `session` and commits it; returns what ran.
    ///
    /// Model diffs run level by level, and within a level in the order they were added; each
    /// diff runs every model action that accepts it, in registration order, each wrapped in its
    /// pre- and post-model-action hooks. Then the same for resource diffs and resource actions.
    /// Then the pre-commit hooks, the [`Committer`](super::Committer), and the post-commit
    /// hooks. Actions run one at a time, since they share the session.
    ///
    /// Errors name the hook list, the tap and its module, and the action (see the module docs
    /// for which phase means what). Anything failing before the commit rolls the session back.
    pub async fn run(
        &self,
        transaction: Transaction<D>,
        session: D::Session,
    ) -> Result<Applied<D>, HookError> {
        let span = if spans_enabled() {
            tracing::debug_span!("transaction", name = &*self.inner.name)
        } else {
            tracing::Span::none()
        };
        traced(span, self.run_all(transaction, session)).await
    }

    async fn run_all(
        &self,
        transaction: Transaction<D>,
        mut session: D::Session,
    ) -> Result<Applied<D>, HookError> {
        let actions = self.actions();
        let mut applied = Applied {
            inputs: Arc::new(transaction.inputs),
            model: Vec::new(),
            resource: Vec::new(),
        };
        let staged = self
            .stage(
                &actions,
                transaction.model,
                transaction.resource,
                transaction.planner,
                &mut applied,
                &mut session,
            )
            .await;
        if let Err(error) = staged {
            return Err(self.rollback(session, error).await);
        }

        let mut pre = PreCommit { applied, session };
        if let Err(error) =
            run_hooks(&self.inner.pre_commit, Phase::PreCommit, None, &mut pre).await
        {
            return Err(self.rollback(pre.session, error).await);
        }
        let PreCommit { applied, session } = pre;

        let committer = &self.inner.committer;
        guarded(&self.inner.commit_step, Phase::Commit, || {
            committer.commit(session, &applied)
        })
        .await?;
        tracing::debug!(transaction = &*self.inner.name, "committed");

        let mut post = PostCommit { applied };
        run_hooks(&self.inner.post_commit, Phase::PostCommit, None, &mut post)
            .await
            .map_err(|error| error.set_committed(true))?;
        Ok(post.applied)
    }

    /// Everything before the commit: both action stages.
    async fn stage(
        &self,
        actions: &Actions<D>,
        model: Vec<Diff<D>>,
        mut resource: Vec<Diff<D>>,
        planner: Option<ResourcePlanner<D>>,
        applied: &mut Applied<D>,
        session: &mut D::Session,
    ) -> Result<(), HookError> {
        let inputs = applied.inputs.clone();
        for (level, diffs) in self.in_levels(model)?.into_iter().enumerate() {
            let mut done = Vec::with_capacity(diffs.len());
            for diff in diffs {
                let diff = Arc::new(diff);
                let mut ran = Vec::new();
                for entry in actions.model.iter().filter(|e| e.action.filter(&diff)) {
                    let outputs = traced(
                        action_span(&entry.id, "model", level),
                        self.model_step(entry, &diff, &inputs, session),
                    )
                    .await?;
                    ran.push(AppliedAction {
                        id: entry.id.clone(),
                        outputs: Some(outputs),
                    });
                }
                done.push(AppliedDiff {
                    diff,
                    level,
                    actions: ran,
                });
            }
            applied.model.push(done);
        }

        if let Some(plan) = planner {
            let planned = catch_unwind(AssertUnwindSafe(|| plan(applied))).map_err(|payload| {
                HookError::new(
                    self.inner.plan_step.clone(),
                    Phase::Plan,
                    ErrorKind::Panicked(panic_message(payload.as_ref())),
                )
            })?;
            resource.extend(planned);
        }
        for (level, diffs) in self.in_levels(resource)?.into_iter().enumerate() {
            let mut done = Vec::with_capacity(diffs.len());
            for diff in diffs {
                let diff = Arc::new(diff);
                let mut ran = Vec::new();
                for entry in actions.resource.iter().filter(|e| e.action.filter(&diff)) {
                    traced(
                        action_span(&entry.id, "resource", level),
                        self.resource_step(entry, &diff, &inputs, session),
                    )
                    .await?;
                    ran.push(AppliedAction {
                        id: entry.id.clone(),
                        outputs: None,
                    });
                }
                done.push(AppliedDiff {
                    diff,
                    level,
                    actions: ran,
                });
            }
            applied.resource.push(done);
        }
        Ok(())
    }

    /// Groups diffs into dependency levels; a cycle fails in [`Phase::Plan`]. No diffs are no
    /// levels and one diff is one level (a diff never waits for itself), without planning.
    fn in_levels(&self, diffs: Vec<Diff<D>>) -> Result<Vec<Vec<Diff<D>>>, HookError> {
        if diffs.len() <= 1 {
            return Ok(if diffs.is_empty() {
                Vec::new()
            } else {
                vec![diffs]
            });
        }
        let level_of = levels(&diffs).map_err(|cycle| {
            HookError::new(
                self.inner.plan_step.clone(),
                Phase::Plan,
                ErrorKind::Failed(Box::new(cycle)),
            )
        })?;
        Ok(group(diffs, &level_of))
    }

    /// Pre-hooks → action → post-hooks, threading the outputs.
    async fn model_step(
        &self,
        entry: &ModelEntry<D>,
        diff: &Arc<Diff<D>>,
        inputs: &Arc<D::Inputs>,
        session: &mut D::Session,
    ) -> Result<D::Outputs, HookError> {
        let mut call = ModelActionCall {
            action: entry.id.clone(),
            diff: diff.clone(),
            inputs: inputs.clone(),
            outputs: D::Outputs::default(),
        };
        run_hooks(&entry.pre, Phase::PreAction, Some(&entry.id), &mut call).await?;
        let outputs = std::mem::take(&mut call.outputs);
        call.outputs = guarded(&entry.step, Phase::Action, || {
            entry.action.handle(session, diff, inputs, outputs)
        })
        .await
        .map_err(|error| name_action(error, &entry.id))?;
        run_hooks(&entry.post, Phase::PostAction, Some(&entry.id), &mut call).await?;
        Ok(call.outputs)
    }

    /// Pre-hooks → action → post-hooks; the hooks observe.
    async fn resource_step(
        &self,
        entry: &ResourceEntry<D>,
        diff: &Arc<Diff<D>>,
        inputs: &Arc<D::Inputs>,
        session: &mut D::Session,
    ) -> Result<(), HookError> {
        let mut call = ResourceActionCall {
            action: entry.id.clone(),
            diff: diff.clone(),
            inputs: inputs.clone(),
        };
        run_hooks(&entry.pre, Phase::PreAction, Some(&entry.id), &mut call).await?;
        guarded(&entry.step, Phase::Action, || {
            entry.action.handle(session, diff, inputs)
        })
        .await
        .map_err(|error| name_action(error, &entry.id))?;
        run_hooks(&entry.post, Phase::PostAction, Some(&entry.id), &mut call).await
    }

    /// Runs one resource action with its pre- and post-hooks, outside a transaction: no levels,
    /// no commit hooks, no commit (Octo's `runAction`; a SQL layer's outbox delivers each effect
    /// this way after the commit). The action runs whatever its filter says: the caller chose it.
    ///
    /// Fails in [`Phase::Action`] if no resource action has this id.
    pub async fn run_resource_action(
        &self,
        id: &ActionId,
        session: &mut D::Session,
        diff: Diff<D>,
        inputs: D::Inputs,
    ) -> Result<(), HookError> {
        let actions = self.actions();
        let Some(entry) = actions.resource(id) else {
            let unknown = self.unknown(id, ActionKind::Resource);
            return Err(HookError::new(
                format!("{}.resource_action[{id}]", self.inner.name),
                Phase::Action,
                ErrorKind::Failed(Box::new(unknown)),
            )
            .with_action(id.as_str()));
        };
        traced(
            action_span(id, "resource", 0),
            self.resource_step(entry, &Arc::new(diff), &Arc::new(inputs), session),
        )
        .await
    }

    /// Rolls the session back after `error`; a failing rollback is attached to `error`.
    async fn rollback(&self, session: D::Session, mut error: HookError) -> HookError {
        tracing::debug!(transaction = &*self.inner.name, %error, "rolling back");
        let committer = &self.inner.committer;
        if let Err(failure) = guarded(&self.inner.rollback_step, Phase::Commit, || {
            committer.rollback(session)
        })
        .await
        {
            error.push_suppressed(failure);
        }
        error
    }
}

/// `true` if a `DEBUG` span could be enabled (the level check `debug_span!` starts with).
fn spans_enabled() -> bool {
    tracing::Level::DEBUG <= tracing::level_filters::STATIC_MAX_LEVEL
        && tracing::Level::DEBUG <= tracing::level_filters::LevelFilter::current()
}

/// An action's span, or a disabled one when `DEBUG` is off.
fn action_span(id: &ActionId, kind: &'static str, level: usize) -> tracing::Span {
    if spans_enabled() {
        tracing::debug_span!("action", id = id.as_str(), kind, level)
    } else {
        tracing::Span::none()
    }
}

/// Runs `future` in `span`, or bare if the span is disabled: a disabled span would still be
/// entered and exited at every poll (and, with tracing's `log` feature, check the logger at
/// each), for nothing.
async fn traced<F: Future>(span: tracing::Span, future: F) -> F::Output {
    if span.is_disabled() {
        future.await
    } else {
        future.instrument(span).await
    }
}

/// Runs an action or committer future (`make` builds it): an error or a panic while building or
/// polling it becomes a [`HookError`] of `phase` named `step`.
async fn guarded<O, F>(
    step: &Arc<str>,
    phase: Phase,
    make: impl FnOnce() -> F,
) -> Result<O, HookError>
where
    F: Future<Output = Result<O, TapError>>,
{
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => run_handler(step, phase, future).await,
        Err(payload) => Err(HookError::new(
            step.clone(),
            phase,
            ErrorKind::Panicked(panic_message(payload.as_ref())),
        )),
    }
}
