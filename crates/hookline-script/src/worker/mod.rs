//! A script worker: one thread owning one QuickJS runtime and context, the scripts it compiled,
//! and the sandbox that limits them. It takes [`Job`]s from the pool's queue: compile a script,
//! or run the scripts of one hook call on one object.
//!
//! Sandbox: the context has the ECMAScript built-ins and nothing else — no file system,
//! network, process, environment, timers or module loading. The only doors out are the host
//! functions installed by `prelude.js`: `console` (to `tracing`) and the data API (back to the
//! calling task). Time is limited by an interrupt handler checking a per-script deadline (and
//! whether the caller still waits), memory and stack by QuickJS's own limits. After a memory
//! limit, a panic or an engine failure the runtime is dropped and rebuilt, so the next call
//! starts clean.
//!
//! This file holds what the pool and the taps see — the jobs, the events back to the calling
//! task, [`spawn`] — and the worker thread's loop over the queue. The rest, one concern a file:
//!
//! - [`inline`]: the same engine run on the calling thread first ([`call_inline`]);
//! - [`engine`]: a runtime, its context and compiled scripts; compiling; rebuilding after a
//!   failure;
//! - [`state`]: the state of the running call — deadline, why it was stopped, where it runs,
//!   `console` lines;
//! - [`prelude`]: `prelude.js` and the host functions it is handed;
//! - [`data_api`]: `host.table`, a script's data-API call carried to the calling task;
//! - [`run`]: one call's scripts run on the lent values, their results read (AdminForth's
//!   `{ ok, error, status }`, a body-style `return`) and the values patched back;
//! - [`failure`]: QuickJS errors turned into [`ScriptError`]s with script positions.

mod data_api;
mod engine;
mod failure;
mod inline;
mod prelude;
mod run;
mod state;

use std::io;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::data_api::{TableError, TableRequest};
use crate::error::ScriptError;
use crate::lend::Lent;
use crate::pool::PoolConfig;
use crate::source::Script;

use engine::{Engine, guarded};
use state::CallState;

pub(crate) use inline::{Inline, call_inline};

/// Work for a worker.
pub(crate) enum Job {
    /// Compile a script (and run a module's top level) to report errors at load time.
    Compile {
        script: Script,
        reply: oneshot::Sender<Result<(), ScriptError>>,
    },
    /// Run scripts for one hook call.
    Call(CallJob),
}

/// The scripts of one hook call, the context's values, and the channel back to the calling
/// task. The values come back with [`Event::Done`]: patched with the scripts' changes when the
/// call continues or returns, as they came otherwise.
pub(crate) struct CallJob {
    pub(crate) scripts: Arc<[Script]>,
    pub(crate) values: Lent,
    pub(crate) tables: bool,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) span: tracing::Span,
}

/// What a worker tells the calling task during a call.
pub(crate) enum Event {
    /// A script called the data API; answer on `reply`.
    Table {
        request: TableRequest,
        reply: SyncSender<Result<serde_json::Value, TableError>>,
    },
    /// The call is over; `values` are the job's (see [`CallJob`]).
    Done {
        result: Result<CallOutput, ScriptError>,
        values: Lent,
    },
}

/// How the scripts of a call ended.
pub(crate) enum CallOutput {
    /// Every script continued.
    Continue,
    /// A pre-hook returned a value.
    Return {
        script: Arc<str>,
        value: serde_json::Value,
    },
    /// A script rejected the call.
    Reject {
        script: Arc<str>,
        status: u16,
        message: String,
    },
}

/// Starts worker `index`; it reports on `ready` once its runtime exists (or why not).
pub(crate) fn spawn(
    index: usize,
    config: Arc<PoolConfig>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    ready: Sender<Result<(), String>>,
) -> io::Result<()> {
    // QuickJS's stack limit counts the native stack; leave room for Rust frames around it.
    let stack = config.stack_limit.saturating_mul(2).saturating_add(4 << 20);
    thread::Builder::new()
        .name(format!("hookline-script-{index}"))
        .stack_size(stack)
        .spawn(move || run_worker(config, jobs, ready))?;
    Ok(())
}

fn run_worker(
    config: Arc<PoolConfig>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    ready: Sender<Result<(), String>>,
) {
    let state = Rc::new(CallState::default());
    let mut engine = match Engine::new(config.clone(), state.clone()) {
        Ok(engine) => engine,
        Err(message) => {
            // The pool reports the failure; nothing else to do on this thread.
            let _ = ready.send(Err(message));
            return;
        }
    };
    // The pool waits for this; if it is gone, the next `recv` ends the loop.
    let _ = ready.send(Ok(()));
    drop(ready);
    loop {
        let Some(job) = next_job(&jobs) else {
            return; // the pool and every tap are gone
        };
        let rebuild = match job {
            Job::Compile { script, reply } => {
                let (result, rebuild) = guarded(&mut engine, &script.inner.name, |engine| {
                    engine.compile_only(&script)
                });
                // The loader may have stopped waiting; the compiled script stays cached.
                let _ = reply.send(result);
                rebuild
            }
            Job::Call(mut call) => {
                if call.events.is_closed() {
                    continue; // the caller stopped waiting before the call started
                }
                let first = call
                    .scripts
                    .first()
                    .map_or_else(|| Arc::from("<none>"), |s| s.inner.name.clone());
                let span = call.span.clone();
                let _span = span.enter();
                *state.events.borrow_mut() = Some(call.events.clone());
                let CallJob {
                    scripts,
                    values,
                    tables,
                    ..
                } = &mut call;
                let (result, rebuild) = guarded(&mut engine, &first, |engine| {
                    engine.call(scripts, values, *tables)
                });
                // The caller may have stopped waiting; then nobody needs the result.
                let _ = call.events.send(Event::Done {
                    result,
                    values: call.values,
                });
                rebuild
            }
        };
        // Whatever happened (even a panic mid-call), the next job starts with a clean state.
        state.finish();
        if rebuild {
            drop(engine);
            engine = match Engine::new(config.clone(), state.clone()) {
                Ok(engine) => engine,
                Err(message) => {
                    tracing::error!(
                        target: "hookline_script",
                        error = %message,
                        "a script worker could not rebuild its runtime and stops"
                    );
                    return;
                }
            };
        }
    }
}

/// How long an idle worker keeps polling the queue before it sleeps. Waking a sleeping thread
/// costs more than a short script run, and under load the next job is usually this close.
const SPIN: Duration = Duration::from_micros(50);

/// The next job, or `None` once the pool is gone.
fn next_job(jobs: &Mutex<Receiver<Job>>) -> Option<Job> {
    // The lock is held only while waiting; no code runs under it that could panic.
    let jobs = jobs.lock().unwrap_or_else(PoisonError::into_inner);
    let start = Instant::now();
    loop {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if start.elapsed() < SPIN => thread::yield_now(),
            Err(TryRecvError::Empty) => return jobs.recv().ok(),
        }
    }
}
