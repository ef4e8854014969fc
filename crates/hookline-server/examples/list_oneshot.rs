//! An in-process driver of the list endpoint for instruction counts (BENCHMARKS.md § Server
//! under load, "Instructions"). It builds the load bench's server `(a)` (no hooks), `(c)`
//! (three function-style list scripts as a `[hooks.items]` list) or `(d)` (the same scripts as
//! three modules) from a config file, exactly as `benches/load.rs` writes it (same schema, 24 seeded rows, one
//! superadmin, SQLite file in WAL), logs in once, then sends N × `GET /api/items?limit=20&sort=id`
//! with the bearer token through the axum router with `tower::ServiceExt::oneshot` (no hyper,
//! no TCP), one at a time, checking each answer (200, 20 rows, the hooks' changes visible).
//! Uses only the public API `Config::load`, `AppState::build`, `app`, `AppState::close`.
//!
//! ```text
//! cargo build --profile bench -p hookline-server --example list_oneshot
//! valgrind --tool=callgrind --toggle-collect='hookline_server::rest::list_page::*' \
//!     target/release/examples/list_oneshot script 400   # then 200; the difference / 200
//! ```
//!
//! Arguments: `<none|script|script-modules> <requests> [workdir]`.

use std::error::Error;
use std::path::Path;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use hookline_server::{AppState, Config, app};
use serde_json::{Value, json};
use tower::ServiceExt;

type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDED: usize = 24;
const LIST_PATH: &str = "/api/items?limit=20&sort=id";
const LOGIN: &str = "bench@hookline.dev";
const PASSWORD: &str = "bench-password";

const SCRIPTS: [(&str, &str); 6] = [
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

fn hooks_toml(variant: &str) -> Fallible<String> {
    let list = |i: usize| format!("\"scripts/{}\"", SCRIPTS[i].0);
    Ok(match variant {
        "none" => String::new(),
        "script" => format!(
            "[hooks.items]\n\"list.after_datasource_response\" = [{}, {}, {}]\n\"create.before_save\" = [{}, {}, {}]\n",
            list(0),
            list(1),
            list(2),
            list(3),
            list(4),
            list(5)
        ),
        "script-modules" => (0..3)
            .map(|i| {
                format!(
                    "[[modules]]\nname = \"bench{i}\"\n[modules.hooks.items]\n\"list.after_datasource_response\" = {}\n\"create.before_save\" = {}\n\n",
                    list(i),
                    list(i + 3)
                )
            })
            .collect(),
        other => return Err(format!("unknown variant `{other}`: none, script or script-modules").into()),
    })
}

fn config_toml(variant: &str, dir: &Path) -> Fallible<String> {
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
    Ok(format!(
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
        hooks = hooks_toml(variant)?,
        rows = rows.join("\n"),
    ))
}

async fn call(router: &axum::Router, request: Request<Body>) -> Fallible<(StatusCode, Value)> {
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await?;
    Ok((status, serde_json::from_slice(&body)?))
}

async fn run(variant: &str, requests: usize, dir: &Path) -> Fallible<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (path, text) in SCRIPTS {
        let path = dir.join("scripts").join(path);
        std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
        std::fs::write(path, text)?;
    }
    let file = dir.join("hookline.toml");
    std::fs::write(&file, config_toml(variant, dir)?)?;
    let state = AppState::build(Config::load(&file)?).await?;
    let router = app(state.clone());
    let login = Request::post("/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "login": LOGIN, "password": PASSWORD }).to_string(),
        ))?;
    let (status, login) = call(&router, login).await?;
    if status != StatusCode::OK {
        return Err(format!("login answered {status}: {login}").into());
    }
    let token = login["token"].as_str().ok_or("no token")?.to_owned();
    let hooked = variant != "none";
    for i in 0..requests {
        let request = Request::get(LIST_PATH)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())?;
        let (status, list) = call(&router, request).await?;
        let rows = list["data"].as_array().map_or(0, Vec::len);
        let first = &list["data"][0];
        if status != StatusCode::OK
            || rows != 20
            || first["price_per_m2"].is_number() != hooked
            || (first["country"] == "UA") != hooked
        {
            return Err(format!("request {i}: {status} {list}").into());
        }
    }
    state.close().await;
    println!("{variant}: {requests} lists of 20 answered 200");
    Ok(())
}

fn main() -> Fallible<()> {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "script".into());
    let requests: usize = args.next().unwrap_or_else(|| "400".into()).parse()?;
    let dir = args
        .next()
        .unwrap_or_else(|| format!("/tmp/hl-oneshot-{variant}-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&variant, requests, Path::new(&dir)));
    let _ = std::fs::remove_dir_all(&dir);
    result
}
