//! [`Domain`]: the types one transaction engine works with, named once so the rest of the API
//! can say `Diff<D>` instead of five type parameters.

use std::fmt;
use std::hash::Hash;

/// The types a transaction engine works with: what diffs are about, what actions receive and
/// produce, and the per-transaction session they write through.
///
/// Implement it on a marker type, once per kind of transaction:
///
/// ```
/// use hookline::transaction::{Domain, MemorySession};
/// use std::collections::BTreeMap;
///
/// /// Octo-style infrastructure transactions, staged in memory.
/// struct Infra;
/// impl Domain for Infra {
///     type Node = String;                          // "app:shop", "region:eu-1"
///     type Value = String;                         // the field's new value
///     type Inputs = BTreeMap<String, String>;      // the module inputs actions may read
///     type Outputs = BTreeMap<String, String>;     // Octo's `ActionOutputs`: key -> resource
///     type Session = MemorySession<Vec<String>>;   // the staged state actions write to
/// }
/// ```
///
/// A SQL integration uses a database transaction as the `Session` (for example
/// `sqlx::Transaction<'static, Postgres>`): model actions run their statements through it,
/// pre-commit hooks can still read through it, and the [`Committer`](super::Committer) commits it.
pub trait Domain: Send + Sync + 'static {
    /// What a diff is about: a model or a resource. Diffs name the nodes they depend on
    /// ([`Diff::after`](super::Diff::after)), so nodes are compared and hashed.
    type Node: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static;

    /// The value a diff carries: a field's new value, a whole record, ….
    type Value: fmt::Debug + Send + Sync + 'static;

    /// What every action and hook of one transaction receives besides the diff (Octo's action
    /// inputs; in a SQL layer, the acting user and request). Given once per
    /// [`Transaction`](super::Transaction).
    type Inputs: Send + Sync + 'static;

    /// What a model action produces for one diff (Octo's `ActionOutputs`). The waterfall through
    /// pre-hooks, the action and post-hooks starts from `Default::default()` (Octo's `{}`).
    type Outputs: Default + Send + Sync + 'static;

    /// The per-transaction resource: actions borrow it mutably, pre-commit hooks may use it, and
    /// the [`Committer`](super::Committer) consumes it to commit or roll back.
    type Session: Send + 'static;
}
