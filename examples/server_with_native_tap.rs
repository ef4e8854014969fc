//! The `hookline` server as a library: a config file's resources and script hooks, plus a
//! native Rust tap, served over HTTP by your own binary.
//!
//! A [`Config`] is parsed from TOML (what `hookline serve --config hookline.toml` reads): one
//! resource, `tickets`, with a JavaScript `create.before_save` hook from a script directory.
//! [`AppState::build`] checks the config, compiles the script and opens the database. Before
//! serving, the application adds its own tap, in Rust, to the same hook of the same resource
//! — `state.data().resource("tickets")?.hooks().create.before_save.tap(..)` — where it can
//! use anything the application has (here, a counter it shares with `main`). [`serve`] then
//! answers on a listener until a shutdown future completes.
//!
//! Shown here, with real HTTP requests:
//! 1. one `POST /api/tickets` runs both taps in order: the script normalizes the ticket, the
//!    Rust tap sets its deadline from the priority the script normalized;
//! 2. a rejection from each: the script's `{ ok: false, status: 400 }` and the Rust tap's
//!    [`TapError::reject`] (422) come back as the server's error body, naming hook and tap;
//! 3. `explain` lists both taps, where each was registered; `/metrics` times both.
//!
//! The config has no `[auth] users`, so every request is anonymous (the server logs a warning
//! saying so): fine for an example, not for production.
//!
//! Run it with `cargo run -p hookline-examples --example server_with_native_tap`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookline::{Flow, TapError};
use hookline_server::{AppState, Config, ExplainFormat, serve};
use serde_json::{Value, json};

/// The config, as it would be in `hookline.toml`. Script paths resolve in the script directory.
const CONFIG: &str = r#"
[server]
database = "sqlite::memory:"

[[resources]]
name = "tickets"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "title", type = "text", required = true },
    { name = "priority", type = "text", required = true, default = "normal" },
    { name = "due_in_hours", type = "integer" },
    { name = "created_at", type = "timestamp", fill_on_create = "now" },
]

[hooks.tickets]
"create.before_save" = "hooks/tickets/normalize.js"
"#;

/// `hooks/tickets/normalize.js`: tidy the title, check the priority.
const NORMALIZE: &str = r#"
export default async ({ record }) => {
  record.title = record.title.trim();
  record.priority = record.priority.toLowerCase();
  if (!["low", "normal", "urgent"].includes(record.priority)) {
    return { ok: false, error: `unknown priority "${record.priority}"`, status: 400 };
  }
  return { ok: true };
};
"#;

/// A directory of script files for the config, removed when dropped.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn with_files(files: &[(&str, &str)]) -> std::io::Result<ScriptDir> {
        let dir = ScriptDir(
            std::env::temp_dir().join(format!("hookline-example-{}", std::process::id())),
        );
        for (path, text) in files {
            let path = dir.0.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The answer to one request: its status and JSON body.
async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Value), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server's warnings, to stderr: here, that authentication is off. (The `hookline`
    // binary calls `hookline_server::init_logging`, which also logs every request.)
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .init();

    let scripts = ScriptDir::with_files(&[("hooks/tickets/normalize.js", NORMALIZE)])?;
    let config = Config::from_toml(CONFIG, "hookline.toml")?.with_script_dir(scripts.path());
    let state = AppState::build(config).await?;

    // The native tap: registered after the config's script, so it runs after it and sees the
    // normalized priority. It shares a counter with the rest of the application.
    let deadlines_set = Arc::new(AtomicUsize::new(0));
    let counter = deadlines_set.clone();
    let tickets = state.data().resource("tickets")?;
    tickets.hooks().create.before_save.tap("sla", move |ctx| {
        if ctx.record.get_str("title").is_none_or(str::is_empty) {
            return Err(TapError::reject("a ticket needs a title"));
        }
        let hours = match ctx.record.get_str("priority") {
            Some("urgent") => 4,
            Some("low") => 7 * 24,
            _ => 48,
        };
        ctx.record.set("due_in_hours", hours);
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Flow::Continue)
    })?;
    let explain = state.explain(Some("tickets"), ExplainFormat::Text)?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(state, listener, async move {
        let _ = stopped.await;
    }));
    println!("serving on {base}");
    let client = reqwest::Client::new();
    let tickets_url = format!("{base}/api/tickets");

    println!("1. POST /api/tickets: the script and the Rust tap both run, in that order.");
    let body = json!({ "title": "  Printer on fire ", "priority": "URGENT" });
    let (status, created) = send(client.post(&tickets_url).json(&body)).await?;
    println!("   {status} {created}");
    assert_eq!(status, 201, "{created}");
    let ticket = &created["data"];
    assert_eq!(ticket["title"], "Printer on fire", "the script trimmed it");
    assert_eq!(ticket["priority"], "urgent", "the script lowercased it");
    assert_eq!(
        ticket["due_in_hours"], 4,
        "the Rust tap read the script's result"
    );
    let (status, created) =
        send(client.post(&tickets_url).json(&json!({ "title": "Toner" }))).await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["data"]["due_in_hours"], 48,
        "the default priority is normal"
    );

    println!("2. Each tap rejects a ticket.");
    let bad_priority = json!({ "title": "Coffee", "priority": "whenever" });
    let (status, error) = send(client.post(&tickets_url).json(&bad_priority)).await?;
    println!("   script:  {status} {error}");
    assert_eq!(status, 400);
    assert_eq!(error["error"]["message"], "unknown priority \"whenever\"");
    assert_eq!(error["error"]["hook"], "tickets.create.before_save");
    let blank = json!({ "title": "   " });
    let (status, error) = send(client.post(&tickets_url).json(&blank)).await?;
    println!("   Rust:    {status} {error}");
    assert_eq!(status, 422);
    assert_eq!(error["error"]["tap"], "sla");
    assert_eq!(error["error"]["message"], "a ticket needs a title");

    let (status, list) = send(client.get(&tickets_url)).await?;
    assert_eq!(status, 200, "{list}");
    let titles: Vec<&str> = list["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["title"].as_str()).collect())
        .unwrap_or_default();
    println!("   GET /api/tickets: {titles:?}");
    assert_eq!(
        titles,
        ["Printer on fire", "Toner"],
        "the rejected ones were not written"
    );
    assert_eq!(deadlines_set.load(Ordering::Relaxed), 2);

    println!("3. explain, and /metrics:");
    print!("{explain}");
    assert!(
        explain.contains("1. hooks/tickets/normalize.js  module=hooks")
            && explain.contains("2. sla ")
            && explain.contains("server_with_native_tap.rs:"),
        "the config's script runs first, then the Rust tap:\n{explain}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let timed = |tap: &str| {
        metrics.lines().any(|line| {
            line.starts_with("hookline_tap_duration_seconds")
                && line.contains(&format!("tap=\"{tap}\""))
        })
    };
    println!(
        "   timed: script {}, sla {}",
        timed("hooks/tickets/normalize.js"),
        timed("sla")
    );
    assert!(
        timed("hooks/tickets/normalize.js") && timed("sla"),
        "{metrics}"
    );

    // Graceful shutdown: requests in flight finish, then the database closes.
    let _ = stop.send(());
    server.await??;
    println!("stopped");
    Ok(())
}
