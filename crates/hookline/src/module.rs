//! Modules (plugins): named bundles of taps with dependencies.
//!
//! A module's rank is its depth in the dependency graph (0 without dependencies, else one more
//! than its deepest dependency). Rank sits between stage and placement in the
//! [ordering rule](crate::order), so a module's taps run after those of the modules it depends
//! on, and modules of equal rank keep registration order (Octo's hierarchy). Removing a module
//! removes every tap it registered, on every hook.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::RegisterError;
use crate::registry::RemoveTaps;
use crate::tap::{ModuleRef, Tap, TapHandle};

/// A plugin: a name, the modules it depends on, and the taps it registers.
///
/// ```
/// use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError};
///
/// struct Audit { save: Hook<Vec<String>> }
/// impl Module for Audit {
///     fn name(&self) -> &str { "audit" }
///     fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
///         self.save.tap(scope.tap("log"), |log: &mut Vec<String>| {
///             log.push("audited".into());
///             Ok(Flow::Continue)
///         })?;
///         Ok(())
///     }
/// }
///
/// let save: Hook<Vec<String>> = Hook::new("save");
/// let modules = Modules::new();
/// modules.install(Audit { save: save.clone() })?;
/// assert_eq!(save.explain().taps().next().unwrap().module(), Some("audit"));
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

    /// Registers the module's taps. Use [`ModuleScope::tap`] for every tap's options so the tap
    /// is owned by the module. If this fails, the taps registered so far are removed again.
    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError>;
}

type Recorded = Vec<(Arc<dyn RemoveTaps>, TapHandle)>;

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
pub struct ModuleScope {
    tag: ModuleTag,
}

impl ModuleScope {
    /// Options for a tap owned by this module (then add `.first()`, `.stage(..)`, … as usual).
    pub fn tap(&self, name: impl Into<std::borrow::Cow<'static, str>>) -> Tap {
        let mut tap = Tap::named(name);
        tap.module = Some(self.tag.clone());
        tap
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.tag.module.name
    }

    /// The module's rank in the hierarchy.
    pub fn rank(&self) -> u32 {
        self.tag.module.rank
    }
}

struct Installed {
    name: Arc<str>,
    depends_on: Vec<String>,
    taps: Arc<Mutex<Recorded>>,
}

/// The set of installed modules: ranks them and removes their taps.
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

    /// The rank of an installed module.
    pub fn rank(&self, name: &str) -> Option<u32> {
        lock(&self.installed)
            .iter()
            .find(|(m, _)| &*m.name == name)
            .map(|(_, rank)| *rank)
    }

    /// Installs one module whose dependencies are installed already, and registers its taps.
    pub fn install(&self, module: impl Module) -> Result<(), RegisterError> {
        self.install_boxed(Box::new(module))
    }

    /// Installs several modules, in dependency order (dependencies first; otherwise the given
    /// order). Stops at the first failure; modules installed before it stay installed.
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
        let rank = {
            let installed = lock(&self.installed);
            if installed.iter().any(|(m, _)| m.name == name) {
                return Err(RegisterError::Module(format!(
                    "module `{name}` is already installed"
                )));
            }
            let mut rank = 0;
            for dep in &depends_on {
                let Some((_, dep_rank)) = installed.iter().find(|(m, _)| &*m.name == dep) else {
                    return Err(RegisterError::Module(format!(
                        "module `{name}` depends on `{dep}`, which is not installed"
                    )));
                };
                rank = rank.max(dep_rank + 1);
            }
            rank
        };
        let taps = Arc::new(Mutex::new(Vec::new()));
        let scope = ModuleScope {
            tag: ModuleTag {
                module: ModuleRef {
                    name: name.clone(),
                    rank,
                },
                recorder: taps.clone(),
            },
        };
        if let Err(error) = module.register_hooks(&scope) {
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
