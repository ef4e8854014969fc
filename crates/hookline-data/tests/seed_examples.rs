//! The examples of AdminForth's hooks page (seed 001), on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Demo, id, rec};
use hookline::{Flow, TapError};
use hookline_data::{Allowed, DataError, DataSource, Filter, Operation, Query, ResourceDef};
use serde_json::{Value, json};

on_both_backends!(
    realtor_is_set_by_create_before_save_and_cannot_be_overridden,
    list_is_scoped_to_the_realtor_except_for_superadmins,
    list_after_response_formats_prices,
    dropdown_lists_only_the_actor_unless_superadmin,
    show_of_another_realtors_record_is_denied_by_the_response_hook,
    show_of_another_realtors_record_is_denied_by_allowed_actions_before_any_hook,
);

async fn realtor_is_set_by_create_before_save_and_cannot_be_overridden(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartments
        .hooks()
        .create
        .before_save
        .tap("set-realtor", |ctx| {
            ctx.record.set("realtor_id", ctx.actor.id.clone());
            Ok(Flow::Continue)
        })
        .unwrap();

    // The client claims another realtor, as with curl or devtools.
    let forged = demo
        .apartments
        .create(
            &demo.one,
            rec(json!({"title": "Loft", "price": 100, "realtor_id": 2})),
        )
        .await
        .unwrap();
    assert_eq!(forged.get_i64("realtor_id"), Some(1));
    // ... or none at all.
    let plain = demo
        .apartments
        .create(&demo.two, rec(json!({"title": "Barn"})))
        .await
        .unwrap();
    assert_eq!(plain.get_i64("realtor_id"), Some(2));
    // The database agrees.
    let stored = demo.apartments.show(&demo.root, id(&forged)).await.unwrap();
    assert_eq!(stored.get_i64("realtor_id"), Some(1));
}

fn scope_to_realtor(demo: &Demo) {
    demo.apartments
        .hooks()
        .list
        .before_datasource_request
        .tap("own-rows", |ctx| {
            if ctx.actor.has_role("superadmin") {
                return Ok(Flow::Continue);
            }
            // Skip a realtor_id filter the client sent, then add the actor's.
            ctx.query
                .replace_filter(Filter::eq("realtor_id", ctx.actor.id.clone()));
            Ok(Flow::Continue)
        })
        .unwrap();
}

async fn list_is_scoped_to_the_realtor_except_for_superadmins(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("a", 10.0, 1).await;
    demo.apartment("b", 20.0, 1).await;
    demo.apartment("c", 30.0, 2).await;
    scope_to_realtor(&demo);

    let titles = |page: hookline_data::Page| -> Vec<String> {
        page.records
            .iter()
            .map(|r| r.get_str("title").unwrap().to_owned())
            .collect()
    };
    let own = demo
        .apartments
        .list(&demo.one, Query::new().with_total())
        .await
        .unwrap();
    assert_eq!(own.total, Some(2));
    assert_eq!(titles(own), ["a", "b"]);
    // A client filter on realtor_id cannot widen the scope.
    let sneaky = Query::new().filter(Filter::eq("realtor_id", 2));
    assert_eq!(
        titles(demo.apartments.list(&demo.one, sneaky).await.unwrap()),
        ["a", "b"]
    );
    // Other client filters still apply.
    let cheap = Query::new().filter(Filter::lt("price", 15));
    assert_eq!(
        titles(demo.apartments.list(&demo.one, cheap).await.unwrap()),
        ["a"]
    );
    // The superadmin sees everything, and may filter by realtor.
    assert_eq!(
        titles(
            demo.apartments
                .list(&demo.root, Query::new())
                .await
                .unwrap()
        ),
        ["a", "b", "c"]
    );
    let theirs = Query::new().filter(Filter::eq("realtor_id", 2));
    assert_eq!(
        titles(demo.apartments.list(&demo.root, theirs).await.unwrap()),
        ["c"]
    );
}

async fn list_after_response_formats_prices(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("a", 100.0, 1).await;
    demo.apartment("b", 99.5, 1).await;
    demo.apartments
        .hooks()
        .list
        .after_datasource_response
        .tap("format-price", |ctx| {
            for r in &mut ctx.response {
                let price = r.get_f64("price").unwrap_or_default();
                r.set("price", format!("${price}"));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let page = demo.apartments.list(&demo.one, Query::new()).await.unwrap();
    let prices: Vec<&str> = page
        .records
        .iter()
        .map(|r| r.get_str("price").unwrap())
        .collect();
    assert_eq!(prices, ["$100", "$99.5"]);
    // Only the response changed, not the data; and show has its own hooks.
    let first = demo
        .apartments
        .show(&demo.one, id(&page.records[0]))
        .await
        .unwrap();
    assert_eq!(first.get_f64("price"), Some(100.0));
}

async fn dropdown_lists_only_the_actor_unless_superadmin(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartments
        .dropdown_hooks("realtor_id")
        .unwrap()
        .before_datasource_request
        .tap("only-me", |ctx| {
            assert_eq!(ctx.resource, "users");
            if !ctx.actor.has_role("superadmin") {
                ctx.query.filters = vec![Filter::eq("id", ctx.actor.id.clone())];
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let ids = |records: Vec<hookline_data::Record>| -> Vec<i64> {
        records.iter().map(|r| r.get_i64("id").unwrap()).collect()
    };
    let mine = demo
        .apartments
        .dropdown(&demo.two, "realtor_id", Query::new())
        .await
        .unwrap();
    assert!(mine.iter().all(|r| !r.contains("password_hash")));
    assert_eq!(ids(mine), [2]);
    // A client filter naming other users does not get past the hook.
    let sneaky = Query::new().filter(Filter::is_in("id", [1, 3]));
    assert_eq!(
        ids(demo
            .apartments
            .dropdown(&demo.two, "realtor_id", sneaky)
            .await
            .unwrap()),
        [2]
    );
    let all = demo
        .apartments
        .dropdown(&demo.root, "realtor_id", Query::new())
        .await
        .unwrap();
    assert_eq!(ids(all), [1, 2, 3]);
    // The list of another column, or of a column that is no foreign key, is an error.
    let err = demo
        .apartments
        .dropdown(&demo.root, "title", Query::new())
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::NotForeignKey { .. }), "{err}");
}

async fn show_of_another_realtors_record_is_denied_by_the_response_hook(source: DataSource) {
    let demo = Demo::new(source).await;
    let theirs = demo.apartment("theirs", 1.0, 2).await;
    let mine = demo.apartment("mine", 1.0, 1).await;
    demo.apartments
        .hooks()
        .show
        .after_datasource_response
        .tap("own-record", |ctx| {
            if ctx.actor.has_role("superadmin") {
                return Ok(Flow::Continue);
            }
            if ctx.response[0].get("realtor_id") != Some(&ctx.actor.id) {
                return Err(
                    TapError::reject("You are not allowed to see this record").with_status(403)
                );
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .show(&demo.one, id(&theirs))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    let hook = err.hook_error().unwrap();
    assert_eq!(
        hook.user_message(),
        "You are not allowed to see this record"
    );
    assert_eq!(hook.tap().unwrap().name(), "own-record");
    assert!(!err.committed());
    // The edit page's initial data runs the same hooks.
    assert_eq!(
        demo.apartments
            .edit_data(&demo.one, id(&theirs))
            .await
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        demo.apartments
            .show(&demo.one, id(&mine))
            .await
            .unwrap()
            .get_str("title"),
        Some("mine")
    );
    assert!(demo.apartments.show(&demo.root, id(&theirs)).await.is_ok());
}

async fn show_of_another_realtors_record_is_denied_by_allowed_actions_before_any_hook(
    source: DataSource,
) {
    let mut defs = common::defs();
    let apartments: &mut ResourceDef = &mut defs[1];
    apartments.allowed_actions.show = Allowed::when(|actor, record| {
        actor.has_role("superadmin")
            || record.is_some_and(|r| r.get("realtor_id") == Some(&actor.id))
    });
    let demo = Demo::with_defs(source, defs).await;
    let theirs = demo.apartment("theirs", 1.0, 2).await;
    let hook_ran = Arc::new(AtomicUsize::new(0));
    let counter = hook_ran.clone();
    demo.apartments
        .hooks()
        .show
        .before_datasource_request
        .tap("count", move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .show(&demo.one, id(&theirs))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Denied {
                operation: Operation::Show,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status(), 403);
    assert_eq!(
        hook_ran.load(Ordering::SeqCst),
        0,
        "access is checked before any hook"
    );
    assert!(demo.apartments.show(&demo.two, id(&theirs)).await.is_ok());
    assert_eq!(hook_ran.load(Ordering::SeqCst), 1);
    // A missing record is 404, not a denial that would leak nothing either way.
    let missing = demo
        .apartments
        .show(&demo.one, Value::from(999))
        .await
        .unwrap_err();
    assert!(matches!(missing, DataError::NotFound { .. }), "{missing}");
}
