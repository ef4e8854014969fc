//! The configuration file, `hookline.toml`: [`Config`] and the types of its sections, and
//! [`Config::from_toml`] / [`Config::load`], whose errors name the key path and the line.
//!
//! Resources are the data crate's own serde form ([`ResourceDef`]); everything around them —
//! role-based access, hook scripts, modules, routes, seed rows, server and auth settings — is
//! described here. Checks that need more than one section (a hook on a resource that does not
//! exist, a route that collides with a built-in path) live in [`crate::validate`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hookline_data::{HookPoint, ResourceDef};
use hookline_script::HookPhase;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::files::ScriptFiles;
use crate::locate::line_of;

/// A whole configuration: server settings, resources, access rules, hooks, modules, routes
/// and seed rows.
///
/// ```
/// use hookline_server::Config;
///
/// let config = Config::from_toml(r#"
///     [[resources]]
///     name = "notes"
///     columns = [
///         { name = "id", type = "integer", primary_key = true },
///         { name = "text", type = "text", required = true },
///     ]
///
///     [hooks.notes]
///     "create.before_save" = "hooks/trim.js"
/// "#, "hookline.toml")?;
/// assert_eq!(config.resources[0].name, "notes");
///
/// let err = Config::from_toml("[server]\nport = 80\n", "hookline.toml").unwrap_err();
/// assert_eq!(err.to_string(), "hookline.toml:2:1: server.port: unknown field `port`, expected one of `addr`, `database`, `body_limit_bytes`, `request_timeout_ms`, `debug`, `metrics_token_env`, `cors_origins`");
/// # Ok::<(), hookline_server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address, database, limits, debug mode.
    #[serde(default)]
    pub server: ServerConfig,
    /// Who can log in, and how tokens are signed.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The script worker pool and its sandbox limits.
    #[serde(default)]
    pub scripts: ScriptsConfig,
    /// The resources, in the data crate's form (name, table, columns, `allowed_actions`, limits).
    #[serde(default)]
    pub resources: Vec<ResourceDef>,
    /// Role-based access per resource: `[access.apartments] delete = ["superadmin"]`.
    #[serde(default)]
    pub access: BTreeMap<String, AccessRules>,
    /// Hook scripts per resource: `[hooks.apartments] "create.before_save" = "hooks/x.js"`.
    #[serde(default)]
    pub hooks: BTreeMap<String, HookScripts>,
    /// Modules (plugins): named groups of hook scripts that run after the modules they depend on.
    #[serde(default)]
    pub modules: Vec<ModuleConfig>,
    /// Custom routes with a handler script and pre/post hooks (the Enfyra pipeline).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Pre/post hooks that run on every custom route.
    #[serde(default)]
    pub global_hooks: Vec<GlobalHookConfig>,
    /// Rows inserted into empty resources at start-up.
    #[serde(default)]
    pub seed: Vec<SeedConfig>,
    /// Where the config came from, and where its scripts are read.
    #[serde(skip)]
    pub(crate) origin: Origin,
}

/// Where a config came from: its file name (for messages), its text (for line numbers) and
/// where its script paths resolve.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub(crate) file: String,
    pub(crate) text: String,
    pub(crate) files: ScriptFiles,
}

/// `[server]`: where to listen, which database, request limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address to listen on (`127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// The database URL: `sqlite://hookline.db` (created if missing) or `postgres://…`.
    pub database: String,
    /// The largest request body accepted, in bytes (1 MiB); larger bodies get 413.
    pub body_limit_bytes: usize,
    /// How long a request may take, in milliseconds (30 s); slower ones get 503.
    pub request_timeout_ms: u64,
    /// Debug mode: route responses carry the scripts' `@LOGS`, error responses the details of
    /// internal errors. Never in production.
    pub debug: bool,
    /// The environment variable holding the token `/metrics` requires
    /// (`HOOKLINE_METRICS_TOKEN`). If it is set, scrapers send `Authorization: Bearer <token>`
    /// and other requests get 401; if it is unset, `/metrics` is open, as Prometheus endpoints
    /// usually are, and the port should not be public.
    pub metrics_token_env: String,
    /// The origins browsers may call the API from (`["https://admin.example.com"]`), answered
    /// with CORS headers; `["*"]` allows every origin. Empty (the default): no CORS headers,
    /// so browsers let only pages of the server's own origin read its answers.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite://hookline.db".into(),
            body_limit_bytes: 1 << 20,
            request_timeout_ms: 30_000,
            debug: false,
            metrics_token_env: "HOOKLINE_METRICS_TOKEN".into(),
            cors_origins: Vec::new(),
        }
    }
}

/// `[auth]`: the users resource and its columns, the roles that exist, and the token settings.
///
/// Without `users`, authentication is off and every request runs as an anonymous actor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The resource holding users; `None` turns authentication off.
    pub users: Option<String>,
    /// The column users log in with (`email`).
    pub login_column: String,
    /// The column holding the argon2 password hash (`password_hash`); it must be backend-only.
    pub password_column: String,
    /// The column holding the user's role (text) or roles (json array of text); `None` for
    /// users without roles.
    pub roles_column: Option<String>,
    /// The roles that exist. Access rules and tokens may only name these.
    pub roles: Vec<String>,
    /// Roles that may set any user's password (`PUT /auth/password` with a `user_id`).
    pub admin_roles: Vec<String>,
    /// The environment variable holding the token signing secret (at least 32 bytes). If it is
    /// unset, the secret stored in the database (table `hookline_meta`) is used, made by the
    /// first instance that starts without one: every instance on the database and every
    /// restart then accept the same tokens. When it is set, it is used and nothing is stored.
    pub secret_env: String,
    /// How long a token is valid, in seconds (24 h).
    pub token_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            users: None,
            login_column: "email".into(),
            password_column: "password_hash".into(),
            roles_column: Some("role".into()),
            roles: Vec::new(),
            admin_roles: Vec::new(),
            secret_env: "HOOKLINE_SECRET".into(),
            token_ttl_secs: 24 * 60 * 60,
        }
    }
}

/// `[scripts]`: the worker pool that runs hook scripts, and the sandbox limits per script run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptsConfig {
    /// Worker threads (the number of cores if unset).
    pub workers: Option<usize>,
    /// Wall-clock time one script run may take, in milliseconds (1 s).
    pub time_limit_ms: u64,
    /// The JavaScript heap of each runtime, in MiB (64).
    pub memory_limit_mib: usize,
    /// How long a script call may run on the request's own thread before it moves to a worker,
    /// in microseconds (1000); `0` runs every call on the workers. Short calls are cheaper on
    /// the request's thread; see `hookline_script::PoolConfig`.
    pub inline_budget_us: u64,
}

impl Default for ScriptsConfig {
    fn default() -> Self {
        ScriptsConfig {
            workers: None,
            time_limit_ms: 1_000,
            memory_limit_mib: 64,
            inline_budget_us: 1_000,
        }
    }
}

/// `[access.<resource>]`: the roles allowed to perform each action. An action left out keeps
/// the resource's own `allowed_actions` rule; an action listed here needs one of the roles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRules {
    /// Roles that may list (and count, aggregate, read dropdowns).
    pub list: Option<Vec<String>>,
    /// Roles that may show one record.
    pub show: Option<Vec<String>>,
    /// Roles that may create.
    pub create: Option<Vec<String>>,
    /// Roles that may edit.
    pub edit: Option<Vec<String>>,
    /// Roles that may delete.
    pub delete: Option<Vec<String>>,
}

impl AccessRules {
    /// The rules that are set, by action name.
    pub fn iter(&self) -> impl Iterator<Item = (hookline_data::Operation, &[String])> {
        use hookline_data::Operation;
        [
            (Operation::List, &self.list),
            (Operation::Show, &self.show),
            (Operation::Create, &self.create),
            (Operation::Edit, &self.edit),
            (Operation::Delete, &self.delete),
        ]
        .into_iter()
        .filter_map(|(action, roles)| roles.as_deref().map(|r| (action, r)))
    }
}

/// The hook scripts of one resource: hook point → script files, run in order as one tap.
pub type HookScripts = BTreeMap<HookPoint, ScriptList>;

/// One script file, or several run in order: `"a.js"` or `["a.js", "b.js"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptList(pub Vec<String>);

impl<'de> Deserialize<'de> for ScriptList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ScriptList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a script path or an array of script paths")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScriptList, E> {
                Ok(ScriptList(vec![v.to_owned()]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ScriptList, A::Error> {
                let mut paths = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    paths.push(path);
                }
                Ok(ScriptList(paths))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// `[[modules]]`: a plugin — a name, the modules it runs after, and hook scripts per resource.
/// Its taps carry the module's name in errors and `explain`, and run after the taps of the
/// modules it depends on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// The module's name.
    pub name: String,
    /// Modules whose taps run before this module's.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Hook scripts per resource, as in `[hooks.<resource>]`.
    #[serde(default)]
    pub hooks: BTreeMap<String, HookScripts>,
}

/// An HTTP method a custom route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name, `"GET"`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Every method.
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[routes]]`: a custom endpoint. Pre-hooks run first (they may change `@BODY` and
/// `@QUERY`, fill `@SHARE`, return a value to answer early, or throw), then the handler, then
/// the post-hooks — always, on success and on error, each isolated from the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path, with `{name}` parameters: `/apartments/{id}/summary`.
    pub path: String,
    /// The methods it answers (`["GET"]`).
    #[serde(default = "default_methods")]
    pub methods: Vec<Method>,
    /// The handler script (body style): its return value is the response.
    pub handler: String,
    /// Hooks before the handler.
    #[serde(default)]
    pub pre_hooks: Vec<RouteHookConfig>,
    /// Hooks after the handler.
    #[serde(default)]
    pub post_hooks: Vec<RouteHookConfig>,
    /// Served without a token (the actor is anonymous unless a token is sent).
    #[serde(default)]
    pub public: bool,
    /// Roles allowed to call the route (any logged-in user if empty).
    #[serde(default)]
    pub roles: Vec<String>,
}

fn default_methods() -> Vec<Method> {
    vec![Method::Get]
}

/// A pre- or post-hook of a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteHookConfig {
    /// The script (body style).
    pub script: String,
    /// The tap's name in errors and `explain` (the script path if unset).
    #[serde(default)]
    pub name: Option<String>,
    /// Lower runs first; on ties, global hooks run first, then in file order.
    #[serde(default)]
    pub priority: i32,
    /// Only for these methods (all of the route's methods if empty).
    #[serde(default)]
    pub methods: Vec<Method>,
}

/// `[[global_hooks]]`: a pre- or post-hook of every custom route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalHookConfig {
    /// Before (`pre`) or after (`post`) the handler.
    pub phase: HookPhase,
    /// The script (body style).
    pub script: String,
    /// The tap's name in errors and `explain` (the script path if unset).
    #[serde(default)]
    pub name: Option<String>,
    /// Lower runs first; on ties, global hooks run before a route's own.
    #[serde(default)]
    pub priority: i32,
    /// Only for these methods (all methods if empty).
    #[serde(default)]
    pub methods: Vec<Method>,
}

/// `[[seed]]`: rows inserted into a resource when its table is empty at start-up.
///
/// Rows of the users resource may carry a plain `password`, stored as an argon2 hash. Rows of
/// other resources are created through the resource's create flow — hooks included — as the
/// seeded user named by `actor` (its login), or as an anonymous actor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConfig {
    /// The resource.
    pub resource: String,
    /// The login of the user the rows are created as.
    #[serde(default)]
    pub actor: Option<String>,
    /// The rows.
    pub rows: Vec<Map<String, Value>>,
}

/// A configuration that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{}`: {source}", .path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the shape of a config.
    #[error("{file}:{line}:{column}: {}{message}", if .path.is_empty() { String::new() } else { format!("{}: ", .path) })]
    Parse {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// The column, from 1.
        column: usize,
        /// The key path (`resources[1].columns[0].type`), empty for syntax errors.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Parses a config from TOML text; `file` names it in errors. Script paths resolve against
    /// the current directory (use [`Config::load`] to resolve them against the file's).
    pub fn from_toml(text: &str, file: impl Into<String>) -> Result<Config, ConfigError> {
        Self::parse(text, file.into(), ScriptFiles::Dir(PathBuf::from(".")))
    }

    /// Reads and parses a config file. Script paths resolve against the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse(
            &text,
            path.display().to_string(),
            ScriptFiles::Dir(dir.to_path_buf()),
        )
    }

    pub(crate) fn parse(
        text: &str,
        file: String,
        files: ScriptFiles,
    ) -> Result<Config, ConfigError> {
        let parse_error = |span: Option<std::ops::Range<usize>>, path: String, message: &str| {
            let (line, column) = span.map_or((1, 1), |s| line_of(text, s.start));
            ConfigError::Parse {
                file: file.clone(),
                line,
                column,
                path,
                message: message.trim_end().to_owned(),
            }
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| parse_error(e.span(), String::new(), e.message()))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner();
            parse_error(inner.span(), path, inner.message())
        })?;
        config.origin = Origin {
            file,
            text: text.to_owned(),
            files,
        };
        Ok(config)
    }

    /// The file the config was read from (its name in messages).
    pub fn file(&self) -> &str {
        &self.origin.file
    }

    /// Sets where script paths resolve: a directory.
    pub fn with_script_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.origin.files = ScriptFiles::Dir(dir.into());
        self
    }
}
