//! A runtime, its context and the scripts compiled in it: made with the pool's limits and the
//! prelude installed ([`Engine::new`]), a script compiled on first use and kept while the
//! [`Script`] lives, and [`guarded`], which decides when a failed or panicked engine is
//! rebuilt. How the parts are freed (in an order raw QuickJS calls rely on) is
//! [`Quickjs`]'s. Running the scripts of a call is [`run`](super::run)'s.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Arc, Weak};

use rquickjs::allocator::RustAllocator;
use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Module, Persistent, Runtime, Value};

use crate::error::{Limit, ScriptError};
use crate::lend::Lent;
use crate::pool::PoolConfig;
use crate::raw::{Parts, Quickjs};
use crate::source::{Script, ScriptInner, Style};

use super::CallOutput;
use super::failure::{compile_failure, describe, engine_error, unsettled};
use super::prelude::{Prelude, install_prelude};
use super::run::{Run, settle};
use super::state::CallState;

/// A compiled script, kept while the [`Script`] lives.
pub(super) struct Compiled {
    script: Weak<ScriptInner>,
    function: Persistent<Function<'static>>,
}

/// What an engine keeps in its context across calls: freed before the context and runtime
/// (see [`Quickjs`]).
struct Kept {
    compiled: HashMap<u64, Compiled>,
    prelude: Prelude,
}

/// A runtime, its context and compiled scripts, with the limits of `config` and the state its
/// interrupt handler and host functions read.
pub(super) struct Engine {
    quickjs: Quickjs<Kept>,
    pub(super) state: Rc<CallState>,
    config: Arc<PoolConfig>,
}

impl Engine {
    pub(super) fn new(config: Arc<PoolConfig>, state: Rc<CallState>) -> Result<Engine, String> {
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
        let kept = Kept {
            compiled: HashMap::new(),
            prelude,
        };
        Ok(Engine {
            quickjs: Quickjs::new(runtime, context, kept),
            state,
            config,
        })
    }

    /// `true` if, after garbage collection, the heap is still close to its limit: the next
    /// call would likely fail, so the runtime is rebuilt.
    fn memory_nearly_full(&self) -> bool {
        let runtime = self.quickjs.runtime();
        runtime.run_gc();
        let used = usize::try_from(runtime.memory_usage().malloc_size).unwrap_or(0);
        used > self.config.memory_limit / 10 * 9
    }

    pub(super) fn compile_only(&mut self, script: &Script) -> Result<(), ScriptError> {
        let Engine {
            quickjs,
            state,
            config,
        } = self;
        let Parts {
            kept: Kept { compiled, .. },
            context,
            ..
        } = quickjs.parts();
        state.start(&script.inner.name, config);
        let result = context.with(|ctx| function(&ctx, compiled, state, config, script).map(drop));
        state.finish();
        result
    }

    /// Runs `scripts` on `values` (patched when the call continues or returns). The caller
    /// sets the call's channel, if any, and clears the state afterwards.
    pub(super) fn call(
        &mut self,
        scripts: &[Script],
        values: &mut Lent,
        tables: bool,
    ) -> Result<CallOutput, ScriptError> {
        let Engine {
            quickjs,
            state,
            config,
        } = self;
        let Parts {
            kept: Kept { compiled, prelude },
            atoms,
            context,
        } = quickjs.parts();
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

/// Runs `f`, turning a panic into an engine error. Returns the result and whether the runtime
/// must be rebuilt.
pub(super) fn guarded<T>(
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

/// The compiled function of `script`, compiling it on first use.
pub(super) fn function<'js>(
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
