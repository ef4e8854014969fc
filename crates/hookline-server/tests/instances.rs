//! Many instances on one database: without a secret in the environment, the first instance
//! stores one and every instance and restart signs and accepts tokens with it; with one, it
//! is used and nothing is stored. A user's role, login or password change, or deletion,
//! through the API or plain SQL, revokes their tokens on the very next request, on every
//! instance — on SQLite and PostgreSQL.

mod common;

use std::process::Stdio;

use common::{Backend, Server, TempDir, demo, error, with_database};
use hookline_server::data::DataSource;
use hookline_server::{AppState, Config, DEMO_LOGIN, DEMO_PASSWORD};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

on_both_backends!(
    a_token_from_one_instance_works_on_another_and_after_a_restart,
    a_role_change_through_the_api_revokes_the_users_tokens_on_the_next_request,
    a_role_change_in_plain_sql_revokes_the_users_tokens_on_the_next_request,
    a_password_change_revokes_the_users_tokens_on_the_next_request,
    deleting_a_user_revokes_their_tokens_on_the_next_request,
    a_role_change_through_one_instance_is_enforced_by_another_on_the_next_request,
);

const ANN: &str = "ann@hookline.dev";
const BOB: &str = "bob@hookline.dev";
const REVOKED: &str = "the token was revoked";

/// An environment variable no test sets: the demo on `url` with no secret in the
/// environment, whatever the environment of the test run holds in `HOOKLINE_SECRET`.
const UNSET_SECRET_VAR: &str = "HOOKLINE_TEST_SECRET_NOBODY_SETS";

fn zero_config(url: &str) -> Config {
    assert!(std::env::var(UNSET_SECRET_VAR).is_err());
    let mut config = demo(url);
    config.auth.secret_env = UNSET_SECRET_VAR.into();
    config
}

async fn build(url: &str) -> AppState {
    AppState::build(zero_config(url))
        .await
        .unwrap_or_else(|e| panic!("the server builds: {e}"))
}

/// Runs `sql` on the database at `url`, outside any server.
async fn execute(url: &str, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match DataSource::connect(url).await.expect("the database opens") {
        DataSource::Sqlite(pool) => {
            sqlx::raw_sql(sql)
                .execute(&pool)
                .await
                .expect("the SQL runs");
            pool.close().await;
        }
        DataSource::Postgres(pool) => {
            sqlx::raw_sql(sql)
                .execute(&pool)
                .await
                .expect("the SQL runs");
            pool.close().await;
        }
    }
}

/// The stored secrets (`hookline_meta` rows under `token_secret`); `None` if the table does
/// not exist.
async fn stored_secrets(url: &str) -> Option<Vec<String>> {
    const SELECT: &str = "SELECT value FROM hookline_meta WHERE key = 'token_secret'";
    let rows = match DataSource::connect(url).await.expect("the database opens") {
        DataSource::Sqlite(pool) => {
            let rows = sqlx::query_scalar(SELECT).fetch_all(&pool).await;
            pool.close().await;
            rows
        }
        DataSource::Postgres(pool) => {
            let rows = sqlx::query_scalar(SELECT).fetch_all(&pool).await;
            pool.close().await;
            rows
        }
    };
    match rows {
        Ok(rows) => Some(rows),
        Err(e) if e.to_string().contains("hookline_meta") => None,
        Err(e) => panic!("reading hookline_meta: {e}"),
    }
}

/// `GET /auth/me` with `token`: the status and the body.
async fn me(server: &Server, token: &str) -> (u16, Value) {
    server.get("/auth/me", token).await
}

/// Asserts that `token` is refused as revoked on `server`.
async fn assert_revoked(server: &Server, token: &str, what: &str) {
    let (status, body) = me(server, token).await;
    assert_eq!(status, 401, "{what}: {body}");
    let message = error(&body, 401)["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(REVOKED), "{what}: {message}");
}

/// Asserts that `token` still works on `server`; its roles.
async fn assert_accepted(server: &Server, token: &str, what: &str) -> Value {
    let (status, body) = me(server, token).await;
    assert_eq!(status, 200, "{what}: {body}");
    body["data"]["roles"].clone()
}

async fn user_id(server: &Server, token: &str) -> Value {
    let (status, body) = me(server, token).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"].clone()
}

async fn a_token_from_one_instance_works_on_another_and_after_a_restart(url: String) {
    let one = Server::serve(build(&url).await).await;
    let two = Server::serve(build(&url).await).await;
    let from_one = one.login(ANN, DEMO_PASSWORD).await;
    let from_two = two.login(BOB, DEMO_PASSWORD).await;
    assert_accepted(&two, &from_one, "one's token on two").await;
    assert_accepted(&one, &from_two, "two's token on one").await;
    let (status, body) = two
        .post(
            "/api/apartments",
            &from_one,
            json!({ "title": "Made through two", "price": 1 }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secrets = stored_secrets(&url).await.expect("the table exists");
    assert_eq!(secrets.len(), 1, "one secret, stored once: {secrets:?}");
    assert!(secrets[0].len() >= 64, "{secrets:?}");
    one.stop().await;
    two.stop().await;

    // A restart: a new state over the same database.
    let restarted = Server::serve(build(&url).await).await;
    assert_accepted(&restarted, &from_one, "a token from before the restart").await;
    assert_eq!(stored_secrets(&url).await, Some(secrets));
    restarted.stop().await;

    // The tokens are not accepted everywhere: a server on another database has its own secret.
    with_database(
        if url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        },
        "another database",
        move |other| async move {
            let elsewhere = Server::serve(build(&other).await).await;
            let (status, body) = me(&elsewhere, &from_one).await;
            assert_eq!(status, 401, "{body}");
            assert_eq!(error(&body, 401)["message"], "invalid token");
            elsewhere.stop().await;
        },
    )
    .await;
}

async fn a_role_change_through_the_api_revokes_the_users_tokens_on_the_next_request(url: String) {
    let server = Server::serve(build(&url).await).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let bob = server.login(BOB, DEMO_PASSWORD).await;
    let bob_id = user_id(&server, &bob).await;
    let (status, _) = server.get("/api/users", &bob).await;
    assert_eq!(status, 403, "a realtor may not list users");

    let (status, body) = server
        .patch(
            &format!("/api/users/{bob_id}"),
            &admin,
            json!({ "role": "superadmin" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_revoked(&server, &bob, "bob's token after his promotion").await;
    let (status, _) = server.get("/api/users", &bob).await;
    assert_eq!(
        status, 401,
        "the old token does not carry the new role either"
    );
    assert_accepted(&server, &ann, "another user's token").await;
    assert_accepted(&server, &admin, "the admin's own token").await;

    let bob = server.login(BOB, DEMO_PASSWORD).await;
    let roles = assert_accepted(&server, &bob, "bob's new token").await;
    assert_eq!(roles, json!(["superadmin"]));
    let (status, _) = server.get("/api/users", &bob).await;
    assert_eq!(status, 200, "the new token has the new role");

    // Demoted again: the superadmin token loses its power at once.
    let (status, _) = server
        .patch(
            &format!("/api/users/{bob_id}"),
            &admin,
            json!({ "role": "realtor" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/api/users", &bob).await;
    assert_eq!(status, 401);
    server.stop().await;
}

async fn a_role_change_in_plain_sql_revokes_the_users_tokens_on_the_next_request(url: String) {
    let server = Server::serve(build(&url).await).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let bob = server.login(BOB, DEMO_PASSWORD).await;
    assert_accepted(&server, &ann, "before the update").await;

    execute(
        &url,
        "UPDATE users SET role = 'superadmin' WHERE email = 'ann@hookline.dev'",
    )
    .await;
    assert_revoked(&server, &ann, "ann's token after an SQL update of her role").await;
    assert_accepted(&server, &bob, "another user's token").await;
    assert_accepted(&server, &admin, "another user's token").await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    assert_eq!(
        assert_accepted(&server, &ann, "a new token").await,
        json!(["superadmin"])
    );

    // The login is part of what a token is issued for.
    execute(
        &url,
        "UPDATE users SET email = 'ann@example.com' WHERE email = 'ann@hookline.dev'",
    )
    .await;
    assert_revoked(&server, &ann, "ann's token after her login changed").await;
    server.stop().await;
}

async fn a_password_change_revokes_the_users_tokens_on_the_next_request(url: String) {
    let server = Server::serve(build(&url).await).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let ann = server.login(ANN, DEMO_PASSWORD).await;
    let ann_on_another_device = server.login(ANN, DEMO_PASSWORD).await;
    let bob = server.login(BOB, DEMO_PASSWORD).await;
    let ann_id = user_id(&server, &ann).await;

    // Set by an admin.
    let (status, body) = server
        .call(
            Method::PUT,
            "/auth/password",
            Some(&admin),
            Some(json!({ "password": "set by the admin", "user_id": ann_id })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_revoked(
        &server,
        &ann,
        "ann's token after the admin set her password",
    )
    .await;
    assert_revoked(&server, &ann_on_another_device, "every token of ann's").await;
    assert_accepted(&server, &bob, "another user's token").await;
    assert_accepted(&server, &admin, "the admin's token").await;

    // Changed by its owner: the token that changed it is revoked too.
    let (status, body) = server
        .call(
            Method::PUT,
            "/auth/password",
            Some(&bob),
            Some(json!({ "password": "bob's new one", "current_password": DEMO_PASSWORD })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_revoked(&server, &bob, "bob's token after he changed his password").await;
    let bob = server.login(BOB, "bob's new one").await;
    assert_accepted(&server, &bob, "bob's new token").await;
    server.stop().await;
}

async fn deleting_a_user_revokes_their_tokens_on_the_next_request(url: String) {
    let server = Server::serve(build(&url).await).await;
    let admin = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let bob = server.login(BOB, DEMO_PASSWORD).await;
    let (status, body) = server
        .post(
            "/api/users",
            &admin,
            json!({ "email": "cara@hookline.dev" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cara_id = body["data"]["id"].clone();
    let (status, _) = server
        .call(
            Method::PUT,
            "/auth/password",
            Some(&admin),
            Some(json!({ "password": "cara's password", "user_id": cara_id })),
        )
        .await;
    assert_eq!(status, 204);
    let cara = server.login("cara@hookline.dev", "cara's password").await;
    assert_accepted(&server, &cara, "cara's token").await;

    let (status, body) = server
        .delete(&format!("/api/users/{cara_id}"), &admin)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_revoked(&server, &cara, "cara's token after her deletion").await;
    assert_accepted(&server, &bob, "another user's token").await;

    // A new user may get the freed primary key (SQLite reuses the highest rowid); the deleted
    // user's token does not become theirs.
    let (status, body) = server
        .post("/api/users", &admin, json!({ "email": "dan@hookline.dev" }))
        .await;
    assert_eq!(status, 201, "{body}");
    let dan_id = body["data"]["id"].clone();
    let (status, _) = server
        .call(
            Method::PUT,
            "/auth/password",
            Some(&admin),
            Some(json!({ "password": "cara's password", "user_id": dan_id })),
        )
        .await;
    assert_eq!(status, 204);
    assert_revoked(&server, &cara, "cara's token after a new user came").await;
    server.stop().await;
}

async fn a_role_change_through_one_instance_is_enforced_by_another_on_the_next_request(
    url: String,
) {
    let one = Server::serve(build(&url).await).await;
    let two = Server::serve(build(&url).await).await;
    let admin = one.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    let ann = two.login(ANN, DEMO_PASSWORD).await;
    let bob = two.login(BOB, DEMO_PASSWORD).await;
    let ann_id = user_id(&two, &ann).await;
    assert_accepted(&one, &ann, "ann's token on one").await;

    let (status, body) = one
        .patch(
            &format!("/api/users/{ann_id}"),
            &admin,
            json!({ "role": "superadmin" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_revoked(&two, &ann, "ann's token on two after one changed her role").await;
    assert_revoked(&one, &ann, "ann's token on one").await;
    assert_accepted(&two, &bob, "bob's token on two").await;
    assert_accepted(&two, &admin, "the admin's token on two").await;
    one.stop().await;
    two.stop().await;
}

/// `hookline serve` of the demo on `database` with `HOOKLINE_SECRET` set to `secret`: the
/// child (killed when dropped) and its base URL.
async fn serve_with_secret(database: &str, secret: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database", database])
        .env_remove("HOOKLINE_CONFIG")
        .env("HOOKLINE_SECRET", secret)
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(line) = lines.next_line().await.expect("the banner") {
        if let Some(url) = line.trim().strip_prefix("listening on") {
            return (child, url.trim().to_owned());
        }
    }
    panic!("the server printed no address");
}

async fn with_the_secret_in_the_environment_it_signs_the_tokens_and_nothing_is_stored(url: String) {
    let secret = "an environment secret of at least thirty-two bytes";
    let (child, base) = serve_with_secret(&url, secret).await;
    let server = Server::at(base);
    let token = server.login(DEMO_LOGIN, DEMO_PASSWORD).await;
    assert_accepted(&server, &token, "the token").await;
    drop(child);

    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let with = |key: &str| {
        jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
            &validation,
        )
    };
    let claims = with(secret).expect("the token is signed with the environment's secret");
    assert_eq!(claims.claims["sub"], DEMO_LOGIN);
    assert!(with("some other secret of at least thirty-two bytes").is_err());
    assert_eq!(
        stored_secrets(&url).await.unwrap_or_default(),
        Vec::<String>::new(),
        "nothing is stored"
    );
}

mod secret_in_the_environment {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.0.join("env.db").display());
        with_the_secret_in_the_environment_it_signs_the_tokens_and_nothing_is_stored(url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        with_database(
            Backend::Postgres,
            "with_the_secret_in_the_environment_it_signs_the_tokens_and_nothing_is_stored",
            with_the_secret_in_the_environment_it_signs_the_tokens_and_nothing_is_stored,
        )
        .await;
    }
}
