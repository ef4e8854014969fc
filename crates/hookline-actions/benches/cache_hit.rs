//! The cost of a cache hit and of a cached entry, against a bare moka cache.
//!
//! - `hit`: `run_with(args, respect_cache)` that hits the cache and fires one synchronous
//!   post-action tap, against `moka::future::Cache::get` of the same key with the same payload
//!   type (`Arc<Payload>`), for a `u64` key and a `String` key (`run` takes its arguments by
//!   value, so the `String` case includes the clone a caller makes).
//! - `memory`: 10 000 `set_cached` calls on a fresh action, against 10 000 moka inserts. The
//!   returned cache is dropped outside the measurement, so allocated minus freed bytes divided
//!   by 10 000 is the memory each entry holds.
//!
//! Before divan's table, `main` times both hit paths in the same process and prints the ratio.
//!
//! Run with `cargo bench -p hookline-actions --bench cache_hit`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use divan::{AllocProfiler, Bencher};
use futures_util::FutureExt;
use hookline::Flow;
use hookline_actions::{AsyncAction, RunOptions};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// A small payload: 32 bytes.
#[derive(Clone)]
struct Payload([u64; 4]);

const ENTRIES: usize = 10_000;

fn action<A>(name: &'static str) -> AsyncAction<A, Payload, ()>
where
    A: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    AsyncAction::new(name, |_: A| async { Ok(Payload([1, 2, 3, 4])) })
}

/// An action with one cached key and one post-action tap.
fn hit_fixture<A>(key: A) -> AsyncAction<A, Payload, ()>
where
    A: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let action = action("bench");
    action
        .post_action()
        .tap("observe", |ctx| {
            black_box(ctx.result().as_ref().map(|p| p.0[0]).ok());
            Ok(Flow::Continue)
        })
        .expect("a fresh hook accepts its first tap");
    action.set_cached(&key, Ok(Payload([1, 2, 3, 4])));
    action
}

/// A moka cache holding one key.
fn moka_fixture<K>(key: K) -> moka::future::Cache<K, Arc<Payload>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    let cache = moka::future::Cache::new(ENTRIES as u64 * 2);
    cache
        .insert(key, Arc::new(Payload([1, 2, 3, 4])))
        .now_or_never()
        .expect("a moka insert completes without waiting");
    cache
}

fn respect() -> RunOptions<u64, Payload, ()> {
    RunOptions::new().respect_cache()
}

fn hit_u64(action: &AsyncAction<u64, Payload, ()>) {
    let result = action.run_with(black_box(7), respect()).now_or_never();
    black_box(
        result
            .expect("a cache hit completes without waiting")
            .map(|p| p.0[0])
            .ok(),
    );
}

fn hit_string(action: &AsyncAction<String, Payload, ()>, key: &String) {
    let result = action
        .run_with(black_box(key).clone(), RunOptions::new().respect_cache())
        .now_or_never();
    black_box(
        result
            .expect("a cache hit completes without waiting")
            .map(|p| p.0[0])
            .ok(),
    );
}

fn get_u64(cache: &moka::future::Cache<u64, Arc<Payload>>) {
    let value = cache.get(black_box(&7)).now_or_never();
    black_box(
        value
            .expect("a moka get completes without waiting")
            .map(|p| p.0[0]),
    );
}

fn get_string(cache: &moka::future::Cache<String, Arc<Payload>>, key: &String) {
    let value = cache.get(black_box(key)).now_or_never();
    black_box(
        value
            .expect("a moka get completes without waiting")
            .map(|p| p.0[0]),
    );
}

mod hit {
    use super::*;

    #[divan::bench]
    fn hookline_run_respect_cache_u64(bencher: Bencher) {
        let action = hit_fixture(7u64);
        bencher.bench_local(|| hit_u64(&action));
    }

    #[divan::bench]
    fn moka_get_u64(bencher: Bencher) {
        let cache = moka_fixture(7u64);
        bencher.bench_local(|| get_u64(&cache));
    }

    #[divan::bench]
    fn hookline_run_respect_cache_string(bencher: Bencher) {
        let key = String::from("pictures-of-cats");
        let action = hit_fixture(key.clone());
        bencher.bench_local(|| hit_string(&action, &key));
    }

    #[divan::bench]
    fn moka_get_string(bencher: Bencher) {
        let key = String::from("pictures-of-cats");
        let cache = moka_fixture(key.clone());
        bencher.bench_local(|| get_string(&cache, &key));
    }
}

mod memory {
    use super::*;

    #[divan::bench(sample_count = 10, sample_size = 1)]
    fn hookline_10k_set_cached(bencher: Bencher) {
        bencher.bench_local(|| {
            let action = action::<u64>("memory");
            for key in 0..ENTRIES as u64 {
                action.set_cached(&key, Ok(Payload([key; 4])));
            }
            action
        });
    }

    #[divan::bench(sample_count = 10, sample_size = 1)]
    fn moka_10k_insert(bencher: Bencher) {
        bencher.bench_local(|| {
            let cache = moka::future::Cache::new(ENTRIES as u64 * 2);
            for key in 0..ENTRIES as u64 {
                cache
                    .insert(key, Arc::new(Payload([key; 4])))
                    .now_or_never()
                    .expect("a moka insert completes without waiting");
            }
            cache.run_pending_tasks().now_or_never();
            cache
        });
    }
}

/// The median of `rounds` timings of `iterations` calls, in nanoseconds per call.
fn median_ns(rounds: usize, iterations: u32, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn main() {
    let action = hit_fixture(7u64);
    let cache = moka_fixture(7u64);
    let key = String::from("pictures-of-cats");
    let string_action = hit_fixture(key.clone());
    let string_cache = moka_fixture(key.clone());
    for (name, ours, theirs) in [
        (
            "u64 key",
            median_ns(15, 200_000, || hit_u64(&action)),
            median_ns(15, 200_000, || get_u64(&cache)),
        ),
        (
            "String key",
            median_ns(15, 200_000, || hit_string(&string_action, &key)),
            median_ns(15, 200_000, || get_string(&string_cache, &key)),
        ),
    ] {
        println!(
            "cache hit, {name}: run{{respect_cache}} + 1 post-action tap {ours:.1} ns, \
             moka get {theirs:.1} ns, ratio {:.2}x (target <= 3x)",
            ours / theirs
        );
    }
    divan::main();
}
