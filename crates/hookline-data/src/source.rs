//! The database: [`DataSource`] (a typed SQLite or PostgreSQL pool), [`Session`] (an open SQL
//! transaction), and the execution of sea-query statements on either.
//!
//! One code path: every statement is built by sea-query for the backend at hand and executed
//! here; only row decoding (`decode.rs`) differs per backend. The single place where generated
//! SQL text is handed to sqlx is [`audited`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, Transaction};

use crate::decode::{self, Field};
use crate::error::DataError;
use crate::record::Record;

/// Which SQL dialect a [`DataSource`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How long a SQLite write waits for the database lock (SQLite's busy timeout).
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection pool to the database resources live in.
///
/// Build one with [`DataSource::connect`], or wrap a pool you configured yourself. A SQLite
/// pool should set `PRAGMA case_sensitive_like = ON` (as `connect` does), so that `like` is
/// case-sensitive on both backends.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use hookline_data::{Backend, DataSource};
/// let source = DataSource::connect("sqlite::memory:").await?;
/// assert_eq!(source.backend(), Backend::Sqlite);
/// # Ok::<(), hookline_data::DataError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub enum DataSource {
    /// A SQLite pool.
    Sqlite(SqlitePool),
    /// A PostgreSQL pool.
    Postgres(PgPool),
}

impl DataSource {
    /// Opens a pool for `sqlite:…` or `postgres://…` (`postgresql://…`) URLs.
    ///
    /// SQLite gets foreign keys on, a 5 s busy timeout, case-sensitive `like`, WAL for files
    /// (created if missing), and — for in-memory databases, which exist per connection — a
    /// single connection that is never closed (nor pinged before use).
    pub async fn connect(url: &str) -> Result<Self, DataError> {
        if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = SqliteConnectOptions::from_str(url)?
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .pragma("case_sensitive_like", "ON");
            let pool = if in_memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    // The one connection never leaves this process; pinging it on every
                    // acquire would add a worker round trip to every query.
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?
            } else {
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal);
                SqlitePoolOptions::new().connect_with(options).await?
            };
            Ok(DataSource::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DataSource::Postgres(
                PgPoolOptions::new().connect(url).await?,
            ))
        } else {
            Err(DataError::UnsupportedUrl { url: url.into() })
        }
    }

    /// The SQL dialect.
    pub fn backend(&self) -> Backend {
        match self {
            DataSource::Sqlite(_) => Backend::Sqlite,
            DataSource::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            DataSource::Sqlite(pool) => pool.close().await,
            DataSource::Postgres(pool) => pool.close().await,
        }
    }

    /// Runs a read statement on the pool and decodes the rows.
    pub(crate) async fn fetch(
        &self,
        statement: &impl SqlxBinder,
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        match self {
            DataSource::Sqlite(pool) => {
                let (sql, values) = statement.build_sqlx(SqliteQueryBuilder);
                let rows = sqlx::query_with(audited(sql), values)
                    .fetch_all(pool)
                    .await?;
                decode::rows(&rows, |row| decode::sqlite_row(row, resource, fields))
            }
            DataSource::Postgres(pool) => {
                let (sql, values) = statement.build_sqlx(PostgresQueryBuilder);
                let rows = sqlx::query_with(audited(sql), values)
                    .fetch_all(pool)
                    .await?;
                decode::rows(&rows, |row| decode::postgres_row(row, resource, fields))
            }
        }
    }

    /// [`fetch`](DataSource::fetch) for a statement already rendered for this pool's backend
    /// (see [`Selects`](crate::statement::Selects)).
    pub(crate) async fn fetch_rendered(
        &self,
        (sql, values): (Arc<str>, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        match self {
            DataSource::Sqlite(pool) => {
                let rows = sqlx::query_with(audited(sql), values)
                    .fetch_all(pool)
                    .await?;
                decode::rows(&rows, |row| decode::sqlite_row(row, resource, fields))
            }
            DataSource::Postgres(pool) => {
                let rows = sqlx::query_with(audited(sql), values)
                    .fetch_all(pool)
                    .await?;
                decode::rows(&rows, |row| decode::postgres_row(row, resource, fields))
            }
        }
    }

    /// Runs a fixed catalog query (one text for each backend) with one text argument, and
    /// returns the first column of each row as text.
    pub(crate) async fn catalog(
        &self,
        sqlite: &'static str,
        postgres: &'static str,
        argument: &str,
    ) -> Result<Vec<String>, DataError> {
        use sqlx::Row;
        Ok(match self {
            DataSource::Sqlite(pool) => sqlx::query(sqlite)
                .bind(argument)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?,
            DataSource::Postgres(pool) => sqlx::query(postgres)
                .bind(argument)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Runs a DDL statement generated by sea-query.
    pub(crate) async fn execute_schema(&self, sql: String) -> Result<(), DataError> {
        match self {
            DataSource::Sqlite(pool) => {
                sqlx::raw_sql(audited(sql)).execute(pool).await?;
            }
            DataSource::Postgres(pool) => {
                sqlx::raw_sql(audited(sql)).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Begins a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes may not be
    /// able to wait for the lock when another writer holds it, and fails with "database is
    /// locked" instead of waiting out the busy timeout.
    pub(crate) async fn begin(&self) -> Result<Session, DataError> {
        Ok(match self {
            DataSource::Sqlite(pool) => Session::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            DataSource::Postgres(pool) => Session::Postgres(pool.begin().await?),
        })
    }
}

/// The one place where SQL text built at run time is passed to sqlx.
///
/// Every caller passes text generated by sea-query from a validated schema (or such a text
/// kept from an earlier call): identifiers come from resource definitions checked by
/// `schema::check_name` and are quoted by sea-query; every value is a bound parameter, never
/// spliced into the text.
fn audited<T>(sql: T) -> AssertSqlSafe<T> {
    AssertSqlSafe(sql)
}

/// The open SQL transaction of one write: model actions run their statements through it, and
/// pre-commit taps may read (or write) through it before it commits.
///
/// ```
/// use hookline::Flow;
/// use hookline_data::{Column, Data, DataSource, ResourceDef, Session};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
///     .resource(ResourceDef::new("notes").column(Column::integer("id").primary_key()))
///     .build()
///     .await?;
/// // A pre-commit invariant, checked inside the transaction: at most 2 notes.
/// data.transactions().pre_commit().tap_async("at-most-two", |commit| Box::pin(async move {
///     let Session::Sqlite(tx) = commit.session() else { return Ok(Flow::Continue) };
///     let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(&mut **tx).await?;
///     if count > 2 {
///         return Err(hookline::TapError::reject("at most two notes").with_status(409));
///     }
///     Ok(Flow::Continue)
/// }))?;
/// let notes = data.resource("notes")?;
/// let actor = hookline_data::Actor::new(1);
/// notes.create(&actor, Default::default()).await?;
/// notes.create(&actor, Default::default()).await?;
/// let third = notes.create(&actor, Default::default()).await.unwrap_err();
/// assert_eq!(third.status(), 409);
/// assert_eq!(notes.count(&actor, Default::default()).await?, 2); // rolled back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub enum Session {
    /// A SQLite transaction.
    Sqlite(Transaction<'static, Sqlite>),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

impl Session {
    /// Runs a write with a `RETURNING` clause that affects at most one row (by primary key)
    /// and decodes that row. Both backends make every change of such a statement when its
    /// first row is returned, so the statement is not stepped further.
    pub(crate) async fn fetch_row(
        &mut self,
        statement: &impl SqlxBinder,
        resource: &str,
        fields: &[Field],
    ) -> Result<Option<Record>, DataError> {
        match self {
            Session::Sqlite(tx) => {
                let (sql, values) = statement.build_sqlx(SqliteQueryBuilder);
                let row = sqlx::query_with(audited(sql), values)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(|row| decode::sqlite_row(&row, resource, fields))
                    .transpose()
            }
            Session::Postgres(tx) => {
                let (sql, values) = statement.build_sqlx(PostgresQueryBuilder);
                let row = sqlx::query_with(audited(sql), values)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(|row| decode::postgres_row(&row, resource, fields))
                    .transpose()
            }
        }
    }

    /// [`fetch_row`](Session::fetch_row) for a statement already rendered for this session's
    /// backend (see [`Inserts`](crate::statement::Inserts)).
    pub(crate) async fn fetch_rendered_row(
        &mut self,
        (sql, values): (Arc<str>, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Option<Record>, DataError> {
        match self {
            Session::Sqlite(tx) => {
                let row = sqlx::query_with(audited(sql), values)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(|row| decode::sqlite_row(&row, resource, fields))
                    .transpose()
            }
            Session::Postgres(tx) => {
                let row = sqlx::query_with(audited(sql), values)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(|row| decode::postgres_row(&row, resource, fields))
                    .transpose()
            }
        }
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Session::Sqlite(tx) => tx.commit().await,
            Session::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Session::Sqlite(tx) => tx.rollback().await,
            Session::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// The text and values of a built statement, for tests that look at the generated SQL.
#[cfg(test)]
pub(crate) fn build(
    statement: &impl SqlxBinder,
    backend: Backend,
) -> (String, sea_query_sqlx::SqlxValues) {
    match backend {
        Backend::Sqlite => statement.build_sqlx(SqliteQueryBuilder),
        Backend::Postgres => statement.build_sqlx(PostgresQueryBuilder),
    }
}
