//! The server's own table, `hookline_meta` (`key` text primary key, `value` text): values that
//! every instance over one database must share, made by whichever instance needs them first.
//! Today it holds one: the token signing secret ([`token_secret`]), when none comes from the
//! environment.
//!
//! Making a value is race-free on its own, with no lock: the table is created if missing, the
//! value is inserted with `ON CONFLICT DO NOTHING`, and whatever the table then holds is read
//! back. Instances that start at once each offer a value; the first insert wins and every one
//! of them reads it. Resources never see this table.

use hookline_data::DataSource;

/// The table's name.
pub(crate) const TABLE: &str = "hookline_meta";

/// The key of the token signing secret.
const TOKEN_SECRET: &str = "token_secret";

const CREATE: &str =
    r#"CREATE TABLE IF NOT EXISTS hookline_meta ("key" TEXT PRIMARY KEY, "value" TEXT NOT NULL)"#;
const INSERT_SQLITE: &str =
    r#"INSERT INTO hookline_meta ("key", "value") VALUES (?, ?) ON CONFLICT ("key") DO NOTHING"#;
const INSERT_POSTGRES: &str =
    r#"INSERT INTO hookline_meta ("key", "value") VALUES ($1, $2) ON CONFLICT ("key") DO NOTHING"#;
const SELECT_SQLITE: &str = r#"SELECT "value" FROM hookline_meta WHERE "key" = ?"#;
const SELECT_POSTGRES: &str = r#"SELECT "value" FROM hookline_meta WHERE "key" = $1"#;

/// The token signing secret shared by every instance over `source`: the stored one, or
/// `fresh` stored now if there is none yet. `fresh` is dropped when another instance stored
/// its secret first.
pub(crate) async fn token_secret(
    source: &DataSource,
    fresh: String,
) -> Result<String, sqlx::Error> {
    get_or_insert(source, TOKEN_SECRET, fresh).await
}

/// The value under `key`, after inserting `value` if the key had none.
async fn get_or_insert(
    source: &DataSource,
    key: &str,
    value: String,
) -> Result<String, sqlx::Error> {
    create_table(source).await?;
    match source {
        DataSource::Sqlite(pool) => {
            sqlx::query(INSERT_SQLITE)
                .bind(key)
                .bind(value)
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT_SQLITE)
                .bind(key)
                .fetch_one(pool)
                .await
        }
        DataSource::Postgres(pool) => {
            sqlx::query(INSERT_POSTGRES)
                .bind(key)
                .bind(value)
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT_POSTGRES)
                .bind(key)
                .fetch_one(pool)
                .await
        }
    }
}

/// Creates the table if it is missing. PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe
/// against itself: when two sessions create the same table at once, the second fails with a
/// unique violation in the catalog once the first commits. By then the table exists, so one
/// more try finds it.
async fn create_table(source: &DataSource) -> Result<(), sqlx::Error> {
    let create = || async {
        match source {
            DataSource::Sqlite(pool) => sqlx::query(CREATE).execute(pool).await.map(drop),
            DataSource::Postgres(pool) => sqlx::query(CREATE).execute(pool).await.map(drop),
        }
    };
    match create().await {
        Ok(()) => Ok(()),
        Err(first) => {
            tracing::debug!(error = %first, "creating `{TABLE}` failed once; trying again");
            create().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `instances` pools over one database each ask for the secret at once, offering their
    /// own; all must read the same one, and it is one of those offered.
    async fn all_read_one_secret(url: &str, instances: usize) {
        let mut sources = Vec::new();
        for _ in 0..instances {
            sources.push(DataSource::connect(url).await.expect("the database opens"));
        }
        let offers: Vec<String> = (0..instances).map(|i| format!("secret-{i}")).collect();
        let tasks: Vec<_> = sources
            .iter()
            .zip(&offers)
            .map(|(source, offer)| {
                let (source, offer) = (source.clone(), offer.clone());
                tokio::spawn(async move { token_secret(&source, offer).await })
            })
            .collect();
        let mut read = Vec::new();
        for task in tasks {
            read.push(
                task.await
                    .expect("the task ends")
                    .expect("every instance reads the secret"),
            );
        }
        assert!(offers.contains(&read[0]), "{read:?}");
        assert!(read.iter().all(|s| *s == read[0]), "{read:?}");
        // A later start keeps it.
        let again = token_secret(&sources[0], "later".into()).await.unwrap();
        assert_eq!(again, read[0]);
        for source in sources {
            source.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_starting_at_once_on_sqlite_share_one_secret() {
        let dir = std::env::temp_dir().join(format!("hookline-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("meta.db").display());
        all_read_one_secret(&url, 8).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_starting_at_once_on_postgres_share_one_secret() {
        for _ in 0..5 {
            // A fresh schema each round, so that the table is created concurrently each time.
            crate::test_support::with_postgres_schema("meta", |url| async move {
                all_read_one_secret(&url, 8).await;
            })
            .await;
        }
    }
}
