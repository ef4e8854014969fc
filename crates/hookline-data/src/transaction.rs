//! Writes as engine transactions: every create, edit and delete (with its cascades, and every
//! record of a bulk call) becomes diffs → model actions (one SQL statement each) → pre-commit
//! taps → commit → post-commit taps, inside one SQL transaction.
//!
//! - [`SqlWrites`] is the [`Domain`]: diffs are about [`RecordRef`]s and carry a [`Change`];
//!   the session is the open [`Session`]; model actions output the row as written.
//! - Each resource has three model actions with stable ids, `<resource>.insert`,
//!   `<resource>.update` and `<resource>.delete` ([`Resource::action_id`](crate::Resource::action_id)),
//!   so taps can be bound to one table's statements.
//! - The committer commits or rolls back the SQL transaction, so a pre-commit veto (or any
//!   failure before it) is a rollback.
//!
//! The write flows of [`Resource`](crate::Resource) build the diffs and run them here.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use hookline::transaction::{
    ActionId, Applied, Committer, Diff, DiffAction, Domain, ModelAction, Transaction, Transactions,
};
use hookline::{HookError, TapError};
use serde_json::Value;

use crate::actor::Actor;
use crate::error::DataError;
use crate::record::Record;
use crate::resource::ResourceInner;
use crate::source::{Backend, Session};
use crate::statement::{self, Inserts};

/// The transaction domain of the data layer (see the [module docs](self)).
#[derive(Debug)]
pub struct SqlWrites;

impl Domain for SqlWrites {
    type Node = RecordRef;
    type Value = Change;
    type Inputs = WriteInputs;
    type Outputs = Option<Record>;
    type Session = Session;
}

/// The record a diff is about: the resource and the primary key (`new-<n>` for a record being
/// created, whose key the database may generate). Both are shared text, so the copies the
/// plan and the engine keep of a node do not allocate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordRef {
    /// The resource.
    pub resource: Arc<str>,
    /// The primary key as text, or `new-<n>`.
    pub key: Arc<str>,
}

impl RecordRef {
    pub(crate) fn existing(res: &ResourceInner, id: &Value) -> Self {
        let key = match id {
            Value::String(s) => Arc::from(s.as_str()),
            other => Arc::from(other.to_string()),
        };
        RecordRef {
            resource: res.shared_name.clone(),
            key,
        }
    }

    pub(crate) fn new_record(res: &ResourceInner, n: usize) -> Self {
        RecordRef {
            resource: res.shared_name.clone(),
            key: Arc::from(format!("new-{n}")),
        }
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.resource, self.key)
    }
}

/// What a diff writes: the primary key (`null` for a create whose key the database generates)
/// and the values — the whole record for a create, the changed columns for an edit, the record
/// being deleted for a delete. Values are normalized to their column types.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The primary key.
    pub record_id: Value,
    /// The values.
    pub record: Record,
}

/// What every action and commit tap of a write receives: the actor.
#[derive(Debug)]
pub struct WriteInputs {
    /// Who writes.
    pub actor: Actor,
}

/// The model action that writes one resource's rows of one kind of diff.
struct StatementAction {
    id: ActionId,
    resource: Arc<ResourceInner>,
    kind: DiffAction,
    backend: Backend,
    /// The texts of this action's inserts (used by the insert action only).
    inserts: Inserts,
}

impl StatementAction {
    async fn write(&self, session: &mut Session, change: &Change) -> Result<Record, DataError> {
        let res = &*self.resource;
        let row = match self.kind {
            DiffAction::Update => {
                let statement =
                    statement::update(res, &change.record_id, &change.record, self.backend)?;
                session.fetch_row(&statement, res.name(), &res.fields).await
            }
            DiffAction::Delete => {
                let statement = statement::delete(res, &change.record_id, self.backend);
                session.fetch_row(&statement, res.name(), &res.fields).await
            }
            _ => {
                let insert = self.inserts.render(res, &change.record, self.backend)?;
                session
                    .fetch_rendered_row(insert, res.name(), &res.fields)
                    .await
            }
        }
        .map_err(|error| conflict(res.name(), error))?;
        row.ok_or_else(|| DataError::NotFound {
            resource: res.name().to_owned(),
            id: change.record_id.clone(),
        })
    }
}

/// How a failed statement or commit becomes a [`DataError::Conflict`] (409): `conflict.rs`.
pub(crate) use crate::conflict::conflict;

impl ModelAction<SqlWrites> for StatementAction {
    fn id(&self) -> ActionId {
        self.id.clone()
    }

    fn filter(&self, diff: &Diff<SqlWrites>) -> bool {
        diff.action() == self.kind && *diff.node().resource == *self.resource.name()
    }

    async fn handle(
        &self,
        session: &mut Session,
        diff: &Diff<SqlWrites>,
        _inputs: &WriteInputs,
        _outputs: Option<Record>,
    ) -> Result<Option<Record>, TapError> {
        match self.write(session, diff.value()).await {
            Ok(row) => Ok(Some(row)),
            Err(error) => Err(TapError::fail(error)),
        }
    }
}

/// Commits or rolls back the SQL transaction.
struct SqlCommitter;

impl Committer<SqlWrites> for SqlCommitter {
    async fn commit(
        &self,
        session: Session,
        _transaction: &Applied<SqlWrites>,
    ) -> Result<(), TapError> {
        session.commit().await.map_err(TapError::fail)
    }

    async fn rollback(&self, session: Session) -> Result<(), TapError> {
        session.rollback().await.map_err(TapError::fail)
    }
}

/// The id of a resource's model action for one kind of diff.
pub(crate) fn action_id(resource: &str, kind: DiffAction) -> ActionId {
    ActionId::from(format!("{resource}.{}", verb(kind)))
}

/// The statement a kind of diff runs: `update`, `delete`, or `insert` for an addition.
fn verb(kind: DiffAction) -> &'static str {
    match kind {
        DiffAction::Update => "update",
        DiffAction::Delete => "delete",
        _ => "insert",
    }
}

/// The transaction engine of a data set, with the model actions of every resource.
pub(crate) fn engine(
    resources: &[Arc<ResourceInner>],
    backend: Backend,
) -> Result<Transactions<SqlWrites>, DataError> {
    let engine = Transactions::new("data", SqlCommitter);
    for res in resources {
        for kind in [DiffAction::Add, DiffAction::Update, DiffAction::Delete] {
            engine
                .model_action(StatementAction {
                    id: action_id(res.name(), kind),
                    resource: res.clone(),
                    kind,
                    backend,
                    inserts: Inserts::default(),
                })
                .map_err(|e| DataError::Definition {
                    resource: res.name().to_owned(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(engine)
}

/// Runs `diffs` as one transaction for `actor` on the open `session`, which the engine
/// commits or rolls back; returns the rows as written, by record.
pub(crate) async fn run(
    engine: &Transactions<SqlWrites>,
    session: Session,
    actor: &Actor,
    diffs: Vec<Diff<SqlWrites>>,
) -> Result<HashMap<RecordRef, Record>, DataError> {
    let inputs = WriteInputs {
        actor: actor.clone(),
    };
    let transaction = diffs
        .into_iter()
        .fold(Transaction::new(inputs), Transaction::model);
    match engine.run(transaction, session).await {
        Ok(applied) => Ok(written(applied)),
        Err(error) => Err(typed(error)),
    }
}

/// A statement's or the commit's own [`DataError`] (a conflict, a missing row) goes back to the
/// caller as itself; anything else — a tap's rejection or failure, an error after the commit —
/// stays a [`DataError::Hook`] with the hook, tap and phase.
fn typed(error: HookError) -> DataError {
    if error.committed() {
        return DataError::Hook(error);
    }
    error
        .downcast::<DataError>()
        .unwrap_or_else(DataError::Hook)
}

/// The row each diff's own statement returned (after the post-model-action taps), moved out
/// of the finished transaction.
fn written(applied: Applied<SqlWrites>) -> HashMap<RecordRef, Record> {
    applied
        .into_model()
        .into_iter()
        .flatten()
        .filter_map(|done| {
            let (diff, _, actions) = done.into_parts();
            let ours = verb(diff.action());
            let row = actions.into_iter().find(|action| {
                let id = action.id().as_str();
                id.strip_prefix(&*diff.node().resource)
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(ours)
            })?;
            Some((diff.node().clone(), row.into_outputs()??))
        })
        .collect()
}
