//! A per-thread cache of hook snapshots, so that a call finds its hook's current tap list
//! without an atomic read-modify-write on shared memory.
//!
//! Loading a snapshot from the hook's `ArcSwap` costs two locked instructions (taking and paying
//! back a debt slot), which on current x86 cores is more than running ten small taps. Instead,
//! each thread keeps the snapshots it last used in a small table, keyed by hook id, and a call
//! checks one global counter, [`EPOCH`], which every publication of any hook bumps. While the
//! counter is unchanged the thread's cached snapshots are the current ones; when it moves, the
//! thread drops its whole table and reloads what it uses. Registration is rare and calls are
//! not, so the reload is paid once per thread and change.
//!
//! What this changes for users, as documented on `remove`: a removed tap is never called by a
//! call that starts after the removal, but its closure is dropped only once no running call
//! holds it and every thread that cached the old list has made another hook call (or ended).

use std::any::Any;
use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped after every publication of a new snapshot of any hook, and when a hook is dropped.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Marks every thread's cached snapshots as stale. Called after the new snapshot is stored, so
/// that a thread which sees the new epoch also sees the new snapshot.
pub(crate) fn invalidate() {
    EPOCH.fetch_add(1, Ordering::Release);
}

/// Table size: hook ids map to slots by their low bits, so up to this many hooks in use on one
/// thread never evict each other (ids are handed out in sequence).
const SLOTS: usize = 256;

/// A cached snapshot: the hook's id and an `Rc<Arc<S>>`, type-erased so one table serves every
/// hook type.
type Entry = (u64, Rc<dyn Any>);

struct Table {
    epoch: u64,
    slots: [Option<Entry>; SLOTS],
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table { epoch: 0, slots: [const { None }; SLOTS] })
    };
}

/// A snapshot borrowed from this thread's cache for the length of one call. It keeps the
/// snapshot alive even if a tap causes the cache to be cleared (by registering a tap, say).
#[allow(
    clippy::redundant_allocation,
    reason = "the outer `Rc` is the point: its count is per-thread and costs no atomic operation"
)]
pub(crate) struct Local<S: 'static>(Rc<Arc<S>>);

impl<S: 'static> Local<S> {
    /// The snapshot as an owned, thread-safe reference, for a call that has to hold it across
    /// `.await`.
    pub(crate) fn to_arc(&self) -> Arc<S> {
        Arc::clone(&self.0)
    }
}

impl<S: 'static> Deref for Local<S> {
    type Target = S;

    #[inline]
    fn deref(&self) -> &S {
        &self.0
    }
}

/// The snapshot of hook `id`, from this thread's cache, or from `load` (and then cached).
#[inline]
pub(crate) fn load<S: Send + Sync + 'static>(id: u64, load: impl FnOnce() -> Arc<S>) -> Local<S> {
    let hit = TABLE.try_with(|table| {
        let table = table.try_borrow().ok()?;
        let (cached, entry) = table.slots[slot(id)].as_ref()?;
        if *cached != id || table.epoch != EPOCH.load(Ordering::Acquire) {
            return None;
        }
        Rc::clone(entry).downcast::<Arc<S>>().ok()
    });
    match hit {
        Ok(Some(snapshot)) => Local(snapshot),
        _ => refill(id, load),
    }
}

/// The cache-miss path of [`load`]: clears a stale table, loads the snapshot and caches it.
/// Whatever the table lets go of is dropped after the table is released, because dropping a
/// snapshot drops taps, and a tap's destructor may call hooks.
#[cold]
#[inline(never)]
fn refill<S: Send + Sync + 'static>(id: u64, load: impl FnOnce() -> Arc<S>) -> Local<S> {
    let epoch = EPOCH.load(Ordering::Acquire);
    let snapshot = Rc::new(load());
    let mut released: Vec<Entry> = Vec::new();
    // The thread is exiting (no table) or the table is in use higher up the stack (a tap's
    // destructor calling a hook): the call still gets its snapshot, just not cached.
    let _ = TABLE.try_with(|table| {
        let Ok(mut table) = table.try_borrow_mut() else {
            return;
        };
        if table.epoch != epoch {
            released.extend(table.slots.iter_mut().filter_map(Option::take));
            table.epoch = epoch;
        }
        let entry: Rc<dyn Any> = snapshot.clone();
        released.extend(table.slots[slot(id)].replace((id, entry)));
    });
    drop(released);
    Local(snapshot)
}

#[inline]
fn slot(id: u64) -> usize {
    (id % SLOTS as u64) as usize
}
