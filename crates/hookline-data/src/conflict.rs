//! Database errors that are the request's or the moment's, not faults: a broken constraint,
//! or a write that collided with a concurrent one, becomes a [`DataError::Conflict`] (409).
//! Every other database error stays a [`DataError::Database`] (500).
//!
//! A broken unique constraint names its column(s): hookline creates a unique column's
//! constraint or index as `<table>_<column>_key` (see `ddl.rs`), and the databases say which
//! columns collided — SQLite in its message (`UNIQUE constraint failed: users.email`),
//! PostgreSQL in the error's detail (`Key (email)=(…) already exists.`) and constraint name.

use std::borrow::Cow;

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

use crate::error::DataError;

/// The message of a write that a concurrent write made fail: PostgreSQL's
/// `deadlock_detected` (40P01) and `serialization_failure` (40001), SQLite's `SQLITE_BUSY` and
/// `SQLITE_LOCKED` (the busy timeout ran out). Trying the write again can succeed.
pub(crate) const RETRY: &str = "a concurrent write conflicted; retry";

/// A constraint violation or a concurrent-write failure of a write to `resource` becomes a
/// [`DataError::Conflict`] (409); other errors stay as they are, and so does any error after
/// the commit. The conflict's message says which kind of constraint failed and, for a unique
/// one, which column; the database's own text (with the values) goes to the log only.
pub(crate) fn conflict(resource: &str, error: DataError) -> DataError {
    let DataError::Database {
        source,
        committed: false,
    } = error
    else {
        return error;
    };
    let Some(db) = source.as_database_error() else {
        return DataError::Database {
            source,
            committed: false,
        };
    };
    let message: Cow<'static, str> = match db.kind() {
        ErrorKind::UniqueViolation => unique_message(&unique_columns(db, resource)).into(),
        ErrorKind::ForeignKeyViolation => {
            "a referenced record does not exist, or the record is still referenced".into()
        }
        ErrorKind::NotNullViolation => "a required value is missing".into(),
        ErrorKind::CheckViolation => "a value breaks a check constraint".into(),
        _ if concurrent(db) => RETRY.into(),
        _ => {
            return DataError::Database {
                source,
                committed: false,
            };
        }
    };
    tracing::debug!(resource, database = db.message(), "write conflict");
    DataError::Conflict {
        resource: resource.to_owned(),
        message: message.into_owned(),
    }
}

/// Whether the database refused the write because of a concurrent one.
fn concurrent(db: &dyn DatabaseError) -> bool {
    if let Some(sqlite) = db.try_downcast_ref::<SqliteError>() {
        // The primary result code is the low byte of the extended one.
        let primary = sqlite
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff);
        return matches!(primary, Some(5 | 6)); // SQLITE_BUSY, SQLITE_LOCKED
    }
    matches!(db.code().as_deref(), Some("40P01" | "40001"))
}

/// The columns a unique violation names (empty if the database does not say).
fn unique_columns(db: &dyn DatabaseError, resource: &str) -> Vec<String> {
    if db.try_downcast_ref::<SqliteError>().is_some() {
        return sqlite_unique_columns(db.message());
    }
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        let columns = pg.detail().map(postgres_key_columns).unwrap_or_default();
        if !columns.is_empty() {
            return columns;
        }
        if let Some(column) = pg
            .constraint()
            .and_then(|name| constraint_column(name, resource))
        {
            return vec![column];
        }
    }
    Vec::new()
}

/// `UNIQUE constraint failed: users.email, users.team` → `email`, `team`.
fn sqlite_unique_columns(message: &str) -> Vec<String> {
    let Some((_, columns)) = message.split_once("constraint failed: ") else {
        return Vec::new();
    };
    columns
        .split(", ")
        .map(|column| {
            column
                .rsplit('.')
                .next()
                .unwrap_or(column)
                .trim()
                .to_owned()
        })
        .filter(|column| !column.is_empty())
        .collect()
}

/// `Key (email, team)=(…) already exists.` → `email`, `team`.
fn postgres_key_columns(detail: &str) -> Vec<String> {
    let Some((_, rest)) = detail.split_once("Key (") else {
        return Vec::new();
    };
    let Some((columns, _)) = rest.split_once(")=(") else {
        return Vec::new();
    };
    columns
        .split(", ")
        .map(|column| column.trim().trim_matches('"').to_owned())
        .filter(|column| !column.is_empty())
        .collect()
}

/// The column of a constraint named the way hookline names them, `<table>_<column>_key`, on a
/// table named after the resource.
fn constraint_column(name: &str, resource: &str) -> Option<String> {
    let column = name
        .strip_prefix(resource)?
        .strip_prefix('_')?
        .strip_suffix("_key")?;
    (!column.is_empty()).then(|| column.to_owned())
}

fn unique_message(columns: &[String]) -> String {
    match columns {
        [] => "a value that must be unique is taken".to_owned(),
        [column] => format!("`{column}` must be unique: another record has this value"),
        columns => format!(
            "{} must be unique together: another record has these values",
            columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sqlx::{Executor, PgPool};

    use super::*;

    #[test]
    fn unique_violations_name_their_columns() {
        assert_eq!(
            sqlite_unique_columns("UNIQUE constraint failed: users.email"),
            ["email"]
        );
        assert_eq!(
            sqlite_unique_columns("UNIQUE constraint failed: t.a, t.b"),
            ["a", "b"]
        );
        assert_eq!(
            postgres_key_columns("Key (email)=(ann@example.com) already exists."),
            ["email"]
        );
        assert_eq!(
            postgres_key_columns(r#"Key ("Email", team)=(a, b) already exists."#),
            ["Email", "team"]
        );
        assert_eq!(
            constraint_column("users_email_key", "users").as_deref(),
            Some("email")
        );
        assert_eq!(
            constraint_column("users_first_name_key", "users").as_deref(),
            Some("first_name")
        );
        assert_eq!(constraint_column("users_pkey", "users"), None);
        assert_eq!(
            unique_message(&["email".into()]),
            "`email` must be unique: another record has this value"
        );
    }

    #[test]
    fn other_errors_stay_as_they_are() {
        let error = conflict("notes", DataError::from(sqlx::Error::RowNotFound));
        assert!(matches!(error, DataError::Database { .. }), "{error}");
        let error = conflict(
            "notes",
            DataError::UnknownResource {
                resource: "x".into(),
            },
        );
        assert!(
            matches!(error, DataError::UnknownResource { .. }),
            "{error}"
        );
    }

    /// A write that waited out SQLite's busy timeout behind another connection's write
    /// transaction is a conflict to retry, not a fault.
    #[tokio::test]
    async fn sqlite_busy_is_a_conflict() {
        let file = std::env::temp_dir().join(format!("hl-busy-{}.db", uuid::Uuid::new_v4()));
        let options = SqliteConnectOptions::from_str("sqlite:")
            .unwrap()
            .filename(&file)
            .create_if_missing(true)
            .busy_timeout(Duration::from_millis(50));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        pool.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let mut holder = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO notes DEFAULT VALUES")
            .execute(&mut *holder)
            .await
            .unwrap();
        let busy = pool.begin_with("BEGIN IMMEDIATE").await.unwrap_err();
        let error = conflict("notes", DataError::from(busy));
        assert!(
            matches!(&error, DataError::Conflict { message, .. } if message == RETRY),
            "{error}"
        );
        assert_eq!(error.status(), 409);
        holder.rollback().await.unwrap();
        pool.close().await;
        let _ = std::fs::remove_file(&file);
    }

    async fn postgres(test: &str) -> Option<PgPool> {
        let Ok(url) = std::env::var("HOOKLINE_TEST_PG") else {
            eprintln!("skipping PostgreSQL test `{test}`: HOOKLINE_TEST_PG is not set");
            return None;
        };
        Some(PgPool::connect(&url).await.expect("postgres answers"))
    }

    /// Two transactions that lock two rows in opposite orders: PostgreSQL aborts one with
    /// `deadlock_detected` (40P01), which is a conflict to retry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_deadlock_is_a_conflict() {
        let Some(pool) = postgres("postgres_deadlock_is_a_conflict").await else {
            return;
        };
        let table = format!("hl_deadlock_{}", uuid::Uuid::new_v4().simple());
        pool.execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {table} (id int PRIMARY KEY); INSERT INTO {table} VALUES (1), (2)"
        )))
        .await
        .unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let task = |first: i32, second: i32| {
            let (pool, barrier, table) = (pool.clone(), barrier.clone(), table.clone());
            tokio::spawn(async move {
                let mut tx = pool.begin().await?;
                let update = format!("UPDATE {table} SET id = id WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(first)
                    .execute(&mut *tx)
                    .await?;
                barrier.wait().await;
                sqlx::query(sqlx::AssertSqlSafe(update))
                    .bind(second)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
        };
        let (a, b) = (task(1, 2), task(2, 1));
        let outcomes = [a.await.unwrap(), b.await.unwrap()];
        pool.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
            .await
            .unwrap();
        let failed: Vec<DataError> = outcomes
            .into_iter()
            .filter_map(Result::err)
            .map(|error| conflict("rows", DataError::from(error)))
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            matches!(&failed[0], DataError::Conflict { message, .. } if message == RETRY),
            "{}",
            failed[0]
        );
    }

    /// Two serializable transactions that each read what the other writes: PostgreSQL aborts
    /// one with `serialization_failure` (40001), which is a conflict to retry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_serialization_failure_is_a_conflict() {
        let Some(pool) = postgres("postgres_serialization_failure_is_a_conflict").await else {
            return;
        };
        let table = format!("hl_serial_{}", uuid::Uuid::new_v4().simple());
        pool.execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, n int); INSERT INTO {table} VALUES (1, 0), (2, 0)"
        )))
        .await
        .unwrap();
        let mut a = pool.begin().await.unwrap();
        let mut b = pool.begin().await.unwrap();
        for tx in [&mut a, &mut b] {
            tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                .await
                .unwrap();
            tx.execute(sqlx::AssertSqlSafe(format!("SELECT sum(n) FROM {table}")))
                .await
                .unwrap();
        }
        a.execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET n = 1 WHERE id = 1"
        )))
        .await
        .unwrap();
        b.execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET n = 1 WHERE id = 2"
        )))
        .await
        .unwrap();
        a.commit().await.unwrap();
        let error = b.commit().await.unwrap_err();
        pool.execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
            .await
            .unwrap();
        let error = conflict("rows", DataError::from(error));
        assert!(
            matches!(&error, DataError::Conflict { message, .. } if message == RETRY),
            "{error}"
        );
    }
}
