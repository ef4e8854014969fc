//! Writes decide on what they read inside their own transaction: concurrent writes that race
//! an access check, a read-modify-write in a `before_save` hook, or a cascade never act on a
//! state that is gone by commit. Each test runs on SQLite (in memory) and on PostgreSQL (when
//! `HOOKLINE_TEST_PG` is set); the hooks sleep between reading and writing to widen the window
//! a stale read would fall into.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Demo, defs, on_postgres, on_sqlite, rec};
use hookline::{Flow, TapError};
use hookline_data::{Actor, Allowed, Column, DataSource, Operation, Resource, ResourceDef};
use serde_json::json;

/// How many times each race is run.
const ROUNDS: usize = 20;

/// The window a stale read would fall into.
const WINDOW: Duration = Duration::from_millis(3);

/// A realtor edits their apartment while an admin reassigns it to another realtor. Apartments
/// may be edited by their realtor or a superadmin; each edit records who made it. If the
/// realtor's edit committed after the reassignment, it was a write by an actor not allowed at
/// commit time (`edited_by = 1` on a row of realtor 2).
async fn reassignment_never_lets_a_stale_access_check_through(source: DataSource) {
    let mut defs = defs();
    defs[1] = defs[1].clone().column(Column::integer("edited_by")).allow(
        Operation::Edit,
        Allowed::when(|actor: &Actor, old| {
            actor.has_role("superadmin")
                || old.is_some_and(|r| r.get("realtor_id") == Some(&actor.id))
        }),
    );
    let demo = Demo::with_defs(source, defs).await;
    demo.apartments
        .hooks()
        .edit
        .before_save
        .tap_async("record-editor", |ctx| {
            Box::pin(async move {
                ctx.updates.set("edited_by", ctx.actor.id.clone());
                if !ctx.actor.has_role("superadmin") {
                    tokio::time::sleep(WINDOW).await;
                }
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    let (mut edited, mut denied) = (0, 0);
    for round in 0..ROUNDS {
        let id = demo.apartment("Loft", 100.0, 1).await["id"].clone();
        let realtor = demo
            .apartments
            .edit(&demo.one, id.clone(), rec(json!({ "title": "mine" })));
        let admin = demo
            .apartments
            .edit(&demo.root, id.clone(), rec(json!({ "realtor_id": 2 })));
        // Either may reach the database first.
        let (by_realtor, by_admin) = if round % 2 == 0 {
            tokio::join!(realtor, admin)
        } else {
            let (a, r) = tokio::join!(admin, realtor);
            (r, a)
        };
        by_admin.expect("the admin may always edit");
        let row = demo.apartments.show(&demo.root, id.clone()).await.unwrap();
        assert_eq!(row.get_i64("realtor_id"), Some(2));
        match by_realtor {
            Ok(_) => {
                edited += 1;
                assert_eq!(
                    row.get_i64("edited_by"),
                    Some(3),
                    "round {round}: the realtor's edit landed after the reassignment"
                );
            }
            Err(error) => {
                assert_eq!(error.status(), 403, "round {round}: {error}");
                denied += 1;
            }
        }
    }
    assert_eq!(edited + denied, ROUNDS);
}

/// Withdrawals from one account, each checked and applied by a `before_save` hook that reads
/// the balance and writes it back through the data set (a read-modify-write): the balance
/// never goes below zero and no withdrawal is lost.
async fn a_read_modify_write_in_before_save_neither_overdraws_nor_loses_updates(
    source: DataSource,
) {
    let data = hookline_data::Data::builder(source)
        .resource(
            ResourceDef::new("accounts")
                .column(Column::integer("id").primary_key())
                .column(Column::integer("balance").required()),
        )
        .resource(
            ResourceDef::new("withdrawals")
                .column(Column::integer("id").primary_key())
                .column(
                    Column::integer("account_id")
                        .required()
                        .references("accounts"),
                )
                .column(Column::integer("amount").required()),
        )
        .build()
        .await
        .unwrap();
    let accounts = data.resource("accounts").unwrap();
    let withdrawals = data.resource("withdrawals").unwrap();
    let actor = Actor::new(1);
    let account = accounts
        .create(&actor, rec(json!({ "balance": 100 })))
        .await
        .unwrap()["id"]
        .clone();
    let ledger = accounts.clone();
    withdrawals
        .hooks()
        .create
        .before_save
        .tap_async("debit", move |ctx| {
            let accounts = ledger.clone();
            Box::pin(async move { debit(&accounts, ctx).await })
        })
        .unwrap();
    let attempts = (0..15).map(|_| {
        withdrawals.create(
            &actor,
            rec(json!({ "account_id": account.clone(), "amount": 10 })),
        )
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let paid = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(refused.status(), 402, "{refused}");
    }
    let balance = accounts.show(&actor, account.clone()).await.unwrap()["balance"].clone();
    assert_eq!(paid, 10, "exactly the balance is paid out");
    assert_eq!(balance, json!(0));
    let count = withdrawals.count(&actor, Default::default()).await.unwrap();
    assert_eq!(count, 10, "every paid withdrawal is recorded, no other");
}

/// The hook of [`a_read_modify_write_in_before_save_neither_overdraws_nor_loses_updates`].
async fn debit(
    accounts: &Resource,
    ctx: &mut hookline_data::CreateContext,
) -> Result<Flow, TapError> {
    let id = ctx.record["account_id"].clone();
    let amount = ctx.record.get_i64("amount").unwrap_or(0);
    let account = accounts.show(&ctx.actor, id.clone()).await?;
    let balance = account.get_i64("balance").unwrap_or(0);
    if balance < amount {
        return Err(TapError::reject("insufficient funds").with_status(402));
    }
    tokio::time::sleep(WINDOW).await;
    accounts
        .edit(&ctx.actor, id, rec(json!({ "balance": balance - amount })))
        .await?;
    Ok(Flow::Continue)
}

/// An apartment is deleted (its rooms cascade, each through its own delete hook) while a room
/// is being added to it. The delete never fails for the race, no room is left pointing at
/// nothing, and every room the delete removed went through its hook.
async fn a_cascade_racing_a_child_insert_runs_every_childs_hook(source: DataSource) {
    let demo = Demo::new(source).await;
    let hooked = Arc::new(AtomicUsize::new(0));
    let count = hooked.clone();
    demo.rooms
        .hooks()
        .delete
        .before_save
        .tap_async("count", move |_| {
            let count = count.clone();
            Box::pin(async move {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(WINDOW).await;
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    for round in 0..ROUNDS {
        let id = demo.apartment("Loft", 100.0, 1).await["id"].clone();
        demo.rooms
            .create(
                &demo.root,
                rec(json!({ "name": "hall", "apartment_id": id })),
            )
            .await
            .unwrap();
        hooked.store(0, Ordering::SeqCst);
        let delete = demo.apartments.delete(&demo.root, id.clone());
        let add = demo.rooms.create(
            &demo.root,
            rec(json!({ "name": "late", "apartment_id": id.clone() })),
        );
        let (deleted, added) = tokio::join!(delete, add);
        deleted.unwrap_or_else(|e| panic!("round {round}: the delete failed: {e}"));
        match &added {
            Ok(_) => {}
            Err(error) => assert_eq!(error.status(), 409, "round {round}: {error}"),
        }
        let left = demo
            .rooms
            .count(
                &demo.root,
                hookline_data::Query::new().filter(hookline_data::Filter::eq("apartment_id", id)),
            )
            .await
            .unwrap();
        assert_eq!(left, 0, "round {round}: a room outlived its apartment");
        assert_eq!(
            hooked.load(Ordering::SeqCst),
            1 + usize::from(added.is_ok()),
            "round {round}: a room was removed without its hook"
        );
    }
}

/// Two bulk edits of overlapping records, named in opposite orders, many times: they lock in
/// one order, so neither deadlocks, and both apply.
async fn overlapping_bulk_edits_do_not_deadlock(source: DataSource) {
    let demo = Demo::new(source).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(demo.apartment(&format!("a{n}"), 1.0, 1).await["id"].clone());
    }
    let reversed: Vec<_> = ids.iter().rev().cloned().collect();
    for round in 0..ROUNDS {
        let up = demo
            .apartments
            .bulk_edit(&demo.root, ids.clone(), rec(json!({ "price": 2.0 })));
        let down =
            demo.apartments
                .bulk_edit(&demo.root, reversed.clone(), rec(json!({ "listed": true })));
        let (up, down) = tokio::join!(up, down);
        up.unwrap_or_else(|e| panic!("round {round}: {e}"));
        down.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let page = demo
        .apartments
        .list(&demo.root, hookline_data::Query::new())
        .await
        .unwrap();
    assert!(
        page.records
            .iter()
            .all(|r| r["price"] == json!(2.0) && r["listed"] == json!(true))
    );
}

macro_rules! races {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_postgres(stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

races!(
    reassignment_never_lets_a_stale_access_check_through,
    a_read_modify_write_in_before_save_neither_overdraws_nor_loses_updates,
    a_cascade_racing_a_child_insert_runs_every_childs_hook,
    overlapping_bulk_edits_do_not_deadlock,
);
