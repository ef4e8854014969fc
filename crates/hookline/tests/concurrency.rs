//! Registration and removal while calls run: calls read an immutable snapshot, so a running call
//! finishes with the taps it started with and never sees a half-changed list.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use hookline::{Flow, Hook, SyncHook, Tap};
use tokio::sync::oneshot;

#[tokio::test]
async fn a_running_call_keeps_its_snapshot_while_a_tap_is_removed() {
    let hook: Hook<Vec<&'static str>> = Hook::new("h");
    let (release, wait) = oneshot::channel::<()>();
    let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    hook.tap_async("gate", move |v| {
        let wait = wait.clone();
        let started = started_tx.clone();
        Box::pin(async move {
            v.push("gate");
            if let Some(started) = started.lock().unwrap().take() {
                started.send(()).unwrap();
            }
            let gate = wait.lock().await.take();
            if let Some(gate) = gate {
                gate.await.unwrap();
            }
            Ok(Flow::Continue)
        })
    })
    .unwrap();
    let removed = hook
        .tap("removed-meanwhile", |v: &mut Vec<&'static str>| {
            v.push("removed-meanwhile");
            Ok(Flow::Continue)
        })
        .unwrap();

    let running = tokio::spawn({
        let hook = hook.clone();
        async move { hook.waterfall(Vec::new()).await }
    });
    started_rx.await.unwrap();
    hook.remove(removed).unwrap();
    assert_eq!(hook.waterfall(Vec::new()).await.unwrap(), ["gate"]);
    release.send(()).unwrap();
    assert_eq!(
        running.await.unwrap().unwrap(),
        ["gate", "removed-meanwhile"],
        "the call that was running kept the list it started with"
    );
}

#[test]
fn calls_on_many_threads_see_whole_snapshots_while_taps_come_and_go() {
    // Tap `k` pushes k; taps are always registered in increasing k with `last()` and removed
    // whole, so every snapshot is an increasing sequence starting at the base tap 0.
    let hook: SyncHook<Vec<u32>> = SyncHook::new("busy");
    hook.tap("base", |v: &mut Vec<u32>| {
        v.push(0);
        Ok(Flow::Continue)
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let hook = hook.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) || calls < 1000 {
                    let seen = hook.waterfall(Vec::new()).unwrap();
                    assert_eq!(seen[0], 0);
                    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for round in 0..300u32 {
        let handles: Vec<_> = (1..=3)
            .map(|k| {
                let value = round * 10 + k;
                hook.tap(Tap::named(format!("t{k}")), move |v: &mut Vec<u32>| {
                    v.push(value);
                    Ok(Flow::Continue)
                })
                .unwrap()
            })
            .collect();
        for handle in handles.into_iter().rev() {
            hook.remove(handle).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        assert!(caller.join().expect("no caller panicked") >= 1000);
    }
    assert_eq!(hook.waterfall(Vec::new()).unwrap(), [0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_from_many_tasks_keeps_every_tap_exactly_once() {
    let hook: Hook<Vec<usize>> = Hook::new("many");
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let hook = hook.clone();
            tokio::spawn(async move {
                hook.tap(Tap::named(format!("t{i}")), move |v: &mut Vec<usize>| {
                    v.push(i);
                    Ok(Flow::Continue)
                })
                .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut seen = hook.waterfall(Vec::new()).await.unwrap();
    seen.sort();
    assert_eq!(seen, (0..64).collect::<Vec<_>>());
}

#[test]
fn a_removed_taps_closure_is_dropped_once_the_thread_calls_a_hook_again() {
    let hook: SyncHook<u32> = SyncHook::new("drops");
    let other: SyncHook<u32> = SyncHook::new("other");
    let captured = Arc::new(());
    let held = captured.clone();
    let handle = hook
        .tap("holds", move |n: &mut u32| {
            let _ = &held;
            *n += 1;
            Ok(Flow::Continue)
        })
        .unwrap();
    let mut n = 0;
    hook.call(&mut n).unwrap();
    assert_eq!(n, 1);
    assert_eq!(Arc::strong_count(&captured), 2);

    hook.remove(handle).unwrap();
    // Any hook call on this thread refreshes the thread's cached tap lists.
    other.call(&mut n).unwrap();
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "the removed tap's closure was dropped"
    );
    hook.call(&mut n).unwrap();
    assert_eq!(n, 1, "the removed tap no longer runs");
}

#[test]
fn a_tap_registered_on_one_thread_runs_in_the_next_call_on_another() {
    let hook: SyncHook<Vec<u32>> = SyncHook::new("seen");
    hook.tap("zero", |v: &mut Vec<u32>| {
        v.push(0);
        Ok(Flow::Continue)
    })
    .unwrap();
    let (registered_tx, registered_rx) = std::sync::mpsc::channel::<()>();
    let (called_tx, called_rx) = std::sync::mpsc::channel::<()>();
    let caller = thread::spawn({
        let hook = hook.clone();
        move || {
            // Cache the one-tap list on this thread, then wait for the registration.
            let first = hook.waterfall(Vec::new()).unwrap();
            called_tx.send(()).unwrap();
            registered_rx.recv().unwrap();
            (first, hook.waterfall(Vec::new()).unwrap())
        }
    });
    called_rx.recv().unwrap();
    hook.tap("one", |v: &mut Vec<u32>| {
        v.push(1);
        Ok(Flow::Continue)
    })
    .unwrap();
    registered_tx.send(()).unwrap();
    let (first, second) = caller.join().unwrap();
    assert_eq!(first, [0]);
    assert_eq!(
        second,
        [0, 1],
        "the other thread's cached list was refreshed"
    );
}

#[test]
fn a_tap_that_registers_and_removes_taps_of_its_own_hook_mid_call_is_safe() {
    // Registration inside a call empties the calling thread's snapshot cache while the call
    // still runs on the old list; the call must finish on the list it started with.
    let hook: SyncHook<Vec<u32>> = SyncHook::new("self-changing");
    let inner = hook.clone();
    hook.tap("adds", move |v: &mut Vec<u32>| {
        v.push(1);
        let added = inner
            .tap(
                Tap::named(format!("added-{}", v.len())),
                |v: &mut Vec<u32>| {
                    v.push(2);
                    Ok(Flow::Continue)
                },
            )
            .unwrap();
        inner.remove(added).unwrap();
        Ok(Flow::Continue)
    })
    .unwrap();
    hook.tap("last", |v: &mut Vec<u32>| {
        v.push(3);
        Ok(Flow::Continue)
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(hook.waterfall(Vec::new()).unwrap(), [1, 3]);
    }
}
