//! The worker pool: [`PoolConfig`] (worker count and sandbox limits) and [`ScriptPool`], which
//! owns N worker threads, each with its own QuickJS runtime, and loads scripts.
//!
//! A QuickJS runtime is not `Send`, so it never leaves its thread. A call runs first on the
//! calling thread, within the inline budget; otherwise async code hands jobs to the workers
//! over a shared queue and awaits the answer on a channel, which never blocks the executor.
//! What a worker does with a job lives in [`crate::worker`]; the per-call protocol (data-API
//! calls back into async Rust) in [`crate::tap`].

use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::ScriptError;
use crate::lend::Lent;
use crate::source::{Script, ScriptSource};
use crate::tap::ScriptTap;
use crate::worker::{self, Inline, Job};

/// The size of a pool and the limits of its sandbox.
///
/// | setting | default | what happens at the limit |
/// |---|---|---|
/// | [`workers`](PoolConfig::workers) | available cores | — |
/// | [`time_limit`](PoolConfig::time_limit) | 1 s per script run | the script is interrupted |
/// | [`memory_limit`](PoolConfig::memory_limit) | 64 MiB per runtime heap (each worker's, each calling thread's) | allocation fails; the runtime is rebuilt |
/// | [`stack_limit`](PoolConfig::stack_limit) | 1 MiB | the call fails with a stack-limit error |
/// | [`inline_budget`](PoolConfig::inline_budget) | 1 ms | a call that started on the calling thread moves to a worker |
///
/// Each failure is a [`ScriptError::LimitExceeded`] that names the script and the limit; the
/// runtime serves the next call.
///
/// **Where a call runs.** A call first runs on the thread that awaits it, in a QuickJS
/// runtime that thread keeps for the pool (same limits, but a JavaScript stack of at most
/// 256 KiB, so that it fits in an executor thread's stack), because handing a short call to a
/// worker and back costs more than the call. Such a run is dropped, and the call runs again
/// from the start on a worker, when a script calls the data API (only a worker can wait for
/// it; from then on every call of the scripts run with it goes straight to the workers), when
/// it is still running after `inline_budget`, or when it reaches the smaller stack. Nothing a
/// dropped run did is kept: the context is converted anew, and its `console` lines are not
/// logged. A runaway script thus holds its caller's thread for at most about
/// `inline_budget`, then only a worker. (A script that catches its own stack overflow sees it
/// at 256 KiB there.)
/// `inline_budget(Duration::ZERO)` sends every call to the workers.
///
/// ```
/// use hookline_script::PoolConfig;
/// use std::time::Duration;
///
/// let config = PoolConfig::default()
///     .workers(2)
///     .time_limit(Duration::from_millis(200))
///     .memory_limit(32 << 20);
/// assert_eq!((config.workers, config.memory_limit), (2, 32 << 20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The number of worker threads (a pool starts at least one).
    pub workers: usize,
    /// The wall-clock time one script may run per call, including the time its data-API calls
    /// take. A script still running then is interrupted.
    pub time_limit: Duration,
    /// The memory, in bytes, of each runtime's JavaScript heap (a worker's, or a calling
    /// thread's): compiled scripts, the values of the running call, and the names of up to
    /// 4096 object keys (of at most 64 bytes) the runtime keeps between calls, well under
    /// 1 MiB. `0` means no limit.
    pub memory_limit: usize,
    /// The JavaScript stack, in bytes; unbounded recursion stops here. Worker threads get a
    /// native stack comfortably larger.
    pub stack_limit: usize,
    /// How long a call may run on the calling thread before it moves to a worker (see
    /// [`PoolConfig`], "Where a call runs"). `Duration::ZERO`: every call runs on a worker.
    pub inline_budget: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: thread::available_parallelism().map_or(1, usize::from),
            time_limit: Duration::from_secs(1),
            memory_limit: 64 << 20,
            stack_limit: 1 << 20,
            inline_budget: Duration::from_millis(1),
        }
    }
}

impl PoolConfig {
    /// Sets [`workers`](PoolConfig::workers) (at least 1).
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets [`time_limit`](PoolConfig::time_limit).
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Sets [`memory_limit`](PoolConfig::memory_limit), in bytes.
    #[must_use]
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets [`stack_limit`](PoolConfig::stack_limit), in bytes.
    #[must_use]
    pub fn stack_limit(mut self, bytes: usize) -> Self {
        self.stack_limit = bytes;
        self
    }

    /// Sets [`inline_budget`](PoolConfig::inline_budget); `Duration::ZERO` runs every call on
    /// a worker.
    #[must_use]
    pub fn inline_budget(mut self, budget: Duration) -> Self {
        self.inline_budget = budget;
        self
    }
}

/// N worker threads, each with its own QuickJS runtime, that run scripts for async code, and
/// a runtime per calling thread for short calls (see [`PoolConfig`], "Where a call runs").
///
/// Cheap to clone; clones share the workers. Workers take jobs from one queue, so a long script
/// holds up one worker, not the pool. The threads end once the pool and every
/// [`ScriptTap`] made from it are dropped (after finishing the job at hand).
///
/// ```
/// use hookline_script::{PoolConfig, ScriptPool, ScriptSource};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pool = ScriptPool::new(PoolConfig::default().workers(1))?;
/// let err = pool
///     .load(ScriptSource::function("broken.js", "export default async ({ record }) => {\n  record.x = ;\n}"))
///     .await
///     .unwrap_err();
/// assert_eq!(err.location().unwrap().to_string(), "broken.js:2:14");
/// # Ok::<(), hookline_script::ScriptError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ScriptPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    queue: Sender<Job>,
    config: Arc<PoolConfig>,
}

impl fmt::Debug for ScriptPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptPool")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl ScriptPool {
    /// Starts the workers and waits (briefly, on this thread) until each has its runtime.
    ///
    /// Fails if a thread cannot be spawned or a runtime cannot be created.
    pub fn new(config: PoolConfig) -> Result<Self, ScriptError> {
        let workers = config.workers.max(1);
        let config = Arc::new(config);
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(jobs));
        let (ready_tx, ready_rx) = mpsc::channel();
        for index in 0..workers {
            worker::spawn(index, config.clone(), jobs.clone(), ready_tx.clone()).map_err(|e| {
                ScriptError::PoolClosed(format!("cannot start script worker {index}: {e}"))
            })?;
        }
        drop(ready_tx);
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(ScriptError::PoolClosed(format!(
                        "a script worker could not create its runtime: {message}"
                    )));
                }
                Err(_) => {
                    return Err(ScriptError::PoolClosed(
                        "a script worker exited while starting".into(),
                    ));
                }
            }
        }
        Ok(ScriptPool {
            inner: Arc::new(PoolInner { queue, config }),
        })
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// Prepares a script (rewriting body-style macros) and compiles it on a worker, so that
    /// syntax errors, unknown macros and a missing default export surface now, with their
    /// position in the script's file.
    pub async fn load(&self, source: ScriptSource) -> Result<Script, ScriptError> {
        let script = Script::prepare(source)?;
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Compile {
            script: script.clone(),
            reply,
        })?;
        answer.await.map_err(|_| {
            ScriptError::PoolClosed(format!("the worker compiling `{}` stopped", script.name()))
        })??;
        Ok(script)
    }

    /// A tap that runs `scripts` in order, in one engine call per hook call (see
    /// [`ScriptTap`]).
    pub fn tap(&self, scripts: impl IntoIterator<Item = Script>) -> ScriptTap {
        ScriptTap::new(self, scripts)
    }

    /// Runs a call on the calling thread (see [`PoolConfig`], "Where a call runs").
    pub(crate) fn call_inline(
        &self,
        scripts: &[Script],
        values: &mut Lent,
        tables: bool,
    ) -> Inline {
        worker::call_inline(&self.inner.config, scripts, values, tables)
    }

    pub(crate) fn submit(&self, job: Job) -> Result<(), ScriptError> {
        self.inner
            .queue
            .send(job)
            .map_err(|_| ScriptError::PoolClosed("every script worker has exited".into()))
    }
}
