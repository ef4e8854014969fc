//! Script hooks bound to `hookline-data` resources (feature `data`): one call binds scripts
//! (or script files) to a hook point; the scripts' data API goes through the resources' own
//! flows; the taps hold the data set weakly, so dropping it frees it; bad points and bad files
//! are refused before anything is registered.

use hookline::Tap;
use hookline_data::{
    Actor, Allowed, Column, Data, DataError, DataSource, HookPoint, Operation, Query, Record,
    ResourceDef,
};
use hookline_script::resources::{BindError, ResourceScripts, SCRIPT_ROLE};
use hookline_script::{PoolConfig, Script, ScriptPool, ScriptSource};
use serde_json::json;

async fn data() -> Data {
    Data::builder(
        DataSource::connect("sqlite::memory:")
            .await
            .expect("an in-memory database"),
    )
    .resource(
        ResourceDef::new("users")
            .column(Column::integer("id").primary_key())
            .column(Column::text("name")),
    )
    .resource(
        ResourceDef::new("apartments")
            .column(Column::integer("id").primary_key())
            .column(Column::text("title").required())
            .column(Column::float("price"))
            .column(Column::integer("realtor_id").references("users")),
    )
    .resource(
        ResourceDef::new("audit_logs")
            .column(Column::integer("id").primary_key())
            .column(Column::text("action"))
            .column(Column::json("by"))
            // Only hooks write the audit log.
            .allow(
                Operation::Create,
                Allowed::when(|actor: &Actor, _| actor.has_role(SCRIPT_ROLE)),
            ),
    )
    .build()
    .await
    .expect("the resources build")
}

fn pool() -> ScriptPool {
    ScriptPool::new(PoolConfig::default().workers(1)).expect("a script pool")
}

async fn load(pool: &ScriptPool, name: &str, code: &str) -> Script {
    pool.load(ScriptSource::function(name, code))
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

fn record(value: serde_json::Value) -> Record {
    Record::try_from(value).expect("an object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_scripts_change_what_the_flows_store_and_reject_with_their_status() {
    let (data, pool) = (data().await, pool());
    let scripts = ResourceScripts::new(&pool, &data);
    let set_realtor = load(
        &pool,
        "set_realtor.js",
        "export default async ({ record, user }) => { record.realtor_id = user.id; return { ok: true }; };",
    )
    .await;
    let price = load(
        &pool,
        "price.js",
        "export default async ({ record }) => record.price > 0 ? { ok: true } : { ok: false, error: 'price must be positive', status: 400 };",
    )
    .await;
    scripts
        .bind(
            "apartments",
            &"create.before_save".parse().unwrap(),
            "rules",
            [set_realtor, price],
        )
        .expect("binds");

    let users = data.resource("users").unwrap();
    let root = Actor::new(0).with_role("superadmin");
    users
        .create(&root, record(json!({ "name": "Ann" })))
        .await
        .unwrap();
    let apartments = data.resource("apartments").unwrap();
    let stored = apartments
        .create(
            &Actor::new(1),
            record(json!({ "title": "Loft", "price": 100, "realtor_id": 9 })),
        )
        .await
        .unwrap();
    assert_eq!(stored.get_i64("realtor_id"), Some(1));
    assert!(stored["price"].is_f64(), "{stored:?}");

    let err = apartments
        .create(
            &Actor::new(1),
            record(json!({ "title": "Free", "price": 0 })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("price must be positive"), "{err}");
    assert_eq!(apartments.count(&root, Query::new()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_api_runs_the_flows_as_the_caller_with_the_script_role() {
    let (data, pool) = (data().await, pool());
    let scripts = ResourceScripts::new(&pool, &data);
    // An after-save hook that reads apartments and writes an audit row through the data API.
    let audit = data.resource("audit_logs").unwrap();
    let write_audit = load(
        &pool,
        "audit.js",
        "export default async ({ record, user, tables }) => {
           const found = await tables.apartments.find({ where: { price: { _gte: 50 } }, sort: '-price', fields: 'title' });
           await tables.audit_logs.create({ data: { action: `created ${record.title}; ${found.data.map(a => a.title).join(',')}`, by: user } });
           return { ok: true };
         };",
    )
    .await;
    scripts
        .bind(
            "apartments",
            &HookPoint::CreateAfter,
            "audit",
            [write_audit],
        )
        .unwrap();
    let apartments = data.resource("apartments").unwrap();
    let ann = Actor::new(1).with_role("realtor");
    for (title, price) in [("Barn", 60), ("Loft", 90)] {
        apartments
            .create(&ann, record(json!({ "title": title, "price": price })))
            .await
            .unwrap();
    }
    let rows = audit
        .list(&Actor::new(0), Query::new().sort_asc("id"))
        .await
        .unwrap()
        .records;
    let actions: Vec<&str> = rows.iter().filter_map(|r| r.get_str("action")).collect();
    assert_eq!(actions, ["created Barn; Barn", "created Loft; Loft,Barn"]);
    // Scripts see the caller as it is; their data calls carry the script role besides, which
    // the audit log's access rule asks for: the caller alone may not write it.
    assert_eq!(rows[0]["by"]["id"], 1);
    assert_eq!(rows[0]["by"]["roles"], json!(["realtor"]));
    let denied = audit
        .create(&ann, record(json!({ "action": "forged" })))
        .await
        .unwrap_err();
    assert_eq!(denied.status(), 403, "{denied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taps_hold_the_data_set_weakly() {
    let (data, pool) = (data().await, pool());
    let scripts = ResourceScripts::new(&pool, &data);
    let noop = load(
        &pool,
        "noop.js",
        "export default async () => ({ ok: true });",
    )
    .await;
    for point in data.resource("apartments").unwrap().hook_points() {
        scripts
            .bind("apartments", &point, "noop", [noop.clone()])
            .unwrap();
    }
    let weak = data.downgrade();
    assert!(weak.upgrade().is_some());
    drop(data);
    assert!(
        weak.upgrade().is_none(),
        "the hooks' script taps keep the data set alive"
    );
    // Binding to a closed data set is an error, not a panic.
    let err = scripts
        .bind("apartments", &HookPoint::ListAfter, "late", [noop])
        .unwrap_err();
    assert!(matches!(err, BindError::Closed), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_points_names_and_files_are_refused_before_anything_is_registered() {
    let (data, pool) = (data().await, pool());
    let scripts = ResourceScripts::new(&pool, &data);
    let noop = load(
        &pool,
        "noop.js",
        "export default async () => ({ ok: true });",
    )
    .await;

    let err = scripts
        .bind(
            "apartments",
            &HookPoint::DropdownAfter("title".into()),
            "x",
            [noop.clone()],
        )
        .unwrap_err();
    assert!(
        matches!(err, BindError::Data(DataError::NotForeignKey { .. })),
        "{err}"
    );
    let err = scripts
        .bind("flats", &HookPoint::ListAfter, "x", [noop.clone()])
        .unwrap_err();
    assert!(
        matches!(err, BindError::Data(DataError::UnknownResource { .. })),
        "{err}"
    );
    scripts
        .bind("apartments", &HookPoint::ListAfter, "x", [noop.clone()])
        .unwrap();
    let err = scripts
        .bind("apartments", &HookPoint::ListAfter, Tap::named("x"), [noop])
        .unwrap_err();
    assert!(matches!(err, BindError::Register(_)), "{err}");

    let dir = std::env::temp_dir().join(format!("hookline-bind-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.js");
    let broken = dir.join("broken.js");
    std::fs::write(&good, "export default async ({ record }) => { record.title = record.title.toUpperCase(); return { ok: true }; };").unwrap();
    std::fs::write(
        &broken,
        "export default async ({ record }) => {\n  record.title = ;\n};",
    )
    .unwrap();
    let err = scripts
        .bind_files(
            "apartments",
            &HookPoint::CreateBefore,
            "files",
            [&good, &broken],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, BindError::Script(_)) && err.to_string().contains("broken.js:2"),
        "{err}"
    );
    let explained = data
        .resource("apartments")
        .unwrap()
        .hooks()
        .create
        .before_save
        .explain();
    assert_eq!(explained.taps().len(), 0, "{explained}");

    scripts
        .bind_files("apartments", &HookPoint::CreateBefore, "files", [&good])
        .await
        .unwrap();
    let stored = data
        .resource("apartments")
        .unwrap()
        .create(&Actor::new(1), record(json!({ "title": "loft" })))
        .await
        .unwrap();
    assert_eq!(stored.get_str("title"), Some("LOFT"));
    std::fs::remove_dir_all(&dir).unwrap();
}
