//! The built-in demo (AdminForth's apartments example) end to end over HTTP: realtors scoped
//! to their own apartments by script hooks, the realtor set on create, access by role, the
//! audit module, the custom route with pre- and post-hooks, bulk writes all or nothing, and
//! the operations endpoints — on SQLite and PostgreSQL.

mod common;

use common::{Server, demo, error};
use hookline_server::{DEMO_LOGIN, DEMO_PASSWORD};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    realtors_see_only_their_apartments_and_counts_follow,
    a_new_apartment_belongs_to_its_creator_whatever_the_client_sent,
    another_realtors_apartment_cannot_be_shown_changed_or_deleted,
    tokens_are_required_and_roles_decide_access,
    a_taken_email_answers_409_from_the_hook_or_the_database,
    passwords_are_changed_by_their_owner_or_set_by_an_admin,
    the_price_route_runs_pre_hooks_handler_and_post_hooks_on_both_paths,
    bulk_writes_are_all_or_nothing_through_each_records_hooks,
    dropdowns_list_the_referenced_records_without_backend_only_columns,
    operations_endpoints_answer,
    browsers_of_the_configured_origins_get_cors_answers,
    a_restart_keeps_the_data_and_does_not_seed_twice,
);

const ANN: &str = "ann@hookline.dev";
const BOB: &str = "bob@hookline.dev";

async fn logins(server: &Server) -> (String, String, String) {
    (
        server.login(DEMO_LOGIN, DEMO_PASSWORD).await,
        server.login(ANN, DEMO_PASSWORD).await,
        server.login(BOB, DEMO_PASSWORD).await,
    )
}

async fn me(server: &Server, token: &str) -> Value {
    let (status, body) = server.get("/auth/me", token).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"].clone()
}

fn ids(body: &Value) -> Vec<i64> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect()
}

async fn realtors_see_only_their_apartments_and_counts_follow(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, bob) = logins(&server).await;
    let (ann_id, bob_id) = (me(&server, &ann).await, me(&server, &bob).await);

    let (status, body) = server
        .get("/api/apartments?total=true&sort=-price", &ann)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 3);
    let prices: Vec<f64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["realtor_id"], ann_id);
            r["price"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(prices, [4200.0, 2500.0, 900.0]);

    let (_, body) = server.get("/api/apartments?total=true", &bob).await;
    assert_eq!(body["total"], 2);
    let (_, body) = server.get("/api/apartments?total=true", &admin).await;
    assert_eq!(body["total"], 5);

    // A client filter on the realtor is replaced by the hook, not added to.
    let filter = format!(r#"{{"field":"realtor_id","operator":"eq","value":{bob_id}}}"#);
    let path = format!("/api/apartments?filter={}", urlencode(&filter));
    let (status, body) = server.get(&path, &ann).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body).len(), 3);

    // Aggregates are scoped by the same hook.
    let request = json!({ "aggregates": [
        { "function": "count", "alias": "n" },
        { "function": "sum", "column": "price", "alias": "total" }
    ] });
    let (status, body) = server
        .post("/api/apartments/_aggregate", &ann, request.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({ "n": 3, "total": 7600.0 }));
    let (_, body) = server
        .post("/api/apartments/_aggregate", &admin, request)
        .await;
    assert_eq!(body["data"]["n"], 5);

    // Filters and pages from the JSON search body.
    let (status, body) = server
        .post(
            "/api/apartments/_search",
            &admin,
            json!({ "filters": [{ "field": "country", "operator": "eq", "value": "PL" }],
                    "sort": [{ "field": "price", "direction": "asc" }], "limit": 1, "offset": 1, "with_total": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["total"].clone(), body["data"][0]["price"].clone()),
        (json!(2), json!(4200.0))
    );
    server.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn a_new_apartment_belongs_to_its_creator_whatever_the_client_sent(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, bob) = logins(&server).await;
    let (ann_id, bob_id) = (me(&server, &ann).await, me(&server, &bob).await);
    let (status, body) = server
        .post(
            "/api/apartments",
            &ann,
            json!({ "title": "Attic", "price": 1200, "realtor_id": bob_id }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created = &body["data"];
    assert_eq!(created["realtor_id"], ann_id);
    assert_eq!(
        created["price"],
        json!(1200.0),
        "a float column stays a float"
    );
    assert_eq!(created["listed"], true, "the column default applies");
    let id = created["id"].clone();

    // The audit module wrote the create, after the commit, as ann.
    let filter = format!(
        r#"[{{"field":"resource","operator":"eq","value":"apartments"}},{{"field":"action","operator":"eq","value":"create"}},{{"field":"record_id","operator":"eq","value":"{id}"}}]"#
    );
    let (status, body) = server
        .get(
            &format!("/api/audit_log?filter={}", urlencode(&filter)),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(rows[0]["user_id"], ann_id);
    assert_eq!(rows[0]["diff"]["after"]["title"], "Attic");

    // A required column the client left out is a 400 naming it.
    let (status, body) = server
        .post("/api/apartments", &ann, json!({ "title": "No price" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body, 400)["message"]
            .as_str()
            .unwrap()
            .contains("price")
    );
    server.stop().await;
}

async fn another_realtors_apartment_cannot_be_shown_changed_or_deleted(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, bob) = logins(&server).await;
    let (_, body) = server.get("/api/apartments", &bob).await;
    let bobs = ids(&body)[0];
    let path = format!("/api/apartments/{bobs}");

    let (status, body) = server.get(&path, &ann).await;
    let err = error(&body, 403);
    assert_eq!(
        (status, err["hook"].as_str()),
        (403, Some("apartments.show.after_datasource_response"))
    );
    assert_eq!(err["tap"], "hooks/apartments/own_record.js");

    let (status, body) = server.patch(&path, &ann, json!({ "price": 1.0 })).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error(&body, 403)["hook"], "apartments.edit.before_save");
    let (status, body) = server.delete(&path, &ann).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error(&body, 403)["hook"], "apartments.delete.before_save");

    let (status, body) = server.get(&path, &admin).await;
    assert_eq!(status, 200, "{body}");
    let price = body["data"]["price"].clone();
    assert_ne!(price, json!(1.0), "nothing changed");

    // Bob may not hand his apartment to ann; a superadmin may, and the audit log has the diff.
    let ann_id = me(&server, &ann).await;
    let (status, _) = server
        .patch(&path, &bob, json!({ "realtor_id": ann_id }))
        .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .patch(
            &path,
            &admin,
            json!({ "realtor_id": ann_id, "price": 99.5 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["realtor_id"], ann_id);
    let filter = r#"{"field":"action","operator":"eq","value":"edit"}"#;
    let (_, body) = server
        .get(
            &format!("/api/audit_log?filter={}", urlencode(filter)),
            &admin,
        )
        .await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    // JSON columns keep what scripts wrote; JavaScript has one number type.
    assert_eq!(rows[0]["diff"]["before"]["price"].as_f64(), price.as_f64());
    assert_eq!(rows[0]["diff"]["after"]["price"].as_f64(), Some(99.5));

    // Unknown records and malformed ids.
    let (status, body) = server.get("/api/apartments/999999", &admin).await;
    assert_eq!(status, 404, "{body}");
    error(&body, 404);
    let (status, body) = server.get("/api/apartments/abc", &admin).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body, 400)["message"]
            .as_str()
            .unwrap()
            .contains("integer")
    );
    server.stop().await;
}

async fn tokens_are_required_and_roles_decide_access(url: String) {
    let server = Server::start(demo(&url)).await;
    let response = server
        .client
        .get(format!("{}/api/apartments", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    error(&body, 401);

    let (status, _) = server.get("/api/apartments", "not-a-token").await;
    assert_eq!(status, 401);
    let (status, body) = server
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "login": ANN, "password": "wrong" })),
        )
        .await;
    assert_eq!(
        (status, error(&body, 401)["message"].as_str()),
        (401, Some("invalid login or password"))
    );
    let (status, body) = server
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "login": "nobody@x", "password": "x" })),
        )
        .await;
    assert_eq!(
        (status, error(&body, 401)["message"].as_str()),
        (401, Some("invalid login or password"))
    );
    let (status, body) = server
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "login": ANN })),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (admin, ann, _) = logins(&server).await;
    let (_, body) = server.get("/auth/me", &ann).await;
    assert_eq!(body["data"]["roles"], json!(["realtor"]));
    assert_eq!(body["data"]["attributes"]["login"], ANN);

    // Users and the audit log are for superadmins; the audit log is written by hooks only.
    let (status, body) = server.get("/api/users", &ann).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = server.get("/api/audit_log", &ann).await;
    assert_eq!(status, 403);
    let (status, _) = server
        .post(
            "/api/audit_log",
            &admin,
            json!({ "resource": "x", "action": "forged" }),
        )
        .await;
    assert_eq!(
        status, 403,
        "only hooks (the script role) write the audit log"
    );
    let (status, body) = server.get("/api/users", &admin).await;
    assert_eq!(status, 200, "{body}");
    for user in body["data"].as_array().unwrap() {
        assert!(user.get("password_hash").is_none(), "{user}");
    }
    server.stop().await;
}

async fn a_taken_email_answers_409_from_the_hook_or_the_database(url: String) {
    let server = Server::start(demo(&url)).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let (status, body) = server
        .post("/api/users", &admin, json!({ "email": ANN }))
        .await;
    let err = error(&body, 409);
    assert_eq!(status, 409);
    assert_eq!(err["hook"], "users.create.before_save");
    assert!(err["message"].as_str().unwrap().contains(ANN));
    let (status, body) = server
        .post(
            "/api/users",
            &admin,
            json!({ "email": "cara@hookline.dev" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["data"]["role"], "realtor",
        "the column default applies"
    );
    // No hook checks an edit: the database's unique index on `email` answers, naming it.
    let cara = body["data"]["id"].clone();
    let (status, body) = server
        .patch(
            &format!("/api/users/{cara}"),
            &admin,
            json!({ "email": ANN }),
        )
        .await;
    let err = error(&body, 409);
    assert_eq!(status, 409);
    assert_eq!(
        err["message"],
        "conflict writing `users`: `email` must be unique: another record has this value"
    );
    // A client cannot set the password hash: it is backend-only.
    let (status, body) = server
        .post(
            "/api/users",
            &admin,
            json!({ "email": "dan@hookline.dev", "password_hash": "x" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

async fn the_price_route_runs_pre_hooks_handler_and_post_hooks_on_both_paths(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, _) = logins(&server).await;
    let ann_id = me(&server, &ann).await;

    let (status, body) = server.get("/stats/prices?country=ua", &ann).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["count"], 2,
        "the handler's data call is scoped to ann: {body}"
    );
    assert_eq!(
        (body["min"].as_f64(), body["max"].as_f64()),
        (Some(900.0), Some(2500.0))
    );
    assert_eq!(
        body["meta"]["country"], "UA",
        "the pre-hook's change reached the post-hook"
    );
    assert_eq!(body["meta"]["requestedBy"], ann_id);
    assert!(body.get("logs").is_none(), "no @LOGS outside debug mode");

    let (status, body) = server.get("/stats/prices?country=ukraine", &ann).await;
    let err = error(&body, 400);
    assert_eq!(status, 400);
    assert_eq!(
        err["message"],
        "country must be a two-letter code, got \"UKRAINE\""
    );
    assert_eq!(err["hook"], "GET /stats/prices.before");
    assert_eq!(err["tap"], "routes/check_country.js");

    // The global post-hook audited both calls, the error one with its status and message.
    let filter = r#"{"field":"resource","operator":"eq","value":"route"}"#;
    let (_, body) = server
        .get(
            &format!("/api/audit_log?sort=id&filter={}", urlencode(filter)),
            &admin,
        )
        .await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!(rows[0]["diff"], json!({ "status": 200, "error": null }));
    assert_eq!(rows[1]["action"], "GET /stats/prices?country=ukraine");
    assert_eq!(rows[1]["diff"]["status"], 400);
    assert_eq!(
        rows[1]["diff"]["error"],
        "country must be a two-letter code, got \"UKRAINE\""
    );
    server.stop().await;
}

async fn bulk_writes_are_all_or_nothing_through_each_records_hooks(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, bob) = logins(&server).await;
    let (_, body) = server.get("/api/apartments?sort=id", &ann).await;
    let anns = ids(&body);
    let (_, body) = server.get("/api/apartments", &bob).await;
    let bobs = ids(&body);

    let mixed = json!({ "ids": [anns[0], bobs[0]], "updates": { "listed": false } });
    let (status, body) = server
        .post("/api/apartments/_bulk-update", &ann, mixed)
        .await;
    assert_eq!(status, 403, "{body}");
    let (_, body) = server
        .get(&format!("/api/apartments/{}", anns[0]), &ann)
        .await;
    assert_eq!(
        body["data"]["listed"], true,
        "the first record was not changed either"
    );

    let own = json!({ "ids": [anns[0], anns[1]], "updates": { "listed": false } });
    let (status, body) = server.post("/api/apartments/_bulk-update", &ann, own).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["listed"] == false)
    );

    let (status, _) = server
        .post(
            "/api/apartments/_bulk-delete",
            &ann,
            json!({ "ids": [anns[0], bobs[0]] }),
        )
        .await;
    assert_eq!(status, 403);
    let (_, body) = server.get("/api/apartments?total=true", &admin).await;
    assert_eq!(body["total"], 5, "nothing was deleted");
    let (status, body) = server
        .post(
            "/api/apartments/_bulk-delete",
            &ann,
            json!({ "ids": [anns[0], anns[1]] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [anns[0], anns[1]]);
    let filter = r#"{"field":"action","operator":"eq","value":"delete"}"#;
    let (_, body) = server
        .get(
            &format!("/api/audit_log?filter={}", urlencode(filter)),
            &admin,
        )
        .await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        2,
        "each delete ran its after_save: {body}"
    );
    let (status, body) = server
        .post("/api/apartments/_bulk-delete", &ann, json!({ "idz": [] }))
        .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

async fn dropdowns_list_the_referenced_records_without_backend_only_columns(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, _) = logins(&server).await;
    let emails = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                assert!(u.get("password_hash").is_none(), "{u}");
                u["email"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    // The seed's dropdown hook: a superadmin sees every realtor, a realtor only themselves.
    let (status, body) = server
        .get("/api/apartments/_dropdown/realtor_id?sort=email", &admin)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        emails(&body),
        ["admin@hookline.dev", ANN, "bob@hookline.dev"]
    );
    let (status, body) = server
        .get("/api/apartments/_dropdown/realtor_id?sort=email", &ann)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(emails(&body), [ANN]);
    let (status, body) = server.get("/api/apartments/_dropdown/title", &ann).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.get("/api/nowhere", &ann).await;
    assert_eq!(status, 404, "{body}");
    error(&body, 404);
    let (status, body) = server.get("/api/apartments?limit=ten", &ann).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.get("/api/apartments?colour=red", &ann).await;
    assert_eq!(status, 400, "{body}");
    let filter = r#"{"field":"title","operator":"regex","value":"x"}"#;
    let (status, body) = server
        .get(
            &format!("/api/apartments?filter={}", urlencode(filter)),
            &ann,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body, 400)["message"]
            .as_str()
            .unwrap()
            .contains("regex")
    );
    server.stop().await;
}

async fn operations_endpoints_answer(url: String) {
    let server = Server::start(demo(&url)).await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let (status, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    server
        .post(
            "/api/apartments",
            &ann,
            json!({ "title": "Metered", "price": 5 }),
        )
        .await;
    let (status, metrics) = server.text("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hookline_tap_duration_seconds_count{")
                && l.contains(r#"hook="apartments.create.before_save""#)
                && l.contains(r#"tap="hooks/apartments/set_realtor.js""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hookline_http_requests_total{")
                && l.contains(r#"route="/api/{resource}""#)
                && l.contains(r#"status="201""#)),
        "{metrics}"
    );

    let (status, doc) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/apartments",
        "/api/apartments/{id}",
        "/api/apartments/_dropdown/realtor_id",
        "/stats/prices",
        "/auth/login",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} in {}",
            doc["paths"]
        );
    }
    assert!(
        doc["components"]["schemas"]["Apartments"]["properties"]
            .get("price")
            .is_some()
    );
    assert!(
        doc["components"]["schemas"]["Users"]["properties"]
            .get("password_hash")
            .is_none()
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let (status, html) = server.text("/docs/").await;
    assert_eq!(status, 200);
    assert!(html.contains("swagger"), "{html}");

    let (status, body) = server.call(Method::GET, "/nothing/here", None, None).await;
    assert_eq!(status, 404);
    error(&body, 404);

    // Every answer carries a request id: the caller's if it sent one, else a fresh one.
    let request_id = |path: &'static str, sent: Option<&'static str>| {
        let mut request = server.client.get(format!("{}{path}", server.base));
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        async move {
            let response = request.send().await.expect("the server answers");
            let id = response.headers().get("x-request-id").map(|id| {
                id.to_str()
                    .expect("a request id is visible ASCII")
                    .to_owned()
            });
            (response.status().as_u16(), id)
        }
    };
    let (status, first) = request_id("/healthz", None).await;
    let (_, second) = request_id("/healthz", None).await;
    let (first, second) = (first.expect("an id"), second.expect("an id"));
    assert_eq!(status, 200);
    assert!(!first.is_empty() && first != second, "{first} {second}");
    assert_eq!(
        request_id("/nothing/here", Some("trace-7f3a")).await,
        (404, Some("trace-7f3a".to_owned()))
    );
    server.stop().await;
}

async fn browsers_of_the_configured_origins_get_cors_answers(url: String) {
    const ADMIN_UI: &str = "https://admin.example.com";
    /// The `access-control-allow-origin` of a preflight for `POST /api/apartments` from `origin`.
    async fn preflight(server: &Server, origin: &str) -> (u16, Option<String>) {
        let response = server
            .client
            .request(Method::OPTIONS, format!("{}/api/apartments", server.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .expect("the server answers");
        let allowed = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        (response.status().as_u16(), allowed)
    }

    let server = Server::start(demo(&url)).await;
    assert_eq!(
        preflight(&server, ADMIN_UI).await.1,
        None,
        "no CORS unless configured"
    );
    server.stop().await;

    let mut config = demo(&url);
    config.server.cors_origins = vec![ADMIN_UI.to_owned()];
    let server = Server::start(config).await;
    assert_eq!(
        preflight(&server, ADMIN_UI).await,
        (200, Some(ADMIN_UI.to_owned()))
    );
    assert_eq!(preflight(&server, "https://evil.example").await.1, None);
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let response = server
        .client
        .get(format!("{}/api/apartments", server.base))
        .bearer_auth(&ann)
        .header("origin", ADMIN_UI)
        .send()
        .await
        .expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII").to_owned())
    };
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some(ADMIN_UI)
    );
    assert_eq!(
        header("access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    server.stop().await;
}

async fn a_restart_keeps_the_data_and_does_not_seed_twice(url: String) {
    let server = Server::start(demo(&url)).await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let (status, _) = server
        .post(
            "/api/apartments",
            &ann,
            json!({ "title": "Kept", "price": 1 }),
        )
        .await;
    assert_eq!(status, 201);
    server.stop().await;

    let server = Server::start(demo(&url)).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let (_, body) = server.get("/api/apartments?total=true", &admin).await;
    assert_eq!(body["total"], 6, "{body}");
    let (_, body) = server.get("/api/users?total=true", &admin).await;
    assert_eq!(body["total"], 3, "{body}");
    server.stop().await;
}

async fn passwords_are_changed_by_their_owner_or_set_by_an_admin(url: String) {
    let server = Server::start(demo(&url)).await;
    let (admin, ann, bob) = logins(&server).await;
    let bob_id = me(&server, &bob).await;
    let put = |token: String, body: Value| {
        let server = &server;
        async move {
            server
                .call(Method::PUT, "/auth/password", Some(&token), Some(body))
                .await
        }
    };
    let (status, body) = put(
        ann.clone(),
        json!({ "password": "short", "current_password": DEMO_PASSWORD }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(
        ann.clone(),
        json!({ "password": "a new password", "current_password": "wrong" }),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = put(ann.clone(), json!({ "password": "a new password" })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(
        ann.clone(),
        json!({ "password": "a new password", "user_id": bob_id }),
    )
    .await;
    assert_eq!(status, 403, "a realtor cannot set bob's password: {body}");
    let (status, _) = put(
        ann.clone(),
        json!({ "password": "a new password", "current_password": DEMO_PASSWORD }),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "login": ANN, "password": DEMO_PASSWORD })),
        )
        .await;
    assert_eq!(status, 401, "the old password no longer works");
    server.login(ANN, "a new password").await;

    // A user created through the API can log in once an admin sets a password.
    let (status, body) = server
        .post(
            "/api/users",
            &admin,
            json!({ "email": "cara@hookline.dev" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cara = body["data"]["id"].clone();
    let (status, _) = put(
        admin.clone(),
        json!({ "password": "cara's password", "user_id": cara }),
    )
    .await;
    assert_eq!(status, 204);
    let token = server.login("cara@hookline.dev", "cara's password").await;
    let (_, body) = server.get("/auth/me", &token).await;
    assert_eq!(body["data"]["roles"], json!(["realtor"]));
    let (status, _) = put(
        admin,
        json!({ "password": "whatever123", "user_id": 424242 }),
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}
