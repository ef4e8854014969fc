//! Custom routes end to end — Enfyra's pipeline as its docs describe it: pre-hooks edit
//! `@BODY` and `@QUERY`, share data, short-circuit or throw; the handler; post-hooks that
//! always run (also after a pre-hook error), see `@DATA` / `@ERROR` / `@STATUS`, are isolated
//! from each other and cannot hide the original error; `@LOGS` in debug mode; roles and
//! public routes.

mod common;

use common::{Server, config, error};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    pre_hooks_edit_the_request_share_data_and_run_by_priority_with_globals_first,
    a_short_circuit_answers_without_the_handler_and_post_hooks_still_run,
    a_pre_hook_error_is_answered_after_every_post_hook_ran,
    handler_rejections_keep_their_status_and_crashes_are_500s_without_internals,
    debug_mode_returns_logs_in_order_and_error_details,
    route_roles_and_public_routes,
);

const ROUTES: &str = r#"
[[resources]]
name = "events"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "kind", type = "text", required = true },
    { name = "detail", type = "json" },
]

[[routes]]
path = "/echo/{id}"
methods = ["GET", "POST"]
handler = "echo.js"

[[routes.pre_hooks]]
script = "pre_edit.js"

[[routes.pre_hooks]]
script = "pre_gate.js"
priority = 5

[[routes.pre_hooks]]
script = "early.js"
priority = -1

[[routes.pre_hooks]]
script = "get_only.js"
methods = ["GET"]

[[routes.post_hooks]]
script = "post_record.js"

[[routes.post_hooks]]
script = "post_broken.js"
priority = 1

[[routes.post_hooks]]
script = "post_replace.js"
priority = 2

[[global_hooks]]
phase = "pre"
script = "global_pre.js"
"#;

const SCRIPTS: &[(&str, &str)] = &[
    ("early.js", "(@SHARE.order ||= []).push('early');"),
    ("global_pre.js", "(@SHARE.order ||= []).push('global');"),
    (
        "pre_edit.js",
        "(@SHARE.order ||= []).push('route');\n@BODY = { ...(@BODY || {}), added: 'by pre' };\n@QUERY.q = 'changed';\n@SHARE.token = 'shared';\n@LOGS('pre');",
    ),
    ("get_only.js", "@SHARE.getOnly = true;"),
    (
        "pre_gate.js",
        "if (@QUERY.stop) return { stopped: true, q: @QUERY.q };\nif (@QUERY.fail) @THROW409('conflict from a pre-hook');\nif (@QUERY.crash) { const nothing = null; nothing.field = 1; }",
    ),
    (
        "echo.js",
        "await #events.create({ data: { kind: 'handler' } });\n@LOGS('handler');\nif (@QUERY.handler_fail) @THROW422('the handler says no');\nreturn { body: @BODY, query: @QUERY, params: @PARAMS, order: @SHARE.order, token: @SHARE.token, getOnly: @SHARE.getOnly ?? false };",
    ),
    (
        "post_record.js",
        "await #events.create({ data: { kind: 'post', detail: { status: @STATUS, error: @ERROR ? @ERROR.message : null, hadData: @DATA !== null } } });\n@LOGS('post');",
    ),
    (
        "post_broken.js",
        "@LOGS('lost');\nthrow new Error('a bug in a post-hook');",
    ),
    (
        "post_replace.js",
        "if (@DATA) return { ...@DATA, replaced: true };",
    ),
];

async fn events(server: &Server, kind: &str) -> Vec<Value> {
    let filter = format!(r#"{{"field":"kind","operator":"eq","value":"{kind}"}}"#);
    let path = format!(
        "/api/events?sort=id&filter={}",
        filter.replace('"', "%22").replace(' ', "%20")
    );
    let (status, body) = server.call(Method::GET, &path, None, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn routes_server(url: &str, debug: bool) -> (Server, common::TempDir) {
    let (mut config, dir) = config(ROUTES, SCRIPTS, url);
    config.server.debug = debug;
    (Server::start(config).await, dir)
}

async fn pre_hooks_edit_the_request_share_data_and_run_by_priority_with_globals_first(url: String) {
    let (server, _dir) = routes_server(&url, false).await;
    let (status, body) = server
        .call(
            Method::POST,
            "/echo/7?q=original",
            None,
            Some(json!({ "a": 1 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"], json!({ "a": 1, "added": "by pre" }));
    assert_eq!(body["query"], json!({ "q": "changed" }));
    assert_eq!(body["params"], json!({ "id": "7" }));
    assert_eq!(body["order"], json!(["early", "global", "route"]));
    assert_eq!(body["token"], "shared");
    assert_eq!(
        body["getOnly"], false,
        "a GET-only pre-hook does not run for POST"
    );
    assert_eq!(
        body["replaced"], true,
        "the third post-hook ran although the second failed"
    );

    let (status, body) = server.call(Method::GET, "/echo/8", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["getOnly"], true);
    assert_eq!(body["body"], json!({ "added": "by pre" }));

    let posts = events(&server, "post").await;
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0]["detail"],
        json!({ "status": 200, "error": null, "hadData": true })
    );

    let (status, body) = server.call(Method::DELETE, "/echo/8", None, None).await;
    assert_eq!(status, 405, "{body}");
    error(&body, 405);
    server.stop().await;
}

async fn a_short_circuit_answers_without_the_handler_and_post_hooks_still_run(url: String) {
    let (server, _dir) = routes_server(&url, false).await;
    let (status, body) = server
        .call(Method::GET, "/echo/1?stop=1&q=x", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "stopped": true, "q": "changed", "replaced": true })
    );
    assert!(
        events(&server, "handler").await.is_empty(),
        "the handler did not run"
    );
    let posts = events(&server, "post").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["detail"]["status"], 200);
    server.stop().await;
}

async fn a_pre_hook_error_is_answered_after_every_post_hook_ran(url: String) {
    let (server, _dir) = routes_server(&url, false).await;
    let (status, body) = server
        .call(Method::POST, "/echo/1?fail=1", None, Some(json!({})))
        .await;
    assert_eq!(
        status, 409,
        "a failing post-hook does not turn the 409 into anything else: {body}"
    );
    let err = error(&body, 409);
    assert_eq!(err["message"], "conflict from a pre-hook");
    assert_eq!(err["hook"], "POST /echo/{id}.before");
    assert_eq!(err["tap"], "pre_gate.js");
    assert!(events(&server, "handler").await.is_empty());
    let posts = events(&server, "post").await;
    assert_eq!(posts.len(), 1, "post-hooks ran after the pre-hook error");
    assert_eq!(
        posts[0]["detail"],
        json!({ "status": 409, "error": "conflict from a pre-hook", "hadData": false })
    );
    server.stop().await;
}

async fn handler_rejections_keep_their_status_and_crashes_are_500s_without_internals(url: String) {
    let (server, _dir) = routes_server(&url, false).await;
    let (status, body) = server
        .call(Method::GET, "/echo/1?handler_fail=1", None, None)
        .await;
    assert_eq!(status, 422, "{body}");
    let err = error(&body, 422);
    assert_eq!(err["message"], "the handler says no");
    assert_eq!(err["hook"], "GET /echo/{id}");
    let posts = events(&server, "post").await;
    assert_eq!(posts[0]["detail"]["status"], 422);

    let (status, body) = server
        .call(Method::GET, "/echo/1?crash=1", None, None)
        .await;
    assert_eq!(status, 500, "{body}");
    let err = error(&body, 500);
    assert_eq!(err["tap"], "pre_gate.js");
    assert!(
        err.get("detail").is_none(),
        "no internals outside debug mode: {body}"
    );
    assert!(!body.to_string().contains("TypeError"), "{body}");
    let posts = events(&server, "post").await;
    assert_eq!(
        posts[1]["detail"]["status"], 500,
        "post-hooks saw the crash as a 500"
    );
    server.stop().await;
}

async fn debug_mode_returns_logs_in_order_and_error_details(url: String) {
    let (server, _dir) = routes_server(&url, true).await;
    let (status, body) = server.call(Method::GET, "/echo/1", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["logs"], json!(["pre", "handler", "post"]), "{body}");

    let (status, body) = server.call(Method::GET, "/echo/1?fail=1", None, None).await;
    assert_eq!(status, 409);
    assert_eq!(error(&body, 409)["logs"], json!(["pre", "post"]), "{body}");

    let (status, body) = server
        .call(Method::GET, "/echo/1?crash=1", None, None)
        .await;
    assert_eq!(status, 500);
    let detail = error(&body, 500)["detail"]
        .as_str()
        .expect("a detail in debug mode")
        .to_owned();
    assert!(detail.contains("pre_gate.js"), "{detail}");
    assert!(detail.contains("TypeError"), "{detail}");

    let (status, body) = server.call(Method::GET, "/echo/1?stop=1", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["logs"], json!(["pre", "post"]), "{body}");
    server.stop().await;
}

const AUTH: &str = r#"
[auth]
users = "staff"
login_column = "name"
roles_column = "role"
roles = ["boss", "clerk"]

[[resources]]
name = "staff"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "name", type = "text", required = true },
    { name = "password_hash", type = "text", backend_only = true },
    { name = "role", type = "text" },
]

[[routes]]
path = "/boss"
handler = "who.js"
roles = ["boss"]

[[routes]]
path = "/open"
methods = ["GET", "POST"]
handler = "who.js"
public = true

[[seed]]
resource = "staff"
rows = [
    { name = "ada", password = "pw-ada", role = "boss" },
    { name = "bo", password = "pw-bo", role = "clerk" },
]
"#;

async fn route_roles_and_public_routes(url: String) {
    let (config, _dir) = config(AUTH, &[("who.js", "return { user: @USER };")], &url);
    let server = Server::start(config).await;
    let ada = server.login("ada", "pw-ada").await;
    let bo = server.login("bo", "pw-bo").await;

    let (status, body) = server.get("/boss", &ada).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "boss");
    assert_eq!(body["user"]["login"], "ada");
    let (status, body) = server.get("/boss", &bo).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        error(&body, 403)["message"]
            .as_str()
            .unwrap()
            .contains("boss")
    );
    let (status, _) = server.call(Method::GET, "/boss", None, None).await;
    assert_eq!(status, 401);

    let (status, body) = server.call(Method::GET, "/open", None, None).await;
    assert_eq!((status, body), (200, json!({ "user": null })));
    let (status, body) = server.get("/open", &bo).await;
    assert_eq!((status, body["user"]["login"].clone()), (200, json!("bo")));
    let (status, _) = server.get("/open", "forged").await;
    assert_eq!(status, 401, "a public route still refuses a bad token");
    let response = server
        .client
        .post(format!("{}/open", server.base))
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}
