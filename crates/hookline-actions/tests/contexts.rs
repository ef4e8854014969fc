//! All nine post-action contexts, each produced by the call that emits it, and the moment the
//! hook runs: after the cache write, before observers are told.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{contexts, echo, payload, record_post_actions};
use hookline::Flow;
use hookline_actions::{
    AsyncAction, CallOptions, DelayedRunOptions, PostActionContext, RunOptions, UpdateOptions,
    Watcher,
};

#[tokio::test]
async fn beckon_hit_cache() {
    let (action, _) = echo("echo");
    action.set_cached(&"a".into(), Ok("cached".into()));
    let seen = record_post_actions(&action);
    action.beckon("a".into()).await;
    assert_eq!(contexts(&seen), [PostActionContext::BeckonHitCache]);
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            PostActionContext::BeckonHitCache,
            "a".to_string(),
            Ok("cached".to_string())
        )
    );
}

#[tokio::test]
async fn watch_hit_cache_is_opt_in() {
    let (action, _) = echo("echo");
    action.set_cached(&"a".into(), Ok("cached".into()));
    let seen = record_post_actions(&action);
    action.watch("a".into()).await;
    assert!(contexts(&seen).is_empty());
    action
        .watch_with("a".into(), CallOptions::new().post_action(true))
        .await;
    assert_eq!(contexts(&seen), [PostActionContext::WatchHitCache]);
}

#[tokio::test]
async fn run_hit_cache() {
    let (action, _) = echo("echo");
    action.set_cached(&"a".into(), Ok("cached".into()));
    let seen = record_post_actions(&action);
    action
        .run_with("a".into(), RunOptions::new().respect_cache())
        .await
        .unwrap();
    assert_eq!(contexts(&seen), [PostActionContext::RunHitCache]);
}

#[tokio::test]
async fn read_hit_cache() {
    let (action, _) = echo("echo");
    action.set_cached(&"a".into(), Ok("cached".into()));
    let seen = record_post_actions(&action);
    assert_eq!(payload(&action.read("a".into()).await), "cached");
    assert_eq!(contexts(&seen), [PostActionContext::ReadHitCache]);
}

#[tokio::test]
async fn short_circuit_from_run_beckon_and_read() {
    let (action, runs) = echo("echo");
    action
        .short_circuit()
        .tap("known", |ctx| {
            Ok(match ctx.args().as_str() {
                "known" => Flow::Return(Ok("from the short circuit".to_string())),
                _ => Flow::Continue,
            })
        })
        .unwrap();
    let seen = record_post_actions(&action);

    let run = action.run("known".into()).await;
    assert_eq!(payload(&run), "from the short circuit");
    action.clear_cache(&"known".into());
    let mut watcher = action.beckon("known".into()).await;
    assert_eq!(payload(&watcher.finished().await), "from the short circuit");
    action.clear_cache(&"known".into());
    assert_eq!(
        payload(&action.read("known".into()).await),
        "from the short circuit"
    );

    assert_eq!(*runs.lock().unwrap(), 0);
    assert_eq!(
        contexts(&seen),
        [
            PostActionContext::ShortCircuit,
            PostActionContext::ShortCircuit,
            PostActionContext::ShortCircuit
        ]
    );
}

#[tokio::test]
async fn direct_run() {
    let (action, _) = echo("echo");
    let seen = record_post_actions(&action);
    action.run("a".into()).await.unwrap();
    assert_eq!(
        seen.lock().unwrap()[..],
        [(
            PostActionContext::DirectRun,
            "a".to_string(),
            Ok("a!".to_string())
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn direct_run_from_a_delayed_run() {
    let (action, _) = echo("echo");
    let seen = record_post_actions(&action);
    action
        .delayed_run("a".into(), DelayedRunOptions::new(Duration::from_secs(1)))
        .result()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contexts(&seen), [PostActionContext::DirectRun]);
}

#[tokio::test]
async fn beckon_run() {
    let (action, _) = echo("echo");
    let seen = record_post_actions(&action);
    action.beckon("a".into()).await.finished().await.unwrap();
    assert_eq!(contexts(&seen), [PostActionContext::BeckonRun]);
}

#[tokio::test]
async fn read_run() {
    let (action, _) = echo("echo");
    let seen = record_post_actions(&action);
    action.read("a".into()).await.unwrap();
    assert_eq!(contexts(&seen), [PostActionContext::ReadRun]);
}

#[tokio::test]
async fn cache_update_is_opt_in() {
    let (action, _) = echo("echo");
    action.set_cached(&"a".into(), Ok("v1".into()));
    let seen = record_post_actions(&action);
    action
        .update_cached(&"a".into(), |s| s.push('+'), UpdateOptions::new())
        .await
        .unwrap()
        .unwrap();
    assert!(contexts(&seen).is_empty());
    action
        .update_cached(
            &"a".into(),
            |s| s.push('+'),
            UpdateOptions::new().run_post_action_hook(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen.lock().unwrap()[..],
        [(
            PostActionContext::CacheUpdate,
            "a".to_string(),
            Ok("v1++".to_string())
        )]
    );
}

#[test]
fn the_nine_contexts_have_pullstates_names() {
    let names: Vec<_> = PostActionContext::ALL
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "BECKON_HIT_CACHE",
            "WATCH_HIT_CACHE",
            "RUN_HIT_CACHE",
            "READ_HIT_CACHE",
            "SHORT_CIRCUIT",
            "DIRECT_RUN",
            "BECKON_RUN",
            "READ_RUN",
            "CACHE_UPDATE"
        ]
    );
    let hits: Vec<_> = PostActionContext::ALL
        .into_iter()
        .filter(|c| c.is_cache_hit())
        .collect();
    assert_eq!(hits.len(), 4);
}

/// What a post-action tap saw of the cache and of an observer.
#[derive(Debug, PartialEq)]
struct Moment {
    context: PostActionContext,
    cached: Option<String>,
    observed: Option<String>,
}

type Moments = Arc<Mutex<Vec<Moment>>>;
type Observer = Arc<Mutex<Option<Watcher<String, String>>>>;

/// An action whose post-action tap records, at the moment it runs, what `get_cached` returns
/// and what an observer created before the call has been told.
fn instrumented() -> (AsyncAction<String, String, String>, Moments, Observer) {
    let (action, _) = echo("echo");
    action
        .short_circuit()
        .tap("sc", |ctx| {
            Ok(match ctx.args().as_str() {
                "short" => Flow::Return(Ok("short!".to_string())),
                _ => Flow::Continue,
            })
        })
        .unwrap();
    let moments: Moments = Arc::default();
    let observer: Observer = Arc::default();
    let this = action.clone();
    let (log, watch) = (moments.clone(), observer.clone());
    action
        .post_action()
        .tap("inspect", move |ctx| {
            let cached = this.get_cached(ctx.args());
            let observed = watch
                .lock()
                .unwrap()
                .as_ref()
                .and_then(|w| w.state().payload().map(|p| p.to_string()));
            log.lock().unwrap().push(Moment {
                context: ctx.context(),
                cached: cached.payload().map(|p| p.to_string()),
                observed,
            });
            Ok(Flow::Continue)
        })
        .unwrap();
    (action, moments, observer)
}

#[tokio::test]
async fn the_hook_sees_the_new_result_in_the_cache_before_observers_are_told() {
    let (action, moments, observer) = instrumented();

    for (args, call) in [("run", 0), ("beckon", 1), ("read", 2), ("short", 0)] {
        *observer.lock().unwrap() = Some(action.watch(args.into()).await);
        match call {
            0 => drop(action.run(args.into()).await.unwrap()),
            1 => drop(action.beckon(args.into()).await.finished().await.unwrap()),
            _ => drop(action.read(args.into()).await.unwrap()),
        }
        let told = observer.lock().unwrap().take().unwrap().state();
        assert!(told.finished, "{args}: observers are told after the hook");
    }

    *observer.lock().unwrap() = Some(action.watch("run".into()).await);
    action
        .update_cached(
            &"run".into(),
            |s| s.push('+'),
            UpdateOptions::new().run_post_action_hook(),
        )
        .await
        .unwrap()
        .unwrap();

    let moment = |context, cached: &str, observed: Option<&str>| Moment {
        context,
        cached: Some(cached.into()),
        observed: observed.map(str::to_string),
    };
    assert_eq!(
        moments.lock().unwrap()[..],
        [
            moment(PostActionContext::DirectRun, "run!", None),
            moment(PostActionContext::BeckonRun, "beckon!", None),
            moment(PostActionContext::ReadRun, "read!", None),
            moment(PostActionContext::ShortCircuit, "short!", None),
            moment(PostActionContext::CacheUpdate, "run!+", Some("run!")),
        ]
    );
    assert_eq!(
        observer
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .state()
            .payload()
            .map(|p| p.as_str()),
        Some("run!+")
    );
}
