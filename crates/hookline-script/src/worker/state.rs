//! The state of the running call, shared by the thread that runs it, the runtime's interrupt
//! handler and the host functions: the deadline, why the interrupt handler stopped a script,
//! where the call runs (a worker or the calling thread), the channel to the calling task, and
//! the scripts' `console` lines (logged at once on a worker, held back on the calling thread).
//! What reads it lives elsewhere: the data API in [`data_api`](super::data_api), error mapping
//! in [`failure`](super::failure).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::pool::PoolConfig;

use super::Event;

/// Why the interrupt handler stopped a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trip {
    Time,
    Cancelled,
    /// A run on the calling thread must move to a worker: it called the data API, which only
    /// a worker can wait for.
    Offload,
}

/// Where a call runs: on a pool worker, or on the calling thread first (see
/// [`call_inline`](super::call_inline)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Mode {
    #[default]
    Worker,
    Inline,
}

/// The state of the running call, shared by the worker, the interrupt handler and the host
/// functions.
#[derive(Default)]
pub(super) struct CallState {
    pub(super) mode: Mode,
    pub(super) deadline: Cell<Option<Instant>>,
    pub(super) tripped: Cell<Option<Trip>>,
    pub(super) events: RefCell<Option<mpsc::UnboundedSender<Event>>>,
    pub(super) tables: Cell<bool>,
    script: RefCell<Option<Arc<str>>>,
    /// Console lines of a run on the calling thread, logged once the run is kept (a run moved
    /// to a worker logs them there).
    held_logs: RefCell<Vec<(Arc<str>, i32, String)>>,
}

impl CallState {
    /// The state of calls run in `mode`, between calls.
    pub(super) fn new(mode: Mode) -> CallState {
        CallState {
            mode,
            ..CallState::default()
        }
    }

    /// Called by QuickJS every few thousand operations: `true` stops the script.
    pub(super) fn should_interrupt(&self) -> bool {
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
    pub(super) fn start(&self, script: &Arc<str>, config: &PoolConfig) {
        let limit = match self.mode {
            Mode::Worker => config.time_limit,
            Mode::Inline => config.inline_budget.min(config.time_limit),
        };
        self.deadline.set(Some(Instant::now() + limit));
        self.tripped.set(None);
        *self.script.borrow_mut() = Some(script.clone());
    }

    pub(super) fn finish(&self) {
        self.deadline.set(None);
        self.tripped.set(None);
        *self.events.borrow_mut() = None;
        self.tables.set(false);
        *self.script.borrow_mut() = None;
        self.held_logs.borrow_mut().clear();
    }

    /// `host.log(level, text)`: a `tracing` event naming the script; held back on the calling
    /// thread until the run is kept.
    pub(super) fn log(&self, level: i32, text: &str) {
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
    pub(super) fn release_logs(&self) {
        for (script, level, text) in self.held_logs.borrow_mut().drain(..) {
            emit(&script, level, &text);
        }
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
