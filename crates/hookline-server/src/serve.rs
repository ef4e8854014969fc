//! Running a server: [`serve`] answers on a listener until a shutdown signal, lets requests
//! in flight finish, then closes the database; [`shutdown_signal`] waits for SIGINT or
//! SIGTERM; [`init_logging`] sets up structured logs.

use std::future::Future;
use std::io::{self, IsTerminal};
use std::time::Duration;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::app::app;
use crate::state::AppState;

/// How often histogram samples are folded into their buckets.
const UPKEEP: Duration = Duration::from_secs(5);

/// Serves `state` on `listener` until `shutdown` completes, then waits for requests in flight
/// and closes the database.
///
/// ```no_run
/// # async fn run(state: hookline_server::AppState) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// hookline_server::serve(state, listener, hookline_server::shutdown_signal()).await
/// # }
/// ```
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let metrics = state.metrics().clone();
    let upkeep = tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP);
        loop {
            interval.tick().await;
            metrics.upkeep();
        }
    });
    let served = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    state.close().await;
    tracing::info!("stopped");
    served
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global log subscriber: the level from `RUST_LOG` (default `info`), to stderr,
/// with colour codes only when stderr is a terminal.
/// Does nothing if one is installed already.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    drop(installed);
}
