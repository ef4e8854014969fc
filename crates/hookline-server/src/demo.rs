//! The built-in demo — AdminForth's apartments example: users, apartments with their
//! realtors, an audit log written by an `audit` module, a custom route with pre- and
//! post-hooks, and seed rows — as a config and scripts compiled into the binary.
//! `hookline serve` without `--config` serves it; `hookline init` writes it out as a starting
//! point.

use crate::config::Config;
use crate::files::ScriptFiles;

/// The demo's config file.
pub(crate) const CONFIG: &str = include_str!("../demo/hookline.toml");

/// The demo's scripts: `(path, text)`.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "hooks/users/unique_email.js",
        include_str!("../demo/hooks/users/unique_email.js"),
    ),
    (
        "hooks/apartments/set_realtor.js",
        include_str!("../demo/hooks/apartments/set_realtor.js"),
    ),
    (
        "hooks/apartments/own_rows.js",
        include_str!("../demo/hooks/apartments/own_rows.js"),
    ),
    (
        "hooks/apartments/own_record.js",
        include_str!("../demo/hooks/apartments/own_record.js"),
    ),
    (
        "hooks/apartments/own_record_only.js",
        include_str!("../demo/hooks/apartments/own_record_only.js"),
    ),
    (
        "hooks/apartments/dropdown_realtors.js",
        include_str!("../demo/hooks/apartments/dropdown_realtors.js"),
    ),
    (
        "hooks/audit/created.js",
        include_str!("../demo/hooks/audit/created.js"),
    ),
    (
        "hooks/audit/edited.js",
        include_str!("../demo/hooks/audit/edited.js"),
    ),
    (
        "hooks/audit/deleted.js",
        include_str!("../demo/hooks/audit/deleted.js"),
    ),
    (
        "routes/check_country.js",
        include_str!("../demo/routes/check_country.js"),
    ),
    (
        "routes/price_stats.js",
        include_str!("../demo/routes/price_stats.js"),
    ),
    (
        "routes/add_meta.js",
        include_str!("../demo/routes/add_meta.js"),
    ),
    (
        "routes/audit_route.js",
        include_str!("../demo/routes/audit_route.js"),
    ),
];

/// The demo superadmin's login.
pub const DEMO_LOGIN: &str = "admin@hookline.dev";
/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "hookline";

impl Config {
    /// The built-in demo (AdminForth's apartments example), with its scripts built in. Log in
    /// as [`DEMO_LOGIN`] / [`DEMO_PASSWORD`] (superadmin), or as the realtors
    /// `ann@hookline.dev` and `bob@hookline.dev` (same password).
    ///
    /// ```
    /// let demo = hookline_server::Config::demo();
    /// assert!(demo.problems().is_empty());
    /// assert_eq!(demo.auth.users.as_deref(), Some("users"));
    /// ```
    pub fn demo() -> Config {
        match Config::parse(
            CONFIG,
            "hookline.toml (built-in demo)".into(),
            ScriptFiles::Embedded(FILES),
        ) {
            Ok(config) => config,
            Err(error) => unreachable!("the built-in demo config is tested to parse: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_demo_names_is_built_in_and_every_built_in_is_named() {
        let demo = Config::demo();
        let mut named: Vec<&str> = Vec::new();
        for hooks in demo
            .hooks
            .values()
            .chain(demo.modules.iter().flat_map(|m| m.hooks.values()))
        {
            for scripts in hooks.values() {
                named.extend(scripts.0.iter().map(String::as_str));
            }
        }
        for route in &demo.routes {
            named.push(&route.handler);
            named.extend(
                route
                    .pre_hooks
                    .iter()
                    .chain(&route.post_hooks)
                    .map(|h| h.script.as_str()),
            );
        }
        named.extend(demo.global_hooks.iter().map(|h| h.script.as_str()));
        for (path, _) in FILES {
            assert!(named.contains(path), "{path} is built in but not used");
        }
        for path in named {
            assert!(
                FILES.iter().any(|(p, _)| *p == path),
                "{path} is used but not built in"
            );
        }
    }

    #[test]
    fn the_demo_login_is_a_seeded_superadmin() {
        let demo = Config::demo();
        let users = demo.seed.iter().find(|s| s.resource == "users").unwrap();
        let admin = users
            .rows
            .iter()
            .find(|r| r["email"] == DEMO_LOGIN)
            .unwrap();
        assert_eq!(admin["password"], DEMO_PASSWORD);
        assert_eq!(admin["role"], "superadmin");
    }
}
