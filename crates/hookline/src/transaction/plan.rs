//! [`Transaction`]: the diffs to apply and the inputs they are applied with, and how its diffs are
//! ordered into dependency levels ([`CycleError`] when they cannot be).
//!
//! A diff's level is one more than the highest level of the diffs it depends on
//! ([`Diff::after`]), 0 without dependencies (Octo's `applyOrder`). Within a level, diffs keep
//! the order they were added in, so every run of the same transaction runs in the same order.

use std::collections::HashMap;
use std::fmt;

use super::{Applied, Diff, Domain};

/// Plans resource diffs from the applied model stage.
pub(crate) type ResourcePlanner<D> = Box<dyn FnOnce(&Applied<D>) -> Vec<Diff<D>> + Send>;

/// One transaction: model diffs, resource diffs, and the inputs every action and hook receives.
///
/// Model diffs are applied first, level by level, by the model actions that accept them; then
/// resource diffs — given here, or planned from the model actions' outputs with
/// [`resources_from`](Transaction::resources_from) — by the resource actions.
///
/// ```
/// use hookline::transaction::{Diff, Domain, MemorySession, Transaction};
/// # struct Infra;
/// # impl Domain for Infra {
/// #     type Node = &'static str; type Value = &'static str; type Inputs = ();
/// #     type Outputs = (); type Session = MemorySession<()>;
/// # }
/// let tx: Transaction<Infra> = Transaction::new(())
///     .model(Diff::add("env:prod", "region", "eu-1").after("region:eu-1"))
///     .model(Diff::add("region:eu-1", "name", "eu-1"))
///     .model(Diff::add("app:shop", "name", "shop"));
/// let levels = tx.model_levels()?;
/// let names: Vec<Vec<&str>> =
///     levels.iter().map(|level| level.iter().map(|d| *d.node()).collect()).collect();
/// assert_eq!(names, [vec!["region:eu-1", "app:shop"], vec!["env:prod"]]);
/// # Ok::<(), hookline::transaction::CycleError>(())
/// ```
pub struct Transaction<D: Domain> {
    pub(crate) inputs: D::Inputs,
    pub(crate) model: Vec<Diff<D>>,
    pub(crate) resource: Vec<Diff<D>>,
    pub(crate) planner: Option<ResourcePlanner<D>>,
}

impl<D: Domain> Transaction<D> {
    /// An empty transaction with the inputs its actions and hooks receive.
    pub fn new(inputs: D::Inputs) -> Self {
        Transaction {
            inputs,
            model: Vec::new(),
            resource: Vec::new(),
            planner: None,
        }
    }

    /// Adds a model diff.
    pub fn model(mut self, diff: Diff<D>) -> Self {
        self.model.push(diff);
        self
    }

    /// Adds a resource diff.
    pub fn resource(mut self, diff: Diff<D>) -> Self {
        self.resource.push(diff);
        self
    }

    /// Plans more resource diffs once the model stage has run, from its outputs (Octo turns the
    /// resources that model actions output into resource diffs). They run after the resource
    /// diffs given with [`resource`](Transaction::resource), in the same levels computation.
    /// A panic in `plan` fails the transaction in [`Phase::Plan`](crate::Phase::Plan).
    pub fn resources_from(
        mut self,
        plan: impl FnOnce(&Applied<D>) -> Vec<Diff<D>> + Send + 'static,
    ) -> Self {
        self.planner = Some(Box::new(plan));
        self
    }

    /// The inputs.
    pub fn inputs(&self) -> &D::Inputs {
        &self.inputs
    }

    /// The model diffs, in the order they were added.
    pub fn model_diffs(&self) -> &[Diff<D>] {
        &self.model
    }

    /// The resource diffs given so far (without those [`resources_from`] will plan).
    ///
    /// [`resources_from`]: Transaction::resources_from
    pub fn resource_diffs(&self) -> &[Diff<D>] {
        &self.resource
    }

    /// `true` if resource diffs will be planned from the model stage's outputs.
    pub fn plans_resources(&self) -> bool {
        self.planner.is_some()
    }

    /// The model diffs in dependency levels, each level in the order the diffs were added.
    pub fn model_levels(&self) -> Result<Vec<Vec<&Diff<D>>>, CycleError> {
        borrowed_levels(&self.model)
    }

    /// The given resource diffs in dependency levels.
    pub fn resource_levels(&self) -> Result<Vec<Vec<&Diff<D>>>, CycleError> {
        borrowed_levels(&self.resource)
    }
}

impl<D: Domain> fmt::Debug for Transaction<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("model", &self.model)
            .field("resource", &self.resource)
            .field("plans_resources", &self.planner.is_some())
            .finish_non_exhaustive()
    }
}

/// Diffs that depend on each other in a cycle, so no level order exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "diffs depend on each other in a cycle: {}; each waits for the next, so none can be applied first (remove one of these `after` dependencies)",
    .diffs.join(" -> ")
)]
pub struct CycleError {
    diffs: Vec<String>,
}

impl CycleError {
    /// The diffs on the cycle (as [`Diff`]'s `Display` shows them), each waiting for the next;
    /// the first is repeated at the end.
    pub fn diffs(&self) -> &[String] {
        &self.diffs
    }
}

fn borrowed_levels<D: Domain>(diffs: &[Diff<D>]) -> Result<Vec<Vec<&Diff<D>>>, CycleError> {
    let level_of = levels(diffs)?;
    Ok(group(diffs.iter(), &level_of))
}

/// Groups items into levels by `level_of` (one entry per item), keeping their order.
pub(crate) fn group<T>(items: impl IntoIterator<Item = T>, level_of: &[usize]) -> Vec<Vec<T>> {
    let count = level_of.iter().max().map_or(0, |max| max + 1);
    let mut out: Vec<Vec<T>> = (0..count).map(|_| Vec::new()).collect();
    for (item, &level) in items.into_iter().zip(level_of) {
        out[level].push(item);
    }
    out
}

/// The level of every diff (Kahn's algorithm, one level at a time).
pub(crate) fn levels<D: Domain>(diffs: &[Diff<D>]) -> Result<Vec<usize>, CycleError> {
    let mut by_node: HashMap<&D::Node, Vec<usize>> = HashMap::new();
    for (i, diff) in diffs.iter().enumerate() {
        by_node.entry(diff.node()).or_default().push(i);
    }
    // waits_for[i]: the diffs i must follow; dependents[j]: the diffs that follow j.
    let mut waits_for: Vec<Vec<usize>> = vec![Vec::new(); diffs.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); diffs.len()];
    for (i, diff) in diffs.iter().enumerate() {
        for node in diff.dependencies() {
            for &j in by_node.get(node).into_iter().flatten() {
                if j != i && !waits_for[i].contains(&j) {
                    waits_for[i].push(j);
                    dependents[j].push(i);
                }
            }
        }
    }
    let mut pending: Vec<usize> = waits_for.iter().map(Vec::len).collect();
    let mut level_of = vec![0; diffs.len()];
    let mut current: Vec<usize> = (0..diffs.len()).filter(|&i| pending[i] == 0).collect();
    let mut placed = 0;
    let mut level = 0;
    while !current.is_empty() {
        placed += current.len();
        let mut next = Vec::new();
        for &i in &current {
            level_of[i] = level;
            for &d in &dependents[i] {
                pending[d] -= 1;
                if pending[d] == 0 {
                    next.push(d);
                }
            }
        }
        next.sort_unstable();
        current = next;
        level += 1;
    }
    if placed == diffs.len() {
        return Ok(level_of);
    }
    Err(CycleError {
        diffs: find_cycle(&pending, &waits_for)
            .into_iter()
            .map(|i| diffs[i].to_string())
            .collect(),
    })
}

/// Walks from a stuck diff to a stuck diff it waits for until one repeats. Every stuck diff waits
/// for at least one other stuck diff, so the walk ends on a cycle.
fn find_cycle(pending: &[usize], waits_for: &[Vec<usize>]) -> Vec<usize> {
    let stuck = |i: usize| pending[i] > 0;
    let mut path: Vec<usize> = (0..pending.len()).filter(|&i| stuck(i)).take(1).collect();
    while let Some(&last) = path.last() {
        let Some(&next) = waits_for[last].iter().find(|&&j| stuck(j)) else {
            break;
        };
        if let Some(start) = path.iter().position(|&i| i == next) {
            let mut cycle = path.split_off(start);
            cycle.push(next);
            return cycle;
        }
        path.push(next);
    }
    path
}
