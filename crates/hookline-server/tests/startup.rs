//! Start-ups at once: three `hookline serve` processes (the binary, serving the demo) started
//! at the same moment on one empty database — a PostgreSQL schema, or a SQLite file — all
//! start, and the database has one schema and one seed.

mod common;

use std::process::Stdio;

use hookline_server::{DEMO_LOGIN, DEMO_PASSWORD};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

on_both_backends!(three_processes_started_at_once_make_one_schema_and_one_seed);

/// Starts `hookline serve` (the demo) on `url`; its address once it listens, or what it
/// printed to stderr if it exits first.
async fn serve(url: &str) -> (Child, Result<String, String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database", url])
        .env_remove("HOOKLINE_CONFIG")
        .env_remove("HOOKLINE_SECRET")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = line.trim().strip_prefix("listening on") {
            // Keep reading, so that the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, Ok(address.trim().to_owned()));
        }
    }
    let status = child.wait().await.expect("the process ends");
    let stderr = errors.await.unwrap_or_default();
    (child, Err(format!("exited with {status}: {stderr}")))
}

/// The `total` of a list, as the demo's superadmin.
async fn total(address: &str, token: &str, resource: &str) -> Value {
    let body: Value = reqwest::Client::new()
        .get(format!("{address}/api/{resource}?total=true"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the instance answers")
        .json()
        .await
        .expect("a JSON body");
    body["total"].clone()
}

async fn three_processes_started_at_once_make_one_schema_and_one_seed(url: String) {
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { serve(&url).await })
        })
        .collect();
    let mut addresses = Vec::new();
    let mut children = Vec::new();
    for start in starting {
        let (child, address) = start.await.expect("the start task ends");
        children.push(child);
        addresses.push(address.unwrap_or_else(|e| panic!("an instance starts: {e}")));
    }
    for address in &addresses {
        let login: Value = reqwest::Client::new()
            .post(format!("{address}/auth/login"))
            .json(&json!({ "login": DEMO_LOGIN, "password": DEMO_PASSWORD }))
            .send()
            .await
            .expect("the instance answers")
            .json()
            .await
            .expect("a JSON body");
        let token = login["token"].as_str().expect("a token");
        // The demo seeds 3 users and 5 apartments: once, whichever instance did it.
        assert_eq!(total(address, token, "users").await, 3, "{address}");
        assert_eq!(total(address, token, "apartments").await, 5, "{address}");
    }
    for mut child in children {
        child.kill().await.expect("the instance stops");
    }
}
