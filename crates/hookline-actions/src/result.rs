//! What a call returns: [`ActionResult`] and [`ActionError`].
//!
//! Pullstate's `{ error, payload, message, tags }` object becomes a `Result`: the payload is an
//! `Arc<T>` (the cache, every observer and every caller share one value), and the error says
//! which of Pullstate's tags applies — the action returned an error (`RETURNED_ERROR`), it
//! panicked (`THREW_ERROR`), or, new in hookline, one of the action's hooks failed.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use hookline::HookError;

/// The result of an async action as the cache holds it and calls return it.
///
/// `Ok` holds the payload, shared; `Err` says why there is none. Error results of the action
/// itself ([`ActionError::Failed`], [`ActionError::Panicked`]) are cached like successes, as
/// Pullstate caches them: break them with a cache-break hook or a per-call
/// [`BreakPolicy`](crate::BreakPolicy) to retry.
pub type ActionResult<T, E> = Result<Arc<T>, ActionError<E>>;

/// Why an action call has no payload.
///
/// Cheap to clone: every variant holds its data behind an `Arc`, so the cache can hand the same
/// error to every caller and observer.
#[non_exhaustive]
pub enum ActionError<E> {
    /// The action returned `Err` (Pullstate's `RETURNED_ERROR`). Cached.
    Failed(Arc<E>),
    /// The action panicked; this is the panic message (Pullstate's `THREW_ERROR`). Cached, so
    /// the key is never left running: break the cache or clear it to run again.
    Panicked(Arc<str>),
    /// The action's task was cancelled before it finished — the Tokio runtime shut down. Not
    /// cached: the key is idle again and the next call runs the action.
    Cancelled,
    /// A hook of the action failed (a tap returned an error, panicked or timed out). The error
    /// names the hook and the tap. Never cached. When it is the post-action hook that failed,
    /// the result it was called with *is* cached: only this call reports the failure.
    Hook(Arc<HookError>),
}

impl<E> ActionError<E> {
    /// The action's own error, if it returned one.
    pub fn failure(&self) -> Option<&E> {
        match self {
            ActionError::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// The hook failure, if a hook failed.
    pub fn hook_error(&self) -> Option<&HookError> {
        match self {
            ActionError::Hook(error) => Some(error),
            _ => None,
        }
    }

    /// `true` if the action panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, ActionError::Panicked(_))
    }
}

impl<E> Clone for ActionError<E> {
    fn clone(&self) -> Self {
        match self {
            ActionError::Failed(error) => ActionError::Failed(error.clone()),
            ActionError::Panicked(message) => ActionError::Panicked(message.clone()),
            ActionError::Cancelled => ActionError::Cancelled,
            ActionError::Hook(error) => ActionError::Hook(error.clone()),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ActionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
            ActionError::Panicked(message) => f.debug_tuple("Panicked").field(message).finish(),
            ActionError::Cancelled => f.write_str("Cancelled"),
            ActionError::Hook(error) => f.debug_tuple("Hook").field(error).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ActionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Failed(error) => write!(f, "the action failed: {error}"),
            ActionError::Panicked(message) => write!(f, "the action panicked: {message}"),
            ActionError::Cancelled => f.write_str(
                "the action's task was cancelled before it finished (the Tokio runtime shut down)",
            ),
            ActionError::Hook(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ActionError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ActionError::Failed(error) => Some(&**error),
            ActionError::Hook(error) => Some(&**error),
            ActionError::Panicked(_) | ActionError::Cancelled => None,
        }
    }
}

/// The message of a caught panic, as an [`ActionError::Panicked`] carries it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    Arc::from(hookline::panic_message(payload))
}
