//! The concurrency rules under real concurrent tasks on a multi-thread runtime: one shared run
//! per key, superseding plain runs, clears that discard runs in flight, and keys that never
//! stay stuck.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Gated, contexts, payload, record_post_actions};
use futures_util::future::join_all;
use hookline_actions::{ActionError, AsyncAction, PostActionContext, RunOptions};
use tokio::sync::watch;

const BECKONS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_beckons_of_one_key_run_the_action_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, gate) = watch::channel(false);
    let counter = runs.clone();
    let action = AsyncAction::new("popular", move |tag: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut gate = gate.clone();
        async move {
            gate.wait_for(|open| *open).await.map_err(|_| ())?;
            Ok::<_, ()>(format!("pictures of {tag}"))
        }
    });
    let post_actions = Arc::new(AtomicUsize::new(0));
    let fired = post_actions.clone();
    action
        .post_action()
        .tap("count", move |_| {
            fired.fetch_add(1, Ordering::SeqCst);
            Ok(hookline::Flow::Continue)
        })
        .unwrap();

    let beckons = (0..BECKONS).map(|_| {
        let action = action.clone();
        tokio::spawn(async move { action.beckon("cats".into()).await })
    });
    let mut watchers: Vec<_> = join_all(beckons)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    release.send_replace(true);
    let results = join_all(watchers.iter_mut().map(|w| w.finished())).await;
    let first = results[0].as_ref().unwrap();
    assert!(
        results
            .iter()
            .all(|r| Arc::ptr_eq(r.as_ref().unwrap(), first))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        post_actions.load(Ordering::SeqCst),
        1,
        "one BeckonRun, no hit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_beckons_of_a_fast_action_run_it_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let action = AsyncAction::new("fast", move |n: u32| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, ()>(n) }
    });
    let beckons = (0..BECKONS).map(|_| {
        let action = action.clone();
        tokio::spawn(async move { action.beckon(7).await.finished().await })
    });
    for result in join_all(beckons).await {
        assert_eq!(*result.unwrap().unwrap(), 7);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_that_all_found_the_key_idle_still_start_one_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let action = AsyncAction::new("slow-check", move |n: u32| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, ()>(n) }
    });
    // Every caller finds the key idle, then waits in this tap until all callers are there,
    // so that all of them decide whether to start at the same time.
    const CALLERS: usize = 1_000;
    let (entered, all_in) = watch::channel(0usize);
    let entered = Arc::new(entered);
    action
        .short_circuit()
        .tap_async("barrier", move |_| {
            let entered = entered.clone();
            let mut all_in = all_in.clone();
            Box::pin(async move {
                entered.send_modify(|n| *n += 1);
                all_in.wait_for(|n| *n == CALLERS).await?;
                Ok(hookline::Flow::Continue)
            })
        })
        .unwrap();
    let calls = (0..CALLERS).map(|i| {
        let action = action.clone();
        tokio::spawn(async move {
            if i % 2 == 0 {
                action.beckon(1).await.finished().await
            } else {
                action.read(1).await
            }
        })
    });
    for result in join_all(calls).await {
        assert_eq!(*result.unwrap().unwrap(), 1);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beckon_watch_read_and_respect_cache_runs_share_one_run_in_flight() {
    let gated = Gated::default();
    let action = gated.action("shared");
    let seen = record_post_actions(&action);

    let mut beckoned = action.beckon("a".into()).await;
    gated.started(1).await;
    let reads: Vec<_> = (0..50)
        .map(|_| {
            let action = action.clone();
            tokio::spawn(async move { action.read("a".into()).await })
        })
        .collect();
    let runs: Vec<_> = (0..50)
        .map(|_| {
            let action = action.clone();
            tokio::spawn(async move {
                action
                    .run_with("a".into(), RunOptions::new().respect_cache())
                    .await
            })
        })
        .collect();
    let mut watched = action.watch("a".into()).await;
    assert!(watched.state().started && !watched.state().finished);
    while action.observers(&"a".into()) < 102 {
        tokio::task::yield_now().await;
    }

    gated.finish(1, Ok("shared result".into()));
    let shared = beckoned.finished().await.unwrap();
    for task in reads.into_iter().chain(runs) {
        let result = task.await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&result, &shared));
    }
    assert!(Arc::ptr_eq(&watched.finished().await.unwrap(), &shared));
    assert_eq!(gated.count(), 1);
    assert_eq!(contexts(&seen), [PostActionContext::BeckonRun]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_run_supersedes_older_runs_whose_callers_still_get_their_own_result() {
    let gated = Gated::default();
    let action = gated.action("search");
    let seen = record_post_actions(&action);

    let older = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(1).await;
    let waiter = tokio::spawn({
        let action = action.clone();
        async move {
            action
                .run_with("a".into(), RunOptions::new().respect_cache())
                .await
        }
    });
    while action.observers(&"a".into()) == 0 {
        tokio::task::yield_now().await;
    }
    let newer = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(2).await;

    gated.finish(1, Ok("older".into()));
    assert_eq!(payload(&older.await.unwrap()), "older");
    let state = action.get_cached(&"a".into());
    assert!(
        state.started && !state.finished,
        "the older result is not cached"
    );
    assert!(contexts(&seen).is_empty(), "and fires no hook");

    gated.finish(2, Ok("newer".into()));
    assert_eq!(payload(&newer.await.unwrap()), "newer");
    assert_eq!(payload(&waiter.await.unwrap()), "newer");
    assert_eq!(
        action.get_cached(&"a".into()).payload().map(|p| p.as_str()),
        Some("newer")
    );
    assert_eq!(
        seen.lock().unwrap()[..],
        [(
            PostActionContext::DirectRun,
            "a".to_string(),
            Ok("newer".to_string())
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_newest_run_wins_even_when_it_finishes_first() {
    let gated = Gated::default();
    let action = gated.action("search");
    let older = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(1).await;
    let newer = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(2).await;
    gated.finish(2, Ok("newer".into()));
    newer.await.unwrap().unwrap();
    gated.finish(1, Ok("older".into()));
    assert_eq!(payload(&older.await.unwrap()), "older");
    assert_eq!(
        action.get_cached(&"a".into()).payload().map(|p| p.as_str()),
        Some("newer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_cache_discards_the_result_in_flight_and_frees_the_key_at_once() {
    let gated = Gated::default();
    let action = gated.action("search");
    let seen = record_post_actions(&action);

    let discarded = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(1).await;
    let waiting_read = tokio::spawn({
        let action = action.clone();
        async move { action.read("a".into()).await }
    });
    while action.observers(&"a".into()) == 0 {
        tokio::task::yield_now().await;
    }
    let mut watcher = action.watch("a".into()).await;

    // The waiting read sees the key cleared and starts it again at once: the key is free.
    action.clear_cache(&"a".into());
    let mut beckoned = action.beckon("a".into()).await;
    gated.started(2).await;

    gated.finish(1, Ok("discarded".into()));
    assert_eq!(payload(&discarded.await.unwrap()), "discarded");
    assert!(!action.get_cached(&"a".into()).finished);

    gated.finish(2, Ok("fresh".into()));
    assert_eq!(payload(&beckoned.finished().await), "fresh");
    assert_eq!(payload(&waiting_read.await.unwrap()), "fresh");
    assert_eq!(payload(&watcher.finished().await), "fresh");
    assert_eq!(
        gated.count(),
        2,
        "the read and the beckon shared the new run"
    );
    // One run fired its hook; the read, if it looked again only after that run finished, hit
    // the cache. The discarded result never reached the hook.
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|(_, _, out)| out.as_deref() == Ok("fresh")),
        "{seen:?}"
    );
    assert_eq!(seen.iter().filter(|(c, _, _)| !c.is_cache_hit()).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_action_yields_a_cached_error_and_the_key_can_run_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let action = AsyncAction::new("fragile", move |n: u32| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if call == 0 {
                panic!("decoder crashed on {n}");
            }
            Ok::<_, String>(n)
        }
    });
    let mut watcher = action.beckon(1).await;
    let reader = tokio::spawn({
        let action = action.clone();
        async move { action.read(1).await }
    });
    let error = watcher.finished().await.unwrap_err();
    assert!(matches!(&error, ActionError::Panicked(m) if &**m == "decoder crashed on 1"));
    assert!(reader.await.unwrap().unwrap_err().is_panic());
    assert!(action.get_cached(&1).finished, "the error result is cached");

    assert_eq!(*action.run(1).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_action_yields_a_cached_error_that_a_break_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let action = AsyncAction::new("flaky", move |n: u32| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if call == 0 {
                Err(format!("timeout fetching {n}"))
            } else {
                Ok(n)
            }
        }
    });
    let error = action.read(5).await.unwrap_err();
    assert_eq!(
        error.failure().map(String::as_str),
        Some("timeout fetching 5")
    );
    let again = action.read(5).await.unwrap_err();
    assert!(matches!(again, ActionError::Failed(_)), "cached");
    let retried = action
        .run_with(
            5,
            RunOptions::new()
                .respect_cache()
                .cache_break(std::time::Duration::from_secs(3600)),
        )
        .await;
    assert_eq!(*retried.unwrap(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_stops_waiting_does_not_cancel_the_shared_run() {
    let gated = Gated::default();
    let action = gated.action("search");
    let impatient = tokio::spawn({
        let action = action.clone();
        async move { action.read("a".into()).await }
    });
    gated.started(1).await;
    impatient.abort();
    assert!(impatient.await.unwrap_err().is_cancelled());

    let patient = tokio::spawn({
        let action = action.clone();
        async move { action.read("a".into()).await }
    });
    gated.finish(1, Ok("done".into()));
    assert_eq!(payload(&patient.await.unwrap()), "done");
    assert_eq!(gated.count(), 1);
}

#[test]
fn a_run_dropped_with_its_runtime_leaves_the_key_idle() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let action = AsyncAction::new("stuck", move |n: u32| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if call == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, ()>(n)
        }
    });
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let watcher = first.block_on(async {
        let watcher = action.beckon(1).await;
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        watcher
    });
    assert!(watcher.state().started);
    drop(first);
    assert!(!action.get_cached(&1).started, "the key is idle again");

    let second = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(*second.block_on(action.read(1)).unwrap(), 1);
}
