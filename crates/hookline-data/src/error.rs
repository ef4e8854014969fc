//! [`DataError`]: every way a flow, a definition or the database can fail, each with the status
//! an HTTP layer should answer with.
//!
//! Hook failures keep their [`HookError`] (hook, tap, phase, committed flag) inside
//! [`DataError::Hook`]; nothing here flattens them into strings.

use hookline::HookError;
use serde_json::Value;

use crate::access::Operation;
use crate::schema::ColumnType;

/// A failed flow, definition or database call. Nothing was written unless
/// [`committed`](DataError::committed) says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No resource of this name is defined.
    #[error("unknown resource `{resource}`")]
    UnknownResource {
        /// The name asked for.
        resource: String,
    },
    /// The resource has no column of this name (in a filter, a sort, a record or an aggregate).
    #[error("resource `{resource}` has no column `{column}`")]
    UnknownColumn {
        /// The resource.
        resource: String,
        /// The name asked for.
        column: String,
    },
    /// A filter operator that does not exist.
    #[error(
        "unknown filter operator `{operator}`; expected one of: eq, ne, lt, lte, gt, gte, in, not_in, like, ilike, is_null"
    )]
    UnknownOperator {
        /// The operator given.
        operator: String,
    },
    /// A query that does not have the expected shape (from [`Query::from_json`](crate::Query::from_json)).
    #[error("invalid query: {message}")]
    InvalidQuery {
        /// What is wrong, with the path to it.
        message: String,
    },
    /// A value that does not fit the column's type.
    #[error("column `{resource}.{column}` expects {expected}, got {found}")]
    InvalidValue {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
        /// The column's type.
        expected: ColumnType,
        /// What was given instead, described.
        found: String,
    },
    /// An operator that cannot apply to the column's type (e.g. `like` on a number), or a
    /// value shape the operator does not take (e.g. `in` without a list).
    #[error("filter on `{resource}.{column}` ({column_type}): {message}")]
    UnsupportedFilter {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
        /// The column's type.
        column_type: ColumnType,
        /// What is not supported.
        message: String,
    },
    /// A required column has no value after the `before_save` hooks ran.
    #[error("column `{resource}.{column}` is required")]
    MissingRequired {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
    },
    /// A client tried to set a backend-only column (hooks may set it), or a query filters,
    /// sorts or aggregates on one.
    #[error(
        "column `{resource}.{column}` is backend-only: clients cannot set it, and queries cannot filter, sort or aggregate on it"
    )]
    BackendOnly {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
    },
    /// An edit tried to change the primary key.
    #[error("the primary key `{resource}.{column}` cannot be changed")]
    PrimaryKeyChange {
        /// The resource.
        resource: String,
        /// The primary key column.
        column: String,
    },
    /// A limit above the resource's maximum.
    #[error("limit {limit} is above the maximum of {max} for `{resource}`; page with offset")]
    LimitTooLarge {
        /// The resource.
        resource: String,
        /// The limit asked for.
        limit: u64,
        /// The resource's `max_limit`.
        max: u64,
    },
    /// No record with this primary key (or none the actor may see).
    #[error("`{resource}` has no record with primary key {id}")]
    NotFound {
        /// The resource.
        resource: String,
        /// The primary key asked for.
        id: Value,
    },
    /// The column is not a foreign key, so it has no dropdown list.
    #[error("column `{resource}.{column}` is not a foreign key")]
    NotForeignKey {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
    },
    /// An access check (`allowed_actions`) denied the operation. Checked before any hook.
    #[error("not allowed to {operation} `{resource}`")]
    Denied {
        /// The resource.
        resource: String,
        /// The operation that was denied.
        operation: Operation,
    },
    /// The database refused the write: a unique key or foreign key constraint.
    #[error("conflict writing `{resource}`: {message}")]
    Conflict {
        /// The resource written.
        resource: String,
        /// Which kind of constraint failed (the database's own text is logged, not returned).
        message: String,
    },
    /// A hook rejected or failed. The error names the hook, the tap and whether the data was
    /// already committed (an `after_save` or post-commit tap).
    #[error(transparent)]
    Hook(#[from] HookError),
    /// A resource definition that cannot work (no primary key, bad name, unknown foreign
    /// resource, …).
    #[error("resource `{resource}` is not valid: {message}")]
    Definition {
        /// The resource.
        resource: String,
        /// What is wrong.
        message: String,
    },
    /// An existing table does not have the columns the resource declares.
    #[error("table `{table}` of resource `{resource}` does not match its definition: {message}")]
    SchemaMismatch {
        /// The resource.
        resource: String,
        /// The table.
        table: String,
        /// What differs.
        message: String,
    },
    /// A write committed, but the row its statement returned is gone: a post-model-action tap
    /// set the action's outputs to `None`, so `after_save` could not run. The data stands.
    #[error(
        "the write to `{resource}` committed, but a post-model-action tap removed the row it returned, so `after_save` did not run"
    )]
    MissingOutput {
        /// The resource written.
        resource: String,
    },
    /// A value read from the database could not be converted to the column's type.
    #[error("cannot read column `{resource}.{column}` (database type {db_type}): {message}")]
    Decode {
        /// The resource.
        resource: String,
        /// The column.
        column: String,
        /// The database's name for the column type.
        db_type: String,
        /// What went wrong.
        message: String,
    },
    /// A record could not be converted to or from a Rust type.
    #[error("record does not convert to or from `{type_name}`: {source}")]
    Conversion {
        /// The Rust type.
        type_name: &'static str,
        /// serde's explanation.
        source: serde_json::Error,
    },
    /// A database URL this crate cannot open.
    #[error("unsupported database URL `{url}`: expected `sqlite:…` or `postgres://…`")]
    UnsupportedUrl {
        /// The URL given.
        url: String,
    },
    /// A statement was sent through a write's [`Session`](crate::Session) after that write
    /// committed or rolled back (by a task a hook spawned that outlived the write, say).
    #[error("the write's transaction has already ended")]
    TransactionEnded,
    /// The database failed. If `committed`, the failure came after the commit and the data
    /// stands.
    #[error("database error{}: {source}", if *.committed { " after commit" } else { "" })]
    Database {
        /// The driver's error.
        source: sqlx::Error,
        /// `true` if the data was committed before the failure.
        committed: bool,
    },
}

impl From<hookline_types::QueryError> for DataError {
    fn from(error: hookline_types::QueryError) -> Self {
        match error {
            hookline_types::QueryError::UnknownOperator { operator } => {
                DataError::UnknownOperator { operator }
            }
            hookline_types::QueryError::Invalid { message } => DataError::InvalidQuery { message },
            other => DataError::InvalidQuery {
                message: other.to_string(),
            },
        }
    }
}

impl From<hookline_types::ConversionError> for DataError {
    fn from(error: hookline_types::ConversionError) -> Self {
        DataError::Conversion {
            type_name: error.type_name,
            source: error.source,
        }
    }
}

impl DataError {
    /// The HTTP-style status for this error: 400 for bad input, 403 for a denial, 404 for a
    /// missing record, 409 for a conflict, a hook's own status, 500 for faults.
    pub fn status(&self) -> u16 {
        match self {
            DataError::UnknownResource { .. } | DataError::NotFound { .. } => 404,
            DataError::UnknownColumn { .. }
            | DataError::UnknownOperator { .. }
            | DataError::InvalidQuery { .. }
            | DataError::InvalidValue { .. }
            | DataError::UnsupportedFilter { .. }
            | DataError::MissingRequired { .. }
            | DataError::BackendOnly { .. }
            | DataError::PrimaryKeyChange { .. }
            | DataError::LimitTooLarge { .. }
            | DataError::NotForeignKey { .. } => 400,
            DataError::Denied { .. } => 403,
            DataError::Conflict { .. } => 409,
            DataError::Hook(error) => error.status(),
            DataError::Definition { .. }
            | DataError::SchemaMismatch { .. }
            | DataError::Decode { .. }
            | DataError::Conversion { .. }
            | DataError::MissingOutput { .. }
            | DataError::UnsupportedUrl { .. }
            | DataError::TransactionEnded
            | DataError::Database { .. } => 500,
        }
    }

    /// `true` if the write was committed before this error happened (an `after_save` tap or a
    /// post-commit tap failed): the data stands although the call failed.
    pub fn committed(&self) -> bool {
        match self {
            DataError::Hook(error) => error.committed(),
            DataError::Database { committed, .. } => *committed,
            DataError::MissingOutput { .. } => true,
            _ => false,
        }
    }

    /// The hook error, if a hook rejected or failed.
    pub fn hook_error(&self) -> Option<&HookError> {
        match self {
            DataError::Hook(error) => Some(error),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for DataError {
    fn from(source: sqlx::Error) -> Self {
        DataError::Database {
            source,
            committed: false,
        }
    }
}
