//! Every call of an action: what it runs, what it caches, what observers see.

mod common;

use std::time::Duration;

use common::{Gated, contexts, echo, payload, record_post_actions};
use hookline_actions::{
    ActionError, AsyncAction, CallOptions, DelayedRunOptions, PostActionContext, RunOptions,
    UpdateOptions,
};
use tokio::time::Instant;

#[tokio::test]
async fn run_runs_the_action_every_time_and_caches_the_newest_result() {
    let gated = Gated::default();
    let action = gated.action("fetch");

    let first = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(1).await;
    gated.finish(1, Ok("one".into()));
    assert_eq!(payload(&first.await.unwrap()), "one");

    let second = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(2).await;
    gated.finish(2, Ok("two".into()));
    assert_eq!(payload(&second.await.unwrap()), "two");

    let state = action.get_cached(&"a".into());
    assert!(state.started && state.finished && !state.updating);
    assert_eq!(payload(state.result.as_ref().unwrap()), "two");
    assert_eq!(gated.calls(), ["a", "a"]);
}

#[tokio::test]
async fn run_with_respect_cache_uses_the_cached_result() {
    let (action, runs) = echo("echo");
    let seen = record_post_actions(&action);
    action.run("a".into()).await.unwrap();
    let hit = action
        .run_with("a".into(), RunOptions::new().respect_cache())
        .await;
    assert_eq!(payload(&hit), "a!");
    assert_eq!(*runs.lock().unwrap(), 1);
    assert_eq!(
        contexts(&seen),
        [PostActionContext::DirectRun, PostActionContext::RunHitCache]
    );
}

#[tokio::test]
async fn run_with_respect_cache_runs_when_nothing_is_cached() {
    let (action, runs) = echo("echo");
    let seen = record_post_actions(&action);
    let result = action
        .run_with("a".into(), RunOptions::new().respect_cache())
        .await;
    assert_eq!(payload(&result), "a!");
    assert_eq!(*runs.lock().unwrap(), 1);
    assert_eq!(contexts(&seen), [PostActionContext::DirectRun]);
}

#[tokio::test]
async fn a_plain_run_shows_the_key_unfinished_while_it_runs() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    action.set_cached(&"a".into(), Ok("old".into()));

    let run = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    gated.started(1).await;
    let state = action.get_cached(&"a".into());
    assert!(state.started && !state.finished && !state.updating);
    assert!(state.result.is_none());
    assert!(state.is_loading());

    gated.finish(1, Ok("new".into()));
    run.await.unwrap().unwrap();
    assert_eq!(
        action.get_cached(&"a".into()).payload().map(|p| p.as_str()),
        Some("new")
    );
}

#[tokio::test]
async fn treat_as_update_keeps_the_previous_result_visible_while_running() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    action.set_cached(&"a".into(), Ok("old".into()));
    let mut watcher = action.watch("a".into()).await;

    let run = tokio::spawn({
        let action = action.clone();
        async move {
            action
                .run_with("a".into(), RunOptions::new().treat_as_update())
                .await
        }
    });
    let updating = watcher.changed().await.unwrap();
    assert!(updating.started && updating.finished && updating.updating);
    assert_eq!(updating.payload().map(|p| p.as_str()), Some("old"));
    assert!(updating.is_loading());

    gated.started(1).await;
    gated.finish(1, Ok("new".into()));
    run.await.unwrap().unwrap();
    let done = watcher.state();
    assert!(done.finished && !done.updating);
    assert_eq!(done.payload().map(|p| p.as_str()), Some("new"));
}

#[tokio::test]
async fn beckon_starts_the_action_once_and_later_beckons_hit_the_cache() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    let seen = record_post_actions(&action);

    let mut watcher = action.beckon("a".into()).await;
    assert!(watcher.state().started && !watcher.state().finished);
    gated.started(1).await;
    gated.finish(1, Ok("one".into()));
    assert_eq!(payload(&watcher.finished().await), "one");

    let again = action.beckon("a".into()).await;
    assert_eq!(again.state().payload().map(|p| p.as_str()), Some("one"));
    assert_eq!(gated.count(), 1);
    assert_eq!(
        contexts(&seen),
        [
            PostActionContext::BeckonRun,
            PostActionContext::BeckonHitCache
        ]
    );
}

#[tokio::test]
async fn beckon_starts_a_key_that_a_watch_holds_unstarted() {
    let (action, runs) = echo("echo");
    let watcher = action.watch("a".into()).await;
    assert!(!watcher.state().started);
    let mut beckoned = action.beckon("a".into()).await;
    assert_eq!(payload(&beckoned.finished().await), "a!");
    assert_eq!(*runs.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_beckons_watcher_starts_the_action_again_after_the_key_is_cleared() {
    let (action, runs) = echo("echo");
    let mut watcher = action.beckon("a".into()).await;
    watcher.finished().await.unwrap();

    action.clear_cache(&"a".into());
    let cleared = watcher.changed().await.unwrap();
    assert!(!cleared.started);
    assert_eq!(payload(&watcher.finished().await), "a!");
    assert_eq!(*runs.lock().unwrap(), 2);
}

#[tokio::test]
async fn watch_never_starts_a_run_but_sees_runs_others_start() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    let seen = record_post_actions(&action);
    let mut watcher = action.watch("a".into()).await;
    assert!(!watcher.state().started);
    tokio::task::yield_now().await;
    assert_eq!(gated.count(), 0);

    let run = tokio::spawn({
        let action = action.clone();
        async move { action.run("a".into()).await }
    });
    let started = watcher.changed().await.unwrap();
    assert!(started.started && !started.finished);
    gated.started(1).await;
    gated.finish(1, Ok("one".into()));
    let finished = watcher.changed().await.unwrap();
    assert_eq!(finished.payload().map(|p| p.as_str()), Some("one"));
    run.await.unwrap().unwrap();

    let cached = action.watch("a".into()).await;
    assert!(cached.state().finished);
    assert_eq!(contexts(&seen), [PostActionContext::DirectRun]);
}

#[tokio::test]
async fn a_watchers_stream_yields_the_current_state_then_changes() {
    use futures_util::StreamExt;
    let (action, _) = echo("echo");
    let stream = action.watch("a".into()).await.into_stream();
    let mut stream = std::pin::pin!(stream);
    assert!(!stream.next().await.unwrap().started);
    action.set_cached(&"a".into(), Ok("set".into()));
    let next = stream.next().await.unwrap();
    assert_eq!(next.payload().map(|p| p.as_str()), Some("set"));
}

#[tokio::test]
async fn read_runs_when_needed_and_then_reads_the_cache() {
    let (action, runs) = echo("echo");
    let seen = record_post_actions(&action);
    assert_eq!(payload(&action.read("a".into()).await), "a!");
    assert_eq!(payload(&action.read("a".into()).await), "a!");
    assert_eq!(*runs.lock().unwrap(), 1);
    assert_eq!(
        contexts(&seen),
        [PostActionContext::ReadRun, PostActionContext::ReadHitCache]
    );
}

#[tokio::test]
async fn read_returns_an_error_result_and_caches_it() {
    let action = AsyncAction::new("fails", |_: u8| async { Err::<u8, _>("no pictures") });
    let first = action.read(1).await.unwrap_err();
    assert_eq!(first.failure(), Some(&"no pictures"));
    let state = action.get_cached(&1);
    assert!(state.finished);
    assert!(matches!(state.result, Some(Err(ActionError::Failed(_)))));
}

#[tokio::test]
async fn get_cached_of_an_unknown_key_is_neutral() {
    let (action, _) = echo("echo");
    let state = action.get_cached(&"nothing".into());
    assert!(!state.started && !state.finished && !state.updating);
    assert!(state.result.is_none() && state.time_cached.is_none());
    assert_eq!(action.cache_len(), 0);
}

#[tokio::test]
async fn set_cached_writes_a_finished_result_tells_observers_and_runs_no_hook() {
    let (action, runs) = echo("echo");
    let seen = record_post_actions(&action);
    let mut watcher = action.watch("a".into()).await;

    action.set_cached(&"a".into(), Ok("set".into()));
    let state = watcher.changed().await.unwrap();
    assert!(state.started && state.finished);
    assert!(state.time_cached.is_some());
    assert_eq!(state.payload().map(|p| p.as_str()), Some("set"));
    assert!(contexts(&seen).is_empty());

    let hit = action
        .run_with("a".into(), RunOptions::new().respect_cache())
        .await;
    assert_eq!(payload(&hit), "set");
    assert_eq!(*runs.lock().unwrap(), 0);

    action.set_cached(&"b".into(), Err("broken".into()));
    assert!(matches!(
        action.get_cached(&"b".into()).result,
        Some(Err(ActionError::Failed(_)))
    ));
}

#[tokio::test(start_paused = true)]
async fn update_cached_changes_the_payload_and_resets_the_time_cached() {
    let (action, _) = echo("echo");
    action.run("a".into()).await.unwrap();
    let cached_at = action.get_cached(&"a".into()).time_cached.unwrap();
    let mut watcher = action.watch("a".into()).await;

    tokio::time::advance(Duration::from_secs(5)).await;
    let updated = action
        .update_cached(&"a".into(), |s| s.push('?'), UpdateOptions::new())
        .await
        .unwrap();
    assert_eq!(payload(&updated), "a!?");
    let state = watcher.changed().await.unwrap();
    assert_eq!(state.payload().map(|p| p.as_str()), Some("a!?"));
    assert_eq!(state.time_cached, Some(cached_at + Duration::from_secs(5)));

    tokio::time::advance(Duration::from_secs(5)).await;
    action
        .update_cached(
            &"a".into(),
            |s| s.push('?'),
            UpdateOptions::new().keep_time_cached(),
        )
        .await
        .unwrap()
        .unwrap();
    let state = action.get_cached(&"a".into());
    assert_eq!(state.payload().map(|p| p.as_str()), Some("a!??"));
    assert_eq!(state.time_cached, Some(cached_at + Duration::from_secs(5)));
}

#[tokio::test]
async fn update_cached_leaves_absent_unfinished_and_error_results_alone() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    let touch = |s: &mut String| s.push('!');
    assert!(
        action
            .update_cached(&"absent".into(), touch, UpdateOptions::new())
            .await
            .is_none()
    );

    action.set_cached(&"error".into(), Err("no".into()));
    assert!(
        action
            .update_cached(&"error".into(), touch, UpdateOptions::new())
            .await
            .is_none()
    );

    let run = tokio::spawn({
        let action = action.clone();
        async move { action.run("running".into()).await }
    });
    gated.started(1).await;
    assert!(
        action
            .update_cached(&"running".into(), touch, UpdateOptions::new())
            .await
            .is_none()
    );
    gated.finish(1, Ok("done".into()));
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn clear_cache_makes_the_key_neutral_and_the_next_call_runs_again() {
    let (action, runs) = echo("echo");
    action.run("a".into()).await.unwrap();
    let mut watcher = action.watch("a".into()).await;

    action.clear_cache(&"a".into());
    let state = watcher.changed().await.unwrap();
    assert!(!state.started && !state.finished && state.result.is_none());

    action
        .run_with("a".into(), RunOptions::new().respect_cache())
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 2);
}

#[tokio::test]
async fn clear_all_cache_clears_every_key_including_keys_only_set_cached_wrote() {
    let (action, runs) = echo("echo");
    action.run("ran".into()).await.unwrap();
    action.set_cached(&"set".into(), Ok("by hand".into()));
    action
        .with_key("custom")
        .set_cached(&"x".into(), Ok("custom".into()));
    assert_eq!(action.cache_len(), 3);

    action.clear_all_cache();
    assert_eq!(action.cache_len(), 0);
    for key in ["ran", "set"] {
        assert!(!action.get_cached(&key.into()).started, "{key} survived");
    }
    assert!(!action.with_key("custom").get_cached(&"x".into()).started);
    assert_eq!(*runs.lock().unwrap(), 1);
}

#[tokio::test]
async fn clear_all_cache_keeps_watched_keys_but_resets_them() {
    let (action, _) = echo("echo");
    action.run("a".into()).await.unwrap();
    let watcher = action.watch("a".into()).await;
    action.clear_all_cache();
    assert_eq!(action.cache_len(), 1);
    assert!(!watcher.state().started);
}

#[tokio::test]
async fn clear_all_unwatched_cache_drops_only_keys_nobody_watches_or_runs() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    action.set_cached(&"watched".into(), Ok("w".into()));
    action.set_cached(&"unwatched".into(), Ok("u".into()));
    let watcher = action.watch("watched".into()).await;
    let running = tokio::spawn({
        let action = action.clone();
        async move { action.run("running".into()).await }
    });
    gated.started(1).await;

    action.clear_all_unwatched_cache();
    assert!(watcher.state().finished);
    assert!(!action.get_cached(&"unwatched".into()).started);
    assert!(action.get_cached(&"running".into()).started);

    gated.finish(1, Ok("r".into()));
    assert_eq!(payload(&running.await.unwrap()), "r");
    assert_eq!(
        action
            .get_cached(&"running".into())
            .payload()
            .map(|p| p.as_str()),
        Some("r")
    );

    drop(watcher);
    action.clear_all_unwatched_cache();
    assert_eq!(action.cache_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn delayed_run_runs_after_the_delay() {
    let (action, runs) = echo("echo");
    let started = Instant::now();
    let delayed = action.delayed_run(
        "a".into(),
        DelayedRunOptions::new(Duration::from_millis(300)),
    );
    tokio::time::advance(Duration::from_millis(299)).await;
    assert_eq!(*runs.lock().unwrap(), 0);
    assert_eq!(payload(&delayed.result().await.unwrap()), "a!");
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(*runs.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_run_can_be_cancelled_before_it_starts() {
    let (action, runs) = echo("echo");
    let delayed = action.delayed_run("a".into(), DelayedRunOptions::new(Duration::from_secs(1)));
    assert!(delayed.cancel());
    assert!(!delayed.cancel());
    assert!(delayed.result().await.is_none());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(*runs.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_started_delayed_run_does_not_stop_it() {
    let gated = Gated::default();
    let action = gated.action("fetch");
    let delayed = action.delayed_run("a".into(), DelayedRunOptions::new(Duration::from_secs(1)));
    gated.started(1).await;
    assert!(!delayed.cancel());
    gated.finish(1, Ok("done".into()));
    assert_eq!(payload(&delayed.result().await.unwrap()), "done");
}

#[tokio::test(start_paused = true)]
async fn a_new_delayed_run_cancels_the_pending_one_unless_asked_to_keep_it() {
    let (action, runs) = echo("echo");
    let delay = || DelayedRunOptions::new(Duration::from_millis(300));
    let first = action.delayed_run("c".into(), delay());
    let second = action.delayed_run("ca".into(), delay());
    assert!(first.result().await.is_none());
    assert_eq!(payload(&second.result().await.unwrap()), "ca!");

    let third = action.delayed_run("cat".into(), delay());
    let fourth = action.delayed_run("cats".into(), delay().keep_old_run());
    assert_eq!(payload(&third.result().await.unwrap()), "cat!");
    assert_eq!(payload(&fourth.result().await.unwrap()), "cats!");
    assert_eq!(*runs.lock().unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn delayed_run_runs_at_once_when_a_kept_result_is_cached() {
    let (action, runs) = echo("echo");
    action.run("a".into()).await.unwrap();
    let delay = || DelayedRunOptions::new(Duration::from_secs(1));

    let started = Instant::now();
    let immediate = action.delayed_run("a".into(), delay());
    immediate.result().await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);

    let started = Instant::now();
    let waited = action.delayed_run("a".into(), delay().immediate_if_cached(false));
    waited.result().await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(1));

    let started = Instant::now();
    let breakable =
        action.delayed_run("a".into(), delay().run(RunOptions::new().cache_break(true)));
    breakable.result().await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(*runs.lock().unwrap(), 4);
}

#[tokio::test]
async fn a_custom_key_is_shared_across_arguments_and_never_equals_an_argument_key() {
    let (action, runs) = echo("echo");
    let slot = action.with_key("latest-search");
    slot.run("cats".into()).await.unwrap();
    let hit = slot
        .run_with("dogs".into(), RunOptions::new().respect_cache())
        .await;
    assert_eq!(payload(&hit), "cats!");
    assert_eq!(*runs.lock().unwrap(), 1);

    assert!(!action.get_cached(&"latest-search".into()).started);
    assert!(!action.get_cached(&"cats".into()).started);
    assert!(slot.get_cached(&"anything".into()).finished);
}

#[tokio::test]
async fn a_subset_key_shares_results_between_arguments_with_equal_keys() {
    #[derive(Clone)]
    struct Search {
        tag: String,
        page_size: f64,
    }
    let action = AsyncAction::builder("search", |s: Search| async move {
        Ok::<_, ()>(format!("{}:{}", s.tag, s.page_size))
    })
    .subset_key(|s: &Search| s.tag.clone())
    .build();
    let first = action
        .read(Search {
            tag: "cats".into(),
            page_size: 10.0,
        })
        .await
        .unwrap();
    let second = action
        .read(Search {
            tag: "cats".into(),
            page_size: 20.0,
        })
        .await
        .unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("cats:10", "cats:10"));
    let other = action
        .read(Search {
            tag: "dogs".into(),
            page_size: 20.0,
        })
        .await
        .unwrap();
    assert_eq!(&*other, "dogs:20");
}

#[tokio::test]
async fn typed_keys_do_not_collide_where_pullstates_string_keys_do() {
    // Pullstate encodes `{a: "x;b:y"}` and `{a: "x", b: "y"}` to the same string key.
    let action = AsyncAction::new("pair", |(a, b): (String, String)| async move {
        Ok::<_, ()>(format!("{a}|{b}"))
    });
    let one = action.read(("x;b:y".into(), String::new())).await.unwrap();
    let two = action.read(("x".into(), "y".into())).await.unwrap();
    assert_eq!((one.as_str(), two.as_str()), ("x;b:y|", "x|y"));
    assert_eq!(action.cache_len(), 2);
}

#[tokio::test]
async fn options_can_turn_off_the_post_action_hook_of_a_call() {
    let (action, _) = echo("echo");
    let seen = record_post_actions(&action);
    let mut watcher = action
        .beckon_with("a".into(), CallOptions::new().post_action(false))
        .await;
    watcher.finished().await.unwrap();
    action
        .beckon_with("a".into(), CallOptions::new().post_action(false))
        .await;
    action
        .read_with("a".into(), CallOptions::new().post_action(false))
        .await
        .unwrap();
    assert!(contexts(&seen).is_empty());
}
