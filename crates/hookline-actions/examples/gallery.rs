//! Pullstate's post-action hook page, replayed: `searchPicturesForTag` and a `GalleryStore`.
//!
//! The page warns against updating a store inside the action ("DO NOT DO THIS"): on a cache
//! hit the action does not run, so the store keeps showing the previous search. Its fix is the
//! post-action hook, which runs on every path. This example runs both versions through the same
//! searches and shows the difference, then checks it.
//!
//! Run with `cargo run -p hookline-actions --example gallery`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::{Flow, RegisterError};
use hookline_actions::{
    ActionError, AsyncAction, Instance, PostActionContext, RunOptions, Store, Stores,
};

/// One picture of the API.
#[derive(Debug, Clone, PartialEq)]
struct Picture {
    url: String,
}

/// What `PictureApi::search_with_tag` returns on success.
#[derive(Debug)]
struct SearchResult {
    pictures: Vec<Picture>,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
#[error("Couldn't get pictures: no pictures tagged `{0}`")]
struct NoPictures(String);

/// The state the gallery view renders.
#[derive(Debug, Default, Clone)]
struct GalleryStore {
    pictures: Vec<Picture>,
}

/// A stand-in for the remote picture API, counting its calls.
#[derive(Default)]
struct PictureApi {
    calls: AtomicUsize,
}

impl PictureApi {
    async fn search_with_tag(&self, tag: &str) -> Result<SearchResult, NoPictures> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        match tag {
            "cats" | "dogs" => Ok(SearchResult {
                pictures: (1..=3)
                    .map(|i| Picture {
                        url: format!("https://pictures.example/{tag}/{i}.jpg"),
                    })
                    .collect(),
            }),
            _ => Err(NoPictures(tag.to_string())),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

type Search = AsyncAction<Tag, SearchResult, NoPictures>;

/// The action's arguments (Pullstate's `{ tag }`); the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Tag {
    tag: String,
}

fn tag(tag: &str) -> Tag {
    Tag { tag: tag.into() }
}

/// A fresh instance (as a server creates per request) with an empty gallery.
fn instance() -> Instance {
    Instance::with_stores(Stores::new().with(Store::new(GalleryStore::default())))
}

/// The first tag of the pictures the gallery shows.
fn shown(instance: &Instance) -> String {
    let gallery = instance.stores().store::<GalleryStore>().map(Store::get);
    gallery
        .ok()
        .and_then(|g| g.pictures.first().map(|p| p.url.clone()))
        .and_then(|url| url.split('/').nth(3).map(str::to_string))
        .unwrap_or_else(|| "(nothing)".into())
}

/// DO NOT DO THIS: the store is updated inside the action.
fn naive(api: Arc<PictureApi>) -> Search {
    AsyncAction::builder_with_stores("searchPicturesForTag.naive", move |args: Tag, stores| {
        let api = api.clone();
        async move {
            let result = api.search_with_tag(&args.tag).await?;
            if let Some(gallery) = stores.get::<GalleryStore>() {
                let pictures = result.pictures.clone();
                gallery.update(|s| s.pictures = pictures);
            }
            Ok(result)
        }
    })
    .build()
}

/// The page's fix: the action only fetches; the post-action hook updates the store.
fn with_post_action_hook(
    api: Arc<PictureApi>,
    log: Arc<Mutex<Vec<String>>>,
) -> Result<Search, RegisterError> {
    let search = AsyncAction::new("searchPicturesForTag", move |args: Tag| {
        let api = api.clone();
        async move { api.search_with_tag(&args.tag).await }
    });
    search.post_action().tap("gallery", move |ctx| {
        let line = match ctx.result() {
            Ok(result) => {
                let pictures = result.pictures.clone();
                ctx.stores()
                    .store::<GalleryStore>()?
                    .update(|s| s.pictures = pictures);
                format!(
                    "{:<16} {:<5} -> gallery updated",
                    ctx.context(),
                    ctx.args().tag
                )
            }
            Err(error) => format!(
                "{:<16} {:<5} -> gallery kept ({error})",
                ctx.context(),
                ctx.args().tag
            ),
        };
        log.lock().map_err(|_| "log poisoned")?.push(line);
        Ok(Flow::Continue)
    })?;
    Ok(search)
}

/// The searches both versions go through; returns the gallery shown after each.
async fn browse(search: &Search, instance: &Instance) -> Vec<String> {
    let search = search.in_instance(instance);
    let respect = || RunOptions::new().respect_cache();
    let mut shown_after = Vec::new();

    search.run_with(tag("cats"), respect()).await.ok();
    shown_after.push(shown(instance));
    search.run_with(tag("dogs"), respect()).await.ok();
    shown_after.push(shown(instance));
    // Back to cats: the UI beckons the old arguments again; the result is cached.
    search.beckon(tag("cats")).await.finished().await.ok();
    shown_after.push(shown(instance));
    // And to dogs, through `run` with `respect_cache`: cached too.
    search.run_with(tag("dogs"), respect()).await.ok();
    shown_after.push(shown(instance));
    // A search that fails leaves the gallery as it is.
    let failed = search.read(tag("unicorns")).await;
    assert!(matches!(failed, Err(ActionError::Failed(_))));
    shown_after.push(shown(instance));
    shown_after
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = Arc::new(PictureApi::default());

    println!("DO NOT DO THIS: the store is updated inside the action");
    let naive_instance = instance();
    let naive_shown = browse(&naive(api.clone()), &naive_instance).await;
    let naive_calls = api.calls();
    print_steps(&naive_shown);
    println!("  picture API calls: {naive_calls}\n");

    println!("The post-action hook updates the store on every path");
    let log = Arc::new(Mutex::new(Vec::new()));
    let search = with_post_action_hook(api.clone(), log.clone())?;
    let hooked_instance = instance();
    let hooked_shown = browse(&search, &hooked_instance).await;
    let hooked_calls = api.calls() - naive_calls;
    print_steps(&hooked_shown);
    println!("  picture API calls: {hooked_calls}");
    println!("  post-action hook:");
    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    for line in &log {
        println!("    {line}");
    }
    println!("\n{}", search.post_action().explain());

    // What the page promises, checked.
    let expected = ["cats", "dogs", "cats", "dogs", "dogs"];
    assert_eq!(
        hooked_shown, expected,
        "a cache hit updates the store like a run"
    );
    assert_eq!(
        naive_shown,
        ["cats", "dogs", "dogs", "dogs", "dogs"],
        "the naive version misses the cache hit back to cats"
    );
    assert_eq!(
        (naive_calls, hooked_calls),
        (3, 3),
        "cache hits call no API"
    );
    let contexts: Vec<&str> = log
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        contexts,
        [
            PostActionContext::DirectRun.as_str(),
            PostActionContext::DirectRun.as_str(),
            PostActionContext::BeckonHitCache.as_str(),
            PostActionContext::RunHitCache.as_str(),
            PostActionContext::ReadRun.as_str(),
        ]
    );
    println!("All checks passed.");
    Ok(())
}

fn print_steps(shown_after: &[String]) {
    let steps = [
        "run cats  (respect cache)",
        "run dogs  (respect cache)",
        "beckon cats (cached)",
        "run dogs  (cached)",
        "read unicorns (fails)",
    ];
    for (step, shown) in steps.iter().zip(shown_after) {
        println!("  {step:<26} gallery shows {shown}");
    }
}
