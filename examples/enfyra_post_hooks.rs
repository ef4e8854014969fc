//! Enfyra's route pipeline: pre-hooks → handler → post-hooks that always run.
//!
//! Seed 002 (Enfyra post-hooks): "postHooks always run, even when preHook or handler throws an
//! error"; on the error path "`@ERROR` is populated, `@DATA` is null, `@STATUS` is the error
//! status code", and "the original error is always thrown after all postHooks complete";
//! "If one postHook fails, other postHooks still run".
//!
//! In hookline the route is a [`Pipeline`] with [`AfterRuns::Always`] and
//! [`AfterFailures::Isolate`]. Post-hooks read `@DATA` / `@ERROR` / `@STATUS` as
//! [`After::output_mut`] / [`After::error`] / [`After::status`], and `@SHARE` as the typed
//! [`Share`] map. One difference from Enfyra: a failing post-hook is not swallowed silently, it
//! is recorded in [`Outcome::isolated`] (or the error's `suppressed()` list) and logged.
//!
//! Shown here, on a `POST /posts` route:
//! 1. success: pre-hooks edit the body and share a request id, post-hooks add metadata;
//! 2. a handler error (409) the post-hooks observe but cannot hide;
//! 3. a pre-hook rejection (401): post-hooks still run;
//! 4. a pre-hook short-circuit (a dry run): the handler does not run, post-hooks do.
//!
//! Run it with `cargo run -p hookline-examples --example enfyra_post_hooks`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline::{
    After, AfterFailures, AfterRuns, Before, Flow, HookError, Origin, Outcome, Phase, Pipeline,
    Share, Tap, TapError,
};

/// The request body of `POST /posts` (`@BODY`), plus who sends it (`@USER`).
#[derive(Debug, Clone)]
struct CreatePost {
    user: Option<u64>,
    title: String,
    dry_run: bool,
}

/// The response (`@DATA`).
#[derive(Debug, Clone, PartialEq)]
struct Post {
    id: u64,
    title: String,
    meta: Option<Meta>,
}

/// What the `add-meta` post-hook adds to a successful response.
#[derive(Debug, Clone, PartialEq)]
struct Meta {
    processed_by: u64,
    request_id: u64,
}

/// Shared from a pre-hook to the handler and the post-hooks (`@SHARE`).
#[derive(Debug, Clone, Copy)]
struct RequestId(u64);

/// One line of the audit log the `audit` post-hook writes.
#[derive(Debug)]
struct AuditEntry {
    /// `@STATUS`.
    status: u16,
    /// `@ERROR`'s message, on the error path.
    error: Option<String>,
    /// How `@DATA` came (success path), or which phase failed (error path).
    source: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The route's handler: inserts the post, refusing duplicate titles.
async fn insert_post(
    posts: &Mutex<Vec<Post>>,
    body: &CreatePost,
    share: &Share,
) -> Result<Post, TapError> {
    let mut posts = lock(posts);
    if posts.iter().any(|p| p.title == body.title) {
        return Err(
            TapError::reject(format!("a post titled {:?} exists", body.title)).with_status(409),
        );
    }
    let request = share.get::<RequestId>().map_or(0, |r| r.0);
    println!("   handler: inserting {:?} (request {request})", body.title);
    let post = Post {
        id: posts.len() as u64 + 1,
        title: body.title.clone(),
        meta: None,
    };
    posts.push(post.clone());
    Ok(post)
}

/// One request through the route.
async fn post(
    route: &Pipeline<CreatePost, Post>,
    posts: &Mutex<Vec<Post>>,
    body: CreatePost,
) -> Result<Outcome<Post>, HookError> {
    route
        .run(body, async |body: &mut CreatePost, share: &Share| {
            insert_post(posts, body, share).await
        })
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Isolated post-hook failures are logged as `tracing` errors; show them.
    tracing_subscriber::fmt()
        .without_time()
        .with_target(false)
        .init();

    let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
    let audit: Arc<Mutex<Vec<AuditEntry>>> = Arc::default();
    let next_request = Arc::new(AtomicU64::new(1));

    let route: Pipeline<CreatePost, Post> = Pipeline::new("POST /posts")
        .after_runs(AfterRuns::Always)
        .after_failures(AfterFailures::Isolate);

    // Pre-hooks. A lower stage runs first (Enfyra's `priority`).
    route.before().tap(
        Tap::named("require-login").stage(-10),
        |ctx: &mut Before<CreatePost>| {
            if ctx.input.user.is_none() {
                return Err(TapError::reject("log in to write posts").with_status(401));
            }
            Ok(Flow::Continue)
        },
    )?;
    route
        .before()
        .tap("tidy-title", |ctx: &mut Before<CreatePost>| {
            ctx.input.title = ctx.input.title.trim().to_owned();
            Ok(Flow::Continue)
        })?;
    route
        .before()
        .tap("request-id", move |ctx: &mut Before<CreatePost>| {
            ctx.share
                .insert(RequestId(next_request.fetch_add(1, Ordering::Relaxed)));
            Ok(Flow::Continue)
        })?;
    // Enfyra: a pre-hook that returns a value short-circuits the handler.
    route
        .before()
        .tap("dry-run", |ctx: &mut Before<CreatePost>| {
            if !ctx.input.dry_run {
                return Ok(Flow::Continue);
            }
            Ok(Flow::Return(Post {
                id: 0,
                title: ctx.input.title.clone(),
                meta: None,
            }))
        })?;

    // Post-hooks: they all run, in order, whatever happened before.
    route
        .after()
        .tap("add-meta", |ctx: &mut After<CreatePost, Post>| {
            let request_id = ctx.share().get::<RequestId>().map_or(0, |r| r.0);
            let processed_by = ctx.input().user.unwrap_or(0);
            match ctx.output_mut() {
                Some(data) => {
                    data.meta = Some(Meta {
                        processed_by,
                        request_id,
                    })
                }
                None => println!("   add-meta: @DATA is null, nothing to add"),
            }
            Ok(Flow::Continue)
        })?;
    route
        .after()
        .tap("search-index", |_: &mut After<CreatePost, Post>| {
            // The search service is down in this example: this post-hook always fails.
            Err(io::Error::other("search index unreachable").into())
        })?;
    let log = audit.clone();
    route
        .after()
        .tap("audit", move |ctx: &mut After<CreatePost, Post>| {
            let entry = AuditEntry {
                status: ctx.status(),
                error: ctx.error().map(|e| e.user_message().to_owned()),
                source: match ctx.error() {
                    Some(error) => format!("{} phase failed", error.phase()),
                    None => format!("{:?}", ctx.origin()),
                },
            };
            println!("   audit: {entry:?}");
            lock(&log).push(entry);
            Ok(Flow::Continue)
        })?;

    let body = |user: Option<u64>, title: &str, dry_run: bool| CreatePost {
        user,
        title: title.into(),
        dry_run,
    };

    println!("1. success");
    let created = post(&route, &posts, body(Some(3), "  Hello hooks  ", false)).await?;
    println!("   @DATA = {:?}", created.output);
    for failure in &created.isolated {
        println!("   isolated post-hook failure: {failure}");
    }
    assert_eq!(
        created.output.title, "Hello hooks",
        "the pre-hook edited the body"
    );
    assert_eq!(
        created.output.meta,
        Some(Meta {
            processed_by: 3,
            request_id: 1
        }),
        "the post-hook transformed @DATA with a value a pre-hook shared"
    );
    assert_eq!(created.origin, Origin::Handler);
    assert_eq!(created.isolated.len(), 1);
    assert_eq!(
        created.isolated[0].tap().map(|t| t.name()),
        Some("search-index")
    );

    println!("2. the handler fails (duplicate title)");
    let conflict = post(&route, &posts, body(Some(3), "Hello hooks", false))
        .await
        .err()
        .ok_or("a duplicate title must fail")?;
    println!("   error returned: {conflict}");
    for failure in conflict.suppressed() {
        println!("   recorded with it: {failure}");
    }
    assert_eq!(
        conflict.status(),
        409,
        "post-hooks cannot replace the original error"
    );
    assert_eq!(conflict.phase(), Phase::Handler);
    assert_eq!(conflict.suppressed().len(), 1);

    println!("3. a pre-hook rejects (no user)");
    let anonymous = post(&route, &posts, body(None, "Anonymous", false))
        .await
        .err()
        .ok_or("an anonymous post must be rejected")?;
    println!("   error returned: {anonymous}");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.phase(), Phase::Before);
    assert_eq!(anonymous.tap().map(|t| t.name()), Some("require-login"));

    println!("4. a pre-hook short-circuits (dry run)");
    let preview = post(&route, &posts, body(Some(3), "Draft", true)).await?;
    println!(
        "   @DATA = {:?}, origin {:?}",
        preview.output, preview.origin
    );
    assert_eq!(
        preview.origin,
        Origin::ShortCircuit {
            tap: "dry-run".into()
        }
    );
    assert_eq!(
        lock(&posts).len(),
        1,
        "the handler did not run for the dry run"
    );

    // The audit post-hook ran on every path, after the failing search-index post-hook.
    let audit = lock(&audit);
    let seen: Vec<(u16, Option<&str>, &str)> = audit
        .iter()
        .map(|e| (e.status, e.error.as_deref(), e.source.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (200, None, "Handler"),
            (
                409,
                Some("a post titled \"Hello hooks\" exists"),
                "handler phase failed"
            ),
            (401, Some("log in to write posts"), "before phase failed"),
            (200, None, "ShortCircuit { tap: \"dry-run\" }"),
        ]
    );
    Ok(())
}
