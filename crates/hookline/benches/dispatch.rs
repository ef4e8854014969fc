//! Dispatch cost of the engine's hook kinds against hand-written and tower baselines.
//!
//! Every variant runs the same hook body, [`work`], once per tap (or layer) over a [`Ctx`], for
//! N ∈ {0, 1, 5, 10, 50} taps, in the same process and run:
//!
//! - `direct`: a hand-written chain of calls, the physical limit;
//! - `dyn_vec`: a `Vec<Box<dyn Fn>>` loop over taps returning [`TapResult`], the obvious engine
//!   without ordering, spans or panic capture (the floor for dynamic dispatch);
//! - `dyn_vec_async`: the same loop over taps returning a boxed future, awaited in turn (the
//!   floor for taps that box their future);
//! - `sync_hook`: [`SyncHook::call`] with N sync taps;
//! - `hook_sync_taps`: [`Hook::call`] with N sync taps (the async dispatcher's sync fast path);
//! - `hook_async_taps`: [`Hook::call`] with N `tap_async` taps, each boxing its future;
//! - `pipeline`: [`Pipeline::run`] with N sync before-taps and a handler that reads the context;
//! - `tower_static`: a monomorphized `ServiceBuilder` stack of N `map_request` layers;
//! - `tower_boxed`: N `map_request` layers, each type-erased into a `BoxCloneService`.
//!
//! Futures are polled once, in place, with a no-op waker (`poll_once!`): nothing here waits, so
//! no runtime is involved, and no future is moved after it is built, as with `.await` inside
//! another future.
//! divan's `AllocProfiler` reports the allocations per dispatch next to the timings.
//!
//! Run with `cargo bench -p hookline --bench dispatch`; the results and the targets they are
//! checked against are in `BENCHMARKS.md` at the workspace root.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use divan::{AllocProfiler, Bencher, black_box};
use futures_util::future::BoxFuture;
use hookline::{
    Before, Flow, Hook, Pipeline, RegisterError, Share, SyncHook, TapError, TapHandle, TapResult,
};
use tower::util::{BoxCloneService, MapRequestLayer, ServiceExt, service_fn};
use tower::{Layer, Service, ServiceBuilder};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// The tap counts every variant is measured at.
const NS: &[usize] = &[0, 1, 5, 10, 50];

fn main() {
    divan::main();
}

/// Polls a future once, in place, with a no-op waker, and returns its output. Every future in
/// these benchmarks completes on its first poll.
macro_rules! poll_once {
    ($future:expr) => {{
        let mut future = pin!($future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => unreachable!("nothing in these benchmarks waits"),
        }
    }};
}

/// The context every tap updates.
#[derive(Clone, Copy)]
struct Ctx {
    acc: u64,
}

/// A fresh context the optimizer cannot see through.
fn ctx() -> Ctx {
    black_box(Ctx { acc: 1 })
}

/// The hook body: a tiny update that depends on the previous value, never inlined, so every
/// variant pays one real call per tap and nothing can be folded away.
#[inline(never)]
fn work(ctx: &mut Ctx, k: u64) {
    ctx.acc = ctx.acc.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k);
}

/// Benchmarks `dispatch` after one untimed call, so that first-call work (the thread's snapshot
/// slot, tracing callsite registration) is not mistaken for dispatch cost.
fn bench<T>(bencher: Bencher, mut dispatch: impl FnMut() -> T) {
    black_box(dispatch());
    bencher.bench_local(dispatch);
}

/// Registers taps `t0..t{n-1}` through `tap`, which is given each tap's name and `k`. The taps
/// stay for the whole benchmark, so their handles are not kept.
fn tap_each(n: usize, mut tap: impl FnMut(String, u64) -> Result<TapHandle, RegisterError>) {
    for k in 0..n as u64 {
        let _ = tap(format!("t{k}"), k).expect("distinct tap names register");
    }
}

/// The physical limit: N direct calls, no indirection.
#[divan::bench(consts = [0, 1, 5, 10, 50], sample_count = 1000)]
fn direct<const N: usize>() -> u64 {
    let mut c = ctx();
    for k in 0..N as u64 {
        work(&mut c, k);
    }
    c.acc
}

/// A boxed tap of the `dyn_vec` baseline.
type DynTap = Box<dyn Fn(&mut Ctx) -> TapResult + Send + Sync>;

/// The naive engine: a `Vec<Box<dyn Fn>>` loop that stops at the first short-circuit or error.
#[divan::bench(args = NS, sample_count = 1000)]
fn dyn_vec(bencher: Bencher, n: usize) {
    let taps: Vec<DynTap> = (0..n as u64)
        .map(|k| -> DynTap {
            Box::new(move |c: &mut Ctx| {
                work(c, k);
                Ok(Flow::Continue)
            })
        })
        .collect();
    bench(bencher, || {
        let mut c = ctx();
        for tap in &taps {
            match tap(&mut c) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Return(())) | Err(_) => break,
            }
        }
        c.acc
    });
}

/// A boxed tap of the `dyn_vec_async` baseline.
type DynAsyncTap = Box<dyn for<'a> Fn(&'a mut Ctx) -> BoxFuture<'a, TapResult> + Send + Sync>;

/// The naive async engine: the `dyn_vec` loop over taps that each box a future, awaited in turn.
#[divan::bench(args = NS, sample_count = 1000)]
fn dyn_vec_async(bencher: Bencher, n: usize) {
    let taps: Vec<DynAsyncTap> = (0..n as u64)
        .map(|k| -> DynAsyncTap {
            Box::new(move |c: &mut Ctx| {
                Box::pin(async move {
                    work(c, k);
                    Ok(Flow::Continue)
                })
            })
        })
        .collect();
    bench(bencher, || {
        let mut c = ctx();
        poll_once!(async {
            for tap in &taps {
                match tap(&mut c).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Return(())) | Err(_) => break,
                }
            }
        });
        c.acc
    });
}

/// [`SyncHook::call`] with N sync taps.
#[divan::bench(args = NS, sample_count = 1000)]
fn sync_hook(bencher: Bencher, n: usize) {
    let hook: SyncHook<Ctx> = SyncHook::new("bench.sync");
    tap_each(n, |name, k| {
        hook.tap(name, move |c: &mut Ctx| {
            work(c, k);
            Ok(Flow::Continue)
        })
    });
    bench(bencher, || {
        let mut c = ctx();
        hook.call(&mut c).expect("taps continue");
        c.acc
    });
}

/// [`Hook::call`] with N sync taps, polled once.
#[divan::bench(args = NS, sample_count = 1000)]
fn hook_sync_taps(bencher: Bencher, n: usize) {
    let hook: Hook<Ctx> = Hook::new("bench.hook.sync");
    tap_each(n, |name, k| {
        hook.tap(name, move |c: &mut Ctx| {
            work(c, k);
            Ok(Flow::Continue)
        })
    });
    bench(bencher, || {
        let mut c = ctx();
        poll_once!(hook.call(&mut c)).expect("taps continue");
        c.acc
    });
}

/// [`Hook::call`] with N async taps (one boxed future each), polled once.
#[divan::bench(args = NS, sample_count = 1000)]
fn hook_async_taps(bencher: Bencher, n: usize) {
    let hook: Hook<Ctx> = Hook::new("bench.hook.async");
    tap_each(n, |name, k| {
        hook.tap_async(name, move |c: &mut Ctx| {
            Box::pin(async move {
                work(c, k);
                Ok(Flow::Continue)
            })
        })
    });
    bench(bencher, || {
        let mut c = ctx();
        poll_once!(hook.call(&mut c)).expect("taps continue");
        c.acc
    });
}

/// [`Pipeline::run`] with N sync before-taps and no after-taps, polled once.
#[divan::bench(args = NS, sample_count = 1000)]
fn pipeline(bencher: Bencher, n: usize) {
    let pipeline: Pipeline<Ctx, u64> = Pipeline::new("bench.pipeline");
    tap_each(n, |name, k| {
        pipeline.before().tap(name, move |b: &mut Before<Ctx>| {
            work(&mut b.input, k);
            Ok(Flow::Continue)
        })
    });
    bench(bencher, || {
        let run = pipeline.run(
            ctx(),
            async |c: &mut Ctx, _: &Share| -> Result<u64, TapError> { Ok(c.acc) },
        );
        poll_once!(run).expect("taps continue").output
    });
}

/// The innermost service of both tower stacks: hands the context back.
fn terminal(c: Ctx) -> Ready<Result<Ctx, Infallible>> {
    ready(Ok(c))
}

/// Calls a tower service the way a server does (`ready`, then `call`), polled once.
fn dispatch<S>(svc: &mut S) -> u64
where
    S: Service<Ctx, Response = Ctx, Error = Infallible>,
{
    let ready = poll_once!(svc.ready()).expect("infallible");
    poll_once!(ready.call(ctx())).expect("infallible").acc
}

/// A `ServiceBuilder` with one `map_request(work(.., k))` layer per listed `k`, outermost first.
macro_rules! static_stack {
    ($builder:expr;) => { $builder };
    ($builder:expr; $k:literal $($rest:literal)*) => {
        static_stack!(
            $builder.map_request(|mut c: Ctx| {
                work(&mut c, $k);
                c
            });
            $($rest)*
        )
    };
}

/// Benchmarks a static stack built from `static_stack!`.
fn bench_static<S>(bencher: Bencher, mut svc: S)
where
    S: Service<Ctx, Response = Ctx, Error = Infallible>,
{
    bench(bencher, || dispatch(&mut svc));
}

/// A monomorphized tower stack of N `map_request` layers: the zero-cost middleware reference.
#[divan::bench(consts = [0, 1, 5, 10, 50], sample_count = 1000)]
fn tower_static<const N: usize>(bencher: Bencher) {
    let terminal = service_fn(terminal);
    match N {
        0 => bench_static(
            bencher,
            static_stack!(ServiceBuilder::new();).service(terminal),
        ),
        1 => bench_static(
            bencher,
            static_stack!(ServiceBuilder::new(); 0).service(terminal),
        ),
        5 => bench_static(
            bencher,
            static_stack!(ServiceBuilder::new(); 0 1 2 3 4).service(terminal),
        ),
        10 => bench_static(
            bencher,
            static_stack!(ServiceBuilder::new(); 0 1 2 3 4 5 6 7 8 9).service(terminal),
        ),
        50 => bench_static(
            bencher,
            static_stack!(ServiceBuilder::new();
                0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24
                25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49)
            .service(terminal),
        ),
        _ => unreachable!("tower_static is instantiated only for the counts in NS"),
    }
}

/// A tower stack of N `map_request` layers, each erased into a `BoxCloneService` (the way axum
/// erases routes and layers): one boxed future per layer and per call.
#[divan::bench(args = NS, sample_count = 1000)]
fn tower_boxed(bencher: Bencher, n: usize) {
    let mut svc: BoxCloneService<Ctx, Ctx, Infallible> = BoxCloneService::new(service_fn(terminal));
    for k in (0..n as u64).rev() {
        let layer = MapRequestLayer::new(move |mut c: Ctx| {
            work(&mut c, k);
            c
        });
        svc = BoxCloneService::new(layer.layer(svc));
    }
    bench(bencher, || dispatch(&mut svc));
}
