//! The idea of Pullstate's post-action hook, with the bare engine: after-taps that run on every
//! path, cache hits included, and are told how the result came.
//!
//! Seed 000 (Pullstate `postActionHook`): "this is also run after we hit an already resolved and
//! cached value ... Now our state is guaranteed to be updated the same, no matter if we hit the
//! cache or ran the action directly." Its `context` says how the hook came to run
//! (`DIRECT_RUN`, `RUN_HIT_CACHE`, `SHORT_CIRCUIT`, ...).
//!
//! Here a tiny hand-made cache sits in front of an async function and a [`Pipeline`]:
//! - a miss runs the pipeline (short-circuit before-tap → handler → after-taps); the handler
//!   writes the cache, so the after-taps run with the result already cached;
//! - a hit calls [`Pipeline::complete`] with [`Origin::Cache`]: only the after-taps run;
//! - the post-action after-tap maps [`After::origin`] to Pullstate's context names and keeps a
//!   gallery store in step with the result, as in the seed's `searchPicturesForTag`.
//!
//! The full cached-action model (beckon, watch, read, in-flight sharing, cache breaking, all nine
//! contexts) is the `hookline-actions` crate; this example shows only the engine part.
//!
//! Run it with `cargo run -p hookline-examples --example pullstate_post_action`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline::{After, AfterRuns, Before, Flow, HookError, Origin, Outcome, Pipeline, Share};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The remote service the action calls (the seed's `PictureApi.searchWithTag`).
#[derive(Default)]
struct PictureApi {
    calls: AtomicUsize,
}

impl PictureApi {
    async fn search_with_tag(&self, tag: &str) -> io::Result<Vec<String>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        if tag == "broken" {
            return Err(io::Error::other(format!(
                "the picture service failed for {tag:?}"
            )));
        }
        Ok(vec![format!("{tag}-1.jpg"), format!("{tag}-2.jpg")])
    }
}

/// The app state the post-action hook keeps in step (the seed's `GalleryStore`).
#[derive(Debug, Default)]
struct Gallery {
    tag: String,
    pictures: Vec<String>,
}

/// `searchPicturesForTag`: a cache keyed by tag in front of a pipeline around the API call.
struct SearchPictures {
    pipeline: Pipeline<String, Vec<String>>,
    cache: Mutex<HashMap<String, Vec<String>>>,
    api: PictureApi,
}

impl SearchPictures {
    /// Pullstate's `run(args, { respectCache })`.
    async fn run(&self, tag: &str, respect_cache: bool) -> Result<Outcome<Vec<String>>, HookError> {
        let hit = respect_cache
            .then(|| lock(&self.cache).get(tag).cloned())
            .flatten();
        if let Some(pictures) = hit {
            return self
                .pipeline
                .complete(tag.to_owned(), pictures, Origin::Cache)
                .await;
        }
        self.pipeline
            .run(tag.to_owned(), async |tag: &mut String, _share: &Share| {
                let pictures = self.api.search_with_tag(tag).await?;
                lock(&self.cache).insert(tag.clone(), pictures.clone());
                Ok(pictures)
            })
            .await
    }
}

/// Pullstate's name for how the post-action hook came to run.
fn context(origin: &Origin) -> &'static str {
    match origin {
        Origin::Handler => "DIRECT_RUN",
        Origin::Cache => "RUN_HIT_CACHE",
        Origin::ShortCircuit { .. } => "SHORT_CIRCUIT",
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gallery: Arc<Mutex<Gallery>> = Arc::default();
    let hook_runs: Arc<Mutex<Vec<String>>> = Arc::default();

    // Pullstate runs the post-action hook for error results too: `AfterRuns::Always`.
    let action = SearchPictures {
        pipeline: Pipeline::new("searchPicturesForTag").after_runs(AfterRuns::Always),
        cache: Mutex::default(),
        api: PictureApi::default(),
    };

    // shortCircuitHook: an empty tag needs no request.
    action
        .pipeline
        .before()
        .tap("short-circuit", |ctx: &mut Before<String>| {
            if ctx.input.is_empty() {
                return Ok(Flow::Return(Vec::new()));
            }
            Ok(Flow::Continue)
        })?;

    // postActionHook: update the store from the result, however it came.
    let store = gallery.clone();
    let runs = hook_runs.clone();
    action.pipeline.after().tap(
        "post-action",
        move |ctx: &mut After<String, Vec<String>>| {
            let tag = ctx.input().clone();
            let mut line = format!("{tag:?} {}", context(ctx.origin()));
            match ctx.output() {
                Some(pictures) => {
                    *lock(&store) = Gallery {
                        tag,
                        pictures: pictures.clone(),
                    };
                }
                None => line.push_str(" (error result: store unchanged)"),
            }
            println!("   post-action: {line}");
            lock(&runs).push(line);
            Ok(Flow::Continue)
        },
    )?;

    println!("run(cats)");
    let cats = action.run("cats", false).await?;
    assert_eq!(cats.origin, Origin::Handler);
    println!("run(dogs)");
    let dogs = action.run("dogs", false).await?;
    assert_eq!(dogs.output, ["dogs-1.jpg", "dogs-2.jpg"]);
    assert_eq!(lock(&gallery).tag, "dogs");

    println!("run(cats, respect_cache): served from the cache, and the store still follows");
    let cached = action.run("cats", true).await?;
    assert_eq!(cached.origin, Origin::Cache);
    assert_eq!(lock(&gallery).tag, "cats");
    assert_eq!(lock(&gallery).pictures, ["cats-1.jpg", "cats-2.jpg"]);

    println!("run(\"\", respect_cache): short-circuited");
    let empty = action.run("", true).await?;
    assert_eq!(
        empty.origin,
        Origin::ShortCircuit {
            tap: "short-circuit".into()
        }
    );

    println!("run(broken)");
    let error = action
        .run("broken", false)
        .await
        .err()
        .ok_or("the broken tag must fail")?;
    println!("   error: {error}");

    println!("gallery: {:?}", lock(&gallery));
    assert_eq!(
        *lock(&hook_runs),
        [
            "\"cats\" DIRECT_RUN",
            "\"dogs\" DIRECT_RUN",
            "\"cats\" RUN_HIT_CACHE",
            "\"\" SHORT_CIRCUIT",
            "\"broken\" DIRECT_RUN (error result: store unchanged)",
        ]
    );
    assert_eq!(
        lock(&gallery).tag,
        "",
        "the error left the short-circuit's store state"
    );
    assert_eq!(
        action.api.calls.load(Ordering::Relaxed),
        3,
        "cats, dogs and broken called the API; the cache hit and the short-circuit did not"
    );
    Ok(())
}
