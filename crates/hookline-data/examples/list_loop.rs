//! A loop of lists through the flow API on SQLite in memory — the `list_20` case of the
//! `flows` bench without the harness — for profilers that measure a whole process:
//!
//! ```text
//! cargo build --profile bench -p hookline-data --example list_loop
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/list_loop 1500
//! ```
//!
//! The argument is the number of lists of 20 rows (default 10 000); `raw` as a second argument
//! runs the same `SELECT` through raw sqlx instead, decoded into a tuple, for a baseline under
//! the same profiler. Subtracting a run of 500 lists from one of 1500 leaves the cost of 1000
//! lists without the setup.

use hookline_data::{Actor, Column, Data, DataSource, Query, Record, ResourceDef};
use serde_json::json;

const RAW_LIST: &str = r#"SELECT "id", "title", "price", "listed", "realtor_id" FROM "apartments" ORDER BY "id" ASC LIMIT ? OFFSET ?"#;

/// A row of the raw list.
type Row = (i64, String, Option<f64>, bool, Option<i64>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lists: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let raw = args.next().is_some_and(|mode| mode == "raw");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(lists, raw))
}

/// Sets up the `apartments` table of the bench with 100 rows, then lists 20 of them `lists`
/// times.
async fn run(lists: usize, raw: bool) -> Result<(), Box<dyn std::error::Error>> {
    let source = DataSource::connect("sqlite::memory:").await?;
    let data = Data::builder(source.clone())
        .resource(
            ResourceDef::new("apartments")
                .column(Column::integer("id").primary_key())
                .column(Column::text("title").required())
                .column(Column::float("price"))
                .column(Column::boolean("listed").default_value(false))
                .column(Column::integer("realtor_id")),
        )
        .build()
        .await?;
    let apartments = data.resource("apartments")?;
    let actor = Actor::new(1).with_role("realtor");
    for i in 0..100 {
        let record = Record::try_from(
            json!({"title": format!("apartment {i}"), "price": 100.0 + f64::from(i), "realtor_id": 1}),
        )?;
        apartments.create(&actor, record).await?;
    }
    let DataSource::Sqlite(pool) = &source else {
        unreachable!("connect(sqlite:) gives a SQLite pool")
    };
    for _ in 0..lists {
        let listed = if raw {
            let rows: Vec<Row> = sqlx::query_as(RAW_LIST)
                .bind(20_i64)
                .bind(0_i64)
                .fetch_all(pool)
                .await?;
            rows.len()
        } else {
            apartments
                .list(&actor, Query::new().limit(20))
                .await?
                .records
                .len()
        };
        assert_eq!(listed, 20);
    }
    Ok(())
}
