//! Custom routes, Enfyra's pipeline: pre-hooks → handler → post-hooks, all body-style scripts.
//!
//! Each route method is an engine [`Pipeline`] with post-hooks that always run
//! ([`AfterRuns::Always`], also after a pre-hook failed — as Enfyra's docs promise and its code
//! no longer does) and are isolated from each other ([`AfterFailures::Isolate`]):
//!
//! - a pre-hook may change `@BODY` and `@QUERY`, put values into `@SHARE`, `return` a value to
//!   answer without the handler, or `@THROW4xx(…)`;
//! - the handler's `return` value is the response (`null` if it returns nothing);
//! - post-hooks see `@DATA`, `@ERROR` and `@STATUS`; a returned value replaces `@DATA` on
//!   success; on the error path they observe, and the original error is answered after them;
//! - hooks run in `priority` order; on ties global hooks first, then file order.
//!
//! Scripts see the caller as `@USER` and reach the data through `#table` as that caller (plus
//! the script role). In debug mode, the lines scripts wrote with `@LOGS(…)` come back in the
//! response, in the order they were written.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookline::{
    After, AfterFailures, AfterRuns, AsyncTap, Before, Flow, Pipeline, RegisterError, Share, Tap,
    TapError, TapResult,
};
use hookline_data::Actor;
use hookline_script::resources::{ResourceScripts, user_json};
use hookline_script::{
    ContextError, HookPhase, Script, ScriptContext, ScriptOutcome, ScriptPool, ScriptShare, ScriptTap,
    Style,
};
use serde_json::{Map, Value, json};

use crate::config::Method;

/// The style of a route script: handlers and pre-hooks short-circuit with their return value,
/// post-hooks replace `@DATA` with it.
pub(crate) fn route_style(post: bool) -> Style {
    Style::Body(if post { HookPhase::Post } else { HookPhase::Pre })
}

/// What a route's scripts work on: the request as JSON, and the caller.
pub(crate) struct RouteInput {
    /// The caller (`@USER`; scripts cannot change it).
    pub(crate) actor: Actor,
    /// The JSON body (`@BODY`), `null` if none.
    pub(crate) body: Value,
    /// The query string (`@QUERY`), an object of strings.
    pub(crate) query: Value,
    /// The path parameters (`@PARAMS`).
    pub(crate) params: Value,
    /// `@API`: `{ request: { method, url } }`.
    pub(crate) api: Value,
    /// Where the `@LOGS` lines go, in order, when they are collected (debug mode).
    pub(crate) logs: Arc<Mutex<Vec<Value>>>,
    /// The lines the handler logged, and how many `@SHARE.$logs` lines came before them.
    handler_logs: Option<(usize, Vec<Value>)>,
}

impl RouteInput {
    pub(crate) fn new(actor: Actor, body: Value, query: Value, params: Value, api: Value) -> Self {
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

/// `@USER`: the caller ([`user_json`]), `null` for an anonymous one.
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
    pool: ScriptPool,
    script: Script,
    data: ResourceScripts,
}

impl RouteScript {
    fn tap(&self, actor: &Actor) -> ScriptTap {
        ScriptTap::new(&self.pool, [self.script.clone()]).with_tables(self.data.tables_for(actor))
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

/// A pre- or post-hook, ready to register.
#[derive(Clone)]
pub(crate) struct RouteHook {
    /// The tap name.
    pub(crate) name: String,
    /// Lower runs first.
    pub(crate) priority: i32,
    /// The methods it runs for (all if empty).
    pub(crate) methods: Vec<Method>,
    /// The script.
    pub(crate) script: Script,
}

impl RouteHook {
    fn applies_to(&self, method: Method) -> bool {
        self.methods.is_empty() || self.methods.contains(&method)
    }
}

/// A route: its pipelines per method, its handler and who may call it.
pub(crate) struct Route {
    /// The path, as configured.
    pub(crate) path: String,
    /// Served without a token.
    pub(crate) public: bool,
    /// Roles allowed (any logged-in user if empty).
    pub(crate) roles: Vec<String>,
    /// One pipeline per method.
    pub(crate) pipelines: BTreeMap<Method, Pipeline<RouteInput, Value>>,
    handler: RouteScript,
}

/// Everything needed to build a route.
pub(crate) struct RouteParts {
    pub(crate) path: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) public: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) handler: Script,
    /// Global pre-hooks, then the route's, in file order.
    pub(crate) pre_hooks: Vec<RouteHook>,
    /// Global post-hooks, then the route's, in file order.
    pub(crate) post_hooks: Vec<RouteHook>,
    /// Whether to collect `@LOGS` for the response.
    pub(crate) collect_logs: bool,
}

/// The name of the after-tap that collects `@LOGS` in debug mode.
const LOG_TAP: &str = "hookline.collect_logs";

impl Route {
    pub(crate) fn build(
        parts: RouteParts,
        pool: &ScriptPool,
        data: &ResourceScripts,
    ) -> Result<Route, RegisterError> {
        let mut pipelines = BTreeMap::new();
        for method in &parts.methods {
            let pipeline: Pipeline<RouteInput, Value> =
                Pipeline::new(format!("{method} {}", parts.path))
                    .after_runs(AfterRuns::Always)
                    .after_failures(AfterFailures::Isolate);
            for hook in parts.pre_hooks.iter().filter(|h| h.applies_to(*method)) {
                pipeline.before().tap_handler(
                    Tap::named(hook.name.clone()).stage(hook.priority),
                    RouteScript {
                        pool: pool.clone(),
                        script: hook.script.clone(),
                        data: data.clone(),
                    },
                )?;
            }
            for hook in parts.post_hooks.iter().filter(|h| h.applies_to(*method)) {
                pipeline.after().tap_handler(
                    Tap::named(hook.name.clone()).stage(hook.priority),
                    RouteScript {
                        pool: pool.clone(),
                        script: hook.script.clone(),
                        data: data.clone(),
                    },
                )?;
            }
            if parts.collect_logs {
                pipeline
                    .after()
                    .tap(Tap::named(LOG_TAP).stage(i32::MAX), collect_logs)?;
            }
            pipelines.insert(*method, pipeline);
        }
        Ok(Route {
            path: parts.path,
            public: parts.public,
            roles: parts.roles,
            pipelines,
            handler: RouteScript {
                pool: pool.clone(),
                script: parts.handler,
                data: data.clone(),
            },
        })
    }

    /// Runs the pipeline of `method`: the response value, or the error to answer with. The
    /// `@LOGS` lines (if collected) are in `input.logs` afterwards.
    pub(crate) async fn run(
        &self,
        method: Method,
        input: RouteInput,
    ) -> Option<Result<Value, hookline::HookError>> {
        let pipeline = self.pipelines.get(&method)?;
        let handler = &self.handler;
        let result = pipeline
            .run(input, async |input: &mut RouteInput, share: &Share| {
                handle(handler, input, share).await
            })
            .await;
        Some(result.map(|outcome| outcome.output))
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
