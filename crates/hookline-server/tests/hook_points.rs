//! The list of a resource's hook points lives in one place (`hookline_data::HookPoint`):
//! every point a resource has is a config key that parses back to it, `explain` shows it under
//! that key with the engine hook `<resource>.<key>`, and the metrics label the taps that ran
//! there with the same name. A point added to the data crate reaches all three, or this fails.

mod common;

use common::{Server, config};
use hookline_data::HookPoint;
use hookline_server::{AppState, ExplainFormat};
use reqwest::Method;
use serde_json::json;

const RESOURCES: &str = r#"
[[resources]]
name = "owners"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "name", type = "text" },
]

[[resources]]
name = "items"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "title", type = "text" },
    { name = "owner_id", type = "integer", foreign = { resource = "owners" } },
]
"#;

const NOOP: &str = "export default async () => ({ ok: true });\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_point_round_trips_through_config_explain_and_metrics() {
    // The points `items` has, as the data crate lists them (built without hooks first).
    let dir = common::TempDir::new();
    let url = format!("sqlite://{}?mode=rwc", dir.0.join("points.db").display());
    let (bare, _files) = config(RESOURCES, &[], &url);
    let state = AppState::build(bare).await.expect("the bare config builds");
    let points: Vec<HookPoint> = state
        .data()
        .resource("items")
        .expect("items")
        .hook_points()
        .collect();
    state.close().await;
    assert!(points.contains(&HookPoint::DropdownAfter("owner_id".into())));

    // A config with a script on every one of them, written under the point's own name.
    let mut toml = format!("{RESOURCES}\n[hooks.items]\n");
    for point in &points {
        toml.push_str(&format!("\"{point}\" = \"noop.js\"\n"));
    }
    let (config, _scripts) = config(&toml, &[("noop.js", NOOP)], &url);
    let keys: Vec<HookPoint> = config.hooks["items"].keys().cloned().collect();
    let mut sorted = points.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "each key parses back to the point that wrote it"
    );

    let state = AppState::build(config).await.expect("the config builds");
    let explained = state
        .explain(Some("items"), ExplainFormat::Text)
        .expect("items");
    for point in &points {
        let line = format!("{point}: hook `items.{point}`: 1 tap(s)");
        assert!(
            explained.contains(&line),
            "`{line}` is not in:\n{explained}"
        );
    }

    // Run every flow once, so every tap runs, and read the metrics' hook labels.
    let server = Server::serve(state).await;
    let call = |method: Method, path: &'static str, body: Option<serde_json::Value>| {
        let server = &server;
        async move {
            let (status, body) = server.call(method, path, None, body).await;
            assert!(status < 300, "{path}: {status} {body}");
        }
    };
    call(Method::POST, "/api/owners", Some(json!({ "name": "Ann" }))).await;
    call(
        Method::POST,
        "/api/items",
        Some(json!({ "title": "Loft", "owner_id": 1 })),
    )
    .await;
    call(Method::GET, "/api/items", None).await;
    call(Method::GET, "/api/items/1", None).await;
    call(
        Method::PATCH,
        "/api/items/1",
        Some(json!({ "title": "Attic" })),
    )
    .await;
    call(Method::GET, "/api/items/_dropdown/owner_id", None).await;
    call(Method::DELETE, "/api/items/1", None).await;
    let (status, metrics) = server.text("/metrics").await;
    assert_eq!(status, 200);
    for point in &points {
        let label = format!("hook=\"items.{point}\"");
        assert!(
            metrics.contains(&label),
            "no tap timed under {label} in:\n{metrics}"
        );
    }
    server.stop().await;
}
