//! The in-memory committer: [`MemoryStore`] holds a value, [`MemorySession`] is a staged copy
//! that actions change, and committing publishes the copy — or refuses with [`StoreConflict`]
//! if another session committed since this one began.
//!
//! For tests and examples; it persists nothing beyond the process.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Applied, Committer, Domain};
use crate::flow::TapError;

struct Versioned<S> {
    state: S,
    version: u64,
}

/// A value shared by transactions: each [`begin`](MemoryStore::begin)s a staged copy, and the
/// committer publishes it (optimistic concurrency: a commit whose base is outdated fails).
///
/// Cloning a store is cheap and every clone shares the same value.
///
/// ```
/// use hookline::transaction::MemoryStore;
/// let store = MemoryStore::new(vec!["a"]);
/// let mut session = store.begin();
/// session.push("b");
/// assert_eq!(store.get(), ["a"]); // staged, not yet committed
/// ```
pub struct MemoryStore<S> {
    inner: Arc<Mutex<Versioned<S>>>,
}

impl<S> Clone for MemoryStore<S> {
    fn clone(&self) -> Self {
        MemoryStore {
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for MemoryStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("state", &inner.state)
            .field("version", &inner.version)
            .finish()
    }
}

impl<S> MemoryStore<S> {
    fn lock(&self) -> MutexGuard<'_, Versioned<S>> {
        // Every change is a single assignment under the lock, so a poisoned lock holds a whole
        // value.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<S: Clone> MemoryStore<S> {
    /// A store holding `initial`, at version 0.
    pub fn new(initial: S) -> Self {
        MemoryStore {
            inner: Arc::new(Mutex::new(Versioned {
                state: initial,
                version: 0,
            })),
        }
    }

    /// Begins a session: a copy of the current value to change.
    pub fn begin(&self) -> MemorySession<S> {
        let inner = self.lock();
        MemorySession {
            state: inner.state.clone(),
            base: inner.version,
        }
    }

    /// A copy of the committed value.
    pub fn get(&self) -> S {
        self.lock().state.clone()
    }

    /// The number of commits so far.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    fn publish(&self, session: MemorySession<S>) -> Result<(), StoreConflict> {
        let mut inner = self.lock();
        if inner.version != session.base {
            return Err(StoreConflict {
                base: session.base,
                current: inner.version,
            });
        }
        inner.state = session.state;
        inner.version += 1;
        Ok(())
    }
}

/// A staged copy of a [`MemoryStore`]'s value; dereferences to it.
#[derive(Debug, Clone)]
pub struct MemorySession<S> {
    state: S,
    base: u64,
}

impl<S> MemorySession<S> {
    /// The store version the session began from.
    pub fn base_version(&self) -> u64 {
        self.base
    }
}

impl<S> Deref for MemorySession<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> DerefMut for MemorySession<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

/// A session could not be committed: another session committed to the store after it began.
/// Begin a new session and run the transaction again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the store changed since this session began (version {base}, now {current}): another transaction committed first; begin a new session and retry"
)]
pub struct StoreConflict {
    /// The version the session began from.
    pub base: u64,
    /// The store's version at commit.
    pub current: u64,
}

impl<D, S> Committer<D> for MemoryStore<S>
where
    D: Domain<Session = MemorySession<S>>,
    S: Clone + Send + 'static,
{
    async fn commit(&self, session: MemorySession<S>, _: &Applied<D>) -> Result<(), TapError> {
        Ok(self.publish(session)?)
    }
}
