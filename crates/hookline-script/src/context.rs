//! What scripts see of a hook's context: the [`ScriptContext`] trait (a context that converts to
//! a JSON object and takes changes back) and [`JsonContext`], a ready-made context of named JSON
//! values for integrations that have no Rust types of their own. How a call lends a context to
//! the scripts and takes it back is `lend.rs`'s business.
//!
//! The implementations for pipeline contexts ([`Before`](hookline::Before),
//! [`After`](hookline::After)) live in [`crate::pipeline`].

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ContextError;
use crate::schema::{Schema, keep_number_kinds};

/// A hook context that scripts can read and change: it converts to a JSON object, and takes
/// the object back after the scripts ran.
///
/// A call converts the context **once** with [`to_script`](ScriptContext::to_script), runs
/// every script of the tap on that one object, and hands the object back once with
/// [`apply_script`](ScriptContext::apply_script) when the call continued or short-circuited
/// (not when it was rejected or failed: then the context is left as it was).
///
/// The object's keys are what scripts see:
/// - a function-style script gets the object as its argument: `({ record, user }) => …`;
/// - a body-style script sees key `k` as `$ctx.$k`; the macros read `body`, `query`, `params`,
///   `user`, `data`, `error`, `statusCode` (`@STATUS`), `share` and `api`.
///
/// JavaScript has a single number type: bring numbers back to their column types in
/// `apply_script` with a [`Schema`] or [`keep_number_kinds`]. The hooks of `hookline-data`
/// resources have their own, cheaper path (feature `data`, `crate::resources`): their
/// records go to the scripts as rows and come back patched, without a JSON object per row.
///
/// ```
/// use hookline_script::{ContextError, ScriptContext};
/// use serde_json::{Map, Value, json};
///
/// /// An order whose `note` scripts may change.
/// struct Order { id: u64, note: String }
///
/// impl ScriptContext for Order {
///     fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
///         let values = json!({ "id": self.id, "note": self.note });
///         Ok(values.as_object().cloned().unwrap_or_default())
///     }
///
///     fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
///         match values.remove("note") {
///             Some(Value::String(note)) => self.note = note,
///             _ => return Err(ContextError::invalid("`note` must stay a string")),
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait ScriptContext: Send {
    /// The values scripts see, by name.
    fn to_script(&self) -> Result<Map<String, Value>, ContextError>;

    /// Takes back the values after the scripts ran: the same object, as the scripts left it
    /// (keys may have been added, changed or removed; `undefined` values are gone). Numbers have
    /// the kind of the number at the same place in the values handed out, if there was one
    /// ([`keep_number_kinds`]): a float stays a float.
    fn apply_script(&mut self, values: Map<String, Value>) -> Result<(), ContextError>;
}

/// A context of named JSON values, with optional schemas for the records among them.
///
/// Values handed back by scripts replace the old ones. Records under a key with a schema
/// ([`JsonContext::with_schema`]) are coerced to their column types; every other number keeps
/// the kind it came in with, so a float stays a float although QuickJS writes `3.0` as `3`.
///
/// ```
/// use hookline_script::{ColumnType, JsonContext, Schema, ScriptContext};
/// use serde_json::json;
///
/// let mut ctx = JsonContext::new()
///     .with("record", json!({ "price": 2.5, "rooms": 2 }))
///     .with("user", json!({ "id": 7 }))
///     .with_schema("record", Schema::new().column("price", ColumnType::Float));
///
/// // What a script would hand back after `record.price = 3; record.rooms = 3.0`:
/// let mut back = ctx.to_script()?;
/// back["record"] = json!({ "price": 3, "rooms": 3 });
/// ctx.apply_script(back)?;
/// assert!(ctx.get("record").unwrap()["price"].is_f64());
/// assert!(ctx.get("record").unwrap()["rooms"].is_i64());
/// # Ok::<(), hookline_script::ContextError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct JsonContext {
    values: Map<String, Value>,
    schemas: Vec<(String, Arc<Schema>)>,
}

impl JsonContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a value.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Declares the column types of the record(s) at `path`: a top-level key (`record`), or a
    /// dotted path into objects (`data.data`, for Enfyra's `{ data: [...] }` lists). The value
    /// there may be one record or an array of records.
    #[must_use]
    pub fn with_schema(mut self, path: impl Into<String>, schema: impl Into<Arc<Schema>>) -> Self {
        self.schemas.push((path.into(), schema.into()));
        self
    }

    /// A value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A value, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.values.get_mut(key)
    }

    /// Sets a value, returning the old one.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.values.insert(key.into(), value.into())
    }

    /// Removes a value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    /// All values.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// All values, consuming the context.
    pub fn into_values(self) -> Map<String, Value> {
        self.values
    }
}

impl From<Map<String, Value>> for JsonContext {
    fn from(values: Map<String, Value>) -> Self {
        JsonContext {
            values,
            schemas: Vec::new(),
        }
    }
}

impl ScriptContext for JsonContext {
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        Ok(self.values.clone())
    }

    fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        for (key, value) in values.iter_mut() {
            if let Some(old) = self.values.get(key) {
                keep_number_kinds(old, value);
            }
        }
        for (path, schema) in &self.schemas {
            let mut segments = path.split('.');
            let Some(first) = segments.next() else {
                continue;
            };
            let mut target = values.get_mut(first);
            let mut before = self.values.get(first);
            for segment in segments {
                target = target.and_then(|t| t.get_mut(segment));
                before = before.and_then(|b| b.get(segment));
            }
            if let Some(target) = target {
                schema.coerce(path, target, before)?;
            }
        }
        self.values = values;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;
    use serde_json::json;

    #[test]
    fn schemas_reach_records_at_dotted_paths() {
        let mut ctx = JsonContext::new()
            .with("data", json!({ "data": [{ "price": 1.5 }] }))
            .with_schema(
                "data.data",
                Schema::new().column("price", ColumnType::Float),
            );
        let mut back = ctx.to_script().unwrap();
        back["data"] = json!({ "data": [{ "price": 2 }, { "price": 4 }] });
        ctx.apply_script(back).unwrap();
        let prices = &ctx.get("data").unwrap()["data"];
        assert!(prices[0]["price"].is_f64() && prices[1]["price"].is_f64());
    }

    #[test]
    fn a_bad_column_leaves_the_context_unchanged() {
        let mut ctx = JsonContext::new()
            .with("record", json!({ "rooms": 2 }))
            .with_schema("record", Schema::new().column("rooms", ColumnType::Integer));
        let mut back = ctx.to_script().unwrap();
        back["record"] = json!({ "rooms": 2.5 });
        assert!(ctx.apply_script(back).is_err());
        assert_eq!(ctx.get("record"), Some(&json!({ "rooms": 2 })));
    }

    #[test]
    fn removed_and_added_keys_are_taken_as_they_come() {
        let mut ctx = JsonContext::new().with("a", 1).with("b", 2);
        let mut back = ctx.to_script().unwrap();
        back.remove("a");
        back.insert("c".into(), json!(3));
        ctx.apply_script(back).unwrap();
        assert_eq!(ctx.values(), json!({ "b": 2, "c": 3 }).as_object().unwrap());
    }
}
