//! The cost of the flow API and of its hooks, against the same statements through raw sqlx, on
//! SQLite in memory and on PostgreSQL, in the same run:
//!
//! - `list_20`: list 20 of 100 apartments (`ORDER BY id LIMIT 20`);
//! - `create`: create one apartment (one `INSERT … RETURNING` inside a transaction).
//!
//! Each is measured three ways: `flow_0_hooks` (the flow with no taps), `flow_3_hooks` (three
//! synchronous taps: two on the request or `before_save` hook, one on the response or
//! `after_save` hook), and `raw_sqlx` (the statement the flow runs, written out, decoded into a
//! tuple; for `create`, also inside a transaction begun and committed as the flow does it:
//! `BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL).
//!
//! Run with `cargo bench -p hookline-data --bench flows`; the PostgreSQL half runs when
//! `HOOKLINE_TEST_PG` is set (in a schema of its own, dropped at the end). Results and targets
//! are in `BENCHMARKS.md` at the workspace root.

use std::str::FromStr;
use std::sync::OnceLock;

use divan::{Bencher, black_box};
use hookline::Flow;
use hookline_data::{Actor, Column, Data, DataSource, Query, Record, ResourceDef};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, SqlitePool};
use tokio::runtime::Runtime;

fn main() {
    let mut divan = divan::Divan::from_args();
    if std::env::var("HOOKLINE_TEST_PG").is_err() {
        eprintln!("HOOKLINE_TEST_PG is not set: skipping the PostgreSQL benchmarks");
        divan = divan.skip_regex("postgres");
    }
    divan.main();
    if let Some(fixture) = POSTGRES.get() {
        fixture.teardown();
    }
}

/// One database with the same table seen twice: without taps and with three per hook point.
struct Fixture {
    rt: Runtime,
    plain: Data,
    hooked: Data,
    actor: Actor,
    pool: Pool,
    schema: Option<(String, String)>,
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

static SQLITE: OnceLock<Fixture> = OnceLock::new();
static POSTGRES: OnceLock<Fixture> = OnceLock::new();

fn apartments() -> ResourceDef {
    ResourceDef::new("apartments")
        .column(Column::integer("id").primary_key())
        .column(Column::text("title").required())
        .column(Column::float("price"))
        .column(Column::boolean("listed").default_value(false))
        .column(Column::integer("realtor_id"))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn sqlite() -> &'static Fixture {
    SQLITE.get_or_init(|| {
        let rt = runtime();
        let source = rt
            .block_on(DataSource::connect("sqlite::memory:"))
            .expect("sqlite");
        let DataSource::Sqlite(pool) = &source else {
            unreachable!("connect(sqlite:) gives a SQLite pool")
        };
        let pool = Pool::Sqlite(pool.clone());
        Fixture::new(rt, source, pool, None)
    })
}

fn postgres() -> &'static Fixture {
    POSTGRES.get_or_init(|| {
        let url = std::env::var("HOOKLINE_TEST_PG").expect("HOOKLINE_TEST_PG is set");
        let rt = runtime();
        let schema = format!("hl_bench_{}", uuid::Uuid::new_v4().simple());
        let pool = rt.block_on(async {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("postgres");
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("schema");
            admin.close().await;
            let options = PgConnectOptions::from_str(&url)
                .expect("url")
                .options([("search_path", schema.as_str())]);
            PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .expect("pool")
        });
        let source = DataSource::Postgres(pool.clone());
        Fixture::new(rt, source, Pool::Postgres(pool), Some((url, schema)))
    })
}

impl Fixture {
    fn new(rt: Runtime, source: DataSource, pool: Pool, schema: Option<(String, String)>) -> Self {
        let (plain, hooked) = rt.block_on(async {
            let plain = Data::builder(source.clone())
                .resource(apartments())
                .build()
                .await
                .expect("plain");
            let hooked = Data::builder(source)
                .resource(apartments())
                .build()
                .await
                .expect("hooked");
            (plain, hooked)
        });
        let actor = Actor::new(1).with_role("realtor");
        let fixture = Fixture {
            rt,
            plain,
            hooked,
            actor,
            pool,
            schema,
        };
        fixture.add_taps();
        fixture.rt.block_on(async {
            let apartments = fixture.plain.resource("apartments").expect("resource");
            for i in 0..100 {
                let record = json!({"title": format!("flat {i}"), "price": i, "realtor_id": 1});
                apartments
                    .create(&fixture.actor, Record::try_from(record).expect("object"))
                    .await
                    .expect("seeded");
            }
        });
        fixture
    }

    /// Three cheap synchronous taps per flow, as a realistic minimum of work per tap.
    fn add_taps(&self) {
        let hooks = self.hooked.resource("apartments").expect("resource");
        let hooks = hooks.hooks();
        let list = &hooks.list;
        list.before_datasource_request
            .tap("role", |ctx| {
                black_box(ctx.actor.has_role("superadmin"));
                Ok(Flow::Continue)
            })
            .expect("tap");
        list.before_datasource_request
            .tap("limit", |ctx| {
                black_box(ctx.query.limit);
                Ok(Flow::Continue)
            })
            .expect("tap");
        list.after_datasource_response
            .tap("touch", |ctx| {
                for record in &ctx.response {
                    black_box(record.get_f64("price"));
                }
                Ok(Flow::Continue)
            })
            .expect("tap");
        let create = &hooks.create;
        create
            .before_save
            .tap("set-realtor", |ctx| {
                ctx.record.set("realtor_id", ctx.actor.id.clone());
                Ok(Flow::Continue)
            })
            .expect("tap");
        create
            .before_save
            .tap("title", |ctx| {
                black_box(ctx.record.get_str("title"));
                Ok(Flow::Continue)
            })
            .expect("tap");
        create
            .after_save
            .tap("observe", |ctx| {
                black_box(&ctx.record_id);
                Ok(Flow::Continue)
            })
            .expect("tap");
    }

    fn teardown(&self) {
        if let (Some((url, schema)), Pool::Postgres(pool)) = (&self.schema, &self.pool) {
            self.rt.block_on(async {
                pool.close().await;
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .expect("postgres");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .await
                    .expect("drop schema");
                admin.close().await;
            });
        }
    }

    fn list_flow(&self, bencher: Bencher, hooked: bool) {
        let data = if hooked { &self.hooked } else { &self.plain };
        let apartments = data.resource("apartments").expect("resource");
        bencher.bench_local(|| {
            self.rt.block_on(async {
                let page = apartments
                    .list(&self.actor, Query::new().limit(20))
                    .await
                    .expect("list");
                assert_eq!(page.records.len(), 20);
                page
            })
        });
    }

    fn create_flow(&self, bencher: Bencher, hooked: bool) {
        let data = if hooked { &self.hooked } else { &self.plain };
        let apartments = data.resource("apartments").expect("resource");
        bencher
            .with_inputs(|| {
                Record::try_from(json!({"title": "bench", "price": 10.5, "realtor_id": 1}))
                    .expect("object")
            })
            .bench_local_values(|record| {
                self.rt
                    .block_on(apartments.create(&self.actor, record))
                    .expect("create")
            });
    }
}

type Row = (i64, String, Option<f64>, bool, Option<i64>);

const SQLITE_LIST: &str = r#"SELECT "id", "title", "price", "listed", "realtor_id" FROM "apartments" ORDER BY "id" ASC LIMIT ? OFFSET ?"#;
const POSTGRES_LIST: &str = r#"SELECT "id", "title", "price", "listed", "realtor_id" FROM "apartments" ORDER BY "id" ASC LIMIT $1 OFFSET $2"#;
const SQLITE_INSERT: &str = r#"INSERT INTO "apartments" ("listed", "price", "realtor_id", "title") VALUES (?, ?, ?, ?) RETURNING "id", "title", "price", "listed", "realtor_id""#;
const POSTGRES_INSERT: &str = r#"INSERT INTO "apartments" ("listed", "price", "realtor_id", "title") VALUES ($1, $2, $3, $4) RETURNING "id", "title", "price", "listed", "realtor_id""#;

fn list_raw(fixture: &Fixture, bencher: Bencher) {
    bencher.bench_local(|| {
        fixture.rt.block_on(async {
            let rows: Vec<Row> = match &fixture.pool {
                Pool::Sqlite(pool) => sqlx::query_as(SQLITE_LIST)
                    .bind(20_i64)
                    .bind(0_i64)
                    .fetch_all(pool)
                    .await
                    .expect("list"),
                Pool::Postgres(pool) => sqlx::query_as(POSTGRES_LIST)
                    .bind(20_i64)
                    .bind(0_i64)
                    .fetch_all(pool)
                    .await
                    .expect("list"),
            };
            assert_eq!(rows.len(), 20);
            rows
        })
    });
}

fn create_raw(fixture: &Fixture, bencher: Bencher) {
    bencher.bench_local(|| {
        fixture.rt.block_on(async {
            let row: Row = match &fixture.pool {
                Pool::Sqlite(pool) => {
                    // The flow's SQLite write transactions take the write lock up front.
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                    let row = sqlx::query_as(SQLITE_INSERT)
                        .bind(false)
                        .bind(10.5_f64)
                        .bind(1_i64)
                        .bind("bench")
                        .fetch_one(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    row
                }
                Pool::Postgres(pool) => {
                    let mut tx = pool.begin().await.expect("begin");
                    let row = sqlx::query_as(POSTGRES_INSERT)
                        .bind(false)
                        .bind(10.5_f64)
                        .bind(1_i64)
                        .bind("bench")
                        .fetch_one(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    row
                }
            };
            row
        })
    });
}

mod sqlite {
    use super::{Bencher, create_raw, list_raw, sqlite};

    #[divan::bench]
    fn list_20_flow_0_hooks(bencher: Bencher) {
        sqlite().list_flow(bencher, false);
    }

    #[divan::bench]
    fn list_20_flow_3_hooks(bencher: Bencher) {
        sqlite().list_flow(bencher, true);
    }

    #[divan::bench]
    fn list_20_raw_sqlx(bencher: Bencher) {
        list_raw(sqlite(), bencher);
    }

    #[divan::bench]
    fn create_flow_0_hooks(bencher: Bencher) {
        sqlite().create_flow(bencher, false);
    }

    #[divan::bench]
    fn create_flow_3_hooks(bencher: Bencher) {
        sqlite().create_flow(bencher, true);
    }

    #[divan::bench]
    fn create_raw_sqlx(bencher: Bencher) {
        create_raw(sqlite(), bencher);
    }
}

mod postgres {
    use super::{Bencher, create_raw, list_raw, postgres};

    #[divan::bench]
    fn list_20_flow_0_hooks(bencher: Bencher) {
        postgres().list_flow(bencher, false);
    }

    #[divan::bench]
    fn list_20_flow_3_hooks(bencher: Bencher) {
        postgres().list_flow(bencher, true);
    }

    #[divan::bench]
    fn list_20_raw_sqlx(bencher: Bencher) {
        list_raw(postgres(), bencher);
    }

    #[divan::bench]
    fn create_flow_0_hooks(bencher: Bencher) {
        postgres().create_flow(bencher, false);
    }

    #[divan::bench]
    fn create_flow_3_hooks(bencher: Bencher) {
        postgres().create_flow(bencher, true);
    }

    #[divan::bench]
    fn create_raw_sqlx(bencher: Bencher) {
        create_raw(postgres(), bencher);
    }
}
