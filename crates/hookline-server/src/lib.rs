//! # hookline-server — resources, routes and hooks over HTTP
//!
//! The server behind the `hookline` binary, as a library. A [`Config`] (TOML) declares
//! resources over SQLite or PostgreSQL, hook scripts on their flows (AdminForth's model),
//! custom routes with pre- and post-hooks (Enfyra's model), modules, roles and seed rows;
//! [`AppState::build`] checks it, compiles every script and opens the database; [`app`] is
//! the axum router that serves it.
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use hookline_server::{AppState, Config, app};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::from_toml(r#"
//!     [server]
//!     database = "sqlite::memory:"
//!
//!     [[resources]]
//!     name = "notes"
//!     columns = [
//!         { name = "id", type = "integer", primary_key = true },
//!         { name = "text", type = "text", required = true },
//!     ]
//! "#, "hookline.toml")?;
//! let state = AppState::build(config).await?;
//! let create = Request::post("/api/notes")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{ "text": "hello" }"#))?;
//! assert_eq!(app(state.clone()).oneshot(create).await?.status(), StatusCode::CREATED);
//!
//! let bad = Request::post("/api/notes")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{ "colour": "red" }"#))?;
//! assert_eq!(app(state).oneshot(bad).await?.status(), StatusCode::BAD_REQUEST);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## The config
//!
//! ```toml
//! [server]
//! database = "sqlite://hookline.db"     # or postgres://…
//!
//! [auth]                                # without `users`, every request is anonymous
//! users = "users"                       # login_column = "email", password_column = "password_hash"
//! roles = ["superadmin", "realtor"]
//!
//! [[resources]]                         # the data crate's resource form
//! name = "apartments"
//! columns = [
//!     { name = "id", type = "integer", primary_key = true },
//!     { name = "price", type = "float", required = true },
//!     { name = "realtor_id", type = "integer", foreign = { resource = "users" } },
//! ]
//!
//! [access.apartments]                   # roles per action, checked before any hook
//! delete = ["superadmin"]
//!
//! [hooks.apartments]                    # function-style scripts, one tap per hook point
//! "create.before_save" = "hooks/set_realtor.js"
//! "list.before_datasource_request" = ["hooks/own_rows.js", "hooks/listed_only.js"]
//!
//! [[modules]]                           # plugins: their taps run after their dependencies'
//! name = "audit"
//! [modules.hooks.apartments]
//! "create.after_save" = "hooks/audit.js"
//!
//! [[routes]]                            # body-style scripts: pre-hooks → handler → post-hooks
//! path = "/stats/prices"
//! handler = "routes/price_stats.js"
//! pre_hooks = [{ script = "routes/check.js", priority = 0 }]
//! post_hooks = [{ script = "routes/meta.js" }]
//! ```
//!
//! Every problem of a config and its scripts is reported at once, with file, line and key
//! path ([`check`], [`Problem`]). `hookline init` writes the demo config as a starting point.
//!
//! ## What hooks see
//!
//! - **Resource hooks** (function style, `export default async (ctx) => ({ ok: true })`) get
//!   the flow's context with AdminForth's names — `record`, `recordId`, `updates`,
//!   `oldRecord`, `query`, `response`, `total`, `resource` — plus the caller as `user` and
//!   `adminUser`, and `tables`, the data API. `{ ok: false, error, status? }` rejects.
//! - **Route hooks** (body style) use Enfyra's `@BODY @QUERY @PARAMS @USER @SHARE @DATA
//!   @ERROR @STATUS @API @LOGS @THROW4xx` and `#table.find/create/update/delete`. Post-hooks
//!   always run — also after a pre-hook failed — each isolated; they cannot hide the error.
//! - Data calls from scripts go through the resources' own flows, hooks and access checks, as
//!   the caller with the extra role [`SCRIPT_ROLE`].
//!
//! ## HTTP
//!
//! | path | what |
//! |---|---|
//! | `/api/{resource}…` | list, show, create, edit, delete, `_search`, `_aggregate`, `_dropdown/{column}`, `_bulk-delete`, `_bulk-update` |
//! | custom route paths | the route pipelines |
//! | `POST /auth/login`, `GET /auth/me`, `PUT /auth/password` | a bearer token (HS256) for a login and password (argon2); who am I; set a password |
//! | `/openapi.json`, `/docs` | the OpenAPI 3.1 document built from the config, and its Swagger UI |
//! | `/metrics`, `/healthz` | Prometheus metrics (requests and per-tap timing; behind a token if `HOOKLINE_METRICS_TOKEN` is set), health |
//!
//! Errors are `{ "error": { "message", "status", "hook"?, "tap"?, "committed"? } }`
//! ([`ApiError`]): 400 bad input, 401 no valid token, 403 denied, 404, 409 conflict, 413 body
//! too large, 422 a hook's rejection (or the status it chose), 503 too slow, and 500 without
//! internals (debug mode adds them as `detail`). Every response carries an `x-request-id`: the
//! one the request came with, or a new one; the request's log lines are in a `request` span
//! with that id. Origins listed in `[server] cors_origins` ([`ServerConfig::cors_origins`]) get
//! CORS answers; by default there are none.

mod app;
mod auth;
mod build;
mod check;
mod config;
mod demo;
mod error;
mod explain;
mod extract;
mod files;
mod init;
mod locate;
mod meta;
mod metrics;
mod middleware;
mod openapi;
mod rest;
mod routes;
mod seed;
mod serve;
mod state;
#[cfg(test)]
mod test_support;
mod user_rows;
mod validate;

pub use app::app;
pub use auth::{Auth, AuthError, Login, MIN_PASSWORD_LEN, MIN_SECRET_LEN, hash_password};
pub use build::BuildError;
pub use check::{DatabaseCheck, check, check_database, dry_run};
pub use config::{
    AccessRules, AuthConfig, Config, ConfigError, GlobalHookConfig, HookScripts, Method,
    ModuleConfig, RouteConfig, RouteHookConfig, ScriptList, ScriptsConfig, SeedConfig,
    ServerConfig,
};
pub use demo::{DEMO_LOGIN, DEMO_PASSWORD};
pub use error::{ApiError, ErrorBody};
pub use explain::{ExplainFormat, UnknownTarget};
/// The engine (`Flow`, `TapError`, `Tap`, …).
pub use hookline as engine;
/// The data layer the server is built on, for native taps on its resources
/// (`state.data().resource("x")?.hooks()…`) without a dependency of your own.
pub use hookline_data as data;
/// The hook points `[hooks.<resource>]` keys name (defined by `hookline-data`).
pub use hookline_data::HookPoint;
/// The script layer the server is built on (pools, script hooks bound to resources).
pub use hookline_script as script;
/// Whether a `[[global_hooks]]` entry runs before or after the handler (defined by
/// `hookline-script`).
pub use hookline_script::HookPhase;
pub use init::{InitError, init};
pub use serve::{LogFormat, init_logging, serve, shutdown_signal};
pub use state::AppState;
pub use validate::{Problem, Problems, SCRIPT_ROLE};
