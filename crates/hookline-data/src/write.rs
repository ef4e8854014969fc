//! The write flows of a [`Resource`]: create, edit, delete (with cascades), and bulk edit and
//! delete.
//!
//! Every flow first *plans*: it checks access and runs each record's `before_save` taps in
//! order, outside any transaction, collecting diffs. A rejection there writes nothing. Then the
//! whole plan runs as **one** engine transaction (`transaction.rs`): one SQL statement per diff,
//! pre-commit taps, commit, post-commit taps. Then each record's `after_save` taps run in the
//! order the statements ran; a rejection there returns an error marked `committed`.
//!
//! Deleting a record cascades to the children declared with `on_delete`: after the parent's
//! `before_save`, each child is access-checked and planned through its own delete (or, for
//! `set_null`, edit) flow, so its hooks run; the children's statements run before the
//! parent's, in the same transaction. AdminForth cascades before the parent's `beforeSave`,
//! so an aborting hook there leaves children deleted; here nothing is written.

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

impl Resource {
    /// Creates a record: access (`create`) → the client's record is checked (known,
    /// non-backend-only columns, values of the right type) and filled (`fill_on_create`,
    /// `default`) → `create.before_save` → required columns checked → transaction { insert,
    /// model-action and pre-commit taps } → commit → post-commit taps → `create.after_save`.
    /// Returns the record as stored (without backend-only columns).
    pub async fn create(&self, actor: &Actor, record: Record) -> Result<Record, DataError> {
        let res = &self.inner;
        res.check_access(Operation::Create, actor, None)?;
        let mut plan = Plan::default();
        let node = self.plan_create(&mut plan, actor, res, record).await?;
        self.finish(actor, plan)
            .await?
            .into_iter()
            .find_map(|(done, record)| (done == node).then_some(record))
            .ok_or_else(|| missing(res))
    }

    /// Changes a record: the old record is loaded → access (`edit`, with the old record) →
    /// the updates are checked → `edit.before_save` → transaction { update of the changed
    /// columns } → commit → `edit.after_save` (which runs even if nothing changed, as in
    /// AdminForth). Returns the record as it is now.
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

    /// Deletes a record: it is loaded → access (`delete`, with the record) →
    /// `delete.before_save` → its cascades are planned (children's access checks and hooks) →
    /// transaction { children's statements, delete } → commit → `after_save` of the children,
    /// then of the record. Returns the deleted record.
    pub async fn delete(&self, actor: &Actor, id: impl Into<Value>) -> Result<Record, DataError> {
        self.bulk_delete(actor, [id.into()])
            .await
            .and_then(|mut records| records.pop().ok_or_else(|| missing(&self.inner)))
    }

    /// Applies the same updates to several records, each through the edit flow in order
    /// (access check and `before_save` per record), all in **one** transaction: if any record
    /// is denied or rejected, or any statement fails, nothing is written. Then each record's
    /// `after_save` runs in order. Returns the records as they are now.
    pub async fn bulk_edit(
        &self,
        actor: &Actor,
        ids: impl IntoIterator<Item = Value>,
        mut updates: Record,
    ) -> Result<Vec<Record>, DataError> {
        let res = &self.inner;
        res.check_client_record(&mut updates)?;
        let mut plan = Plan::default();
        let mut nodes = Vec::new();
        for id in ids {
            let key = res.key(&id)?;
            let old = self.load(res, &key).await?;
            res.check_access(Operation::Edit, actor, Some(&old))?;
            nodes.push(
                self.plan_edit(&mut plan, actor, res, key, old, updates.clone())
                    .await?,
            );
        }
        // A record named twice is written once and returned twice.
        let done: HashMap<_, _> = self.finish(actor, plan).await?.into_iter().collect();
        nodes
            .iter()
            .map(|node| done.get(node).cloned().ok_or_else(|| missing(res)))
            .collect()
    }

    /// Deletes several records, each through the delete flow in order (access check,
    /// `before_save` and cascades per record), all in **one** transaction: if any record is
    /// denied or rejected, nothing is deleted. Then each `after_save` runs in order. Returns
    /// the deleted records. (AdminForth's bulk delete runs the hooks in parallel, ignores
    /// `ok: false`, and may delete some records but not others.)
    pub async fn bulk_delete(
        &self,
        actor: &Actor,
        ids: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Record>, DataError> {
        let res = &self.inner;
        let mut plan = Plan::default();
        let mut nodes = Vec::new();
        for id in ids {
            let key = res.key(&id)?;
            let record = self.load(res, &key).await?;
            res.check_access(Operation::Delete, actor, Some(&record))?;
            nodes.push(
                self.plan_delete(&mut plan, actor, res, key, record, None)
                    .await?,
            );
        }
        // A record named twice is written once and returned twice.
        let done: HashMap<_, _> = self.finish(actor, plan).await?.into_iter().collect();
        nodes
            .iter()
            .map(|node| done.get(node).cloned().ok_or_else(|| missing(res)))
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
            let source = self.data.source();
            for child in &res.children {
                let child_res = self.data.inner_resource(&child.resource)?;
                let column = child_res.column(&child.column)?;
                let select = statement::by_column(child_res, column, &key, source.backend());
                for row in source
                    .fetch(&select, child_res.name(), &child_res.fields)
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

    /// Runs the plan's transaction (if it writes anything), then every `after_save` in plan
    /// order. Returns each record as it is now (deleted records as they were), without
    /// backend-only columns, in plan order.
    async fn finish(
        &self,
        actor: &Actor,
        plan: Plan,
    ) -> Result<Vec<(RecordRef, Record)>, DataError> {
        let Plan { diffs, saved, .. } = plan;
        let mut written = if diffs.is_empty() {
            HashMap::new()
        } else {
            let _turn = self.data.write_turn().await;
            transaction::run(self.data.transactions(), self.data.source(), actor, diffs).await?
        };
        // The plan lists writes children first (a cascade is planned before its parent's
        // diff is added), which is the order the statements ran in.
        let mut results = Vec::with_capacity(saved.len());
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
            results.push((node, record));
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

/// A write whose row the transaction did not return (see [`DataError::MissingOutput`]).
fn missing(res: &ResourceInner) -> DataError {
    DataError::MissingOutput {
        resource: res.name().to_owned(),
    }
}
