//! `hookline check` and `hookline explain` need a server built without serving it: [`dry_run`]
//! builds one on an in-memory database without seeding, and [`check`] turns every failure into
//! [`Problem`]s with file and line.

use crate::build::BuildError;
use crate::config::Config;
use crate::state::AppState;
use crate::validate::Problem;

/// Builds `config` on an in-memory SQLite database, without seed rows: every script loads and
/// every hook registers, and nothing persists.
pub async fn dry_run(mut config: Config) -> Result<AppState, BuildError> {
    config.server.database = "sqlite::memory:".into();
    config.seed.clear();
    AppState::build(config).await
}

/// Every problem of a config and its scripts, each with its file and line (empty if none):
/// the config's own checks, every script that does not load or compile, and anything that
/// fails when the resources and hooks are put together.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let config = hookline_server::Config::from_toml(r#"
/// [[resources]]
/// name = "notes"
/// columns = [{ name = "id", type = "integer", primary_key = true }]
///
/// [hooks.notes]
/// "create.before_save" = "missing.js"
/// "#, "hookline.toml").unwrap();
/// let problems = hookline_server::check(config).await;
/// assert_eq!(problems.len(), 1);
/// assert!(problems[0].to_string().starts_with("hookline.toml:7:1: hooks.notes.\"create.before_save\": cannot read script"));
/// # });
/// ```
pub async fn check(config: Config) -> Vec<Problem> {
    let file = config.file().to_owned();
    let state = match dry_run(config).await {
        Ok(state) => state,
        Err(BuildError::Invalid(problems)) => return problems.0,
        Err(other) => {
            return vec![Problem {
                file,
                line: 1,
                column: 1,
                path: None,
                message: other.to_string(),
            }];
        }
    };
    state.close().await;
    Vec::new()
}
