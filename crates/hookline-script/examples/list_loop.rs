//! Runs three list scripts (the server load bench's `after_datasource_response` hooks), bound
//! to a resource's hook point as the server binds them, on a 20-row response, one hook call at
//! a time, and prints the time per call. A loop to profile with
//! `perf` or `valgrind --tool=callgrind --separate-threads=yes`:
//!
//! ```text
//! cargo run --release -p hookline-script --features data --example list_loop -- 20000
//! ```

use std::time::Instant;

use hookline_data::{
    Actor, Column, Data, DataSource, HookPoint, Query, ReadResponse, Record, ResourceDef,
};
use hookline_script::resources::ResourceScripts;
use hookline_script::{PoolConfig, ScriptPool, ScriptSource};
use serde_json::json;

const SCRIPTS: [(&str, &str); 3] = [
    (
        "price_per_m2.js",
        "export default async ({ response }) => {\n  for (const item of response) {\n    item.price_per_m2 = item.square_meters > 0 ? item.price / item.square_meters : null;\n  }\n  return { ok: true };\n};\n",
    ),
    (
        "country.js",
        "export default async ({ response }) => {\n  for (const item of response) {\n    if (typeof item.country === \"string\") item.country = item.country.toUpperCase();\n  }\n  return { ok: true };\n};\n",
    ),
    (
        "listed.js",
        "export default async ({ response, user }) => {\n  if (user.role !== \"superadmin\" && response.some((item) => item.listed === false)) {\n    return { ok: false, error: \"unlisted items are for superadmins\", status: 403 };\n  }\n  return { ok: true };\n};\n",
    ),
];

const COUNTRIES: [&str; 3] = ["ua", "pl", "de"];

/// A list response as the list flow hands it to its `after_datasource_response` hook: 20
/// rows of 7 columns (in the table's order), the caller, the query.
fn context() -> ReadResponse {
    let response = (0..20)
        .map(|i: i32| {
            Record::from(vec![
                ("id".to_string(), json!(i + 1)),
                ("title".to_string(), json!(format!("Flat {i}"))),
                ("price".to_string(), json!(800.0 + 100.0 * f64::from(i))),
                (
                    "square_meters".to_string(),
                    json!(30.5 + 3.0 * f64::from(i)),
                ),
                ("country".to_string(), json!(COUNTRIES[i as usize % 3])),
                ("listed".to_string(), json!(i % 5 != 4)),
                ("owner_id".to_string(), json!(1)),
            ])
        })
        .collect();
    ReadResponse {
        actor: Actor::new(1)
            .with_role("superadmin")
            .with_attribute("email", "admin@example.com"),
        resource: "items".into(),
        query: Query::new().sort_asc("id").limit(20),
        response,
        total: Some(24),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args().nth(1).map_or(Ok(5000), |n| n.parse())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pool = ScriptPool::new(PoolConfig::default().workers(1))?;
        let mut scripts = Vec::new();
        for (name, code) in SCRIPTS {
            scripts.push(pool.load(ScriptSource::function(name, code)).await?);
        }
        let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
            .resource(ResourceDef::new("items").column(Column::integer("id").primary_key()))
            .build()
            .await?;
        ResourceScripts::new(&pool, &data).bind(
            "items",
            &HookPoint::ListAfter,
            "scripts",
            scripts,
        )?;
        let hook = data
            .resource("items")?
            .hooks()
            .list
            .after_datasource_response
            .clone();
        let mut ctx = context();
        // The first call compiles nothing (load did) but warms the worker's caches.
        hook.call(&mut ctx).await?;
        let start = Instant::now();
        for _ in 0..calls {
            let mut ctx = context();
            hook.call(&mut ctx).await?;
            std::hint::black_box(&ctx);
        }
        let elapsed = start.elapsed();
        println!(
            "{calls} calls, {:.1} µs per call (building the context included)",
            elapsed.as_secs_f64() * 1e6 / calls as f64
        );
        Ok(())
    })
}
