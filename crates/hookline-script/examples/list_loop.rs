//! Runs three list scripts (the server load bench's `after_datasource_response` hooks) on a
//! 20-row response, one call at a time, and prints the time per call. A loop to profile with
//! `perf` or `valgrind --tool=callgrind --separate-threads=yes`:
//!
//! ```text
//! cargo run --release -p hookline-script --example list_loop -- 20000
//! ```

use std::time::Instant;

use hookline_script::{
    ContextError, PoolConfig, Records, RecordsBack, Returned, Row, ScriptContext, ScriptPool,
    ScriptSource,
};
use serde_json::{Map, Value, json};

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

/// A context that lends its values to the scripts and takes them back as they come, as the
/// server's resource hooks do: the rows lent as (column, value) pairs
/// ([`ScriptContext::lend_records`]), the other values moved out, and only `total` read back
/// ([`ScriptContext::taken_back`]).
struct Lending {
    values: Map<String, Value>,
    rows: Vec<Row>,
}

impl ScriptContext for Lending {
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        Ok(self.values.clone())
    }

    fn apply_script(&mut self, values: Map<String, Value>) -> Result<(), ContextError> {
        self.values = values;
        Ok(())
    }

    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        Ok(std::mem::take(&mut self.values))
    }

    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        match values {
            Returned::Changed(values) | Returned::Unchanged(values) => self.values = values,
        }
        Ok(())
    }

    fn taken_back(&self) -> Option<&[&str]> {
        Some(&["total"])
    }

    fn lend_records(&mut self) -> Option<(String, Records)> {
        Some((
            "response".into(),
            Records::Many(std::mem::take(&mut self.rows)),
        ))
    }

    fn restore_records(&mut self, _key: String, records: RecordsBack) -> Result<(), ContextError> {
        match records {
            RecordsBack::Records(Records::Many(rows)) => {
                self.rows = rows;
                Ok(())
            }
            other => Err(ContextError::invalid(format!("not rows: {other:?}"))),
        }
    }
}

/// A list response as the server lends it: 20 rows of 7 columns (in the table's order), the
/// caller twice, the query.
fn context() -> Lending {
    let rows: Vec<Row> = (0..20)
        .map(|i| {
            vec![
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
            ]
        })
        .collect();
    let user = json!({ "id": 1, "email": "admin@example.com", "role": "superadmin", "roles": ["superadmin"] });
    let values = json!({
        "total": 24,
        "query": { "filters": [], "sort": [{ "field": "id", "direction": "asc" }], "limit": 20, "offset": 0 },
        "adminUser": { "pk": 1, "dbUser": user.clone() },
        "user": user,
    });
    let Value::Object(values) = values else {
        unreachable!("a JSON object literal");
    };
    Lending { values, rows }
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
        let tap = pool.tap(scripts);
        let mut ctx = context();
        // The first call compiles nothing (load did) but warms the worker's caches.
        tap.run(&mut ctx).await?;
        let start = Instant::now();
        for _ in 0..calls {
            let mut ctx = context();
            tap.run(&mut ctx).await?;
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
