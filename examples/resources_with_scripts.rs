//! Resources with JavaScript hooks inside your own application: no server, no config file.
//!
//! AdminForth's apartments example, built from the libraries the `hookline` server is made of:
//! a [`Data`] set of resources over SQLite (`hookline-data`), a [`ScriptPool`] of sandboxed
//! QuickJS workers (`hookline-script`), and [`ResourceScripts`] (`hookline-script`'s feature
//! `data`), which binds function-style scripts to a resource's [`HookPoint`] in one call. The
//! application calls the resources' own flows — `create`, `list`, `edit` — as an [`Actor`];
//! every flow runs the scripts bound to it.
//!
//! Shown here:
//! 1. `create.before_save`: the realtor of a new apartment is the user who creates it, whatever
//!    the client sent (AdminForth's `set-realtor`);
//! 2. `list.before_datasource_request`: realtors list only their own apartments, a superadmin
//!    lists all — the script rewrites `query`, so counts are scoped too;
//! 3. `edit.before_save`: `{ ok: false, error, status: 403 }` comes back as a [`DataError`]
//!    with status 403, naming the hook and the tap;
//! 4. `create.after_save` / `edit.after_save`: an audit row written through the data API
//!    (`tables.audit_logs.create({ data })`), which runs the `audit_logs` flows as the caller
//!    with the extra role [`SCRIPT_ROLE`] — the only role allowed to write there;
//! 5. `explain()`: the taps of one hook in running order, each with the line that bound it.
//!
//! Run it with `cargo run -p hookline-examples --example resources_with_scripts`.

use hookline_data::{
    Actor, Allowed, Column, Data, DataError, DataSource, Fill, Filter, HookPoint, Operation, Query,
    Record, ResourceDef,
};
use hookline_script::resources::{ResourceScripts, SCRIPT_ROLE};
use hookline_script::{PoolConfig, ScriptPool, ScriptSource};
use serde_json::json;

/// `create.before_save`: the realtor is always the creating user.
const SET_REALTOR: &str = r#"
export default async ({ record, user }) => {
  record.realtor_id = user.id;
  return { ok: true };
};
"#;

/// `list.before_datasource_request`: realtors see only their own apartments.
const OWN_ROWS: &str = r#"
export default async ({ query, user }) => {
  if (user.role === "superadmin") return { ok: true };
  // Drop any realtor filter the caller sent, then scope to the caller.
  query.filters = query.filters.filter((filter) => filter.field !== "realtor_id");
  query.filters.push({ field: "realtor_id", operator: "eq", value: user.id });
  return { ok: true };
};
"#;

/// `edit.before_save`: only the apartment's realtor (or a superadmin) changes it.
const OWN_RECORD_ONLY: &str = r#"
export default async ({ oldRecord, user }) => {
  if (user.role !== "superadmin" && oldRecord.realtor_id !== user.id) {
    return { ok: false, error: "You can only change your own apartments", status: 403 };
  }
  return { ok: true };
};
"#;

/// `create.after_save` and `edit.after_save`: one audit row per change, through the data API.
const AUDIT: &str = r#"
export default async ({ resource, record, recordId, updates, user, tables }) => {
  await tables.audit_logs.create({
    data: {
      resource,
      action: updates ? "edit" : "create",
      record_id: String(recordId),
      user_id: user.id,
      diff: updates ?? record,
    },
  });
  return { ok: true };
};
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The resources: users, their apartments, and an audit log only hooks may write.
    let script_only = Allowed::when(|actor, _| actor.has_role(SCRIPT_ROLE));
    let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
        .resource(
            ResourceDef::new("users")
                .column(Column::integer("id").primary_key())
                .column(Column::text("email").required().unique()),
        )
        .resource(
            ResourceDef::new("apartments")
                .column(Column::integer("id").primary_key())
                .column(Column::text("title").required())
                .column(Column::float("price").required())
                .column(Column::integer("realtor_id").references("users")),
        )
        .resource(
            ResourceDef::new("audit_logs")
                .column(Column::integer("id").primary_key())
                .column(Column::text("resource").required())
                .column(Column::text("action").required())
                .column(Column::text("record_id"))
                .column(Column::integer("user_id"))
                .column(Column::json("diff"))
                .column(Column::timestamp("created_at").fill_on_create(Fill::Now))
                .allow(Operation::Create, script_only)
                .allow(Operation::Edit, false)
                .allow(Operation::Delete, false),
        )
        .build()
        .await?;

    // The scripts: loaded (and checked) once, bound to hook points by name.
    let pool = ScriptPool::new(PoolConfig::default().workers(2))?;
    let load = async |name: &str, code: &str| pool.load(ScriptSource::function(name, code)).await;
    let set_realtor = load("apartments/set_realtor.js", SET_REALTOR).await?;
    let own_rows = load("apartments/own_rows.js", OWN_ROWS).await?;
    let own_record_only = load("apartments/own_record_only.js", OWN_RECORD_ONLY).await?;
    let audit = load("audit.js", AUDIT).await?;

    let scripts = ResourceScripts::new(&pool, &data);
    scripts.bind(
        "apartments",
        &HookPoint::CreateBefore,
        "set-realtor",
        [set_realtor],
    )?;
    // Points parse from the names a config file uses.
    let list_before: HookPoint = "list.before_datasource_request".parse()?;
    scripts.bind("apartments", &list_before, "own-rows", [own_rows])?;
    scripts.bind(
        "apartments",
        &HookPoint::EditBefore,
        "own-record-only",
        [own_record_only],
    )?;
    for point in [HookPoint::CreateAfter, HookPoint::EditAfter] {
        scripts.bind("apartments", &point, "audit", [audit.clone()])?;
    }

    let admin = Actor::new(1).with_role("superadmin");
    let ann = Actor::new(2).with_role("realtor");
    let bob = Actor::new(3).with_role("realtor");
    let users = data.resource("users")?;
    for email in ["admin@example.com", "ann@example.com", "bob@example.com"] {
        users
            .create(&admin, Record::try_from(json!({ "email": email }))?)
            .await?;
    }
    let apartments = data.resource("apartments")?;

    println!("1. Ann creates an apartment and claims it belongs to realtor 3 (Bob).");
    let loft = apartments
        .create(
            &ann,
            Record::try_from(
                json!({ "title": "Loft on Main St", "price": 250000, "realtor_id": 3 }),
            )?,
        )
        .await?;
    println!("   stored: {}", serde_json::to_string(&loft)?);
    assert_eq!(
        loft.get_i64("realtor_id"),
        Some(2),
        "set-realtor overrides the client"
    );
    assert_eq!(
        loft.get_f64("price"),
        Some(250_000.0),
        "a float column keeps a float"
    );
    let barn = apartments
        .create(
            &bob,
            Record::try_from(json!({ "title": "Barn", "price": 90000 }))?,
        )
        .await?;
    assert_eq!(barn.get_i64("realtor_id"), Some(3));

    println!("2. Everyone lists the apartments; own-rows scopes the query.");
    for (who, actor, expected) in [("Ann", &ann, 1), ("Bob", &bob, 1), ("the admin", &admin, 2)] {
        let page = apartments.list(actor, Query::new().with_total()).await?;
        let titles: Vec<&str> = page
            .records
            .iter()
            .filter_map(|r| r.get_str("title"))
            .collect();
        println!("   {who} sees {titles:?} (total {:?})", page.total);
        assert_eq!(page.records.len(), expected);
        assert_eq!(page.total, Some(expected as u64), "the total is scoped too");
    }
    // A filter on another realtor is dropped, not obeyed.
    let sneaky = Query::new().filter(Filter::eq("realtor_id", 3));
    let page = apartments.list(&ann, sneaky).await?;
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].get_i64("realtor_id"), Some(2));
    assert_eq!(apartments.count(&ann, Query::new()).await?, 1);

    println!("3. Bob tries to lower the price of Ann's loft.");
    let loft_id = loft.get("id").cloned().ok_or("the stored loft has an id")?;
    let cheaper = Record::try_from(json!({ "price": 1 }))?;
    let denied = apartments
        .edit(&bob, loft_id.clone(), cheaper)
        .await
        .err()
        .ok_or("Bob must not change Ann's apartment")?;
    println!("   error: {denied}");
    let hook_error = denied.hook_error().ok_or("a hook rejected it")?;
    println!(
        "   status {}, hook {}, tap {:?}, message {:?}",
        denied.status(),
        hook_error.hook(),
        hook_error.tap().map(|t| t.name()),
        hook_error.user_message()
    );
    assert!(matches!(denied, DataError::Hook(_)));
    assert!(hook_error.is_rejection());
    assert_eq!(denied.status(), 403);
    assert!(!denied.committed());
    assert_eq!(hook_error.hook(), "apartments.edit.before_save");
    assert_eq!(hook_error.tap().map(|t| t.name()), Some("own-record-only"));
    assert_eq!(
        hook_error.user_message(),
        "You can only change your own apartments"
    );
    let unchanged = apartments.show(&ann, loft_id.clone()).await?;
    assert_eq!(
        unchanged.get_f64("price"),
        Some(250_000.0),
        "nothing was written"
    );

    println!("4. Ann lowers her own price; both changes are in the audit log.");
    let edited = apartments
        .edit(&ann, loft_id, Record::try_from(json!({ "price": 240000 }))?)
        .await?;
    assert_eq!(edited.get_f64("price"), Some(240_000.0));
    let audit_logs = data.resource("audit_logs")?;
    let log = audit_logs.list(&admin, Query::new().sort_asc("id")).await?;
    for row in &log.records {
        println!(
            "   {} {} #{} by user {}: {}",
            row.get_str("action").unwrap_or("?"),
            row.get_str("resource").unwrap_or("?"),
            row.get_str("record_id").unwrap_or("?"),
            row.get_i64("user_id").unwrap_or_default(),
            row.get("diff").unwrap_or(&serde_json::Value::Null),
        );
    }
    let actions: Vec<(&str, Option<i64>)> = log
        .records
        .iter()
        .map(|r| (r.get_str("action").unwrap_or("?"), r.get_i64("user_id")))
        .collect();
    assert_eq!(
        actions,
        [("create", Some(2)), ("create", Some(3)), ("edit", Some(2))],
        "Bob's rejected edit wrote nothing"
    );
    // Outside a hook, nobody writes the audit log: only the script role may.
    let forged = Record::try_from(json!({ "resource": "apartments", "action": "delete" }))?;
    let refused = audit_logs
        .create(&admin, forged)
        .await
        .err()
        .ok_or("only scripts write the audit log")?;
    println!("   a direct write to audit_logs: {refused}");
    assert_eq!(refused.status(), 403);

    println!("5. explain() of the hook at create.before_save:");
    let explain = apartments.hook(&HookPoint::CreateBefore)?.explain();
    print!("{explain}");
    assert_eq!(explain.names(), ["set-realtor"]);
    assert!(
        explain.to_string().contains("resources_with_scripts.rs"),
        "a script tap's registration site is where it was bound: {explain}"
    );
    Ok(())
}
