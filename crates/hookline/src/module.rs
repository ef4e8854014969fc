//! Modules (plugins): named bundles of taps with dependencies.
//!
//! Module order is installation order, as in Octo (where modules register their hooks in the
//! order they were imported, a parent before its children): a module can only be installed
//! after the modules it depends on, so installation order is a topological order of the
//! dependencies, and [`Modules::install_all`] keeps the given order, moving a module after its
//! dependencies only as far as needed. A module's taps are placed like any tap, in registration
//! order, so they follow the modules installed before; and within a stage, the
//! [ordering rule](crate::order) keeps every tap of a module after the taps of the modules it
//! depends on, even a `first()` one. Removing a module removes every tap it registered, on every
//! hook.
//!
//! While [`Module::register_hooks`] runs, every tap registered on its thread belongs to the
//! module, whether its options came from [`ModuleScope::tap`] or were a plain name.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::RegisterError;
use crate::registry::RemoveTaps;
use crate::tap::{ModuleRef, Tap, TapHandle};

/// A plugin: a name, the modules it depends on, and the taps it registers.
///
/// **Which taps are the module's.** Every tap registered on the installing thread while
/// [`register_hooks`](Module::register_hooks) runs belongs to the module: `hook.tap("log", f)`
/// there is the same as `hook.tap(scope.tap("log"), f)`. The module's taps follow its module
/// order and are removed with it by [`Modules::remove`]. Taps registered on another thread
/// (one the module spawns) or after `register_hooks` returned belong to the module only if
/// their options come from [`ModuleScope::tap`].
///
/// **Order.** Modules run in installation order, and a module's taps in the order it registered
/// them (Octo's "module order, then array order"): taps are placed in registration order, and a
/// module registers its taps when installed. A module is installed after the modules it depends
/// on, and within a stage its taps always run after theirs; [`Tap::first`] puts a tap in front
/// of every other tap of its stage (AdminForth's `unshift`) except those, and
/// [`Tap::stage`] is the way to run a module's tap earlier still. Taps without a module take
/// their place by registration like any other. [`Modules::rank`] gives each module's place in
/// installation order; `hook.explain()` shows it with the module's dependencies.
///
/// ```
/// use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError};
///
/// struct Audit { save: Hook<Vec<String>> }
/// impl Module for Audit {
///     fn name(&self) -> &str { "audit" }
///     fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
///         self.save.tap(scope.tap("log").first(), |log: &mut Vec<String>| {
///             log.push("audited".into());
///             Ok(Flow::Continue)
///         })?;
///         // A plain name makes a tap of the module too (inside `register_hooks` only).
///         self.save.tap("count", |_: &mut Vec<String>| Ok(Flow::Continue))?;
///         Ok(())
///     }
/// }
///
/// let save: Hook<Vec<String>> = Hook::new("save");
/// let modules = Modules::new();
/// modules.install(Audit { save: save.clone() })?;
/// let explain = save.explain();
/// let owners: Vec<_> = explain.taps().map(|t| (t.name(), t.module())).collect();
/// assert_eq!(owners, [("log", Some("audit")), ("count", Some("audit"))]);
/// modules.remove("audit")?;
/// assert!(save.is_empty());
/// # Ok::<(), RegisterError>(())
/// ```
pub trait Module: Send + Sync + 'static {
    /// The module's unique name.
    fn name(&self) -> &str;

    /// Names of the modules this one depends on; they must be installed first (or in the same
    /// [`Modules::install_all`]).
    fn depends_on(&self) -> Vec<String> {
        Vec::new()
    }

    /// Registers the module's taps. Every tap registered on this thread until it returns is
    /// owned by the module, its options built with [`ModuleScope::tap`] (to add `.first()`,
    /// `.stage(..)`, …) or a plain name. If this fails, the taps registered so far are removed
    /// again.
    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError>;
}

type Recorded = Vec<(Arc<dyn RemoveTaps>, TapHandle)>;

static NEXT_MODULE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The module whose `register_hooks` runs on this thread, if any: taps registered without a
    /// module are given to it.
    static INSTALLING: RefCell<Option<ModuleTag>> = const { RefCell::new(None) };
}

/// The module being installed on this thread, for a tap registered without one.
pub(crate) fn installing() -> Option<ModuleTag> {
    INSTALLING.with(|current| current.borrow().clone())
}

/// Makes `tag` the module being installed on this thread until dropped, then restores the
/// previous one (a module may install another from its `register_hooks`; a panic unwinds
/// through the drop too).
struct Installing(Option<ModuleTag>);

impl Installing {
    fn start(tag: &ModuleTag) -> Self {
        Installing(INSTALLING.with(|current| current.replace(Some(tag.clone()))))
    }
}

impl Drop for Installing {
    fn drop(&mut self) {
        let previous = self.0.take();
        INSTALLING.with(|current| *current.borrow_mut() = previous);
    }
}

/// Marks a [`Tap`] as owned by a module; carried inside the tap options.
#[derive(Clone)]
pub(crate) struct ModuleTag {
    pub(crate) module: ModuleRef,
    recorder: Arc<Mutex<Recorded>>,
}

impl ModuleTag {
    pub(crate) fn record(&self, registry: Arc<dyn RemoveTaps>, handle: TapHandle) {
        lock(&self.recorder).push((registry, handle));
    }
}

impl fmt::Debug for ModuleTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ModuleTag").field(&self.module).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a module registers through: hands out tap options owned by the module.
///
/// Inside [`Module::register_hooks`], `scope.tap("name")` and a plain `"name"` both make a tap
/// of the module (see [`Module`]); `scope.tap` is needed for options (`.first()`,
/// `.stage(..)`, …) — `Tap::named("name").first()` there is the module's too — and for taps
/// registered later or on another thread.
pub struct ModuleScope {
    tag: ModuleTag,
}

impl ModuleScope {
    /// Options for a tap owned by this module (then add `.first()`, `.stage(..)`, … as usual).
    /// They keep the module wherever they are used, on any thread, for as long as the module
    /// is installed.
    pub fn tap(&self, name: impl Into<std::borrow::Cow<'static, str>>) -> Tap {
        let mut tap = Tap::named(name);
        tap.module = Some(self.tag.clone());
        tap
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.tag.module.name
    }

    /// The module's rank: its place in installation order (see [`Modules::rank`]).
    pub fn rank(&self) -> u32 {
        self.tag.module.rank
    }
}

struct Installed {
    name: Arc<str>,
    depends_on: Vec<String>,
    id: u64,
    ancestors: Arc<[u64]>,
    taps: Arc<Mutex<Recorded>>,
}

/// The set of installed modules: orders them and removes their taps.
#[derive(Default)]
pub struct Modules {
    installed: Mutex<Vec<(Installed, u32)>>,
}

impl fmt::Debug for Modules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Modules {
    /// No modules.
    pub fn new() -> Self {
        Self::default()
    }

    /// The installed modules' names, in installation order.
    pub fn names(&self) -> Vec<String> {
        lock(&self.installed)
            .iter()
            .map(|(m, _)| m.name.to_string())
            .collect()
    }

    /// The rank of an installed module: its place in installation order. The first module
    /// installed has rank 0, and each module installed after it one more than the highest rank
    /// installed at that moment, so a module's rank is above those of its dependencies and of
    /// every module installed before it (a module removed and installed again comes last). The
    /// rank describes the order; the order itself comes from registration order and the
    /// dependencies (see [`Module`]).
    pub fn rank(&self, name: &str) -> Option<u32> {
        lock(&self.installed)
            .iter()
            .find(|(m, _)| &*m.name == name)
            .map(|(_, rank)| *rank)
    }

    /// Installs one module whose dependencies are installed already, and registers its taps:
    /// runs [`Module::register_hooks`], during which every tap registered on this thread is the
    /// module's.
    pub fn install(&self, module: impl Module) -> Result<(), RegisterError> {
        self.install_boxed(Box::new(module))
    }

    /// Installs several modules in the given order, except that a module goes after the modules
    /// it depends on (a stable topological order: each module moves only as far as its
    /// dependencies need). Stops at the first failure; modules installed before it stay
    /// installed.
    ///
    /// ```
    /// use hookline::{Module, ModuleScope, Modules, RegisterError};
    ///
    /// struct M(&'static str, &'static [&'static str]);
    /// impl Module for M {
    ///     fn name(&self) -> &str { self.0 }
    ///     fn depends_on(&self) -> Vec<String> { self.1.iter().map(|d| d.to_string()).collect() }
    ///     fn register_hooks(&self, _: &ModuleScope) -> Result<(), RegisterError> { Ok(()) }
    /// }
    ///
    /// let modules = Modules::new();
    /// modules.install_all([
    ///     Box::new(M("billing", &["core"])) as Box<dyn Module>,
    ///     Box::new(M("search", &[])),
    ///     Box::new(M("core", &[])),
    /// ])?;
    /// // billing waits for core; search keeps its place.
    /// assert_eq!(modules.names(), ["search", "core", "billing"]);
    /// assert_eq!(modules.rank("billing"), Some(2));
    /// # Ok::<(), RegisterError>(())
    /// ```
    pub fn install_all(
        &self,
        modules: impl IntoIterator<Item = Box<dyn Module>>,
    ) -> Result<(), RegisterError> {
        let mut pending: Vec<Box<dyn Module>> = modules.into_iter().collect();
        while !pending.is_empty() {
            let installed = self.names();
            let ready = pending.iter().position(|m| {
                m.depends_on().iter().all(|d| {
                    installed.contains(d) || !pending.iter().any(|p| p.name() == d.as_str())
                })
            });
            let Some(i) = ready else {
                let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
                return Err(RegisterError::Module(format!(
                    "module dependency cycle among: {}",
                    names.join(", ")
                )));
            };
            self.install_boxed(pending.remove(i))?;
        }
        Ok(())
    }

    fn install_boxed(&self, module: Box<dyn Module>) -> Result<(), RegisterError> {
        let name: Arc<str> = Arc::from(module.name());
        let depends_on = module.depends_on();
        let (rank, ancestors) = {
            let installed = lock(&self.installed);
            if installed.iter().any(|(m, _)| m.name == name) {
                return Err(RegisterError::Module(format!(
                    "module `{name}` is already installed"
                )));
            }
            let mut ancestors: Vec<u64> = Vec::new();
            for dep in &depends_on {
                let Some((m, _)) = installed.iter().find(|(m, _)| &*m.name == dep) else {
                    return Err(RegisterError::Module(format!(
                        "module `{name}` depends on `{dep}`, which is not installed"
                    )));
                };
                ancestors.push(m.id);
                ancestors.extend(m.ancestors.iter().copied());
            }
            ancestors.sort_unstable();
            ancestors.dedup();
            let rank = installed
                .iter()
                .map(|(_, rank)| rank + 1)
                .max()
                .unwrap_or(0);
            (rank, Arc::<[u64]>::from(ancestors))
        };
        let id = NEXT_MODULE_ID.fetch_add(1, Ordering::Relaxed);
        let taps = Arc::new(Mutex::new(Vec::new()));
        let scope = ModuleScope {
            tag: ModuleTag {
                module: ModuleRef {
                    name: name.clone(),
                    rank,
                    id,
                    ancestors: ancestors.clone(),
                    depends_on: depends_on.iter().map(|d| Arc::from(d.as_str())).collect(),
                },
                recorder: taps.clone(),
            },
        };
        let registered = {
            let _installing = Installing::start(&scope.tag);
            module.register_hooks(&scope)
        };
        if let Err(error) = registered {
            remove_recorded(&taps).map_err(|cleanup| {
                RegisterError::Module(format!(
                    "module `{name}` failed to register ({error}) and its taps could not be removed ({cleanup})"
                ))
            })?;
            return Err(error);
        }
        lock(&self.installed).push((
            Installed {
                name,
                depends_on,
                id,
                ancestors,
                taps,
            },
            rank,
        ));
        Ok(())
    }

    /// Removes a module and every tap it registered. Fails, changing nothing, if an installed
    /// module depends on it.
    pub fn remove(&self, name: &str) -> Result<(), RegisterError> {
        let mut installed = lock(&self.installed);
        let Some(i) = installed.iter().position(|(m, _)| &*m.name == name) else {
            return Err(RegisterError::Module(format!(
                "module `{name}` is not installed"
            )));
        };
        let dependents: Vec<&str> = installed
            .iter()
            .filter(|(m, _)| m.depends_on.iter().any(|d| d == name))
            .map(|(m, _)| &*m.name)
            .collect();
        if !dependents.is_empty() {
            return Err(RegisterError::Module(format!(
                "module `{name}` cannot be removed: {} depend(s) on it",
                dependents.join(", ")
            )));
        }
        remove_recorded(&installed[i].0.taps)?;
        installed.remove(i);
        Ok(())
    }
}

/// Removes recorded taps, grouped per hook so each hook changes once. Every hook is checked
/// first, so a refusal on one hook leaves the taps on all hooks in place.
fn remove_recorded(taps: &Mutex<Recorded>) -> Result<(), RegisterError> {
    let mut taps = lock(taps);
    let mut groups: Vec<(Arc<dyn RemoveTaps>, Vec<TapHandle>)> = Vec::new();
    for (registry, handle) in taps.iter() {
        match groups.iter_mut().find(|(r, _)| Arc::ptr_eq(r, registry)) {
            Some((_, handles)) => handles.push(*handle),
            None => groups.push((registry.clone(), vec![*handle])),
        }
    }
    for (registry, handles) in &groups {
        registry.check_removal(handles)?;
    }
    for (registry, handles) in &groups {
        registry.remove_taps(handles)?;
    }
    taps.clear();
    Ok(())
}
