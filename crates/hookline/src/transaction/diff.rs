//! [`Diff`]: one change to one node, and [`DiffAction`], the kind of change.
//!
//! How diffs are grouped into dependency levels lives in [`super::plan`].

use std::borrow::Cow;
use std::fmt;

use super::Domain;

/// The kind of change a diff makes (Octo's `DiffAction`, without `VALIDATE`, which belongs to
/// Octo's Terraform lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffAction {
    /// The node, or the field, is new.
    Add,
    /// The field changed.
    Update,
    /// The node, or the field, is gone.
    Delete,
    /// The node is replaced as a whole (delete and add as one change).
    Replace,
}

impl DiffAction {
    /// The action's name as shown in messages and explain output (`"add"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DiffAction::Add => "add",
            DiffAction::Update => "update",
            DiffAction::Delete => "delete",
            DiffAction::Replace => "replace",
        }
    }
}

impl fmt::Display for DiffAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change: `action` of `field` of `node`, to `value` — plus the nodes whose diffs must be
/// applied first.
///
/// ```
/// use hookline::transaction::{Diff, DiffAction, Domain, MemorySession};
/// # struct Infra;
/// # impl Domain for Infra {
/// #     type Node = &'static str; type Value = &'static str; type Inputs = ();
/// #     type Outputs = (); type Session = MemorySession<()>;
/// # }
/// let region: Diff<Infra> = Diff::add("region:eu-1", "name", "eu-1");
/// // An environment can only be added once its region exists.
/// let env: Diff<Infra> = Diff::add("env:prod", "region", "eu-1").after("region:eu-1");
/// assert_eq!(env.action(), DiffAction::Add);
/// assert_eq!(env.dependencies(), ["region:eu-1"]);
/// assert_eq!(region.to_string(), "add \"region:eu-1\".name");
/// ```
pub struct Diff<D: Domain> {
    node: D::Node,
    action: DiffAction,
    field: Cow<'static, str>,
    value: D::Value,
    after: Vec<D::Node>,
}

impl<D: Domain> Diff<D> {
    /// A diff with no dependencies.
    pub fn new(
        node: D::Node,
        action: DiffAction,
        field: impl Into<Cow<'static, str>>,
        value: D::Value,
    ) -> Self {
        Diff {
            node,
            action,
            field: field.into(),
            value,
            after: Vec::new(),
        }
    }

    /// An [`Add`](DiffAction::Add) diff.
    pub fn add(node: D::Node, field: impl Into<Cow<'static, str>>, value: D::Value) -> Self {
        Self::new(node, DiffAction::Add, field, value)
    }

    /// An [`Update`](DiffAction::Update) diff.
    pub fn update(node: D::Node, field: impl Into<Cow<'static, str>>, value: D::Value) -> Self {
        Self::new(node, DiffAction::Update, field, value)
    }

    /// A [`Delete`](DiffAction::Delete) diff.
    pub fn delete(node: D::Node, field: impl Into<Cow<'static, str>>, value: D::Value) -> Self {
        Self::new(node, DiffAction::Delete, field, value)
    }

    /// A [`Replace`](DiffAction::Replace) diff.
    pub fn replace(node: D::Node, field: impl Into<Cow<'static, str>>, value: D::Value) -> Self {
        Self::new(node, DiffAction::Replace, field, value)
    }

    /// This diff is applied only after every *other* diff of `node` in the same transaction has
    /// been applied, in an earlier level. A node without diffs in the transaction imposes
    /// nothing (it exists already). Naming the diff's own node orders it after the node's other
    /// diffs (an update after the add of the same node).
    pub fn after(mut self, node: D::Node) -> Self {
        if !self.after.contains(&node) {
            self.after.push(node);
        }
        self
    }

    /// The node the diff is about.
    pub fn node(&self) -> &D::Node {
        &self.node
    }

    /// The kind of change.
    pub fn action(&self) -> DiffAction {
        self.action
    }

    /// The field that changes.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The new value.
    pub fn value(&self) -> &D::Value {
        &self.value
    }

    /// The nodes whose diffs must be applied first.
    pub fn dependencies(&self) -> &[D::Node] {
        &self.after
    }
}

impl<D: Domain> Clone for Diff<D>
where
    D::Value: Clone,
{
    fn clone(&self) -> Self {
        Diff {
            node: self.node.clone(),
            action: self.action,
            field: self.field.clone(),
            value: self.value.clone(),
            after: self.after.clone(),
        }
    }
}

impl<D: Domain> fmt::Debug for Diff<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diff")
            .field("node", &self.node)
            .field("action", &self.action)
            .field("field", &self.field)
            .field("value", &self.value)
            .field("after", &self.after)
            .finish()
    }
}

/// `action node.field`, e.g. `add "app:shop".name` (the node as `Debug` shows it).
impl<D: Domain> fmt::Display for Diff<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.action, self.node)?;
        if !self.field.is_empty() {
            write!(f, ".{}", self.field)?;
        }
        Ok(())
    }
}
