//! No bypass: counts and aggregates run the list hooks; bulk writes run every record's hooks in
//! order inside one transaction, all or nothing; cascades happen after the parent's
//! `before_save`, inside the parent's transaction, through the children's own hooks.
//! Each test fails if a hook is skipped.

mod common;

use std::sync::{Arc, Mutex};

use common::{Demo, id, rec};
use hookline::transaction::DiffAction;
use hookline::{Flow, TapError};
use hookline_data::{Aggregate, Allowed, DataError, DataSource, Operation, Query, Source};
use serde_json::{Value, json};

on_both_backends!(
    counts_and_aggregates_are_scoped_by_the_list_request_hook,
    bulk_delete_runs_each_records_hooks_in_order_and_is_all_or_nothing,
    bulk_edit_runs_each_records_hooks_in_order_and_is_all_or_nothing,
    a_failing_statement_rolls_back_the_whole_bulk_write,
    cascades_run_after_the_parents_before_save_through_the_childrens_hooks,
    an_aborting_parent_before_save_leaves_the_children,
    a_child_that_may_not_be_deleted_stops_the_parents_delete,
    cascades_reach_grandchildren,
);

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

async fn counts_and_aggregates_are_scoped_by_the_list_request_hook(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("a", 10.0, 1).await;
    demo.apartment("b", 30.0, 1).await;
    demo.apartment("c", 1000.0, 2).await;
    let sources = log();
    let seen = sources.clone();
    demo.apartments
        .hooks()
        .list
        .before_datasource_request
        .tap("own-rows", move |ctx| {
            seen.lock().unwrap().push(format!("{:?}", ctx.query.source));
            if !ctx.actor.has_role("superadmin") {
                ctx.query.replace_filter(hookline_data::Filter::eq(
                    "realtor_id",
                    ctx.actor.id.clone(),
                ));
            }
            Ok(Flow::Continue)
        })
        .unwrap();

    assert_eq!(
        demo.apartments
            .count(&demo.one, Query::new())
            .await
            .unwrap(),
        2
    );
    let totals = demo
        .apartments
        .aggregate(
            &demo.one,
            Query::new(),
            &[
                Aggregate::count("n"),
                Aggregate::sum("price", "sum"),
                Aggregate::max("price", "top"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(totals.get_i64("n"), Some(2));
    assert_eq!(totals.get_f64("sum"), Some(40.0));
    assert_eq!(totals.get_f64("top"), Some(30.0));
    let all = demo
        .apartments
        .aggregate(&demo.root, Query::new(), &[Aggregate::sum("price", "sum")])
        .await
        .unwrap();
    assert_eq!(all.get_f64("sum"), Some(1040.0));
    assert_eq!(entries(&sources), ["Aggregate", "Aggregate", "Aggregate"]);
    assert_eq!(
        Source::Aggregate,
        serde_json::from_value(json!("aggregate")).unwrap()
    );
}

async fn bulk_delete_runs_each_records_hooks_in_order_and_is_all_or_nothing(source: DataSource) {
    let demo = Demo::new(source).await;
    let a = demo.apartment("a", 1.0, 1).await;
    let b = demo.apartment("b", 1.0, 1).await;
    let c = demo.apartment("c", 1.0, 2).await;
    let calls = log();
    let (before, after) = (calls.clone(), calls.clone());
    let hooks = &demo.apartments.hooks().delete;
    hooks
        .before_save
        .tap("log", move |ctx| {
            let title = ctx.record.get_str("title").unwrap().to_owned();
            before.lock().unwrap().push(format!("before {title}"));
            if title == "c" && ctx.actor.id != json!(3) {
                return Err(TapError::reject("c is protected").with_status(409));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    hooks
        .after_save
        .tap("log", move |ctx| {
            after
                .lock()
                .unwrap()
                .push(format!("after {}", ctx.record.get_str("title").unwrap()));
            Ok(Flow::Continue)
        })
        .unwrap();

    let err = demo
        .apartments
        .bulk_delete(&demo.one, [id(&a), id(&b), id(&c)])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(!err.committed());
    assert_eq!(entries(&calls), ["before a", "before b", "before c"]);
    assert_eq!(
        demo.count(&demo.apartments).await,
        3,
        "nothing is deleted when one record is rejected"
    );

    calls.lock().unwrap().clear();
    let deleted = demo
        .apartments
        .bulk_delete(&demo.root, [id(&a), id(&b), id(&c)])
        .await
        .unwrap();
    assert_eq!(
        deleted
            .iter()
            .map(|r| r.get_str("title").unwrap())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(
        entries(&calls),
        [
            "before a", "before b", "before c", "after a", "after b", "after c"
        ]
    );
    assert_eq!(demo.count(&demo.apartments).await, 0);

    // A record named twice is deleted (and its hooks run) once.
    let d = demo.apartment("d", 1.0, 1).await;
    calls.lock().unwrap().clear();
    let twice = demo
        .apartments
        .bulk_delete(&demo.root, [id(&d), id(&d)])
        .await
        .unwrap();
    assert_eq!(twice.len(), 2);
    assert_eq!(entries(&calls), ["before d", "after d"]);
}

async fn bulk_edit_runs_each_records_hooks_in_order_and_is_all_or_nothing(source: DataSource) {
    let demo = Demo::new(source).await;
    let a = demo.apartment("a", 1.0, 1).await;
    let b = demo.apartment("b", 2.0, 2).await;
    let calls = log();
    let before = calls.clone();
    demo.apartments
        .hooks()
        .edit
        .before_save
        .tap("only-own", move |ctx| {
            before.lock().unwrap().push(format!(
                "before {}",
                ctx.old_record.get_str("title").unwrap()
            ));
            if ctx.old_record.get("realtor_id") != Some(&ctx.actor.id)
                && !ctx.actor.has_role("superadmin")
            {
                return Err(TapError::reject("not yours").with_status(403));
            }
            // Hooks may add to the updates of every record.
            ctx.updates.set("listed", true);
            Ok(Flow::Continue)
        })
        .unwrap();

    let updates = rec(json!({"price": 5}));
    let err = demo
        .apartments
        .bulk_edit(&demo.one, [id(&a), id(&b)], updates.clone())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(entries(&calls), ["before a", "before b"]);
    let unchanged = demo.apartments.show(&demo.root, id(&a)).await.unwrap();
    assert_eq!(
        unchanged.get_f64("price"),
        Some(1.0),
        "a's edit was rolled back with b's rejection"
    );

    let edited = demo
        .apartments
        .bulk_edit(&demo.root, [id(&a), id(&b)], updates)
        .await
        .unwrap();
    for record in &edited {
        assert_eq!(record.get_f64("price"), Some(5.0));
        assert_eq!(record.get_bool("listed"), Some(true));
    }
}

async fn a_failing_statement_rolls_back_the_whole_bulk_write(source: DataSource) {
    let demo = Demo::new(source).await;
    let a = demo.apartment("a", 1.0, 1).await;
    let b = demo.apartment("b", 2.0, 1).await;
    // A model-action tap on the update statement vetoes the second record, after the first
    // record's UPDATE already ran in the same SQL transaction.
    let update = demo.apartments.action_id(DiffAction::Update);
    let seen = log();
    let record = seen.clone();
    demo.data
        .transactions()
        .post_model_action(&update)
        .unwrap()
        .tap("veto-b", move |call| {
            let row = call.outputs.as_ref().unwrap();
            record
                .lock()
                .unwrap()
                .push(row.get_str("title").unwrap().to_owned());
            if row.get_str("title") == Some("b") {
                return Err(TapError::reject("b may not change"));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .bulk_edit(&demo.root, [id(&a), id(&b)], rec(json!({"price": 9})))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(err.hook_error().unwrap().action(), Some(update.as_str()));
    assert_eq!(entries(&seen), ["a", "b"], "both statements ran");
    let a_now = demo.apartments.show(&demo.root, id(&a)).await.unwrap();
    assert_eq!(
        a_now.get_f64("price"),
        Some(1.0),
        "the first UPDATE was rolled back"
    );
}

async fn cascades_run_after_the_parents_before_save_through_the_childrens_hooks(
    source: DataSource,
) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    let kitchen = demo
        .rooms
        .create(
            &demo.root,
            rec(json!({"name": "kitchen", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    demo.rooms
        .create(
            &demo.root,
            rec(json!({"name": "hall", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    let note = demo
        .notes
        .create(
            &demo.root,
            rec(json!({"body": "nice", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    let calls = log();
    let l = calls.clone();
    demo.apartments
        .hooks()
        .delete
        .before_save
        .tap("log", move |ctx| {
            l.lock().unwrap().push(format!(
                "apartments.before {}",
                ctx.record.get_str("title").unwrap()
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    let l = calls.clone();
    demo.apartments
        .hooks()
        .delete
        .after_save
        .tap("log", move |ctx| {
            l.lock().unwrap().push(format!(
                "apartments.after {}",
                ctx.record.get_str("title").unwrap()
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    let l = calls.clone();
    demo.rooms
        .hooks()
        .delete
        .before_save
        .tap("log", move |ctx| {
            assert_eq!(ctx.cascade_from.as_deref(), Some("apartments"));
            l.lock().unwrap().push(format!(
                "rooms.before {}",
                ctx.record.get_str("name").unwrap()
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    let l = calls.clone();
    demo.rooms
        .hooks()
        .delete
        .after_save
        .tap("log", move |ctx| {
            l.lock().unwrap().push(format!(
                "rooms.after {}",
                ctx.record.get_str("name").unwrap()
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    let l = calls.clone();
    demo.notes
        .hooks()
        .edit
        .before_save
        .tap("log", move |ctx| {
            l.lock().unwrap().push(format!(
                "notes.before {}",
                ctx.updates.get("apartment_id").unwrap()
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    let l = calls.clone();
    demo.notes
        .hooks()
        .edit
        .after_save
        .tap("log", move |_| {
            l.lock().unwrap().push("notes.after".into());
            Ok(Flow::Continue)
        })
        .unwrap();
    let commits = log();
    let c = commits.clone();
    demo.data
        .transactions()
        .pre_commit()
        .tap("count", move |commit| {
            let diffs: usize = commit.transaction().model().iter().map(Vec::len).sum();
            c.lock().unwrap().push(format!("{diffs} diffs"));
            Ok(Flow::Continue)
        })
        .unwrap();

    let deleted = demo.apartments.delete(&demo.one, id(&flat)).await.unwrap();
    assert_eq!(deleted.get_str("title"), Some("flat"));
    assert_eq!(
        entries(&calls),
        [
            "apartments.before flat",
            "rooms.before kitchen",
            "rooms.before hall",
            "notes.before null",
            "rooms.after kitchen",
            "rooms.after hall",
            "notes.after",
            "apartments.after flat",
        ]
    );
    assert_eq!(
        entries(&commits),
        ["4 diffs"],
        "one transaction for the parent and its children"
    );
    assert_eq!(demo.count(&demo.rooms).await, 0);
    assert!(demo.rooms.show(&demo.root, id(&kitchen)).await.is_err());
    let orphan = demo.notes.show(&demo.root, id(&note)).await.unwrap();
    assert_eq!(orphan.get("apartment_id"), Some(&Value::Null));
}

async fn an_aborting_parent_before_save_leaves_the_children(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    demo.rooms
        .create(
            &demo.root,
            rec(json!({"name": "kitchen", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    let child_hooks = log();
    let l = child_hooks.clone();
    demo.rooms
        .hooks()
        .delete
        .before_save
        .tap("log", move |_| {
            l.lock().unwrap().push("rooms.before".into());
            Ok(Flow::Continue)
        })
        .unwrap();
    demo.apartments
        .hooks()
        .delete
        .before_save
        .tap("keep", |_| {
            Err(TapError::reject("apartments are archived, not deleted"))
        })
        .unwrap();
    let err = demo
        .apartments
        .delete(&demo.root, id(&flat))
        .await
        .unwrap_err();
    assert_eq!(
        err.hook_error().unwrap().user_message(),
        "apartments are archived, not deleted"
    );
    assert!(
        entries(&child_hooks).is_empty(),
        "children are planned only after the parent's before_save"
    );
    assert_eq!(
        demo.count(&demo.rooms).await,
        1,
        "AdminForth would have deleted the room already"
    );
    assert_eq!(demo.count(&demo.apartments).await, 1);
}

async fn a_child_that_may_not_be_deleted_stops_the_parents_delete(source: DataSource) {
    let mut defs = common::defs();
    defs[2].allowed_actions.delete = Allowed::when(|actor, _| actor.has_role("superadmin"));
    let demo = Demo::with_defs(source, defs).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    demo.rooms
        .create(
            &demo.root,
            rec(json!({"name": "kitchen", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    let err = demo
        .apartments
        .delete(&demo.one, id(&flat))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Denied { resource, operation: Operation::Delete } if resource == "rooms"),
        "{err}"
    );
    assert_eq!(demo.count(&demo.apartments).await, 1);
    assert_eq!(demo.count(&demo.rooms).await, 1);
    // A child hook's rejection also stops everything.
    demo.rooms
        .hooks()
        .delete
        .before_save
        .tap("no", |_| Err(TapError::reject("rooms stay")))
        .unwrap();
    let err = demo
        .apartments
        .delete(&demo.root, id(&flat))
        .await
        .unwrap_err();
    assert_eq!(err.hook_error().unwrap().hook(), "rooms.delete.before_save");
    assert_eq!(demo.count(&demo.apartments).await, 1);
}

async fn cascades_reach_grandchildren(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 2).await;
    demo.apartment("other", 1.0, 1).await;
    demo.rooms
        .create(
            &demo.root,
            rec(json!({"name": "kitchen", "apartment_id": id(&flat)})),
        )
        .await
        .unwrap();
    let deleted = log();
    let l = deleted.clone();
    demo.rooms
        .hooks()
        .delete
        .after_save
        .tap("log", move |ctx| {
            l.lock()
                .unwrap()
                .push(ctx.record.get_str("name").unwrap().to_owned());
            Ok(Flow::Continue)
        })
        .unwrap();
    let user = demo.users.delete(&demo.root, 2).await.unwrap();
    assert_eq!(user.get_str("email"), Some("two@x.org"));
    assert!(!user.contains("password_hash"));
    assert_eq!(entries(&deleted), ["kitchen"]);
    assert_eq!(demo.count(&demo.apartments).await, 1);
    assert_eq!(demo.count(&demo.rooms).await, 0);
}
