//! [`Data`]: a set of resources over one [`DataSource`], and [`DataBuilder`], which checks the
//! definitions against each other, prepares the tables and wires the transaction engine.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

use hookline::transaction::Transactions;
use tokio::sync::{Mutex, MutexGuard};

use crate::ddl::{self, SchemaReport};
use crate::error::DataError;
use crate::resource::{Child, Resource, ResourceInner};
use crate::schema::ResourceDef;
use crate::schema_lock::SchemaLock;
use crate::source::{Backend, DataSource, Reads, SQLITE_BUSY_TIMEOUT, Session};
use crate::transaction::{self, SqlWrites};

tokio::task_local! {
    /// The writes this task is inside: each data set's open transaction, so that what a
    /// write's hooks read and write through the same data set joins it ([`Data::open_write`]).
    static OPEN_WRITES: OpenWrites;
}

/// The transactions open in a task, by data set (the address of its shared state, alive for
/// as long as the write that put it here runs).
#[derive(Clone, Default)]
struct OpenWrites(Vec<(usize, Session)>);

struct DataInner {
    source: DataSource,
    resources: HashMap<String, Arc<ResourceInner>>,
    order: Vec<String>,
    transactions: Transactions<SqlWrites>,
    /// The turns of this process's write transactions on SQLite ([`Data::write_turn`]).
    write_turns: Mutex<()>,
}

/// Resources over one database. Cheap to clone.
///
/// On SQLite, which writes one transaction at a time, the write transactions of one `Data`
/// (and its clones) take turns in the order they reach the database, rather than racing for
/// the database lock; PostgreSQL writes run side by side.
///
/// ```
/// use hookline::Flow;
/// use hookline_data::{Actor, Column, Data, DataSource, Filter, Query, Record, ResourceDef};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
///     .resource(
///         ResourceDef::new("apartments")
///             .column(Column::integer("id").primary_key())
///             .column(Column::text("title").required())
///             .column(Column::float("price"))
///             .column(Column::integer("realtor_id")),
///     )
///     .build() // creates the missing table
///     .await?;
/// let apartments = data.resource("apartments")?;
///
/// // AdminForth's example: the realtor is always the creating user.
/// apartments.hooks().create.before_save.tap("set-realtor", |ctx| {
///     ctx.record.set("realtor_id", ctx.actor.id.clone());
///     Ok(Flow::Continue)
/// })?;
///
/// let ada = Actor::new(7);
/// let sent: Record = serde_json::from_value(serde_json::json!(
///     { "title": "Loft", "price": 120, "realtor_id": 99 }
/// ))?;
/// let created = apartments.create(&ada, sent).await?;
/// assert_eq!(created.get_i64("realtor_id"), Some(7));
/// assert_eq!(created.get("price"), Some(&serde_json::json!(120.0)));
///
/// let page = apartments.list(&ada, Query::new().filter(Filter::gte("price", 100))).await?;
/// assert_eq!(page.records.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Data {
    inner: Arc<DataInner>,
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Data")
            .field("backend", &self.inner.source.backend())
            .field("resources", &self.inner.order)
            .finish()
    }
}

/// A [`Data`] set that does not keep it alive: what a hook tap stored inside the set's own
/// resources holds to reach the set again (a script's data API), so that the set and its
/// hooks do not keep each other alive. [`WeakData::upgrade`] is `None` once every [`Data`]
/// handle is dropped.
#[derive(Clone, Default)]
pub struct WeakData {
    inner: Weak<DataInner>,
}

impl WeakData {
    /// The data set, unless every [`Data`] handle to it has been dropped.
    pub fn upgrade(&self) -> Option<Data> {
        self.inner.upgrade().map(|inner| Data { inner })
    }
}

impl fmt::Debug for WeakData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakData")
            .field("alive", &(self.inner.strong_count() > 0))
            .finish()
    }
}

impl Data {
    /// A handle to this set that does not keep it alive ([`WeakData`]).
    pub fn downgrade(&self) -> WeakData {
        WeakData {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Starts a set of resources over `source`.
    pub fn builder(source: DataSource) -> DataBuilder {
        DataBuilder {
            source,
            defs: Vec::new(),
            create_missing_tables: true,
            lock_held: false,
        }
    }

    /// The resource of this name, or [`DataError::UnknownResource`].
    pub fn resource(&self, name: &str) -> Result<Resource, DataError> {
        self.inner
            .resources
            .get(name)
            .map(|inner| Resource {
                inner: inner.clone(),
                data: self.clone(),
            })
            .ok_or_else(|| DataError::UnknownResource {
                resource: name.to_owned(),
            })
    }

    /// Every resource, in the order they were added.
    pub fn resources(&self) -> impl Iterator<Item = Resource> + '_ {
        self.inner
            .order
            .iter()
            .filter_map(|name| self.resource(name).ok())
    }

    /// The database.
    pub fn source(&self) -> &DataSource {
        &self.inner.source
    }

    /// The transaction engine every write runs through: tap its `pre_commit` (inside the SQL
    /// transaction; an error rolls back), `post_commit` (after the commit), or the pre/post
    /// model-action hooks of one resource's statements
    /// ([`Resource::action_id`](crate::Resource::action_id)).
    pub fn transactions(&self) -> &Transactions<SqlWrites> {
        &self.inner.transactions
    }

    /// Waits for this write transaction's turn, on SQLite, which writes one transaction at a
    /// time: writes queue here in order, and the one whose turn it is takes the database lock
    /// at once. Without the queue, every waiting write polls the lock from SQLite's busy
    /// handler, which sleeps between tries (1, 2, 5 … 100 ms), so under load some writes
    /// lost the race for hundreds of milliseconds (creates had a p99 of 260–500 ms under
    /// load before, 9–15 ms since: BENCHMARKS.md § Server under load). After
    /// [`SQLITE_BUSY_TIMEOUT`] without a turn (another process's writes do not queue here),
    /// the write goes to the database lock as before and waits for it there. A write made
    /// from inside another write's hooks joins that write's transaction and takes no turn.
    /// `None` on PostgreSQL, whose writes lock rows, not the database.
    pub(crate) async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match self.inner.source.backend() {
            Backend::Postgres => None,
            Backend::Sqlite => {
                tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.inner.write_turns.lock())
                    .await
                    .ok()
            }
        }
    }

    /// The transaction of the write of this data set that the current task is inside, if
    /// any and not yet ended: reads then go through it (locking the rows they return, on
    /// PostgreSQL) and writes join it in a savepoint. Post-commit taps, which run after the
    /// commit, are not inside it.
    pub(crate) fn open_write(&self) -> Option<Session> {
        OPEN_WRITES
            .try_with(|open| {
                open.0
                    .iter()
                    .find(|(id, session)| *id == self.id() && !session.ended())
                    .map(|(_, session)| session.clone())
            })
            .ok()
            .flatten()
    }

    /// Runs `body` with `session` as this data set's open write in the current task.
    pub(crate) async fn inside_write<T>(
        &self,
        session: Session,
        body: impl Future<Output = T>,
    ) -> T {
        let mut open = OPEN_WRITES.try_with(Clone::clone).unwrap_or_default();
        open.0.push((self.id(), session));
        OPEN_WRITES.scope(open, body).await
    }

    /// Where the current task's reads of this data set go: its open write, or the pool.
    pub(crate) fn reads(&self) -> Reads<'_> {
        match self.open_write() {
            Some(session) => Reads::Write(session),
            None => Reads::Pool(&self.inner.source),
        }
    }

    /// This data set's identity while it lives.
    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub(crate) fn inner_resource(&self, name: &str) -> Result<&Arc<ResourceInner>, DataError> {
        self.inner
            .resources
            .get(name)
            .ok_or_else(|| DataError::UnknownResource {
                resource: name.to_owned(),
            })
    }
}

/// Collects resource definitions and builds a [`Data`] set.
#[derive(Debug)]
#[must_use = "call `build().await` to get the data set"]
pub struct DataBuilder {
    source: DataSource,
    defs: Vec<ResourceDef>,
    create_missing_tables: bool,
    /// The caller holds the [`SchemaLock`] ([`DataBuilder::under_lock`]).
    lock_held: bool,
}

impl DataBuilder {
    /// Adds a resource.
    pub fn resource(mut self, def: ResourceDef) -> Self {
        self.defs.push(def);
        self
    }

    /// Adds resources.
    pub fn resources(mut self, defs: impl IntoIterator<Item = ResourceDef>) -> Self {
        self.defs.extend(defs);
        self
    }

    /// Whether `build` makes the additive schema changes — creates tables that do not exist,
    /// adds declared columns, creates unique indexes (default `true`; see the [schema
    /// rules](crate::SchemaReport)). With `false`, existing tables are only checked (each
    /// declared column exists with a fitting type; other columns are allowed) and nothing is
    /// changed.
    pub fn create_missing_tables(mut self, create: bool) -> Self {
        self.create_missing_tables = create;
        self
    }

    /// Builds under a [`SchemaLock`] the caller holds (to seed under it after the build, say),
    /// instead of taking the lock for the build alone. The lock is not re-entrant: while you
    /// hold it, a build of the same database that may change the schema and does not say so
    /// waits for it forever.
    pub fn under_lock(mut self, _lock: &SchemaLock) -> Self {
        self.lock_held = true;
        self
    }

    /// Checks every definition and the references between them, makes the additive schema
    /// changes under the [`SchemaLock`] (or fails with [`DataError::SchemaMismatch`] on a
    /// destructive or ambiguous difference, changing nothing: see [`SchemaReport`]), and
    /// registers each resource's statements with the transaction engine.
    pub async fn build(self) -> Result<Data, DataError> {
        let (order, compiled) = compile(self.defs)?;
        ddl::prepare(
            &self.source,
            &compiled,
            self.create_missing_tables,
            self.lock_held,
        )
        .await?;
        let transactions = transaction::engine(&compiled, self.source.backend())?;
        Ok(Data {
            inner: Arc::new(DataInner {
                source: self.source,
                resources: compiled
                    .into_iter()
                    .map(|r| (r.name().to_owned(), r))
                    .collect(),
                order,
                transactions,
                write_turns: Mutex::new(()),
            }),
        })
    }
}

impl DataBuilder {
    /// What [`build`](DataBuilder::build) would do to the database — the additive changes it
    /// would make and the problems it would refuse to start with — read from the catalog
    /// without changing anything and without the [`SchemaLock`].
    pub async fn inspect(self) -> Result<SchemaReport, DataError> {
        let (_, compiled) = compile(self.defs)?;
        ddl::inspect(&self.source, &compiled, self.create_missing_tables).await
    }
}

/// Checks every definition and the references between them; the names in order and the
/// compiled resources.
fn compile(defs: Vec<ResourceDef>) -> Result<(Vec<String>, Vec<Arc<ResourceInner>>), DataError> {
    let mut compiled: Vec<ResourceInner> = Vec::with_capacity(defs.len());
    for def in defs {
        def.validate()?;
        if compiled.iter().any(|r| r.name() == def.name) {
            return Err(DataError::Definition {
                resource: def.name,
                message: "a resource of this name is already defined".into(),
            });
        }
        compiled.push(ResourceInner::new(def));
    }
    link_foreign_keys(&mut compiled)?;
    let order = compiled.iter().map(|r| r.name().to_owned()).collect();
    Ok((order, compiled.into_iter().map(Arc::new).collect()))
}

/// Checks that every foreign key names a defined resource whose primary key has the column's
/// type, and records on each parent the children its deletes cascade to.
fn link_foreign_keys(resources: &mut [ResourceInner]) -> Result<(), DataError> {
    let mut children: HashMap<String, Vec<Child>> = HashMap::new();
    for res in resources.iter() {
        for column in &res.def.columns {
            let Some(foreign) = &column.foreign else {
                continue;
            };
            let invalid = |message: String| DataError::Definition {
                resource: res.name().to_owned(),
                message,
            };
            let Some(target) = resources.iter().find(|r| r.name() == foreign.resource) else {
                return Err(invalid(format!(
                    "column `{}` references `{}`, which is not defined",
                    column.name, foreign.resource
                )));
            };
            let key = target.pk_column();
            if key.kind != column.kind {
                return Err(invalid(format!(
                    "column `{}` is {} but the primary key `{}.{}` it references is {}",
                    column.name,
                    column.kind,
                    target.name(),
                    key.name,
                    key.kind
                )));
            }
            if let Some(on_delete) = foreign.on_delete {
                children
                    .entry(foreign.resource.clone())
                    .or_default()
                    .push(Child {
                        resource: res.name().to_owned(),
                        column: column.name.clone(),
                        on_delete,
                    });
            }
        }
    }
    for res in resources.iter_mut() {
        res.children = children.remove(res.name()).unwrap_or_default();
    }
    Ok(())
}
