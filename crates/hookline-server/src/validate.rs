//! Checks of a parsed [`Config`] across its sections — hooks on resources that exist, roles
//! that are declared, routes that collide neither with each other nor with the server's own
//! endpoints ([`BuiltIn`]) — collected as [`Problem`]s, all of them, each with its file, line
//! and key path.
//!
//! Shape errors (an unknown key, a wrong type) stop parsing and are
//! [`ConfigError`](crate::ConfigError)s; scripts that do not compile are found when they are
//! loaded ([`crate::check()`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use hookline_data::{Allowed, ColumnType, ResourceDef};

use crate::app::BuiltIn;
use crate::build::ROOT_MODULE;
use crate::config::{Config, HookScripts, Method};
use crate::locate::{KeyPath, locate};

pub use hookline_script::resources::SCRIPT_ROLE;

/// One thing wrong with a configuration or one of its scripts, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file: the config, or a script.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The key path in the config (`routes[1].path`), if the problem is about a key.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A list of problems, shown one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Config {
    /// Every problem found by looking at the config alone (scripts are not read).
    ///
    /// ```
    /// use hookline_server::Config;
    /// let config = Config::from_toml(r#"
    /// [hooks.flats]
    /// "create.before_save" = "x.js"
    /// "#, "hookline.toml")?;
    /// let problems = config.problems();
    /// assert_eq!(problems[0].to_string(), "hookline.toml:2:8: hooks.flats: hooks for unknown resource `flats`");
    /// # Ok::<(), hookline_server::ConfigError>(())
    /// ```
    pub fn problems(&self) -> Vec<Problem> {
        let mut check = Check {
            config: self,
            problems: Vec::new(),
        };
        check.server();
        check.scripts();
        check.resources();
        check.auth();
        check.access();
        let root = KeyPath::new().key("hooks");
        for (resource, hooks) in &self.hooks {
            check.hook_scripts(&root.key(resource), resource, hooks);
        }
        check.modules();
        check.routes();
        check.seed();
        check.problems
    }

    /// A problem at a key path of this config.
    /// Where `path` is written in the config: its file and line (line 1 if not found).
    pub(crate) fn declared_at(&self, path: &KeyPath) -> Declared {
        let (line, _) = locate(&self.origin.text, path).unwrap_or((1, 1));
        Declared {
            file: self.origin.file.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn problem_at(&self, path: &KeyPath, message: impl Into<String>) -> Problem {
        let (line, column) = locate(&self.origin.text, path).unwrap_or((1, 1));
        Problem {
            file: self.origin.file.clone(),
            line,
            column,
            path: Some(path.to_string()),
            message: message.into(),
        }
    }

    pub(crate) fn resource(&self, name: &str) -> Option<&ResourceDef> {
        self.resources.iter().find(|r| r.name == name)
    }

    fn role_declared(&self, role: &str) -> bool {
        self.auth.roles.iter().any(|r| r == role)
    }
}

/// Where something is declared in the config: what `explain` shows as a script tap's
/// registration site.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    /// The config file.
    pub(crate) file: String,
    /// The line, from 1.
    pub(crate) line: u32,
}

impl Declared {
    /// `tap`, shown as registered here.
    pub(crate) fn on(&self, tap: hookline::Tap) -> hookline::Tap {
        tap.declared_at(self.file.as_str(), self.line)
    }
}

struct Check<'a> {
    config: &'a Config,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn report(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.problems.push(self.config.problem_at(path, message));
    }

    fn server(&mut self) {
        let server = &self.config.server;
        let path = KeyPath::new().key("server");
        let db = &server.database;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            self.report(
                &path.key("database"),
                format!("unsupported database URL `{db}`; expected `sqlite://FILE`, `sqlite::memory:` or `postgres://…`"),
            );
        }
        if server.body_limit_bytes == 0 {
            self.report(&path.key("body_limit_bytes"), "must be at least 1");
        }
        if server.request_timeout_ms == 0 {
            self.report(&path.key("request_timeout_ms"), "must be at least 1");
        }
        let origins = &server.cors_origins;
        for (i, origin) in origins.iter().enumerate() {
            let at = path.key("cors_origins").index(i);
            if origin == "*" {
                if origins.len() > 1 {
                    self.report(&at, "`*` allows every origin: list it alone");
                }
            } else if !is_origin(origin) {
                self.report(
                    &at,
                    format!("`{origin}` is not an origin; expected `https://host` or `http://host:port`, without a path"),
                );
            }
        }
    }

    fn scripts(&mut self) {
        let scripts = &self.config.scripts;
        let path = KeyPath::new().key("scripts");
        if scripts.workers == Some(0) {
            self.report(&path.key("workers"), "must be at least 1");
        }
        if scripts.time_limit_ms == 0 {
            self.report(&path.key("time_limit_ms"), "must be at least 1");
        }
        if scripts.memory_limit_mib == 0 {
            self.report(&path.key("memory_limit_mib"), "must be at least 1");
        }
    }

    fn resources(&mut self) {
        let resources = &self.config.resources;
        let mut seen = HashSet::new();
        for (i, def) in resources.iter().enumerate() {
            let path = KeyPath::new().key("resources").index(i);
            if !seen.insert(def.name.as_str()) {
                self.report(
                    &path.key("name"),
                    format!("resource `{}` is defined twice", def.name),
                );
            }
            if let Err(error) = def.validate() {
                self.report(&path, error.to_string());
            }
            if def.table_name().starts_with(SERVER_TABLES) {
                let key = if def.table.is_some() { "table" } else { "name" };
                self.report(
                    &path.key(key),
                    format!(
                        "table `{}`: names starting with `{SERVER_TABLES}` are reserved for the server's own tables (set `table` to another name)",
                        def.table_name()
                    ),
                );
            }
            for (j, column) in def.columns.iter().enumerate() {
                let Some(foreign) = &column.foreign else {
                    continue;
                };
                if !foreign.resource.is_empty() && self.config.resource(&foreign.resource).is_none()
                {
                    self.report(
                        &path.key("columns").index(j).key("foreign").key("resource"),
                        format!(
                            "column `{}` references unknown resource `{}`",
                            column.name, foreign.resource
                        ),
                    );
                }
            }
        }
    }

    fn auth(&mut self) {
        let auth = &self.config.auth;
        let path = KeyPath::new().key("auth");
        let mut declared = HashSet::new();
        for (i, role) in auth.roles.iter().enumerate() {
            if role == SCRIPT_ROLE {
                self.report(
                    &path.key("roles").index(i),
                    format!("role `{SCRIPT_ROLE}` is reserved for the data calls of scripts"),
                );
            } else if role.trim().is_empty() {
                self.report(&path.key("roles").index(i), "a role name cannot be empty");
            } else if !declared.insert(role) {
                self.report(
                    &path.key("roles").index(i),
                    format!("role `{role}` is declared twice"),
                );
            }
        }
        self.roles(&path.key("admin_roles"), &auth.admin_roles);
        let Some(users) = &auth.users else {
            return;
        };
        let Some(def) = self.config.resource(users) else {
            self.report(&path.key("users"), format!("unknown resource `{users}`"));
            return;
        };
        let column_check = |name: &str, types: &[ColumnType]| match def.get_column(name) {
            None => Some(format!("resource `{users}` has no column `{name}`")),
            Some(c) if !types.contains(&c.kind) => Some(format!(
                "column `{users}.{name}` is {}, expected {}",
                c.kind,
                types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            Some(_) => None,
        };
        if let Some(message) = column_check(&auth.login_column, &[ColumnType::Text]) {
            self.report(&path.key("login_column"), message);
        }
        match column_check(&auth.password_column, &[ColumnType::Text]) {
            Some(message) => self.report(&path.key("password_column"), message),
            None => {
                if def
                    .get_column(&auth.password_column)
                    .is_some_and(|c| !c.backend_only)
                {
                    self.report(
                        &path.key("password_column"),
                        format!(
                            "column `{users}.{}` holds password hashes and must be `backend_only = true`",
                            auth.password_column
                        ),
                    );
                }
            }
        }
        if let Some(roles) = &auth.roles_column
            && let Some(message) = column_check(roles, &[ColumnType::Text, ColumnType::Json])
        {
            self.report(&path.key("roles_column"), message);
        }
    }

    fn access(&mut self) {
        let root = KeyPath::new().key("access");
        for (resource, rules) in &self.config.access {
            let path = root.key(resource);
            let Some(def) = self.config.resource(resource) else {
                self.report(
                    &path,
                    format!("access rules for unknown resource `{resource}`"),
                );
                continue;
            };
            for (action, roles) in rules.iter() {
                let path = path.key(action.as_str());
                if matches!(def.allowed_actions.get(action), Allowed::Never) {
                    self.report(
                        &path,
                        format!(
                            "`{resource}` does not allow `{action}` at all (`allowed_actions.{action} = false`); remove one of the two rules"
                        ),
                    );
                }
                self.roles(&path, roles);
            }
        }
    }

    fn roles(&mut self, path: &KeyPath, roles: &[String]) {
        for (i, role) in roles.iter().enumerate() {
            if role == SCRIPT_ROLE {
                continue;
            }
            if !self.config.role_declared(role) {
                self.report(
                    &path.index(i),
                    format!("unknown role `{role}`; declare it in `[auth] roles`"),
                );
            }
        }
    }

    fn hook_scripts(&mut self, path: &KeyPath, resource: &str, hooks: &HookScripts) {
        let Some(def) = self.config.resource(resource) else {
            self.report(path, format!("hooks for unknown resource `{resource}`"));
            return;
        };
        for (point, scripts) in hooks {
            let path = path.key(point.to_string());
            if let Some(column) = point.dropdown_column() {
                match def.get_column(column) {
                    None => self.report(&path, format!("resource `{resource}` has no column `{column}`")),
                    Some(c) if c.foreign.is_none() => self.report(
                        &path,
                        format!("column `{resource}.{column}` is not a foreign key, so it has no dropdown list"),
                    ),
                    Some(_) => {}
                }
            }
            if scripts.0.is_empty() {
                self.report(&path, "names no script");
            }
        }
    }

    fn modules(&mut self) {
        let names: Vec<&str> = self
            .config
            .modules
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        for (i, module) in self.config.modules.iter().enumerate() {
            let path = KeyPath::new().key("modules").index(i);
            if module.name.trim().is_empty() {
                self.report(&path.key("name"), "a module needs a name");
            }
            if module.name == ROOT_MODULE {
                self.report(
                    &path.key("name"),
                    format!("module name `{ROOT_MODULE}` is taken by the `[hooks]` table, the root module every other module runs after"),
                );
            }
            if names[..i].contains(&module.name.as_str()) {
                self.report(
                    &path.key("name"),
                    format!("module `{}` is defined twice", module.name),
                );
            }
            for (j, dependency) in module.depends_on.iter().enumerate() {
                if dependency == &module.name {
                    self.report(
                        &path.key("depends_on").index(j),
                        "a module cannot depend on itself",
                    );
                } else if dependency != ROOT_MODULE && !names.contains(&dependency.as_str()) {
                    self.report(
                        &path.key("depends_on").index(j),
                        format!("unknown module `{dependency}`"),
                    );
                }
            }
            for (resource, hooks) in &module.hooks {
                self.hook_scripts(&path.key("hooks").key(resource), resource, hooks);
            }
        }
    }

    fn routes(&mut self) {
        let mut seen: BTreeMap<(String, Method), usize> = BTreeMap::new();
        let mut spelled: BTreeMap<String, usize> = BTreeMap::new();
        let global_names = self.global_hooks();
        for (i, route) in self.config.routes.iter().enumerate() {
            let path = KeyPath::new().key("routes").index(i);
            match route_shape(&route.path) {
                Err(message) => self.report(&path.key("path"), message),
                Ok(shape) => {
                    let first = *spelled.entry(shape.clone()).or_insert(i);
                    let other = &self.config.routes[first].path;
                    if other != &route.path {
                        self.report(
                            &path.key("path"),
                            format!(
                                "`{}` and `{other}` (routes[{first}]) differ only in parameter names; name the parameters the same",
                                route.path
                            ),
                        );
                    }
                    if route.methods.is_empty() {
                        self.report(&path.key("methods"), "a route needs at least one method");
                    }
                    for method in &route.methods {
                        if let Some(first) = seen.insert((shape.clone(), *method), i) {
                            self.report(
                                &path.key("path"),
                                format!(
                                    "{method} {} is already served by routes[{first}]",
                                    route.path
                                ),
                            );
                        }
                    }
                }
            }
            self.roles(&path.key("roles"), &route.roles);
            let mut names = global_names.clone();
            for (key, hooks) in [
                ("pre_hooks", &route.pre_hooks),
                ("post_hooks", &route.post_hooks),
            ] {
                for (j, hook) in hooks.iter().enumerate() {
                    let path = path.key(key).index(j);
                    let name = hook.name.clone().unwrap_or_else(|| hook.script.clone());
                    if !names.insert((key, name.clone())) {
                        self.report(
                            &path,
                            format!(
                                "two {} of this route are named `{name}`; give one a `name`",
                                key.replace('_', "-")
                            ),
                        );
                    }
                    for (k, method) in hook.methods.iter().enumerate() {
                        if !route.methods.contains(method) {
                            self.report(
                                &path.key("methods").index(k),
                                format!("the route does not answer {method}"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Checks the global hooks; returns their tap names, per phase.
    fn global_hooks(&mut self) -> BTreeSet<(&'static str, String)> {
        let mut names = BTreeSet::new();
        for (i, hook) in self.config.global_hooks.iter().enumerate() {
            let key = match hook.phase {
                hookline_script::HookPhase::Pre => "pre_hooks",
                hookline_script::HookPhase::Post => "post_hooks",
            };
            let name = hook.name.clone().unwrap_or_else(|| hook.script.clone());
            if !names.insert((key, name.clone())) {
                self.report(
                    &KeyPath::new().key("global_hooks").index(i),
                    format!(
                        "two global {} are named `{name}`; give one a `name`",
                        key.replace('_', "-")
                    ),
                );
            }
        }
        names
    }

    fn seed(&mut self) {
        let users = self.config.auth.users.as_deref();
        for (i, seed) in self.config.seed.iter().enumerate() {
            let path = KeyPath::new().key("seed").index(i);
            if self.config.resource(&seed.resource).is_none() {
                self.report(
                    &path.key("resource"),
                    format!("unknown resource `{}`", seed.resource),
                );
                continue;
            }
            let is_users = users == Some(seed.resource.as_str());
            if is_users && seed.actor.is_some() {
                self.report(
                    &path.key("actor"),
                    "users are seeded without hooks, so they have no actor",
                );
            }
            if seed.actor.is_some() && users.is_none() {
                self.report(&path.key("actor"), "an actor needs `[auth] users`");
            }
            for (j, row) in seed.rows.iter().enumerate() {
                if row.contains_key("password") && !is_users {
                    self.report(
                        &path.key("rows").index(j).key("password"),
                        "only rows of the users resource (`[auth] users`) may carry a password",
                    );
                }
            }
        }
    }
}

/// `true` for an origin as browsers send it: `http` or `https`, a host (a name, an IPv4
/// address or a bracketed IPv6 one), an optional port, no path (`https://admin.example.com`,
/// `http://localhost:5173`, `http://[::1]:8080`).
fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, rest)) => match rest.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = if authority.starts_with('[') {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    };
    host_ok && port.is_none_or(|port| port.parse::<u16>().is_ok())
}

/// Checks a route path and returns its shape: the path with every parameter written `{}`, so
/// that `/a/{x}` and `/a/{y}` compare equal (the router cannot tell them apart).
pub(crate) fn route_shape(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("route path `{path}` must start with `/`"));
    };
    if let Some(built_in) = BuiltIn::ALL.into_iter().find(|b| {
        path.strip_prefix(b.path())
            .is_some_and(|below| below.is_empty() || below.starts_with('/'))
    }) {
        let reserved: Vec<&str> = BuiltIn::ALL.iter().map(|b| b.path()).collect();
        return Err(format!(
            "route path `{path}` is inside `{}`, which hookline serves itself ({}); reserved: {}",
            built_in.path(),
            built_in.serves(),
            reserved.join(", ")
        ));
    }
    let mut shape = String::new();
    let mut params = HashSet::new();
    for segment in rest.split('/') {
        shape.push('/');
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "route path `{path}`: parameter `{{{name}}}` must be a name of letters, digits and `_`"
                ));
            }
            if !params.insert(name) {
                return Err(format!(
                    "route path `{path}`: parameter `{{{name}}}` appears twice"
                ));
            }
            shape.push_str("{}");
        } else if segment.is_empty() && rest.is_empty() {
            // The root path `/`.
        } else if !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        {
            shape.push_str(segment);
        } else {
            return Err(format!(
                "route path `{path}`: segment `{segment}` must be letters, digits, `-`, `.`, `_`, `~`, or a `{{parameter}}`"
            ));
        }
    }
    Ok(shape)
}

/// The prefix of the server's own tables in the database (`hookline_meta`, …): no resource's
/// table may start with it.
pub(crate) const SERVER_TABLES: &str = "hookline_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_tables_prefix_is_reserved() {
        assert!(crate::meta::TABLE.starts_with(SERVER_TABLES));
        let problems = messages(
            "[[resources]]\nname = \"hookline_meta\"\ncolumns = [{ name = \"id\", type = \"integer\", primary_key = true }]\n\n[[resources]]\nname = \"meta\"\ntable = \"hookline_x\"\ncolumns = [{ name = \"id\", type = \"integer\", primary_key = true }]\n",
        )
        .join("\n");
        assert!(problems.contains("resources[0].name"), "{problems}");
        assert!(
            problems
                .contains("table `hookline_meta`: names starting with `hookline_` are reserved"),
            "{problems}"
        );
        assert!(problems.contains("resources[1].table"), "{problems}");
    }

    fn messages(toml: &str) -> Vec<String> {
        Config::from_toml(toml, "t.toml")
            .unwrap()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn cors_origins_are_origins_and_a_star_stands_alone() {
        let problems = messages(
            "[server]\ncors_origins = [\"https://admin.example.com\", \"http://localhost:5173\", \"*\", \"admin.example.com\", \"https://a.example/path\", \"http://h:99999\"]\n",
        );
        let joined = problems.join("\n");
        assert_eq!(problems.len(), 4, "{joined}");
        for expected in [
            "server.cors_origins[2]: `*` allows every origin: list it alone",
            "server.cors_origins[3]: `admin.example.com` is not an origin",
            "server.cors_origins[4]: `https://a.example/path` is not an origin",
            "server.cors_origins[5]: `http://h:99999` is not an origin",
        ] {
            assert!(joined.contains(expected), "{expected} in {joined}");
        }
        assert!(messages("[server]\ncors_origins = [\"*\"]\n").is_empty());
        for origin in ["http://[::1]", "http://[::1]:8080", "http://127.0.0.1:3000"] {
            assert!(is_origin(origin), "{origin}");
        }
        for origin in [
            "http://[::1",
            "http://[nope]",
            "http://[::1]x",
            "https://",
            "ftp://a",
        ] {
            assert!(!is_origin(origin), "{origin}");
        }
    }

    #[test]
    fn routes_that_the_router_cannot_tell_apart_are_refused() {
        let problems = messages(
            "[[routes]]\npath = \"/a/{x}\"\nhandler = \"h.js\"\n\n[[routes]]\npath = \"/a/{y}\"\nmethods = [\"POST\"]\nhandler = \"h.js\"\n\n[[routes]]\npath = \"/a/{x}\"\nhandler = \"h.js\"\n",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("t.toml:6:1: routes[1].path: `/a/{y}` and `/a/{x}` (routes[0]) differ only in parameter names"), "{problems:?}");
        assert!(
            problems[1].starts_with(
                "t.toml:11:1: routes[2].path: GET /a/{x} is already served by routes[0]"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn auth_columns_must_exist_and_hashes_must_be_backend_only() {
        let problems = messages(
            "[auth]\nusers = \"people\"\nroles = [\"script\", \"a\", \"a\"]\n\n[[resources]]\nname = \"people\"\ncolumns = [\n  { name = \"id\", type = \"integer\", primary_key = true },\n  { name = \"email\", type = \"integer\" },\n  { name = \"password_hash\", type = \"text\" },\n]\n",
        );
        let joined = problems.join("\n");
        for expected in [
            "auth.roles[0]: role `script` is reserved",
            "auth.roles[2]: role `a` is declared twice",
            "auth.login_column: column `people.email` is integer, expected text",
            "auth.password_column: column `people.password_hash` holds password hashes and must be `backend_only = true`",
            "auth.roles_column: resource `people` has no column `role`",
        ] {
            assert!(
                joined.contains(expected),
                "`{expected}` missing from:\n{joined}"
            );
        }
        assert_eq!(problems.len(), 5, "{joined}");
    }

    #[test]
    fn modules_and_seeds_are_checked_against_each_other() {
        let problems = messages(
            "[[resources]]\nname = \"r\"\ncolumns = [{ name = \"id\", type = \"integer\", primary_key = true }]\n\n[[modules]]\nname = \"m\"\ndepends_on = [\"m\", \"ghost\"]\n\n[[modules]]\nname = \"m\"\n\n[[seed]]\nresource = \"r\"\nactor = \"someone\"\nrows = [{ id = 1, password = \"x\" }]\n",
        );
        let joined = problems.join("\n");
        for expected in [
            "modules[0].depends_on[0]: a module cannot depend on itself",
            "modules[0].depends_on[1]: unknown module `ghost`",
            "modules[1].name: module `m` is defined twice",
            "seed[0].actor: an actor needs `[auth] users`",
            "seed[0].rows[0].password: only rows of the users resource",
        ] {
            assert!(
                joined.contains(expected),
                "`{expected}` missing from:\n{joined}"
            );
        }
    }

    #[test]
    fn the_root_module_name_is_taken_by_hooks_and_may_be_depended_on() {
        let problems = messages(
            "[[modules]]\nname = \"hooks\"\n\n[[modules]]\nname = \"late\"\ndepends_on = [\"hooks\"]\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .contains("modules[0].name: module name `hooks` is taken by the `[hooks]` table"),
            "{problems:?}"
        );
    }

    #[test]
    fn route_shapes_normalize_parameters_and_refuse_bad_paths() {
        assert_eq!(route_shape("/a/{x}/b").unwrap(), "/a/{}/b");
        assert_eq!(route_shape("/a/{y}/b").unwrap(), "/a/{}/b");
        assert_eq!(route_shape("/").unwrap(), "/");
        for bad in [
            "a",
            "/a//b",
            "/a/{1x}",
            "/a/{x}/{x}",
            "/a b",
            "/api/x",
            "/auth",
            "/a/*rest",
            "/docs/x",
        ] {
            assert!(route_shape(bad).is_err(), "{bad}");
        }
        assert!(route_shape("/apix").is_ok());
    }
}
