//! Enfyra's route pipeline (feature `data`): a handler script between pre-hooks and
//! post-hooks, all body-style, over a request ([`RouteInput`]) — what a server's custom route
//! runs, without the HTTP.
//!
//! A [`RoutePipeline`] is an engine [`Pipeline`] whose post-hooks always run
//! ([`AfterRuns::Always`], also after a pre-hook failed — as Enfyra's docs promise and its code
//! no longer does) and are isolated from each other ([`AfterFailures::Isolate`]):
//!
//! - a pre-hook may change `@BODY` and `@QUERY`, put values into `@SHARE`, `return` a value to
//!   answer without the handler, or `@THROW4xx(…)`;
//! - the handler's `return` value is the response (`null` if it returns nothing);
//! - post-hooks see `@DATA`, `@ERROR` and `@STATUS`; a returned value replaces `@DATA` on
//!   success; on the error path they observe, and the original error is returned after them;
//! - hooks run by stage (Enfyra's `priority`), then in registration order.
//!
//! Scripts see the caller as `@USER` ([`user_json`]) and reach the data through `#table` as
//! that caller plus [`SCRIPT_ROLE`](super::resources::SCRIPT_ROLE)
//! ([`ResourceScripts::tables_for`]). With [`RoutePipeline::collect_logs`], the lines scripts
//! wrote with `@LOGS(…)` end up in [`RouteInput::logs`], in the order they were written.
//!
//! ```
//! use hookline::Tap;
//! use hookline_data::{Actor, Data, DataSource};
//! use hookline_script::resources::ResourceScripts;
//! use hookline_script::route::{RouteInput, RoutePipeline};
//! use hookline_script::{HookPhase, PoolConfig, ScriptPool, ScriptSource};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let data = Data::builder(DataSource::connect("sqlite::memory:").await?).build().await?;
//! let pool = ScriptPool::new(PoolConfig::default().workers(1))?;
//! let load = |name: &'static str, code: &'static str, phase| {
//!     pool.load(ScriptSource::body(name, code, phase))
//! };
//! let handler = load("hello.js", "return { hello: @BODY.name };", HookPhase::Pre).await?;
//! let trim = load("trim.js", "@BODY.name = @BODY.name.trim();", HookPhase::Pre).await?;
//! let stamp = load("stamp.js", "return { ...@DATA, by: @USER.id };", HookPhase::Post).await?;
//!
//! let route = RoutePipeline::new("POST /hello", &ResourceScripts::new(&pool, &data), handler);
//! route.pre_hook(Tap::named("trim"), trim)?;
//! route.post_hook(Tap::named("stamp"), stamp)?;
//! let input = RouteInput::new(Actor::new(7), json!({ "name": "  Ann " }), json!({}), json!({}), json!({}));
//! assert_eq!(route.run(input).await?, json!({ "hello": "Ann", "by": 7 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::sync::{Arc, Mutex};

use hookline::{
    After, AfterFailures, AfterRuns, AsyncTap, Before, Flow, HookError, Pipeline, RegisterError,
    Share, Tap, TapError, TapHandle, TapResult,
};
use hookline_data::Actor;
use serde_json::{Map, Value, json};

use crate::context::ScriptContext;
use crate::error::ContextError;
use crate::pipeline::ScriptShare;
use crate::resources::{ResourceScripts, user_json};
use crate::source::Script;
use crate::tap::{ScriptOutcome, ScriptTap};

/// What a route's scripts work on: the request as JSON, and the caller. Scripts may change
/// `@BODY` and `@QUERY` (which must stay an object); the rest is read-only for them.
pub struct RouteInput {
    /// The caller (`@USER`; scripts cannot change it).
    pub actor: Actor,
    /// The JSON body (`@BODY`), `null` if none.
    pub body: Value,
    /// The query string (`@QUERY`), an object of strings.
    pub query: Value,
    /// The path parameters (`@PARAMS`).
    pub params: Value,
    /// `@API`: `{ request: { method, url } }`.
    pub api: Value,
    /// Where the `@LOGS` lines go, in order, when they are collected (debug mode).
    pub logs: Arc<Mutex<Vec<Value>>>,
    /// The lines the handler logged, and how many `@SHARE.$logs` lines came before them.
    handler_logs: Option<(usize, Vec<Value>)>,
}

impl RouteInput {
    /// A request from `actor`; no `@LOGS` lines yet.
    pub fn new(actor: Actor, body: Value, query: Value, params: Value, api: Value) -> Self {
        RouteInput {
            actor,
            body,
            query,
            params,
            api,
            logs: Arc::default(),
            handler_logs: None,
        }
    }
}

/// `@USER`: the caller ([`user_json`]), `null` for an anonymous one (no id, no roles).
fn user_value(actor: &Actor) -> Value {
    if actor.id.is_null() && actor.roles.is_empty() {
        return Value::Null;
    }
    Value::Object(user_json(actor))
}

impl ScriptContext for RouteInput {
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        let mut values = Map::new();
        values.insert("body".into(), self.body.clone());
        values.insert("query".into(), self.query.clone());
        values.insert("params".into(), self.params.clone());
        values.insert("user".into(), user_value(&self.actor));
        values.insert("api".into(), self.api.clone());
        Ok(values)
    }

    fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        let query = match values.remove("query") {
            Some(Value::Object(query)) => Value::Object(query),
            None | Some(Value::Null) => json!({}),
            Some(other) => {
                return Err(ContextError::invalid(format!(
                    "`@QUERY` must stay an object; the scripts set it to {other}"
                )));
            }
        };
        self.body = values.remove("body").unwrap_or(Value::Null);
        self.query = query;
        Ok(())
    }
}

/// The `$logs` lines of a share map.
fn share_logs(share: &Share) -> Vec<Value> {
    share
        .get::<ScriptShare>()
        .and_then(|s| s.0.get("$logs"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// What the handler script sees: the request and `@SHARE` (read-only for it).
struct HandlerContext<'a> {
    input: &'a mut RouteInput,
    share: Map<String, Value>,
    shared_logs: usize,
}

impl ScriptContext for HandlerContext<'_> {
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        let mut values = self.input.to_script()?;
        values.insert("share".into(), Value::Object(self.share.clone()));
        Ok(values)
    }

    fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        let logged = values
            .remove("share")
            .and_then(|share| share.get("$logs").and_then(Value::as_array).cloned())
            .map(|lines| lines.into_iter().skip(self.shared_logs).collect())
            .unwrap_or_default();
        self.input.handler_logs = Some((self.shared_logs, logged));
        Ok(())
    }
}

/// One body-style script as a pre- or post-hook; its data API acts as the request's caller.
#[derive(Clone)]
struct RouteScript {
    script: Script,
    scripts: ResourceScripts,
}

impl RouteScript {
    fn tap(&self, actor: &Actor) -> ScriptTap {
        ScriptTap::new(self.scripts.pool(), [self.script.clone()])
            .with_tables(self.scripts.tables_for(actor))
    }
}

impl AsyncTap<Before<RouteInput>, Value> for RouteScript {
    async fn call(&self, ctx: &mut Before<RouteInput>) -> TapResult<Value> {
        let tap = self.tap(&ctx.input.actor);
        AsyncTap::<Before<RouteInput>, Value>::call(&tap, ctx).await
    }
}

impl AsyncTap<After<RouteInput, Value>> for RouteScript {
    async fn call(&self, ctx: &mut After<RouteInput, Value>) -> TapResult {
        let tap = self.tap(&ctx.input().actor);
        AsyncTap::<After<RouteInput, Value>>::call(&tap, ctx).await
    }
}

/// The name of the after-tap that collects `@LOGS` ([`RoutePipeline::collect_logs`]).
pub const LOG_TAP: &str = "hookline.collect_logs";

/// A handler script between pre-hooks and post-hooks (see the [module](self) docs).
pub struct RoutePipeline {
    pipeline: Pipeline<RouteInput, Value>,
    handler: RouteScript,
}

impl std::fmt::Debug for RoutePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutePipeline")
            .field("pipeline", &self.pipeline.name())
            .field("handler", &self.handler.script)
            .finish()
    }
}

impl RoutePipeline {
    /// A pipeline named `name` (`"GET /stats"`, in errors and `explain`) around `handler`,
    /// whose scripts reach the data through `scripts`.
    pub fn new(name: impl Into<String>, scripts: &ResourceScripts, handler: Script) -> Self {
        RoutePipeline {
            pipeline: Pipeline::new(name.into())
                .after_runs(AfterRuns::Always)
                .after_failures(AfterFailures::Isolate),
            handler: RouteScript {
                script: handler,
                scripts: scripts.clone(),
            },
        }
    }

    /// Adds a pre-hook (a body-style script loaded as [`HookPhase::Pre`](crate::HookPhase)).
    #[track_caller]
    pub fn pre_hook(
        &self,
        tap: impl Into<Tap>,
        script: Script,
    ) -> Result<TapHandle, RegisterError> {
        self.pipeline.before().tap_handler(tap, self.script(script))
    }

    /// Adds a post-hook (a body-style script loaded as [`HookPhase::Post`](crate::HookPhase)).
    #[track_caller]
    pub fn post_hook(
        &self,
        tap: impl Into<Tap>,
        script: Script,
    ) -> Result<TapHandle, RegisterError> {
        self.pipeline.after().tap_handler(tap, self.script(script))
    }

    /// Collects every `@LOGS` line — pre-hooks', the handler's, post-hooks' — into
    /// [`RouteInput::logs`] after the post-hooks ran, in the order they were written (a last
    /// after-tap named [`LOG_TAP`]).
    pub fn collect_logs(&self) -> Result<TapHandle, RegisterError> {
        self.pipeline
            .after()
            .tap(Tap::named(LOG_TAP).stage(i32::MAX), collect_logs)
    }

    /// The engine pipeline, for `explain` and interceptors.
    pub fn pipeline(&self) -> &Pipeline<RouteInput, Value> {
        &self.pipeline
    }

    /// The handler script.
    pub fn handler(&self) -> &Script {
        &self.handler.script
    }

    /// Runs pre-hooks, handler and post-hooks on `input`: the response value, or the error to
    /// answer with (a rejection keeps its status).
    pub async fn run(&self, input: RouteInput) -> Result<Value, HookError> {
        let handler = &self.handler;
        let result = self
            .pipeline
            .run(input, async |input: &mut RouteInput, share: &Share| {
                handle(handler, input, share).await
            })
            .await;
        result.map(|outcome| outcome.output)
    }

    fn script(&self, script: Script) -> RouteScript {
        RouteScript {
            script,
            scripts: self.handler.scripts.clone(),
        }
    }
}

/// Runs the handler script: its return value is the output.
async fn handle(
    handler: &RouteScript,
    input: &mut RouteInput,
    share: &Share,
) -> Result<Value, TapError> {
    let share = share
        .get::<ScriptShare>()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let shared_logs = share
        .get("$logs")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let tap = handler.tap(&input.actor);
    let mut ctx = HandlerContext {
        input,
        share,
        shared_logs,
    };
    match tap.run(&mut ctx).await.map_err(TapError::fail)? {
        ScriptOutcome::Return { value, .. } => Ok(value),
        ScriptOutcome::Continue => Ok(Value::Null),
        ScriptOutcome::Rejected {
            status, message, ..
        } => Err(TapError::reject(message).with_status(status)),
    }
}

/// The last after-tap in debug mode: puts every `@LOGS` line — pre-hooks', the handler's,
/// post-hooks' — into the request's log list, in the order they were written.
fn collect_logs(ctx: &mut After<RouteInput, Value>) -> TapResult {
    let shared = share_logs(ctx.share());
    let input = ctx.input();
    let mut lines = Vec::with_capacity(shared.len());
    match &input.handler_logs {
        Some((before, handler)) => {
            let before = (*before).min(shared.len());
            lines.extend_from_slice(&shared[..before]);
            lines.extend(handler.iter().cloned());
            lines.extend_from_slice(&shared[before..]);
        }
        None => lines.extend(shared),
    }
    *input.logs.lock().unwrap_or_else(|p| p.into_inner()) = lines;
    Ok(Flow::Continue)
}
