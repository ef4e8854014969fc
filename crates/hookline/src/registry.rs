//! The tap list behind every hook kind: registration, removal, ordering, and the immutable
//! snapshot that calls read.
//!
//! Writers (register, remove, intercept) take a mutex, compute the new order and publish a new
//! snapshot; readers load the current snapshot without locking and never sort or allocate. A call
//! that is running keeps the snapshot it started with, so removal during dispatch is safe.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::error::RegisterError;
use crate::explain::Explain;
use crate::intercept::Interceptor;
use crate::local::{self, Local};
use crate::order::order;
use crate::tap::{ModuleRef, Placement, Site, Tap, TapHandle, TapInfo, TapKind};

static NEXT_HOOK_ID: AtomicU64 = AtomicU64::new(1);

/// One tap in a published snapshot.
pub(crate) struct Slot<H> {
    pub(crate) handler: H,
    pub(crate) info: Arc<TapInfo>,
}

/// The ordered, immutable view that calls read.
pub(crate) struct Snapshot<H> {
    pub(crate) taps: Box<[Slot<H>]>,
    /// `None` when no interceptor is installed: the call path then skips timing entirely.
    pub(crate) interceptors: Option<Box<[Arc<dyn Interceptor>]>>,
}

struct Entry<H> {
    id: u64,
    info: Arc<TapInfo>,
    handler: H,
}

struct State<H> {
    entries: Vec<Entry<H>>,
    next_first: i64,
    next_last: i64,
    next_id: u64,
    interceptors: Vec<Arc<dyn Interceptor>>,
}

/// A registration request, as the typed hook front-ends pass it down.
pub(crate) struct Registration<H> {
    pub(crate) tap: Tap,
    pub(crate) kind: TapKind,
    pub(crate) site: Site,
    pub(crate) handler: H,
}

pub(crate) struct Registry<H> {
    pub(crate) name: Arc<str>,
    id: u64,
    state: Mutex<State<H>>,
    snapshot: ArcSwap<Snapshot<H>>,
}

impl<H: Clone + Send + Sync + 'static> Registry<H> {
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        Registry {
            name: Arc::from(&*name),
            id: NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                entries: Vec::new(),
                next_first: 0,
                next_last: 0,
                next_id: 1,
                interceptors: Vec::new(),
            }),
            snapshot: ArcSwap::from_pointee(Snapshot {
                taps: Box::new([]),
                interceptors: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<H>> {
        // A panic while holding the lock cannot leave the state half-written: every change is
        // computed on the side and swapped in at the end.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn register(
        self: &Arc<Self>,
        reg: Registration<H>,
    ) -> Result<TapHandle, RegisterError> {
        let Registration {
            mut tap,
            kind,
            site,
            handler,
        } = reg;
        // A tap without a module, registered while a module's `register_hooks` runs on this
        // thread, is that module's (see `Module`).
        let site = tap.site.take().unwrap_or(site);
        let owner = tap.module.take().or_else(crate::module::installing);
        let module: Option<ModuleRef> = owner.as_ref().map(|o| o.module.clone());
        if tap.timeout.is_some() && kind == TapKind::Sync {
            return Err(RegisterError::SyncTimeout {
                hook: self.name.to_string(),
                tap: tap.name.to_string(),
            });
        }
        let mut state = self.lock();
        let module_name = module.as_ref().map(|m| &*m.name);
        let existing = state
            .entries
            .iter()
            .position(|e| *e.info.name == *tap.name && e.info.module() == module_name);
        if let (Some(i), false) = (existing, tap.replace) {
            return Err(RegisterError::Duplicate {
                hook: self.name.to_string(),
                name: tap.name.to_string(),
                module: module_name.map(str::to_owned),
                existing: state.entries[i].info.site.to_string(),
            });
        }
        let seq = match tap.placement {
            Placement::First => state.next_first - 1,
            Placement::Last => state.next_last + 1,
        };
        let info = Arc::new(TapInfo {
            name: Arc::from(&*tap.name),
            module,
            stage: tap.stage,
            placement: tap.placement,
            seq,
            before: tap.before,
            after: tap.after,
            timeout: tap.timeout,
            kind,
            site,
        });
        let id = state.next_id;
        let mut entries: Vec<(u64, Arc<TapInfo>, H)> = state
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != existing)
            .map(|(_, e)| (e.id, e.info.clone(), e.handler.clone()))
            .collect();
        entries.push((id, info.clone(), handler));
        let infos: Vec<Arc<TapInfo>> = entries.iter().map(|e| e.1.clone()).collect();
        let positions = order(&self.name, &infos)?;

        match tap.placement {
            Placement::First => state.next_first = seq,
            Placement::Last => state.next_last = seq,
        }
        state.next_id += 1;
        state.entries = entries
            .into_iter()
            .map(|(id, info, handler)| Entry { id, info, handler })
            .collect();
        self.publish(&state, &positions);
        for interceptor in &state.interceptors {
            interceptor.register(&self.name, &info);
        }
        let handle = TapHandle {
            hook: self.id,
            tap: id,
        };
        if let Some(owner) = owner {
            owner.record(self.clone(), handle);
        }
        Ok(handle)
    }

    pub(crate) fn remove(&self, handle: TapHandle) -> Result<(), RegisterError> {
        self.remove_all(&[handle])
    }

    /// Removes several taps at once (a module's), or none if any cannot go.
    pub(crate) fn remove_all(&self, handles: &[TapHandle]) -> Result<(), RegisterError> {
        let mut state = self.lock();
        let (keep, positions) = self.plan_removal(&state, handles)?;
        let mut i = 0;
        state.entries.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        self.publish(&state, &positions);
        Ok(())
    }

    /// Checks that `handles` could be removed now, changing nothing.
    pub(crate) fn check_removal(&self, handles: &[TapHandle]) -> Result<(), RegisterError> {
        self.plan_removal(&self.lock(), handles).map(|_| ())
    }

    /// Which entries stay, and their order, if `handles` go. Refuses unknown handles and a
    /// removal that would leave another tap's `before`/`after` constraint dangling.
    fn plan_removal(
        &self,
        state: &State<H>,
        handles: &[TapHandle],
    ) -> Result<(Vec<bool>, Vec<usize>), RegisterError> {
        let mut keep = vec![true; state.entries.len()];
        for handle in handles {
            let i = state
                .entries
                .iter()
                .position(|e| e.id == handle.tap)
                .filter(|_| handle.hook == self.id)
                .ok_or_else(|| RegisterError::UnknownHandle {
                    hook: self.name.to_string(),
                })?;
            keep[i] = false;
        }
        let infos: Vec<Arc<TapInfo>> = state
            .entries
            .iter()
            .zip(&keep)
            .filter(|(_, keep)| **keep)
            .map(|(e, _)| e.info.clone())
            .collect();
        let positions = order(&self.name, &infos).map_err(|error| match error {
            RegisterError::UnknownTap {
                hook,
                tap,
                reference,
                ..
            } => RegisterError::Referenced {
                hook,
                tap: reference,
                referenced_by: vec![tap],
            },
            other => other,
        })?;
        Ok((keep, positions))
    }

    pub(crate) fn intercept(&self, interceptor: Arc<dyn Interceptor>) {
        let mut state = self.lock();
        for entry in &state.entries {
            interceptor.register(&self.name, &entry.info);
        }
        state.interceptors.push(interceptor);
        let current = self.load_full();
        self.snapshot.store(Arc::new(Snapshot {
            taps: current
                .taps
                .iter()
                .map(|s| Slot {
                    handler: s.handler.clone(),
                    info: s.info.clone(),
                })
                .collect(),
            interceptors: Some(state.interceptors.iter().cloned().collect()),
        }));
        local::invalidate();
    }

    fn publish(&self, state: &State<H>, positions: &[usize]) {
        let taps = positions
            .iter()
            .map(|&i| Slot {
                handler: state.entries[i].handler.clone(),
                info: state.entries[i].info.clone(),
            })
            .collect();
        let interceptors =
            (!state.interceptors.is_empty()).then(|| state.interceptors.iter().cloned().collect());
        self.snapshot
            .store(Arc::new(Snapshot { taps, interceptors }));
        local::invalidate();
    }
}

impl<H: Send + Sync + 'static> Registry<H> {
    /// The current snapshot for one call, from this thread's snapshot cache: no atomic
    /// read-modify-write while the hook is unchanged (see [`crate::local`]).
    #[inline]
    pub(crate) fn load_local(&self) -> Local<Snapshot<H>> {
        local::load(self.id, || self.snapshot.load_full())
    }
}

/// A snapshot held by a call across `.await`: borrowed through the hook's `ArcSwap` (whose
/// bookkeeping is per thread, so concurrent calls do not contend on the snapshot's reference
/// count), or owned when the hook has changed since the call started.
pub(crate) enum Held<H> {
    Borrowed(arc_swap::Guard<Arc<Snapshot<H>>>),
    Owned(Arc<Snapshot<H>>),
}

impl<H> std::ops::Deref for Held<H> {
    type Target = Snapshot<H>;

    #[inline]
    fn deref(&self) -> &Snapshot<H> {
        match self {
            Held::Borrowed(guard) => guard,
            Held::Owned(snapshot) => snapshot,
        }
    }
}

impl<H: Send + Sync + 'static> Registry<H> {
    /// `local`, made fit to be held across `.await`: the same snapshot, whatever was
    /// registered since `local` was loaded.
    pub(crate) fn hold(&self, local: &Local<Snapshot<H>>) -> Held<H> {
        let guard = self.snapshot.load();
        if std::ptr::eq(Arc::as_ptr(&guard), &**local) {
            Held::Borrowed(guard)
        } else {
            Held::Owned(local.to_arc())
        }
    }
}

impl<H> Drop for Registry<H> {
    /// Lets threads drop their cached snapshots of this hook, and with them its taps.
    fn drop(&mut self) {
        local::invalidate();
    }
}

impl<H> Registry<H> {
    /// The current snapshot, borrowed from the hook itself (for inspection: length, explain).
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Snapshot<H>>> {
        self.snapshot.load()
    }

    /// The current snapshot, owned, for a call that awaits.
    #[inline]
    pub(crate) fn load_full(&self) -> Arc<Snapshot<H>> {
        self.snapshot.load_full()
    }

    pub(crate) fn len(&self) -> usize {
        self.load().taps.len()
    }

    pub(crate) fn explain(&self) -> Explain {
        let snapshot = self.load();
        Explain::new(
            self.name.to_string(),
            snapshot.taps.iter().map(|s| s.info.clone()).collect(),
        )
    }
}

/// Type-erased removal, so a module can remove its taps from hooks of any context type.
pub(crate) trait RemoveTaps: Send + Sync {
    fn check_removal(&self, handles: &[TapHandle]) -> Result<(), RegisterError>;
    fn remove_taps(&self, handles: &[TapHandle]) -> Result<(), RegisterError>;
}

impl<H: Clone + Send + Sync + 'static> RemoveTaps for Registry<H> {
    fn check_removal(&self, handles: &[TapHandle]) -> Result<(), RegisterError> {
        Registry::check_removal(self, handles)
    }

    fn remove_taps(&self, handles: &[TapHandle]) -> Result<(), RegisterError> {
        self.remove_all(handles)
    }
}

/// The methods every hook kind shares: they touch only its tap list (`self.reg`). With
/// `with_clone_and_debug`, also `Clone` and `Debug` for kinds that hold nothing else.
macro_rules! common_methods {
    ($hook:ident, with_clone_and_debug) => {
        impl<C, O> Clone for $hook<C, O> {
            fn clone(&self) -> Self {
                $hook {
                    reg: self.reg.clone(),
                }
            }
        }

        impl<C, O> std::fmt::Debug for $hook<C, O> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($hook))
                    .field("name", &self.reg.name)
                    .field("taps", &self.reg.len())
                    .finish()
            }
        }

        $crate::registry::common_methods!($hook);
    };
    ($hook:ident) => {
        impl<C: 'static, O: 'static> $hook<C, O> {
            /// The hook's name, as shown in errors, traces and [`explain`](Self::explain).
            pub fn name(&self) -> &str {
                &self.reg.name
            }

            /// Unregisters a tap. Calls already running finish with the tap list they started
            /// with; calls that start after `remove` returns never run the tap. Fails, changing
            /// nothing, if the handle is not this hook's or if another tap's `before`/`after`
            /// constraint names this one.
            ///
            /// The tap's closure (and what it captured) is dropped once no running call holds
            /// it and every thread that called the hook before the removal has made another
            /// hook call (of any hook) or ended: calls read the tap list from a per-thread
            /// cache, which a thread refreshes on its next call after any hook changed.
            pub fn remove(&self, handle: $crate::TapHandle) -> Result<(), $crate::RegisterError> {
                self.reg.remove(handle)
            }

            /// Installs an interceptor that sees every tap call of this hook.
            pub fn intercept(&self, interceptor: std::sync::Arc<dyn $crate::Interceptor>) {
                self.reg.intercept(interceptor)
            }

            /// The effective order of the taps, with their options and registration sites.
            pub fn explain(&self) -> $crate::Explain {
                self.reg.explain()
            }

            /// The number of taps.
            pub fn len(&self) -> usize {
                self.reg.len()
            }

            /// `true` if no tap is registered (the owner may skip building an expensive
            /// context).
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }
    };
}
pub(crate) use common_methods;
