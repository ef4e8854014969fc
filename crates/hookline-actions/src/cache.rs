//! The cache of one action in one instance: an entry per key with the cached state, the
//! ordinal of the run allowed to write it, the cache-break streak, and the observers' channel.
//!
//! Every operation takes the lock briefly and never across an `.await`; the call algorithms
//! (which await hooks and runs between these steps) live in [`crate::calls`]. Ordinals and
//! versions come from one counter per cache, so an entry that is removed and created again can
//! never mistake an old run or an old read for a current one.

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline::HookError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::delayed::DelayControl;
use crate::result::ActionResult;
use crate::state::ActionState;

/// After this many consecutive cache breaks of a key, further breaks are refused.
pub(crate) const BREAK_LOOP_LIMIT: u8 = 3;

/// The key of some arguments: borrowed from them (the whole arguments) or computed (a subset
/// key).
pub(crate) enum KeyRef<'a, K> {
    Borrowed(&'a K),
    Owned(K),
}

impl<K> Deref for KeyRef<'_, K> {
    type Target = K;

    fn deref(&self) -> &K {
        match self {
            KeyRef::Borrowed(key) => key,
            KeyRef::Owned(key) => key,
        }
    }
}

/// A key, borrowed: the (subset) key of the arguments, or a custom key.
pub(crate) enum Slot<'a, K> {
    Args(KeyRef<'a, K>),
    Custom(&'a Arc<str>),
}

impl<K: Clone> Slot<'_, K> {
    pub(crate) fn to_owned(&self) -> OwnedSlot<K> {
        match self {
            Slot::Args(key) => OwnedSlot::Args(K::clone(key)),
            Slot::Custom(key) => OwnedSlot::Custom(Arc::clone(key)),
        }
    }
}

/// A key, owned by a run in flight so that it can find its entry when it finishes.
pub(crate) enum OwnedSlot<K> {
    Args(K),
    Custom(Arc<str>),
}

impl<K: Clone> OwnedSlot<K> {
    pub(crate) fn as_slot(&self) -> Slot<'_, K> {
        match self {
            OwnedSlot::Args(key) => Slot::Args(KeyRef::Borrowed(key)),
            OwnedSlot::Custom(key) => Slot::Custom(key),
        }
    }
}

/// A finished cached result, as a call found it.
pub(crate) struct Hit<T, E> {
    pub(crate) result: ActionResult<T, E>,
    pub(crate) time_cached: Instant,
    /// The entry's version when read: a cache break applies only if it is unchanged.
    pub(crate) version: u64,
}

/// What a call finds under a key.
pub(crate) enum Probe<T, E> {
    /// A finished result.
    Hit(Hit<T, E>),
    /// A run in flight and nothing finished: a receiver to wait on.
    Running(watch::Receiver<ActionState<T, E>>),
    /// Nothing started.
    Idle,
}

/// What became of a cache break.
pub(crate) enum Broke {
    /// The result was dropped.
    Broken,
    /// The entry changed since it was read; look again.
    Changed,
    /// The loop guard refused: the result stays.
    Guarded,
}

struct Entry<T, E> {
    state: ActionState<T, E>,
    /// Created on first subscription and dropped when the last receiver is gone, so entries
    /// nobody observes cost no channel.
    observers: Option<watch::Sender<ActionState<T, E>>>,
    /// The ordinal of the newest start or clear: only the run holding it may write.
    ord: u64,
    /// The ordinal of the run in flight, if any.
    running: Option<u64>,
    /// Stamped on every change of the cached result.
    version: u64,
    /// Consecutive cache breaks.
    breaks: u8,
}

impl<T, E> Default for Entry<T, E> {
    fn default() -> Self {
        Entry {
            state: ActionState::default(),
            observers: None,
            ord: 0,
            running: None,
            version: 0,
            breaks: 0,
        }
    }
}

impl<T, E> Entry<T, E> {
    fn publish(&mut self) {
        if let Some(observers) = &self.observers {
            if observers.receiver_count() == 0 {
                self.observers = None;
            } else {
                observers.send_replace(self.state.clone());
            }
        }
    }

    fn subscribe(&mut self) -> watch::Receiver<ActionState<T, E>> {
        match &self.observers {
            Some(observers) => observers.subscribe(),
            None => {
                let observers = watch::Sender::new(self.state.clone());
                let rx = observers.subscribe();
                self.observers = Some(observers);
                rx
            }
        }
    }

    fn watched(&self) -> bool {
        self.observers
            .as_ref()
            .is_some_and(|observers| observers.receiver_count() > 0)
    }

    fn write(&mut self, result: ActionResult<T, E>, version: u64) {
        self.state.started = true;
        self.state.finished = true;
        self.state.updating = false;
        self.state.result = Some(result);
        self.state.time_cached = Some(Instant::now());
        self.state.hook_error = None;
        self.version = version;
    }

    fn clear(&mut self, stamp: u64) {
        self.state = ActionState::default();
        self.ord = stamp;
        self.running = None;
        self.version = stamp;
        self.breaks = 0;
        self.publish();
    }
}

struct Maps<K, T, E> {
    by_args: HashMap<K, Entry<T, E>>,
    by_custom: HashMap<Arc<str>, Entry<T, E>>,
}

impl<K: Hash + Eq + Clone, T, E> Maps<K, T, E> {
    fn get(&mut self, slot: &Slot<'_, K>) -> Option<&mut Entry<T, E>> {
        match slot {
            Slot::Args(key) => self.by_args.get_mut(&**key),
            Slot::Custom(key) => self.by_custom.get_mut(*key),
        }
    }

    fn get_or_insert(&mut self, slot: &Slot<'_, K>) -> &mut Entry<T, E> {
        match slot {
            Slot::Args(key) => self.by_args.entry(K::clone(key)).or_default(),
            Slot::Custom(key) => self.by_custom.entry(Arc::clone(key)).or_default(),
        }
    }

    fn remove(&mut self, slot: &Slot<'_, K>) {
        match slot {
            Slot::Args(key) => self.by_args.remove(&**key),
            Slot::Custom(key) => self.by_custom.remove(*key),
        };
    }

    fn retain(&mut self, mut keep: impl FnMut(&mut Entry<T, E>) -> bool) {
        self.by_args.retain(|_, entry| keep(entry));
        self.by_custom.retain(|_, entry| keep(entry));
    }

    fn len(&self) -> usize {
        self.by_args.len() + self.by_custom.len()
    }
}

struct Entries<K, T, E> {
    maps: Maps<K, T, E>,
    stamps: u64,
}

fn next(stamps: &mut u64) -> u64 {
    *stamps += 1;
    *stamps
}

fn start<T, E>(entry: &mut Entry<T, E>, stamps: &mut u64, treat_as_update: bool) -> u64 {
    let ord = next(stamps);
    entry.ord = ord;
    entry.running = Some(ord);
    entry.state.started = true;
    entry.state.hook_error = None;
    if treat_as_update && entry.state.finished {
        entry.state.updating = true;
    } else {
        entry.state.finished = false;
        entry.state.updating = false;
        entry.state.result = None;
        entry.state.time_cached = None;
        entry.version = next(stamps);
    }
    entry.publish();
    ord
}

/// The cache of one action in one [`Instance`](crate::Instance).
pub(crate) struct ActionCache<K, T, E> {
    entries: Mutex<Entries<K, T, E>>,
    /// The pending delayed run that a new `delayed_run` cancels.
    pub(crate) delayed: Mutex<Option<Arc<DelayControl>>>,
}

impl<K, T, E> Default for ActionCache<K, T, E> {
    fn default() -> Self {
        ActionCache {
            entries: Mutex::new(Entries {
                maps: Maps {
                    by_args: HashMap::new(),
                    by_custom: HashMap::new(),
                },
                stamps: 0,
            }),
            delayed: Mutex::new(None),
        }
    }
}

impl<K: Hash + Eq + Clone, T, E> ActionCache<K, T, E> {
    fn lock(&self) -> MutexGuard<'_, Entries<K, T, E>> {
        // Every critical section below leaves the entry consistent before anything that can
        // panic (a user's `Hash`/`Eq`) runs, so a poisoned lock is safe to keep using.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of keys with an entry (cached, running, or observed).
    pub(crate) fn len(&self) -> usize {
        self.lock().maps.len()
    }

    /// What is under the key.
    pub(crate) fn probe(&self, slot: &Slot<'_, K>) -> Probe<T, E> {
        let mut entries = self.lock();
        let Some(entry) = entries.maps.get(slot) else {
            return Probe::Idle;
        };
        match (&entry.state.result, entry.state.time_cached) {
            (Some(result), Some(time_cached)) => Probe::Hit(Hit {
                result: result.clone(),
                time_cached,
                version: entry.version,
            }),
            _ if entry.state.started => Probe::Running(entry.subscribe()),
            _ => Probe::Idle,
        }
    }

    /// The state under the key, without changing anything.
    pub(crate) fn snapshot(&self, slot: &Slot<'_, K>) -> ActionState<T, E> {
        let mut entries = self.lock();
        entries
            .maps
            .get(slot)
            .map(|entry| entry.state.clone())
            .unwrap_or_default()
    }

    /// The number of live receivers of the key's state.
    pub(crate) fn observers(&self, slot: &Slot<'_, K>) -> usize {
        let mut entries = self.lock();
        entries
            .maps
            .get(slot)
            .and_then(|entry| entry.observers.as_ref())
            .map_or(0, watch::Sender::receiver_count)
    }

    /// A receiver of the key's state, creating an unstarted entry if there is none.
    pub(crate) fn subscribe(&self, slot: &Slot<'_, K>) -> watch::Receiver<ActionState<T, E>> {
        self.lock().maps.get_or_insert(slot).subscribe()
    }

    /// Drops the cached result read as `version`, unless the loop guard refuses.
    pub(crate) fn break_entry(&self, slot: &Slot<'_, K>, version: u64) -> Broke {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let Some(entry) = maps.get(slot) else {
            return Broke::Changed;
        };
        if entry.version != version || !entry.state.finished {
            return Broke::Changed;
        }
        if entry.breaks >= BREAK_LOOP_LIMIT {
            if !entry.state.break_loop {
                entry.state.break_loop = true;
                entry.publish();
            }
            return Broke::Guarded;
        }
        entry.breaks += 1;
        entry.version = next(stamps);
        entry.state.started = entry.running.is_some();
        entry.state.finished = false;
        entry.state.updating = false;
        entry.state.result = None;
        entry.state.time_cached = None;
        entry.publish();
        Broke::Broken
    }

    /// A cache-break check kept the cached result: the streak ends and the guard lifts.
    pub(crate) fn keep_entry(&self, slot: &Slot<'_, K>) {
        let mut entries = self.lock();
        if let Some(entry) = entries.maps.get(slot) {
            entry.breaks = 0;
            if entry.state.break_loop {
                entry.state.break_loop = false;
                entry.publish();
            }
        }
    }

    /// Registers a run of the key that supersedes any run in flight (plain `run`), and returns
    /// its ordinal.
    pub(crate) fn start_superseding(&self, slot: &Slot<'_, K>, treat_as_update: bool) -> u64 {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        start(maps.get_or_insert(slot), stamps, treat_as_update)
    }

    /// Registers a run of the key only if nothing is started (beckon, read), and returns its
    /// ordinal; `None` if a run is in flight or a result is cached.
    pub(crate) fn start_if_idle(&self, slot: &Slot<'_, K>) -> Option<u64> {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let entry = maps.get_or_insert(slot);
        (!entry.state.started).then(|| start(entry, stamps, false))
    }

    /// Writes the result of run `ord` if it is still the newest; `false` if it was superseded
    /// or cleared. Observers are told later, by [`publish`](Self::publish), after the
    /// post-action hook.
    pub(crate) fn complete(
        &self,
        slot: &Slot<'_, K>,
        ord: u64,
        result: ActionResult<T, E>,
    ) -> bool {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        match maps.get(slot) {
            Some(entry) if entry.ord == ord => {
                entry.running = None;
                entry.write(result, next(stamps));
                true
            }
            _ => false,
        }
    }

    /// Writes a short-circuit result: it is the newest, so it supersedes a run in flight.
    /// Observers are told by [`publish`](Self::publish), after the post-action hook.
    pub(crate) fn write_newest(&self, slot: &Slot<'_, K>, result: ActionResult<T, E>) {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let entry = maps.get_or_insert(slot);
        entry.ord = next(stamps);
        entry.running = None;
        entry.write(result, next(stamps));
    }

    /// Writes a result without touching a run in flight (Pullstate's `setCached`), and tells
    /// observers.
    pub(crate) fn set(&self, slot: &Slot<'_, K>, result: ActionResult<T, E>) {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let entry = maps.get_or_insert(slot);
        entry.write(result, next(stamps));
        entry.publish();
    }

    /// The cached payload, if the key holds a finished success, with the entry's version.
    pub(crate) fn payload(&self, slot: &Slot<'_, K>) -> Option<(Arc<T>, u64)> {
        let mut entries = self.lock();
        let entry = entries.maps.get(slot)?;
        match &entry.state.result {
            Some(Ok(payload)) => Some((payload.clone(), entry.version)),
            _ => None,
        }
    }

    /// Replaces the payload read as `version`; `None` if the entry changed since. Keeps
    /// `updating`; observers are told by [`publish`](Self::publish).
    pub(crate) fn replace_payload(
        &self,
        slot: &Slot<'_, K>,
        version: u64,
        payload: Arc<T>,
        reset_time_cached: bool,
    ) -> Option<ActionResult<T, E>> {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let entry = maps.get(slot)?;
        if entry.version != version {
            return None;
        }
        entry.version = next(stamps);
        entry.state.result = Some(Ok(payload.clone()));
        entry.state.hook_error = None;
        if reset_time_cached {
            entry.state.time_cached = Some(Instant::now());
        }
        Some(Ok(payload))
    }

    /// Records a hook failure on the key and tells observers.
    pub(crate) fn hook_failed(&self, slot: &Slot<'_, K>, error: Arc<HookError>) {
        let mut entries = self.lock();
        let entry = entries.maps.get_or_insert(slot);
        entry.state.hook_error = Some(error);
        entry.publish();
    }

    /// Tells observers the key's current state.
    pub(crate) fn publish(&self, slot: &Slot<'_, K>) {
        if let Some(entry) = self.lock().maps.get(slot) {
            entry.publish();
        }
    }

    /// Run `ord` ended without a result (its task was dropped): the key is idle again, or
    /// shows its previous result if the run was an update.
    pub(crate) fn abandon(&self, slot: &Slot<'_, K>, ord: u64) {
        let mut entries = self.lock();
        let Some(entry) = entries.maps.get(slot) else {
            return;
        };
        if entry.running != Some(ord) {
            return;
        }
        entry.running = None;
        if entry.state.updating {
            entry.state.updating = false;
        } else if !entry.state.finished {
            entry.state.started = false;
        }
        entry.publish();
    }

    /// Clears the key: drops its result and discards the result of a run in flight.
    pub(crate) fn clear(&self, slot: &Slot<'_, K>) {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        let Some(entry) = maps.get(slot) else {
            return;
        };
        entry.clear(next(stamps));
        if !entry.watched() {
            maps.remove(slot);
        }
    }

    /// Clears every key.
    pub(crate) fn clear_all(&self) {
        let mut entries = self.lock();
        let Entries { maps, stamps } = &mut *entries;
        maps.retain(|entry| {
            entry.clear(next(stamps));
            entry.watched()
        });
    }

    /// Drops the entries nobody observes, except those with a run in flight.
    pub(crate) fn clear_unwatched(&self) {
        self.lock()
            .maps
            .retain(|entry| entry.watched() || entry.running.is_some());
    }
}
