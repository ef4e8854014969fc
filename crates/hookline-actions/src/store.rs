//! State stores: [`Store`] (one piece of state with `update`, `get` and subscription) and
//! [`Stores`] (the set of stores an [`Instance`](crate::Instance) hands to actions and hooks).
//!
//! This is Pullstate's `Store` reduced to what hooks need: update in place, read, and be told
//! about changes. Stores are found by type, so two stores cannot clash on a name.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// One piece of application state that actions and hooks update and views subscribe to.
///
/// Cloning a store is cheap and every clone shares the same state. Updates notify every
/// subscriber; a subscriber that falls behind sees the latest state (a
/// [`tokio::sync::watch`] channel).
///
/// ```
/// use hookline_actions::Store;
///
/// #[derive(Default, Clone)]
/// struct Gallery { pictures: Vec<String> }
///
/// let gallery = Store::new(Gallery::default());
/// let mut views = gallery.subscribe();
/// gallery.update(|g| g.pictures.push("cat.jpg".into()));
/// assert!(views.has_changed().unwrap());
/// assert_eq!(gallery.read(|g| g.pictures.len()), 1);
/// assert_eq!(gallery.get().pictures, ["cat.jpg"]);
/// ```
pub struct Store<S> {
    state: watch::Sender<S>,
}

impl<S> Clone for Store<S> {
    fn clone(&self) -> Self {
        Store {
            state: self.state.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Store<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Store").field(&*self.state.borrow()).finish()
    }
}

impl<S: Send + Sync + 'static> Store<S> {
    /// A store holding `initial`.
    pub fn new(initial: S) -> Self {
        Store {
            state: watch::Sender::new(initial),
        }
    }

    /// Changes the state in place and notifies subscribers.
    ///
    /// `f` runs while the state is locked for writing: it must not read or update this same
    /// store.
    pub fn update(&self, f: impl FnOnce(&mut S)) {
        self.state.send_modify(f);
    }

    /// A copy of the current state.
    pub fn get(&self) -> S
    where
        S: Clone,
    {
        self.state.borrow().clone()
    }

    /// Reads the current state without copying it. `f` must not update this same store.
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.state.borrow())
    }

    /// A receiver that is told about every update (`changed().await`, `borrow()`).
    pub fn subscribe(&self) -> watch::Receiver<S> {
        self.state.subscribe()
    }
}

/// A store was asked for by type but the instance has none of that type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this instance has no store of type `{type_name}`: add it with `Stores::new().with(Store::new(..))` when creating the `Instance`"
)]
pub struct MissingStore {
    /// The type that was asked for.
    pub type_name: &'static str,
}

/// The stores of one [`Instance`](crate::Instance), found by the type of their state.
///
/// Pullstate passes `stores` to actions and hooks so that server rendering can give every
/// request its own; here an [`Instance`](crate::Instance) holds one `Stores` and every hook of
/// every action bound to it receives it. Cloning is cheap (shared).
///
/// ```
/// use hookline_actions::{Store, Stores};
///
/// #[derive(Default)]
/// struct Gallery { pictures: Vec<String> }
/// struct Session { user: &'static str }
///
/// let stores = Stores::new()
///     .with(Store::new(Gallery::default()))
///     .with(Store::new(Session { user: "ada" }));
/// stores.store::<Gallery>()?.update(|g| g.pictures.push("cat.jpg".into()));
/// assert_eq!(stores.store::<Gallery>()?.read(|g| g.pictures.len()), 1);
/// assert_eq!(stores.get::<Session>().map(|s| s.read(|s| s.user)), Some("ada"));
/// assert!(stores.store::<String>().is_err());
/// # Ok::<(), hookline_actions::MissingStore>(())
/// ```
#[derive(Clone, Default)]
pub struct Stores {
    by_type: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Stores {
    /// No stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `store`, replacing a store of the same state type.
    pub fn with<S: Send + Sync + 'static>(mut self, store: Store<S>) -> Self {
        Arc::make_mut(&mut self.by_type).insert(TypeId::of::<S>(), Arc::new(store));
        self
    }

    /// The store of state type `S`, if there is one.
    pub fn get<S: Send + Sync + 'static>(&self) -> Option<&Store<S>> {
        self.by_type.get(&TypeId::of::<S>())?.downcast_ref()
    }

    /// The store of state type `S`, or an error naming the type (so `?` works inside taps).
    pub fn store<S: Send + Sync + 'static>(&self) -> Result<&Store<S>, MissingStore> {
        self.get().ok_or(MissingStore {
            type_name: type_name::<S>(),
        })
    }

    /// The number of stores.
    pub fn len(&self) -> usize {
        self.by_type.len()
    }

    /// `true` if there are no stores.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("len", &self.by_type.len())
            .finish()
    }
}
