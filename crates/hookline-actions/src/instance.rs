//! [`Instance`]: a set of stores and the caches of every action used with it — Pullstate's
//! per-request `PullstateProvider` instance for server rendering.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::cache::ActionCache;
use crate::store::Stores;

/// Stores plus one cache per action: what a request (or a whole client app) shares.
///
/// An action is bound to one instance at a time; [`AsyncAction::in_instance`] gives a handle on
/// the same action (same hooks) bound to another. Calls through that handle read and write that
/// instance's cache, and the action and its hooks receive that instance's [`Stores`]. A server
/// creates an instance per request, so requests never see each other's cached results or
/// state. Cloning is cheap (shared).
///
/// ```
/// use hookline_actions::{AsyncAction, Instance, Store, Stores};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let double = AsyncAction::new("double", |n: u32| async move { Ok::<_, ()>(n * 2) });
/// let request_a = Instance::with_stores(Stores::new().with(Store::new(0u32)));
/// let request_b = Instance::with_stores(Stores::new().with(Store::new(0u32)));
///
/// double.in_instance(&request_a).run(21).await.unwrap();
/// assert!(double.in_instance(&request_a).get_cached(&21).finished);
/// assert!(!double.in_instance(&request_b).get_cached(&21).finished);
/// # });
/// ```
///
/// [`AsyncAction::in_instance`]: crate::AsyncAction::in_instance
#[derive(Clone, Default)]
pub struct Instance {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stores: Stores,
    caches: Mutex<HashMap<u64, Arc<dyn Any + Send + Sync>>>,
}

impl Instance {
    /// An instance without stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// An instance with these stores.
    pub fn with_stores(stores: Stores) -> Self {
        Instance {
            inner: Arc::new(Inner {
                stores,
                caches: Mutex::default(),
            }),
        }
    }

    /// The instance's stores.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// `true` if both handles are the same instance.
    pub fn ptr_eq(&self, other: &Instance) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The cache of action `id` in this instance, created on first use.
    pub(crate) fn cache<K, T, E>(&self, id: u64) -> Arc<ActionCache<K, T, E>>
    where
        K: Send + 'static,
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let mut caches = self
            .inner
            .caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(&id)
            && let Ok(cache) = Arc::clone(cache).downcast::<ActionCache<K, T, E>>()
        {
            return cache;
        }
        let cache: Arc<ActionCache<K, T, E>> = Arc::default();
        caches.insert(id, cache.clone());
        cache
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let caches = self
            .inner
            .caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Instance")
            .field("stores", &self.inner.stores)
            .field("caches", &caches)
            .finish()
    }
}
