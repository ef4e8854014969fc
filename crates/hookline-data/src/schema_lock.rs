//! [`SchemaLock`]: the lock that start-ups of several instances on one database take turns
//! with, so that schema changes and seed rows are made once (see `ddl.rs` for what a build
//! changes under it).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::error::DataError;
use crate::source::DataSource;

/// The main database's file, empty for an in-memory one.
const SQLITE_FILE: &str = "SELECT file FROM pragma_database_list WHERE name = 'main'";

/// The lock that start-ups of several instances on one database take turns with: whoever
/// holds it may change the schema and seed, and every other start-up waits for it.
///
/// - **PostgreSQL**: a session-level advisory lock, `pg_advisory_lock(`[`SchemaLock::POSTGRES_KEY`]`)`,
///   held by a connection of its own (not one of the pool's). The key is fixed, so start-ups
///   on one database take turns even when they use different schemas; the server releases
///   it when its connection ends, so a crashed instance does not keep it. It needs a session
///   of its own: a pooler in transaction mode (PgBouncer's `pool_mode = transaction`) does
///   not keep advisory locks.
/// - **SQLite** (a file): an exclusive OS file lock (`flock`, `LockFileEx`;
///   [`File::lock`](std::fs::File::lock)) on a file next to the database, `<database>.hookline-lock`,
///   created if missing and never removed. SQLite's own locks cannot do this job: a write
///   transaction held by one connection from before the DDL until after the seed rows would
///   lock out the start-up's own statements, which run on the pool's other connections. The
///   OS drops the file lock when the process ends, however it ends.
/// - **SQLite in memory**: nothing to lock; such a database belongs to one pool of one
///   process. Nor where the lock file cannot be created (a read-only directory, where no
///   schema change could be made either): a warning is logged.
///
/// A [`DataBuilder::build`](crate::DataBuilder::build) that may change the schema takes the
/// lock by itself. To hold it across more than the build — seeding tables when they are
/// empty, say — acquire it, build [`under_lock`](crate::DataBuilder::under_lock), seed, and
/// [`release`](SchemaLock::release) it. Dropping the lock without releasing it releases it
/// too (the connection or file is closed).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use hookline_data::{Actor, Column, Data, DataSource, Query, Record, ResourceDef, SchemaLock};
/// let source = DataSource::connect("sqlite::memory:").await?;
/// let lock = SchemaLock::acquire(&source).await?;
/// let data = Data::builder(source.clone())
///     .resource(ResourceDef::new("notes").column(Column::integer("id").primary_key()))
///     .under_lock(&lock)
///     .build()
///     .await?;
/// let notes = data.resource("notes")?;
/// // Seed once: no other start-up can be between this count and these inserts.
/// if notes.count(&Actor::default(), Query::new()).await? == 0 {
///     notes.create(&Actor::default(), Record::new()).await?;
/// }
/// lock.release().await?;
/// # Ok::<(), hookline_data::DataError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "the lock is released when dropped"]
pub struct SchemaLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Postgres(PgConnection),
    File(File),
    Nothing,
}

/// How often a SQLite start-up tries the lock file again while another one holds it.
const FILE_LOCK_RETRY: Duration = Duration::from_millis(25);

impl SchemaLock {
    /// The PostgreSQL advisory lock key: `"hookline"` in ASCII, as one 64-bit integer
    /// (`7525356009530420837`, `0x686F6F6B6C696E65`). Another application that uses this key
    /// on the same database would take turns with hookline's start-ups.
    ///
    /// ```
    /// assert_eq!(hookline_data::SchemaLock::POSTGRES_KEY, 7525356009530420837);
    /// ```
    pub const POSTGRES_KEY: i64 = i64::from_be_bytes(*b"hookline");

    /// Takes the lock for `source`'s database, waiting while another start-up holds it.
    pub async fn acquire(source: &DataSource) -> Result<SchemaLock, DataError> {
        let held = match source {
            DataSource::Postgres(pool) => {
                let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(Self::POSTGRES_KEY)
                    .fetch_one(&mut connection)
                    .await?;
                if !taken {
                    tracing::info!("another instance is starting: waiting for the schema lock");
                    sqlx::query("SELECT pg_advisory_lock($1)")
                        .bind(Self::POSTGRES_KEY)
                        .execute(&mut connection)
                        .await?;
                }
                Held::Postgres(connection)
            }
            DataSource::Sqlite(pool) => {
                let file: String = sqlx::query_scalar(SQLITE_FILE).fetch_one(pool).await?;
                match file.is_empty() {
                    true => Held::Nothing,
                    false => lock_file(PathBuf::from(format!("{file}.hookline-lock"))).await?,
                }
            }
        };
        Ok(SchemaLock { held })
    }

    /// Releases the lock.
    pub async fn release(self) -> Result<(), DataError> {
        match self.held {
            Held::Postgres(mut connection) => {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(Self::POSTGRES_KEY)
                    .execute(&mut connection)
                    .await?;
                connection.close().await?;
            }
            Held::File(file) => file.unlock().map_err(io_error)?,
            Held::Nothing => {}
        }
        Ok(())
    }
}

/// Opens (creating it if missing) and locks the lock file, polling while it is locked. Where
/// the file cannot be created (a read-only directory, which also means no schema change
/// could be made there), nothing is locked.
async fn lock_file(path: PathBuf) -> Result<Held, DataError> {
    let failed = |error: std::io::Error| {
        io_error(std::io::Error::new(
            error.kind(),
            format!("schema lock file `{}`: {error}", path.display()),
        ))
    };
    let opened = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path);
    let file = match opened {
        Ok(file) => file,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            tracing::warn!(
                file = %path.display(),
                %error,
                "cannot create the schema lock file: start-ups are not serialized"
            );
            return Ok(Held::Nothing);
        }
        Err(error) => return Err(failed(error)),
    };
    let mut waiting = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Held::File(file)),
            Err(TryLockError::WouldBlock) => {
                if !waiting {
                    tracing::info!(
                        file = %path.display(),
                        "another instance is starting: waiting for the schema lock"
                    );
                    waiting = true;
                }
                tokio::time::sleep(FILE_LOCK_RETRY).await;
            }
            Err(TryLockError::Error(error)) => return Err(failed(error)),
        }
    }
}

fn io_error(error: std::io::Error) -> DataError {
    DataError::from(sqlx::Error::Io(error))
}
