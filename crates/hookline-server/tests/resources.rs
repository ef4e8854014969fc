//! REST resources with hook scripts from a config, end to end: the error contract (400, 404,
//! 409, 413, 415, 422 for a hook rejection, a hook's own status, 500 without internals, 503
//! on timeout, `committed` after an `after_save` failure), module order, dropdown hooks, and
//! values coming back from scripts with their column types, and list hooks handing rows back
//! changed (or failing the request when they cannot).

mod common;

use common::{Server, config, error};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    hook_rejections_answer_422_or_their_own_status_and_name_the_hook,
    a_failing_after_save_reports_committed_and_the_data_stays,
    script_faults_are_500s_whose_detail_only_debug_mode_shows,
    module_taps_run_after_plain_taps_and_after_the_modules_they_depend_on,
    dropdown_hooks_and_edit_hooks_change_what_they_are_given,
    list_hooks_hand_back_the_rows_they_changed_or_fail_the_request,
    bad_input_is_a_400_and_a_foreign_key_violation_a_409,
    oversized_bodies_are_413_and_slow_requests_503,
    scripts_reach_the_data_through_the_resource_flows,
    concurrent_requests_each_run_their_own_hooks_and_share,
);

const TOML: &str = r#"
[scripts]
workers = 2

[[resources]]
name = "owners"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "name", type = "text", required = true },
    { name = "hidden", type = "boolean", default = false },
]

[[resources]]
name = "items"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "title", type = "text", required = true },
    { name = "price", type = "float" },
    { name = "trace", type = "text" },
    { name = "owner_id", type = "integer", foreign = { resource = "owners" } },
]

[hooks.items]
"create.before_save" = ["checks.js", "trace_plain.js"]
"create.after_save" = "after_create.js"
"edit.before_save" = "edit.js"
"list.before_datasource_request" = "list_fault.js"
"dropdown_list.owner_id.after_datasource_response" = "label.js"

[hooks.owners]
"list.before_datasource_request" = "hide_hidden.js"
"list.after_datasource_response" = "owners_after.js"

[[modules]]
name = "second"
depends_on = ["first"]

[modules.hooks.items]
"create.before_save" = "trace_second.js"

[[modules]]
name = "first"

[modules.hooks.items]
"create.before_save" = "trace_first.js"

[[routes]]
path = "/slow"
handler = "spin.js"

[[routes]]
path = "/tables"
methods = ["POST"]
handler = "tables.js"

[[routes]]
path = "/mirror"
handler = "mirror.js"
pre_hooks = [{ script = "remember.js" }]
"#;

const SCRIPTS: &[(&str, &str)] = &[
    (
        "checks.js",
        r#"export default async ({ record }) => {
  if (record.title === "reject") return { ok: false, error: "titles may not say reject" };
  if (record.title === "teapot") return { ok: false, error: "short and stout", status: 418 };
  if (record.title === "crash") { const nothing = null; nothing.x = 1; }
  if (record.title === "shape") { record.price = "not a number"; }
  if (record.price === 7) record.price = 8;
  return { ok: true };
};"#,
    ),
    (
        "trace_plain.js",
        "export default async ({ record }) => { record.trace = (record.trace || '') + 'plain,'; return { ok: true }; };",
    ),
    (
        "trace_first.js",
        "export default async ({ record }) => { record.trace += 'first,'; return { ok: true }; };",
    ),
    (
        "trace_second.js",
        "export default async ({ record }) => { record.trace += 'second'; return { ok: true }; };",
    ),
    (
        "after_create.js",
        "export default async ({ record }) => (record.title === 'late' ? { ok: false, error: 'refused after the commit' } : { ok: true });",
    ),
    (
        "edit.js",
        "export default async ({ updates, oldRecord }) => { if (updates.title) updates.title = `${updates.title} (was ${oldRecord.title})`; return { ok: true }; };",
    ),
    (
        "list_fault.js",
        "export default async ({ query }) => { if (query.limit === 13) throw new Error('secret connection string postgres://admin:hunter2@db'); return { ok: true }; };",
    ),
    (
        "hide_hidden.js",
        "export default async ({ query }) => { query.filters.push({ field: 'hidden', operator: 'eq', value: false }); return { ok: true }; };",
    ),
    (
        "owners_after.js",
        r#"export default async (args) => {
  const { query, response } = args;
  if (query.limit === 11) {
    response.reverse();
    response.push({ id: 99, name: "added", score: 1.5 });
    delete response[0].hidden;
    response[1].name = response[1].name.toUpperCase();
  }
  if (query.limit === 12) args.response = "gone";
  return { ok: true };
};"#,
    ),
    (
        "label.js",
        "export default async ({ response }) => { for (const owner of response) owner.label = `#${owner.id} ${owner.name}`; return { ok: true }; };",
    ),
    ("spin.js", "while (true) {}"),
    ("remember.js", "@SHARE.mine = @QUERY.v;"),
    (
        "mirror.js",
        "return { mine: @SHARE.mine, query: @QUERY.v };",
    ),
    (
        "tables.js",
        r#"const ids = [];
for (const [title, price] of [["a", 3], ["b", 1], ["c", 2], ["d", 5]]) {
  const { data } = await #items.create({ data: { title, price } });
  ids.push(data[0].id);
}
const where = { price: { _gte: 2 } };
const first = await #items.find({ where, sort: "-price", limit: 2, page: 1, fields: "title,price" });
const second = await #items.find({ where, sort: "-price", limit: 2, page: 2, fields: ["title"] });
const updated = await #items.update({ id: ids[1], data: { price: 10 } });
const deleted = await #items.delete({ id: ids[0] });
let notSupported = null;
try { await #items.find({ where: { _not: { title: "a" } } }); } catch (e) { notSupported = e.message; }
let missing = null;
try { await #items.update({ id: 99999, data: { price: 1 } }); } catch (e) { missing = e.message; }
const left = await #items.find({ sort: "id" });
return {
  first: first.data, second: second.data, updated: updated.data[0].price,
  trace: updated.data[0].trace, deleted: deleted.data[0].title, notSupported, missing,
  left: left.data.map((item) => item.title),
};"#,
    ),
];

async fn start(
    url: &str,
    adjust: impl FnOnce(&mut hookline_server::Config),
) -> (Server, common::TempDir) {
    let (mut config, dir) = config(TOML, SCRIPTS, url);
    adjust(&mut config);
    (Server::start(config).await, dir)
}

async fn create(server: &Server, record: Value) -> (u16, Value) {
    server
        .call(Method::POST, "/api/items", None, Some(record))
        .await
}

async fn hook_rejections_answer_422_or_their_own_status_and_name_the_hook(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let (status, body) = create(&server, json!({ "title": "reject" })).await;
    assert_eq!(status, 422, "{body}");
    let err = error(&body, 422);
    assert_eq!(err["message"], "titles may not say reject");
    assert_eq!(err["hook"], "items.create.before_save");
    assert_eq!(err["tap"], "checks.js + trace_plain.js");
    let (status, body) = create(&server, json!({ "title": "teapot" })).await;
    assert_eq!(
        (status, error(&body, 418)["message"].as_str()),
        (418, Some("short and stout"))
    );
    let (status, body) = server
        .call(Method::GET, "/api/items?total=true", None, None)
        .await;
    assert_eq!(
        (status, body["total"].clone()),
        (200, json!(0)),
        "nothing was written"
    );
    server.stop().await;
}

async fn a_failing_after_save_reports_committed_and_the_data_stays(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let (status, body) = create(&server, json!({ "title": "late" })).await;
    assert_eq!(status, 422, "{body}");
    let err = error(&body, 422);
    assert_eq!(err["committed"], true);
    assert_eq!(err["hook"], "items.create.after_save");
    let (_, body) = server
        .call(Method::GET, "/api/items?total=true", None, None)
        .await;
    assert_eq!(body["total"], 1, "the record was committed: {body}");
    let (_, body) = create(&server, json!({ "title": "fine" })).await;
    assert!(body.get("error").is_none(), "{body}");
    server.stop().await;
}

async fn script_faults_are_500s_whose_detail_only_debug_mode_shows(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let (status, body) = create(&server, json!({ "title": "crash" })).await;
    assert_eq!(status, 500, "{body}");
    let err = error(&body, 500);
    assert_eq!(err["message"], "internal error in a hook");
    assert_eq!(err["hook"], "items.create.before_save");
    assert!(err.get("detail").is_none(), "{body}");
    let (status, body) = server
        .call(Method::GET, "/api/items?limit=13", None, None)
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        !body.to_string().contains("hunter2"),
        "no internals: {body}"
    );
    // What a script leaves is checked against the column types like client input (the data
    // layer answers 400 naming the column).
    let (status, body) = create(&server, json!({ "title": "shape" })).await;
    assert_eq!(status, 400, "the data layer names the column: {body}");
    assert!(
        error(&body, 400)["message"]
            .as_str()
            .unwrap()
            .contains("price")
    );
    server.stop().await;

    let (server, _dir) = start(&url, |c| c.server.debug = true).await;
    let (status, body) = server
        .call(Method::GET, "/api/items?limit=13", None, None)
        .await;
    assert_eq!(status, 500);
    let detail = error(&body, 500)["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("list_fault.js") && detail.contains("secret connection string"),
        "{detail}"
    );
    server.stop().await;
}

async fn module_taps_run_after_plain_taps_and_after_the_modules_they_depend_on(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let (status, body) = create(&server, json!({ "title": "ordered", "trace": "" })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["trace"], "plain,first,second");
    server.stop().await;
}

async fn list_hooks_hand_back_the_rows_they_changed_or_fail_the_request(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    for (name, hidden) in [("a", false), ("b", false), ("c", true)] {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/owners",
                None,
                Some(json!({ "name": name, "hidden": hidden })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // Untouched rows come back as they were read.
    let (status, body) = server
        .call(Method::GET, "/api/owners?sort=id", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([
            { "id": 1, "name": "a", "hidden": false },
            { "id": 2, "name": "b", "hidden": false },
        ])
    );
    // Reordered, added, changed rows and a deleted key, in the order the script left them.
    let (status, body) = server
        .call(Method::GET, "/api/owners?sort=id&limit=11", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([
            { "id": 2, "name": "b" },
            { "id": 1, "name": "A", "hidden": false },
            { "id": 99, "name": "added", "score": 1.5 },
        ])
    );
    // Rows the scripts changed keep their columns in the table's order.
    let (status, text) = server.text("/api/owners?sort=id&limit=11").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(r#"{"id":2,"name":"b"},{"id":1,"name":"A","hidden":false},"#),
        "{text}"
    );
    // Rows the hook cannot take back fail the request: no answer goes out without them.
    let (status, body) = server
        .call(Method::GET, "/api/owners?sort=id&limit=12", None, None)
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

async fn dropdown_hooks_and_edit_hooks_change_what_they_are_given(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    for (name, hidden) in [("visible", false), ("secret", true)] {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/owners",
                None,
                Some(json!({ "name": name, "hidden": hidden })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, body) = server.call(Method::GET, "/api/owners", None, None).await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        1,
        "the owners' list hook hides one: {body}"
    );
    // A dropdown runs the column's own hooks, not the list hooks of the resource it lists.
    let (status, body) = server
        .call(
            Method::GET,
            "/api/items/_dropdown/owner_id?sort=id",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let labels: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["#1 visible", "#2 secret"]);

    let (_, body) = create(&server, json!({ "title": "old", "price": 7 })).await;
    assert_eq!(
        body["data"]["price"],
        json!(8.0),
        "a script's 8 is stored in a float column as 8.0"
    );
    let id = body["data"]["id"].clone();
    let (status, body) = server
        .call(
            Method::PATCH,
            &format!("/api/items/{id}"),
            None,
            Some(json!({ "title": "new" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["title"], "new (was old)");
    server.stop().await;
}

async fn bad_input_is_a_400_and_a_foreign_key_violation_a_409(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    for (record, word) in [
        (json!({ "title": "x", "colour": "red" }), "colour"),
        (json!({ "title": "x", "price": "cheap" }), "price"),
        (json!({ "price": 1.5 }), "title"),
    ] {
        let (status, body) = create(&server, record.clone()).await;
        assert_eq!(status, 400, "{record}: {body}");
        assert!(
            error(&body, 400)["message"]
                .as_str()
                .unwrap()
                .contains(word),
            "{body}"
        );
    }
    let (status, body) = server
        .call(Method::POST, "/api/items", None, Some(json!([1, 2])))
        .await;
    assert_eq!(status, 400, "{body}");
    let response = server
        .client
        .post(format!("{}/api/items", server.base))
        .body(r#"{"title":"no content type"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    error(&body, 415);

    let (status, body) = create(&server, json!({ "title": "orphan", "owner_id": 999 })).await;
    assert_eq!(status, 409, "{body}");
    error(&body, 409);
    let (status, body) = server.call(Method::GET, "/api/items/41", None, None).await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}

async fn oversized_bodies_are_413_and_slow_requests_503(url: String) {
    let (server, _dir) = start(&url, |c| {
        c.server.body_limit_bytes = 256;
        c.server.request_timeout_ms = 1_000;
        c.scripts.time_limit_ms = 60_000;
    })
    .await;
    let (status, body) = create(&server, json!({ "title": "x".repeat(1000) })).await;
    assert_eq!(status, 413, "{body}");
    error(&body, 413);
    let (status, body) = server.call(Method::GET, "/slow", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        error(&body, 503)["message"]
            .as_str()
            .unwrap()
            .contains("1000 ms")
    );
    // The server still answers: the abandoned script was stopped with its request.
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    server.stop().await;
}

async fn scripts_reach_the_data_through_the_resource_flows(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let (status, body) = server.call(Method::POST, "/tables", None, None).await;
    assert_eq!(status, 200, "{body}");
    let number = |v: &Value| v.as_f64().unwrap();
    assert_eq!(body["first"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["first"][0]["title"], "d");
    assert_eq!(number(&body["first"][0]["price"]), 5.0);
    assert_eq!(body["first"][1]["title"], "a");
    assert!(
        body["first"][0].get("id").is_none(),
        "only the fields asked for: {body}"
    );
    assert_eq!(body["second"], json!([{ "title": "c" }]));
    assert_eq!(number(&body["updated"]), 10.0);
    assert_eq!(
        body["trace"], "plain,first,second",
        "creates from scripts ran the create hooks"
    );
    assert_eq!(body["deleted"], "a");
    assert!(
        body["notSupported"].as_str().unwrap().contains("_not"),
        "{body}"
    );
    assert!(
        body["missing"].as_str().unwrap().contains("99999"),
        "{body}"
    );
    assert_eq!(body["left"], json!(["b", "c", "d"]));
    server.stop().await;
}

async fn concurrent_requests_each_run_their_own_hooks_and_share(url: String) {
    let (server, _dir) = start(&url, |_| {}).await;
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let created = create(
                &server,
                json!({ "title": format!("item {i}"), "trace": "" }),
            )
            .await;
            let mirrored = server
                .call(Method::GET, &format!("/mirror?v={i}"), None, None)
                .await;
            (i, created, mirrored)
        }));
    }
    for task in tasks {
        let (i, (status, body), (route_status, mirrored)) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["trace"], "plain,first,second");
        assert_eq!(body["data"]["title"], format!("item {i}"));
        assert_eq!(route_status, 200, "{mirrored}");
        assert_eq!(
            mirrored,
            json!({ "mine": i.to_string(), "query": i.to_string() }),
            "no share leaks between requests"
        );
    }
    let (_, body) = server
        .call(Method::GET, "/api/items?total=true", None, None)
        .await;
    assert_eq!(body["total"], 16);
    let server = std::sync::Arc::into_inner(server).expect("every task is done");
    server.stop().await;
}
