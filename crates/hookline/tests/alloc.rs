//! Allocation budget of the dispatch hot paths: calling sync taps never allocates, and an async
//! tap costs exactly the one box its future lives in.
//!
//! A counting global allocator counts the allocations made by the current thread only: the tests
//! of this binary run on several threads at once, and a process-wide count would see the others'
//! work. Every hook is called once before it is measured, so that first-call work (the thread's
//! snapshot slot, lazily registered tracing callsites) is not counted as dispatch cost.
//!
//! The tests hold one lock while they run: registering a tap on any hook makes every thread
//! reload its cached tap lists on its next call (see `Hook::remove`), and that reload allocates,
//! so one test's set-up must not land between another's warm-up and its measurement.

// `GlobalAlloc` is an unsafe trait, so counting allocations needs an `unsafe impl`. It is allowed
// in this test file only; the impl forwards every call unchanged to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};

use futures_util::FutureExt;
use hookline::{
    After, AfterFailures, AfterRuns, Before, Flow, Hook, Origin, Pipeline, Share, SyncHook,
    TapError,
};

thread_local! {
    /// Allocations made by this thread so far.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations per thread.
struct Counting;

fn count() {
    // `try_with`: allocations made while the thread's locals are being torn down go uncounted
    // instead of panicking inside the allocator.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to `System`, so `System`'s guarantees
// are this allocator's. Counting touches only a const-initialized thread-local `Cell`, which
// never allocates and has no destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serializes the tests of this file (see the file's documentation).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` and returns its output with the number of allocations it made on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let output = f();
    (output, ALLOCATIONS.with(Cell::get) - before)
}

/// What the taps under test update: a running sum and the order they ran in.
#[derive(Debug, Default, PartialEq)]
struct Ctx {
    sum: u64,
    order: u64,
}

/// Tap `k`'s work: adds `k` and records its position (a base-16 digit per tap).
fn visit(ctx: &mut Ctx, k: u64) {
    ctx.sum += k;
    ctx.order = ctx.order * 16 + k;
}

/// The context ten taps `0..10` leave behind, run in order.
fn after_ten() -> Ctx {
    let mut ctx = Ctx::default();
    (0..10).for_each(|k| visit(&mut ctx, k));
    ctx
}

#[test]
fn the_counter_sees_allocations_on_this_thread() {
    let _serial = serial();
    let (boxed, count) = allocations(|| Box::new(7_u64));
    assert_eq!((*boxed, count), (7, 1));
    let (_, count) = allocations(|| std::thread::spawn(|| vec![1_u8; 64]).join());
    assert!(count >= 1, "spawning a thread allocates on this thread");
}

#[test]
fn sync_hook_call_with_ten_taps_does_not_allocate() {
    let _serial = serial();
    let hook: SyncHook<Ctx> = SyncHook::new("alloc.sync");
    for k in 0..10 {
        hook.tap(format!("t{k}"), move |ctx: &mut Ctx| {
            visit(ctx, k);
            Ok(Flow::Continue)
        })
        .unwrap();
    }
    hook.call(&mut Ctx::default()).unwrap();

    let mut ctx = Ctx::default();
    let (flow, count) = allocations(|| hook.call(&mut ctx));
    assert_eq!(flow.unwrap(), Flow::Continue);
    assert_eq!(ctx, after_ten());
    assert_eq!(count, 0, "SyncHook::call allocated");
}

#[test]
fn sync_hook_short_circuit_does_not_allocate() {
    let _serial = serial();
    let hook: SyncHook<Ctx, u64> = SyncHook::new("alloc.sync.bail");
    for k in 0..10 {
        hook.tap(format!("t{k}"), move |ctx: &mut Ctx| {
            visit(ctx, k);
            Ok(if k == 4 {
                Flow::Return(ctx.sum)
            } else {
                Flow::Continue
            })
        })
        .unwrap();
    }
    hook.call(&mut Ctx::default()).unwrap();

    let mut ctx = Ctx::default();
    let (value, count) = allocations(|| hook.bail(&mut ctx));
    assert_eq!(value.unwrap(), Some(10));
    assert_eq!(ctx.order, 0x01234, "taps after the short-circuit ran");
    assert_eq!(count, 0, "SyncHook::bail allocated");
}

#[test]
fn hook_call_with_ten_sync_taps_does_not_allocate() {
    let _serial = serial();
    let hook: Hook<Ctx> = Hook::new("alloc.hook");
    for k in 0..10 {
        hook.tap(format!("t{k}"), move |ctx: &mut Ctx| {
            visit(ctx, k);
            Ok(Flow::Continue)
        })
        .unwrap();
    }
    hook.call(&mut Ctx::default())
        .now_or_never()
        .unwrap()
        .unwrap();

    let mut ctx = Ctx::default();
    let (flow, count) = allocations(|| hook.call(&mut ctx).now_or_never());
    assert_eq!(
        flow.expect("sync taps complete at once").unwrap(),
        Flow::Continue
    );
    assert_eq!(ctx, after_ten());
    assert_eq!(count, 0, "Hook::call with sync taps allocated");
}

#[test]
fn hook_call_allocates_once_per_async_tap_and_never_for_sync_ones() {
    let _serial = serial();
    let hook: Hook<Ctx> = Hook::new("alloc.hook.mixed");
    for k in 0..10 {
        let name = format!("t{k}");
        if k % 3 == 0 {
            hook.tap_async(name, move |ctx: &mut Ctx| {
                Box::pin(async move {
                    visit(ctx, k);
                    Ok(Flow::Continue)
                })
            })
            .unwrap();
        } else {
            hook.tap(name, move |ctx: &mut Ctx| {
                visit(ctx, k);
                Ok(Flow::Continue)
            })
            .unwrap();
        }
    }
    hook.call(&mut Ctx::default())
        .now_or_never()
        .unwrap()
        .unwrap();

    let mut ctx = Ctx::default();
    let (flow, count) = allocations(|| hook.call(&mut ctx).now_or_never());
    assert_eq!(flow.expect("no tap waits").unwrap(), Flow::Continue);
    assert_eq!(ctx, after_ten());
    assert_eq!(count, 4, "one boxed future for each of taps 0, 3, 6 and 9");
}

#[test]
fn pipeline_run_with_sync_taps_and_a_plain_handler_does_not_allocate() {
    let _serial = serial();
    let pipeline: Pipeline<Ctx, u64> = Pipeline::new("alloc.pipeline")
        .after_runs(AfterRuns::Always)
        .after_failures(AfterFailures::Isolate);
    for k in 0..5 {
        pipeline
            .before()
            .tap(format!("b{k}"), move |ctx: &mut Before<Ctx>| {
                visit(&mut ctx.input, k);
                Ok(Flow::Continue)
            })
            .unwrap();
    }
    for k in 5..10 {
        pipeline
            .after()
            .tap(format!("a{k}"), move |ctx: &mut After<Ctx, u64>| {
                let output = ctx.output_mut().expect("the handler succeeded");
                *output = *output * 16 + k;
                Ok(Flow::Continue)
            })
            .unwrap();
    }
    let handler = async |ctx: &mut Ctx, _: &Share| -> Result<u64, TapError> { Ok(ctx.order) };
    let warm_up = pipeline.run(Ctx::default(), handler).now_or_never();
    assert_eq!(warm_up.unwrap().unwrap().output, 0x0123456789);

    let (outcome, count) = allocations(|| pipeline.run(Ctx::default(), handler).now_or_never());
    let outcome = outcome.expect("nothing waits").unwrap();
    assert_eq!(outcome.output, 0x0123456789);
    assert_eq!(outcome.origin, Origin::Handler);
    assert!(outcome.isolated.is_empty());
    assert_eq!(count, 0, "Pipeline::run allocated");
}
