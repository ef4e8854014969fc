//! Bad input on both backends: unknown resource, column or operator; values of the wrong type;
//! SQL metacharacters in values and names; oversized limits. Each is a typed error with a
//! message, and nothing is written.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Demo, id, rec};
use hookline::Flow;
use hookline_data::{
    Aggregate, Column, ColumnType, Data, DataError, DataSource, Filter, Operator, Query,
    ResourceDef,
};
use serde_json::{Value, json};

on_both_backends!(
    unknown_resource,
    unknown_columns_everywhere,
    unknown_operators,
    values_of_the_wrong_type,
    values_hooks_set_are_checked_too,
    sql_metacharacters_in_values_are_data,
    sql_metacharacters_in_names_are_refused,
    oversized_limits,
    clients_cannot_set_backend_only_columns,
    queries_cannot_read_backend_only_columns_by_filter_sort_or_aggregate,
);

/// Asserts that nothing was written: the apartment count is still `expected`.
async fn still(demo: &Demo, expected: u64) {
    assert_eq!(
        demo.count(&demo.apartments).await,
        expected,
        "nothing may be written"
    );
}

async fn unknown_resource(source: DataSource) {
    let demo = Demo::new(source).await;
    let err = demo.data.resource("flats").unwrap_err();
    assert!(matches!(&err, DataError::UnknownResource { resource } if resource == "flats"));
    assert_eq!(err.status(), 404);
    assert_eq!(err.to_string(), "unknown resource `flats`");
    let defs = vec![
        ResourceDef::new("pets")
            .column(Column::integer("id").primary_key())
            .column(Column::integer("owner_id").references("owners")),
    ];
    let err = Data::builder(demo.data.source().clone())
        .resources(defs)
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("references `owners`, which is not defined"),
        "{err}"
    );
    let defs = vec![
        ResourceDef::new("tags").column(Column::text("id").primary_key()),
        ResourceDef::new("labels")
            .column(Column::integer("id").primary_key())
            .column(Column::integer("tag_id").references("tags")),
    ];
    let err = Data::builder(demo.data.source().clone())
        .resources(defs)
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is integer but the primary key `tags.id` it references is text"),
        "{err}"
    );
}

async fn unknown_columns_everywhere(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    let unknown = |err: DataError, column: &str| {
        assert!(
            matches!(&err, DataError::UnknownColumn { column: c, .. } if c == column),
            "{err}"
        );
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.to_string(),
            format!("resource `apartments` has no column `{column}`")
        );
    };
    let a = &demo.apartments;
    unknown(
        a.list(&demo.one, Query::new().filter(Filter::eq("colour", 1)))
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.list(
            &demo.one,
            Query::new().filter(Filter::or([Filter::eq("colour", 1)])),
        )
        .await
        .unwrap_err(),
        "colour",
    );
    unknown(
        a.list(&demo.one, Query::new().sort_asc("colour"))
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.count(&demo.one, Query::new().filter(Filter::is_null("colour")))
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.aggregate(&demo.one, Query::new(), &[Aggregate::sum("colour", "s")])
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.create(&demo.one, rec(json!({"title": "x", "colour": "red"})))
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.edit(&demo.one, id(&flat), rec(json!({"colour": "red"})))
            .await
            .unwrap_err(),
        "colour",
    );
    unknown(
        a.dropdown(&demo.one, "colour", Query::new())
            .await
            .unwrap_err(),
        "colour",
    );
    still(&demo, 1).await;
}

async fn unknown_operators(source: DataSource) {
    let demo = Demo::new(source).await;
    let err = DataError::from("regex".parse::<Operator>().unwrap_err());
    assert!(matches!(&err, DataError::UnknownOperator { operator } if operator == "regex"));
    assert!(err.to_string().contains("expected one of: eq, ne"), "{err}");
    let err = DataError::from(
        Query::from_json(
            json!({"filters": [{"field": "title", "operator": "matches", "value": "x"}]}),
        )
        .unwrap_err(),
    );
    assert!(matches!(err, DataError::InvalidQuery { .. }));
    assert!(
        err.to_string()
            .contains("unknown filter operator `matches`"),
        "{err}"
    );
    assert_eq!(err.status(), 400);
    // Operators that exist but do not apply to the column's type.
    for (filter, says) in [
        (
            Filter::like("price", "1%"),
            "operator `like` does not apply to float columns",
        ),
        (
            Filter::gt("listed", true),
            "operator `gt` does not apply to boolean columns",
        ),
        (
            Filter::eq("meta", json!({"a": 1})),
            "operator `eq` does not apply to json columns",
        ),
        (
            Filter::eq("title", Value::Null),
            "use the `is_null` operator",
        ),
        (
            Filter::Condition(hookline_data::Condition {
                field: "title".into(),
                operator: Operator::In,
                value: json!("x"),
            }),
            "`in` needs a list of values, got the string \"x\"",
        ),
        (
            Filter::Condition(hookline_data::Condition {
                field: "title".into(),
                operator: Operator::IsNull,
                value: json!(1),
            }),
            "`is_null` takes true, false or null, got the number 1",
        ),
    ] {
        let err = demo
            .apartments
            .list(&demo.one, Query::new().filter(filter))
            .await
            .unwrap_err();
        assert!(matches!(err, DataError::UnsupportedFilter { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

async fn values_of_the_wrong_type(source: DataSource) {
    let demo = Demo::new(source).await;
    let flat = demo.apartment("flat", 1.0, 1).await;
    let invalid = |err: DataError, column: &str, expected: ColumnType| {
        assert!(
            matches!(&err, DataError::InvalidValue { column: c, expected: e, .. } if c == column && *e == expected),
            "{err}"
        );
        assert_eq!(err.status(), 400);
    };
    let a = &demo.apartments;
    let err = a
        .create(&demo.one, rec(json!({"title": "x", "price": "cheap"})))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "column `apartments.price` expects float, got the string \"cheap\""
    );
    invalid(err, "price", ColumnType::Float);
    invalid(
        a.create(&demo.one, rec(json!({"title": 5})))
            .await
            .unwrap_err(),
        "title",
        ColumnType::Text,
    );
    invalid(
        a.create(&demo.one, rec(json!({"title": "x", "listed": "yes"})))
            .await
            .unwrap_err(),
        "listed",
        ColumnType::Boolean,
    );
    invalid(
        a.create(&demo.one, rec(json!({"title": "x", "realtor_id": 1.5})))
            .await
            .unwrap_err(),
        "realtor_id",
        ColumnType::Integer,
    );
    invalid(
        a.create(&demo.one, rec(json!({"title": "x", "code": "not-a-uuid"})))
            .await
            .unwrap_err(),
        "code",
        ColumnType::Uuid,
    );
    invalid(
        a.create(
            &demo.one,
            rec(json!({"title": "x", "created_at": "yesterday"})),
        )
        .await
        .unwrap_err(),
        "created_at",
        ColumnType::Timestamp,
    );
    invalid(
        a.edit(&demo.one, id(&flat), rec(json!({"price": [1]})))
            .await
            .unwrap_err(),
        "price",
        ColumnType::Float,
    );
    invalid(
        a.list(&demo.one, Query::new().filter(Filter::gt("price", "10")))
            .await
            .unwrap_err(),
        "price",
        ColumnType::Float,
    );
    invalid(
        a.list(
            &demo.one,
            Query::new().filter(Filter::is_in("realtor_id", [json!(1), json!("2")])),
        )
        .await
        .unwrap_err(),
        "realtor_id",
        ColumnType::Integer,
    );
    invalid(
        a.show(&demo.one, "1").await.unwrap_err(),
        "id",
        ColumnType::Integer,
    );
    invalid(
        a.delete(&demo.one, Value::Null).await.unwrap_err(),
        "id",
        ColumnType::Integer,
    );
    invalid(
        a.bulk_delete(&demo.one, [id(&flat), json!("two")])
            .await
            .unwrap_err(),
        "id",
        ColumnType::Integer,
    );
    let missing = a
        .create(&demo.one, rec(json!({"price": 1})))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, DataError::MissingRequired { column, .. } if column == "title"),
        "{missing}"
    );
    still(&demo, 1).await;
    assert_eq!(
        a.show(&demo.one, id(&flat)).await.unwrap().get_f64("price"),
        Some(1.0)
    );
}

async fn values_hooks_set_are_checked_too(source: DataSource) {
    let demo = Demo::new(source).await;
    let hook = &demo.apartments.hooks().create.before_save;
    let handle = hook
        .tap("script-ish", |ctx| {
            // A script engine turned the float into an integer: fine, it is coerced back.
            ctx.record.set("price", 3);
            Ok(Flow::Continue)
        })
        .unwrap();
    let made = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "ok"})))
        .await
        .unwrap();
    assert!(made.get("price").unwrap().is_f64());
    hook.remove(handle).unwrap();
    hook.tap("bad", |ctx| {
        ctx.record.set("price", "three");
        Ok(Flow::Continue)
    })
    .unwrap();
    let err = demo
        .apartments
        .create(&demo.one, rec(json!({"title": "no"})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::InvalidValue { .. }), "{err}");
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
    demo.apartments
        .hooks()
        .create
        .before_save
        .tap("unknown", |ctx| {
            ctx.record.set("colour", "red");
            Ok(Flow::Continue)
        })
        .unwrap();
    assert!(
        demo.apartments
            .create(&demo.one, rec(json!({"title": "no"})))
            .await
            .is_err()
    );
    assert_eq!(after.load(Ordering::SeqCst), 0);
    still(&demo, 1).await;
}

async fn sql_metacharacters_in_values_are_data(source: DataSource) {
    let demo = Demo::new(source).await;
    let evil = "x'); DROP TABLE apartments; -- \" ; \\ %_ \u{0}?$1";
    let evil = evil.replace('\u{0}', "");
    let made = demo
        .apartments
        .create(
            &demo.one,
            rec(json!({"title": evil, "meta": {"q": "' OR 1=1 --"}})),
        )
        .await
        .unwrap();
    assert_eq!(made.get_str("title"), Some(evil.as_str()));
    let found = demo
        .apartments
        .list(
            &demo.one,
            Query::new().filter(Filter::eq("title", evil.clone())),
        )
        .await
        .unwrap();
    assert_eq!(found.records, std::slice::from_ref(&made));
    let none = demo
        .apartments
        .list(
            &demo.one,
            Query::new().filter(Filter::eq("title", "' OR '1'='1")),
        )
        .await
        .unwrap();
    assert!(none.records.is_empty());
    let like = demo
        .apartments
        .list(
            &demo.one,
            Query::new().filter(Filter::like("title", "x'); DROP%")),
        )
        .await
        .unwrap();
    assert_eq!(like.records.len(), 1);
    let edited = demo
        .apartments
        .edit(
            &demo.one,
            id(&made),
            rec(json!({"title": "'; DELETE FROM apartments; --"})),
        )
        .await
        .unwrap();
    assert_eq!(
        edited.get_str("title"),
        Some("'; DELETE FROM apartments; --")
    );
    still(&demo, 1).await;
}

async fn sql_metacharacters_in_names_are_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("flat", 1.0, 1).await;
    for name in [
        "title; DROP TABLE apartments",
        "\"title\"",
        "title--",
        "price)",
        "a b",
    ] {
        let err = demo
            .apartments
            .list(&demo.one, Query::new().filter(Filter::eq(name, 1)))
            .await
            .unwrap_err();
        assert!(matches!(err, DataError::UnknownColumn { .. }), "{err}");
        let err = demo
            .apartments
            .list(&demo.one, Query::new().sort_desc(name))
            .await
            .unwrap_err();
        assert!(matches!(err, DataError::UnknownColumn { .. }), "{err}");
        let err = demo
            .apartments
            .create(&demo.one, rec(json!({"title": "x", name: 1})))
            .await
            .unwrap_err();
        assert!(matches!(err, DataError::UnknownColumn { .. }), "{err}");
        assert!(matches!(
            demo.data.resource(name).unwrap_err(),
            DataError::UnknownResource { .. }
        ));
    }
    let err = demo
        .apartments
        .aggregate(
            &demo.one,
            Query::new(),
            &[Aggregate::count("n\"; DROP TABLE x; --")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::InvalidQuery { .. }), "{err}");
    let bad = ResourceDef::new("robert'); DROP TABLE users;--")
        .column(Column::integer("id").primary_key());
    let err = Data::builder(demo.data.source().clone())
        .resource(bad)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::Definition { .. }), "{err}");
    let bad = ResourceDef::new("ok")
        .table("users\"; --")
        .column(Column::integer("id").primary_key());
    assert!(matches!(
        Data::builder(demo.data.source().clone())
            .resource(bad)
            .build()
            .await
            .unwrap_err(),
        DataError::Definition { .. }
    ));
    still(&demo, 1).await;
    assert_eq!(demo.count(&demo.users).await, 3);
}

async fn oversized_limits(source: DataSource) {
    let demo = Demo::new(source).await;
    demo.apartment("flat", 1.0, 1).await;
    let err = demo
        .apartments
        .list(&demo.one, Query::new().limit(1_000_000))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LimitTooLarge {
                limit: 1_000_000,
                max: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("page with offset"));
    // A hook cannot raise it past the maximum either.
    demo.apartments
        .hooks()
        .list
        .before_datasource_request
        .tap("greedy", |ctx| {
            ctx.query.limit = Some(u64::MAX);
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = demo
        .apartments
        .list(&demo.one, Query::new())
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::LimitTooLarge { .. }), "{err}");
    assert!(matches!(
        DataError::from(Query::from_json(json!({"limit": -5})).unwrap_err()),
        DataError::InvalidQuery { .. }
    ));
}

async fn clients_cannot_set_backend_only_columns(source: DataSource) {
    let demo = Demo::new(source).await;
    let err = demo
        .users
        .create(
            &demo.root,
            rec(json!({"email": "e@x.org", "password_hash": "forged"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataError::BackendOnly { column, .. } if column == "password_hash"),
        "{err}"
    );
    let err = demo
        .users
        .edit(&demo.root, 1, rec(json!({"password_hash": "forged"})))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::BackendOnly { .. }), "{err}");
    assert_eq!(demo.count(&demo.users).await, 3);
}

/// A `LIKE` filter, a sort or a `MAX` on a backend-only column would reveal its values one
/// step at a time; each is refused before any statement runs.
async fn queries_cannot_read_backend_only_columns_by_filter_sort_or_aggregate(source: DataSource) {
    let demo = Demo::new(source).await;
    let backend_only = |err: &DataError| matches!(err, DataError::BackendOnly { column, .. } if column == "password_hash");
    let err = demo
        .users
        .list(
            &demo.root,
            Query::new().filter(Filter::like("password_hash", "$argon2%")),
        )
        .await
        .unwrap_err();
    assert!(backend_only(&err), "{err}");
    let err = demo
        .users
        .list(&demo.root, Query::new().sort_desc("password_hash"))
        .await
        .unwrap_err();
    assert!(backend_only(&err), "{err}");
    let err = demo
        .users
        .aggregate(
            &demo.root,
            Query::new(),
            &[Aggregate::max("password_hash", "h")],
        )
        .await
        .unwrap_err();
    assert!(backend_only(&err), "{err}");
    assert_eq!(err.status(), 400);
}
