//! What a tap returns and what a call reports: [`Flow`], [`TapError`], [`Origin`] and
//! [`Outcome`].
//!
//! Taps speak this small vocabulary; the dispatchers in [`crate::hook`], [`crate::around`],
//! [`crate::parallel`] and [`crate::pipeline`] turn it into results. Errors that leave a call are
//! [`HookError`](crate::HookError)s and live in [`crate::error`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::HookError;
use crate::error::BoxError;

/// What a tap tells the dispatcher to do next.
///
/// `O` is the type a tap may short-circuit with (`()` for hooks that only observe or mutate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow<O = ()> {
    /// Go on with the next tap (or the handler, in a pipeline).
    Continue,
    /// Stop here: the remaining taps are skipped and this value is the result. In a
    /// [`Pipeline`](crate::Pipeline) before-phase it replaces the handler's output.
    Return(O),
}

impl<O> Flow<O> {
    /// `true` for [`Flow::Continue`].
    pub fn is_continue(&self) -> bool {
        matches!(self, Flow::Continue)
    }

    /// The short-circuit value, if any.
    pub fn into_return(self) -> Option<O> {
        match self {
            Flow::Continue => None,
            Flow::Return(value) => Some(value),
        }
    }
}

/// The result type of every tap: go on, short-circuit, or fail.
pub type TapResult<O = ()> = Result<Flow<O>, TapError>;

/// Why a tap stopped the call.
///
/// The kinds are different on purpose:
/// - a **rejection** ([`TapError::reject`]) is a decision meant for the user, with a message and an
///   HTTP-style status (AdminForth's `{ ok: false, error }`, Enfyra's `@THROW4xx`);
/// - a **failure** ([`TapError::fail`], or any error converted by `?`) is a fault in the tap;
/// - a **timeout** ([`TapError::timed_out`]) means the tap ran out of a time limit it enforces
///   itself (a script's); it is reported like the engine's own [`Tap::timeout`](crate::Tap::timeout).
///
/// `TapError` converts from any `std::error::Error`, so `?` works inside taps. (It does not
/// implement `Error` itself, for the same reason `anyhow::Error` does not.)
pub struct TapError {
    /// Boxed so a `TapResult` stays two words and returns in registers on the hot path.
    pub(crate) repr: Box<TapErrorRepr>,
}

pub(crate) enum TapErrorRepr {
    Reject {
        status: u16,
        message: Cow<'static, str>,
    },
    Fail(BoxError),
    TimedOut(Duration),
}

impl TapError {
    /// The default status of a rejection: `422 Unprocessable Entity`.
    pub const DEFAULT_REJECT_STATUS: u16 = 422;

    /// A user-facing rejection with status 422; change it with [`TapError::with_status`].
    pub fn reject(message: impl Into<Cow<'static, str>>) -> Self {
        TapError {
            repr: Box::new(TapErrorRepr::Reject {
                status: Self::DEFAULT_REJECT_STATUS,
                message: message.into(),
            }),
        }
    }

    /// A failure of the tap itself (reported with status 500).
    pub fn fail(error: impl Into<BoxError>) -> Self {
        TapError {
            repr: Box::new(TapErrorRepr::Fail(error.into())),
        }
    }

    /// The tap enforced a time limit of its own (a script's, a remote call's) and ran out of it.
    /// Reported like an engine timeout: [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut),
    /// status 504.
    pub fn timed_out(limit: Duration) -> Self {
        TapError {
            repr: Box::new(TapErrorRepr::TimedOut(limit)),
        }
    }

    /// Sets the status of a rejection. A failure keeps status 500; calling this on one turns it
    /// into a rejection carrying the failure's message.
    pub fn with_status(self, status: u16) -> Self {
        let message = match *self.repr {
            TapErrorRepr::Reject { message, .. } => message,
            TapErrorRepr::Fail(error) => Cow::Owned(error.to_string()),
            TapErrorRepr::TimedOut(limit) => Cow::Owned(format!("timed out after {limit:?}")),
        };
        TapError {
            repr: Box::new(TapErrorRepr::Reject { status, message }),
        }
    }

    /// The status this error maps to: the rejection's status, or 500 for a failure.
    pub fn status(&self) -> u16 {
        match &*self.repr {
            TapErrorRepr::Reject { status, .. } => *status,
            TapErrorRepr::Fail(_) => 500,
            TapErrorRepr::TimedOut(_) => 504,
        }
    }

    /// `true` if this is a rejection rather than a failure.
    pub fn is_rejection(&self) -> bool {
        matches!(*self.repr, TapErrorRepr::Reject { .. })
    }
}

impl<E> From<E> for TapError
where
    E: Into<BoxError>,
{
    fn from(error: E) -> Self {
        TapError::fail(error)
    }
}

impl fmt::Debug for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            TapErrorRepr::Reject { status, message } => f
                .debug_struct("Reject")
                .field("status", status)
                .field("message", message)
                .finish(),
            TapErrorRepr::Fail(error) => f.debug_tuple("Fail").field(error).finish(),
            TapErrorRepr::TimedOut(limit) => f.debug_tuple("TimedOut").field(limit).finish(),
        }
    }
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            TapErrorRepr::Reject { message, .. } => f.write_str(message),
            TapErrorRepr::Fail(error) => fmt::Display::fmt(error, f),
            TapErrorRepr::TimedOut(limit) => write!(f, "timed out after {limit:?}"),
        }
    }
}

/// How a pipeline's or an around hook's output came to be.
///
/// After-taps receive it so that a cache hit or a short-circuit is never mistaken for a fresh
/// run (the NestJS/Pullstate lesson: hooks must know *how* a result came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The handler ran and produced the output (or the error).
    Handler,
    /// A tap returned the output before the handler ran.
    ShortCircuit {
        /// The name of the tap that short-circuited.
        tap: Arc<str>,
    },
    /// The output came from a cache; the handler did not run.
    Cache,
}

/// A successful call: the output, how it came, and any failures that were isolated on the way.
#[derive(Debug)]
#[must_use]
pub struct Outcome<O> {
    /// The output.
    pub output: O,
    /// How the output came to be.
    pub origin: Origin,
    /// Failures of taps that ran in isolation (`AfterFailures::Isolate`): recorded, not fatal.
    pub isolated: Vec<HookError>,
}

impl<O> Outcome<O> {
    /// Drops the report and keeps the output.
    pub fn into_output(self) -> O {
        self.output
    }
}
