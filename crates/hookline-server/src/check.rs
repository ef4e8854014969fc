//! `hookline check` and `hookline explain` need a server built without serving it: [`dry_run`]
//! builds one on an in-memory database without seeding, and [`check`] turns every failure into
//! [`Problem`]s with file and line. [`check_database`] (`hookline check --database`) compares
//! the config's resources with an existing database, read-only.

use hookline_data::{Data, DataSource, SchemaReport};

use crate::build::BuildError;
use crate::config::Config;
use crate::locate::KeyPath;
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

/// What [`check_database`] found: what would stop `hookline serve` on that database, and what
/// it would change there at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseCheck {
    /// The destructive or ambiguous differences (a dropped or renamed column, a changed type,
    /// …), each at the config line of its resource or column and saying what to do; `serve`
    /// refuses to start while there is one. A database that cannot be opened is one too.
    pub problems: Vec<Problem>,
    /// The additive changes `serve` would make at start (tables created, columns added, unique
    /// indexes created), one line each with its SQL.
    pub changes: Vec<String>,
}

/// Compares the config's resources with the database at `url`, as `hookline serve` does at
/// start, without changing it (SQLite is opened read-only, PostgreSQL sessions are read-only)
/// and without starting anything.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("hl-check-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let url = format!("sqlite://{}", dir.join("notes.db").display());
/// let toml = |columns: &str| format!(
///     "[[resources]]\nname = \"notes\"\ncolumns = [{columns}]\n"
/// );
/// let id = r#"{ name = "id", type = "integer", primary_key = true }"#;
/// let mut v1 = hookline_server::Config::from_toml(
///     &toml(&format!(r#"{id}, {{ name = "body", type = "text" }}"#)), "hookline.toml",
/// ).unwrap();
/// v1.server.database = url.clone();
/// hookline_server::AppState::build(v1).await.unwrap().close().await;
///
/// // `body` is gone from the config: dropped, or renamed?
/// let v2 = hookline_server::Config::from_toml(&toml(id), "hookline.toml").unwrap();
/// let found = hookline_server::check_database(&v2, &url).await;
/// assert!(found.problems[0].to_string().contains(r#"ALTER TABLE "notes" DROP COLUMN "body""#));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn check_database(config: &Config, url: &str) -> DatabaseCheck {
    let opened = |message: String| DatabaseCheck {
        problems: vec![Problem {
            file: config.file().to_owned(),
            line: 1,
            column: 1,
            path: None,
            message: format!("database `{url}`: {message}"),
        }],
        changes: Vec::new(),
    };
    let source = match DataSource::connect_read_only(url).await {
        Ok(source) => source,
        Err(error) => return opened(format!("cannot open it read-only: {error}")),
    };
    let report = Data::builder(source.clone())
        .resources(config.resources.clone())
        .inspect()
        .await;
    source.close().await;
    match report {
        Ok(report) => located(config, report),
        Err(error) => opened(error.to_string()),
    }
}

/// The report's problems at the config lines of their resources and columns.
fn located(config: &Config, report: SchemaReport) -> DatabaseCheck {
    let problems = report
        .problems
        .into_iter()
        .map(|problem| {
            let index = config
                .resources
                .iter()
                .position(|r| r.name == problem.resource);
            let path = index.map(|i| {
                let columns = KeyPath::new().key("resources").index(i).key("columns");
                let declared = problem.column.as_ref().and_then(|c| {
                    config.resources[i]
                        .columns
                        .iter()
                        .position(|d| d.name == *c)
                });
                match declared {
                    Some(j) => columns.index(j),
                    None => columns,
                }
            });
            match path {
                Some(path) => config.problem_at(&path, problem.to_string()),
                None => Problem {
                    file: config.file().to_owned(),
                    line: 1,
                    column: 1,
                    path: None,
                    message: problem.to_string(),
                },
            }
        })
        .collect();
    DatabaseCheck {
        problems,
        changes: report.changes.iter().map(ToString::to_string).collect(),
    }
}
