//! An in-process driver of the list endpoint for instruction counts (BENCHMARKS.md § Server
//! under load, "Instructions"). It builds the load bench's server `(a)` (no hooks), `(c)`
//! (three function-style list scripts as a `[hooks.items]` list) or `(d)` (the same scripts as
//! three modules) from the config `benches/load.rs` builds it from (`benches/support/workload.rs`:
//! same schema, 24 seeded rows, one superadmin, SQLite file in WAL), logs in once, then sends
//! N × `GET /api/items?limit=20&sort=id` with the bearer token through the axum router with `tower::ServiceExt::oneshot` (no hyper,
//! no TCP), one at a time, checking each answer (200, 20 rows, the hooks' changes visible).
//! Uses only the public API `Config::load`, `AppState::build`, `app`, `AppState::close`.
//!
//! ```text
//! cargo build --profile bench -p hookline-server --example list_oneshot
//! valgrind --tool=callgrind --toggle-collect='hookline_server::rest::list_page::*' \
//!     target/release/examples/list_oneshot script 400   # then 200; the difference / 200
//! ```
//!
//! Arguments: `<none|script|script_modules> <requests> [workdir]`.

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

#[path = "../benches/support/workload.rs"]
mod workload;

use workload::{LIST_PATH, LOGIN, PASSWORD, SCRIPTS, Variant, config_toml};

async fn call(router: &axum::Router, request: Request<Body>) -> Fallible<(StatusCode, Value)> {
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await?;
    Ok((status, serde_json::from_slice(&body)?))
}

async fn run(variant: Variant, requests: usize, dir: &Path) -> Fallible<()> {
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
    std::fs::write(&file, config_toml(variant, dir))?;
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
    let hooked = variant != Variant::None;
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
    println!("{}: {requests} lists of 20 answered 200", variant.label());
    Ok(())
}

fn main() -> Fallible<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "script".into());
    let variant = Variant::named(&name)
        .filter(|v| matches!(v, Variant::None | Variant::Script | Variant::ScriptModules))
        .ok_or_else(|| format!("unknown variant `{name}`: none, script or script_modules"))?;
    let requests: usize = args.next().unwrap_or_else(|| "400".into()).parse()?;
    let dir = args
        .next()
        .unwrap_or_else(|| format!("/tmp/hl-oneshot-{name}-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(variant, requests, Path::new(&dir)));
    let _ = std::fs::remove_dir_all(&dir);
    result
}
