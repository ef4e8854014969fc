//! [`UserRows`]: the user rows a token is checked against on every authenticated request, read
//! from the database as they are now, with concurrent reads coalesced.
//!
//! Every request that presents a token needs its user's row (auth compares the token's
//! fingerprint with it), so the read is made as cheap as a read can be:
//!
//! - **one statement, one round trip**: `SELECT` of the four columns a fingerprint covers, by
//!   primary key, prepared once, on a connection of its own (sqlx's pool tests a connection
//!   with an extra round trip each time it is taken or given back). In-memory SQLite, whose
//!   database lives in the data set's one connection, reads through that pool instead;
//! - **coalesced**: requests that arrive while a read runs wait for the next one, which reads
//!   all their users at once (`WHERE pk IN (…)`).
//!
//! Nothing is cached: a request is only answered by a read that started after it arrived, so
//! a change committed before a request came in is seen by that request, whatever path made it
//! (the API, a script, plain SQL, another instance).
//!
//! Values are read as text (`CAST(… AS TEXT)`), exactly as stored: they are only compared
//! with themselves, through a fingerprint made from the same read at login.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline_data::{ColumnType, DataSource, ResourceDef};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Executor, Row};
use tokio::sync::oneshot;

/// How long one read may take. Every authenticated request waits for a read, so a read that
/// hangs (a lock on the users table, a connection lost without a reset) must not hold them
/// all: after this, the read fails (its requests answer 503), its connection is dropped and
/// the next read opens a new one.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The most users one read asks for; more waiting requests are left for the next read.
const MAX_BATCH: usize = 100;

/// Whether a key of this type reads back as the text it is bound as (`CAST(pk AS TEXT)` is
/// the key's JSON text), so that the rows of one read can be told apart by key. Other key
/// types are read one key at a time.
fn keys_read_back(kind: ColumnType) -> bool {
    matches!(
        kind,
        ColumnType::Integer | ColumnType::Text | ColumnType::Uuid
    )
}

/// A user's row as a fingerprint covers it: login, roles and password hash, each as the text
/// the database holds (`None` for NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRow {
    /// The login column.
    pub(crate) login: Option<String>,
    /// The roles column (`None` as well when the config has none).
    pub(crate) roles: Option<String>,
    /// The password column.
    pub(crate) password: Option<String>,
}

/// What a waiting request is answered: the row, `None` if no user has the key, or why the
/// read failed.
type Answer = Result<Option<UserRow>, Arc<str>>;

/// Where the reads run.
enum Link {
    /// The data set's pool (in-memory SQLite: the database is that pool's one connection).
    Pool(DataSource),
    /// A SQLite connection of its own, opened at the first read and again after a failure.
    Sqlite(SqliteConnectOptions, Option<SqliteConnection>),
    /// A PostgreSQL connection of its own, likewise.
    Postgres(PgConnectOptions, Option<PgConnection>),
}

/// Reads user rows by primary key, coalescing concurrent reads. Cheap to clone.
#[derive(Clone)]
pub(crate) struct UserRows {
    shared: Arc<Shared>,
}

struct Shared {
    /// `SELECT CAST(pk AS TEXT), … FROM table WHERE pk IN (`, without the parameters.
    select: String,
    /// The type of the primary key, for the parameters' casts on PostgreSQL.
    key_type: ColumnType,
    /// Only one read runs at a time, so this lock is never waited for.
    link: tokio::sync::Mutex<Link>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Whether a task is reading (and takes the waiting requests when its read is done).
    reading: bool,
    waiting: Vec<Waiter>,
}

struct Waiter {
    /// The primary key as text, as the read returns it.
    key: String,
    answer: oneshot::Sender<Answer>,
}

impl UserRows {
    /// The rows of `users`' table on `source`: the primary key and the given columns.
    pub(crate) fn new(
        source: &DataSource,
        users: &ResourceDef,
        login: &str,
        roles: Option<&str>,
        password: &str,
    ) -> UserRows {
        let key = users.primary_key();
        let key_name = key.map_or("id", |c| c.name.as_str());
        let text = |column: &str| format!("CAST({} AS TEXT)", quote(column));
        let select = format!(
            "SELECT {}, {}, {}, {} FROM {} WHERE {} IN (",
            text(key_name),
            text(login),
            roles.map_or_else(|| "NULL".to_owned(), text),
            text(password),
            quote(users.table_name()),
            quote(key_name),
        );
        let link = match source {
            DataSource::Sqlite(pool) if pool.options().get_test_before_acquire() => {
                Link::Sqlite((*pool.connect_options()).clone(), None)
            }
            DataSource::Postgres(pool) => Link::Postgres((*pool.connect_options()).clone(), None),
            // In memory: sqlx never tests these connections (`DataSource::connect`).
            DataSource::Sqlite(_) => Link::Pool(source.clone()),
        };
        UserRows {
            shared: Arc::new(Shared {
                select,
                key_type: key.map_or(ColumnType::Integer, |c| c.kind),
                link: tokio::sync::Mutex::new(link),
                queue: Mutex::default(),
            }),
        }
    }

    /// The row of the user whose primary key is `id`, read after this call began; `None` if
    /// there is no such user. Fails with the read's error, as a message.
    pub(crate) async fn get(&self, id: &Value) -> Answer {
        let key = match id {
            Value::String(key) => key.clone(),
            Value::Number(key) => key.to_string(),
            _ => return Ok(None),
        };
        let (answer, answered) = oneshot::channel();
        let lead = {
            let mut queue = self.shared.lock();
            queue.waiting.push(Waiter { key, answer });
            !std::mem::replace(&mut queue.reading, true)
        };
        if lead {
            tokio::spawn(self.shared.clone().read_all());
        }
        answered
            .await
            .unwrap_or_else(|_| Err("the read of the user rows stopped".into()))
    }
}

impl UserRows {
    /// Closes the connection of its own, if it has one open (after the read running now).
    pub(crate) async fn close(&self) {
        let mut link = self.shared.link.lock().await;
        match &mut *link {
            Link::Sqlite(_, connection) => {
                if let Some(connection) = connection.take() {
                    let _ = connection.close().await;
                }
            }
            Link::Postgres(_, connection) => {
                if let Some(connection) = connection.take() {
                    let _ = connection.close().await;
                }
            }
            Link::Pool(_) => {}
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads for the waiting requests until none is left. If this task ends any other way
    /// (a panic), the guard answers the requests still waiting with an error and lets the
    /// next request start a new reader.
    async fn read_all(self: Arc<Self>) {
        let mut guard = ReaderGuard {
            shared: &self,
            finished: false,
        };
        let mut link = self.link.lock().await;
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    break;
                }
                let most = if keys_read_back(self.key_type) {
                    MAX_BATCH
                } else {
                    1
                };
                let take = queue.waiting.len().min(most);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let mut keys: Vec<String> = Vec::with_capacity(batch.len());
            for waiter in &batch {
                if !keys.contains(&waiter.key) {
                    keys.push(waiter.key.clone());
                }
            }
            let rows = self.read(&mut link, &keys).await;
            for waiter in batch {
                let answer = match &rows {
                    // One key: its row, if any, whatever text the key reads back as.
                    Ok(rows) if keys.len() == 1 => Ok(rows.first().map(|(_, row)| row.clone())),
                    Ok(rows) => Ok(rows
                        .iter()
                        .find(|(key, _)| key.as_deref() == Some(waiter.key.as_str()))
                        .map(|(_, row)| row.clone())),
                    Err(message) => Err(message.clone()),
                };
                let _ = waiter.answer.send(answer);
            }
        }
        guard.finished = true;
    }

    /// The rows of `keys`, each with its key as text. A failure on a connection of its own is
    /// tried once more on a new connection (the old one may have broken while idle); a read
    /// that takes longer than [`READ_TIMEOUT`] fails.
    async fn read(
        &self,
        link: &mut Link,
        keys: &[String],
    ) -> Result<Vec<(Option<String>, UserRow)>, Arc<str>> {
        let sql = self.statement(link, keys.len());
        let mut tries = 0;
        loop {
            tries += 1;
            let (error, timed_out) =
                match tokio::time::timeout(READ_TIMEOUT, fetch(link, &sql, keys)).await {
                    Ok(Ok(rows)) => return Ok(rows),
                    Ok(Err(error)) => (error.to_string(), false),
                    Err(_) => (
                        format!("no answer within {} s", READ_TIMEOUT.as_secs()),
                        true,
                    ),
                };
            // The connection is dropped either way: the next read opens a new one. A read that
            // failed at once is tried again (the connection may have broken while idle); one
            // that timed out is not, so requests wait for one time limit at most.
            let dropped = match link {
                Link::Pool(_) => false,
                Link::Sqlite(_, connection) => connection.take().is_some(),
                Link::Postgres(_, connection) => connection.take().is_some(),
            };
            if !dropped || timed_out || tries > 1 {
                return Err(
                    format!("cannot read the users table to check a token: {error}").into(),
                );
            }
        }
    }

    /// The statement for `n` keys: SQLite compares a text parameter with the key column by
    /// the column's affinity; PostgreSQL casts it to the column's type.
    fn statement(&self, link: &Link, n: usize) -> String {
        let mut sql = self.select.clone();
        for i in 1..=n {
            if i > 1 {
                sql.push_str(", ");
            }
            match link {
                Link::Postgres(..) => {
                    sql.push_str(&format!("CAST(${i} AS {})", postgres_type(self.key_type)));
                }
                Link::Sqlite(..) | Link::Pool(_) => sql.push('?'),
            }
        }
        sql.push(')');
        sql
    }
}

/// Runs the read on `link`, connecting first if its connection is gone.
async fn fetch(
    link: &mut Link,
    sql: &str,
    keys: &[String],
) -> Result<Vec<(Option<String>, UserRow)>, sqlx::Error> {
    // The text is made here from the resource's validated identifiers (quoted) and
    // placeholders; the keys are bound parameters.
    let sql = sqlx::AssertSqlSafe(sql);
    match link {
        Link::Pool(DataSource::Sqlite(pool)) => {
            let mut query = sqlx::query(sql);
            for key in keys {
                query = query.bind(key.as_str());
            }
            query.fetch_all(&*pool).await?.iter().map(row).collect()
        }
        Link::Pool(DataSource::Postgres(pool)) => {
            let mut query = sqlx::query(sql);
            for key in keys {
                query = query.bind(key.as_str());
            }
            query.fetch_all(&*pool).await?.iter().map(row).collect()
        }
        Link::Sqlite(options, connection) => {
            let connection = match connection {
                Some(connection) => connection,
                none => none.insert(SqliteConnection::connect_with(options).await?),
            };
            let mut query = sqlx::query(sql);
            for key in keys {
                query = query.bind(key.as_str());
            }
            connection.fetch_all(query).await?.iter().map(row).collect()
        }
        Link::Postgres(options, connection) => {
            let connection = match connection {
                Some(connection) => connection,
                none => none.insert(PgConnection::connect_with(options).await?),
            };
            let mut query = sqlx::query(sql);
            for key in keys {
                query = query.bind(key.as_str());
            }
            connection.fetch_all(query).await?.iter().map(row).collect()
        }
    }
}

/// A row of the read: its key and the user's values.
fn row<R: Row>(row: &R) -> Result<(Option<String>, UserRow), sqlx::Error>
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok((
        row.try_get(0)?,
        UserRow {
            login: row.try_get(1)?,
            roles: row.try_get(2)?,
            password: row.try_get(3)?,
        },
    ))
}

/// The PostgreSQL type a key parameter is cast to (as the data crate creates the column).
fn postgres_type(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::Integer => "BIGINT",
        ColumnType::Float => "DOUBLE PRECISION",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Timestamp => "TIMESTAMPTZ",
        ColumnType::Uuid => "UUID",
        ColumnType::Json => "JSONB",
        _ => "TEXT",
    }
}

/// An identifier in double quotes (names are checked when the resource is defined; a quote
/// inside one is doubled all the same).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Held by a running reader; if the reader did not finish, the waiting requests are answered
/// with an error (their senders dropped) and the next request starts a new reader.
struct ReaderGuard<'a> {
    shared: &'a Shared,
    finished: bool,
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.shared.lock();
            queue.reading = false;
            queue.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use hookline_data::{Actor, Column, Data, Record, Resource};

    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hookline-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A users table with three rows (`a@x`, `b@x`, `c@x`; roles `a`, `b`, `c`) keyed by
    /// `key`, and its rows.
    async fn users(url: &str, key: Column) -> (Resource, UserRows, Vec<Value>) {
        let source = DataSource::connect(url).await.unwrap();
        let def = ResourceDef::new("users")
            .column(key)
            .column(Column::text("email"))
            .column(Column::text("role"))
            .column(Column::text("password_hash"));
        let data = Data::builder(source.clone())
            .resource(def.clone())
            .build()
            .await
            .unwrap();
        let users = data.resource("users").unwrap();
        let mut ids = Vec::new();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            let mut row = Record::new();
            if def.primary_key().unwrap().kind == ColumnType::Text {
                row.set("id", format!("user-{i}"));
            }
            row.set("email", format!("{name}@x"));
            row.set("role", name);
            row.set("password_hash", format!("hash of {name}"));
            let row = users.create(&Actor::default(), row).await.unwrap();
            ids.push(row.get("id").unwrap().clone());
        }
        let rows = UserRows::new(&source, &def, "email", Some("role"), "password_hash");
        (users, rows, ids)
    }

    async fn each_gets_its_own(url: &str, key: Column, missing: Value) {
        let (_, rows, mut ids) = users(url, key).await;
        ids.push(missing);
        let asks: Vec<_> = (0..60)
            .map(|i| {
                let (rows, which) = (rows.clone(), i % ids.len());
                let id = ids[which].clone();
                tokio::spawn(async move { (which, rows.get(&id).await) })
            })
            .collect();
        for ask in asks {
            let (which, row) = ask.await.unwrap();
            let row = row.unwrap();
            match ["a", "b", "c"].get(which) {
                None => assert_eq!(row, None, "no such user"),
                Some(name) => assert_eq!(
                    row,
                    Some(UserRow {
                        login: Some(format!("{name}@x")),
                        roles: Some((*name).to_owned()),
                        password: Some(format!("hash of {name}")),
                    })
                ),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_each_get_their_own_user_or_none() {
        let dir = temp_dir("user-rows-batch");
        let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
        each_gets_its_own(
            &url("int.db"),
            Column::integer("id").primary_key(),
            4.into(),
        )
        .await;
        each_gets_its_own(
            &url("text.db"),
            Column::text("id").primary_key(),
            "user-9".into(),
        )
        .await;
        // In memory, through the data set's pool.
        each_gets_its_own(
            "sqlite::memory:",
            Column::integer("id").primary_key(),
            4.into(),
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A read that hangs — here behind a lock on the users table — fails after the time limit
    /// instead of holding every request, and the next read works again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_read_fails_after_the_time_limit_and_the_next_works() {
        crate::test_support::with_postgres_schema("user_rows", |url| async move {
            let (_, rows, ids) = users(&url, Column::integer("id").primary_key()).await;
            assert!(rows.get(&ids[0]).await.unwrap().is_some());
            let locker = sqlx::PgPool::connect(&url).await.unwrap();
            let mut lock = locker.begin().await.unwrap();
            sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *lock)
                .await
                .unwrap();
            let error = rows.get(&ids[0]).await.unwrap_err();
            assert!(error.contains("no answer within 5 s"), "{error}");
            lock.rollback().await.unwrap();
            assert!(
                rows.get(&ids[0]).await.unwrap().is_some(),
                "reads work again"
            );
            rows.close().await;
            locker.close().await;
        })
        .await;
    }

    /// While other requests keep reads running all the time, a request that comes after a
    /// change committed sees the change: it is never answered by a read that started before
    /// it came.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_sees_every_change_committed_before_it_came() {
        let dir = temp_dir("user-rows-fresh");
        let url = format!("sqlite://{}", dir.join("users.db").display());
        let (users, rows, ids) = users(&url, Column::integer("id").primary_key()).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy: Vec<_> = (0..4)
            .map(|_| {
                let (rows, stop, id) = (rows.clone(), stop.clone(), ids[0].clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        rows.get(&id).await.unwrap();
                    }
                })
            })
            .collect();
        for i in 0..100 {
            let role = format!("role {i}");
            let mut update = Record::new();
            update.set("role", role.clone());
            users
                .edit(&Actor::default(), ids[0].clone(), update)
                .await
                .unwrap();
            let row = rows.get(&ids[0]).await.unwrap().expect("user 1");
            assert_eq!(row.roles, Some(role), "after change {i}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in busy {
            task.await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
