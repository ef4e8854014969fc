//! The database: [`DataSource`] (a typed SQLite or PostgreSQL pool), [`Session`] (a handle on
//! an open SQL transaction), and the execution of sea-query statements on either.
//!
//! One code path: every statement is built by sea-query for the backend at hand and executed
//! here; only row decoding (`decode.rs`) differs per backend. The single place where generated
//! SQL text is handed to sqlx is [`audited`].

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sea_query::{LockType, PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

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
        self.fetch_rendered(render(statement, self.backend()), resource, fields)
            .await
    }

    /// [`fetch`](DataSource::fetch) for a statement already rendered for this pool's backend
    /// (see [`Selects`](crate::statement::Selects)).
    pub(crate) async fn fetch_rendered(
        &self,
        (sql, values): (impl AsRef<str> + Send, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        match self {
            DataSource::Sqlite(pool) => sqlite_rows(pool, sql, values, resource, fields).await,
            DataSource::Postgres(pool) => postgres_rows(pool, sql, values, resource, fields).await,
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
        let connection = match self {
            DataSource::Sqlite(pool) => {
                Connection::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            DataSource::Postgres(pool) => Connection::Postgres(pool.begin().await?),
        };
        Ok(Session {
            shared: Arc::new(Shared {
                connection: Mutex::new(Some(connection)),
                backend: self.backend(),
                savepoints: AtomicUsize::new(0),
                ended: AtomicBool::new(false),
            }),
            savepoint: None,
        })
    }
}

/// Where a flow reads: the pool, or the open transaction of the write the task is inside
/// ([`Data::reads`](crate::Data)). Inside a write on PostgreSQL, reads of rows lock what they
/// return (`FOR UPDATE`) until the write ends, so what the write decides on cannot change
/// under it; SQLite's write transaction holds the whole database already.
pub(crate) enum Reads<'a> {
    /// No write is open: the pool.
    Pool(&'a DataSource),
    /// The open write's transaction.
    Write(Session),
}

impl Reads<'_> {
    /// The SQL dialect.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Reads::Pool(source) => source.backend(),
            Reads::Write(session) => session.backend(),
        }
    }

    /// Whether row reads lock the rows they return.
    fn locks(&self) -> bool {
        matches!(self, Reads::Write(session) if session.backend() == Backend::Postgres)
    }

    /// Runs a statement that reads no rows to lock (a count, an aggregate).
    pub(crate) async fn fetch(
        &self,
        statement: &impl SqlxBinder,
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        self.run(render(statement, self.backend()), resource, fields)
            .await
    }

    /// Reads rows, locking them inside a write on PostgreSQL.
    pub(crate) async fn rows(
        &self,
        mut select: SelectStatement,
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        if self.locks() {
            select.lock(LockType::Update);
        }
        self.fetch(&select, resource, fields).await
    }

    /// [`rows`](Reads::rows) for a `SELECT` already rendered for this backend (see
    /// [`Selects`](crate::statement::Selects)).
    pub(crate) async fn rendered_rows(
        &self,
        (sql, values): (Arc<str>, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        if self.locks() {
            let sql = format!("{sql} FOR UPDATE");
            return self.run((sql, values), resource, fields).await;
        }
        self.run((sql, values), resource, fields).await
    }

    /// Runs a rendered statement where this reads.
    async fn run(
        &self,
        rendered: (impl AsRef<str> + Send, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        match self {
            Reads::Pool(source) => source.fetch_rendered(rendered, resource, fields).await,
            Reads::Write(session) => session.fetch_rendered(rendered, resource, fields).await,
        }
    }
}

/// A statement's text and values for `backend`.
fn render(statement: &impl SqlxBinder, backend: Backend) -> (String, SqlxValues) {
    match backend {
        Backend::Sqlite => statement.build_sqlx(SqliteQueryBuilder),
        Backend::Postgres => statement.build_sqlx(PostgresQueryBuilder),
    }
}

/// Runs a rendered statement on SQLite and decodes every row.
async fn sqlite_rows<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    sql: impl AsRef<str> + Send,
    values: SqlxValues,
    resource: &str,
    fields: &[Field],
) -> Result<Vec<Record>, DataError> {
    let rows = sqlx::query_with(audited(sql.as_ref()), values)
        .fetch_all(executor)
        .await?;
    decode::rows(&rows, |row| decode::sqlite_row(row, resource, fields))
}

/// Runs a rendered statement on PostgreSQL and decodes every row.
async fn postgres_rows<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    sql: impl AsRef<str> + Send,
    values: SqlxValues,
    resource: &str,
    fields: &[Field],
) -> Result<Vec<Record>, DataError> {
    let rows = sqlx::query_with(audited(sql.as_ref()), values)
        .fetch_all(executor)
        .await?;
    decode::rows(&rows, |row| decode::postgres_row(row, resource, fields))
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

/// The connection of an open write transaction ([`Session::connection`]).
#[derive(Debug)]
pub enum Connection {
    /// A SQLite transaction.
    Sqlite(Transaction<'static, Sqlite>),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// The open SQL transaction of one write: a handle that the write's model actions run their
/// statements through, that pre-commit taps may read (or write) through before it commits,
/// and that the reads and writes a write's hooks make through the same data set use (see
/// [`Resource`](crate::Resource) § Writes). Statements of one write run one at a time.
///
/// ```
/// use hookline::Flow;
/// use hookline_data::{Column, Connection, Data, DataSource, ResourceDef};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
///     .resource(ResourceDef::new("notes").column(Column::integer("id").primary_key()))
///     .build()
///     .await?;
/// // A pre-commit invariant, checked inside the transaction: at most 2 notes.
/// data.transactions().pre_commit().tap_async("at-most-two", |commit| Box::pin(async move {
///     let mut connection = commit.session().connection().await?;
///     let Connection::Sqlite(tx) = &mut *connection else { return Ok(Flow::Continue) };
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
#[derive(Debug, Clone)]
pub struct Session {
    shared: Arc<Shared>,
    /// The savepoint this handle ends, for a write made inside another write; `None` for the
    /// write that began the transaction.
    savepoint: Option<Arc<str>>,
}

/// What the handles of one transaction share.
#[derive(Debug)]
struct Shared {
    /// `None` once the transaction committed or rolled back.
    connection: Mutex<Option<Connection>>,
    backend: Backend,
    /// Savepoints made so far, to name the next.
    savepoints: AtomicUsize,
    /// Set when the transaction committed or rolled back.
    ended: AtomicBool,
}

impl Session {
    /// The transaction's connection, for statements of your own. Waits while another
    /// statement of the same write runs; hold the guard only for your statements.
    /// [`DataError::TransactionEnded`] after the transaction committed or rolled back.
    pub async fn connection(&self) -> Result<MappedMutexGuard<'_, Connection>, DataError> {
        MutexGuard::try_map(self.shared.connection.lock().await, Option::as_mut)
            .map_err(|_| DataError::TransactionEnded)
    }

    /// The SQL dialect.
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// Runs a read statement, already rendered for this backend, in the transaction and
    /// decodes the rows.
    pub(crate) async fn fetch_rendered(
        &self,
        (sql, values): (impl AsRef<str> + Send, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Vec<Record>, DataError> {
        match &mut *self.connection().await? {
            Connection::Sqlite(tx) => sqlite_rows(&mut **tx, sql, values, resource, fields).await,
            Connection::Postgres(tx) => {
                postgres_rows(&mut **tx, sql, values, resource, fields).await
            }
        }
    }

    /// Runs a write with a `RETURNING` clause that affects at most one row (by primary key)
    /// and decodes that row.
    pub(crate) async fn fetch_row(
        &self,
        statement: &impl SqlxBinder,
        resource: &str,
        fields: &[Field],
    ) -> Result<Option<Record>, DataError> {
        self.fetch_rendered_row(render(statement, self.backend()), resource, fields)
            .await
    }

    /// [`fetch_row`](Session::fetch_row) for a statement already rendered for this backend
    /// (see [`Inserts`](crate::statement::Inserts)). Both backends make every change of such
    /// a statement when its first row is returned, so the statement is not stepped further.
    pub(crate) async fn fetch_rendered_row(
        &self,
        (sql, values): (impl AsRef<str> + Send, SqlxValues),
        resource: &str,
        fields: &[Field],
    ) -> Result<Option<Record>, DataError> {
        let sql = audited(sql.as_ref());
        match &mut *self.connection().await? {
            Connection::Sqlite(tx) => sqlx::query_with(sql, values)
                .fetch_optional(&mut **tx)
                .await?
                .map(|row| decode::sqlite_row(&row, resource, fields))
                .transpose(),
            Connection::Postgres(tx) => sqlx::query_with(sql, values)
                .fetch_optional(&mut **tx)
                .await?
                .map(|row| decode::postgres_row(&row, resource, fields))
                .transpose(),
        }
    }

    /// A handle for a write made inside this one: a savepoint of the same transaction, which
    /// its commit releases and its rollback undoes without ending the outer write.
    pub(crate) async fn savepoint(&self) -> Result<Session, DataError> {
        let n = self.shared.savepoints.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = format!("hookline_{n}").into();
        self.execute(&format!("SAVEPOINT {name}")).await?;
        Ok(Session {
            shared: self.shared.clone(),
            savepoint: Some(name),
        })
    }

    /// Runs a fixed statement (savepoint control) on the transaction.
    async fn execute(&self, sql: &str) -> Result<(), DataError> {
        let query = sqlx::raw_sql(audited(sql));
        match &mut *self.connection().await? {
            Connection::Sqlite(tx) => query.execute(&mut **tx).await.map(drop)?,
            Connection::Postgres(tx) => query.execute(&mut **tx).await.map(drop)?,
        }
        Ok(())
    }

    /// Commits (or, for a write inside another, releases its savepoint).
    pub(crate) async fn commit(self) -> Result<(), DataError> {
        if let Some(savepoint) = &self.savepoint {
            return self
                .execute(&format!("RELEASE SAVEPOINT {savepoint}"))
                .await;
        }
        match self.take().await? {
            Connection::Sqlite(tx) => tx.commit().await?,
            Connection::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back (or, for a write inside another, rolls back to its savepoint).
    pub(crate) async fn rollback(self) -> Result<(), DataError> {
        if let Some(savepoint) = &self.savepoint {
            return self
                .execute(&format!(
                    "ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}"
                ))
                .await;
        }
        match self.take().await? {
            Connection::Sqlite(tx) => tx.rollback().await?,
            Connection::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Ends the transaction's connection for every handle.
    async fn take(&self) -> Result<Connection, DataError> {
        let mut connection = self.shared.connection.lock().await;
        self.shared.ended.store(true, Ordering::Release);
        connection.take().ok_or(DataError::TransactionEnded)
    }

    /// `true` once the transaction committed or rolled back: what runs after (post-commit
    /// taps) is no longer inside it.
    pub(crate) fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }
}

/// The text and values of a built statement, for tests that look at the generated SQL.
#[cfg(test)]
pub(crate) fn build(statement: &impl SqlxBinder, backend: Backend) -> (String, SqlxValues) {
    render(statement, backend)
}
