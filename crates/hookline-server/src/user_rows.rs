//! [`UserRows`]: the user rows a token is checked against on every authenticated request, read
//! from the database as they are now, with concurrent reads coalesced.
//!
//! Every request that presents a token needs its user's row (auth compares the token's
//! fingerprint with it). One query per request would cost as much database work again as a
//! list itself, so the requests that arrive while a read is running wait for the next one,
//! and that read fetches all their users at once (`WHERE pk IN (…)`). Nothing is cached: a
//! request is only answered by a read that started after it arrived, so a change committed
//! before a request came in is seen by that request, whatever path made it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline_data::{Actor, DataError, Filter, Query, Record, Resource};
use serde_json::Value;
use tokio::sync::oneshot;

/// The most users one read asks for; more waiting requests are left for the next read. The
/// view's `max_limit` must allow it.
pub(crate) const MAX_BATCH: usize = 100;

/// What a waiting request is answered: the row, `None` if no user has the key, or why the
/// read failed.
type Answer = Result<Option<Record>, Arc<str>>;

/// Reads user rows by primary key through a view without hooks, coalescing concurrent reads.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct UserRows {
    shared: Arc<Shared>,
}

struct Shared {
    /// The users table's view (auth's private one, narrowed to what is compared).
    view: Resource,
    /// Its primary key column.
    key: String,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Whether a task is reading (and will take the waiting requests when its read is done).
    reading: bool,
    waiting: Vec<Waiter>,
}

struct Waiter {
    id: Value,
    answer: oneshot::Sender<Answer>,
}

impl UserRows {
    /// Rows of `view`, a resource without hooks whose every action is allowed.
    pub(crate) fn new(view: Resource) -> UserRows {
        let key = view
            .def()
            .primary_key()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        UserRows {
            shared: Arc::new(Shared {
                view,
                key,
                queue: Mutex::default(),
            }),
        }
    }

    /// The row of the user whose primary key is `id`, read after this call began; `None` if
    /// there is no such user. Fails with the read's error, as a message.
    pub(crate) async fn get(&self, id: Value) -> Answer {
        let (answer, answered) = oneshot::channel();
        let lead = {
            let mut queue = self.shared.lock();
            queue.waiting.push(Waiter { id, answer });
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
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    break;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            self.read(batch).await;
        }
        guard.finished = true;
    }

    /// One read for `batch`: each waiter gets its row or `None`.
    async fn read(&self, batch: Vec<Waiter>) {
        let mut ids: Vec<Value> = Vec::with_capacity(batch.len());
        for waiter in &batch {
            if !ids.contains(&waiter.id) {
                ids.push(waiter.id.clone());
            }
        }
        let query = Query::new()
            .filter(Filter::is_in(self.key.clone(), ids.iter().cloned()))
            .limit(ids.len() as u64);
        match self.view.list(&Actor::default(), query).await {
            Ok(page) => {
                for waiter in batch {
                    let row = page
                        .records
                        .iter()
                        .find(|row| row.get(&self.key) == Some(&waiter.id))
                        .cloned();
                    let _ = waiter.answer.send(Ok(row));
                }
            }
            Err(error) => {
                let message: Arc<str> = read_error(&error).into();
                for waiter in batch {
                    let _ = waiter.answer.send(Err(message.clone()));
                }
            }
        }
    }
}

fn read_error(error: &DataError) -> String {
    format!("cannot read the users table to check a token: {error}")
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
    use hookline_data::{Column, Data, DataSource, ResourceDef};

    use super::*;

    /// A users table with three rows on a SQLite file, and its rows.
    async fn users(dir: &std::path::Path) -> (Resource, UserRows) {
        let url = format!("sqlite://{}", dir.join("users.db").display());
        let data = Data::builder(DataSource::connect(&url).await.unwrap())
            .resource(
                ResourceDef::new("users")
                    .column(Column::integer("id").primary_key())
                    .column(Column::text("role")),
            )
            .build()
            .await
            .unwrap();
        let users = data.resource("users").unwrap();
        for role in ["a", "b", "c"] {
            let mut row = Record::new();
            row.set("role", role);
            users.create(&Actor::default(), row).await.unwrap();
        }
        (users.clone(), UserRows::new(users))
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hookline-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_each_get_their_own_user_or_none() {
        let dir = temp_dir("user-rows-batch");
        let (_, rows) = users(&dir).await;
        let asks: Vec<_> = (0..60)
            .map(|i| {
                let rows = rows.clone();
                let id = Value::from(i % 4 + 1);
                tokio::spawn(async move { (id.clone(), rows.get(id).await) })
            })
            .collect();
        for ask in asks {
            let (id, row) = ask.await.unwrap();
            let row = row.unwrap();
            match id.as_i64().unwrap() {
                4 => assert!(row.is_none(), "no user 4: {row:?}"),
                n => {
                    let row = row.expect("a row");
                    assert_eq!(row.get_i64("id"), Some(n));
                    let role = ["a", "b", "c"][usize::try_from(n - 1).unwrap()];
                    assert_eq!(row.get_str("role"), Some(role));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// While other requests keep reads running all the time, a request that comes after a
    /// change committed sees the change: it is never answered by a read that started before
    /// it came.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_sees_every_change_committed_before_it_came() {
        let dir = temp_dir("user-rows-fresh");
        let (users, rows) = users(&dir).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy: Vec<_> = (0..4)
            .map(|_| {
                let (rows, stop) = (rows.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        rows.get(Value::from(1)).await.unwrap();
                    }
                })
            })
            .collect();
        for i in 0..100 {
            let role = format!("role {i}");
            let mut update = Record::new();
            update.set("role", role.clone());
            users.edit(&Actor::default(), 1, update).await.unwrap();
            let row = rows.get(Value::from(1)).await.unwrap().expect("user 1");
            assert_eq!(row.get_str("role"), Some(role.as_str()), "after change {i}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in busy {
            task.await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
