//! The write flows of a [`Resource`]: create, edit, delete (with cascades), and bulk edit and
//! delete.
//!
//! Every flow opens its SQL transaction first (on SQLite after its write turn, `BEGIN
//! IMMEDIATE`), then *plans* inside it: it reads the records it changes (locked on PostgreSQL,
//! `FOR UPDATE`, bulk writes in primary-key order), checks access on them and runs each
//! record's `before_save` taps in order, collecting diffs. What those taps read and write
//! through the same data set runs in the same transaction ([`Data::reads`](crate::Data),
//! [`Resource`] § Writes), so what the write decides on cannot change before it commits. A
//! rejection there rolls back and writes nothing. Then the whole plan runs as **one** engine
//! transaction (`transaction.rs`): one SQL statement per diff, pre-commit taps, commit,
//! post-commit taps. Then each record's `after_save` taps run in the order the statements ran;
//! a rejection there returns an error marked `committed`.
//!
//! Deleting a record cascades to the children declared with `on_delete`: after the parent's
//! `before_save`, each child is access-checked and planned through its own delete (or, for
//! `set_null`, edit) flow, so its hooks run; the children's statements run before the
//! parent's, in the same transaction. AdminForth cascades before the parent's `beforeSave`,
//! so an aborting hook there leaves children deleted; here nothing is written.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hookline::transaction::{ActionId, Diff, DiffAction};
use hookline::{BoxFuture, HookError};
use serde_json::Value;

use crate::access::Operation;
use crate::actor::Actor;
use crate::coerce::format_timestamp;
use crate::error::DataError;
use crate::hooks::{CreateContext, DeleteContext, EditContext};
use crate::record::Record;
use crate::resource::{Resource, ResourceInner};
use crate::schema::{ColumnType, Fill, OnDelete};
use crate::source::Session;
use crate::statement;
use crate::transaction::{self, Change, RecordRef, SqlWrites};

/// A write whose `after_save` taps run once the plan committed.
enum Saved {
    Create(Arc<ResourceInner>, CreateContext),
    Edit(Arc<ResourceInner>, EditContext),
    Delete(Arc<ResourceInner>, DeleteContext),
}

/// The diffs of one transaction, and the writes to finish after it.
#[derive(Default)]
struct Plan {
    diffs: Vec<Diff<SqlWrites>>,
    saved: Vec<(RecordRef, Saved)>,
    deleting: HashSet<RecordRef>,
}

fn committed(error: HookError) -> DataError {
    DataError::Hook(error.set_committed(true))
}

/// What a write flow was asked to do.
enum Request {
    Create(Record),
    Edit(Vec<Value>, Record),
    Delete(Vec<Value>),
}

/// A committed plan: the records asked for, and the writes whose `after_save` is still to
/// run, with the rows their statements returned.
struct Committed {
    nodes: Vec<RecordRef>,
    saved: Vec<(RecordRef, Saved)>,
    written: HashMap<RecordRef, Record>,
}

/// How many records one locking read of a bulk write names.
const LOCK_CHUNK: usize = 500;

impl Resource {
    /// Creates a record: access (`create`) → the client's record is checked (known,
    /// non-backend-only columns, values of the right type) and filled (`fill_on_create`,
    /// `default`) → `create.before_save` → required columns checked → insert, model-action and
    /// pre-commit taps → commit → post-commit taps → `create.after_save`. Returns the record
    /// as stored (without backend-only columns).
    pub async fn create(&self, actor: &Actor, record: Record) -> Result<Record, DataError> {
        self.inner.check_access(Operation::Create, actor, None)?;
        self.write(actor, Request::Create(record))
            .await
            .and_then(|mut records| records.pop().ok_or_else(|| missing(&self.inner)))
    }

    /// Changes a record: the old record is read (and locked) → access (`edit`, with the old
    /// record) → the updates are checked → `edit.before_save` → update of the changed columns
    /// → commit → `edit.after_save` (which runs even if nothing changed, as in AdminForth).
    /// Returns the record as it is now.
    pub async fn edit(
        &self,
        actor: &Actor,
        id: impl Into<Value>,
        updates: Record,
    ) -> Result<Record, DataError> {
        self.bulk_edit(actor, [id.into()], updates)
            .await
            .and_then(|mut records| records.pop().ok_or_else(|| missing(&self.inner)))
    }

    /// Deletes a record: it is read (and locked) → access (`delete`, with the record) →
    /// `delete.before_save` → its cascades are planned (children read and locked, their access
    /// checks and hooks) → children's statements, delete → commit → `after_save` of the
    /// children, then of the record. Returns the deleted record.
    pub async fn delete(&self, actor: &Actor, id: impl Into<Value>) -> Result<Record, DataError> {
        self.bulk_delete(actor, [id.into()])
            .await
            .and_then(|mut records| records.pop().ok_or_else(|| missing(&self.inner)))
    }

    /// Applies the same updates to several records, each through the edit flow in order
    /// (access check and `before_save` per record), all in **one** transaction: if any record
    /// is denied or rejected, or any statement fails, nothing is written. The records are
    /// read and locked first, in primary-key order, so two bulk writes of overlapping records
    /// wait for each other instead of deadlocking. Then each record's `after_save` runs in
    /// order. Returns the records as they are now.
    pub async fn bulk_edit(
        &self,
        actor: &Actor,
        ids: impl IntoIterator<Item = Value>,
        mut updates: Record,
    ) -> Result<Vec<Record>, DataError> {
        self.inner.check_client_record(&mut updates)?;
        let ids = ids.into_iter().collect();
        self.write(actor, Request::Edit(ids, updates)).await
    }

    /// Deletes several records, each through the delete flow in order (access check,
    /// `before_save` and cascades per record), all in **one** transaction: if any record is
    /// denied or rejected, nothing is deleted. The records are read and locked first, in
    /// primary-key order. Then each `after_save` runs in order. Returns the deleted records.
    /// (AdminForth's bulk delete runs the hooks in parallel, ignores `ok: false`, and may
    /// delete some records but not others.)
    pub async fn bulk_delete(
        &self,
        actor: &Actor,
        ids: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Record>, DataError> {
        let ids = ids.into_iter().collect();
        self.write(actor, Request::Delete(ids)).await
    }

    /// Runs a write flow in its own transaction — or, when the task is inside another write
    /// of this data set (a hook of that write called this flow), inside that write's
    /// transaction, in a savepoint — then runs the `after_save` taps. Returns the records
    /// asked for, in order (a record named twice is written once and returned twice).
    async fn write(&self, actor: &Actor, request: Request) -> Result<Vec<Record>, DataError> {
        let res = &self.inner;
        let outer = self.data.open_write();
        let turn = match outer {
            Some(_) => None,
            None => self.data.write_turn().await,
        };
        let committed = match outer {
            Some(outer) => {
                let session = outer.savepoint().await?;
                self.plan_and_commit(session, actor, request).await
            }
            None => {
                // SQLite's BEGIN IMMEDIATE waits out the busy timeout behind another process's
                // write, then fails: a conflict to retry (409), like a deadlock.
                let session = self
                    .data
                    .source()
                    .begin()
                    .await
                    .map_err(|error| transaction::conflict(res.name(), error))?;
                self.data
                    .inside_write(
                        session.clone(),
                        self.plan_and_commit(session, actor, request),
                    )
                    .await
            }
        };
        drop(turn);
        let Committed {
            nodes,
            saved,
            written,
        } = committed.map_err(|error| transaction::conflict(res.name(), error))?;
        let done = self.after_save(saved, written).await?;
        nodes
            .iter()
            .map(|node| done.get(node).cloned().ok_or_else(|| missing(res)))
            .collect()
    }

    /// Plans the request with `session` open (every read the plan and its hooks make goes
    /// through it), then runs the plan's statements and commits; a failed plan rolls back.
    async fn plan_and_commit(
        &self,
        session: Session,
        actor: &Actor,
        request: Request,
    ) -> Result<Committed, DataError> {
        let mut plan = Plan::default();
        let nodes = match self.plan(&mut plan, actor, request).await {
            Ok(nodes) => nodes,
            Err(error) => {
                if let Err(rollback) = session.rollback().await {
                    tracing::warn!(error = %rollback, "rolling back a refused write failed");
                }
                return Err(error);
            }
        };
        let Plan { diffs, saved, .. } = plan;
        let written = if diffs.is_empty() {
            // Nothing to write: end the transaction, releasing what its reads locked.
            session.commit().await?;
            HashMap::new()
        } else {
            transaction::run(self.data.transactions(), session, actor, diffs).await?
        };
        Ok(Committed {
            nodes,
            saved,
            written,
        })
    }

    /// Plans every record of the request, in order.
    async fn plan(
        &self,
        plan: &mut Plan,
        actor: &Actor,
        request: Request,
    ) -> Result<Vec<RecordRef>, DataError> {
        let res = &self.inner;
        let mut nodes = Vec::new();
        match request {
            Request::Create(record) => {
                nodes.push(self.plan_create(plan, actor, res, record).await?);
            }
            Request::Edit(ids, updates) => {
                for (key, old) in self.lock_records(res, &ids).await? {
                    res.check_access(Operation::Edit, actor, Some(&old))?;
                    let updates = updates.clone();
                    nodes.push(self.plan_edit(plan, actor, res, key, old, updates).await?);
                }
            }
            Request::Delete(ids) => {
                for (key, record) in self.lock_records(res, &ids).await? {
                    res.check_access(Operation::Delete, actor, Some(&record))?;
                    nodes.push(
                        self.plan_delete(plan, actor, res, key, record, None)
                            .await?,
                    );
                }
            }
        }
        Ok(nodes)
    }

    /// The records `ids` name, in the order given, read inside the write and locked in
    /// primary-key order (one statement per [`LOCK_CHUNK`] keys).
    /// [`DataError::NotFound`] for the first id that names no record.
    async fn lock_records(
        &self,
        res: &ResourceInner,
        ids: &[Value],
    ) -> Result<Vec<(Value, Record)>, DataError> {
        let keys = ids
            .iter()
            .map(|id| res.key(id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sorted: Vec<&Value> = keys.iter().collect();
        sorted.sort_by(|a, b| key_order(a, b));
        sorted.dedup();
        let reads = self.data.reads();
        let pk = &res.pk_column().name;
        let mut found = HashMap::with_capacity(sorted.len());
        for chunk in sorted.chunks(LOCK_CHUNK) {
            let select = statement::by_keys(res, chunk, reads.backend());
            for row in reads.rows(select, res.name(), &res.fields).await? {
                let key = row.get(pk).cloned().unwrap_or(Value::Null);
                found.insert(RecordRef::existing(res, &key).key, row);
            }
        }
        keys.into_iter()
            .map(|key| match found.get(&RecordRef::existing(res, &key).key) {
                Some(record) => Ok((key, record.clone())),
                None => Err(DataError::NotFound {
                    resource: res.name().to_owned(),
                    id: key,
                }),
            })
            .collect()
    }

    /// The stable id of one of this resource's SQL statements in the transaction engine:
    /// `DiffAction::Add` → `<resource>.insert`, `Update` → `<resource>.update`, `Delete` →
    /// `<resource>.delete`. Bind pre/post model-action taps to it through
    /// [`Data::transactions`](crate::Data::transactions).
    pub fn action_id(&self, kind: DiffAction) -> ActionId {
        transaction::action_id(self.name(), kind)
    }

    async fn plan_create(
        &self,
        plan: &mut Plan,
        actor: &Actor,
        res: &Arc<ResourceInner>,
        mut record: Record,
    ) -> Result<RecordRef, DataError> {
        res.check_client_record(&mut record)?;
        fill(res, actor, &mut record)?;
        let pk = &res.pk_column().name;
        let mut ctx = CreateContext {
            actor: actor.clone(),
            resource: res.name().to_owned(),
            record_id: record.get(pk).cloned().unwrap_or(Value::Null),
            record,
        };
        let hook = &res.hooks.create.before_save;
        if !hook.is_empty() {
            hook.call(&mut ctx).await?;
            res.check_hooked_record(&mut ctx.record)?;
        }
        for column in &res.def.columns {
            let generated = column.primary_key && column.kind == ColumnType::Integer;
            if (column.required || column.primary_key)
                && !generated
                && ctx.record.is_null(&column.name)
            {
                return Err(DataError::MissingRequired {
                    resource: res.name().to_owned(),
                    column: column.name.clone(),
                });
            }
        }
        let node = RecordRef::new_record(res, plan.saved.len());
        // The context gets the stored row after the commit, so the values move into the diff.
        let change = Change {
            record_id: ctx.record.get(pk).cloned().unwrap_or(Value::Null),
            record: std::mem::take(&mut ctx.record),
        };
        plan.diffs.push(Diff::add(node.clone(), "", change));
        plan.saved
            .push((node.clone(), Saved::Create(res.clone(), ctx)));
        Ok(node)
    }

    /// Plans an edit of a loaded, access-checked record.
    async fn plan_edit(
        &self,
        plan: &mut Plan,
        actor: &Actor,
        res: &Arc<ResourceInner>,
        key: Value,
        old: Record,
        updates: Record,
    ) -> Result<RecordRef, DataError> {
        let node = RecordRef::existing(res, &key);
        let mut ctx = EditContext {
            actor: actor.clone(),
            resource: res.name().to_owned(),
            updates: same_key(res, &key, updates)?,
            record_id: key,
            old_record: old,
        };
        res.hooks.edit.before_save.call(&mut ctx).await?;
        res.check_hooked_record(&mut ctx.updates)?;
        ctx.updates = same_key(res, &ctx.record_id, std::mem::take(&mut ctx.updates))?;
        if let Some(column) = res
            .def
            .columns
            .iter()
            .find(|c| c.required && ctx.updates.get(&c.name) == Some(&Value::Null))
        {
            return Err(DataError::MissingRequired {
                resource: res.name().to_owned(),
                column: column.name.clone(),
            });
        }
        let changed: Record = ctx
            .updates
            .iter()
            .filter(|(column, value)| ctx.old_record.get(column) != Some(*value))
            .map(|(column, value)| (column, value.clone()))
            .collect();
        if !changed.is_empty() {
            let change = Change {
                record_id: ctx.record_id.clone(),
                record: changed,
            };
            plan.diffs.push(Diff::update(node.clone(), "", change));
        }
        plan.saved
            .push((node.clone(), Saved::Edit(res.clone(), ctx)));
        Ok(node)
    }

    /// Plans the delete of a loaded, access-checked record and, after its `before_save`, of
    /// its cascades. Boxed because cascades recurse.
    fn plan_delete<'a>(
        &'a self,
        plan: &'a mut Plan,
        actor: &'a Actor,
        res: &'a Arc<ResourceInner>,
        key: Value,
        record: Record,
        cascade_from: Option<String>,
    ) -> BoxFuture<'a, Result<RecordRef, DataError>> {
        Box::pin(async move {
            let node = RecordRef::existing(res, &key);
            if !plan.deleting.insert(node.clone()) {
                return Ok(node);
            }
            let mut ctx = DeleteContext {
                actor: actor.clone(),
                resource: res.name().to_owned(),
                record_id: key.clone(),
                record,
                cascade_from,
            };
            res.hooks.delete.before_save.call(&mut ctx).await?;
            let mut first = Vec::new();
            let reads = self.data.reads();
            for child in &res.children {
                let child_res = self.data.inner_resource(&child.resource)?;
                let column = child_res.column(&child.column)?;
                let select = statement::by_column(child_res, column, &key, reads.backend());
                for row in reads
                    .rows(select, child_res.name(), &child_res.fields)
                    .await?
                {
                    let child_key = row
                        .get(&child_res.pk_column().name)
                        .cloned()
                        .unwrap_or(Value::Null);
                    let child_node = match child.on_delete {
                        OnDelete::Cascade => {
                            child_res.check_access(Operation::Delete, actor, Some(&row))?;
                            let from = Some(res.name().to_owned());
                            self.plan_delete(plan, actor, child_res, child_key, row, from)
                                .await?
                        }
                        OnDelete::SetNull => {
                            child_res.check_access(Operation::Edit, actor, Some(&row))?;
                            let updates: Record =
                                [(child.column.clone(), Value::Null)].into_iter().collect();
                            self.plan_edit(plan, actor, child_res, child_key, row, updates)
                                .await?
                        }
                    };
                    if child_node != node {
                        first.push(child_node);
                    }
                }
            }
            let change = Change {
                record_id: key,
                record: ctx.record.clone(),
            };
            let diff = first
                .into_iter()
                .fold(Diff::delete(node.clone(), "", change), Diff::after);
            plan.diffs.push(diff);
            plan.saved
                .push((node.clone(), Saved::Delete(res.clone(), ctx)));
            Ok(node)
        })
    }

    /// Runs every `after_save` in plan order. Returns each record as it is now (deleted
    /// records as they were), without backend-only columns.
    async fn after_save(
        &self,
        saved: Vec<(RecordRef, Saved)>,
        mut written: HashMap<RecordRef, Record>,
    ) -> Result<HashMap<RecordRef, Record>, DataError> {
        // The plan lists writes children first (a cascade is planned before its parent's
        // diff is added), which is the order the statements ran in.
        let mut results = HashMap::with_capacity(saved.len());
        for (node, save) in saved {
            let (res, mut record) = match save {
                Saved::Create(res, mut ctx) => {
                    ctx.record = written.remove(&node).ok_or_else(|| missing(&res))?;
                    ctx.record_id = ctx
                        .record
                        .get(&res.pk_column().name)
                        .cloned()
                        .unwrap_or(Value::Null);
                    res.hooks
                        .create
                        .after_save
                        .call(&mut ctx)
                        .await
                        .map_err(committed)?;
                    (res, ctx.record)
                }
                Saved::Edit(res, mut ctx) => {
                    let now = written.remove(&node).unwrap_or_else(|| ctx.new_record());
                    res.hooks
                        .edit
                        .after_save
                        .call(&mut ctx)
                        .await
                        .map_err(committed)?;
                    (res, now)
                }
                Saved::Delete(res, mut ctx) => {
                    res.hooks
                        .delete
                        .after_save
                        .call(&mut ctx)
                        .await
                        .map_err(committed)?;
                    (res, ctx.record)
                }
            };
            res.strip_backend_only(&mut record);
            results.insert(node, record);
        }
        Ok(results)
    }
}

/// Removes the primary key from updates if it keeps its value; refuses a change of it.
fn same_key(res: &ResourceInner, key: &Value, mut updates: Record) -> Result<Record, DataError> {
    let pk = &res.pk_column().name;
    match updates.remove(pk) {
        Some(value) if !key.is_null() && res.coerce(res.pk_column(), &value)? != *key => {
            Err(DataError::PrimaryKeyChange {
                resource: res.name().to_owned(),
                column: pk.clone(),
            })
        }
        _ => Ok(updates),
    }
}

/// Fills the columns a create did not give: `fill_on_create`, then `default`.
fn fill(res: &ResourceInner, actor: &Actor, record: &mut Record) -> Result<(), DataError> {
    for column in &res.def.columns {
        if record.contains(&column.name) {
            continue;
        }
        let mut value = match (column.fill_on_create, &column.default) {
            (Some(Fill::Now), _) => {
                Value::String(format_timestamp(time::OffsetDateTime::now_utc()))
            }
            (Some(Fill::Uuid), _) => Value::String(uuid::Uuid::new_v4().hyphenated().to_string()),
            (Some(Fill::ActorId), _) => actor.id.clone(),
            (None, Some(default)) => default.clone(),
            (None, None) => continue,
        };
        res.normalize(column, &mut value)?;
        record.set(column.name.clone(), value);
    }
    Ok(())
}

/// The order a write locks records in: numbers by value, text by its bytes.
fn key_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
        },
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// A write whose row the transaction did not return (see [`DataError::MissingOutput`]).
fn missing(res: &ResourceInner) -> DataError {
    DataError::MissingOutput {
        resource: res.name().to_owned(),
    }
}
