//! Custom routes (`[[routes]]`): per method, a
//! [`RoutePipeline`](hookline_script::route::RoutePipeline) — Enfyra's pre-hooks → handler →
//! post-hooks, all body-style scripts — plus what only the server knows: the path, who may
//! call it, and which global hooks apply to which method. The pipeline's semantics (what
//! scripts see and may change, post-hooks that always run) are `hookline_script::route`'s.

use std::collections::BTreeMap;

use hookline::{RegisterError, Tap};
use hookline_script::Script;
use hookline_script::resources::ResourceScripts;
pub(crate) use hookline_script::route::RouteInput;
use hookline_script::route::RoutePipeline;
use serde_json::Value;

use crate::config::Method;
use crate::validate::Declared;

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
    /// The config line that declared it: its registration site in `explain`.
    pub(crate) declared: Declared,
}

impl RouteHook {
    fn applies_to(&self, method: Method) -> bool {
        self.methods.is_empty() || self.methods.contains(&method)
    }

    fn tap(&self) -> Tap {
        self.declared
            .on(Tap::named(self.name.clone()).stage(self.priority))
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
    pub(crate) pipelines: BTreeMap<Method, RoutePipeline>,
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

impl Route {
    pub(crate) fn build(
        parts: RouteParts,
        scripts: &ResourceScripts,
    ) -> Result<Route, RegisterError> {
        let mut pipelines = BTreeMap::new();
        for method in &parts.methods {
            let name = format!("{method} {}", parts.path);
            let pipeline = RoutePipeline::new(name, scripts, parts.handler.clone());
            for hook in parts.pre_hooks.iter().filter(|h| h.applies_to(*method)) {
                pipeline.pre_hook(hook.tap(), hook.script.clone())?;
            }
            for hook in parts.post_hooks.iter().filter(|h| h.applies_to(*method)) {
                pipeline.post_hook(hook.tap(), hook.script.clone())?;
            }
            if parts.collect_logs {
                pipeline.collect_logs()?;
            }
            pipelines.insert(*method, pipeline);
        }
        Ok(Route {
            path: parts.path,
            public: parts.public,
            roles: parts.roles,
            pipelines,
        })
    }

    /// Runs the pipeline of `method`: the response value, or the error to answer with; `None`
    /// if the route does not answer `method`. The `@LOGS` lines (if collected) are in
    /// `input.logs` afterwards.
    pub(crate) async fn run(
        &self,
        method: Method,
        input: RouteInput,
    ) -> Option<Result<Value, hookline::HookError>> {
        Some(self.pipelines.get(&method)?.run(input).await)
    }
}
