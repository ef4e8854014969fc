//! The flows on both backends: filters, sort, pages, types, aggregates, edits, hook contracts,
//! transactions (pre-commit veto, post-commit, after_save after commit), model-action taps,
//! constraint conflicts, existing tables.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Demo, id, rec};
use hookline::transaction::DiffAction;
use hookline::{Flow, Module, ModuleScope, Modules, Phase, RegisterError, Tap, TapError};
use hookline_data::{
    Aggregate, Backend, Column, Data, DataError, DataSource, Filter, Query, Record, ResourceDef,
};
use serde::Deserialize;
use serde_json::{Value, json};

on_both_backends!(
    every_operator_filters_the_same_way,
    sort_pages_and_totals,
    values_are_normalized_and_filled_by_column_type,
    aggregates_over_types_and_empty_sets,
    edits_write_only_changed_columns_and_always_run_after_save,
    after_save_rejection_is_committed_and_stops_later_taps,
    pre_commit_veto_rolls_back_and_post_commit_failure_is_committed,
    model_action_taps_are_bound_to_one_tables_statements,
    constraint_violations_are_conflicts,
    existing_tables_are_used_and_checked,
    plugins_prepend_and_append_and_modules_order_their_taps,
    records_convert_to_user_structs,
    repeated_list_shapes_bind_each_querys_values,
);

async fn titles(demo: &Demo, query: Query) -> Vec<String> {
    demo.apartments
        .list(&demo.root, query)
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| r.get_str("title").unwrap().to_owned())
        .collect()
}

/// Lists reuse the statement text of a query of the same shape; each must still get its own
/// values, in order, and a query of another shape its own text.
async fn repeated_list_shapes_bind_each_querys_values(source: DataSource) {
    let demo = Demo::new(source).await;
    for (title, price) in [
        ("a", 10.0),
        ("b", 20.0),
        ("c", 30.0),
        ("d", 40.0),
        ("e", 50.0),
    ] {
        demo.apartment(title, price, 1).await;
    }
    let range = |low: f64, high: f64, limit: u64, offset: u64| {
        Query::new()
            .filter(Filter::gte("price", low))
            .filter(Filter::lt("price", high))
            .sort_desc("price")
            .limit(limit)
            .offset(offset)
    };
    for _ in 0..2 {
        assert_eq!(
            titles(&demo, range(10.0, 50.0, 3, 0)).await,
            ["d", "c", "b"]
        );
        assert_eq!(titles(&demo, range(20.0, 60.0, 2, 1)).await, ["d", "c"]);
        assert_eq!(titles(&demo, range(0.0, 25.0, 5, 0)).await, ["b", "a"]);
        // The same filters with the bounds swapped in meaning: another shape.
        let outside = Query::new()
            .filter(Filter::lt("price", 20.0))
            .filter(Filter::gte("price", 10.0))
            .sort_desc("price");
        assert_eq!(titles(&demo, outside).await, ["a"]);
        let titled = |titles: &[&str]| {
            Query::new()
                .filter(Filter::is_in("title", titles.iter().copied()))
                .sort_asc("title")
        };
        assert_eq!(titles(&demo, titled(&["e", "a"])).await, ["a", "e"]);
        assert_eq!(titles(&demo, titled(&["c", "b"])).await, ["b", "c"]);
        assert_eq!(
            titles(&demo, titled(&["c", "b", "d"])).await,
            ["b", "c", "d"]
        );
        assert_eq!(titles(&demo, titled(&[])).await, Vec::<String>::new());
    }
}

async fn every_operator_filters_the_same_way(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("Loft", 100.0, 1).await;
    demo.apartment("loft garden", 50.0, 2).await;
    demo.apartment("Barn_1", 75.5, 1).await;
    demo.apartments
        .create(&demo.root, rec(json!({"title": "Hut"})))
        .await
        .unwrap();
    let q = |f: Filter| Query::new().filter(f);
    assert_eq!(titles(&demo, q(Filter::eq("price", 100))).await, ["Loft"]);
    assert_eq!(
        titles(&demo, q(Filter::ne("realtor_id", 1))).await,
        ["loft garden"]
    );
    assert_eq!(
        titles(&demo, q(Filter::lt("price", 75.5))).await,
        ["loft garden"]
    );
    assert_eq!(
        titles(&demo, q(Filter::lte("price", 75.5))).await,
        ["loft garden", "Barn_1"]
    );
    assert_eq!(titles(&demo, q(Filter::gt("price", 75.5))).await, ["Loft"]);
    assert_eq!(
        titles(&demo, q(Filter::gte("price", 75.5))).await,
        ["Loft", "Barn_1"]
    );
    assert_eq!(
        titles(&demo, q(Filter::is_in("realtor_id", [2, 5]))).await,
        ["loft garden"]
    );
    assert_eq!(
        titles(&demo, q(Filter::is_in("realtor_id", Vec::<i64>::new()))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&demo, q(Filter::not_in("realtor_id", [1]))).await,
        ["loft garden"]
    );
    assert_eq!(
        titles(&demo, q(Filter::like("title", "Loft%"))).await,
        ["Loft"],
        "like is case-sensitive"
    );
    assert_eq!(
        titles(&demo, q(Filter::like("title", "Barn\\_%")))
            .await
            .len(),
        1
    );
    assert_eq!(
        titles(&demo, q(Filter::contains("title", "_"))).await,
        ["Barn_1"],
        "contains matches `_` literally"
    );
    assert_eq!(
        titles(&demo, q(Filter::ends_with("title", "n_1"))).await,
        ["Barn_1"]
    );
    assert_eq!(
        titles(&demo, q(Filter::starts_with("title", "%"))).await,
        Vec::<String>::new(),
        "starts_with matches `%` literally"
    );
    assert_eq!(
        titles(&demo, q(Filter::ilike("title", "LOFT%"))).await,
        ["Loft", "loft garden"]
    );
    assert_eq!(titles(&demo, q(Filter::is_null("price"))).await, ["Hut"]);
    assert_eq!(
        titles(&demo, q(Filter::is_not_null("realtor_id")))
            .await
            .len(),
        3
    );
    let group = Filter::or([
        Filter::eq("title", "Hut"),
        Filter::and([Filter::gt("price", 60), Filter::eq("realtor_id", 1)]),
    ]);
    assert_eq!(titles(&demo, q(group)).await, ["Loft", "Barn_1", "Hut"]);
    assert_eq!(titles(&demo, q(Filter::or([]))).await, Vec::<String>::new());
    assert_eq!(titles(&demo, q(Filter::and([]))).await.len(), 4);
    // Timestamps compare as times on both backends.
    assert_eq!(
        titles(
            &demo,
            q(Filter::gt("created_at", "2000-01-01T00:00:00+05:00"))
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        titles(&demo, q(Filter::lt("created_at", "2000-01-01T00:00:00Z")))
            .await
            .len(),
        0
    );
}

async fn sort_pages_and_totals(source: DataSource) {
    let demo = Demo::new(source).await;
    for (title, price) in [("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", 2.0), ("e", 5.0)] {
        demo.apartment(title, price, 1).await;
    }
    assert_eq!(
        titles(&demo, Query::new().sort_asc("price")).await,
        ["b", "c", "d", "a", "e"]
    );
    assert_eq!(
        titles(&demo, Query::new().sort_desc("price")).await,
        ["e", "a", "c", "d", "b"],
        "ties by primary key"
    );
    let page = demo
        .apartments
        .list(
            &demo.root,
            Query::new()
                .sort_asc("title")
                .limit(2)
                .offset(2)
                .with_total(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, Some(5));
    assert_eq!(
        page.records
            .iter()
            .map(|r| r.get_str("title").unwrap())
            .collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(page.records.len(), 2);
    assert_eq!(
        demo.apartments
            .list(&demo.root, Query::new())
            .await
            .unwrap()
            .total,
        None
    );
    // The default page size is the resource's.
    let mut defs = common::defs();
    defs[1] = defs[1].clone().limits(2, 3);
    assert!(defs[1].validate().is_ok());
}

async fn values_are_normalized_and_filled_by_column_type(source: DataSource) {
    let demo = Demo::new(source).await;
    let code = "67E55044-10B1-426F-9247-BB680E5FE0C8";
    let created = demo
        .apartments
        .create(
            &demo.root,
            rec(json!({
                "title": "Loft", "price": 3, "code": code, "created_at": "2024-05-01T14:00:00.25+02:00",
                "meta": {"floors": [1, 2], "note": null}, "realtor_id": 1.0
            })),
        )
        .await
        .unwrap();
    assert!(
        created.get("price").unwrap().is_f64(),
        "a float column given 3 stores 3.0"
    );
    assert_eq!(created.get_f64("price"), Some(3.0));
    assert_eq!(
        created.get_i64("realtor_id"),
        Some(1),
        "an integral float is an integer"
    );
    assert_eq!(
        created.get_str("code"),
        Some("67e55044-10b1-426f-9247-bb680e5fe0c8")
    );
    assert_eq!(
        created.get_str("created_at"),
        Some("2024-05-01T12:00:00.250000Z")
    );
    assert_eq!(
        created.get("meta"),
        Some(&json!({"floors": [1, 2], "note": null}))
    );
    assert_eq!(created.get_bool("listed"), Some(false), "default");
    let shown = demo
        .apartments
        .show(&demo.root, id(&created))
        .await
        .unwrap();
    assert_eq!(shown, created, "what create returns is what is stored");

    let filled = demo
        .apartments
        .create(&demo.root, rec(json!({"title": "Hut", "listed": true})))
        .await
        .unwrap();
    assert_eq!(filled.get_bool("listed"), Some(true));
    assert_eq!(filled.get("price"), Some(&Value::Null));
    assert!(
        uuid::Uuid::parse_str(filled.get_str("code").unwrap()).is_ok(),
        "fill_on_create uuid"
    );
    let now = filled.get_str("created_at").unwrap();
    assert!(
        now.ends_with('Z') && now.len() == "2024-05-01T12:00:00.000000Z".len(),
        "{now}"
    );
    // Backend-only columns are stored but never returned.
    demo.users
        .hooks()
        .create
        .before_save
        .tap("hash", |ctx| {
            ctx.record.set("password_hash", "x1y2");
            Ok(Flow::Continue)
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    demo.users
        .hooks()
        .create
        .after_save
        .tap("peek", move |ctx| {
            *s.lock().unwrap() = ctx.record.get_str("password_hash").map(str::to_owned);
            Ok(Flow::Continue)
        })
        .unwrap();
    let user = demo
        .users
        .create(&demo.root, rec(json!({"email": "new@x.org"})))
        .await
        .unwrap();
    assert!(!user.contains("password_hash"));
    assert_eq!(user.get_str("role"), Some("realtor"));
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some("x1y2"),
        "hooks see backend-only columns"
    );
    let listed = demo.users.list(&demo.root, Query::new()).await.unwrap();
    assert!(listed.records.iter().all(|r| !r.contains("password_hash")));
}

async fn aggregates_over_types_and_empty_sets(source: DataSource) {
    let demo = Demo::new(source).await;
    let empty = demo
        .apartments
        .aggregate(
            &demo.root,
            Query::new(),
            &[
                Aggregate::count("n"),
                Aggregate::sum("price", "s"),
                Aggregate::avg("price", "a"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(empty, rec(json!({"n": 0, "s": null, "a": null})));
    demo.apartment("b", 10.0, 1).await;
    demo.apartment("a", 20.0, 2).await;
    demo.apartments
        .create(&demo.root, rec(json!({"title": "c"})))
        .await
        .unwrap();
    let got = demo
        .apartments
        .aggregate(
            &demo.root,
            Query::new().filter(Filter::is_not_null("realtor_id")),
            &[
                Aggregate::count("n"),
                Aggregate {
                    function: hookline_data::AggregateFn::Count,
                    column: Some("price".into()),
                    alias: "priced".into(),
                },
                Aggregate::sum("realtor_id", "realtors"),
                Aggregate::avg("price", "mean"),
                Aggregate::min("title", "first"),
                Aggregate::max("created_at", "latest"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(got.get_i64("n"), Some(2));
    assert_eq!(got.get_i64("priced"), Some(2));
    assert_eq!(
        got.get("realtors"),
        Some(&json!(3)),
        "sum of integers is an integer"
    );
    assert_eq!(got.get_f64("mean"), Some(15.0));
    assert_eq!(got.get_str("first"), Some("a"));
    assert!(got.get_str("latest").unwrap().ends_with('Z'));
}

async fn edits_write_only_changed_columns_and_always_run_after_save(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 10.0, 1).await;
    let writes = Arc::new(Mutex::new(Vec::new()));
    let w = writes.clone();
    demo.data
        .transactions()
        .pre_model_action(&demo.apartments.action_id(DiffAction::Update))
        .unwrap()
        .tap("capture", move |call| {
            w.lock().unwrap().push(call.diff().value().record.clone());
            Ok(Flow::Continue)
        })
        .unwrap();
    let after = Arc::new(AtomicUsize::new(0));
    let a = after.clone();
    demo.apartments
        .hooks()
        .edit
        .after_save
        .tap("count", move |ctx| {
            assert_eq!(ctx.old_record.get_str("title"), Some("flat"));
            a.fetch_add(1, Ordering::SeqCst);
            Ok(Flow::Continue)
        })
        .unwrap();

    let edited = demo
        .apartments
        .edit(
            &demo.one,
            id(&flat),
            rec(json!({"title": "flat", "price": 12, "id": id(&flat)})),
        )
        .await
        .unwrap();
    assert_eq!(edited.get_f64("price"), Some(12.0));
    assert_eq!(
        *writes.lock().unwrap(),
        [rec(json!({"price": 12.0}))],
        "only the changed column is written"
    );
    let same = demo
        .apartments
        .edit(&demo.one, id(&flat), rec(json!({"price": 12.0})))
        .await
        .unwrap();
    assert_eq!(same, edited);
    assert_eq!(
        writes.lock().unwrap().len(),
        1,
        "nothing changed, nothing written"
    );
    assert_eq!(
        after.load(Ordering::SeqCst),
        2,
        "after_save runs even without a change"
    );

    let err = demo
        .apartments
        .edit(&demo.one, id(&flat), rec(json!({"id": 99})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::PrimaryKeyChange { .. }), "{err}");
    let err = demo
        .apartments
        .edit(&demo.one, id(&flat), rec(json!({"title": null})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::MissingRequired { .. }), "{err}");
    let err = demo
        .apartments
        .edit(&demo.one, 999, rec(json!({"price": 1})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    // A hook may not move the key either.
    demo.apartments
        .hooks()
        .edit
        .before_save
        .tap("move", |ctx| {
            ctx.updates.set("id", 1234);
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .edit(&demo.one, id(&flat), rec(json!({"price": 1})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::PrimaryKeyChange { .. }), "{err}");
}

async fn after_save_rejection_is_committed_and_stops_later_taps(source: DataSource) {
    let demo = Demo::new(source).await;
    let later = Arc::new(AtomicUsize::new(0));
    let l = later.clone();
    let hooks = &demo.apartments.hooks().create;
    hooks
        .after_save
        .tap("notify", |ctx| {
            assert!(ctx.record_id.is_i64(), "after save sees the generated key");
            Err(TapError::reject("mail server down").with_status(502))
        })
        .unwrap();
    hooks
        .after_save
        .tap("later", move |_| {
            l.fetch_add(1, Ordering::SeqCst);
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "kept"})))
        .await
        .unwrap_err();
    assert!(err.committed(), "the data is committed");
    assert_eq!(err.status(), 502);
    assert!(err.to_string().contains("after commit"), "{err}");
    assert_eq!(later.load(Ordering::SeqCst), 0);
    assert_eq!(titles(&demo, Query::new()).await, ["kept"]);
}

async fn pre_commit_veto_rolls_back_and_post_commit_failure_is_committed(source: DataSource) {
    let demo = Demo::new(source).await;
    let tx = demo.data.transactions();
    let veto = tx
        .pre_commit()
        .tap("no-free-flats", |commit| {
            let free = commit
                .transaction()
                .model()
                .iter()
                .flatten()
                .any(|d| d.diff().value().record.get_f64("price") == Some(0.0));
            assert_eq!(commit.transaction().inputs().actor.id, json!(1));
            if free {
                return Err(TapError::reject("flats are not free").with_status(409));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let after = Arc::new(AtomicUsize::new(0));
    let a = after.clone();
    demo.apartments
        .hooks()
        .create
        .after_save
        .tap("count", move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "free", "price": 0})))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(!err.committed());
    assert_eq!(err.hook_error().unwrap().phase(), Phase::PreCommit);
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "after_save runs only after a commit"
    );
    assert_eq!(demo.count(&demo.apartments).await, 0, "rolled back");
    tx.pre_commit().remove(veto).unwrap();

    tx.post_commit()
        .tap("broken-outbox", |_| {
            Err(TapError::fail("queue unreachable"))
        })
        .unwrap();
    let err = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "paid", "price": 5})))
        .await
        .unwrap_err();
    assert!(err.committed());
    assert_eq!(err.hook_error().unwrap().phase(), Phase::PostCommit);
    assert_eq!(demo.count(&demo.apartments).await, 1, "the data stays");
}

async fn model_action_taps_are_bound_to_one_tables_statements(source: DataSource) {
    let demo = Demo::new(source).await;
    let ids = [DiffAction::Add, DiffAction::Update, DiffAction::Delete]
        .map(|k| demo.apartments.action_id(k).to_string());
    assert_eq!(
        ids,
        [
            "apartments.insert",
            "apartments.update",
            "apartments.delete"
        ]
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    demo.data
        .transactions()
        .post_model_action(&demo.apartments.action_id(DiffAction::Add))
        .unwrap()
        .tap("stamp", move |call| {
            let row = call.outputs.as_mut().unwrap();
            s.lock()
                .unwrap()
                .push(row.get_str("title").unwrap().to_owned());
            // Post-model-action taps may replace the outputs (Octo): after_save sees them.
            row.set("title", "stamped");
            Ok(Flow::Continue)
        })
        .unwrap();
    let created = demo.apartment("flat", 1.0, 1).await;
    assert_eq!(created.get_str("title"), Some("stamped"));
    demo.rooms
        .create(
            &demo.root,
            rec(json!({"name": "hall", "apartment_id": id(&created)})),
        )
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["flat"],
        "the rooms insert is another action"
    );
    // Clearing the outputs leaves after_save without a row: reported, and marked committed.
    demo.data
        .transactions()
        .post_model_action(&demo.rooms.action_id(DiffAction::Add))
        .unwrap()
        .tap("drop-row", |call| {
            call.outputs = None;
            Ok(Flow::Continue)
        })
        .unwrap();
    let attic = rec(json!({"name": "attic", "apartment_id": id(&created)}));
    let err = demo.rooms.create(&demo.root, attic).await.unwrap_err();
    assert!(matches!(err, DataError::MissingOutput { .. }), "{err}");
    assert!(err.committed());
    assert_eq!(demo.count(&demo.rooms).await, 2);
    let unknown = demo
        .data
        .transactions()
        .pre_model_action(&"apartments.upsert".into())
        .unwrap_err();
    assert!(
        unknown.to_string().contains("apartments.upsert"),
        "{unknown}"
    );
}

async fn constraint_violations_are_conflicts(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    let dup = demo
        .apartments
        .create(&demo.root, rec(json!({"id": id(&flat), "title": "again"})))
        .await
        .unwrap_err();
    assert!(matches!(dup, DataError::Conflict { .. }), "{dup}");
    assert_eq!(dup.status(), 409);
    let dangling = demo
        .apartments
        .create(&demo.root, rec(json!({"title": "x", "realtor_id": 999})))
        .await
        .unwrap_err();
    assert!(matches!(dangling, DataError::Conflict { .. }), "{dangling}");
    // A parent without an on_delete rule cannot be deleted while children point at it.
    let defs = vec![
        ResourceDef::new("owners").column(Column::integer("id").primary_key()),
        ResourceDef::new("pets")
            .column(Column::integer("id").primary_key())
            .column(Column::integer("owner_id").references("owners")),
    ];
    let data = Data::builder(demo.data.source().clone())
        .resources(defs)
        .build()
        .await
        .unwrap();
    let (owners, pets) = (
        data.resource("owners").unwrap(),
        data.resource("pets").unwrap(),
    );
    let owner = owners.create(&demo.root, Record::new()).await.unwrap();
    pets.create(&demo.root, rec(json!({"owner_id": id(&owner)})))
        .await
        .unwrap();
    let err = owners.delete(&demo.root, id(&owner)).await.unwrap_err();
    assert!(matches!(err, DataError::Conflict { .. }), "{err}");
    assert_eq!(owners.count(&demo.root, Query::new()).await.unwrap(), 1);

    // A unique column: of racing creates with one value exactly one wins, the rest are
    // conflicts; nulls do not collide, and an edit onto a taken value is a conflict too.
    let data = Data::builder(demo.data.source().clone())
        .resource(
            ResourceDef::new("accounts")
                .column(Column::integer("id").primary_key())
                .column(Column::text("email").unique()),
        )
        .build()
        .await
        .unwrap();
    let accounts = data.resource("accounts").unwrap();
    let races = (0..6).map(|_| {
        let (accounts, root) = (accounts.clone(), demo.root.clone());
        tokio::spawn(async move {
            accounts
                .create(&root, rec(json!({"email": "ann@example.com"})))
                .await
        })
    });
    let mut won = 0;
    for race in races.collect::<Vec<_>>() {
        match race.await.unwrap() {
            Ok(_) => won += 1,
            Err(err) => {
                assert!(matches!(err, DataError::Conflict { .. }), "{err}");
                assert_eq!(err.status(), 409);
            }
        }
    }
    assert_eq!(won, 1);
    for _ in 0..2 {
        accounts.create(&demo.root, Record::new()).await.unwrap();
    }
    let bob = accounts
        .create(&demo.root, rec(json!({"email": "bob@example.com"})))
        .await
        .unwrap();
    let err = accounts
        .edit(
            &demo.root,
            id(&bob),
            rec(json!({"email": "ann@example.com"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::Conflict { .. }), "{err}");
    assert_eq!(accounts.count(&demo.root, Query::new()).await.unwrap(), 4);
    assert_eq!(
        accounts
            .count(
                &demo.root,
                Query::new().filter(Filter::eq("email", "bob@example.com"))
            )
            .await
            .unwrap(),
        1,
        "the failed edit changed nothing"
    );
}

async fn existing_tables_are_used_and_checked(source: DataSource) {
    let ddl = match source.backend() {
        Backend::Sqlite => {
            "CREATE TABLE legacy_items (item_id INTEGER PRIMARY KEY, label VARCHAR(20), \
             weight REAL, active BOOLEAN, seen TEXT DEFAULT CURRENT_TIMESTAMP, extra TEXT)"
        }
        Backend::Postgres => {
            "CREATE TABLE legacy_items (item_id SERIAL PRIMARY KEY, label VARCHAR(20), \
             weight REAL, active BOOLEAN, seen TIMESTAMP DEFAULT now(), extra TEXT)"
        }
    };
    match &source {
        DataSource::Sqlite(pool) => sqlx::query(ddl).execute(pool).await.map(drop).unwrap(),
        DataSource::Postgres(pool) => sqlx::query(ddl).execute(pool).await.map(drop).unwrap(),
    }
    let items = ResourceDef::new("items")
        .table("legacy_items")
        .column(Column::integer("item_id").primary_key())
        .column(Column::text("label"))
        .column(Column::float("weight"))
        .column(Column::boolean("active"))
        .column(Column::timestamp("seen"));
    let data = Data::builder(source.clone())
        .resource(items.clone())
        .create_missing_tables(false)
        .build()
        .await
        .unwrap();
    let items_res = data.resource("items").unwrap();
    let actor = hookline_data::Actor::new(1);
    let made = items_res
        .create(
            &actor,
            rec(json!({"label": "box", "weight": 2, "active": true})),
        )
        .await
        .unwrap();
    assert_eq!(made.get_i64("item_id"), Some(1));
    assert_eq!(made.get_f64("weight"), Some(2.0));
    assert!(
        made.get_str("seen").unwrap().ends_with('Z'),
        "database default read as a timestamp: {made:?}"
    );
    let listed = items_res
        .list(&actor, Query::new().filter(Filter::eq("active", true)))
        .await
        .unwrap();
    assert_eq!(listed.records, [made]);

    let wrong = items.clone().column(Column::text("colour"));
    let err = Data::builder(source.clone())
        .resource(wrong)
        .create_missing_tables(false)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::SchemaMismatch { message, .. } if message.contains("colour")),
        "{err}"
    );
    let absent = ResourceDef::new("ghosts").column(Column::integer("id").primary_key());
    let err = Data::builder(source.clone())
        .resource(absent)
        .create_missing_tables(false)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::SchemaMismatch { message, .. } if message.contains("does not exist")),
        "{err}"
    );
}

struct Approval(hookline::Hook<hookline_data::CreateContext>);

impl Module for Approval {
    fn name(&self) -> &str {
        "approval"
    }
    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        // AdminForth's approval plugin unshifts its hook, so it runs before the user's.
        self.0.tap(
            scope.tap("pending").first(),
            |ctx: &mut hookline_data::CreateContext| {
                ctx.record.set("listed", false);
                Ok(Flow::Continue)
            },
        )?;
        Ok(())
    }
}

async fn plugins_prepend_and_append_and_modules_order_their_taps(source: DataSource) {
    let demo = Demo::new(source).await;
    let before = &demo.apartments.hooks().create.before_save;
    let order = Arc::new(Mutex::new(Vec::new()));
    for (tap, name) in [
        (Tap::named("user"), "user"),
        (Tap::named("audit").last(), "audit"),
        (Tap::named("approve").first(), "approve"),
    ] {
        let o = order.clone();
        before
            .tap(tap, move |_| {
                o.lock().unwrap().push(name);
                Ok(Flow::Continue)
            })
            .unwrap();
    }
    let modules = Modules::new();
    modules.install(Approval(before.clone())).unwrap();
    assert_eq!(
        before.explain().names(),
        ["pending", "approve", "user", "audit"]
    );
    assert!(before.explain().to_string().contains("approval"));
    let made = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "t", "listed": true})))
        .await
        .unwrap();
    assert_eq!(*order.lock().unwrap(), ["approve", "user", "audit"]);
    assert_eq!(made.get_bool("listed"), Some(false), "the module's tap ran");
    modules.remove("approval").unwrap();
    let made = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "t", "listed": true})))
        .await
        .unwrap();
    assert_eq!(
        made.get_bool("listed"),
        Some(true),
        "and is gone with the module"
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Apartment {
    id: i64,
    title: String,
    price: Option<f64>,
    realtor_id: Option<i64>,
}

async fn records_convert_to_user_structs(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("flat", 5.0, 2).await;
    let page = demo
        .apartments
        .list(&demo.root, Query::new())
        .await
        .unwrap();
    let flats: Vec<Apartment> = page
        .records
        .iter()
        .map(Record::to_struct)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        flats,
        [Apartment {
            id: 1,
            title: "flat".into(),
            price: Some(5.0),
            realtor_id: Some(2)
        }]
    );
}

/// A SQLite file takes one write transaction at a time: concurrent writes of one `Data` queue
/// for their turn and commit in the order they asked for it, rather than in whatever order
/// SQLite's busy handler lets them retry the database lock.
#[tokio::test(flavor = "current_thread")]
async fn sqlite_writes_take_turns_in_the_order_they_asked() {
    let dir = std::env::temp_dir().join(format!("hookline-turns-{}", std::process::id()));
    // A run that stopped half-way may have left its file under a reused process id.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("turns.db").display());
    let source = DataSource::connect(&url).await.unwrap();
    let data = Data::builder(source)
        .resource(
            ResourceDef::new("queue")
                .column(Column::integer("id").primary_key())
                .column(Column::integer("asked")),
        )
        .build()
        .await
        .unwrap();
    let queue = data.resource("queue").unwrap();
    let root = hookline_data::Actor::new(1).with_role("admin");
    let writes: Vec<_> = (0..24)
        .map(|asked| {
            let (queue, root) = (queue.clone(), root.clone());
            tokio::spawn(async move { queue.create(&root, rec(json!({ "asked": asked }))).await })
        })
        .collect();
    for write in writes {
        write.await.unwrap().unwrap();
    }
    let committed: Vec<i64> = queue
        .list(&root, Query::new().sort_asc("id").limit(100))
        .await
        .unwrap()
        .records
        .iter()
        .map(|row| row.get("asked").and_then(Value::as_i64).unwrap())
        .collect();
    assert_eq!(committed, (0..24).collect::<Vec<_>>());
    data.source().close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
