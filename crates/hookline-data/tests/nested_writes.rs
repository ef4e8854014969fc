//! Writes made from a write's `before_save` hooks through the same data set join its
//! transaction: they commit or roll back with it, a failed one can be caught without spoiling
//! the outer write, and reads see what the write has done so far.

mod common;

use hookline::{Flow, TapError};
use hookline_data::{Actor, Column, Data, DataSource, Filter, Query, Resource, ResourceDef};
use serde_json::json;

use common::rec;

/// Accounts (account 1, `a`, holds 100) and the transfers whose `before_save` hooks move
/// money between them.
async fn ledger(source: DataSource) -> (Resource, Resource) {
    let data = Data::builder(source)
        .resource(
            ResourceDef::new("accounts")
                .column(Column::integer("id").primary_key())
                .column(Column::text("name").required())
                .column(Column::integer("balance").required()),
        )
        .resource(
            ResourceDef::new("transfers")
                .column(Column::integer("id").primary_key())
                .column(Column::integer("account_id").references("accounts"))
                .column(Column::integer("amount").required()),
        )
        .build()
        .await
        .unwrap();
    let accounts = data.resource("accounts").unwrap();
    accounts
        .create(&Actor::new(1), rec(json!({ "name": "a", "balance": 100 })))
        .await
        .unwrap();
    (accounts, data.resource("transfers").unwrap())
}

async fn balance(accounts: &Resource, id: i64) -> i64 {
    accounts.show(&Actor::new(1), id).await.unwrap()["balance"]
        .as_i64()
        .unwrap()
}

async fn a_rejected_write_rolls_back_what_its_hooks_wrote(source: DataSource) {
    let (accounts, transfers) = ledger(source).await;
    let actor = Actor::new(1);
    let ledger = accounts.clone();
    transfers
        .hooks()
        .create
        .before_save
        .tap_async("debit", move |ctx| {
            let accounts = ledger.clone();
            Box::pin(async move {
                let id = ctx.record["account_id"].clone();
                let amount = ctx.record.get_i64("amount").unwrap_or(0);
                let account = accounts.show(&ctx.actor, id.clone()).await?;
                let left = account.get_i64("balance").unwrap_or(0) - amount;
                accounts
                    .edit(&ctx.actor, id.clone(), rec(json!({ "balance": left })))
                    .await?;
                // The hook reads its own write back: it is in the same transaction.
                let now = accounts.show(&ctx.actor, id).await?;
                assert_eq!(now.get_i64("balance"), Some(left));
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    transfers
        .hooks()
        .create
        .before_save
        .tap("limit", |ctx| {
            if ctx.record.get_i64("amount").unwrap_or(0) > 50 {
                return Err(TapError::reject("over the limit").with_status(422));
            }
            Ok(Flow::Continue)
        })
        .unwrap();

    transfers
        .create(&actor, rec(json!({ "account_id": 1, "amount": 30 })))
        .await
        .unwrap();
    assert_eq!(balance(&accounts, 1).await, 70);

    let refused = transfers
        .create(&actor, rec(json!({ "account_id": 1, "amount": 60 })))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 422, "{refused}");
    assert_eq!(
        balance(&accounts, 1).await,
        70,
        "the debit made by the first hook rolled back with the refused transfer"
    );
    assert_eq!(transfers.count(&actor, Query::new()).await.unwrap(), 1);
}

async fn a_failed_write_in_a_hook_can_be_caught(source: DataSource) {
    let (accounts, transfers) = ledger(source).await;
    let actor = Actor::new(1);
    let log = transfers.clone();
    accounts
        .hooks()
        .edit
        .before_save
        .tap_async("log-transfer", move |ctx| {
            let transfers = log.clone();
            Box::pin(async move {
                // A transfer for an account that does not exist: the database refuses it.
                let bad = rec(json!({ "account_id": 999, "amount": 1 }));
                let error = transfers.create(&ctx.actor, bad).await.unwrap_err();
                assert_eq!(error.status(), 409, "{error}");
                // The outer write goes on, and so can other writes of the hook.
                let good = rec(json!({ "account_id": ctx.record_id.clone(), "amount": 1 }));
                transfers.create(&ctx.actor, good).await?;
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    accounts
        .edit(&actor, 1, rec(json!({ "balance": 99 })))
        .await
        .unwrap();
    assert_eq!(balance(&accounts, 1).await, 99);
    let logged = transfers
        .list(&actor, Query::new().filter(Filter::eq("account_id", 1)))
        .await
        .unwrap();
    assert_eq!(
        logged.records.len(),
        1,
        "the caught failure left nothing behind"
    );
}

on_both_backends!(
    a_rejected_write_rolls_back_what_its_hooks_wrote,
    a_failed_write_in_a_hook_can_be_caught,
    post_commit_taps_read_the_committed_state,
);

/// Post-commit taps run after the commit, outside the write's transaction: what they read
/// through the data set is the committed state, read through the pool.
async fn post_commit_taps_read_the_committed_state(source: DataSource) {
    let (accounts, _) = ledger(source).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (reader, log) = (accounts.clone(), seen.clone());
    accounts
        .data()
        .transactions()
        .post_commit()
        .tap_async("count-after-commit", move |commit| {
            let (accounts, log) = (reader.clone(), log.clone());
            let actor = commit.transaction().inputs().actor.clone();
            Box::pin(async move {
                let count = accounts.count(&actor, Query::new()).await?;
                log.lock().unwrap().push(count);
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    let actor = Actor::new(1);
    for name in ["b", "c"] {
        accounts
            .create(&actor, rec(json!({ "name": name, "balance": 1 })))
            .await
            .unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), vec![2, 3]);
}
