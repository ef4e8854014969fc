//! Queries over the bounds a client can reach are 400s naming the bound, never a panic or a
//! database limit (issue 25, item 1, in part): the offset, the values of an `in` list, the
//! sort keys and the aggregates of one request, and text the databases cannot store.

mod common;

use common::Demo;
use hookline_data::{Aggregate, DataError, DataSource, Filter, Query, Sort};

fn refused(outcome: Result<impl std::fmt::Debug, DataError>, needle: &str) {
    let error = outcome.expect_err("the query is refused");
    assert_eq!(error.status(), 400, "{error}");
    assert!(error.to_string().contains(needle), "{error}");
}

async fn an_offset_past_the_databases_integers_is_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    let mut query = Query::new();
    query.offset = i64::MAX as u64 + 1;
    refused(
        demo.apartments.list(&demo.root, query).await,
        "the most is 9223372036854775807",
    );
    let mut query = Query::new();
    query.offset = i64::MAX as u64;
    let page = demo.apartments.list(&demo.root, query).await.unwrap();
    assert!(page.records.is_empty(), "the largest offset is a valid one");
}

async fn an_in_list_of_more_than_1000_values_is_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    let query = Query::new().filter(Filter::is_in("id", 0..40_000));
    refused(
        demo.apartments.list(&demo.root, query).await,
        "40000 values in `in` on `id` asked for; the most is 1000",
    );
    let query = Query::new().filter(Filter::not_in("id", 0..1000));
    demo.apartments.count(&demo.root, query).await.unwrap();
}

async fn more_than_16_sort_keys_are_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    let mut query = Query::new();
    query.sort = (0..3000).map(|_| Sort::asc("price")).collect();
    refused(
        demo.apartments.list(&demo.root, query).await,
        "3000 sort keys asked for; the most is 16",
    );
}

async fn more_than_64_aggregates_are_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    let aggregates: Vec<Aggregate> = (0..3000)
        .map(|i| Aggregate::count(format!("n{i}")))
        .collect();
    refused(
        demo.apartments
            .aggregate(&demo.root, Query::new(), &aggregates)
            .await,
        "3000 aggregates asked for; the most is 64",
    );
    demo.apartments
        .aggregate(&demo.root, Query::new(), &aggregates[..64])
        .await
        .unwrap();
}

async fn text_with_a_nul_character_is_refused(source: DataSource) {
    let demo = Demo::new(source).await;
    let create =
        |record: serde_json::Value| demo.apartments.create(&demo.root, common::rec(record));
    refused(
        create(serde_json::json!({ "title": "a\u{0}b", "price": 1.0 })).await,
        "holds a NUL character",
    );
    refused(
        create(serde_json::json!({ "title": "ok", "meta": { "note": ["x\u{0}"] } })).await,
        "holds a NUL character",
    );
    let query = Query::new().filter(Filter::eq("title", "a\u{0}b"));
    refused(
        demo.apartments.list(&demo.root, query).await,
        "holds a NUL character",
    );
    create(serde_json::json!({ "title": "a\\u0000b is fine as six characters" }))
        .await
        .unwrap();
}

on_both_backends!(
    text_with_a_nul_character_is_refused,
    an_offset_past_the_databases_integers_is_refused,
    an_in_list_of_more_than_1000_values_is_refused,
    more_than_16_sort_keys_are_refused,
    more_than_64_aggregates_are_refused,
);
