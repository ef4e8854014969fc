//! [`TransactionExplain`]: which hooks run around which action, in which order — for the engine
//! as registered ([`Transactions::explain`]) or for one transaction's levels
//! ([`Transactions::explain_transaction`]). Text (`Display`), a list of steps, or Mermaid.

use std::fmt;

use super::plan::CycleError;
use super::{ActionId, ActionKind, Diff, Domain, Transaction, Transactions};
use crate::explain::Explain;

/// The pipeline of a transaction engine: its model and resource actions with the hooks around
/// each, then the commit hooks.
#[derive(Debug, Clone)]
pub struct TransactionExplain {
    name: String,
    model: Vec<ActionExplain>,
    resource: Vec<ActionExplain>,
    pre_commit: Explain,
    post_commit: Explain,
    plan: Option<PlanExplain>,
}

/// One action and the hooks bound to it, in running order.
#[derive(Debug, Clone)]
pub struct ActionExplain {
    id: ActionId,
    kind: ActionKind,
    pre: Explain,
    post: Explain,
}

impl ActionExplain {
    /// The action's id.
    pub fn id(&self) -> &ActionId {
        &self.id
    }

    /// Model or resource action.
    pub fn kind(&self) -> ActionKind {
        self.kind
    }

    /// The hooks that run before it.
    pub fn pre(&self) -> &Explain {
        &self.pre
    }

    /// The hooks that run after it.
    pub fn post(&self) -> &Explain {
        &self.post
    }
}

/// One transaction's diffs in levels, with the actions that will apply each.
#[derive(Debug, Clone)]
pub struct PlanExplain {
    model: Vec<Vec<PlannedDiff>>,
    resource: Vec<Vec<PlannedDiff>>,
    plans_resources: bool,
}

impl PlanExplain {
    /// The model diffs, level by level.
    pub fn model(&self) -> &[Vec<PlannedDiff>] {
        &self.model
    }

    /// The resource diffs known before the run, level by level.
    pub fn resource(&self) -> &[Vec<PlannedDiff>] {
        &self.resource
    }

    /// `true` if more resource diffs are planned from the model outputs at run time.
    pub fn plans_resources(&self) -> bool {
        self.plans_resources
    }
}

/// A diff and the actions whose filter accepts it, in running order.
#[derive(Debug, Clone)]
pub struct PlannedDiff {
    diff: String,
    actions: Vec<ActionId>,
}

impl PlannedDiff {
    /// The diff, as its `Display` shows it.
    pub fn diff(&self) -> &str {
        &self.diff
    }

    /// The actions that will apply it.
    pub fn actions(&self) -> &[ActionId] {
        &self.actions
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Hook,
    Action,
}

impl TransactionExplain {
    /// The engine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model actions in registration order.
    pub fn model_actions(&self) -> &[ActionExplain] {
        &self.model
    }

    /// The resource actions in registration order.
    pub fn resource_actions(&self) -> &[ActionExplain] {
        &self.resource
    }

    /// The action with this id.
    pub fn action(&self, id: &ActionId) -> Option<&ActionExplain> {
        self.model
            .iter()
            .chain(&self.resource)
            .find(|a| a.id == *id)
    }

    /// The pre-commit hooks.
    pub fn pre_commit(&self) -> &Explain {
        &self.pre_commit
    }

    /// The post-commit hooks.
    pub fn post_commit(&self) -> &Explain {
        &self.post_commit
    }

    /// The transaction's levels, if this explains one transaction.
    pub fn plan(&self) -> Option<&PlanExplain> {
        self.plan.as_ref()
    }

    /// Every step in running order, one string each:
    /// `pre-model-action[add-app] module/tap`, `model-action[add-app]`, …,
    /// `pre-commit module/tap`, `commit`, `post-commit module/tap`. For one transaction, every
    /// diff's actions appear level by level, with the diff (`model-action[add-app] add "app".name`).
    pub fn steps(&self) -> Vec<String> {
        self.step_list()
            .into_iter()
            .map(|(_, label)| label)
            .collect()
    }

    fn step_list(&self) -> Vec<(StepKind, String)> {
        let mut steps = Vec::new();
        let mut around = |action: &ActionExplain, diff: Option<&str>| {
            let kind = action.kind.as_str();
            let id = &action.id;
            push_hooks(&mut steps, &format!("pre-{kind}-action[{id}]"), &action.pre);
            let label = match diff {
                Some(diff) => format!("{kind}-action[{id}] {diff}"),
                None => format!("{kind}-action[{id}]"),
            };
            steps.push((StepKind::Action, label));
            push_hooks(
                &mut steps,
                &format!("post-{kind}-action[{id}]"),
                &action.post,
            );
        };
        match &self.plan {
            None => {
                for action in self.model.iter().chain(&self.resource) {
                    around(action, None);
                }
            }
            Some(plan) => {
                let planned = plan.model.iter().chain(&plan.resource).flatten();
                for diff in planned {
                    for id in &diff.actions {
                        if let Some(action) = self.action(id) {
                            around(action, Some(&diff.diff));
                        }
                    }
                }
            }
        }
        push_hooks(&mut steps, "pre-commit", &self.pre_commit);
        steps.push((StepKind::Action, "commit".to_owned()));
        push_hooks(&mut steps, "post-commit", &self.post_commit);
        steps
    }

    /// A Mermaid flowchart of the steps: hooks as boxes, actions and the commit as subroutines.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        out.push_str(&format!(
            "  start([\"transaction {}\"])\n",
            escape(&self.name)
        ));
        let mut previous = "start".to_owned();
        for (i, (kind, label)) in self.step_list().iter().enumerate() {
            let id = format!("s{i}");
            let label = escape(label);
            let node = match kind {
                StepKind::Hook => format!("{id}[\"{label}\"]"),
                StepKind::Action => format!("{id}[[\"{label}\"]]"),
            };
            out.push_str(&format!("  {node}\n  {previous} --> {id}\n"));
            previous = id;
        }
        out.push_str(&format!("  done([done])\n  {previous} --> done\n"));
        out
    }
}

fn push_hooks(steps: &mut Vec<(StepKind, String)>, list: &str, hooks: &Explain) {
    for tap in hooks.taps() {
        let label = match tap.module() {
            Some(module) => format!("{list} {module}/{}", tap.name()),
            None => format!("{list} {}", tap.name()),
        };
        steps.push((StepKind::Hook, label));
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// Writes a hook's taps (its `Display` without the header line), indented.
fn write_taps(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    hooks: &Explain,
    indent: &str,
) -> fmt::Result {
    if hooks.taps().len() == 0 {
        return writeln!(f, "{indent}{title}: (none)");
    }
    writeln!(f, "{indent}{title}: `{}`", hooks.hook())?;
    for line in hooks.to_string().lines().skip(1) {
        writeln!(f, "{indent}  {}", line.trim_start())?;
    }
    Ok(())
}

impl fmt::Display for TransactionExplain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "transaction `{}`", self.name)?;
        if let Some(plan) = &self.plan {
            writeln!(f, "  plan:")?;
            write_levels(f, "model", &plan.model)?;
            write_levels(f, "resource", &plan.resource)?;
            if plan.plans_resources {
                writeln!(
                    f,
                    "    + resource diffs planned from the model outputs at run time"
                )?;
            }
        }
        let stages = [
            (
                "model actions, for every model diff, level by level",
                &self.model,
            ),
            (
                "then resource actions, for every resource diff, level by level",
                &self.resource,
            ),
        ];
        for (title, actions) in stages {
            writeln!(f, "  {title}:")?;
            if actions.is_empty() {
                writeln!(f, "    (none)")?;
            }
            for action in actions {
                let kind = action.kind.as_str();
                writeln!(f, "    {kind} action `{}`", action.id)?;
                write_taps(f, &format!("pre-{kind}-action"), &action.pre, "      ")?;
                writeln!(f, "      then the action")?;
                write_taps(f, &format!("post-{kind}-action"), &action.post, "      ")?;
            }
        }
        write_taps(f, "pre-commit", &self.pre_commit, "  ")?;
        writeln!(f, "  commit")?;
        write_taps(f, "post-commit", &self.post_commit, "  ")
    }
}

fn write_levels(
    f: &mut fmt::Formatter<'_>,
    stage: &str,
    levels: &[Vec<PlannedDiff>],
) -> fmt::Result {
    for (level, diffs) in levels.iter().enumerate() {
        writeln!(f, "    {stage} level {level}:")?;
        for diff in diffs {
            let actions: Vec<&str> = diff.actions.iter().map(ActionId::as_str).collect();
            let actions = if actions.is_empty() {
                "no action accepts it".to_owned()
            } else {
                actions.join(", ")
            };
            writeln!(f, "      {} -> {actions}", diff.diff)?;
        }
    }
    Ok(())
}

impl<D: Domain> Transactions<D> {
    /// The pipeline as registered: every action with its pre- and post-hooks, in registration
    /// order, then the commit hooks.
    pub fn explain(&self) -> TransactionExplain {
        let actions = self.actions();
        let explain = |id: &ActionId, kind, pre: Explain, post: Explain| ActionExplain {
            id: id.clone(),
            kind,
            pre,
            post,
        };
        TransactionExplain {
            name: self.inner.name.to_string(),
            model: actions
                .model
                .iter()
                .map(|e| explain(&e.id, ActionKind::Model, e.pre.explain(), e.post.explain()))
                .collect(),
            resource: actions
                .resource
                .iter()
                .map(|e| {
                    explain(
                        &e.id,
                        ActionKind::Resource,
                        e.pre.explain(),
                        e.post.explain(),
                    )
                })
                .collect(),
            pre_commit: self.inner.pre_commit.explain(),
            post_commit: self.inner.post_commit.explain(),
            plan: None,
        }
    }

    /// The pipeline for one transaction: its diffs in levels, the actions that accept each, and
    /// the hooks around them, in the order [`run`](Transactions::run) would run them. Fails if
    /// the diffs depend on each other in a cycle.
    pub fn explain_transaction(
        &self,
        transaction: &Transaction<D>,
    ) -> Result<TransactionExplain, CycleError> {
        let actions = self.actions();
        let planned = |diffs: Vec<Vec<&Diff<D>>>, accepts: &dyn Fn(&Diff<D>) -> Vec<ActionId>| {
            diffs
                .into_iter()
                .map(|level| {
                    level
                        .into_iter()
                        .map(|diff| PlannedDiff {
                            diff: diff.to_string(),
                            actions: accepts(diff),
                        })
                        .collect()
                })
                .collect()
        };
        let model = planned(transaction.model_levels()?, &|diff| {
            let accepting = actions.model.iter().filter(|e| e.action.filter(diff));
            accepting.map(|e| e.id.clone()).collect()
        });
        let resource = planned(transaction.resource_levels()?, &|diff| {
            let accepting = actions.resource.iter().filter(|e| e.action.filter(diff));
            accepting.map(|e| e.id.clone()).collect()
        });
        let mut explain = self.explain();
        explain.plan = Some(PlanExplain {
            model,
            resource,
            plans_resources: transaction.plans_resources(),
        });
        Ok(explain)
    }
}
