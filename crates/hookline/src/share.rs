//! [`Share`]: a typed map that carries values from before-taps to the handler and after-taps
//! (Enfyra's `@SHARE`), keyed by type so two plugins cannot clash on a string key.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

/// A map from type to one value of that type. Empty maps do not allocate.
///
/// ```
/// use hookline::Share;
/// struct RequestStart(u64);
/// let mut share = Share::new();
/// share.insert(RequestStart(17));
/// assert_eq!(share.get::<RequestStart>().map(|s| s.0), Some(17));
/// assert!(share.get::<String>().is_none());
/// ```
#[derive(Default)]
pub struct Share {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Share {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, returning the previous value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.values
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// The value of type `T`, if stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.values.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.values
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// The number of stored values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share").field("len", &self.len()).finish()
    }
}
