//! Errors: [`HookError`] for a call that failed, [`RegisterError`] for a registration that was
//! refused.
//!
//! A `HookError` always names the hook, the tap (name, module, registration site) when a tap is
//! to blame, the [`Phase`], and whether data was already [committed](HookError::committed) — the
//! facts a person needs to find the failing code without a debugger.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::flow::{TapError, TapErrorRepr};
use crate::tap::TapInfo;

/// A boxed error, as taps may return through `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where in a call an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// A tap of a plain hook (series, bail, waterfall, parallel or around).
    Call,
    /// A before-tap of a pipeline.
    Before,
    /// A pipeline's handler, or the function wrapped by an around hook.
    Handler,
    /// An after-tap of a pipeline.
    After,
    /// Ordering a transaction's diffs into dependency levels: nothing ran yet.
    Plan,
    /// A pre-action hook of a transaction (model or resource action).
    PreAction,
    /// A transaction action itself.
    Action,
    /// A post-action hook of a transaction.
    PostAction,
    /// A pre-commit hook of a transaction: nothing was committed.
    PreCommit,
    /// The commit of a transaction.
    Commit,
    /// A post-commit hook of a transaction: the data is committed.
    PostCommit,
}

impl Phase {
    /// The phase's name as shown in messages (`"before"`, `"after"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Call => "call",
            Phase::Before => "before",
            Phase::Handler => "handler",
            Phase::After => "after",
            Phase::Plan => "plan",
            Phase::PreAction => "pre-action",
            Phase::Action => "action",
            Phase::PostAction => "post-action",
            Phase::PreCommit => "pre-commit",
            Phase::Commit => "commit",
            Phase::PostCommit => "post-commit",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, without the where.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A tap rejected the call with a user-facing message.
    Rejected {
        /// The HTTP-style status the tap chose (422 unless it said otherwise).
        status: u16,
        /// The message for the user.
        message: Cow<'static, str>,
    },
    /// A tap or handler failed with an error.
    Failed(BoxError),
    /// A tap panicked; the panic was caught and this is its message.
    Panicked(String),
    /// An async tap did not finish within its timeout.
    TimedOut(Duration),
    /// An around tap returned without calling `next` although the hook requires it.
    NextNotCalled,
}

/// A call that failed, with everything needed to find out where and why.
///
/// ```
/// use hookline::{Hook, Flow, TapError, Phase};
/// # futures_util::FutureExt::now_or_never(async {
/// let hook: Hook<u32> = Hook::new("check");
/// hook.tap("limit", |n: &mut u32| {
///     if *n > 10 { return Err(TapError::reject("too large").with_status(400)); }
///     Ok(Flow::Continue)
/// })?;
/// let err = hook.call(&mut 11).await.unwrap_err();
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.phase(), Phase::Call);
/// assert_eq!(err.tap().unwrap().name(), "limit");
/// assert!(err.to_string().contains("hook `check`, tap `limit`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub struct HookError(Box<Inner>);

/// Boxed so that `Result<_, HookError>` stays small on the hot path of every call.
struct Inner {
    hook: Arc<str>,
    tap: Option<Arc<TapInfo>>,
    action: Option<Arc<str>>,
    phase: Phase,
    kind: ErrorKind,
    committed: bool,
    suppressed: Vec<HookError>,
}

impl HookError {
    /// Builds an error for `hook` in `phase`. Integrations (the data and action layers) use this
    /// for errors of their own; taps return [`TapError`] instead.
    pub fn new(hook: impl Into<Arc<str>>, phase: Phase, kind: ErrorKind) -> Self {
        HookError(Box::new(Inner {
            hook: hook.into(),
            tap: None,
            action: None,
            phase,
            kind,
            committed: false,
            suppressed: Vec::new(),
        }))
    }

    pub(crate) fn from_tap(
        hook: &Arc<str>,
        tap: Option<&Arc<TapInfo>>,
        phase: Phase,
        error: TapError,
    ) -> Self {
        match *error.repr {
            TapErrorRepr::Fail(boxed) => match boxed.downcast::<HookError>() {
                // A tap passed on an error from a nested hook (e.g. `next` of an around hook):
                // keep its original location.
                Ok(inner) => *inner,
                Err(boxed) => {
                    let mut error = HookError::new(hook.clone(), phase, ErrorKind::Failed(boxed));
                    error.0.tap = tap.cloned();
                    error
                }
            },
            TapErrorRepr::TimedOut(limit) => {
                let mut error = HookError::new(hook.clone(), phase, ErrorKind::TimedOut(limit));
                error.0.tap = tap.cloned();
                error
            }
            TapErrorRepr::Reject { status, message } => {
                let mut error =
                    HookError::new(hook.clone(), phase, ErrorKind::Rejected { status, message });
                error.0.tap = tap.cloned();
                error
            }
        }
    }

    pub(crate) fn with_tap(mut self, tap: &Arc<TapInfo>) -> Self {
        self.0.tap = Some(tap.clone());
        self
    }

    /// The name of the hook the error happened in.
    pub fn hook(&self) -> &str {
        &self.0.hook
    }

    /// The tap to blame, if a tap (not a handler) failed.
    pub fn tap(&self) -> Option<&TapInfo> {
        self.0.tap.as_deref()
    }

    /// The transaction action the failing hook or action is bound to (see
    /// [`transaction`](crate::transaction)), if any.
    pub fn action(&self) -> Option<&str> {
        self.0.action.as_deref()
    }

    /// Names the transaction action the error belongs to. Integrations that run actions of their
    /// own use this so their errors name the action like the engine's do.
    pub fn with_action(mut self, action: impl Into<Arc<str>>) -> Self {
        self.0.action = Some(action.into());
        self
    }

    /// The phase of the call.
    pub fn phase(&self) -> Phase {
        self.0.phase
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Takes the error apart to get at what went wrong, e.g. to downcast an integration's own
    /// typed error out of [`ErrorKind::Failed`].
    pub fn into_kind(self) -> ErrorKind {
        self.0.kind
    }

    /// The error an integration's own code failed with, by value: `Ok` if this is a
    /// [`ErrorKind::Failed`] whose source is an `E`, else the error itself, unchanged.
    ///
    /// ```
    /// use hookline::{ErrorKind, HookError, Phase};
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("version conflict")]
    /// struct Conflict;
    ///
    /// let error = HookError::new("write", Phase::Action, ErrorKind::Failed(Box::new(Conflict)));
    /// assert!(matches!(error.downcast::<Conflict>(), Ok(Conflict)));
    /// let error = HookError::new("write", Phase::Action, ErrorKind::NextNotCalled);
    /// assert!(error.downcast::<Conflict>().is_err());
    /// ```
    pub fn downcast<E: std::error::Error + Send + Sync + 'static>(self) -> Result<E, HookError> {
        let mut inner = *self.0;
        match inner.kind {
            ErrorKind::Failed(source) => match source.downcast::<E>() {
                Ok(typed) => Ok(*typed),
                Err(source) => {
                    inner.kind = ErrorKind::Failed(source);
                    Err(HookError(Box::new(inner)))
                }
            },
            kind => {
                inner.kind = kind;
                Err(HookError(Box::new(inner)))
            }
        }
    }

    /// `true` if the data was already committed when this error happened: the write stands
    /// although the call reports an error (AdminForth's `afterSave`, Octo's post-commit hooks).
    pub fn committed(&self) -> bool {
        self.0.committed
    }

    /// Marks the error as happening after (`true`) or before a commit.
    pub fn set_committed(mut self, committed: bool) -> Self {
        self.0.committed = committed;
        self
    }

    /// Failures that happened while this error was being handled (after-taps that ran on the
    /// error path and failed themselves). They are reported here rather than dropped.
    pub fn suppressed(&self) -> &[HookError] {
        &self.0.suppressed
    }

    pub(crate) fn push_suppressed(&mut self, error: HookError) {
        self.0.suppressed.push(error);
    }

    /// The HTTP-style status: a rejection's own status, 504 for a timeout, 500 otherwise.
    pub fn status(&self) -> u16 {
        match &self.0.kind {
            ErrorKind::Rejected { status, .. } => *status,
            ErrorKind::TimedOut(_) => 504,
            _ => 500,
        }
    }

    /// `true` if a tap rejected the call (a decision, not a fault).
    pub fn is_rejection(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Rejected { .. })
    }

    /// The message meant for an end user: a rejection's message, or a generic text for faults
    /// (whose details belong in logs, not in responses).
    pub fn user_message(&self) -> &str {
        match &self.0.kind {
            ErrorKind::Rejected { message, .. } => message,
            ErrorKind::TimedOut(_) => "a hook timed out",
            _ => "internal error in a hook",
        }
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hook `{}`", self.0.hook)?;
        if let Some(tap) = &self.0.tap {
            write!(f, ", tap `{}`", tap.name())?;
            if let Some(module) = tap.module() {
                write!(f, " of module `{module}`")?;
            }
            write!(f, " (registered at {})", tap.site())?;
        }
        if let Some(action) = &self.0.action {
            write!(f, ", action `{action}`")?;
        }
        write!(f, ", {} phase", self.0.phase)?;
        if self.0.committed {
            f.write_str(", after commit")?;
        }
        f.write_str(": ")?;
        match &self.0.kind {
            ErrorKind::Rejected { status, message } => write!(f, "rejected ({status}): {message}"),
            ErrorKind::Failed(error) => write!(f, "failed: {error}"),
            ErrorKind::Panicked(message) => write!(f, "panicked: {message}"),
            ErrorKind::TimedOut(limit) => write!(f, "timed out after {limit:?}"),
            ErrorKind::NextNotCalled => f.write_str("returned without calling `next`"),
        }
    }
}

/// Shows everything [`Display`](fmt::Display) shows — hook, tap, the tap's module and
/// registration site, action, phase, committed, what went wrong — so `unwrap`, `expect` and a
/// `main` returning `Result` point at the tap's code too.
impl fmt::Debug for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tap = self.0.tap.as_deref();
        let mut s = f.debug_struct("HookError");
        s.field("hook", &self.0.hook)
            .field("tap", &tap.map(TapInfo::name))
            .field("module", &tap.and_then(TapInfo::module))
            .field("registered_at", &tap.map(TapInfo::site))
            .field("action", &self.0.action)
            .field("phase", &self.0.phase)
            .field("kind", &self.0.kind)
            .field("committed", &self.0.committed);
        if !self.0.suppressed.is_empty() {
            s.field("suppressed", &self.0.suppressed);
        }
        s.finish()
    }
}

impl std::error::Error for HookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Failed(error) => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A registration that was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A tap with this name already exists under the same module, and the new tap did not ask to
    /// [`replace`](crate::Tap::replace) it.
    #[error(
        "hook `{hook}`: a tap named `{name}`{} is already registered at {existing}; use `Tap::replace()` to replace it",
        module_suffix(.module)
    )]
    Duplicate {
        /// The hook.
        hook: String,
        /// The tap name.
        name: String,
        /// The module both taps belong to.
        module: Option<String>,
        /// Where the existing tap was registered.
        existing: String,
    },
    /// A `before`/`after` constraint names a tap that is not registered on this hook.
    #[error(
        "hook `{hook}`: tap `{tap}` must run {relation} `{reference}`, but no tap of that name is registered"
    )]
    UnknownTap {
        /// The hook.
        hook: String,
        /// The tap with the constraint.
        tap: String,
        /// `"before"` or `"after"`.
        relation: &'static str,
        /// The name it refers to.
        reference: String,
    },
    /// `before`/`after` constraints form a cycle.
    #[error("hook `{hook}`: ordering constraints form a cycle: {}", .taps.join(" -> "))]
    Cycle {
        /// The hook.
        hook: String,
        /// The taps on the cycle, in order, the first repeated at the end.
        taps: Vec<String>,
    },
    /// `before`/`after` constraints contradict the module order: they would put a tap before a
    /// tap, at the same stage, of a module its own module depends on (see [`crate::Module`]).
    #[error(
        "hook `{hook}`: ordering constraints contradict the module order: {} (module `{module}` depends on `{dependency}`, so its taps run after those of `{dependency}` at the same stage); drop the constraint, or give the tap another stage",
        .taps.join(" -> ")
    )]
    ModuleOrder {
        /// The hook.
        hook: String,
        /// The taps on the cycle, as `module/name` (or `name` without a module), in order, the
        /// first repeated at the end.
        taps: Vec<String>,
        /// The module whose tap would have to run too early.
        module: String,
        /// The module it depends on.
        dependency: String,
    },
    /// A tap cannot be removed because other taps name it in their constraints.
    #[error("hook `{hook}`: tap `{tap}` cannot be removed: {} must run before or after it", .referenced_by.join(", "))]
    Referenced {
        /// The hook.
        hook: String,
        /// The tap that was to be removed.
        tap: String,
        /// The taps whose constraints name it.
        referenced_by: Vec<String>,
    },
    /// The handle belongs to another hook, or its tap was already removed.
    #[error(
        "hook `{hook}`: no tap with this handle (already removed, or registered on another hook)"
    )]
    UnknownHandle {
        /// The hook.
        hook: String,
    },
    /// A timeout was set on a synchronous tap, which cannot be interrupted.
    #[error(
        "hook `{hook}`: tap `{tap}` is synchronous and cannot have a timeout; register it as an async tap"
    )]
    SyncTimeout {
        /// The hook.
        hook: String,
        /// The tap.
        tap: String,
    },
    /// A transaction hook was bound to an action id that is not registered as an action of the
    /// expected kind (see [`transaction`](crate::transaction)).
    #[error(
        "transaction `{transaction}`: no {expected} action `{action}` is registered{}; register the action before binding hooks to it",
        found_suffix(.found)
    )]
    UnknownAction {
        /// The transaction engine's name.
        transaction: String,
        /// The action id the hook was bound to.
        action: String,
        /// The kind of action the hook list is for: `"model"` or `"resource"`.
        expected: &'static str,
        /// The kind of the action registered under that id, if it is the other kind.
        found: Option<&'static str>,
    },
    /// An action id was registered twice in one transaction engine.
    #[error(
        "transaction `{transaction}`: an action with id `{action}` is already registered; action ids must be unique"
    )]
    DuplicateAction {
        /// The transaction engine's name.
        transaction: String,
        /// The action id.
        action: String,
    },
    /// A module problem: unknown dependency, dependency cycle, duplicate module, or removal of a
    /// module others depend on.
    #[error("{0}")]
    Module(String),
}

fn found_suffix(found: &Option<&'static str>) -> String {
    found
        .map(|kind| format!(" (that id is a {kind} action)"))
        .unwrap_or_default()
}

fn module_suffix(module: &Option<String>) -> String {
    module
        .as_ref()
        .map(|m| format!(" of module `{m}`"))
        .unwrap_or_default()
}
