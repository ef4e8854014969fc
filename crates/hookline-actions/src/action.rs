//! [`AsyncAction`]: an action's definition (its function, key and hooks) bound to an
//! [`Instance`], with the calls that read and write the cache directly. The calls that run the
//! action live in [`crate::calls`] and [`crate::delayed`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;
use hookline::Hook;

use crate::cache::{ActionCache, KeyRef, Slot};
use crate::context::{CacheBreak, PostAction, PostActionContext, ShortCircuit};
use crate::instance::Instance;
use crate::options::UpdateOptions;
use crate::result::{ActionError, ActionResult};
use crate::state::ActionState;
use crate::store::Stores;

static NEXT_ACTION_ID: AtomicU64 = AtomicU64::new(1);

type ActionFn<A, T, E> = Arc<dyn Fn(A, Stores) -> BoxFuture<'static, Result<T, E>> + Send + Sync>;
type KeyFn<A, K> = Arc<dyn for<'a> Fn(&'a A) -> KeyRef<'a, K> + Send + Sync>;

/// What every instance's handle of one action shares.
pub(crate) struct Definition<A, T, E, K> {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) action: ActionFn<A, T, E>,
    key: KeyFn<A, K>,
    pub(crate) short_circuit: Hook<ShortCircuit<A>, Result<T, E>>,
    pub(crate) cache_break: Hook<CacheBreak<A, T, E>, bool>,
    pub(crate) post_action: Hook<PostAction<A, T, E>>,
}

/// A cached async action: an async function of its arguments whose results are cached per key,
/// with short-circuit, cache-break and post-action hooks (Pullstate's `createAsyncAction`).
///
/// - `A`: the arguments. The cache key is the arguments themselves (`Hash + Eq`), or what a
///   [`subset_key`](ActionBuilder::subset_key) function takes from them, or a custom key
///   ([`with_key`](Self::with_key)). Keys are compared as values, so they cannot collide the
///   way Pullstate's string keys do.
/// - `T`, `E`: what the function returns, `Result<T, E>`; calls return
///   [`ActionResult<T, E>`](ActionResult).
/// - `K`: the key type (`A` unless `subset_key` is used).
///
/// A handle is bound to one [`Instance`] (its stores and its cache); cloning is cheap and
/// clones share everything. [`in_instance`](Self::in_instance) gives a handle bound to another
/// instance, with the same hooks.
///
/// Runs are spawned on the Tokio runtime, so a caller that stops waiting does not cancel a run
/// that other callers share; calls that start a run must be made inside a runtime.
pub struct AsyncAction<A, T, E, K = A> {
    pub(crate) def: Arc<Definition<A, T, E, K>>,
    pub(crate) cache: Arc<ActionCache<K, T, E>>,
    pub(crate) instance: Instance,
    pub(crate) custom_key: Option<Arc<str>>,
}

impl<A, T, E, K> Clone for AsyncAction<A, T, E, K> {
    fn clone(&self) -> Self {
        AsyncAction {
            def: self.def.clone(),
            cache: self.cache.clone(),
            instance: self.instance.clone(),
            custom_key: self.custom_key.clone(),
        }
    }
}

impl<A, T, E, K> fmt::Debug for AsyncAction<A, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncAction")
            .field("name", &self.def.name)
            .field("custom_key", &self.custom_key)
            .field("instance", &self.instance)
            .finish()
    }
}

/// Builds an [`AsyncAction`] whose key is not simply its arguments.
///
/// ```
/// use hookline_actions::AsyncAction;
///
/// #[derive(Clone)]
/// struct Search { tag: String, on_progress: fn(u8) }   // not `Hash`: key on the tag only
///
/// let search = AsyncAction::builder("search", |s: Search| async move { Ok::<_, ()>(s.tag.len()) })
///     .subset_key(|s: &Search| s.tag.clone())
///     .build();
/// # let _ = search;
/// ```
pub struct ActionBuilder<A, T, E, K> {
    name: Arc<str>,
    action: ActionFn<A, T, E>,
    key: KeyFn<A, K>,
}

impl<A, T, E, K> fmt::Debug for ActionBuilder<A, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionBuilder")
            .field("name", &self.name)
            .finish()
    }
}

fn whole_args<A>(args: &A) -> KeyRef<'_, A> {
    KeyRef::Borrowed(args)
}

fn key_fn<A, K>(
    key: impl for<'a> Fn(&'a A) -> KeyRef<'a, K> + Send + Sync + 'static,
) -> KeyFn<A, K> {
    Arc::new(key)
}

fn action_fn<A, T, E>(
    action: impl Fn(A, Stores) -> BoxFuture<'static, Result<T, E>> + Send + Sync + 'static,
) -> ActionFn<A, T, E> {
    Arc::new(action)
}

impl<A, T, E> AsyncAction<A, T, E, A>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// A builder for an action whose function receives its arguments.
    pub fn builder<F, Fut>(
        name: impl Into<Cow<'static, str>>,
        action: F,
    ) -> ActionBuilder<A, T, E, A>
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        Self::builder_with_stores(name, move |args, _stores| action(args))
    }

    /// A builder for an action whose function also receives the instance's [`Stores`]
    /// (Pullstate's `(args, stores)` actions, for server rendering).
    pub fn builder_with_stores<F, Fut>(
        name: impl Into<Cow<'static, str>>,
        action: F,
    ) -> ActionBuilder<A, T, E, A>
    where
        F: Fn(A, Stores) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        ActionBuilder {
            name: Arc::from(&*name.into()),
            action: action_fn(move |args, stores| Box::pin(action(args, stores))),
            key: key_fn(whole_args),
        }
    }
}

impl<A, T, E> AsyncAction<A, T, E, A>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// An action keyed by its whole arguments, bound to a new instance without stores.
    ///
    /// `name` names the action's hooks (`"<name>.post_action"`, …) in errors, traces and
    /// explain.
    pub fn new<F, Fut>(name: impl Into<Cow<'static, str>>, action: F) -> Self
    where
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        Self::builder(name, action).build()
    }
}

impl<A, T, E, K> ActionBuilder<A, T, E, K>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Keys the cache on part of the arguments (Pullstate's `subsetKey`): calls whose
    /// arguments give equal keys share one cached result.
    pub fn subset_key<K2>(
        self,
        key: impl Fn(&A) -> K2 + Send + Sync + 'static,
    ) -> ActionBuilder<A, T, E, K2> {
        ActionBuilder {
            name: self.name,
            action: self.action,
            key: key_fn(move |args| KeyRef::Owned(key(args))),
        }
    }

    /// The action, bound to a new instance without stores.
    pub fn build(self) -> AsyncAction<A, T, E, K>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let name = self.name;
        let def = Definition {
            id: NEXT_ACTION_ID.fetch_add(1, Ordering::Relaxed),
            short_circuit: Hook::new(format!("{name}.short_circuit")),
            cache_break: Hook::new(format!("{name}.cache_break")),
            post_action: Hook::new(format!("{name}.post_action")),
            name,
            action: self.action,
            key: self.key,
        };
        let instance = Instance::new();
        AsyncAction {
            cache: instance.cache(def.id),
            def: Arc::new(def),
            instance,
            custom_key: None,
        }
    }
}

impl<A, T, E, K> AsyncAction<A, T, E, K>
where
    A: Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// The action's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The short-circuit hook (a bail hook): a tap returning `Ok(Flow::Return(result))` gives
    /// the result without running the action. See [`ShortCircuit`].
    pub fn short_circuit(&self) -> &Hook<ShortCircuit<A>, Result<T, E>> {
        &self.def.short_circuit
    }

    /// The cache-break hook (a bail hook over `bool`): the first tap returning
    /// `Ok(Flow::Return(true))` breaks the cached result, `Ok(Flow::Return(false))` keeps it.
    /// See [`CacheBreak`].
    pub fn cache_break(&self) -> &Hook<CacheBreak<A, T, E>, bool> {
        &self.def.cache_break
    }

    /// The post-action hook, run on every path with its [`PostActionContext`]. See
    /// [`PostAction`].
    pub fn post_action(&self) -> &Hook<PostAction<A, T, E>> {
        &self.def.post_action
    }

    /// The instance this handle is bound to.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// This action bound to `instance`: calls use that instance's cache, and the action and
    /// hooks receive its stores. The hooks are the same.
    pub fn in_instance(&self, instance: &Instance) -> Self {
        AsyncAction {
            def: self.def.clone(),
            cache: instance.cache(self.def.id),
            instance: instance.clone(),
            custom_key: self.custom_key.clone(),
        }
    }

    /// This action with a custom cache key (Pullstate's `key` option): every call through the
    /// returned handle uses `key` instead of the arguments' key, while the arguments still go
    /// to the action and the hooks. Custom keys never equal argument keys.
    pub fn with_key(&self, key: impl Into<Arc<str>>) -> Self {
        AsyncAction {
            custom_key: Some(key.into()),
            ..self.clone()
        }
    }

    /// The number of keys in this instance's cache of the action (cached, running, or
    /// observed).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The number of live observers of the key of `args`: [`Watcher`](crate::Watcher)s, and
    /// calls waiting for its run in flight. A key with none is "unwatched" for
    /// [`clear_all_unwatched_cache`](Self::clear_all_unwatched_cache).
    pub fn observers(&self, args: &A) -> usize {
        self.cache.observers(&self.slot(args))
    }

    /// The state cached for `args` (Pullstate's `getCached`). Runs no hook and changes nothing.
    pub fn get_cached(&self, args: &A) -> ActionState<T, E> {
        self.cache.snapshot(&self.slot(args))
    }

    /// Caches `result` for `args` as a finished result cached now, and tells observers
    /// (Pullstate's `setCached`). Runs no hook. A run of the key in flight is not cancelled: if
    /// it finishes later, its result replaces this one.
    pub fn set_cached(&self, args: &A, result: Result<T, E>) {
        self.cache.set(&self.slot(args), into_action_result(result));
    }

    /// Changes the cached payload for `args` in place (Pullstate's `updateCached`) and returns
    /// the new result; `None` if no successful result is cached (nothing cached, a run
    /// unfinished, or an error result).
    ///
    /// `update` works on a copy of the payload, so readers holding the old `Arc` are not
    /// affected; if the entry changes while `update` runs, it is called again on the new
    /// payload. With [`UpdateOptions::run_post_action_hook`] the post-action hook runs with
    /// [`PostActionContext::CacheUpdate`], after the write and before observers are told.
    pub async fn update_cached(
        &self,
        args: &A,
        mut update: impl FnMut(&mut T),
        options: UpdateOptions,
    ) -> Option<ActionResult<T, E>>
    where
        T: Clone,
    {
        let result = loop {
            let slot = self.slot(args);
            let (payload, version) = self.cache.payload(&slot)?;
            let mut next = T::clone(&payload);
            drop(payload);
            update(&mut next);
            if let Some(result) = self.cache.replace_payload(
                &slot,
                version,
                Arc::new(next),
                options.reset_time_cached,
            ) {
                break result;
            }
        };
        let result = if options.run_post_action_hook {
            self.after(args.clone(), result, PostActionContext::CacheUpdate)
                .await
                .1
        } else {
            result
        };
        self.cache.publish(&self.slot(args));
        Some(result)
    }

    /// Clears the cached result for `args` (Pullstate's `clearCache`): observers see the key
    /// neutral again, and a run in flight is discarded — its caller still gets its result, but
    /// it is not cached and fires no hook. The key is free: the next call runs the action.
    pub fn clear_cache(&self, args: &A) {
        self.cache.clear(&self.slot(args));
    }

    /// Clears every key of this action in this instance, as [`clear_cache`](Self::clear_cache)
    /// does — including keys only [`set_cached`](Self::set_cached) wrote (Pullstate misses
    /// those).
    pub fn clear_all_cache(&self) {
        self.cache.clear_all();
    }

    /// Drops the keys no [`Watcher`](crate::Watcher) observes (Pullstate's
    /// `clearAllUnwatchedCache`). Keys with a run in flight are left alone: their runs are not
    /// cancelled.
    pub fn clear_all_unwatched_cache(&self) {
        self.cache.clear_unwatched();
    }

    /// The key of `args` for this handle.
    pub(crate) fn slot<'a>(&'a self, args: &'a A) -> Slot<'a, K> {
        match &self.custom_key {
            Some(key) => Slot::Custom(key),
            None => Slot::Args((self.def.key)(args)),
        }
    }

    /// The stores of the bound instance.
    pub(crate) fn stores(&self) -> &Stores {
        self.instance.stores()
    }
}

/// An action's own `Result` as the cache holds it.
pub(crate) fn into_action_result<T, E>(result: Result<T, E>) -> ActionResult<T, E> {
    result
        .map(Arc::new)
        .map_err(|error| ActionError::Failed(Arc::new(error)))
}
