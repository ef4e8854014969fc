//! The `hookline` binary: serve a config (or the built-in demo), explain the hook order, check
//! a config and its scripts, write a starter config.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hookline_server::{
    AppState, Config, DEMO_LOGIN, DEMO_PASSWORD, ExplainFormat, LogFormat, check, check_database,
    dry_run, hash_password, init, init_logging, serve, shutdown_signal,
};

/// The server allocates many small, short-lived values per request (records, JSON, script
/// objects); mimalloc serves them with less contention and fragmentation than glibc's malloc
/// (`BENCHMARKS.md` has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// hookline: resources, routes and lifecycle hooks over HTTP.
#[derive(Debug, Parser)]
#[command(name = "hookline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a config, or the built-in demo (AdminForth's apartments example) without one.
    Serve {
        /// The config file. Without it, the built-in demo is served.
        #[arg(long, short, env = "HOOKLINE_CONFIG")]
        config: Option<PathBuf>,
        /// The database URL (`sqlite://FILE`, `postgres://…`); overrides `[server] database`.
        #[arg(long, env = "HOOKLINE_DATABASE")]
        database: Option<String>,
        /// The address to listen on; overrides `[server] addr`.
        #[arg(long, env = "HOOKLINE_ADDR")]
        addr: Option<SocketAddr>,
        /// Debug mode: route responses carry `@LOGS`, errors their internal detail.
        #[arg(long)]
        debug: bool,
        /// The format of log lines (stderr; level from `RUST_LOG`).
        #[arg(long, value_enum, default_value = "text")]
        log_format: Format,
    },
    /// Show the order of every hook's taps, per resource and route.
    Explain {
        /// Only this resource (by name) or route (by path).
        target: Option<String>,
        /// The config file (the built-in demo if unset).
        #[arg(long, short, env = "HOOKLINE_CONFIG")]
        config: Option<PathBuf>,
        /// Mermaid flowcharts instead of text.
        #[arg(long)]
        mermaid: bool,
    },
    /// Check a config and its scripts; report every problem with file and line.
    Check {
        /// The config file.
        #[arg(long, short, env = "HOOKLINE_CONFIG", default_value = "hookline.toml")]
        config: PathBuf,
        /// Also compare the resources with this database (`sqlite://FILE`, `postgres://…`),
        /// read-only: report what would stop `serve` there (a dropped, renamed or retyped
        /// column, …) and list what it would add at start. The database is not changed.
        #[arg(long)]
        database: Option<String>,
    },
    /// Write a starter config and hook scripts (the demo) into a directory.
    Init {
        /// The directory (the current one if unset).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Read a password from stdin and print its argon2 hash, for a users table.
    HashPassword,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(config: Option<&PathBuf>) -> Result<Config, String> {
    match config {
        Some(path) => Config::load(path).map_err(|e| e.to_string()),
        None => Ok(Config::demo()),
    }
}

async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve {
            config,
            database,
            addr,
            debug,
            log_format,
        } => {
            init_logging(match log_format {
                Format::Text => LogFormat::Text,
                Format::Json => LogFormat::Json,
            });
            let demo = config.is_none();
            let mut config = load(config.as_ref())?;
            if let Some(database) = database {
                config.server.database = database;
            }
            if let Some(addr) = addr {
                config.server.addr = addr;
            }
            config.server.debug |= debug;
            let database = config.server.database.clone();
            let state = AppState::build(config).await.map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::bind(state.server().addr)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", state.server().addr))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let mut out = io::stdout().lock();
            if demo {
                let _ = writeln!(
                    out,
                    "hookline demo: AdminForth's apartments example (users, apartments, audit log)"
                );
            }
            let _ = writeln!(out, "  listening on  http://{addr}");
            let _ = writeln!(out, "  database      {database}");
            if demo {
                let _ = writeln!(
                    out,
                    "  log in        POST http://{addr}/auth/login {{\"login\":\"{DEMO_LOGIN}\",\"password\":\"{DEMO_PASSWORD}\"}}"
                );
                let _ = writeln!(
                    out,
                    "                (realtors: ann@hookline.dev, bob@hookline.dev, same password)"
                );
            }
            let _ = writeln!(out, "  API docs      http://{addr}/docs");
            let _ = writeln!(out, "  OpenAPI       http://{addr}/openapi.json");
            let _ = out.flush();
            drop(out);
            serve(state, listener, shutdown_signal())
                .await
                .map_err(|e| format!("the server failed: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            target,
            config,
            mermaid,
        } => {
            let state = dry_run(load(config.as_ref())?)
                .await
                .map_err(|e| e.to_string())?;
            let format = if mermaid {
                ExplainFormat::Mermaid
            } else {
                ExplainFormat::Text
            };
            let text = state.explain(target.as_deref(), format);
            state.close().await;
            print!("{}", text.map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, database } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let file = config.file().to_owned();
            let mut problems = check(config.clone()).await;
            if let Some(url) = database {
                let found = check_database(&config, &url).await;
                for change in &found.changes {
                    println!("note: at start, serve would change {change}");
                }
                problems.extend(found.problems);
            }
            if problems.is_empty() {
                println!("{file}: ok");
                return Ok(ExitCode::SUCCESS);
            }
            for problem in &problems {
                println!("{problem}");
            }
            println!("{} problem(s)", problems.len());
            Ok(ExitCode::FAILURE)
        }
        Command::Init { dir, force } => {
            let written = init(&dir, force).map_err(|e| e.to_string())?;
            for path in &written {
                println!("wrote {}", path.display());
            }
            println!(
                "next: hookline check --config {0}; hookline serve --config {0}",
                dir.join("hookline.toml").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::HashPassword => {
            let mut password = String::new();
            io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err("the password is empty".into());
            }
            let hash = hash_password(password).map_err(|e| e.to_string())?;
            println!("{hash}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
