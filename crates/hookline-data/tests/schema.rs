//! The schema at start-up, on both backends: additive changes made by the next build, destructive
//! or ambiguous ones refused (with the column and what to do) without changing anything,
//! unique columns backed by the database (a violation names the column), and start-ups of
//! several instances on one database taking turns under the schema lock (one schema, one
//! seed).

mod common;

use std::time::Duration;

use common::{rec, with_postgres_url};
use hookline_data::{
    Actor, Backend, Column, Data, DataError, DataSource, Query, ResourceDef, SchemaLock,
};
use serde_json::json;

on_both_backends!(
    additive_changes_are_made_by_the_next_build,
    destructive_changes_are_refused_and_change_nothing,
    unique_violations_answer_409_naming_the_column,
);

fn notes_v1() -> ResourceDef {
    ResourceDef::new("notes")
        .column(Column::integer("id").primary_key())
        .column(Column::text("body"))
}

fn users_v1() -> ResourceDef {
    ResourceDef::new("users")
        .column(Column::integer("id").primary_key())
        .column(Column::text("email"))
}

async fn build(source: &DataSource, defs: Vec<ResourceDef>) -> Result<Data, DataError> {
    Data::builder(source.clone()).resources(defs).build().await
}

async fn additive_changes_are_made_by_the_next_build(source: DataSource) {
    let root = Actor::default();
    let data = build(&source, vec![users_v1(), notes_v1()]).await.unwrap();
    let notes = data.resource("notes").unwrap();
    for body in ["one", "two"] {
        notes
            .create(&root, rec(json!({ "body": body })))
            .await
            .unwrap();
    }
    data.resource("users")
        .unwrap()
        .create(&root, rec(json!({ "email": "ann@example.com" })))
        .await
        .unwrap();

    let v2 = vec![
        users_v1().column(Column::text("nickname")),
        notes_v1()
            .column(Column::text("tag"))
            .column(Column::text("status").required().default_value("draft"))
            .column(Column::integer("views").default_value(0))
            .column(Column::integer("author_id").references("users")),
        ResourceDef::new("tags").column(Column::integer("id").primary_key()),
    ];
    let mut v2 = v2;
    v2[0].columns[1] = Column::text("email").unique();

    // Inspecting lists the changes and makes none.
    for _ in 0..2 {
        let report = Data::builder(source.clone())
            .resources(v2.clone())
            .inspect()
            .await
            .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let mut planned: Vec<String> = report
            .changes
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column.as_deref().unwrap_or("*")))
            .collect();
        planned.sort();
        assert_eq!(
            planned,
            [
                "notes.author_id",
                "notes.status",
                "notes.tag",
                "notes.views",
                "tags.*",
                "users.email",
                "users.nickname",
            ]
        );
    }

    let data = build(&source, v2.clone()).await.unwrap();
    let notes = data.resource("notes").unwrap();
    let old = notes
        .list(&root, Query::new())
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r["status"].clone(), r["views"].clone(), r["tag"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        old,
        vec![(json!("draft"), json!(0), json!(null)); 2],
        "existing rows got the defaults"
    );
    let made = notes
        .create(
            &root,
            rec(json!({ "body": "three", "tag": "new", "author_id": 1 })),
        )
        .await
        .unwrap();
    assert_eq!(made["tag"], "new");
    let dangling = notes
        .create(&root, rec(json!({ "author_id": 99 })))
        .await
        .unwrap_err();
    assert_eq!(
        dangling.status(),
        409,
        "the added column is a foreign key: {dangling}"
    );
    data.resource("tags")
        .unwrap()
        .create(&root, Default::default())
        .await
        .unwrap();
    let taken = data
        .resource("users")
        .unwrap()
        .create(&root, rec(json!({ "email": "ann@example.com" })))
        .await
        .unwrap_err();
    assert_eq!(taken.status(), 409, "the unique index was added: {taken}");
    assert!(taken.to_string().contains("`email`"), "{taken}");

    // Nothing is left to change.
    let report = Data::builder(source.clone())
        .resources(v2)
        .inspect()
        .await
        .unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// The one refusal of building `defs`, as (resource, message).
async fn refused(source: &DataSource, defs: Vec<ResourceDef>) -> (String, String) {
    match build(source, defs).await.unwrap_err() {
        DataError::SchemaMismatch {
            resource, message, ..
        } => (resource, message),
        other => panic!("expected a schema mismatch, got {other}"),
    }
}

async fn destructive_changes_are_refused_and_change_nothing(source: DataSource) {
    let root = Actor::default();
    let items = || {
        ResourceDef::new("items")
            .column(Column::integer("id").primary_key())
            .column(Column::text("name"))
            .column(Column::float("price"))
            .column(Column::text("code"))
    };
    let data = build(&source, vec![items()]).await.unwrap();
    let resource = data.resource("items").unwrap();
    for name in ["box", "box"] {
        resource
            .create(&root, rec(json!({ "name": name, "price": 1.5 })))
            .await
            .unwrap();
    }
    let without = |column: &str| {
        let mut def = items();
        def.columns.retain(|c| c.name != column);
        def
    };

    // A column in the table but not in the definition: dropped, or renamed.
    let (resource, message) = refused(&source, vec![without("code")]).await;
    assert_eq!(resource, "items");
    assert!(message.contains("`code`"), "{message}");
    assert!(
        message.contains(r#"ALTER TABLE "items" DROP COLUMN "code""#),
        "{message}"
    );
    let (_, message) = refused(&source, vec![without("code").column(Column::text("sku"))]).await;
    assert!(
        message.contains(r#"ALTER TABLE "items" RENAME COLUMN "code" TO "sku""#),
        "{message}"
    );

    // A changed type.
    let mut retyped = items();
    retyped.columns[2] = Column::text("price");
    let (_, message) = refused(&source, vec![retyped]).await;
    assert!(message.contains("column `price`"), "{message}");
    match source.backend() {
        Backend::Postgres => assert!(
            message.contains(r#"ALTER TABLE "items" ALTER COLUMN "price" TYPE text"#),
            "{message}"
        ),
        Backend::Sqlite => assert!(
            message.contains("SQLite cannot change a column's type"),
            "{message}"
        ),
    }

    // A new required column without a default, on a table with rows.
    let (_, message) = refused(
        &source,
        vec![items().column(Column::float("weight").required())],
    )
    .await;
    assert!(message.contains("column `weight`"), "{message}");
    assert!(message.contains("required and has no default"), "{message}");

    // A unique column over duplicate values.
    let mut unique = items();
    unique.columns[1] = Column::text("name").unique();
    let (_, message) = refused(&source, vec![unique]).await;
    assert!(message.contains("column `name`"), "{message}");
    assert!(
        message.contains(r#"duplicate values (such as "box")"#),
        "{message}"
    );

    // A new primary key.
    let mut rekeyed = items();
    rekeyed.columns[0] = Column::integer("id");
    let rekeyed = rekeyed.column(Column::integer("item_id").primary_key());
    let (_, message) = refused(&source, vec![rekeyed]).await;
    assert!(message.contains("column `item_id`"), "{message}");

    // A refused build changes nothing, not even what it could have added.
    let (_, message) = refused(&source, vec![without("code").column(Column::text("note"))]).await;
    assert!(message.contains("`code`"), "{message}");
    let report = Data::builder(source.clone())
        .resource(items())
        .inspect()
        .await
        .unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let data = build(&source, vec![items()]).await.unwrap();
    assert_eq!(
        data.resource("items")
            .unwrap()
            .count(&root, Query::new())
            .await
            .unwrap(),
        2
    );
}

async fn unique_violations_answer_409_naming_the_column(source: DataSource) {
    let root = Actor::default();
    let accounts = ResourceDef::new("accounts")
        .column(Column::integer("id").primary_key())
        .column(Column::text("login").required().unique())
        .column(Column::text("email").unique());
    let data = build(&source, vec![accounts]).await.unwrap();
    let accounts = data.resource("accounts").unwrap();
    accounts
        .create(
            &root,
            rec(json!({ "login": "ann", "email": "ann@example.com" })),
        )
        .await
        .unwrap();
    let bob = accounts
        .create(
            &root,
            rec(json!({ "login": "bob", "email": "bob@example.com" })),
        )
        .await
        .unwrap();
    for (record, column) in [
        (
            json!({ "login": "ann", "email": "other@example.com" }),
            "login",
        ),
        (
            json!({ "login": "cara", "email": "ann@example.com" }),
            "email",
        ),
    ] {
        let err = accounts.create(&root, rec(record)).await.unwrap_err();
        assert_eq!(err.status(), 409, "{err}");
        assert!(
            matches!(&err, DataError::Conflict { message, .. }
                if message == &format!("`{column}` must be unique: another record has this value")),
            "{err}"
        );
    }
    let err = accounts
        .edit(
            &root,
            bob["id"].clone(),
            rec(json!({ "email": "ann@example.com" })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert!(err.to_string().contains("`email`"), "{err}");
    let err = accounts
        .create(
            &root,
            rec(json!({ "id": bob["id"].clone(), "login": "dan" })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert!(
        err.to_string().contains("`id`"),
        "the primary key too: {err}"
    );
}

// ---- Several instances on one database ----

/// The definitions every racing start-up builds: a chain of foreign keys, so that tables are
/// created in order.
fn shop() -> Vec<ResourceDef> {
    vec![
        ResourceDef::new("customers")
            .column(Column::integer("id").primary_key())
            .column(Column::text("email").unique()),
        ResourceDef::new("orders")
            .column(Column::integer("id").primary_key())
            .column(Column::integer("customer_id").references("customers")),
        ResourceDef::new("lines")
            .column(Column::integer("id").primary_key())
            .column(Column::integer("order_id").references("orders"))
            .column(Column::json("item")),
    ]
}

const STARTS: usize = 6;

/// One instance's start-up: its own pool, the schema changes and the seed under the lock.
/// The seed has no unique column to stop a second one: only the lock does.
async fn start_up(url: String) -> Result<u64, DataError> {
    let source = DataSource::connect(&url).await?;
    let lock = SchemaLock::acquire(&source).await?;
    let data = Data::builder(source.clone())
        .resources(shop())
        .under_lock(&lock)
        .build()
        .await?;
    let root = Actor::default();
    let orders = data.resource("orders")?;
    if orders.count(&root, Query::new()).await? == 0 {
        // Seeding takes a while, as real seeds do (password hashes): a start-up without the
        // lock would count an empty table meanwhile.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..3 {
            orders.create(&root, Default::default()).await?;
        }
    }
    lock.release().await?;
    let count = orders.count(&root, Query::new()).await?;
    source.close().await;
    Ok(count)
}

/// Runs `STARTS` start-ups at once; every one succeeds and sees one seed.
async fn race(url: &str) {
    let starts: Vec<_> = (0..STARTS)
        .map(|_| tokio::spawn(start_up(url.to_owned())))
        .collect();
    for start in starts {
        let count = start
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a start-up failed: {e}"));
        assert_eq!(count, 3, "seeded exactly once");
    }
}

/// `STARTS` plain builds at once (each takes the lock for its own schema changes).
async fn race_builds(url: &str) {
    let builds: Vec<_> = (0..STARTS)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let source = DataSource::connect(&url).await?;
                let data = Data::builder(source.clone())
                    .resources(shop())
                    .build()
                    .await;
                source.close().await;
                data.map(drop)
            })
        })
        .collect();
    for build in builds {
        build
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a build failed: {e}"));
    }
}

/// A SQLite file in a fresh directory, removed afterwards.
struct SqliteFile(std::path::PathBuf);

impl SqliteFile {
    fn new() -> SqliteFile {
        let dir = std::env::temp_dir().join(format!("hl-schema-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        SqliteFile(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("shop.db").display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_ups_at_once_make_one_schema_and_one_seed() {
    with_postgres_url(
        "postgres_start_ups_at_once_make_one_schema_and_one_seed",
        |url| async move { race(&url).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_builds_at_once_create_each_table_once() {
    with_postgres_url(
        "postgres_builds_at_once_create_each_table_once",
        |url| async move { race_builds(&url).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_start_ups_at_once_make_one_schema_and_one_seed() {
    let file = SqliteFile::new();
    race(&file.url()).await;
    race_builds(&file.url()).await;
}

/// The lock is exclusive: a second holder waits until the first releases it, on PostgreSQL
/// and on a SQLite file (the lock file), and dropping a lock releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_lock_has_one_holder_at_a_time() {
    let file = SqliteFile::new();
    one_holder_at_a_time(&file.url()).await;
    with_postgres_url(
        "the_schema_lock_has_one_holder_at_a_time",
        |url| async move { one_holder_at_a_time(&url).await },
    )
    .await;
}

/// [`the_schema_lock_has_one_holder_at_a_time`] on the database at `url`.
async fn one_holder_at_a_time(url: &str) {
    let (a, b) = (
        DataSource::connect(url).await.unwrap(),
        DataSource::connect(url).await.unwrap(),
    );
    let held = SchemaLock::acquire(&a).await.unwrap();
    let waiting = tokio::spawn(async move { SchemaLock::acquire(&b).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "{url}: a second holder got the lock"
    );
    held.release().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting holder gets the lock after the release")
        .unwrap()
        .unwrap();
    drop(second);
    let third = tokio::time::timeout(Duration::from_secs(5), SchemaLock::acquire(&a))
        .await
        .expect("a dropped lock is released")
        .unwrap();
    third.release().await.unwrap();
    a.close().await;
}

/// A write that waits out SQLite's busy timeout behind another process's write transaction
/// answers 409 "retry", not 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_locked_out_by_another_process_is_a_conflict_to_retry() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let file = SqliteFile::new();
    let path = file.0.join("shop.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_millis(100));
    let pool = SqlitePoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    let data = Data::builder(DataSource::Sqlite(pool))
        .resources(shop())
        .build()
        .await
        .unwrap();
    // Another process's write transaction, as far as this pool can tell.
    let other = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let holder = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let err = data
        .resource("orders")
        .unwrap()
        .create(&Actor::default(), Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Conflict { message, .. }
            if message == "a concurrent write conflicted; retry"),
        "{err}"
    );
    assert_eq!(err.status(), 409);
    holder.rollback().await.unwrap();
}
