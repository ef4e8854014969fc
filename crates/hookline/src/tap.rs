//! Describing a tap: [`Tap`] (the options a caller gives), [`TapInfo`] (what the engine records,
//! including the registration site), [`TapHandle`] (what registration returns, for removal).
//!
//! The ordering rules that use these fields live in [`crate::order`].

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::module::ModuleTag;

/// Where a tap goes among the taps of its stage (as far as module order allows: see
/// [`Module`](crate::Module)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Placement {
    /// Before every tap placed so far (AdminForth's `unshift`): the last `first()` runs first.
    First,
    /// After every tap placed so far (`push`); the default.
    #[default]
    Last,
}

/// Options for a new tap: its name and where it goes.
///
/// A `&str` or `String` converts into a `Tap` with default options, so `hook.tap("name", f)`
/// works; use the builder for the rest:
///
/// ```
/// use hookline::Tap;
/// use std::time::Duration;
/// let tap = Tap::named("approval").first().stage(-10).before("audit").timeout(Duration::from_secs(2));
/// assert_eq!(tap.name(), "approval");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Tap {
    pub(crate) name: Cow<'static, str>,
    pub(crate) stage: i32,
    pub(crate) placement: Placement,
    pub(crate) before: Vec<Cow<'static, str>>,
    pub(crate) after: Vec<Cow<'static, str>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) replace: bool,
    pub(crate) module: Option<ModuleTag>,
    pub(crate) site: Option<Site>,
}

impl Tap {
    /// A tap with this name, stage 0, placed last, no constraints, no timeout.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Tap {
            name: name.into(),
            stage: 0,
            placement: Placement::Last,
            before: Vec::new(),
            after: Vec::new(),
            timeout: None,
            replace: false,
            module: None,
            site: None,
        }
    }

    /// The tap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the stage: lower stages run first (Enfyra's `priority`, tapable's `stage`). Default 0.
    pub fn stage(mut self, stage: i32) -> Self {
        self.stage = stage;
        self
    }

    /// Places the tap before all taps placed so far in its stage (`unshift`) — except the taps
    /// of modules its own module depends on, which it still follows.
    pub fn first(mut self) -> Self {
        self.placement = Placement::First;
        self
    }

    /// Places the tap after all taps placed so far in its stage (`push`, the default).
    pub fn last(mut self) -> Self {
        self.placement = Placement::Last;
        self
    }

    /// This tap must run before the tap(s) named `name`. `name` is a tap name, or
    /// `"module/name"` to pick the tap of one module. The named tap must already be registered.
    pub fn before(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.before.push(name.into());
        self
    }

    /// This tap must run after the tap(s) named `name` (see [`Tap::before`]).
    pub fn after(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.after.push(name.into());
        self
    }

    /// Fails the call with a timeout error if this (async) tap takes longer. Timeouts need a
    /// Tokio runtime; synchronous taps cannot be interrupted and refuse a timeout.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Records `file:line` as where the tap was registered (in `explain()`, errors and logs)
    /// instead of the Rust caller: for taps declared outside Rust code, such as a script
    /// named in a config file.
    ///
    /// ```
    /// use hookline::{Flow, Hook, Tap};
    /// let hook: Hook<u32> = Hook::new("demo");
    /// hook.tap(Tap::named("from-config").declared_at("hookline.toml", 12), |_| Ok(Flow::Continue))?;
    /// assert!(hook.explain().to_string().contains("at hookline.toml:12"));
    /// # Ok::<(), hookline::RegisterError>(())
    /// ```
    pub fn declared_at(mut self, file: impl Into<Arc<str>>, line: u32) -> Self {
        self.site = Some(Site(Place::Declared {
            file: file.into(),
            line,
        }));
        self
    }

    /// Replaces a tap of the same name and module instead of refusing the registration. The
    /// replacement takes the new options and position.
    pub fn replace(mut self) -> Self {
        self.replace = true;
        self
    }
}

impl From<&'static str> for Tap {
    fn from(name: &'static str) -> Self {
        Tap::named(name)
    }
}

impl From<String> for Tap {
    fn from(name: String) -> Self {
        Tap::named(name)
    }
}

/// Where a tap was registered: the Rust caller's file and line, or where it was declared
/// ([`Tap::declared_at`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Site(Place);

#[derive(Clone, PartialEq, Eq)]
enum Place {
    Code(&'static Location<'static>),
    Declared { file: Arc<str>, line: u32 },
}

impl Site {
    /// The site of the function's caller (through `#[track_caller]` chains).
    #[track_caller]
    pub fn caller() -> Self {
        Site(Place::Code(Location::caller()))
    }

    /// The file: a Rust source file, or the file the tap was declared in.
    pub fn file(&self) -> &str {
        match &self.0 {
            Place::Code(location) => location.file(),
            Place::Declared { file, .. } => file,
        }
    }

    /// The line.
    pub fn line(&self) -> u32 {
        match &self.0 {
            Place::Code(location) => location.line(),
            Place::Declared { line, .. } => *line,
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file(), self.line())
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether a tap's handler is synchronous or returns a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// Called inline; never allocates.
    Sync,
    /// Returns a boxed future.
    Async,
}

/// The module a tap belongs to: its name, its place in the installation order, and what it
/// depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleRef {
    pub(crate) name: Arc<str>,
    /// The module's place in installation order (see [`Modules::rank`](crate::Modules::rank)).
    pub(crate) rank: u32,
    /// Unique per installation, across every `Modules`, so two sets of modules never mix.
    pub(crate) id: u64,
    /// The ids of every module this one depends on, directly or not: their taps run before this
    /// module's taps of the same stage.
    pub(crate) ancestors: Arc<[u64]>,
    /// The names of the modules this one depends on directly, as the module declared them.
    pub(crate) depends_on: Arc<[Arc<str>]>,
}

/// Everything the engine knows about a registered tap. Shown by
/// [`explain`](crate::Hook::explain) and carried by [`HookError`](crate::HookError).
#[derive(Debug, Clone)]
pub struct TapInfo {
    pub(crate) name: Arc<str>,
    pub(crate) module: Option<ModuleRef>,
    pub(crate) stage: i32,
    pub(crate) placement: Placement,
    pub(crate) seq: i64,
    pub(crate) before: Vec<Cow<'static, str>>,
    pub(crate) after: Vec<Cow<'static, str>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) kind: TapKind,
    pub(crate) site: Site,
}

impl TapInfo {
    /// The tap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The module that registered the tap, if any.
    pub fn module(&self) -> Option<&str> {
        self.module.as_ref().map(|m| &*m.name)
    }

    /// The module's rank: its place in installation order (see
    /// [`Modules::rank`](crate::Modules::rank)); 0 for taps without a module.
    pub fn module_rank(&self) -> u32 {
        self.module.as_ref().map_or(0, |m| m.rank)
    }

    /// The modules the tap's module depends on directly (empty for taps without a module).
    /// Within a stage, the tap runs after the taps of these modules and of theirs.
    pub fn module_depends_on(&self) -> impl Iterator<Item = &str> {
        self.module
            .iter()
            .flat_map(|m| m.depends_on.iter().map(|d| &**d))
    }

    /// `true` if `other` belongs to a module this tap's module depends on (directly or not), so
    /// that, at the same stage, `other` must run first.
    pub(crate) fn follows_module_of(&self, other: &TapInfo) -> bool {
        match (&self.module, &other.module) {
            (Some(mine), Some(theirs)) => mine.ancestors.contains(&theirs.id),
            _ => false,
        }
    }

    /// The stage.
    pub fn stage(&self) -> i32 {
        self.stage
    }

    /// How the tap was placed.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The placement sequence number: negative and decreasing for `first()`, positive and
    /// increasing for `last()`.
    pub fn sequence(&self) -> i64 {
        self.seq
    }

    /// The names this tap must run before.
    pub fn before(&self) -> impl Iterator<Item = &str> {
        self.before.iter().map(|s| &**s)
    }

    /// The names this tap must run after.
    pub fn after(&self) -> impl Iterator<Item = &str> {
        self.after.iter().map(|s| &**s)
    }

    /// The timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sync or async.
    pub fn kind(&self) -> TapKind {
        self.kind
    }

    /// Where the tap was registered.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// `true` if `reference` (`"name"` or `"module/name"`) names this tap.
    pub(crate) fn matches(&self, reference: &str) -> bool {
        match reference.split_once('/') {
            Some((module, name)) => self.module() == Some(module) && &*self.name == name,
            None => &*self.name == reference,
        }
    }
}

/// Proof of a registration, used to [remove](crate::Hook::remove) the tap again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TapHandle {
    pub(crate) hook: u64,
    pub(crate) tap: u64,
}
