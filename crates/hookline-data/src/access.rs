//! Access checks: [`AllowedActions`] per resource, each [`Operation`] [`Allowed`] always, never, or
//! when a predicate over the [`Actor`] and the record says so.
//!
//! Flows evaluate the check **before any hook runs** (AdminForth's `allowedActions`); a denial
//! is [`DataError::Denied`](crate::DataError::Denied) with status 403.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::record::Record;

/// An operation a flow performs on a resource — what AdminForth's `allowedActions` allow. (In
/// hookline, an *action* is something else: a transaction's model or resource action, or a
/// cached async action.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Read many records (list, count, aggregate, and dropdowns on the resource's columns).
    List,
    /// Read one record (show, and the edit page's initial data).
    Show,
    /// Create a record.
    Create,
    /// Change a record.
    Edit,
    /// Delete a record (also when a cascade deletes it).
    Delete,
}

impl Operation {
    /// The operation's name: `"list"`, `"show"`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Show => "show",
            Operation::Create => "create",
            Operation::Edit => "edit",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A predicate over the actor and the record concerned (`None` for list and create).
pub type Predicate = Arc<dyn Fn(&Actor, Option<&Record>) -> bool + Send + Sync>;

/// Whether an operation is allowed. Deserializes from a boolean (`delete = false` in TOML);
/// predicates are set from Rust.
///
/// ```
/// use hookline_data::{Actor, Allowed, Record};
/// let own_only = Allowed::when(|actor: &Actor, record: Option<&Record>| {
///     actor.has_role("superadmin")
///         || record.is_some_and(|r| r.get("realtor_id") == Some(&actor.id))
/// });
/// let mine: Record = [("realtor_id", 7)].into_iter().collect();
/// assert!(own_only.check(&Actor::new(7), Some(&mine)));
/// assert!(!own_only.check(&Actor::new(8), Some(&mine)));
/// assert!(own_only.check(&Actor::new(8).with_role("superadmin"), Some(&mine)));
/// ```
#[derive(Clone, Default)]
pub enum Allowed {
    /// Everyone may.
    #[default]
    Always,
    /// No one may.
    Never,
    /// Those for whom the predicate returns `true`.
    When(Predicate),
}

impl Allowed {
    /// Allowed when `predicate` returns `true` for the actor and the record.
    pub fn when(
        predicate: impl Fn(&Actor, Option<&Record>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Allowed::When(Arc::new(predicate))
    }

    /// Evaluates the rule.
    pub fn check(&self, actor: &Actor, record: Option<&Record>) -> bool {
        match self {
            Allowed::Always => true,
            Allowed::Never => false,
            Allowed::When(predicate) => predicate(actor, record),
        }
    }

    /// `true` if the rule looks at the record (so a flow must load it before checking).
    pub fn needs_record(&self) -> bool {
        matches!(self, Allowed::When(_))
    }
}

impl From<bool> for Allowed {
    fn from(allowed: bool) -> Self {
        if allowed {
            Allowed::Always
        } else {
            Allowed::Never
        }
    }
}

impl fmt::Debug for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Always => f.write_str("Always"),
            Allowed::Never => f.write_str("Never"),
            Allowed::When(_) => f.write_str("When(<predicate>)"),
        }
    }
}

impl<'de> Deserialize<'de> for Allowed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bool::deserialize(deserializer).map(Allowed::from)
    }
}

/// The access rule of each operation on a resource (AdminForth's `allowedActions`). Every
/// operation is allowed unless set.
///
/// ```
/// use hookline_data::{Operation, AllowedActions, Actor};
/// let rules: AllowedActions = serde_json::from_str(r#"{ "delete": false }"#).unwrap();
/// assert!(rules.get(Operation::List).check(&Actor::new(1), None));
/// assert!(!rules.get(Operation::Delete).check(&Actor::new(1), None));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllowedActions {
    /// Who may list (and count, aggregate, read dropdowns).
    pub list: Allowed,
    /// Who may show one record.
    pub show: Allowed,
    /// Who may create.
    pub create: Allowed,
    /// Who may edit; the predicate sees the record before the change.
    pub edit: Allowed,
    /// Who may delete; the predicate sees the record.
    pub delete: Allowed,
}

impl AllowedActions {
    /// The rule for one operation.
    pub fn get(&self, operation: Operation) -> &Allowed {
        match operation {
            Operation::List => &self.list,
            Operation::Show => &self.show,
            Operation::Create => &self.create,
            Operation::Edit => &self.edit,
            Operation::Delete => &self.delete,
        }
    }

    /// Replaces the rule for one operation.
    pub fn set(&mut self, operation: Operation, allowed: impl Into<Allowed>) {
        let slot = match operation {
            Operation::List => &mut self.list,
            Operation::Show => &mut self.show,
            Operation::Create => &mut self.create,
            Operation::Edit => &mut self.edit,
            Operation::Delete => &mut self.delete,
        };
        *slot = allowed.into();
    }
}
