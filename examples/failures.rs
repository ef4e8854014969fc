//! What a failing tap looks like: a panic, a timeout, a rejection, and a slow-tap warning.
//!
//! The seeds each lose something when a hook goes wrong: Enfyra swallows a failing post-hook
//! silently (seed 002: "individual try/catch per postHook"), AdminForth turns a throwing hook
//! into a bare "Internal server error", Octo's wrappers catch nothing. In hookline every failure
//! leaves the call as a [`HookError`] that says which hook, which tap (name, module, and the
//! `file:line` where it was registered), in which phase, with which status:
//! - a panic inside a tap is caught ([`ErrorKind::Panicked`], 500);
//! - an async tap that runs past its [`Tap::timeout`] is stopped ([`ErrorKind::TimedOut`], 504;
//!   timeouts need a Tokio runtime, as here);
//! - a rejection is a decision for the user ([`ErrorKind::Rejected`], its own status);
//! - a [`SlowTapWarning`] interceptor logs a `tracing` warning for a tap over a threshold; a
//!   `tracing-subscriber` fmt subscriber prints it.
//!
//! Run it with `cargo run -p hookline-examples --example failures`.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hookline::{
    ErrorKind, Flow, Hook, HookError, Module, ModuleScope, Modules, Phase, RegisterError,
    SlowTapWarning, Tap, TapError,
};

/// The context of the job hooks.
#[derive(Debug)]
struct Job {
    rows: Vec<&'static str>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Prints every field of a hook error.
fn report(error: &HookError) {
    println!("   error:  {error}");
    println!("   hook:   {}", error.hook());
    if let Some(tap) = error.tap() {
        println!(
            "   tap:    {} (module {}, registered at {})",
            tap.name(),
            tap.module().unwrap_or("none"),
            tap.site()
        );
    }
    println!("   phase:  {}", error.phase());
    println!("   status: {} ({:?})", error.status(), error.user_message());
}

/// A plugin whose row parser panics on a row it does not expect.
struct Importer {
    import: Hook<Job>,
}

impl Module for Importer {
    fn name(&self) -> &str {
        "importer"
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        self.import.tap(scope.tap("parse-rows"), |job: &mut Job| {
            for row in &job.rows {
                // The bug this example shows: a row without a comma panics.
                let (_, price) = row.split_once(',').expect("every row has a comma");
                println!("   parsed price {price}");
            }
            Ok(Flow::Continue)
        })?;
        Ok(())
    }
}

/// A `tracing` writer that prints to stdout and keeps a copy, so the example can check that the
/// slow-tap warning was really logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().write_all(buf)?;
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .without_time()
        .with_target(false)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    println!("1. a tap panics");
    let import: Hook<Job> = Hook::new("jobs.import");
    let modules = Modules::new();
    modules.install(Importer {
        import: import.clone(),
    })?;
    let mut job = Job {
        rows: vec!["loft,250000", "penthouse"],
    };
    // Rust's panic hook still reports the panic (with a backtrace if RUST_BACKTRACE is set);
    // keep it to one line while the demo panics on purpose.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        println!(
            "   (panic hook) {at}: {}",
            info.payload_as_str().unwrap_or("?")
        );
    }));
    let result = import.call(&mut job).await;
    std::panic::set_hook(default_hook);
    let panicked = result
        .err()
        .ok_or("the parser must panic on a row without a comma")?;
    report(&panicked);
    assert!(
        matches!(panicked.kind(), ErrorKind::Panicked(m) if m.contains("every row has a comma"))
    );
    assert_eq!(panicked.status(), 500);
    assert_eq!(panicked.phase(), Phase::Call);
    assert_eq!(panicked.tap().and_then(|t| t.module()), Some("importer"));

    println!("2. an async tap hangs past its timeout");
    let fetch: Hook<Job> = Hook::new("jobs.fetch");
    fetch.tap_async(
        Tap::named("download").timeout(Duration::from_millis(50)),
        |_job: &mut Job| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Flow::Continue)
            })
        },
    )?;
    let timed_out = fetch
        .call(&mut Job { rows: Vec::new() })
        .await
        .err()
        .ok_or("the download must time out")?;
    report(&timed_out);
    assert!(
        matches!(timed_out.kind(), ErrorKind::TimedOut(limit) if *limit == Duration::from_millis(50))
    );
    assert_eq!(timed_out.status(), 504);
    assert_eq!(timed_out.tap().map(|t| t.name()), Some("download"));

    println!("   a timeout on a synchronous tap is refused when registering:");
    let refused = fetch
        .tap(
            Tap::named("checksum").timeout(Duration::from_millis(50)),
            |_: &mut Job| Ok(Flow::Continue),
        )
        .err()
        .ok_or("a sync tap cannot have a timeout")?;
    println!("   {refused}");
    assert!(matches!(refused, RegisterError::SyncTimeout { .. }));

    println!("3. a tap rejects the call");
    let submit: Hook<Job> = Hook::new("jobs.submit");
    submit.tap("quota", |job: &mut Job| {
        if job.rows.len() > 2 {
            return Err(
                TapError::reject("at most 2 rows per job on the free plan").with_status(429)
            );
        }
        Ok(Flow::Continue)
    })?;
    let rejected = submit
        .call(&mut Job {
            rows: vec!["a,1", "b,2", "c,3"],
        })
        .await
        .err()
        .ok_or("three rows must exceed the quota")?;
    report(&rejected);
    assert!(rejected.is_rejection());
    assert_eq!(rejected.status(), 429);
    assert_eq!(
        rejected.user_message(),
        "at most 2 rows per job on the free plan"
    );

    println!("4. a slow tap is logged");
    let render: Hook<Job> = Hook::new("jobs.report");
    render.intercept(Arc::new(SlowTapWarning::new(Duration::from_millis(20))));
    render.tap_async("render-pdf", |_job: &mut Job| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(Flow::Continue)
        })
    })?;
    render.call(&mut Job { rows: Vec::new() }).await?;
    let logged = String::from_utf8_lossy(&lock(&logs.0)).into_owned();
    assert!(logged.contains("slow tap") && logged.contains("render-pdf"));
    Ok(())
}
