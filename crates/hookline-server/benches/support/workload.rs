//! The load bench's workload, shared by `benches/load.rs` (wrk against servers) and
//! `examples/list_oneshot.rs` (the list endpoint in process, for instruction counts): the
//! schema, the seeded rows, the login, the scripts and the hook variants, written as the
//! config each server is built from.

#![allow(dead_code)] // Each includer uses part of it.

use std::path::Path;

/// Rows seeded into `items` (the list asks for the first 20).
pub const SEEDED: usize = 24;
pub const LIST_PATH: &str = "/api/items?limit=20&sort=id";
pub const LOGIN: &str = "bench@hookline.dev";
pub const PASSWORD: &str = "bench-password";

/// The function-style scripts: the same work as the native taps of [`native_taps`].
pub const SCRIPTS: [(&str, &str); 6] = [
    (
        "list/per_m2.js",
        "export default async ({ response }) => {\n  for (const item of response) {\n    item.price_per_m2 = item.square_meters > 0 ? item.price / item.square_meters : null;\n  }\n  return { ok: true };\n};\n",
    ),
    (
        "list/country.js",
        "export default async ({ response }) => {\n  for (const item of response) {\n    if (typeof item.country === \"string\") item.country = item.country.toUpperCase();\n  }\n  return { ok: true };\n};\n",
    ),
    (
        "list/listed.js",
        "export default async ({ response, user }) => {\n  if (user.role !== \"superadmin\" && response.some((item) => item.listed === false)) {\n    return { ok: false, error: \"unlisted items are for superadmins\", status: 403 };\n  }\n  return { ok: true };\n};\n",
    ),
    (
        "create/trim.js",
        "export default async ({ record }) => {\n  if (typeof record.title === \"string\") record.title = record.title.trim();\n  return { ok: true };\n};\n",
    ),
    (
        "create/price.js",
        "export default async ({ record }) => {\n  if (!(record.price > 0)) return { ok: false, error: \"the price must be positive\" };\n  return { ok: true };\n};\n",
    ),
    (
        "create/owner.js",
        "export default async ({ record, user }) => {\n  record.owner_id = user.id;\n  return { ok: true };\n};\n",
    ),
];

/// Which hooks a server has on `items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    None,
    NoopTaps,
    Native,
    Script,
    ScriptModules,
}

impl Variant {
    pub const ALL: [Variant; 5] = [
        Variant::None,
        Variant::NoopTaps,
        Variant::Native,
        Variant::Script,
        Variant::ScriptModules,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Variant::None => "(a) no hooks",
            Variant::NoopTaps => "(a') 3 native no-op taps",
            Variant::Native => "(b) 3 native taps",
            Variant::Script => "(c) 3 script hooks",
            Variant::ScriptModules => "(d) 3 script hooks as 3 modules",
        }
    }

    /// The variant whose [`dir`](Variant::dir) name is `name`.
    pub fn named(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.dir() == name)
    }

    /// A short name, also the server's database directory.
    pub fn dir(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::NoopTaps => "noop",
            Variant::Native => "native",
            Variant::Script => "script",
            Variant::ScriptModules => "script_modules",
        }
    }

    /// The hook part of the config.
    pub fn hooks_toml(self) -> String {
        let list = |i: usize| format!("\"scripts/{}\"", SCRIPTS[i].0);
        match self {
            Variant::None | Variant::NoopTaps | Variant::Native => String::new(),
            Variant::Script => format!(
                "[hooks.items]\n\"list.after_datasource_response\" = [{}, {}, {}]\n\"create.before_save\" = [{}, {}, {}]\n",
                list(0),
                list(1),
                list(2),
                list(3),
                list(4),
                list(5)
            ),
            Variant::ScriptModules => (0..3)
                .map(|i| {
                    format!(
                        "[[modules]]\nname = \"bench{i}\"\n[modules.hooks.items]\n\"list.after_datasource_response\" = {}\n\"create.before_save\" = {}\n\n",
                        list(i),
                        list(i + 3)
                    )
                })
                .collect(),
        }
    }
}

/// The whole config of one server, its database in `dir`.
pub fn config_toml(variant: Variant, dir: &Path) -> String {
    let database = format!("sqlite://{}", dir.join("bench.db").display());
    let rows: Vec<String> = (0..SEEDED)
        .map(|i| {
            format!(
                "    {{ title = \"Flat {i}\", price = {}.0, square_meters = {}.5, country = \"{}\", listed = {} }},",
                800 + 100 * i,
                30 + 3 * i,
                ["ua", "pl", "de"][i % 3],
                i % 5 != 4
            )
        })
        .collect();
    format!(
        r#"[server]
database = "{database}"

[auth]
users = "users"
login_column = "email"
password_column = "password_hash"
roles_column = "role"
roles = ["superadmin"]
admin_roles = ["superadmin"]

[[resources]]
name = "users"
columns = [
    {{ name = "id", type = "integer", primary_key = true }},
    {{ name = "email", type = "text", required = true }},
    {{ name = "password_hash", type = "text", backend_only = true }},
    {{ name = "role", type = "text", required = true, default = "superadmin" }},
]

[[resources]]
name = "items"
columns = [
    {{ name = "id", type = "integer", primary_key = true }},
    {{ name = "title", type = "text", required = true }},
    {{ name = "price", type = "float", required = true }},
    {{ name = "square_meters", type = "float" }},
    {{ name = "country", type = "text" }},
    {{ name = "listed", type = "boolean", default = true }},
    {{ name = "owner_id", type = "integer" }},
]

{hooks}
[[seed]]
resource = "users"
rows = [{{ email = "{LOGIN}", password = "{PASSWORD}", role = "superadmin" }}]

[[seed]]
resource = "items"
actor = "{LOGIN}"
rows = [
{rows}
]
"#,
        hooks = variant.hooks_toml(),
        rows = rows.join("\n"),
    )
}
