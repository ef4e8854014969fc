//! Assembling a server from a [`Config`]: check it, start the script workers, load and compile
//! every script (collecting every problem), open the database, build the resources with their
//! role rules, register hook scripts and modules, build the routes, set up auth, seed, and
//! describe it all as OpenAPI. The schema changes, auth's shared secret and the seed rows are
//! made under the database's [`SchemaLock`], so instances starting at once make them once.
//! [`AppState::build`] is the entry point; [`BuildError`] says what stopped it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hookline::{Module, ModuleScope, Modules, RegisterError};
use hookline_data::{Allowed, Data, DataError, DataSource, HookPoint, ResourceDef, SchemaLock};
use hookline_script::resources::{Binding, ResourceScripts};
use hookline_script::{HookPhase, PoolConfig, Script, ScriptError, ScriptPool, Style};

use crate::auth::{Auth, AuthError};
use crate::config::{Config, HookScripts, RouteConfig};
use crate::locate::KeyPath;
use crate::metrics::Metrics;
use crate::routes::{Route, RouteHook, RouteParts};
use crate::seed;
use crate::state::{AppState, StateInner};
use crate::validate::{Declared, Problem, Problems};

/// Why a server could not be built from its config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The config or its scripts have problems; every one is listed with file and line.
    #[error("{0}")]
    Invalid(Problems),
    /// The script workers could not start.
    #[error("cannot start the script workers: {0}")]
    Scripts(ScriptError),
    /// The database could not be opened, or the resources do not fit it.
    #[error("database `{url}`: {source}")]
    Database {
        /// The database URL.
        url: String,
        /// What failed.
        source: DataError,
    },
    /// Authentication could not be set up.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A seed row could not be inserted.
    #[error("seed[{index}] (`{resource}`), row {row}: {message}")]
    Seed {
        /// The index of the `[[seed]]` entry.
        index: usize,
        /// The resource.
        resource: String,
        /// The index of the row.
        row: usize,
        /// What went wrong.
        message: String,
    },
}

/// Loads each script once per style, and turns failures into problems at the config key that
/// names the script.
struct Loader<'a> {
    config: &'a Config,
    pool: &'a ScriptPool,
    loaded: HashMap<(String, Style), Script>,
    problems: Vec<Problem>,
}

impl Loader<'_> {
    async fn load(&mut self, path: &KeyPath, file: &str, style: Style) -> Option<Script> {
        if let Some(script) = self.loaded.get(&(file.to_owned(), style)) {
            return Some(script.clone());
        }
        let loaded = match self.config.origin.files.source(file, style) {
            Ok(source) => self.pool.load(source).await,
            Err(error) => Err(error),
        };
        match loaded {
            Ok(script) => {
                self.loaded.insert((file.to_owned(), style), script.clone());
                Some(script)
            }
            Err(error) => {
                self.problems
                    .push(script_problem(self.config, path, &error));
                None
            }
        }
    }

    /// Loads the scripts of one resource's hooks.
    async fn hook_scripts(&mut self, path: &KeyPath, hooks: &HookScripts) -> LoadedHooks {
        let mut out = Vec::new();
        for (point, files) in hooks {
            let path = path.key(point.to_string());
            let mut scripts = Vec::new();
            for (i, file) in files.0.iter().enumerate() {
                let path = if files.0.len() == 1 {
                    path.clone()
                } else {
                    path.index(i)
                };
                if let Some(script) = self.load(&path, file, Style::Function).await {
                    scripts.push(script);
                }
            }
            out.push((point.clone(), files.0.join(" + "), scripts));
        }
        out
    }
}

/// A problem for a script that did not load: at the script's own position if the error has
/// one, else at the config key naming it.
pub(crate) fn script_problem(config: &Config, path: &KeyPath, error: &ScriptError) -> Problem {
    let message = match error {
        ScriptError::Syntax { message, .. } | ScriptError::Macro { message, .. } => message.clone(),
        other => other.to_string(),
    };
    match error.location() {
        Some(location) => Problem {
            file: location.file.to_string(),
            line: location.line as usize,
            column: location.column as usize,
            path: Some(path.to_string()),
            message,
        },
        None => config.problem_at(path, message),
    }
}

/// The name of the implicit root module that holds `[hooks]`: installed first, depending on
/// nothing, so its taps run before those of `[[modules]]` (at equal stages).
pub(crate) const ROOT_MODULE: &str = "hooks";

/// A module of the config — `[hooks]` (the implicit root, [`ROOT_MODULE`]) or one of
/// `[[modules]]` — with the config key its hooks sit under.
struct ConfigModule<'a> {
    /// `hooks`, or `modules[i].hooks`.
    path: KeyPath,
    name: &'a str,
    depends_on: &'a [String],
    hooks: &'a BTreeMap<String, HookScripts>,
}

/// `[hooks]` as the root module, then `[[modules]]` in config order.
fn config_modules(config: &Config) -> Vec<ConfigModule<'_>> {
    let root = ConfigModule {
        path: KeyPath::new().key("hooks"),
        name: ROOT_MODULE,
        depends_on: &[],
        hooks: &config.hooks,
    };
    let modules = config
        .modules
        .iter()
        .enumerate()
        .map(|(i, module)| ConfigModule {
            path: KeyPath::new().key("modules").index(i).key("hooks"),
            name: &module.name,
            depends_on: &module.depends_on,
            hooks: &module.hooks,
        });
    std::iter::once(root).chain(modules).collect()
}

/// A config module: its hook scripts, bound, registered with the module's tap options.
struct ScriptModule {
    name: String,
    depends_on: Vec<String>,
    taps: Vec<ScriptTapDef>,
}

/// One tap of a [`ScriptModule`]: its name (the script files), its scripts bound to a hook
/// point, and the config line that declared it (its registration site in `explain`).
struct ScriptTapDef {
    name: String,
    binding: Binding,
    declared: Declared,
}

impl Module for ScriptModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn depends_on(&self) -> Vec<String> {
        self.depends_on.clone()
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        for tap in &self.taps {
            tap.binding
                .register(tap.declared.on(scope.tap(tap.name.clone())))?;
        }
        Ok(())
    }
}

/// The resources as configured, with the role rules of `[access]` applied.
fn resource_defs(config: &Config) -> Vec<ResourceDef> {
    config
        .resources
        .iter()
        .map(|def| {
            let mut def = def.clone();
            if let Some(rules) = config.access.get(&def.name) {
                for (action, roles) in rules.iter() {
                    let roles = roles.to_vec();
                    def.allowed_actions.set(
                        action,
                        Allowed::when(move |actor, _| roles.iter().any(|r| actor.has_role(r))),
                    );
                }
            }
            def
        })
        .collect()
}

/// One resource's loaded hook scripts: (hook point, tap name, scripts).
type LoadedHooks = Vec<(HookPoint, String, Vec<Script>)>;

/// Every script of a config, loaded and compiled.
struct Loaded {
    /// Per module of [`config_modules`], in that order: its hooks by resource.
    modules: Vec<Vec<(String, LoadedHooks)>>,
    /// The routes, with the global hooks in front of their own.
    routes: Vec<RouteParts>,
}

/// Loads every script of `config` on `pool`; fails with every problem of the config and its
/// scripts.
async fn load_scripts(config: &Config, pool: &ScriptPool) -> Result<Loaded, BuildError> {
    let mut loader = Loader {
        config,
        pool,
        loaded: HashMap::new(),
        problems: config.problems(),
    };
    let mut modules = Vec::new();
    for module in config_modules(config) {
        let mut module_hooks = Vec::new();
        for (resource, points) in module.hooks {
            let path = module.path.key(resource);
            module_hooks.push((resource.clone(), loader.hook_scripts(&path, points).await));
        }
        modules.push(module_hooks);
    }
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    for (i, hook) in config.global_hooks.iter().enumerate() {
        let is_post = hook.phase == HookPhase::Post;
        let path = KeyPath::new().key("global_hooks").index(i).key("script");
        if let Some(script) = loader
            .load(&path, &hook.script, Style::Body(hook.phase))
            .await
        {
            let hook = RouteHook {
                name: hook.name.clone().unwrap_or_else(|| hook.script.clone()),
                priority: hook.priority,
                methods: hook.methods.clone(),
                script,
                declared: config.declared_at(&path),
            };
            if is_post { &mut post } else { &mut pre }.push(hook);
        }
    }
    let mut routes = Vec::new();
    for (i, route) in config.routes.iter().enumerate() {
        let path = KeyPath::new().key("routes").index(i);
        if let Some(mut parts) = load_route(&mut loader, &path, route).await {
            parts.pre_hooks.splice(0..0, pre.iter().cloned());
            parts.post_hooks.splice(0..0, post.iter().cloned());
            parts.collect_logs = config.server.debug;
            routes.push(parts);
        }
    }
    if !loader.problems.is_empty() {
        return Err(BuildError::Invalid(Problems(loader.problems)));
    }
    Ok(Loaded { modules, routes })
}

/// A build failure at a key of the config.
fn invalid(config: &Config, path: &KeyPath, message: impl Into<String>) -> BuildError {
    BuildError::Invalid(Problems(vec![config.problem_at(path, message)]))
}

/// Binds every module's scripts to their hook points and installs the modules (`[hooks]`
/// first, as the root).
fn register_hooks(
    config: &Config,
    data: &Data,
    scripts: &ResourceScripts,
    loaded: Vec<Vec<(String, LoadedHooks)>>,
) -> Result<Modules, BuildError> {
    let database = |source| BuildError::Database {
        url: config.server.database.clone(),
        source,
    };
    let mut modules: Vec<Box<dyn Module>> = Vec::new();
    for (module, hooks) in config_modules(config).into_iter().zip(loaded) {
        let mut taps = Vec::new();
        for (resource, points) in hooks {
            let res = data.resource(&resource).map_err(database)?;
            for (point, name, list) in points {
                let path = module.path.key(&resource).key(point.to_string());
                let binding = scripts
                    .binding(&res, &point, list)
                    .map_err(|e| invalid(config, &path, e.to_string()))?;
                taps.push(ScriptTapDef {
                    name,
                    binding,
                    declared: config.declared_at(&path),
                });
            }
        }
        modules.push(Box::new(ScriptModule {
            name: module.name.to_owned(),
            depends_on: module.depends_on.to_vec(),
            taps,
        }));
    }
    let installed = Modules::new();
    installed
        .install_all(modules)
        .map_err(|e| invalid(config, &KeyPath::new().key("modules"), e.to_string()))?;
    Ok(installed)
}

/// A metrics registry whose tap timing is installed on every hook of every resource and route.
fn instrument(data: &Data, routes: &[Arc<Route>]) -> Metrics {
    let metrics = Metrics::new();
    let timing = metrics.tap_timing();
    for resource in data.resources() {
        for (_, hook) in resource.each_hook() {
            hook.intercept(timing.clone());
        }
    }
    for route in routes {
        for pipeline in route.pipelines.values().map(|p| p.pipeline()) {
            pipeline.before().intercept(timing.clone());
            pipeline.after().intercept(timing.clone());
        }
    }
    metrics
}

impl AppState {
    /// Builds a server from a config: everything but listening. Fails with every problem of
    /// the config and its scripts at once, or with the first runtime failure (database, auth,
    /// seed).
    pub async fn build(config: Config) -> Result<AppState, BuildError> {
        let mut pool_config = PoolConfig::default()
            .time_limit(Duration::from_millis(config.scripts.time_limit_ms))
            .memory_limit(config.scripts.memory_limit_mib << 20)
            .inline_budget(Duration::from_micros(config.scripts.inline_budget_us));
        if let Some(workers) = config.scripts.workers {
            pool_config = pool_config.workers(workers);
        }
        let pool = ScriptPool::new(pool_config).map_err(BuildError::Scripts)?;
        let loaded = load_scripts(&config, &pool).await?;

        let database = |source| BuildError::Database {
            url: config.server.database.clone(),
            source,
        };
        let source = DataSource::connect(&config.server.database)
            .await
            .map_err(database)?;
        // Held from before the schema changes until after the seed rows, so that instances
        // starting at once on one database change the schema and seed once (dropped, and so
        // released, on any failure in between).
        let lock = SchemaLock::acquire(&source).await.map_err(database)?;
        let data = Data::builder(source.clone())
            .resources(resource_defs(&config))
            .under_lock(&lock)
            .build()
            .await
            .map_err(database)?;
        let scripts = ResourceScripts::new(&pool, &data);
        let modules = register_hooks(&config, &data, &scripts, loaded.modules)?;
        let mut routes = Vec::new();
        for (i, parts) in loaded.routes.into_iter().enumerate() {
            let route = Route::build(parts, &scripts).map_err(|e| {
                invalid(
                    &config,
                    &KeyPath::new().key("routes").index(i),
                    e.to_string(),
                )
            })?;
            routes.push(Arc::new(route));
        }
        let metrics = instrument(&data, &routes);
        let metrics_token = std::env::var(&config.server.metrics_token_env)
            .ok()
            .filter(|token| !token.trim().is_empty())
            .map(|token| Box::from(token.trim()));
        if metrics_token.is_none() {
            tracing::info!(
                var = %config.server.metrics_token_env,
                "no metrics token in the environment: /metrics is open"
            );
        }

        let auth = match &config.auth.users {
            Some(users) => {
                let def = config.resource(users).ok_or_else(|| {
                    invalid(
                        &config,
                        &KeyPath::new().key("auth").key("users"),
                        format!("unknown resource `{users}`"),
                    )
                })?;
                Some(Auth::build(&config.auth, def, &source).await?)
            }
            None => {
                tracing::warn!(
                    "no `[auth] users` resource: authentication is off and every request is anonymous"
                );
                None
            }
        };
        seed::run(&config, &data, auth.as_ref()).await?;
        lock.release().await.map_err(database)?;
        let openapi = crate::openapi::document(&config, &data, &routes);
        Ok(AppState::from_inner(StateInner {
            data,
            auth,
            routes,
            modules,
            metrics,
            metrics_token,
            openapi,
            server: config.server.clone(),
            config_file: config.origin.file.clone(),
        }))
    }
}

/// Loads a route's scripts; `None` if one of them did not load (the loader has the problem).
async fn load_route(
    loader: &mut Loader<'_>,
    path: &KeyPath,
    route: &RouteConfig,
) -> Option<RouteParts> {
    let handler = loader
        .load(
            &path.key("handler"),
            &route.handler,
            Style::Body(HookPhase::Pre),
        )
        .await;
    let mut hooks = (Vec::new(), Vec::new());
    let mut complete = handler.is_some();
    for (key, list, phase) in [
        ("pre_hooks", &route.pre_hooks, HookPhase::Pre),
        ("post_hooks", &route.post_hooks, HookPhase::Post),
    ] {
        for (j, hook) in list.iter().enumerate() {
            let script_path = path.key(key).index(j).key("script");
            match loader
                .load(&script_path, &hook.script, Style::Body(phase))
                .await
            {
                Some(script) => {
                    let hook = RouteHook {
                        name: hook.name.clone().unwrap_or_else(|| hook.script.clone()),
                        priority: hook.priority,
                        methods: hook.methods.clone(),
                        script,
                        declared: loader.config.declared_at(&script_path),
                    };
                    match phase {
                        HookPhase::Pre => hooks.0.push(hook),
                        HookPhase::Post => hooks.1.push(hook),
                    }
                }
                None => complete = false,
            }
        }
    }
    let handler = handler.filter(|_| complete)?;
    Some(RouteParts {
        path: route.path.clone(),
        methods: route.methods.clone(),
        public: route.public,
        roles: route.roles.clone(),
        handler,
        pre_hooks: hooks.0,
        post_hooks: hooks.1,
        collect_logs: false,
    })
}
