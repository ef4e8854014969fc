//! The hook points of a resource ([`ResourceHooks`], [`DropdownHooks`]) and the contexts their
//! taps receive.
//!
//! Every hook is an engine [`Hook`]: several taps, `first()`/`last()` placement (a plugin's
//! `unshift`/`push`), stages, modules, removal and `explain()`. Every context carries the
//! [`Actor`] and the resource name, and its data as plain [`Record`]s and [`Query`]s
//! (`serde`-convertible, for script hooks). A tap continues with `Ok(Flow::Continue)` or stops
//! the flow with `Err(TapError::reject("message").with_status(403))`.
//!
//! Where each hook runs is the business of the flows (`read.rs`, `write.rs`); [`HookPoint`]
//! names the points and is the one list of them (`point.rs`).

use hookline::Hook;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::Actor;
use crate::query::Query;
use crate::record::Record;

mod point;

pub use point::{HookPoint, HookRef, UnknownHookPoint};

/// What `before_datasource_request` taps receive: they may change the query (add filters to
/// scope rows, change sort or page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// Who reads.
    pub actor: Actor,
    /// The resource read (for dropdowns: the foreign resource).
    pub resource: String,
    /// The query about to run; `query.source` says why.
    pub query: Query,
}

/// What `after_datasource_response` taps receive: they may change, add or remove records.
/// Backend-only columns are already removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// Who reads.
    pub actor: Actor,
    /// The resource read (for dropdowns: the foreign resource).
    pub resource: String,
    /// The query that ran.
    pub query: Query,
    /// The records (one for a show).
    pub response: Vec<Record>,
    /// The total count, if the query asked for it.
    pub total: Option<u64>,
}

/// What `create.before_save` and `create.after_save` taps receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateContext {
    /// Who creates.
    pub actor: Actor,
    /// The resource.
    pub resource: String,
    /// Before save: the record to insert (defaults filled; taps may change it). After save:
    /// the record as stored, with its generated primary key.
    pub record: Record,
    /// The new primary key (`null` before save unless the client gave one).
    pub record_id: Value,
}

/// What `edit.before_save` and `edit.after_save` taps receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditContext {
    /// Who edits.
    pub actor: Actor,
    /// The resource.
    pub resource: String,
    /// The primary key of the record.
    pub record_id: Value,
    /// The columns to change (taps may change them). Only values that differ from
    /// `old_record` are written.
    pub updates: Record,
    /// The record before the change.
    pub old_record: Record,
}

impl EditContext {
    /// The record as it will be (before save) or is (after save): `old_record` with `updates`.
    pub fn new_record(&self) -> Record {
        let mut record = self.old_record.clone();
        for (column, value) in self.updates.iter() {
            record.set(column, value.clone());
        }
        record
    }
}

/// What `delete.before_save` and `delete.after_save` taps receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteContext {
    /// Who deletes.
    pub actor: Actor,
    /// The resource.
    pub resource: String,
    /// The primary key of the record.
    pub record_id: Value,
    /// The record being deleted.
    pub record: Record,
    /// The resource whose delete cascaded to this record, if it is a cascade.
    pub cascade_from: Option<String>,
}

/// The two hooks around a read.
#[derive(Debug, Clone)]
pub struct ReadHooks {
    /// Before the query runs: change the query, or reject.
    pub before_datasource_request: Hook<ReadRequest>,
    /// After the records are fetched: change the records, or reject.
    pub after_datasource_response: Hook<ReadResponse>,
}

impl ReadHooks {
    pub(crate) fn new(prefix: &str) -> Self {
        ReadHooks {
            before_datasource_request: Hook::new(format!("{prefix}.before_datasource_request")),
            after_datasource_response: Hook::new(format!("{prefix}.after_datasource_response")),
        }
    }
}

/// The two hooks around a write. `before_save` runs before the transaction and may change
/// the data or reject; `after_save` runs after the commit, so a rejection there reports an
/// error marked [`committed`](hookline::HookError::committed) and the data stays.
#[derive(Debug, Clone)]
pub struct SaveHooks<C> {
    /// Before the write.
    pub before_save: Hook<C>,
    /// After the commit.
    pub after_save: Hook<C>,
}

impl<C: Send + 'static> SaveHooks<C> {
    fn new(prefix: &str) -> Self {
        SaveHooks {
            before_save: Hook::new(format!("{prefix}.before_save")),
            after_save: Hook::new(format!("{prefix}.after_save")),
        }
    }
}

/// Every flow hook of a resource, named `<resource>.<flow>.<hook>` in errors and `explain()`
/// ([`HookPoint`] names them; [`Resource::hook`](crate::Resource::hook) finds one by point).
///
/// ```
/// use hookline::Flow;
/// use hookline_data::{Column, DataSource, Data, ResourceDef};
/// # tokio_test_block_on(async {
/// let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
///     .resource(ResourceDef::new("apartments").column(Column::integer("id").primary_key()))
///     .build()
///     .await?;
/// let apartments = data.resource("apartments")?;
/// apartments.hooks().list.after_datasource_response.tap("noop", |_ctx| Ok(Flow::Continue))?;
/// assert_eq!(apartments.hooks().list.after_datasource_response.name(), "apartments.list.after_datasource_response");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ResourceHooks {
    /// List, count and aggregate reads (aggregates and counts run only the request hook).
    pub list: ReadHooks,
    /// Show and edit-page reads (`query.source` is `Show` or `Edit`).
    pub show: ReadHooks,
    /// Creates.
    pub create: SaveHooks<CreateContext>,
    /// Edits (also bulk edits and set-null cascades).
    pub edit: SaveHooks<EditContext>,
    /// Deletes (also bulk deletes and cascades).
    pub delete: SaveHooks<DeleteContext>,
}

impl ResourceHooks {
    pub(crate) fn new(resource: &str) -> Self {
        ResourceHooks {
            list: ReadHooks::new(&format!("{resource}.list")),
            show: ReadHooks::new(&format!("{resource}.show")),
            create: SaveHooks::new(&format!("{resource}.create")),
            edit: SaveHooks::new(&format!("{resource}.edit")),
            delete: SaveHooks::new(&format!("{resource}.delete")),
        }
    }
}

/// The hooks of a foreign-key column's dropdown list (AdminForth's
/// `foreignResource.hooks.dropdownList`), named `<resource>.dropdown_list.<column>.<hook>`
/// ([`HookPoint::DropdownBefore`], [`HookPoint::DropdownAfter`]).
/// Their contexts name the foreign resource.
pub type DropdownHooks = ReadHooks;
