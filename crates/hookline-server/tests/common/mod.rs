//! Test harness: a real server on 127.0.0.1:0 talked to over HTTP, on SQLite (a fresh file)
//! and on PostgreSQL (a schema of its own, dropped afterwards; skipped with a notice when
//! `HOOKLINE_TEST_PG` is unset), plus configs whose scripts live in a temporary directory.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookline_server::{AppState, Config, serve};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name no other test of this process uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique("hookline-test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes `files` (`path`, `text`) into the directory.
    pub fn with_files(files: &[(&str, &str)]) -> TempDir {
        let dir = TempDir::new();
        for (path, text) in files {
            let path = dir.0.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
            std::fs::write(path, text).expect("file written");
        }
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` with the URL of a fresh database of `backend`; on PostgreSQL the schema is
/// dropped afterwards, also when the test panics.
pub async fn with_database<F, Fut>(backend: Backend, name: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new();
            let url = format!("sqlite://{}", dir.0.join("test.db").display());
            test(url).await;
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var("HOOKLINE_TEST_PG") else {
                eprintln!("skipping PostgreSQL test `{name}`: HOOKLINE_TEST_PG is not set");
                return;
            };
            let schema = unique("hl_server");
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&base)
                .await
                .expect("postgres answers");
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("schema created");
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options[search_path]={schema}");
            let outcome = tokio::spawn(test(url)).await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .expect("schema dropped");
            admin.close().await;
            if let Err(error) = outcome {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }
}

/// Declares `async fn name(url: String)` tests to run on both backends, as `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_database(
                        $crate::common::Backend::Sqlite,
                        stringify!($name),
                        super::$name,
                    )
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_database(
                        $crate::common::Backend::Postgres,
                        stringify!($name),
                        super::$name,
                    )
                    .await;
                }
            )*
        }
    };
}

/// A running server.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Builds `config` and serves it on 127.0.0.1:0.
    pub async fn start(config: Config) -> Server {
        let state = AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("the server builds: {e}"));
        Server::serve(state).await
    }

    /// A server running elsewhere (another process) at `base`; [`stop`](Server::stop) leaves
    /// it alone.
    pub fn at(base: String) -> Server {
        Server {
            base,
            client: reqwest::Client::new(),
            stop: None,
            task: None,
        }
    }

    /// Serves a built state on 127.0.0.1:0.
    pub async fn serve(state: AppState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(state, listener, async move {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts down gracefully and waits until the server stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
    }

    /// Sends a request; the status and the JSON body (`null` if the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Logs in; the token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({ "login": login, "password": password })),
            )
            .await;
        assert_eq!(status, 200, "login {login}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// The raw text of a GET.
    pub async fn text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the server answers");
        (
            response.status().as_u16(),
            response.text().await.expect("a body"),
        )
    }
}

/// The `error` object of an error response, checked to have the documented shape.
pub fn error(body: &Value, status: u16) -> &Value {
    let error = &body["error"];
    assert_eq!(error["status"], status, "{body}");
    assert!(error["message"].is_string(), "{body}");
    error
}

/// The demo config on `url`.
pub fn demo(url: &str) -> Config {
    let mut config = Config::demo();
    config.server.database = url.to_owned();
    config
}

/// A config from TOML whose scripts are `files`, on `url`; the directory must outlive the
/// server.
pub fn config(toml: &str, files: &[(&str, &str)], url: &str) -> (Config, TempDir) {
    let dir = TempDir::with_files(files);
    let mut config = Config::from_toml(toml, "hookline.toml")
        .unwrap_or_else(|e| panic!("the test config parses: {e}"))
        .with_script_dir(&dir.0);
    config.server.database = url.to_owned();
    (config, dir)
}
