//! AdminForth's `create.beforeSave` / `create.afterSave`, with the bare engine.
//!
//! Seed 001 (AdminForth resource hooks): "user who creates the apartment will be assigned as a
//! realtor. Also user can't set other realtor then himself, even if he will make request using
//! curl/devtools because hook will override the value." A hook answers `{ ok: true }` or
//! `{ ok: false, error }`; in hookline that is `Ok(Flow::Continue)` or
//! `Err(TapError::reject(..))`. `afterSave` runs after the write: "interrupting flow from
//! `edit.afterSave` does not prevent data modification in DB".
//!
//! This example builds the create flow as a [`Pipeline`]: before-taps are `create.beforeSave`,
//! the handler is the insert, after-taps are `create.afterSave` ([`AfterRuns::OnSuccess`], and
//! `.handler_commits(true)` because the insert is a committed write).
//!
//! Run it with `cargo run -p hookline-examples --example adminforth_realtor`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline::{
    After, AfterRuns, Before, Flow, HookError, Outcome, Phase, Pipeline, Share, TapError,
};

/// The user making the request (AdminForth's `adminUser.dbUser`).
#[derive(Debug, Clone, Copy)]
struct User {
    id: u64,
}

/// What the client sent: any field, including a `realtor_id` it has no business setting.
#[derive(Debug, Clone)]
struct NewApartment {
    title: String,
    price: u32,
    realtor_id: u64,
}

/// The create request: the record and who sends it.
#[derive(Debug)]
struct CreateRequest {
    user: User,
    record: NewApartment,
}

/// A saved row.
#[derive(Debug, Clone, PartialEq)]
struct Apartment {
    id: u64,
    title: String,
    price: u32,
    realtor_id: u64,
}

/// The "database": rows in memory.
type Table = Arc<Mutex<Vec<Apartment>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One create call: before-taps, then the insert, then after-taps.
async fn create(
    apartments: &Pipeline<CreateRequest, Apartment>,
    table: &Table,
    user: User,
    record: NewApartment,
) -> Result<Outcome<Apartment>, HookError> {
    apartments
        .run(
            CreateRequest { user, record },
            async |req: &mut CreateRequest, _share: &Share| {
                let mut rows = lock(table);
                let row = Apartment {
                    id: rows.len() as u64 + 1,
                    title: req.record.title.clone(),
                    price: req.record.price,
                    realtor_id: req.record.realtor_id,
                };
                rows.push(row.clone());
                Ok(row)
            },
        )
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table: Table = Arc::default();
    let audit: Arc<Mutex<Vec<String>>> = Arc::default();

    let apartments: Pipeline<CreateRequest, Apartment> = Pipeline::new("apartments.create")
        .after_runs(AfterRuns::OnSuccess)
        .handler_commits(true);

    // create.beforeSave: the realtor is always the creating user, whatever the client sent.
    apartments
        .before()
        .tap("set-realtor", |ctx: &mut Before<CreateRequest>| {
            ctx.input.record.realtor_id = ctx.input.user.id;
            Ok(Flow::Continue)
        })?;

    // create.beforeSave: `{ ok: false, error: '...' }` stops the flow before anything is written.
    apartments
        .before()
        .tap("price-positive", |ctx: &mut Before<CreateRequest>| {
            if ctx.input.record.price == 0 {
                return Err(TapError::reject("price must be greater than zero"));
            }
            Ok(Flow::Continue)
        })?;

    // create.afterSave: an audit log, then a listing site that refuses some records.
    let log = audit.clone();
    apartments.after().tap(
        "audit-log",
        move |ctx: &mut After<CreateRequest, Apartment>| {
            if let Some(row) = ctx.output() {
                lock(&log).push(format!(
                    "created #{} by user {}",
                    row.id,
                    ctx.input().user.id
                ));
            }
            Ok(Flow::Continue)
        },
    )?;
    apartments.after().tap(
        "listing-sync",
        |ctx: &mut After<CreateRequest, Apartment>| match ctx.output() {
            Some(row) if row.price > 1_000_000 => Err(TapError::reject(
                "the listing site refuses prices above 1,000,000",
            )
            .with_status(502)),
            _ => Ok(Flow::Continue),
        },
    )?;

    let alice = User { id: 7 };

    println!("1. Alice creates an apartment; the client claims realtor 99.");
    let sent = NewApartment {
        title: "Loft on Main St".into(),
        price: 250_000,
        realtor_id: 99,
    };
    let created = create(&apartments, &table, alice, sent).await?;
    println!("   saved: {:?}", created.output);
    assert_eq!(created.output.realtor_id, alice.id);

    println!("2. Alice creates an apartment for free.");
    let free = NewApartment {
        title: "Shed".into(),
        price: 0,
        realtor_id: 7,
    };
    let rejected = create(&apartments, &table, alice, free)
        .await
        .err()
        .ok_or("a price of 0 must be rejected")?;
    println!("   rejected: {rejected}");
    println!(
        "   status {}, user message {:?}, committed {}",
        rejected.status(),
        rejected.user_message(),
        rejected.committed()
    );
    assert!(rejected.is_rejection());
    assert_eq!(rejected.status(), 422);
    assert_eq!(rejected.phase(), Phase::Before);
    assert_eq!(rejected.tap().map(|t| t.name()), Some("price-positive"));
    assert!(!rejected.committed());
    assert_eq!(lock(&table).len(), 1, "nothing was written");

    println!("3. Alice creates a penthouse the listing site refuses (in afterSave).");
    let penthouse = NewApartment {
        title: "Penthouse".into(),
        price: 4_000_000,
        realtor_id: 1,
    };
    let after_save = create(&apartments, &table, alice, penthouse)
        .await
        .err()
        .ok_or("the listing site must refuse the penthouse")?;
    println!("   error: {after_save}");
    println!(
        "   status {}, committed {} -> the row stays: {:?}",
        after_save.status(),
        after_save.committed(),
        lock(&table).last()
    );
    assert_eq!(after_save.phase(), Phase::After);
    assert_eq!(after_save.status(), 502);
    assert!(
        after_save.committed(),
        "an afterSave error comes after the write"
    );
    assert_eq!(lock(&table).len(), 2, "the data stays");

    // after-taps ran for the two writes only: `AfterRuns::OnSuccess` skips them on a rejection.
    println!("audit log: {:?}", lock(&audit));
    assert_eq!(
        *lock(&audit),
        ["created #1 by user 7", "created #2 by user 7"]
    );
    Ok(())
}
