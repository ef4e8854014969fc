//! Running a call on the calling thread: each thread keeps one [`Engine`] per pool, with a
//! smaller stack and the pool's `inline_budget` as its time limit, and a call that needs a worker
//! (it called the data API, ran past the budget or the stack) is dropped there untouched and
//! handed to the queue. See [`PoolConfig`], "Where a call runs". The engine itself is in
//! [`engine`](super::engine); the worker threads are in [`worker`](super).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::error::{Limit, ScriptError};
use crate::lend::Lent;
use crate::pool::PoolConfig;
use crate::source::Script;

use super::CallOutput;
use super::engine::{Engine, guarded};
use super::state::{CallState, Mode, Trip};

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
                    let state = Rc::new(CallState::new(Mode::Inline));
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
