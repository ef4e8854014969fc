//! The config and the command line: shape errors name the key path and line, `check` reports
//! every problem of a config and its scripts with file and line, `init` writes a starter that
//! checks clean, `explain` shows the order of taps, `check --database` reports what `serve`
//! would refuse or change in a database without changing it, and the `hookline` binary serves
//! and shuts down gracefully on SIGTERM.

mod common;

use std::process::Stdio;

use common::TempDir;
use hookline_server::{Config, ExplainFormat, check, dry_run, init};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[test]
fn shape_errors_name_the_key_path_and_the_line() {
    let text = r#"
[[resources]]
name = "notes"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "body", type = "decimal" },
]
"#;
    let err = Config::from_toml(text, "notes.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("notes.toml:6:"), "{err}");
    assert!(err.contains("resources[0].columns[1].type"), "{err}");
    assert!(err.contains("decimal"), "{err}");

    let err = Config::from_toml(
        "[hooks.notes]\n\"create.before_safe\" = \"x.js\"\n",
        "h.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("h.toml:2:1:"), "{err}");
    assert!(
        err.contains("unknown hook point `create.before_safe`"),
        "{err}"
    );

    let err = Config::from_toml("[server\n", "broken.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("broken.toml:1:"), "{err}");

    let err = Config::load("/nonexistent/hookline.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read config `/nonexistent/hookline.toml`"),
        "{err}"
    );
}

const BROKEN: &str = r#"[auth]
roles = ["admin"]

[[resources]]
name = "notes"
columns = [{ name = "id", type = "integer", primary_key = true }]

[access.notes]
delete = ["owner"]

[hooks.memos]
"create.before_save" = "fine.js"

[hooks.notes]
"create.before_save" = "broken.js"
"edit.before_save" = "missing.js"

[[routes]]
path = "/api/notes/export"
handler = "fine_route.js"

[[routes]]
path = "/export"
methods = ["GET"]
handler = "route_macro.js"

[[routes.pre_hooks]]
script = "fine_route.js"
methods = ["POST"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_every_problem_with_its_file_and_line() {
    let dir = TempDir::with_files(&[
        ("hookline.toml", BROKEN),
        ("fine.js", "export default async () => ({ ok: true });"),
        (
            "broken.js",
            "export default async ({ record }) => {\n  record.x = 1;\n  record.y = ;\n};",
        ),
        ("fine_route.js", "return 1;"),
        (
            "route_macro.js",
            "const x = 1;\nreturn @FETCH('http://example.com');",
        ),
    ]);
    let config = Config::load(dir.0.join("hookline.toml")).unwrap();
    let file = config.file().to_owned();
    let problems: Vec<String> = check(config)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let expect = |prefix: String, words: &[&str]| {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&prefix) && words.iter().all(|w| p.contains(w))),
            "no problem starting with `{prefix}` containing {words:?} in:\n{}",
            problems.join("\n")
        );
    };
    expect(
        format!("{file}:9:11: access.notes.delete[0]"),
        &["unknown role `owner`"],
    );
    expect(
        format!("{file}:11:8: hooks.memos"),
        &["unknown resource `memos`"],
    );
    expect(format!("{file}:19:1: routes[0].path"), &["/api"]);
    expect(
        format!("{file}:29:12: routes[1].pre_hooks[0].methods[0]"),
        &["does not answer POST"],
    );
    let broken = dir.0.join("broken.js").display().to_string();
    expect(format!("{broken}:3:"), &["SyntaxError"]);
    expect(
        format!("{file}:16:1: hooks.notes.\"edit.before_save\""),
        &["missing.js"],
    );
    let route_macro = dir.0.join("route_macro.js").display().to_string();
    expect(format!("{route_macro}:2:8"), &["@FETCH"]);
    assert_eq!(problems.len(), 7, "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_starter_that_checks_clean_and_explains_its_hooks() {
    let dir = TempDir::new();
    let written = init(&dir.0, false).unwrap();
    assert!(written.len() > 5);
    let err = init(&dir.0, false).unwrap_err().to_string();
    assert!(err.contains("exists already"), "{err}");
    assert!(init(&dir.0, true).is_ok());

    let config = Config::load(dir.0.join("hookline.toml")).unwrap();
    assert_eq!(check(config.clone()).await, []);
    let state = dry_run(config).await.unwrap();

    let text = state
        .explain(Some("apartments"), ExplainFormat::Text)
        .unwrap();
    let position = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` is not in:\n{text}"))
    };
    assert!(position("create.before_save") < position("hooks/apartments/set_realtor.js"));
    // `[hooks]` is the implicit root module, installed first; `[[modules]]` follow it.
    assert!(
        text.contains("hooks/apartments/set_realtor.js  module=hooks (rank 0)"),
        "{text}"
    );
    // A script tap's registration site is the config line that names it.
    let written = std::fs::read_to_string(dir.0.join("hookline.toml")).unwrap();
    let line = 1 + written
        .lines()
        .position(|l| l.contains("\"hooks/apartments/set_realtor.js\""))
        .expect("the starter names the script");
    let tap_line = text
        .lines()
        .find(|l| l.contains("hooks/apartments/set_realtor.js"))
        .unwrap();
    assert!(
        tap_line.ends_with(&format!("hookline.toml:{line}")),
        "{tap_line} (the script is on line {line})"
    );
    assert!(
        text.contains("hooks/audit/created.js  module=audit (rank 1)"),
        "{text}"
    );
    assert!(!text.contains("resource `users`"), "{text}");

    let route = state
        .explain(Some("/stats/prices"), ExplainFormat::Text)
        .unwrap();
    assert!(route.contains("route `GET /stats/prices`"), "{route}");
    assert!(
        route.contains("post-hooks run Always, failures Isolate"),
        "{route}"
    );
    let global = route.find("routes/audit_route.js").unwrap();
    let own = route.find("routes/add_meta.js").unwrap();
    assert!(
        global < own,
        "global post-hooks run first on ties:\n{route}"
    );

    let mermaid = state
        .explain(Some("apartments"), ExplainFormat::Mermaid)
        .unwrap();
    assert!(mermaid.contains("flowchart TD"), "{mermaid}");
    let err = state
        .explain(Some("flats"), ExplainFormat::Text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no resource or route named `flats`") && err.contains("apartments"),
        "{err}"
    );
    state.close().await;
}

fn hookline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .kill_on_drop(true)
        .env_remove("HOOKLINE_CONFIG")
        .env_remove("HOOKLINE_METRICS_TOKEN");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_inits_checks_explains_serves_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let out = hookline().arg("init").arg(&dir.0).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hookline().arg("init").arg(&dir.0).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));

    let config = dir.0.join("hookline.toml");
    let out = hookline()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"));

    let out = hookline()
        .args(["explain", "apartments", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("hooks/apartments/own_rows.js"));

    std::fs::write(
        dir.0.join("hooks/apartments/own_rows.js"),
        "export default async ({ query }) => {\n  query.filters.push(;\n};\n",
    )
    .unwrap();
    let out = hookline()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hooks/apartments/own_rows.js:2:"),
        "{stdout}"
    );
    assert!(stdout.contains("1 problem(s)"), "{stdout}");
    std::fs::write(
        dir.0.join("hooks/apartments/own_rows.js"),
        "export default async () => ({ ok: true });\n",
    )
    .unwrap();

    let database = format!("sqlite://{}", dir.0.join("served.db").display());
    let mut child = hookline()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database",
            &database,
            "--config",
        ])
        .arg(&config)
        .env("HOOKLINE_METRICS_TOKEN", "scrape-me")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut address, mut docs) = (None, false);
    let mut openapi = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(url) = line.trim().strip_prefix("listening on") {
            address = Some(url.trim().to_owned());
        }
        docs |= line.contains("API docs");
        if let Some(url) = line.trim().strip_prefix("OpenAPI") {
            openapi = Some(url.trim().to_owned());
            break;
        }
    }
    let address = address.expect("the banner names the address");
    assert!(docs, "the banner names the docs page");
    let health = reqwest::get(format!("{address}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let openapi = openapi.expect("the banner names the OpenAPI document");
    let document = reqwest::get(&openapi).await.unwrap();
    assert_eq!(document.status(), 200, "{openapi}");
    let client = reqwest::Client::new();
    let metrics = |token: Option<&'static str>| {
        let request = client.get(format!("{address}/metrics"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(metrics(None).await, 401, "the metrics token is required");
    assert_eq!(metrics(Some("scrape-mE")).await, 401);
    assert_eq!(metrics(Some("scrape-me")).await, 200);

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "a graceful shutdown exits 0: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("stopped"),
        "{stderr}"
    );
    // Logs to a pipe carry no terminal colour codes.
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

on_both_backends!(check_database_reports_what_serve_would_refuse_and_change_nothing);

/// `notes` as first served, and `COLUMNS` for the later configs.
const NOTES: &str = r#"[[resources]]
name = "notes"
columns = [
    { name = "id", type = "integer", primary_key = true },
COLUMNS
]
"#;

/// `hookline check --config <columns> --database <url>`: the exit code and stdout.
async fn check_against(dir: &TempDir, columns: &str, url: &str) -> (Option<i32>, String) {
    let config = dir.0.join("hookline.toml");
    std::fs::write(&config, NOTES.replace("COLUMNS", columns)).unwrap();
    let out = hookline()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .args(["--database", url])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout)
}

async fn check_database_reports_what_serve_would_refuse_and_change_nothing(url: String) {
    let dir = TempDir::new();
    let served = r#"    { name = "body", type = "text" },
    { name = "price", type = "float" },"#;
    let mut config = Config::from_toml(&NOTES.replace("COLUMNS", served), "hookline.toml").unwrap();
    config.server.database = url.clone();
    hookline_server::AppState::build(config)
        .await
        .unwrap()
        .close()
        .await;

    // `body` dropped (or renamed), `price` retyped, `tag` added.
    let (code, stdout) = check_against(
        &dir,
        r#"    { name = "price", type = "text" },
    { name = "tag", type = "text" },"#,
        &url,
    )
    .await;
    assert_eq!(code, Some(1), "{stdout}");
    let file = dir.0.join("hookline.toml").display().to_string();
    let line = |prefix: &str, words: &[&str]| {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(prefix) && words.iter().all(|w| l.contains(w))),
            "no line starting with `{prefix}` containing {words:?} in:\n{stdout}"
        );
    };
    line(
        &format!("{file}:3:1: resources[0].columns: "),
        &[
            "resource `notes`",
            "column `body` is in the table but not in the definition",
            r#"ALTER TABLE "notes" DROP COLUMN "body""#,
            r#"RENAME COLUMN "body" TO "tag""#,
        ],
    );
    line(
        &format!("{file}:5:5: resources[0].columns[1]: "),
        &["column `price`", "does not hold a text"],
    );
    line(
        "note: at start, serve would change table `notes`, column `tag`: add the column: ",
        &[r#"ALTER TABLE "notes" ADD COLUMN "tag" text"#],
    );
    assert!(stdout.ends_with("2 problem(s)\n"), "{stdout}");

    // Only added columns: fine, and listed.
    let (code, stdout) = check_against(
        &dir,
        &format!("{served}\n    {{ name = \"tag\", type = \"text\", unique = true }},"),
        &url,
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains(r#"ADD COLUMN "tag" text"#), "{stdout}");
    assert!(
        stdout.contains(r#"CREATE UNIQUE INDEX IF NOT EXISTS "notes_tag_key" ON "notes" ("tag")"#),
        "{stdout}"
    );
    assert!(stdout.ends_with(": ok\n"), "{stdout}");

    // None of it was applied: the served config still matches exactly.
    let (code, stdout) = check_against(&dir, served, &url).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        !stdout.contains("note:"),
        "the database was not changed: {stdout}"
    );
}
