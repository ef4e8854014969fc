//! Around hooks (wrappers with `next`) and parallel fan-out.
//!
//! The seeds' hooks run one after another around a fixed step. Two more shapes come from the
//! peers hookline follows (tapable, pluggy's wrappers, Feathers' around hooks):
//! - an [`AroundHook`]: each tap wraps the rest of the chain and the wrapped function, and calls
//!   `next.run(ctx)` to go on, so it can time, transform or replace the result. A tap that
//!   returns without calling `next` short-circuits, and that is reported, never silent: the
//!   [`Outcome::origin`](hookline::Outcome::origin) names the tap and a warning is logged, or, with
//!   [`AroundHook::require_next`], the call fails;
//! - a [`ParallelHook`]: taps run concurrently over a shared context and are joined, the way
//!   AdminForth's docs advise for independent async work inside a hook (`Promise.all`).
//!
//! `next` can be called once (`Next::run` takes it by value), so a wrapper cannot run the inner
//! chain twice: retrying belongs inside the wrapped function. The `fallback` wrapper below is the
//! retry-like part a wrapper can do: look at the error from `next` and answer something else.
//!
//! Run it with `cargo run -p hookline-examples --example around_timing`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hookline::{
    AroundHook, BoxFuture, ErrorKind, Flow, Next, Origin, ParallelHook, Scope, TapError,
};

/// A database query, the context of the around hook.
#[derive(Debug)]
struct Query {
    sql: &'static str,
}

/// What a query returns.
type Rows = Vec<String>;

/// An order, the context of the parallel hook.
#[derive(Debug)]
struct OrderPlaced {
    id: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many times a query reached the database.
static EXECUTED: AtomicUsize = AtomicUsize::new(0);

/// The wrapped function: a "database" that fails for one table.
fn execute<'b>(query: &'b mut Query, _: Scope<'b, '_>) -> BoxFuture<'b, Result<Rows, TapError>> {
    Box::pin(async move {
        EXECUTED.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(5)).await;
        if query.sql.contains("flaky") {
            return Err(io::Error::other("connection reset by the database").into());
        }
        Ok(vec![format!("row for {:?}", query.sql)])
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The short-circuit warning of an around hook is a `tracing` event; show it.
    tracing_subscriber::fmt()
        .without_time()
        .with_target(false)
        .init();

    let query: AroundHook<Query, Rows> = AroundHook::new("db.query");
    let timings: Arc<Mutex<Vec<&'static str>>> = Arc::default();

    // Outermost: time everything inside, whatever it returns.
    let timed = timings.clone();
    query.tap(
        "timing",
        move |q: &mut Query, next: Next<'_, Query, Rows>| {
            let timed = timed.clone();
            Box::pin(async move {
                let started = Instant::now();
                let result = next.run(q).await;
                println!("   timing: {:?} took {:?}", q.sql, started.elapsed());
                lock(&timed).push(q.sql);
                Ok(result?)
            })
        },
    )?;

    // Retry-like: an error from the inner chain becomes a fallback answer.
    query.tap("fallback", |q: &mut Query, next: Next<'_, Query, Rows>| {
        Box::pin(async move {
            match next.run(q).await {
                Ok(rows) => Ok(rows),
                Err(error) => {
                    println!("   fallback: {error}; answering with stale rows");
                    Ok(vec!["stale row".to_owned()])
                }
            }
        })
    })?;

    // Innermost: answer from a cache without calling `next`.
    let cache: Arc<HashMap<&'static str, Rows>> = Arc::new(HashMap::from([(
        "SELECT count(*) FROM users",
        vec!["42".to_owned()],
    )]));
    let cached = cache.clone();
    query.tap(
        "cache",
        move |q: &mut Query, next: Next<'_, Query, Rows>| {
            let cached = cached.clone();
            Box::pin(async move {
                if let Some(rows) = cached.get(q.sql) {
                    return Ok(rows.clone());
                }
                Ok(next.run(q).await?)
            })
        },
    )?;
    println!("{}", query.explain());

    println!("1. a query the database answers");
    let mut names = Query {
        sql: "SELECT name FROM users",
    };
    let fresh = query.call(&mut names, execute).await?;
    println!("   {:?} from {:?}", fresh.output, fresh.origin);
    assert_eq!(fresh.origin, Origin::Handler);

    println!("2. a cached query: the cache wrapper does not call `next`");
    let mut count = Query {
        sql: "SELECT count(*) FROM users",
    };
    let hit = query.call(&mut count, execute).await?;
    println!("   {:?} from {:?}", hit.output, hit.origin);
    assert_eq!(hit.output, ["42"]);
    assert_eq!(
        hit.origin,
        Origin::ShortCircuit {
            tap: "cache".into()
        }
    );

    println!("3. the database fails: the fallback wrapper answers instead");
    let mut flaky = Query {
        sql: "SELECT * FROM flaky",
    };
    let fallback = query.call(&mut flaky, execute).await?;
    println!("   {:?} from {:?}", fallback.output, fallback.origin);
    assert_eq!(fallback.output, ["stale row"]);

    assert_eq!(
        EXECUTED.load(Ordering::Relaxed),
        2,
        "the cache hit never reached the database"
    );
    assert_eq!(
        *lock(&timings),
        [
            "SELECT name FROM users",
            "SELECT count(*) FROM users",
            "SELECT * FROM flaky"
        ],
        "the outermost wrapper saw every call"
    );

    println!("4. the same cache wrapper on a hook that requires `next`");
    let strict: AroundHook<Query, Rows> = AroundHook::new("db.query.strict").require_next();
    strict.tap(
        "cache",
        move |q: &mut Query, next: Next<'_, Query, Rows>| {
            let cache = cache.clone();
            Box::pin(async move {
                match cache.get(q.sql) {
                    Some(rows) => Ok(rows.clone()),
                    None => Ok(next.run(q).await?),
                }
            })
        },
    )?;
    let refused = strict
        .call(&mut count, execute)
        .await
        .err()
        .ok_or("a wrapper that skips `next` must fail on a require_next hook")?;
    println!("   error: {refused}");
    assert!(matches!(refused.kind(), ErrorKind::NextNotCalled));
    assert_eq!(refused.tap().map(|t| t.name()), Some("cache"));

    println!("5. parallel fan-out: three notifications at once");
    let notify: ParallelHook<OrderPlaced> = ParallelHook::new("order.placed");
    let finished: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    for (channel, delay_ms) in [("email", 30), ("sms", 10), ("webhook", 20)] {
        let finished = finished.clone();
        notify.tap_async(channel, move |order: &OrderPlaced| {
            let finished = finished.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                println!("   {channel}: order {} sent after {delay_ms} ms", order.id);
                lock(&finished).push(channel);
                Ok(Flow::Continue)
            })
        })?;
    }
    let started = Instant::now();
    notify.call(&OrderPlaced { id: 1001 }).await?;
    println!(
        "   all three done in {:?}, not 60 ms one after another",
        started.elapsed()
    );
    // Registered email, sms, webhook; finished in the order of their delays.
    assert_eq!(*lock(&finished), ["sms", "webhook", "email"]);

    println!("6. one parallel tap fails: the others still run to the end");
    notify.tap("crm", |_: &OrderPlaced| {
        Err(io::Error::other("CRM is read-only today").into())
    })?;
    let failed = notify
        .call(&OrderPlaced { id: 1002 })
        .await
        .err()
        .ok_or("the crm tap must fail the call")?;
    println!("   error: {failed}");
    assert_eq!(failed.tap().map(|t| t.name()), Some("crm"));
    assert_eq!(lock(&finished).len(), 6, "email, sms and webhook ran again");
    Ok(())
}
