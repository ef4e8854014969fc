//! # hookline-script — lifecycle hooks written in JavaScript
//!
//! Taps for [`hookline`] hooks written as JavaScript files, run by QuickJS (through
//! [`rquickjs`]) in a sandboxed pool of worker threads. Scripts come in the two styles of the
//! systems hookline learned from: **function style** (AdminForth) and **body style** (Enfyra).
//!
//! ```
//! use hookline::{Flow, Hook};
//! use hookline_script::{JsonContext, PoolConfig, ScriptPool, ScriptSource};
//! use serde_json::{Value, json};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = ScriptPool::new(PoolConfig::default().workers(2))?;
//! // Usually `ScriptSource::read("hooks/create.before_save.js", Style::Function)`.
//! let set_realtor = pool
//!     .load(ScriptSource::function(
//!         "hooks/create.before_save.js",
//!         "export default async ({ record, user }) => {
//!            record.realtor_id = user.id;
//!            return { ok: true };
//!          };",
//!     ))
//!     .await?;
//!
//! let before_save: Hook<JsonContext, Value> = Hook::new("apartments.create.before_save");
//! before_save.tap_handler("scripts", pool.tap([set_realtor]))?;
//!
//! let mut ctx = JsonContext::new()
//!     .with("record", json!({ "title": "Loft", "price": 2500.0, "realtor_id": 1 }))
//!     .with("user", json!({ "id": 7 }));
//! assert_eq!(before_save.call(&mut ctx).await?, Flow::Continue);
//! let record = ctx.get("record").unwrap();
//! assert_eq!(record["realtor_id"], 7);
//! assert!(record["price"].is_f64()); // QuickJS writes 2500.0 as 2500; it comes back a float
//! # Ok(())
//! # }
//! ```
//!
//! ## Function style
//!
//! An ES module whose default export is a function (usually `async`) of the context object —
//! `record`, `updates`, `oldRecord`, `query`, `response`, `user`, `resource`, whatever the
//! hook's context holds:
//!
//! ```js
//! export default async ({ record, user, tables }) => {
//!   if (record.price <= 0) return { ok: false, error: "price must be positive" };
//!   record.realtor_id = user.id;                   // changes to the argument are applied
//!   await tables.audit_logs.create({ data: { action: "create", by: user.id } });
//!   return { ok: true };
//! };
//! ```
//!
//! - `{ ok: true }` continues; `{ ok: false, error }` rejects the call (status 422, or the
//!   result's `status` in 400..599); `ok: false` without an error rejects with "Operation
//!   aborted by hook"; a non-empty `error` rejects even with `ok: true` (as AdminForth does).
//! - Anything else — no return value, a non-boolean `ok`, a non-string `error` — is a
//!   [`ScriptError::BadReturn`] that says what was expected and what came back.
//! - `tables` (not enumerable, so never part of the context) is the data API of
//!   [`ScriptTap::with_tables`].
//!
//! ## Body style
//!
//! Statements run as the body of an `async` function, with Enfyra's macros. They are rewritten
//! to `$ctx…` by a tokenizer pass that leaves strings, template-literal text, regular
//! expressions and comments alone, and that keeps positions, so errors point at the original
//! file:
//!
//! | macro | becomes | context key |
//! |---|---|---|
//! | `@BODY` `@QUERY` `@PARAMS` `@USER` | `$ctx.$body` … | `body` `query` `params` `user` |
//! | `@DATA` `@ERROR` `@STATUS` `@API` | `$ctx.$data` `$ctx.$error` `$ctx.$statusCode` `$ctx.$api` | `data` `error` `statusCode` `api` |
//! | `@SHARE` | `$ctx.$share` (always has a `$logs` array) | `share` |
//! | `@LOGS(…)` | `$ctx.$logs(…)`: appends a line to `@SHARE.$logs` and logs it (`tracing`, target `hookline_script`) | |
//! | `@THROW400(msg)` … `@THROW599(msg)` | `$ctx.$throw['400'](msg)`: rejects with that status | |
//! | `#table.find/create/update/delete(…)`, `@REPOS` | `$ctx.$repos.table…` | |
//! | `@SOCKET` | `$ctx.$socket` | |
//!
//! Every other key `k` of the context is `$ctx.$k`. Any other `@MACRO` (`@FETCH`, `@ENV`, …)
//! is refused at load time with its position. A `#name` right after a `.` is left alone, so
//! `this.#field` works; elsewhere `#name` is a table. Scripts run in strict mode.
//!
//! **`@SOCKET` is a no-op sink for now**: hookline has no realtime delivery yet, so every
//! method (`await @SOCKET.emitToRoom('admin', 'event', data)`) resolves to `undefined` and
//! sends nothing.
//!
//! What a returned value does depends on the script's [`HookPhase`]:
//! - [`HookPhase::Pre`] (a pre-hook): a value other than `undefined` short-circuits the hook
//!   with it ([`Flow::Return`](hookline::Flow::Return)); a bare `return;` continues;
//! - [`HookPhase::Post`] (a post-hook): the value replaces `@DATA`, and the next script sees it.
//!
//! ## Contexts
//!
//! A script tap fits any hook whose context implements [`ScriptContext`] — it converts to a
//! JSON object and takes the changed object back — and whose output deserializes from JSON:
//!
//! - [`JsonContext`]: named JSON values, for integrations without Rust types of their own;
//! - [`Before<I>`](hookline::Before) and [`After<I, O>`](hookline::After) of a
//!   [`Pipeline`](hookline::Pipeline), for any input `I: ScriptContext`: pre-hooks see the
//!   input and `share`; post-hooks also see `data`, `statusCode` and `error`, and can replace
//!   `data` on the success path, never the error (Enfyra's route pipeline).
//!
//! ## Resources and routes (feature `data`)
//!
//! With the `data` feature, `resources` binds function-style scripts to the hook points of
//! `hookline-data` resources in one call (`ResourceScripts::bind`), with the resources' own
//! flows as their data API, and `route` runs Enfyra's route pipeline of body-style scripts
//! (`RoutePipeline`). Their hooks' records travel to the scripts as rows and come back patched
//! in place, without a JSON object per row: a cheaper path than [`ScriptContext`]'s, kept
//! private to this crate.
//!
//! JavaScript has one number type, so QuickJS writes `3.0` as `3`. Values come back with their
//! types: by a [`Schema`] of column types where one is declared
//! ([`JsonContext::with_schema`]), else by keeping the number kind each value came in with
//! ([`keep_number_kinds`]).
//!
//! ## The data API
//!
//! The host hands scripts their data access as an `Arc<dyn` [`TableApi`]`>`: `find`, `create`,
//! `update`, `delete` over [`Record`]s, answering Enfyra's `{ data: [records] }`; a `find`
//! arrives as a [`FindQuery`] holding the shared [`Query`](types::Query). A call
//! travels from the worker back to the task that called the hook, which awaits the API, so the
//! API may use the caller's async resources (a database pool, a transaction). [`MemoryTables`]
//! is an in-memory implementation for prototypes, tests and demos; the SQL one is
//! `resources::DataTables` (feature `data`).
//!
//! ## The sandbox
//!
//! Scripts see the ECMAScript built-ins, `console` (to `tracing`), and what the hook hands in:
//! the context and the data API. There is no file system, network, process, environment,
//! timers or module loading (`import` fails at load time; `import()` rejects).
//!
//! | limit ([`PoolConfig`]) | default | a script that… |
//! |---|---|---|
//! | `time_limit` | 1 s per script run, data-API calls included | loops forever is interrupted (uncatchably) |
//! | `memory_limit` | 64 MiB per runtime heap | allocates without end fails to allocate; the runtime is rebuilt |
//! | `stack_limit` | 1 MiB | recurses without end fails with a stack error |
//! | `inline_budget` | 1 ms on the calling thread | is stopped there and run again from the start on a worker |
//!
//! Each stops the call with [`ScriptError::LimitExceeded`], naming the script, the limit and
//! (where QuickJS knows) the position — for a time limit QuickJS reports the running function,
//! not the exact statement. The runtime serves the next call. A caller that stops waiting (its
//! future dropped, e.g. by a [`Tap::timeout`](hookline::Tap::timeout)) stops its script on a
//! worker too.
//!
//! Each runtime has one JavaScript realm: module-level state of a script and changes to
//! globals persist between calls on that runtime (as in a Node process) and are not shared
//! with other runtimes. Do not rely on either.
//!
//! ## Where a call runs, and what it costs
//!
//! A QuickJS runtime is not `Send`, so it never leaves the thread that made it. A call first
//! runs on the thread that awaits it, in a runtime that thread keeps for the pool, because
//! handing a short call to another thread and back costs more than the call. It moves to one
//! of the [`ScriptPool`]'s N worker threads — dropped, and run again from the start there —
//! when a script calls the data API (only a worker can wait for it; later calls of the scripts
//! run with it go straight to the workers), when it is still running after the pool's `inline_budget`
//! (1 ms), or when it needs more than 256 KiB of JavaScript stack; nothing the dropped run did
//! is kept, its `console` lines included. Async code hands calls to the workers over a queue
//! and awaits the answer without blocking its executor (an idle worker polls the queue for
//! 50 µs before it sleeps). So a script holds its caller's executor thread for at most about
//! `inline_budget`; set it to zero to run every call on the workers.
//!
//! A call converts the context **once** into JavaScript objects and once back, with no JSON
//! text in between, and runs **every script of the tap** on that one object — the
//! conversion, not the script, is most of the cost, so register all of a hook's scripts as
//! one [`ScriptTap`]. `BENCHMARKS.md` in the repository has the numbers.
//!
//! ## Errors
//!
//! Loading fails with a [`ScriptError`] located in the script's file (`hooks/a.js:2:14:
//! SyntaxError: …`). A failing call reaches the hook's caller as a
//! [`HookError`](hookline::HookError) naming the tap, whose
//! [`ErrorKind::Failed`](hookline::ErrorKind::Failed) source is the [`ScriptError`] (script,
//! message, `file:line:column`). Rejections (`{ ok: false }`, `@THROW4xx`) are
//! [rejections](hookline::TapError::reject) with their status, not failures.

mod body;
mod context;
mod convert;
mod error;
mod lend;
mod pipeline;
mod pool;
// The one module with `unsafe` code (the workspace denies it): direct QuickJS calls for
// converting hook contexts, each with its ownership rule written down.
mod data_api;
mod raw;
#[cfg(feature = "data")]
pub mod resources;
#[cfg(feature = "data")]
pub mod route;
mod schema;
mod source;
mod tap;
mod worker;

pub use context::{JsonContext, ScriptContext};
pub use data_api::{FindQuery, MemoryTables, TableApi, TableError};
pub use error::{ContextError, Limit, Location, ScriptError};
/// The shared vocabulary: records, column types, queries and filters (`hookline-types`).
pub use hookline_types::{self as types, Record};
pub use pipeline::ScriptShare;
pub use pool::{PoolConfig, ScriptPool};
pub use schema::{ColumnType, Schema, keep_number_kinds};
pub use source::{HookPhase, Script, ScriptSource, Style};
pub use tap::{ScriptOutcome, ScriptTap};
