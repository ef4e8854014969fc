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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use rquickjs::allocator::RustAllocator;
use rquickjs::context::EvalOptions;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Exception, Function, Module, Object, Persistent, Runtime, Value};
use tokio::sync::{mpsc, oneshot};

use crate::body::SourceMap;
use crate::context::{Lent, RecordsBack};
use crate::convert::{self, Read, ToJson};
use crate::error::{Limit, Location, ScriptError, shorten};
use crate::pool::PoolConfig;
use crate::raw::{self, Atoms, Built};
use crate::source::{Role, Script, ScriptInner, Style};
use crate::tables::{TableError, TableRequest};

const PRELUDE: &str = include_str!("prelude.js");

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

/// The JavaScript stack of a runtime on a calling thread, whose own stack is an executor's
/// (Tokio gives its threads 2 MiB).
const INLINE_STACK: usize = 256 << 10;

/// A calling thread's runtime for one pool.
struct InlineEngine {
    pool: Weak<PoolConfig>,
    engine: Engine,
}

thread_local! {
    static INLINE: RefCell<Vec<InlineEngine>> = const { RefCell::new(Vec::new()) };
}

/// How a run on the calling thread ended.
pub(crate) enum Inline {
    /// Kept: how the call ended, the values patched as a worker would have.
    Done(Result<CallOutput, ScriptError>),
    /// Dropped with the values untouched: the call goes to a worker.
    Offload,
}

/// Runs a call on this thread's runtime for the pool of `config` (made on first use), unless
/// the budget is zero or a script is known to call the data API. See [`PoolConfig`], "Where a
/// call runs".
pub(crate) fn call_inline(
    config: &Arc<PoolConfig>,
    scripts: &[Script],
    values: &mut Lent,
    tables: bool,
) -> Inline {
    if config.inline_budget.is_zero()
        || scripts
            .iter()
            .any(|s| s.inner.offload.load(Ordering::Relaxed))
    {
        return Inline::Offload;
    }
    INLINE
        .try_with(|engines| {
            // Busy (a call inside a call on this thread) or being destroyed: use a worker.
            let Ok(mut engines) = engines.try_borrow_mut() else {
                return Inline::Offload;
            };
            engines.retain(|e| e.pool.strong_count() > 0);
            let found = engines
                .iter()
                .position(|e| std::ptr::eq(e.pool.as_ptr(), Arc::as_ptr(config)));
            let index = match found {
                Some(index) => index,
                None => {
                    let mut own = (**config).clone();
                    own.stack_limit = own.stack_limit.min(INLINE_STACK);
                    let state = Rc::new(CallState {
                        mode: Mode::Inline,
                        ..CallState::default()
                    });
                    let Ok(engine) = Engine::new(Arc::new(own), state) else {
                        return Inline::Offload; // a worker will report why
                    };
                    engines.push(InlineEngine {
                        pool: Arc::downgrade(config),
                        engine,
                    });
                    engines.len() - 1
                }
            };
            let engine = &mut engines[index].engine;
            let state = engine.state.clone();
            let first = scripts
                .first()
                .map_or_else(|| Arc::from("<none>"), |s| s.inner.name.clone());
            let (result, rebuild) = guarded(engine, &first, |engine| {
                engine.call(scripts, values, tables)
            });
            let outcome = match (state.tripped.get(), &result) {
                (Some(Trip::Offload), _) => {
                    for script in scripts {
                        script.inner.offload.store(true, Ordering::Relaxed);
                    }
                    Inline::Offload
                }
                (Some(Trip::Time), _)
                | (
                    _,
                    Err(ScriptError::LimitExceeded {
                        limit: Limit::Stack(_),
                        ..
                    }),
                ) => Inline::Offload,
                _ => {
                    state.release_logs();
                    Inline::Done(result)
                }
            };
            state.finish();
            if rebuild {
                engines.swap_remove(index);
            }
            outcome
        })
        .unwrap_or(Inline::Offload)
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

/// Runs `f`, turning a panic into an engine error. Returns the result and whether the runtime
/// must be rebuilt.
fn guarded<T>(
    engine: &mut Engine,
    script: &Arc<str>,
    f: impl FnOnce(&mut Engine) -> Result<T, ScriptError>,
) -> (Result<T, ScriptError>, bool) {
    match catch_unwind(AssertUnwindSafe(|| f(engine))) {
        Ok(Ok(value)) => (Ok(value), false),
        Ok(Err(error)) => {
            let rebuild = matches!(
                error,
                ScriptError::LimitExceeded {
                    limit: Limit::Memory(_),
                    ..
                } | ScriptError::Engine { .. }
            ) || engine.memory_nearly_full();
            (Err(error), rebuild)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            (
                Err(ScriptError::Engine {
                    script: script.clone(),
                    message: format!("panicked: {message}"),
                }),
                true,
            )
        }
    }
}

/// Why the interrupt handler stopped a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Time,
    Cancelled,
    /// A run on the calling thread must move to a worker: it called the data API, which only
    /// a worker can wait for.
    Offload,
}

/// Where a call runs: on a pool worker, or on the calling thread first (see
/// [`call_inline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Worker,
    Inline,
}

/// The state of the running call, shared by the worker, the interrupt handler and the host
/// functions.
#[derive(Default)]
struct CallState {
    mode: Mode,
    deadline: Cell<Option<Instant>>,
    tripped: Cell<Option<Trip>>,
    events: RefCell<Option<mpsc::UnboundedSender<Event>>>,
    tables: Cell<bool>,
    script: RefCell<Option<Arc<str>>>,
    /// Console lines of a run on the calling thread, logged once the run is kept (a run moved
    /// to a worker logs them there).
    held_logs: RefCell<Vec<(Arc<str>, i32, String)>>,
}

impl CallState {
    /// Called by QuickJS every few thousand operations: `true` stops the script.
    fn should_interrupt(&self) -> bool {
        if self.tripped.get().is_some() {
            return true;
        }
        if self.deadline.get().is_some_and(|d| Instant::now() >= d) {
            self.tripped.set(Some(Trip::Time));
            return true;
        }
        if self.events.borrow().as_ref().is_some_and(|e| e.is_closed()) {
            self.tripped.set(Some(Trip::Cancelled));
            return true;
        }
        false
    }

    /// Arms the limits for one script run: the time limit on a worker, the inline budget on
    /// the calling thread.
    fn start(&self, script: &Arc<str>, config: &PoolConfig) {
        let limit = match self.mode {
            Mode::Worker => config.time_limit,
            Mode::Inline => config.inline_budget.min(config.time_limit),
        };
        self.deadline.set(Some(Instant::now() + limit));
        self.tripped.set(None);
        *self.script.borrow_mut() = Some(script.clone());
    }

    fn finish(&self) {
        self.deadline.set(None);
        self.tripped.set(None);
        *self.events.borrow_mut() = None;
        self.tables.set(false);
        *self.script.borrow_mut() = None;
        self.held_logs.borrow_mut().clear();
    }

    /// `host.log(level, text)`: a `tracing` event naming the script; held back on the calling
    /// thread until the run is kept.
    fn log(&self, level: i32, text: &str) {
        let script = self.script.borrow();
        let script = script
            .as_ref()
            .map_or_else(|| Arc::from("<unknown>"), Arc::clone);
        match self.mode {
            Mode::Worker => emit(&script, level, text),
            Mode::Inline => self
                .held_logs
                .borrow_mut()
                .push((script, level, text.to_string())),
        }
    }

    /// Logs what a kept run on the calling thread held back.
    fn release_logs(&self) {
        for (script, level, text) in self.held_logs.borrow_mut().drain(..) {
            emit(&script, level, &text);
        }
    }

    /// `host.table(method, table, argsJson)`: asks the calling task and waits for the answer
    /// until the script's deadline. On the calling thread the run stops and moves to a worker.
    fn table<'js>(
        &self,
        ctx: &Ctx<'js>,
        method: &str,
        table: &str,
        args: &str,
    ) -> rquickjs::Result<String> {
        let call = format!("#{table}.{method}");
        let fail = |message: &str| Exception::throw_message(ctx, &format!("{call}: {message}"));
        if !self.tables.get() {
            return Err(fail(
                "no data API was given to this script tap (see `ScriptTap::with_tables`)",
            ));
        }
        if self.mode == Mode::Inline {
            self.tripped.set(Some(Trip::Offload));
            return Err(fail("moves to a script worker"));
        }
        self.ask(ctx, &call, args, method, table)
    }
}

/// A console line as a `tracing` event naming the script.
fn emit(script: &str, level: i32, text: &str) {
    match level {
        0 => tracing::trace!(target: "hookline_script", script, "{text}"),
        1 => tracing::debug!(target: "hookline_script", script, "{text}"),
        3 => tracing::warn!(target: "hookline_script", script, "{text}"),
        4 => tracing::error!(target: "hookline_script", script, "{text}"),
        _ => tracing::info!(target: "hookline_script", script, "{text}"),
    }
}

impl CallState {
    /// A data-API call from a worker: sent to the calling task, answered before the deadline.
    fn ask<'js>(
        &self,
        ctx: &Ctx<'js>,
        call: &str,
        args: &str,
        method: &str,
        table: &str,
    ) -> rquickjs::Result<String> {
        let fail = |message: &str| Exception::throw_message(ctx, &format!("{call}: {message}"));
        let args: serde_json::Value =
            serde_json::from_str(args).map_err(|e| fail(&e.to_string()))?;
        let request = TableRequest::parse(method, table, args)
            .map_err(|e| Exception::throw_type(ctx, &format!("{call}: {e}")))?;
        let Some(events) = self.events.borrow().clone() else {
            return Err(fail("called outside a hook call"));
        };
        let (reply, answer) = sync_channel(1);
        if events.send(Event::Table { request, reply }).is_err() {
            self.tripped.set(Some(Trip::Cancelled));
            return Err(fail("the caller stopped waiting"));
        }
        let answer = match self.deadline.get() {
            Some(deadline) => {
                answer.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => answer.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match answer {
            Ok(Ok(value)) => Ok(value.to_string()),
            Ok(Err(error)) => Err(fail(&error.to_string())),
            Err(RecvTimeoutError::Timeout) => {
                self.tripped.set(Some(Trip::Time));
                Err(fail("no answer before the script's time limit"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.tripped.set(Some(Trip::Cancelled));
                Err(fail("the caller stopped waiting"))
            }
        }
    }
}

/// A compiled script, kept while the [`Script`] lives.
struct Compiled {
    script: Weak<ScriptInner>,
    function: Persistent<Function<'static>>,
}

/// What `prelude.js` returns.
struct Prelude {
    body_context: Persistent<Function<'static>>,
    function_args: Persistent<Function<'static>>,
    rejection: Persistent<Function<'static>>,
    object_prototype: Persistent<Object<'static>>,
}

/// A worker's runtime, context and compiled scripts. Fields drop in order: the persistent
/// values before the context, the context before the runtime.
struct Engine {
    /// Declared first: its atoms are freed before the runtime (fields drop in order).
    atoms: RefCell<Atoms>,
    compiled: HashMap<u64, Compiled>,
    prelude: Prelude,
    context: Context,
    runtime: Runtime,
    state: Rc<CallState>,
    config: Arc<PoolConfig>,
}

/// How one script run ended, short of a failure.
enum Step {
    Next,
    Return(serde_json::Value),
    Reject { status: u16, message: String },
}

impl Engine {
    fn new(config: Arc<PoolConfig>, state: Rc<CallState>) -> Result<Engine, String> {
        // QuickJS allocates through Rust's global allocator (the server's is mimalloc), not
        // straight from the C library's malloc.
        let runtime = Runtime::new_with_alloc(RustAllocator).map_err(|e| e.to_string())?;
        runtime.set_memory_limit(config.memory_limit);
        runtime.set_max_stack_size(config.stack_limit);
        let interrupt = state.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || interrupt.should_interrupt())));
        let context = Context::full(&runtime).map_err(|e| e.to_string())?;
        let prelude = context.with(|ctx| {
            install_prelude(&ctx, &state).map_err(|e| {
                let detail = if matches!(e, rquickjs::Error::Exception) {
                    format!(": {:?}", ctx.catch())
                } else {
                    String::new()
                };
                format!("cannot install the script prelude: {e}{detail}")
            })
        })?;
        Ok(Engine {
            atoms: RefCell::default(),
            compiled: HashMap::new(),
            prelude,
            context,
            runtime,
            state,
            config,
        })
    }

    /// `true` if, after garbage collection, the heap is still close to its limit: the next
    /// call would likely fail, so the runtime is rebuilt.
    fn memory_nearly_full(&self) -> bool {
        self.runtime.run_gc();
        let used = usize::try_from(self.runtime.memory_usage().malloc_size).unwrap_or(0);
        used > self.config.memory_limit / 10 * 9
    }

    fn compile_only(&mut self, script: &Script) -> Result<(), ScriptError> {
        let Engine {
            compiled,
            context,
            state,
            config,
            ..
        } = self;
        state.start(&script.inner.name, config);
        let result = context.with(|ctx| function(&ctx, compiled, state, config, script).map(drop));
        state.finish();
        result
    }

    /// Runs `scripts` on `values` (patched when the call continues or returns). The caller
    /// sets the call's channel, if any, and clears the state afterwards.
    fn call(
        &mut self,
        scripts: &[Script],
        values: &mut Lent,
        tables: bool,
    ) -> Result<CallOutput, ScriptError> {
        let Engine {
            atoms,
            compiled,
            prelude,
            context,
            state,
            config,
            ..
        } = self;
        state.tables.set(tables);
        context.with(|ctx| {
            let run = Run {
                ctx: &ctx,
                state,
                config,
                atoms,
                rejection: prelude
                    .rejection
                    .clone()
                    .restore(&ctx)
                    .map_err(|e| engine_error(scripts.first(), &e.to_string()))?,
                body_context: prelude
                    .body_context
                    .clone()
                    .restore(&ctx)
                    .map_err(|e| engine_error(scripts.first(), &e.to_string()))?,
                function_args: prelude
                    .function_args
                    .clone()
                    .restore(&ctx)
                    .map_err(|e| engine_error(scripts.first(), &e.to_string()))?,
                object_prototype: prelude
                    .object_prototype
                    .clone()
                    .restore(&ctx)
                    .map_err(|e| engine_error(scripts.first(), &e.to_string()))?,
            };
            run.chain(compiled, scripts, values)
        })
    }
}

fn engine_error(script: Option<&Script>, message: &str) -> ScriptError {
    ScriptError::Engine {
        script: script.map_or_else(|| Arc::from("<none>"), |s| s.inner.name.clone()),
        message: message.to_string(),
    }
}

fn install_prelude<'js>(ctx: &Ctx<'js>, state: &Rc<CallState>) -> rquickjs::Result<Prelude> {
    let mut options = EvalOptions::default();
    options.filename = Some("<hookline prelude>".into());
    let factory: Function = ctx.eval_with_options(PRELUDE, options)?;
    let host = Object::new(ctx.clone())?;
    let logs = state.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: i32, text: String| {
            logs.log(level, &text)
        })?,
    )?;
    let tables = state.clone();
    host.set(
        "table",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, method: String, table: String, args: String| {
                tables.table(&ctx, &method, &table, &args)
            },
        )?,
    )?;
    let helpers: Object = factory.call((host,))?;
    Ok(Prelude {
        body_context: Persistent::save(ctx, helpers.get::<_, Function>("bodyContext")?),
        function_args: Persistent::save(ctx, helpers.get::<_, Function>("functionArgs")?),
        rejection: Persistent::save(ctx, helpers.get::<_, Function>("rejection")?),
        object_prototype: Persistent::save(ctx, helpers.get::<_, Object>("objectPrototype")?),
    })
}

/// The compiled function of `script`, compiling it on first use.
fn function<'js>(
    ctx: &Ctx<'js>,
    compiled: &mut HashMap<u64, Compiled>,
    state: &CallState,
    config: &PoolConfig,
    script: &Script,
) -> Result<Function<'js>, ScriptError> {
    let inner = &script.inner;
    if let Some(found) = compiled.get(&inner.id) {
        return found
            .function
            .clone()
            .restore(ctx)
            .map_err(|e| engine_error(Some(script), &e.to_string()));
    }
    compiled.retain(|_, c| c.script.strong_count() > 0);
    let failed = |e: rquickjs::Error| compile_failure(ctx, e, inner, state, config);
    let function = match inner.style {
        Style::Function => {
            let module = Module::declare(ctx.clone(), inner.name.as_bytes(), inner.code.as_bytes())
                .map_err(failed)?;
            let (module, done) = module.eval().map_err(failed)?;
            match settle(ctx, done.into_value()).map_err(failed)? {
                Some(_) => {}
                None => return Err(unsettled(inner, state, config)),
            }
            let export: Value = module.get("default").map_err(failed)?;
            if !export.is_function() {
                let found = if export.is_undefined() {
                    "missing".to_string()
                } else {
                    describe(ctx, &export)
                };
                return Err(ScriptError::NoDefaultExport {
                    script: inner.name.clone(),
                    found,
                });
            }
            export.into_function()
        }
        Style::Body(_) => {
            let mut options = EvalOptions::default();
            options.filename = Some(inner.name.to_string());
            let value: Value = ctx
                .eval_with_options(inner.code.as_bytes(), options)
                .map_err(failed)?;
            value.into_function()
        }
    };
    let function = function
        .ok_or_else(|| engine_error(Some(script), "the script did not compile to a function"))?;
    compiled.insert(
        inner.id,
        Compiled {
            script: Arc::downgrade(inner),
            function: Persistent::save(ctx, function.clone()),
        },
    );
    Ok(function)
}

/// A compile-time failure: a syntax error with its position, or whatever the module's top level
/// did.
fn compile_failure<'js>(
    ctx: &Ctx<'js>,
    error: rquickjs::Error,
    script: &ScriptInner,
    state: &CallState,
    config: &PoolConfig,
) -> ScriptError {
    match failure(ctx, error, script, state, config, None) {
        Failure::Error(ScriptError::Thrown {
            message,
            location: Some(location),
            ..
        }) if message.starts_with("SyntaxError") => ScriptError::Syntax { location, message },
        Failure::Error(ScriptError::Thrown {
            script,
            message,
            location,
        }) if message.contains("could not load module") => ScriptError::Thrown {
            script,
            message: format!("{message} (scripts cannot import modules)"),
            location,
        },
        Failure::Error(error) => error,
        Failure::Reject { status, message } => ScriptError::Thrown {
            script: script.name.clone(),
            message: format!("HttpError {status} while loading: {message}"),
            location: None,
        },
    }
}

/// A script's run ended badly: a rejection (`@THROW4xx`) or an error.
enum Failure {
    Reject { status: u16, message: String },
    Error(ScriptError),
}

/// Classifies an error from QuickJS: a limit, a rejection, or an exception with its position.
fn failure<'js>(
    ctx: &Ctx<'js>,
    error: rquickjs::Error,
    script: &ScriptInner,
    state: &CallState,
    config: &PoolConfig,
    rejection: Option<&Function<'js>>,
) -> Failure {
    let name = script.name.clone();
    let exception = matches!(error, rquickjs::Error::Exception).then(|| ctx.catch());
    let stack = exception
        .as_ref()
        .and_then(|e| e.as_exception())
        .and_then(Exception::stack);
    let location = stack
        .as_deref()
        .and_then(|s| stack_location(s, &script.map));
    let limit = |limit: Limit, location: Option<Location>| {
        Failure::Error(ScriptError::LimitExceeded {
            script: name.clone(),
            limit,
            location,
        })
    };
    match state.tripped.get() {
        Some(Trip::Time) => return limit(Limit::Time(config.time_limit), location),
        // An offloaded run's result is dropped (see `call_inline`).
        Some(Trip::Cancelled | Trip::Offload) => {
            return Failure::Error(ScriptError::Cancelled { script: name });
        }
        None => {}
    }
    if matches!(error, rquickjs::Error::Allocation) {
        return limit(Limit::Memory(config.memory_limit), location);
    }
    let Some(value) = exception else {
        return Failure::Error(ScriptError::Engine {
            script: name,
            message: error.to_string(),
        });
    };
    if let Some(rejection) = rejection
        && let Ok(found) = rejection.call::<_, Value>((value.clone(),))
        && let Some(found) = found.as_array()
    {
        let status = found.get::<i32>(0).ok();
        let message = found.get::<String>(1).ok();
        if let (Some(status), Some(message)) = (status, message) {
            return Failure::Reject {
                status: u16::try_from(status).unwrap_or(500),
                message,
            };
        }
    }
    let Some(exception) = value.as_exception() else {
        return Failure::Error(ScriptError::Thrown {
            script: name,
            message: format!("the value {}", describe(ctx, &value)),
            location,
        });
    };
    let kind = exception
        .get::<_, Value>("name")
        .ok()
        .and_then(|n| n.as_string().and_then(|s| s.to_string().ok()))
        .unwrap_or_else(|| "Error".to_string());
    let message = exception.message().unwrap_or_default();
    match (kind.as_str(), message.as_str()) {
        ("InternalError", "out of memory") => limit(Limit::Memory(config.memory_limit), location),
        ("RangeError", "Maximum call stack size exceeded") => {
            limit(Limit::Stack(config.stack_limit), location)
        }
        _ => Failure::Error(ScriptError::Thrown {
            script: name,
            message: format!("{kind}: {message}"),
            location,
        }),
    }
}

fn unsettled(script: &ScriptInner, state: &CallState, config: &PoolConfig) -> ScriptError {
    match state.tripped.get() {
        Some(Trip::Time) => ScriptError::LimitExceeded {
            script: script.name.clone(),
            limit: Limit::Time(config.time_limit),
            location: None,
        },
        Some(Trip::Cancelled | Trip::Offload) => ScriptError::Cancelled {
            script: script.name.clone(),
        },
        None => ScriptError::Unsettled {
            script: script.name.clone(),
        },
    }
}

/// The innermost stack frame in the script's own file, mapped to its source position. Frames
/// read `    at name (file:line:column)` or `    at file:line:column`.
fn stack_location(stack: &str, map: &SourceMap) -> Option<Location> {
    stack.lines().find_map(|frame| {
        let frame = frame.trim().strip_prefix("at ")?;
        let position = match (frame.rfind('('), frame.strip_suffix(')')) {
            (Some(open), Some(inner)) => &inner[open + 1..],
            _ => frame,
        };
        let mut parts = position.rsplitn(3, ':');
        let column: u32 = parts.next()?.parse().ok()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        (file == &**map.file()).then(|| map.locate(line, column))
    })
}

/// Runs pending jobs until `value` (if a promise) settles. `Ok(None)`: it never will.
fn settle<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> rquickjs::Result<Option<Value<'js>>> {
    let Some(promise) = value.as_promise() else {
        return Ok(Some(value));
    };
    loop {
        if promise.state() != PromiseState::Pending {
            return match promise.result::<Value>() {
                Some(result) => result.map(Some),
                None => Ok(None),
            };
        }
        if !ctx.execute_pending_job() {
            return Ok(None);
        }
    }
}

/// A value for an error message: its JSON (shortened), or its type.
fn describe<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if value.is_undefined() {
        return "undefined".to_string();
    }
    if value.is_function() {
        return "a function".to_string();
    }
    match ctx.json_stringify(value.clone()) {
        Ok(Some(text)) => text
            .to_string()
            .map_or_else(|_| value.type_name().to_string(), shorten),
        Ok(None) => value.type_name().to_string(),
        Err(_) => {
            ctx.catch();
            value.type_name().to_string()
        }
    }
}

/// One call's scripts running in one context.
struct Run<'a, 'js> {
    ctx: &'a Ctx<'js>,
    state: &'a CallState,
    config: &'a PoolConfig,
    atoms: &'a RefCell<Atoms>,
    rejection: Function<'js>,
    body_context: Function<'js>,
    function_args: Function<'js>,
    object_prototype: Object<'js>,
}

/// What the scripts of a call share, made when the first script of a style needs it.
#[derive(Default)]
struct Prepared<'js> {
    /// `$ctx` of body-style scripts.
    body_context: Option<Value<'js>>,
    /// `tables` was added to the argument of function-style scripts.
    function_args: bool,
}

const FUNCTION_RESULT: &str = "{ ok: boolean, error?: string, status?: 400..599 }";

impl<'js> Run<'_, 'js> {
    fn fail(&self, error: rquickjs::Error, script: &ScriptInner) -> Failure {
        failure(
            self.ctx,
            error,
            script,
            self.state,
            self.config,
            Some(&self.rejection),
        )
    }

    fn chain(
        &self,
        compiled: &mut HashMap<u64, Compiled>,
        scripts: &[Script],
        source: &mut Lent,
    ) -> Result<CallOutput, ScriptError> {
        let ctx = self.ctx;
        let Some(first) = scripts.first() else {
            return Err(engine_error(None, "a call without scripts"));
        };
        self.state.start(&first.inner.name, self.config);
        let (values, built) = self
            .build(source)
            .map_err(|e| self.error(self.fail(e, &first.inner), &first.inner))?;
        let mut prepared = Prepared::default();
        let mut last = first;
        for script in scripts {
            last = script;
            let inner = &script.inner;
            self.state.start(&inner.name, self.config);
            let function = function(ctx, compiled, self.state, self.config, script)?;
            match self.step(inner, &function, &values, &mut prepared) {
                Ok(Step::Next) => {}
                Ok(Step::Return(value)) => {
                    self.finish(inner, &values, built.as_ref(), source)?;
                    return Ok(CallOutput::Return {
                        script: inner.name.clone(),
                        value,
                    });
                }
                Ok(Step::Reject { status, message }) | Err(Failure::Reject { status, message }) => {
                    self.drain(inner)?;
                    return Ok(CallOutput::Reject {
                        script: inner.name.clone(),
                        status,
                        message,
                    });
                }
                Err(Failure::Error(error)) => return Err(error),
            }
        }
        self.finish(&last.inner, &values, built.as_ref(), source)?;
        Ok(CallOutput::Continue)
    }

    /// A failure outside a script's own result handling becomes an error; a rejection there
    /// (which cannot happen outside a script run) is reported as a thrown error.
    fn error(&self, failure: Failure, script: &ScriptInner) -> ScriptError {
        match failure {
            Failure::Error(error) => error,
            Failure::Reject { status, message } => ScriptError::Thrown {
                script: script.name.clone(),
                message: format!("HttpError {status}: {message}"),
                location: None,
            },
        }
    }

    /// Runs one script on `values`.
    fn step(
        &self,
        script: &ScriptInner,
        function: &Function<'js>,
        values: &Value<'js>,
        prepared: &mut Prepared<'js>,
    ) -> Result<Step, Failure> {
        let ctx = self.ctx;
        match script.style {
            Style::Function => {
                if !prepared.function_args {
                    self.function_args
                        .call::<_, ()>((values.clone(),))
                        .map_err(|e| self.fail(e, script))?;
                    prepared.function_args = true;
                }
                let returned: Value = function
                    .call((values.clone(),))
                    .map_err(|e| self.fail(e, script))?;
                let Some(returned) = settle(ctx, returned).map_err(|e| self.fail(e, script))?
                else {
                    return Err(Failure::Error(unsettled(script, self.state, self.config)));
                };
                self.function_result(script, &returned)
                    .map_err(Failure::Error)
            }
            Style::Body(role) => {
                let context = match &prepared.body_context {
                    Some(context) => context.clone(),
                    None => {
                        let context: Value = self
                            .body_context
                            .call((values.clone(),))
                            .map_err(|e| self.fail(e, script))?;
                        prepared.body_context = Some(context.clone());
                        context
                    }
                };
                let returned: Value = function
                    .call((context,))
                    .map_err(|e| self.fail(e, script))?;
                let Some(returned) = settle(ctx, returned).map_err(|e| self.fail(e, script))?
                else {
                    return Err(Failure::Error(unsettled(script, self.state, self.config)));
                };
                if returned.is_undefined() {
                    return Ok(Step::Next);
                }
                match role {
                    Role::Pre => match self.json().convert(&returned) {
                        Ok(Some(value)) => Ok(Step::Return(value)),
                        Ok(None) => Err(Failure::Error(ScriptError::BadReturn {
                            script: script.name.clone(),
                            expected: "undefined (to continue) or a JSON value (to short-circuit)",
                            found: describe(ctx, &returned),
                        })),
                        Err(e) => Err(self.fail(e, script)),
                    },
                    Role::Post => {
                        let object = values.as_object().ok_or_else(|| {
                            Failure::Error(engine_error(
                                None,
                                "the context values are not an object",
                            ))
                        })?;
                        object
                            .set("data", returned)
                            .map_err(|e| self.fail(e, script))?;
                        Ok(Step::Next)
                    }
                }
            }
        }
    }

    /// Reads `{ ok, error?, status? }` (AdminForth's contract).
    fn function_result(
        &self,
        script: &ScriptInner,
        returned: &Value<'js>,
    ) -> Result<Step, ScriptError> {
        let bad = || ScriptError::BadReturn {
            script: script.name.clone(),
            expected: FUNCTION_RESULT,
            found: describe(self.ctx, returned),
        };
        let Some(object) = returned.as_object().filter(|_| !returned.is_array()) else {
            return Err(bad());
        };
        let field = |key: &str| object.get::<_, Value>(key).map_err(|_| bad());
        let Some(ok) = field("ok")?.as_bool() else {
            return Err(bad());
        };
        let error = field("error")?;
        let error = if error.is_undefined() || error.is_null() {
            None
        } else if let Some(text) = error.as_string() {
            Some(text.to_string().map_err(|_| bad())?).filter(|t| !t.is_empty())
        } else {
            return Err(bad());
        };
        let status = field("status")?;
        let status = if status.is_undefined() || status.is_null() {
            hookline::TapError::DEFAULT_REJECT_STATUS
        } else {
            match status.as_number() {
                Some(n) if n.fract() == 0.0 && (400.0..600.0).contains(&n) => n as u16,
                _ => return Err(bad()),
            }
        };
        Ok(match (ok, error) {
            (_, Some(message)) => Step::Reject { status, message },
            (false, None) => Step::Reject {
                status,
                message: "Operation aborted by hook".to_string(),
            },
            (true, None) => Step::Next,
        })
    }

    fn json(&self) -> ToJson<'_, 'js> {
        ToJson::new(self.ctx, &self.object_prototype, self.atoms)
    }

    /// Runs what the scripts left queued (un-awaited promises), within the last script's time
    /// limit.
    fn drain(&self, last: &ScriptInner) -> Result<(), ScriptError> {
        while self.ctx.execute_pending_job() {}
        match self.state.tripped.get() {
            Some(_) => Err(unsettled(last, self.state, self.config)),
            None => Ok(()),
        }
    }

    /// The JavaScript object of the lent values and records, and what the records were built
    /// with (for [`Run::finish`]).
    fn build(&self, source: &Lent) -> rquickjs::Result<(Value<'js>, Option<Built<'js>>)> {
        let object = convert::object(self.ctx, &source.values, 0, self.atoms)?;
        let built = match &source.records {
            Some((key, RecordsBack::Records(records))) => {
                let prototype = &self.object_prototype;
                raw::define_records(self.ctx, &object, key, records, self.atoms, prototype)?
            }
            _ => None,
        };
        Ok((object.into_value(), built))
    }

    /// Drains the job queue and patches `source`, the JSON the values were built from, with
    /// the scripts' changes. On an error `source` is left as it was.
    fn finish(
        &self,
        last: &ScriptInner,
        values: &Value<'js>,
        built: Option<&Built<'js>>,
        source: &mut Lent,
    ) -> Result<(), ScriptError> {
        self.drain(last)?;
        let json = self.json();
        let read = || -> rquickjs::Result<Option<_>> {
            let read = Read {
                skip: source.records.as_ref().map(|(key, _)| key.as_str()),
                only: source.taken_back.as_deref(),
            };
            let Some(changes) = json.diff_object(values, &source.values, read)? else {
                return Ok(None);
            };
            let records = match (&source.records, values.as_object()) {
                (Some((key, RecordsBack::Records(records))), Some(object)) => {
                    let value: Value = object.get(key.as_str())?;
                    Some(json.diff_records(&value, records, 1, built)?)
                }
                _ => None,
            };
            Ok(Some((changes, records)))
        };
        match read() {
            Ok(Some((changes, records))) => {
                changes.apply(&mut source.values);
                if let (Some(patch), Some((_, lent))) = (records, source.records.as_mut())
                    && let RecordsBack::Records(records) =
                        std::mem::replace(lent, RecordsBack::Replaced(None))
                {
                    *lent = patch.apply(records);
                }
                Ok(())
            }
            Ok(None) => Err(engine_error(
                None,
                "the context values are no longer an object",
            )),
            Err(e) => Err(self.error(self.fail(e, last), last)),
        }
    }
}
