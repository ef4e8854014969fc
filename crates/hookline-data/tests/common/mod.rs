//! Test harness: every test runs once on SQLite (in memory) and once on PostgreSQL (in a
//! schema of its own, dropped afterwards; skipped with a notice when `HOOKLINE_TEST_PG` is
//! unset), plus the AdminForth apartments fixture the tests share.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use hookline_data::{
    Actor, Column, Data, DataSource, Fill, OnDelete, Record, Resource, ResourceDef,
};
use serde_json::{Value, json};
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;

/// Runs `test` on SQLite in memory.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(DataSource) -> Fut,
    Fut: Future<Output = ()>,
{
    let source = DataSource::connect("sqlite::memory:")
        .await
        .expect("sqlite opens");
    test(source.clone()).await;
    source.close().await;
}

/// Runs `test` on PostgreSQL in a fresh schema, then drops the schema (also when the test
/// panics). Prints a notice and returns when `HOOKLINE_TEST_PG` is unset.
pub async fn on_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(DataSource) -> Fut,
    Fut: Future<Output = ()>,
{
    with_postgres_url(name, |url| async move {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connects");
        let outcome = AssertUnwindSafe(test(DataSource::Postgres(pool.clone())))
            .catch_unwind()
            .await;
        pool.close().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

/// Runs `test` with the URL of a fresh schema of the `HOOKLINE_TEST_PG` database (each
/// connection's `search_path`), then drops the schema, also when the test panics. Prints a
/// notice and returns when `HOOKLINE_TEST_PG` is unset.
pub async fn with_postgres_url<F, Fut>(name: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(url) = std::env::var("HOOKLINE_TEST_PG") else {
        eprintln!("skipping PostgreSQL test `{name}`: HOOKLINE_TEST_PG is not set");
        return;
    };
    let schema = format!("hl_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("postgres answers");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("schema created");
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options[search_path]={schema}");
    let outcome = AssertUnwindSafe(test(scoped)).catch_unwind().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .expect("schema dropped");
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares `async fn name(source: DataSource)` tests to run on both backends, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::on_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::on_postgres(stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

/// A record from a JSON object literal.
pub fn rec(value: Value) -> Record {
    Record::try_from(value).expect("a JSON object")
}

/// The users, apartments, rooms and notes of AdminForth's demo.
pub fn defs() -> Vec<ResourceDef> {
    vec![
        ResourceDef::new("users")
            .column(Column::integer("id").primary_key())
            .column(Column::text("email").required())
            .column(Column::text("role").default_value("realtor"))
            .column(Column::text("password_hash").backend_only()),
        ResourceDef::new("apartments")
            .column(Column::integer("id").primary_key())
            .column(Column::text("title").required())
            .column(Column::float("price"))
            .column(Column::boolean("listed").default_value(false))
            .column(Column::timestamp("created_at").fill_on_create(Fill::Now))
            .column(Column::uuid("code").fill_on_create(Fill::Uuid))
            .column(Column::json("meta"))
            .column(
                Column::integer("realtor_id")
                    .references("users")
                    .on_delete(OnDelete::Cascade),
            ),
        ResourceDef::new("rooms")
            .column(Column::integer("id").primary_key())
            .column(Column::text("name"))
            .column(
                Column::integer("apartment_id")
                    .required()
                    .references("apartments")
                    .on_delete(OnDelete::Cascade),
            ),
        ResourceDef::new("notes")
            .column(Column::integer("id").primary_key())
            .column(Column::text("body"))
            .column(
                Column::integer("apartment_id")
                    .references("apartments")
                    .on_delete(OnDelete::SetNull),
            ),
    ]
}

/// The fixture: the demo resources, two realtors (ids 1 and 2) and a superadmin (id 3).
pub struct Demo {
    pub data: Data,
    pub users: Resource,
    pub apartments: Resource,
    pub rooms: Resource,
    pub notes: Resource,
    pub one: Actor,
    pub two: Actor,
    pub root: Actor,
}

impl Demo {
    pub async fn new(source: DataSource) -> Demo {
        Demo::with_defs(source, defs()).await
    }

    pub async fn with_defs(source: DataSource, defs: Vec<ResourceDef>) -> Demo {
        let data = Data::builder(source)
            .resources(defs)
            .build()
            .await
            .expect("builds");
        let users = data.resource("users").expect("users");
        let root = Actor::new(3).with_role("superadmin");
        for (email, role) in [
            ("one@x.org", "realtor"),
            ("two@x.org", "realtor"),
            ("root@x.org", "superadmin"),
        ] {
            users
                .create(&root, rec(json!({ "email": email, "role": role })))
                .await
                .expect("user created");
        }
        Demo {
            apartments: data.resource("apartments").expect("apartments"),
            rooms: data.resource("rooms").expect("rooms"),
            notes: data.resource("notes").expect("notes"),
            users,
            data,
            one: Actor::new(1).with_role("realtor"),
            two: Actor::new(2).with_role("realtor"),
            root,
        }
    }

    /// Creates an apartment as `root` for `realtor` (no hooks are registered yet when the
    /// tests call this, unless they say so).
    pub async fn apartment(&self, title: &str, price: f64, realtor: i64) -> Record {
        self.apartments
            .create(
                &self.root,
                rec(json!({ "title": title, "price": price, "realtor_id": realtor })),
            )
            .await
            .expect("apartment created")
    }

    /// Row count of a resource, as the superadmin sees it (no hooks registered on it).
    pub async fn count(&self, resource: &Resource) -> u64 {
        resource
            .count(&self.root, Default::default())
            .await
            .expect("count")
    }
}

/// The `id` of a record.
pub fn id(record: &Record) -> Value {
    record.get("id").cloned().expect("has an id")
}
