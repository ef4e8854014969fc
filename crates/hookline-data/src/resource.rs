//! [`Resource`]: the handle flows are called on, and the compiled form of a definition that
//! backs it (column lookup, hooks, dropdown hooks, the children a delete cascades to).
//!
//! The flows themselves are in `read.rs` (list, show, count, aggregate, dropdown) and
//! `write.rs` (create, edit, delete, bulk); this file only holds what they share.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::access::Operation;
use crate::actor::Actor;
use crate::coerce;
use crate::data::Data;
use crate::decode::Field;
use crate::error::DataError;
use crate::hooks::{DropdownHooks, HookPoint, HookRef, ResourceHooks};
use crate::record::Record;
use crate::schema::{Column, OnDelete, ResourceDef};
use crate::statement::Selects;

/// A child resource whose rows point at this one with an `on_delete` rule.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub(crate) resource: String,
    pub(crate) column: String,
    pub(crate) on_delete: OnDelete,
}

/// A resource definition compiled for the flows.
pub(crate) struct ResourceInner {
    pub(crate) def: ResourceDef,
    /// The resource name, shared by the [`RecordRef`](crate::transaction::RecordRef)s of its
    /// writes.
    pub(crate) shared_name: Arc<str>,
    pub(crate) fields: Vec<Field>,
    pub(crate) pk: usize,
    pub(crate) hooks: ResourceHooks,
    pub(crate) dropdowns: HashMap<String, DropdownHooks>,
    pub(crate) children: Vec<Child>,
    /// The texts of its list `SELECT`s, by query shape.
    pub(crate) selects: Selects,
}

impl ResourceInner {
    /// Compiles a validated definition; `children` are filled in once all resources are known.
    pub(crate) fn new(def: ResourceDef) -> Self {
        let fields = def
            .columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                kind: c.kind,
            })
            .collect();
        let pk = def.columns.iter().position(|c| c.primary_key).unwrap_or(0);
        let hooks = ResourceHooks::new(&def.name);
        let dropdowns = def
            .columns
            .iter()
            .filter(|c| c.foreign.is_some())
            .map(|c| {
                let hooks = DropdownHooks::new(&format!("{}.dropdown_list.{}", def.name, c.name));
                (c.name.clone(), hooks)
            })
            .collect();
        ResourceInner {
            shared_name: Arc::from(def.name.as_str()),
            def,
            fields,
            pk,
            hooks,
            dropdowns,
            children: Vec::new(),
            selects: Selects::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.def.name
    }

    pub(crate) fn pk_column(&self) -> &Column {
        &self.def.columns[self.pk]
    }

    /// The column of this name, or [`DataError::UnknownColumn`].
    pub(crate) fn column(&self, name: &str) -> Result<&Column, DataError> {
        self.column_index(name)
            .map(|index| &self.def.columns[index])
    }

    /// A column a query may filter, sort or aggregate on: known and not backend-only (else a
    /// `LIKE` filter or a `MAX` would read a backend-only value one step at a time).
    pub(crate) fn queryable_column(&self, name: &str) -> Result<&Column, DataError> {
        self.queryable_index(name)
            .map(|index| &self.def.columns[index])
    }

    /// The position of a [queryable](Self::queryable_column) column.
    pub(crate) fn queryable_index(&self, name: &str) -> Result<usize, DataError> {
        let index = self.column_index(name)?;
        if self.def.columns[index].backend_only {
            return Err(DataError::BackendOnly {
                resource: self.def.name.clone(),
                column: name.to_owned(),
            });
        }
        Ok(index)
    }

    /// The position of a column in the definition ([`DataError::UnknownColumn`] if there is
    /// none).
    pub(crate) fn column_index(&self, name: &str) -> Result<usize, DataError> {
        self.def
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| DataError::UnknownColumn {
                resource: self.def.name.clone(),
                column: name.to_owned(),
            })
    }

    /// Checks and normalizes a value for a column ([`DataError::InvalidValue`] if it does not fit).
    pub(crate) fn coerce(&self, column: &Column, value: &Value) -> Result<Value, DataError> {
        coerce::coerce(column.kind, value).map_err(|found| DataError::InvalidValue {
            resource: self.def.name.clone(),
            column: column.name.clone(),
            expected: column.kind,
            found,
        })
    }

    /// [`coerce`](Self::coerce) in place.
    pub(crate) fn normalize(&self, column: &Column, value: &mut Value) -> Result<(), DataError> {
        coerce::normalize(column.kind, value).map_err(|found| DataError::InvalidValue {
            resource: self.def.name.clone(),
            column: column.name.clone(),
            expected: column.kind,
            found,
        })
    }

    /// Checks and normalizes a primary key value; `null` is refused.
    pub(crate) fn key(&self, id: &Value) -> Result<Value, DataError> {
        let pk = self.pk_column();
        match self.coerce(pk, id)? {
            Value::Null => Err(DataError::InvalidValue {
                resource: self.def.name.clone(),
                column: pk.name.clone(),
                expected: pk.kind,
                found: "null".into(),
            }),
            key => Ok(key),
        }
    }

    /// Checks that the actor may perform `operation` (on `record`, where the rule needs one).
    pub(crate) fn check_access(
        &self,
        operation: Operation,
        actor: &Actor,
        record: Option<&Record>,
    ) -> Result<(), DataError> {
        if self.def.allowed_actions.get(operation).check(actor, record) {
            Ok(())
        } else {
            Err(DataError::Denied {
                resource: self.def.name.clone(),
                operation,
            })
        }
    }

    /// Removes backend-only columns from a record that leaves the crate.
    pub(crate) fn strip_backend_only(&self, record: &mut Record) {
        for column in self.def.columns.iter().filter(|c| c.backend_only) {
            record.remove(&column.name);
        }
    }

    /// Checks a record a client sent: every column exists and is not backend-only, every
    /// value fits. Normalizes the values in place.
    pub(crate) fn check_client_record(&self, record: &mut Record) -> Result<(), DataError> {
        for (name, value) in record.iter_mut() {
            let column = self.column(name)?;
            if column.backend_only {
                return Err(DataError::BackendOnly {
                    resource: self.def.name.clone(),
                    column: name.to_owned(),
                });
            }
            self.normalize(column, value)?;
        }
        Ok(())
    }

    /// Checks a record after hooks changed it: every column exists, every value fits.
    /// Normalizes the values in place.
    pub(crate) fn check_hooked_record(&self, record: &mut Record) -> Result<(), DataError> {
        for (name, value) in record.iter_mut() {
            self.normalize(self.column(name)?, value)?;
        }
        Ok(())
    }
}

/// A resource of a [`Data`] set: its hooks, and the flows that run them.
///
/// Cheap to clone. Flows take the [`Actor`] they run for; every one checks access first, then
/// runs its hooks around the database work, in the order of the crate docs' flow table. No
/// flow writes without running the resource's hooks.
///
/// # Writes
///
/// A write (create, edit, delete, bulk) opens its SQL transaction before it reads anything it
/// decides on: the records it changes, which its access check and `before_save` hooks see,
/// and the children a delete cascades to. On PostgreSQL those rows are read `FOR UPDATE`, so a
/// concurrent write of the same rows waits until this one ends (bulk writes lock in
/// primary-key order, so two of them never deadlock); SQLite's write transaction holds the
/// whole database (`BEGIN IMMEDIATE`, after the process's write turn).
///
/// While a write's `before_save` hooks (and its model-action and pre-commit taps) run, the
/// flows they call on the same [`Data`] set from the same task — a Rust hook awaiting
/// `other.show(…)`, a script's `tables.x.find(…)` — run **inside that write's transaction**:
/// reads see its state and lock the rows they return (PostgreSQL), and a write joins it in a
/// savepoint (its own `after_save` hooks run when it is done, inside the outer transaction),
/// so it commits or rolls back with the outer write. A read-modify-write in a hook therefore
/// cannot lose an update. Counts and aggregates lock nothing; a check that a row does *not*
/// exist locks nothing either: declare the column `unique` for that. A task a hook spawns is
/// not inside the write: its writes wait for this write to end (on SQLite always, on
/// PostgreSQL when they touch rows it locked), so a hook must not wait for them.
#[derive(Clone)]
pub struct Resource {
    pub(crate) inner: Arc<ResourceInner>,
    pub(crate) data: Data,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("name", &self.inner.def.name)
            .field("table", &self.inner.def.table_name())
            .finish_non_exhaustive()
    }
}

impl Resource {
    /// The resource name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The definition.
    pub fn def(&self) -> &ResourceDef {
        &self.inner.def
    }

    /// The resource's hook points.
    pub fn hooks(&self) -> &ResourceHooks {
        &self.inner.hooks
    }

    /// The hook a point names: [`DataError::UnknownColumn`] or [`DataError::NotForeignKey`]
    /// for a dropdown point of a column that has no dropdown.
    ///
    /// ```
    /// use hookline_data::{Column, Data, DataSource, HookPoint, HookRef, ResourceDef};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
    ///     .resource(ResourceDef::new("users").column(Column::integer("id").primary_key()))
    ///     .resource(
    ///         ResourceDef::new("flats")
    ///             .column(Column::integer("id").primary_key())
    ///             .column(Column::integer("realtor_id").references("users")),
    ///     )
    ///     .build()
    ///     .await?;
    /// let flats = data.resource("flats")?;
    /// let point: HookPoint = "dropdown_list.realtor_id.after_datasource_response".parse()?;
    /// let hook = flats.hook(&point)?;
    /// assert!(matches!(hook, HookRef::ReadResponse(_)));
    /// assert_eq!(hook.name(), "flats.dropdown_list.realtor_id.after_datasource_response");
    /// // Every point of the resource, flows first, then each foreign key's dropdown:
    /// assert_eq!(flats.hook_points().count(), 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn hook(&self, point: &HookPoint) -> Result<HookRef<'_>, DataError> {
        if let Some(column) = point.dropdown_column() {
            self.dropdown_hooks(column)?;
        }
        let hook = point.hook(&self.inner.hooks, |column| self.inner.dropdowns.get(column));
        hook.ok_or_else(|| DataError::NotForeignKey {
            resource: self.name().to_owned(),
            column: point.dropdown_column().unwrap_or_default().to_owned(),
        })
    }

    /// Every hook point of the resource: the flows' ([`HookPoint::FLOWS`]), then both
    /// dropdown points of each foreign-key column, in column order.
    pub fn hook_points(&self) -> impl Iterator<Item = HookPoint> + '_ {
        let dropdowns = self
            .inner
            .def
            .columns
            .iter()
            .filter(|c| self.inner.dropdowns.contains_key(&c.name))
            .flat_map(|c| {
                [
                    HookPoint::DropdownBefore(c.name.clone()),
                    HookPoint::DropdownAfter(c.name.clone()),
                ]
            });
        HookPoint::FLOWS.iter().cloned().chain(dropdowns)
    }

    /// Every hook of the resource with its point, in [`Resource::hook_points`] order.
    pub fn each_hook(&self) -> impl Iterator<Item = (HookPoint, HookRef<'_>)> + '_ {
        self.hook_points().filter_map(|point| {
            let hook = self.hook(&point).ok()?;
            Some((point, hook))
        })
    }

    /// The dropdown hooks of a foreign-key column.
    pub fn dropdown_hooks(&self, column: &str) -> Result<&DropdownHooks, DataError> {
        self.inner.column(column)?;
        self.inner
            .dropdowns
            .get(column)
            .ok_or_else(|| DataError::NotForeignKey {
                resource: self.name().to_owned(),
                column: column.to_owned(),
            })
    }

    /// The [`Data`] set this resource belongs to.
    pub fn data(&self) -> &Data {
        &self.data
    }
}
