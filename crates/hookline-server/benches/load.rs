//! The server under load: `wrk` against servers on 127.0.0.1, all in one run.
//!
//! ```text
//! cargo bench -p hookline-server --bench load
//! ```
//!
//! Five servers over the same schema (a SQLite file each, 24 seeded rows of `items`, one
//! superadmin) answer on 127.0.0.1:0 in this process:
//!
//! - **none**: no hooks on `items`;
//! - **noop**: 3 native sync taps per hook point that do nothing, to tell what dispatching
//!   (and timing) taps costs from what the taps' work costs;
//! - **native**: 3 native sync taps on `items.list.after_datasource_response` and 3 on
//!   `items.create.before_save`, registered on the built server's [`Data`](hookline_data::Data);
//! - **script**: the same work as 3 function-style scripts per hook point, configured as
//!   `[hooks.items]` lists (one tap, one worker call per hook call);
//! - **script-modules**: the same 3 scripts per point as 3 config modules (3 taps, 3 worker
//!   calls per hook call).
//!
//! For each server, `wrk` (Debian's `wrk`; the program stops with a message if it is missing)
//! runs `GET /api/items?limit=20&sort=id` and `POST /api/items` with a bearer token, after a
//! short warm-up, the servers taking turns for a few rounds (each round led by the next
//! server); the program prints the medians of requests/s, p50 and p99 latency and their change
//! against **none** (for requests/s, the median of the changes within each round), as a
//! Markdown table. Any non-2xx answer fails the run.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hookline::{Flow, TapError};
use hookline_data::{CreateContext, ReadResponse};
use hookline_server::{AppState, Config, serve};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[path = "support/workload.rs"]
mod workload;

use workload::{LIST_PATH, LOGIN, PASSWORD, SCRIPTS, Variant, config_toml};

type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// wrk's threads and connections.
const THREADS: &str = "2";
const CONNECTIONS: &str = "16";
/// How long each measurement runs. Each server gets one warm-up of [`WARM_UP`] per workload,
/// then the servers take turns for [`ROUNDS`] rounds, each round starting with the next
/// server, so that load from elsewhere on the machine and the position in a round spread over
/// all of them. The table shows each figure's median over the rounds, and each change against
/// (a) as the median of the rounds' changes (each against (a) in the same round). Short
/// measurements in many rounds keep the servers of a round within seconds of each other: on a
/// shared machine, bursts of outside load last longer than that. With 15 rounds, the median
/// change of the same server moved by up to 8 points between runs; 30 rounds halve the
/// variance of a median of independent rounds (a run takes about 6 minutes).
const MEASURE: &str = "1s";
const WARM_UP: &str = "1s";
const ROUNDS: usize = 30;
const CREATE_BODY: &str =
    r#"{"title":"  Bench flat  ","price":1200.0,"square_meters":48.0,"country":"ua"}"#;
/// 3 taps per hook point that do nothing: what dispatching (and timing) taps costs alone.
fn noop_taps(state: &AppState) -> Fallible<()> {
    let items = state.data().resource("items")?;
    for name in ["noop1", "noop2", "noop3"] {
        items
            .hooks()
            .list
            .after_datasource_response
            .tap(name, |_: &mut ReadResponse| Ok(Flow::Continue))?;
        items
            .hooks()
            .create
            .before_save
            .tap(name, |_: &mut CreateContext| Ok(Flow::Continue))?;
    }
    Ok(())
}

/// The native taps: the work of [`SCRIPTS`] as sync Rust taps.
fn native_taps(state: &AppState) -> Fallible<()> {
    let items = state.data().resource("items")?;
    let list = &items.hooks().list.after_datasource_response;
    list.tap("per_m2", |ctx: &mut ReadResponse| {
        for item in &mut ctx.response {
            let per_m2 = match (item.get_f64("price"), item.get_f64("square_meters")) {
                (Some(price), Some(area)) if area > 0.0 => json!(price / area),
                _ => Value::Null,
            };
            item.set("price_per_m2", per_m2);
        }
        Ok(Flow::Continue)
    })?;
    list.tap("country", |ctx: &mut ReadResponse| {
        for item in &mut ctx.response {
            if let Some(Value::String(country)) = item.get_mut("country") {
                *country = country.to_uppercase();
            }
        }
        Ok(Flow::Continue)
    })?;
    list.tap("listed", |ctx: &mut ReadResponse| {
        let unlisted = ctx
            .response
            .iter()
            .any(|item| item.get_bool("listed") == Some(false));
        if unlisted && !ctx.actor.has_role("superadmin") {
            return Err(TapError::reject("unlisted items are for superadmins").with_status(403));
        }
        Ok(Flow::Continue)
    })?;
    let create = &items.hooks().create.before_save;
    create.tap("trim", |ctx: &mut CreateContext| {
        if let Some(Value::String(title)) = ctx.record.get_mut("title") {
            *title = title.trim().to_owned();
        }
        Ok(Flow::Continue)
    })?;
    create.tap("price", |ctx: &mut CreateContext| {
        if !ctx.record.get_f64("price").is_some_and(|price| price > 0.0) {
            return Err(TapError::reject("the price must be positive"));
        }
        Ok(Flow::Continue)
    })?;
    create.tap("owner", |ctx: &mut CreateContext| {
        let owner = ctx.actor.id.clone();
        ctx.record.set("owner_id", owner);
        Ok(Flow::Continue)
    })?;
    Ok(())
}

/// A server answering on 127.0.0.1, with a token of its superadmin.
struct Server {
    variant: Variant,
    base: String,
    token: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(variant: Variant, root: &Path) -> Fallible<Server> {
        let dir = root.join(variant.dir());
        std::fs::create_dir_all(&dir)?;
        for (path, text) in SCRIPTS {
            let path = dir.join("scripts").join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        let file = dir.join("hookline.toml");
        std::fs::write(&file, config_toml(variant, &dir))?;
        let state = AppState::build(Config::load(&file)?)
            .await
            .map_err(|e| format!("{}: {e}", variant.label()))?;
        match variant {
            Variant::NoopTaps => noop_taps(&state)?,
            Variant::Native => native_taps(&state)?,
            Variant::None | Variant::Script | Variant::ScriptModules => {}
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(state, listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let login: Value = client
            .post(format!("{base}/auth/login"))
            .json(&json!({ "login": LOGIN, "password": PASSWORD }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = login["token"]
            .as_str()
            .ok_or_else(|| format!("the login answered no token: {login}"))?
            .to_owned();
        let server = Server {
            variant,
            base,
            token,
            stop,
            task,
        };
        server.check(&client).await?;
        Ok(server)
    }

    /// One list and one create, checked to answer 200 / 201 with the hooks' work visible.
    async fn check(&self, client: &reqwest::Client) -> Fallible<()> {
        let hooked = !matches!(self.variant, Variant::None | Variant::NoopTaps);
        let list: Value = client
            .get(format!("{}{LIST_PATH}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let rows = list["data"].as_array().map_or(0, Vec::len);
        if rows != 20 {
            return Err(
                format!("{}: the list has {rows} rows, not 20", self.variant.label()).into(),
            );
        }
        let first = &list["data"][0];
        if first["price_per_m2"].is_number() != hooked || (first["country"] == "UA") != hooked {
            return Err(format!("{}: unexpected list row {first}", self.variant.label()).into());
        }
        let created = client
            .post(format!("{}/api/items", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(CREATE_BODY)
            .send()
            .await?;
        if created.status() != reqwest::StatusCode::CREATED {
            return Err(format!(
                "{}: the create answered {}",
                self.variant.label(),
                created.status()
            )
            .into());
        }
        let created: Value = created.json().await?;
        let title_trimmed = created["data"]["title"] == "Bench flat";
        if title_trimmed != hooked || created["data"]["owner_id"].is_number() != hooked {
            return Err(
                format!("{}: unexpected created row {created}", self.variant.label()).into(),
            );
        }
        Ok(())
    }

    async fn stop(self) -> Fallible<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct Measured {
    requests_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

/// A latency of wrk's output (`512.00us`, `1.23ms`, `1.02s`, `2.00m`) in microseconds.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some(number * scale)
}

/// Requests/s, p50 and p99 from wrk's `--latency` output; an error on non-2xx answers.
fn parse_wrk(output: &str) -> Result<Measured, String> {
    let mut requests_per_sec = None;
    let mut p50_us = None;
    let mut p99_us = None;
    for line in output.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(value)) => requests_per_sec = value.parse().ok(),
            (Some("50%"), Some(value)) => p50_us = micros(value),
            (Some("99%"), Some(value)) => p99_us = micros(value),
            (Some("Non-2xx"), _) => return Err(format!("wrk saw error answers: {}", line.trim())),
            _ => {}
        }
    }
    match (requests_per_sec, p50_us, p99_us) {
        (Some(requests_per_sec), Some(p50_us), Some(p99_us)) => Ok(Measured {
            requests_per_sec,
            p50_us,
            p99_us,
        }),
        _ => Err(format!("cannot read wrk's output:\n{output}")),
    }
}

/// The two workloads.
#[derive(Debug, Clone, Copy)]
enum Workload {
    List,
    Create,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::List => "GET list of 20",
            Workload::Create => "POST create",
        }
    }
}

/// Runs wrk for `duration` against `server`.
async fn wrk(
    server: &Server,
    workload: Workload,
    duration: &str,
    post_script: &Path,
) -> Fallible<Measured> {
    let mut command = tokio::process::Command::new("wrk");
    command
        .args([
            "-t",
            THREADS,
            "-c",
            CONNECTIONS,
            "-d",
            duration,
            "--latency",
        ])
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", server.token));
    let url = match workload {
        Workload::List => format!("{}{LIST_PATH}", server.base),
        Workload::Create => {
            command.arg("-s").arg(post_script);
            format!("{}/api/items", server.base)
        }
    };
    let output = command.arg(url).output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    parse_wrk(&stdout)
        .map_err(|e| format!("{} · {}: {e}", server.variant.label(), workload.label()).into())
}

/// `true` if an executable named `name` is on the `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("hookline-bench-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Each figure's median over the runs (of an odd number of runs).
fn median(runs: Vec<Measured>) -> Measured {
    let middle = |pick: fn(&Measured) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    Measured {
        requests_per_sec: middle(|m| m.requests_per_sec),
        p50_us: middle(|m| m.p50_us),
        p99_us: middle(|m| m.p99_us),
    }
}

fn change(value: f64, base: f64) -> String {
    format!("{:+.1} %", (value / base - 1.0) * 100.0)
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1e3)
}

async fn run() -> Fallible<()> {
    let temp = TempDir::new()?;
    let post_script = temp.0.join("post.lua");
    std::fs::write(
        &post_script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{CREATE_BODY}'\n"
        ),
    )?;

    let mut servers = Vec::new();
    for variant in Variant::ALL {
        servers.push(Server::start(variant, &temp.0).await?);
    }
    println!(
        "wrk -t{THREADS} -c{CONNECTIONS} -d{MEASURE} --latency, servers in turn for {ROUNDS} rounds (medians), after a {WARM_UP} warm-up; {} cores, servers and wrk on this machine",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut results = Vec::new();
    for workload in [Workload::List, Workload::Create] {
        for server in &servers {
            wrk(server, workload, WARM_UP, &post_script).await?;
        }
        let mut rounds: Vec<Vec<Measured>> = vec![Vec::new(); servers.len()];
        for round in 0..ROUNDS {
            for turn in 0..servers.len() {
                let index = (round + turn) % servers.len();
                let server = &servers[index];
                let measured = wrk(server, workload, MEASURE, &post_script).await?;
                eprintln!(
                    "round {} · {} · {}: {:.0} req/s",
                    round + 1,
                    workload.label(),
                    server.variant.label(),
                    measured.requests_per_sec
                );
                rounds[index].push(measured);
            }
        }
        let base: Vec<f64> = rounds[0].iter().map(|m| m.requests_per_sec).collect();
        for (server, runs) in servers.iter().zip(rounds) {
            let mut ratios: Vec<f64> = runs
                .iter()
                .zip(&base)
                .map(|(m, base)| m.requests_per_sec / base)
                .collect();
            ratios.sort_by(f64::total_cmp);
            let ratio = ratios[ratios.len() / 2];
            results.push((workload, server.variant, median(runs), ratio));
        }
    }
    for server in servers {
        server.stop().await?;
    }

    println!();
    println!(
        "| workload | server | requests/s | p50 | p99 | requests/s vs (a) | p50 vs (a) | p99 vs (a) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for chunk in results.chunks(Variant::ALL.len()) {
        let (_, _, base, _) = chunk[0];
        for (workload, variant, m, ratio) in chunk {
            println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                workload.label(),
                variant.label(),
                m.requests_per_sec,
                ms(m.p50_us),
                ms(m.p99_us),
                change(*ratio, 1.0),
                change(m.p50_us, base.p50_us),
                change(m.p99_us, base.p99_us),
            );
        }
    }
    println!();
    for chunk in results.chunks(Variant::ALL.len()) {
        let (workload, ..) = chunk[0];
        for (_, variant, _, ratio) in &chunk[1..] {
            let limit = match variant {
                Variant::Native => 5.0,
                Variant::Script | Variant::ScriptModules => 30.0,
                Variant::None | Variant::NoopTaps => continue,
            };
            let change = (ratio - 1.0) * 100.0;
            let verdict = if change >= -limit { "met" } else { "MISSED" };
            println!(
                "{} · {}: requests/s {change:+.1} % against (a); target at most {limit:.0} % below: {verdict}",
                workload.label(),
                variant.label()
            );
        }
    }
    Ok(())
}

/// The allocator of the `hookline` binary, so the servers here run as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if !on_path("wrk") {
        eprintln!(
            "error: `wrk` is not on the PATH; install it (Debian: `apt-get install -y wrk`) and run again"
        );
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
