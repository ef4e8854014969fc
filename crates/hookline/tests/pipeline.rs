//! Pipelines: before → handler → after, the origin of the outcome, the share map, and the
//! `AfterRuns` / `AfterFailures` policies on the success and error paths.

use std::sync::{Arc, Mutex};

use hookline::{
    After, AfterFailures, AfterRuns, Before, Flow, HookError, Origin, Phase, Pipeline, Share,
    TapError,
};

type Log = Arc<Mutex<Vec<String>>>;

struct Actor(u64);

fn pipeline(runs: AfterRuns, failures: AfterFailures) -> (Pipeline<String, String>, Log) {
    let log: Log = Arc::default();
    let p = Pipeline::new("route")
        .after_runs(runs)
        .after_failures(failures);
    let l = log.clone();
    p.after()
        .tap("observe", move |ctx: &mut After<String, String>| {
            l.lock().unwrap().push(format!(
                "after status={} data={:?} error={:?}",
                ctx.status(),
                ctx.output(),
                ctx.error().map(HookError::user_message)
            ));
            Ok(Flow::Continue)
        })
        .unwrap();
    (p, log)
}

async fn echo(input: &mut String, share: &Share) -> Result<String, TapError> {
    let actor = share.get::<Actor>().map_or(0, |a| a.0);
    if input == "fail" {
        return Err(TapError::reject("handler says no").with_status(409));
    }
    Ok(format!("{input} by {actor}"))
}

#[tokio::test]
async fn before_taps_edit_the_input_and_share_values_with_handler_and_after_taps() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    p.before()
        .tap("normalize", |ctx: &mut Before<String>| {
            ctx.input = ctx.input.to_uppercase();
            ctx.share.insert(Actor(7));
            Ok(Flow::Continue)
        })
        .unwrap();
    p.after()
        .tap("decorate", |ctx: &mut After<String, String>| {
            let actor = ctx.share().get::<Actor>().unwrap().0;
            let input = ctx.input().clone();
            if let Some(out) = ctx.output_mut() {
                out.push_str(&format!(" [{input}, actor {actor}]"));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    let out = p
        .run("hello".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap();
    assert_eq!(out.output, "HELLO by 7 [HELLO, actor 7]");
    assert_eq!(out.origin, Origin::Handler);
    assert!(out.isolated.is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        ["after status=200 data=Some(\"HELLO by 7\") error=None"]
    );
}

#[tokio::test]
async fn a_short_circuit_skips_the_handler_and_after_taps_learn_which_tap_did_it() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    p.before()
        .tap("cached", |_: &mut Before<String>| {
            Ok(Flow::Return("cached!".into()))
        })
        .unwrap();
    let handler_ran = Arc::new(Mutex::new(false));
    let ran = handler_ran.clone();
    let out = p
        .run("x".into(), async move |_: &mut String, _: &Share| {
            *ran.lock().unwrap() = true;
            Ok("fresh".to_string())
        })
        .await
        .unwrap();
    assert_eq!(out.output, "cached!");
    assert_eq!(
        out.origin,
        Origin::ShortCircuit {
            tap: "cached".into()
        }
    );
    assert!(!*handler_ran.lock().unwrap());
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "after-taps ran for the short-circuit"
    );
}

#[tokio::test]
async fn on_success_policy_skips_after_taps_on_errors() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    let err = p
        .run("fail".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.phase()), (409, Phase::Handler));
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn always_policy_runs_after_taps_after_a_handler_error_and_returns_the_original_error() {
    let (p, log) = pipeline(AfterRuns::Always, AfterFailures::Isolate);
    p.after()
        .tap("try-to-hide", |ctx: &mut After<String, String>| {
            // No way to replace the error: output_mut is None on the error path.
            assert!(ctx.output_mut().is_none());
            Ok(Flow::Continue)
        })
        .unwrap();
    let err = p
        .run("fail".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(
        *log.lock().unwrap(),
        ["after status=409 data=None error=Some(\"handler says no\")"]
    );
}

#[tokio::test]
async fn always_policy_runs_after_taps_after_a_before_tap_error_enfyra_docs_not_code() {
    let (p, log) = pipeline(AfterRuns::Always, AfterFailures::Isolate);
    p.before()
        .tap("auth", |_: &mut Before<String>| {
            Err(TapError::reject("login required").with_status(401))
        })
        .unwrap();
    let err = p
        .run("x".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.phase()), (401, Phase::Before));
    assert_eq!(err.tap().unwrap().name(), "auth");
    assert_eq!(
        *log.lock().unwrap(),
        ["after status=401 data=None error=Some(\"login required\")"]
    );
}

fn failing_after(p: &Pipeline<String, String>, name: &'static str) {
    p.after()
        .tap(name, move |_: &mut After<String, String>| {
            Err(TapError::fail(format!("{name} broke")))
        })
        .unwrap();
}

#[tokio::test]
async fn isolate_runs_every_after_tap_and_reports_each_failure() {
    let (p, log) = pipeline(AfterRuns::Always, AfterFailures::Isolate);
    failing_after(&p, "audit");
    failing_after(&p, "notify");
    let l = log.clone();
    p.after()
        .tap("last", move |_: &mut After<String, String>| {
            l.lock().unwrap().push("last ran".into());
            Ok(Flow::Continue)
        })
        .unwrap();

    let out = p
        .run("ok".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap();
    assert_eq!(out.output, "ok by 0");
    let names: Vec<_> = out
        .isolated
        .iter()
        .map(|e| e.tap().unwrap().name())
        .collect();
    assert_eq!(names, ["audit", "notify"]);
    assert!(out.isolated.iter().all(|e| e.phase() == Phase::After));
    assert_eq!(log.lock().unwrap().last().unwrap(), "last ran");

    // On the error path the failures are attached to the original error.
    let err = p
        .run("fail".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(err.suppressed().len(), 2);
}

#[tokio::test]
async fn abort_returns_the_first_after_failure_marked_committed_when_the_handler_commits() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    let p = p.handler_commits(true);
    p.after()
        .tap("after-save", |_: &mut After<String, String>| {
            Err(TapError::reject("afterSave rejected"))
        })
        .unwrap();
    failing_after(&p, "never-runs");
    let err = p
        .run("ok".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.tap().unwrap().name(), "after-save");
    assert!(err.committed(), "the write stands although the call failed");
    assert!(err.to_string().contains("after commit"));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn abort_on_the_error_path_keeps_the_original_error() {
    let (p, _log) = pipeline(AfterRuns::Always, AfterFailures::Abort);
    failing_after(&p, "broken-logger");
    let err = p
        .run("fail".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.phase()), (409, Phase::Handler));
    assert!(!err.committed());
    assert_eq!(err.suppressed()[0].tap().unwrap().name(), "broken-logger");
}

#[tokio::test]
async fn complete_runs_after_taps_for_a_cache_hit() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    let out = p
        .complete("k".into(), "cached value".into(), Origin::Cache)
        .await
        .unwrap();
    assert_eq!(out.origin, Origin::Cache);
    assert_eq!(
        *log.lock().unwrap(),
        ["after status=200 data=Some(\"cached value\") error=None"]
    );
}

#[tokio::test]
async fn a_panicking_handler_is_an_error_and_after_taps_see_it() {
    let (p, log) = pipeline(AfterRuns::Always, AfterFailures::Isolate);
    let err = p
        .run(
            "x".into(),
            async |_: &mut String, _: &Share| -> Result<String, TapError> { panic!("handler bug") },
        )
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.phase()), (500, Phase::Handler));
    assert_eq!(
        *log.lock().unwrap(),
        ["after status=500 data=None error=Some(\"internal error in a hook\")"]
    );
}

#[tokio::test]
async fn an_after_tap_returning_stops_the_remaining_after_taps() {
    let (p, log) = pipeline(AfterRuns::OnSuccess, AfterFailures::Abort);
    p.after()
        .tap(
            hookline::Tap::named("stop").first(),
            |_: &mut After<String, String>| Ok(Flow::Return(())),
        )
        .unwrap();
    let out = p
        .run("x".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .unwrap();
    assert_eq!(out.output, "x by 0");
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn pipeline_futures_are_send_so_they_can_be_spawned() {
    let (p, _) = pipeline(AfterRuns::Always, AfterFailures::Isolate);
    let task = tokio::spawn(async move {
        p.run("spawned".into(), async |i: &mut String, s: &Share| {
            echo(i, s).await
        })
        .await
        .map(|o| o.output)
    });
    assert_eq!(task.await.unwrap().unwrap(), "spawned by 0");
}
