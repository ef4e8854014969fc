//! For the unit tests that need PostgreSQL: a fresh schema per test.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Executor;

/// Runs `test` with the URL of a fresh schema of the `HOOKLINE_TEST_PG` database, then drops
/// the schema (also when the test panics). Prints a notice and returns when
/// `HOOKLINE_TEST_PG` is unset.
pub(crate) async fn with_postgres_schema<F, Fut>(name: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(base) = std::env::var("HOOKLINE_TEST_PG") else {
        eprintln!("skipping PostgreSQL test `{name}`: HOOKLINE_TEST_PG is not set");
        return;
    };
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("postgres answers");
    static SCHEMAS: AtomicUsize = AtomicUsize::new(0);
    let n = SCHEMAS.fetch_add(1, Ordering::Relaxed);
    let schema = format!("hl_{name}_{}_{n}", std::process::id());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options[search_path]={schema}");
    let outcome = tokio::spawn(test(url)).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .unwrap();
    admin.close().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
