//! Actions: [`ModelAction`] and [`ResourceAction`], the code that applies a diff, and
//! [`ActionId`], the stable id hooks are bound by.
//!
//! The hooks around actions live in [`super::hooks`]; running them lives in the engine
//! ([`super::Transactions::run`]).

use std::cmp::Ordering;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{Diff, Domain};
use crate::flow::TapError;

/// The stable id of an action: what hooks are bound to.
///
/// Octo binds hooks by `action.constructor.name`, so two action classes with the same name share
/// their hooks, and a class passed where an instance was expected binds to `"Function"`. An
/// `ActionId` is a value the action reports, so one action type can serve many ids (one insert
/// action per SQL table) and two types of the same name never share hooks.
///
/// ```
/// use hookline::transaction::ActionId;
/// const ADD_APP: ActionId = ActionId::new("add-app");
/// assert_eq!(ADD_APP.as_str(), "add-app");
/// assert_eq!(ActionId::from(format!("{}.insert", "apartments")).to_string(), "apartments.insert");
/// ```
#[derive(Clone)]
pub struct ActionId(Text);

/// The text of an id; a built id is shared, so the engine clones ids without allocating.
#[derive(Clone)]
enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

impl ActionId {
    /// An id from a string literal; usable in `const` items.
    pub const fn new(id: &'static str) -> Self {
        ActionId(Text::Static(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Static(id) => id,
            Text::Shared(id) => id,
        }
    }
}

impl PartialEq for ActionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ActionId {}

impl Hash for ActionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for ActionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ActionId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&'static str> for ActionId {
    fn from(id: &'static str) -> Self {
        ActionId::new(id)
    }
}

impl From<String> for ActionId {
    fn from(id: String) -> Self {
        ActionId(Text::Shared(Arc::from(id)))
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActionId({:?})", self.as_str())
    }
}

/// Whether an action applies model diffs or resource diffs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Applies model diffs and produces outputs; runs first.
    Model,
    /// Applies resource diffs; runs after every model action.
    Resource,
}

impl ActionKind {
    /// `"model"` or `"resource"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Model => "model",
            ActionKind::Resource => "resource",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Applies the model diffs it accepts ([`filter`](ModelAction::filter)) and produces
/// [`Outputs`](Domain::Outputs) — in a SQL layer, the statement that writes a record, and the
/// record as written.
///
/// `handle` receives the outputs the pre-model-action hooks left (starting from
/// `Default::default()`) and returns the outputs the post-model-action hooks receive. It borrows
/// the transaction's [`Session`](Domain::Session) mutably for as long as it runs, so it can
/// await queries on a database transaction. Return `Err(TapError::reject(..))` for a decision
/// the user should see, or any error through `?` for a fault; both fail the transaction.
///
/// ```
/// use hookline::TapError;
/// use hookline::transaction::{ActionId, Diff, DiffAction, Domain, MemorySession, ModelAction};
/// use std::collections::BTreeMap;
///
/// struct Infra;
/// impl Domain for Infra {
///     type Node = String; type Value = String; type Inputs = ();
///     type Outputs = BTreeMap<String, String>;
///     type Session = MemorySession<Vec<String>>;
/// }
///
/// /// Adds an app: records it in the session and outputs the resource it needs.
/// struct AddApp;
/// impl ModelAction<Infra> for AddApp {
///     fn id(&self) -> ActionId { ActionId::new("add-app") }
///     fn filter(&self, diff: &Diff<Infra>) -> bool {
///         diff.action() == DiffAction::Add && diff.node().starts_with("app:")
///     }
///     async fn handle(
///         &self,
///         session: &mut MemorySession<Vec<String>>,
///         diff: &Diff<Infra>,
///         _inputs: &(),
///         mut outputs: BTreeMap<String, String>,
///     ) -> Result<BTreeMap<String, String>, TapError> {
///         session.push(diff.value().clone());
///         outputs.insert("bucket".into(), format!("{}-assets", diff.value()));
///         Ok(outputs)
///     }
/// }
/// ```
pub trait ModelAction<D: Domain>: Send + Sync + 'static {
    /// The action's stable id. Read once, when the action is registered.
    fn id(&self) -> ActionId;

    /// `true` if this action applies `diff`. Every model action whose filter accepts a diff runs
    /// for it, in registration order.
    fn filter(&self, diff: &Diff<D>) -> bool;

    /// Applies `diff`.
    fn handle(
        &self,
        session: &mut D::Session,
        diff: &Diff<D>,
        inputs: &D::Inputs,
        outputs: D::Outputs,
    ) -> impl Future<Output = Result<D::Outputs, TapError>> + Send;
}

/// Applies the resource diffs it accepts ([`filter`](ResourceAction::filter)): the effect on the
/// world outside the model (Octo's infrastructure; in a SQL layer, an outbox delivery).
///
/// Resource actions produce nothing; the hooks around them observe. They run after every model
/// action, level by level, in registration order per diff, with the transaction's session.
pub trait ResourceAction<D: Domain>: Send + Sync + 'static {
    /// The action's stable id. Read once, when the action is registered.
    fn id(&self) -> ActionId;

    /// `true` if this action applies `diff`.
    fn filter(&self, diff: &Diff<D>) -> bool;

    /// Applies `diff`.
    fn handle(
        &self,
        session: &mut D::Session,
        diff: &Diff<D>,
        inputs: &D::Inputs,
    ) -> impl Future<Output = Result<(), TapError>> + Send;
}

/// [`ModelAction`] with a boxed future, so actions of different types share one list.
pub(crate) trait DynModelAction<D: Domain>: Send + Sync {
    fn filter(&self, diff: &Diff<D>) -> bool;

    fn handle<'a>(
        &'a self,
        session: &'a mut D::Session,
        diff: &'a Diff<D>,
        inputs: &'a D::Inputs,
        outputs: D::Outputs,
    ) -> BoxFuture<'a, Result<D::Outputs, TapError>>;
}

impl<D: Domain, A: ModelAction<D>> DynModelAction<D> for A {
    fn filter(&self, diff: &Diff<D>) -> bool {
        ModelAction::filter(self, diff)
    }

    fn handle<'a>(
        &'a self,
        session: &'a mut D::Session,
        diff: &'a Diff<D>,
        inputs: &'a D::Inputs,
        outputs: D::Outputs,
    ) -> BoxFuture<'a, Result<D::Outputs, TapError>> {
        Box::pin(ModelAction::handle(self, session, diff, inputs, outputs))
    }
}

/// [`ResourceAction`] with a boxed future.
pub(crate) trait DynResourceAction<D: Domain>: Send + Sync {
    fn filter(&self, diff: &Diff<D>) -> bool;

    fn handle<'a>(
        &'a self,
        session: &'a mut D::Session,
        diff: &'a Diff<D>,
        inputs: &'a D::Inputs,
    ) -> BoxFuture<'a, Result<(), TapError>>;
}

impl<D: Domain, A: ResourceAction<D>> DynResourceAction<D> for A {
    fn filter(&self, diff: &Diff<D>) -> bool {
        ResourceAction::filter(self, diff)
    }

    fn handle<'a>(
        &'a self,
        session: &'a mut D::Session,
        diff: &'a Diff<D>,
        inputs: &'a D::Inputs,
    ) -> BoxFuture<'a, Result<(), TapError>> {
        Box::pin(ResourceAction::handle(self, session, diff, inputs))
    }
}
