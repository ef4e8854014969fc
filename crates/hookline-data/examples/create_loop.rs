//! A loop of creates through the flow API on SQLite in memory — the `create` case of the
//! `flows` bench without the harness — for profilers that measure a whole process:
//!
//! ```text
//! cargo build --profile bench -p hookline-data --example create_loop
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/create_loop 1500
//! perf record -g target/release/examples/create_loop 20000
//! ```
//!
//! The argument is the number of creates (default 10 000); `raw` as a second argument runs the
//! same insert through raw sqlx instead (`BEGIN IMMEDIATE` … `COMMIT`, as the flow does), for a
//! baseline under the same profiler. Subtracting a run of 500 creates from one of 1500 leaves
//! the cost of 1000 creates without the setup. Each create also builds its input record, which
//! the bench does outside the timed part.

use hookline_data::{Actor, Column, Data, DataSource, Record, ResourceDef};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let creates: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let raw = args.next().is_some_and(|mode| mode == "raw");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(creates, raw))
}

/// Sets up the `apartments` table of the bench, then creates `creates` rows one by one.
async fn run(creates: usize, raw: bool) -> Result<(), Box<dyn std::error::Error>> {
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
    let DataSource::Sqlite(pool) = &source else {
        unreachable!("connect(sqlite:) gives a SQLite pool")
    };
    for _ in 0..creates {
        if raw {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let _row: (i64, String, Option<f64>, bool, Option<i64>) = sqlx::query_as(
                r#"INSERT INTO "apartments" ("listed", "price", "realtor_id", "title") VALUES (?, ?, ?, ?) RETURNING "id", "title", "price", "listed", "realtor_id""#,
            )
            .bind(false)
            .bind(10.5_f64)
            .bind(1_i64)
            .bind("bench")
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
        } else {
            let record =
                Record::try_from(json!({"title": "bench", "price": 10.5, "realtor_id": 1}))?;
            apartments.create(&actor, record).await?;
        }
    }
    Ok(())
}
