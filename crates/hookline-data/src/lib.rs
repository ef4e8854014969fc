//! # hookline-data — resources over SQL with CRUD hooks
//!
//! A **resource** is a table and its columns ([`ResourceDef`], from Rust or a config file).
//! A [`Data`] set holds resources over one [`DataSource`] — SQLite (bundled, the embedded
//! default) or PostgreSQL, through sqlx, with every statement built by sea-query — and hands
//! out [`Resource`]s whose **flows** run AdminForth's hooks around the database, with its bugs
//! fixed:
//!
//! | flow | order |
//! |---|---|
//! | [`list`](Resource::list) | access `list` → `list.before_datasource_request` → fetch → `list.after_datasource_response` |
//! | [`show`](Resource::show), [`edit_data`](Resource::edit_data) | access `show` → `show.before…` (`query.source` = `Show` / `Edit`) → fetch → `show.after…` |
//! | [`create`](Resource::create) | access `create` → `create.before_save` → transaction { insert; model-action and pre-commit taps } → commit → post-commit taps → `create.after_save` |
//! | [`edit`](Resource::edit) | load → access `edit` → `edit.before_save` → transaction { update changed columns } → commit → `edit.after_save` |
//! | [`delete`](Resource::delete) | load → access `delete` → `delete.before_save` → cascades (children's access and hooks) → transaction { children, delete } → commit → `after_save`s |
//! | [`dropdown`](Resource::dropdown) | access `list` → column's `dropdown_list.before…` → fetch foreign records → `dropdown_list.after…` |
//! | [`count`](Resource::count), [`aggregate`](Resource::aggregate) | access `list` → `list.before_datasource_request` (row scoping applies) → `COUNT`/`SUM`/… |
//! | [`bulk_edit`](Resource::bulk_edit), [`bulk_delete`](Resource::bulk_delete) | each record's access check and `before_save` in order → **one** transaction → each `after_save` |
//!
//! No flow writes without running hooks. Hooks are engine [`Hook`](hookline::Hook)s (several
//! taps, `first()`/`last()`, stages, modules, `explain()`); every context carries the
//! [`Actor`]. A tap continues, or rejects with a message and a status; a rejection in
//! `after_save` comes back marked [`committed`](DataError::committed) — the data stays, as
//! AdminForth documents. Writes run through the engine's [transactions](hookline::transaction)
//! ([`Data::transactions`]): each SQL statement is a model action with a stable id
//! ([`Resource::action_id`]), pre-commit taps run inside the SQL transaction and can veto it.
//!
//! ## Example: AdminForth's apartments
//!
//! ```
//! use hookline::{Flow, TapError};
//! use hookline_data::{Actor, Column, Data, DataSource, Filter, Query, Record, ResourceDef};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
//!     .resource(ResourceDef::new("users").column(Column::integer("id").primary_key()))
//!     .resource(
//!         ResourceDef::new("apartments")
//!             .column(Column::integer("id").primary_key())
//!             .column(Column::text("title").required())
//!             .column(Column::float("price"))
//!             .column(Column::integer("realtor_id").references("users")),
//!     )
//!     .build()
//!     .await?;
//! let users = data.resource("users")?;
//! let apartments = data.resource("apartments")?;
//! let root = Actor::new(0).with_role("superadmin");
//! for _ in 0..2 {
//!     users.create(&root, Record::new()).await?;
//! }
//!
//! // The realtor is the creating user, whatever the client sends.
//! apartments.hooks().create.before_save.tap("set-realtor", |ctx| {
//!     ctx.record.set("realtor_id", ctx.actor.id.clone());
//!     Ok(Flow::Continue)
//! })?;
//! // Realtors see only their apartments; a superadmin sees all.
//! apartments.hooks().list.before_datasource_request.tap("own-rows", |ctx| {
//!     if !ctx.actor.has_role("superadmin") {
//!         ctx.query.replace_filter(Filter::eq("realtor_id", ctx.actor.id.clone()));
//!     }
//!     Ok(Flow::Continue)
//! })?;
//! // Nobody shows another realtor's apartment.
//! apartments.hooks().show.after_datasource_response.tap("own-record", |ctx| {
//!     let mine = ctx.response.iter().all(|r| r.get("realtor_id") == Some(&ctx.actor.id));
//!     if !mine && !ctx.actor.has_role("superadmin") {
//!         return Err(TapError::reject("You are not allowed to see this record").with_status(403));
//!     }
//!     Ok(Flow::Continue)
//! })?;
//!
//! let (one, two) = (Actor::new(1), Actor::new(2));
//! let loft = apartments.create(&one, Record::try_from(json!({"title": "Loft", "price": 100, "realtor_id": 2}))?).await?;
//! apartments.create(&two, Record::try_from(json!({"title": "Barn", "price": 50}))?).await?;
//!
//! assert_eq!(loft.get_i64("realtor_id"), Some(1));
//! assert_eq!(apartments.list(&one, Query::new()).await?.records.len(), 1);
//! assert_eq!(apartments.list(&root, Query::new()).await?.records.len(), 2);
//! assert_eq!(apartments.count(&two, Query::new()).await?, 1); // counts are scoped too
//! let denied = apartments.show(&two, loft.get("id").cloned().unwrap()).await.unwrap_err();
//! assert_eq!(denied.status(), 403);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Values
//!
//! Records are JSON-like maps ([`Record`]) with typed accessors and serde conversion to your
//! structs. Values are checked and normalized by column type on the way in: a float column given
//! `3` stores `3.0`, a string in an integer column is [`DataError::InvalidValue`]; timestamps
//! are RFC 3339 strings in UTC, UUIDs lowercase strings, json columns any JSON. Every
//! resource, column and operator name is checked against the schema, and every value is bound
//! as a parameter: nothing a client sends becomes SQL text.

mod access;
mod actor;
mod coerce;
mod conflict;
mod data;
mod ddl;
mod decode;
mod error;
mod hooks;
mod read;
mod resource;
mod schema;
mod schema_lock;
mod source;
mod statement;
pub mod transaction;
mod write;

pub use access::{Allowed, AllowedActions, Operation, Predicate};
pub use actor::Actor;
pub use data::{Data, DataBuilder, WeakData};
pub use ddl::{SchemaChange, SchemaProblem, SchemaReport};
pub use error::DataError;
pub use hookline_types::Record;
pub use hookline_types::{
    Aggregate, AggregateFn, Condition, ConversionError, Direction, Filter, Operator, Query,
    QueryError, Sort, Source, escape_like,
};
pub use hooks::{
    CreateContext, DeleteContext, DropdownHooks, EditContext, HookPoint, HookRef, ReadHooks,
    ReadRequest, ReadResponse, ResourceHooks, SaveHooks, UnknownHookPoint,
};
pub use read::Page;
pub use resource::Resource;
pub use schema::{Column, ColumnType, Fill, Foreign, OnDelete, ResourceDef};
pub use schema_lock::SchemaLock;
pub use source::{Backend, Connection, DataSource, Session};

// The shared vocabulary, under the paths this crate's modules use.
use hookline_types::{query, record};
