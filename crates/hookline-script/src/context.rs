//! What scripts see of a hook's context: the [`ScriptContext`] trait (a context that converts to
//! a JSON object and takes changes back) and [`JsonContext`], a ready-made context of named JSON
//! values for integrations that have no Rust types of their own.
//!
//! The implementations for pipeline contexts ([`Before`](hookline::Before),
//! [`After`](hookline::After)) live in [`crate::pipeline`].

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ContextError;
use crate::schema::{Schema, keep_number_kinds};

/// A hook context that scripts can read and change.
///
/// A call converts the context **once** with [`lend_script`](ScriptContext::lend_script)
/// ([`to_script`](ScriptContext::to_script) unless the context moves its values out), runs
/// every script of the tap on that one object, and hands the object back once with
/// [`restore_script`](ScriptContext::restore_script) (which applies it with
/// [`apply_script`](ScriptContext::apply_script) unless overridden). The worker patches the
/// values it was given with what the scripts changed, so values the scripts left alone come
/// back as they went. Two optional parts make that cheaper for data hooks: records lent as
/// rows ([`lend_records`](ScriptContext::lend_records), before the values, and
/// [`restore_records`](ScriptContext::restore_records), before them), and reading back only
/// the values the context takes ([`taken_back`](ScriptContext::taken_back)).
///
/// The object's keys are what scripts see:
/// - a function-style script gets the object as its argument: `({ record, user }) => …`;
/// - a body-style script sees key `k` as `$ctx.$k`; the macros read `body`, `query`, `params`,
///   `user`, `data`, `error`, `statusCode` (`@STATUS`), `share` and `api`.
///
/// JavaScript has a single number type: bring numbers back to their column types in
/// `apply_script` with a [`Schema`] or [`keep_number_kinds`].
pub trait ScriptContext: Send {
    /// The values scripts see, by name.
    fn to_script(&self) -> Result<Map<String, Value>, ContextError>;

    /// Takes back the values after the scripts ran: the same object, as the scripts left it
    /// (keys may have been added, changed or removed; `undefined` values are gone). Numbers have
    /// the kind of the number at the same place in the values handed out, if there was one
    /// ([`keep_number_kinds`]): a float stays a float.
    fn apply_script(&mut self, values: Map<String, Value>) -> Result<(), ContextError>;

    /// The values scripts see, for a call that hands them back with
    /// [`restore_script`](ScriptContext::restore_script): a context may *move* its values out
    /// here instead of copying them. The default copies ([`to_script`](ScriptContext::to_script)).
    ///
    /// The call hands the values back whatever the scripts did. They are **lost** only if the
    /// call never finishes: its future is dropped while a worker holds them (a timeout around
    /// it, a dropped request), the pool is closed, or the worker stops. A context that moves
    /// values out must then not be used as if it were whole. Inside a hook call that is
    /// guaranteed: a tap's timeout fails the call, and a dropped call drops its context.
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        self.to_script()
    }

    /// Takes back the values of [`lend_script`](ScriptContext::lend_script). The default applies
    /// [`Returned::Changed`] with [`apply_script`](ScriptContext::apply_script) and drops
    /// [`Returned::Unchanged`] (a copy).
    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        match values {
            Returned::Changed(values) => self.apply_script(values),
            Returned::Unchanged(_) => Ok(()),
        }
    }

    /// The keys of the values whose changes this context takes back, if not all: only these
    /// are read back from JavaScript after the scripts ran, and the others go back to
    /// [`restore_script`](ScriptContext::restore_script) as they were lent, whatever the
    /// scripts did to them. Reading back a value costs about as much as building it, so a
    /// context that shows scripts more than they may change says so here. The default, `None`,
    /// reads all of them.
    fn taken_back(&self) -> Option<&[&str]> {
        None
    }

    /// Records to lend the scripts as the value of one more key, beside the values of
    /// [`lend_script`](ScriptContext::lend_script) (asked for after them): rows as
    /// (column, value) pairs, which the worker builds into JavaScript and patches with the
    /// scripts' changes directly, without a JSON object per row. A record keeps its columns'
    /// order, and a column the scripts add comes last. A value of the same key among the
    /// values is replaced. The default lends none.
    fn lend_records(&mut self) -> Option<(String, Records)> {
        None
    }

    /// Takes back the records of [`lend_records`](ScriptContext::lend_records), before the
    /// values go back with [`restore_script`](ScriptContext::restore_script). They come back
    /// patched when the call continued or returned, as lent when it was rejected or failed,
    /// and as [`RecordsBack::Replaced`] when the scripts left something else there. The
    /// default refuses them: a context that lends records takes them back.
    fn restore_records(&mut self, key: String, records: RecordsBack) -> Result<(), ContextError> {
        drop(records);
        Err(ContextError::invalid(format!(
            "the context lent no records under `{key}`"
        )))
    }
}

/// A record lent to scripts: its (column, value) pairs, in order, each column once.
pub type Row = Vec<(String, Value)>;

/// Records lent to scripts with [`ScriptContext::lend_records`].
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// One record, which scripts see as an object.
    One(Row),
    /// Rows, which scripts see as an array of objects.
    Many(Vec<Row>),
}

/// Records handed back to [`ScriptContext::restore_records`].
#[derive(Debug, Clone, PartialEq)]
pub enum RecordsBack {
    /// The records, with the scripts' changes (if the call kept them): changed columns in
    /// place, removed ones gone, added ones last; rows the scripts removed are gone and rows
    /// they added come last, with their columns in name order. Numbers keep the kind of the
    /// number that was in their place ([`keep_number_kinds`]).
    Records(Records),
    /// The scripts left something other than the lent shape under the key (an array where
    /// one record was, something other than an object where a record was): the JSON of what
    /// they left, `None` if they removed the key or left a value JSON has no form for. Where
    /// it still has a record's shape, numbers keep the kind of the lent record's column.
    Replaced(Option<Value>),
}

/// What one call lends the scripts: the context's values, and its records under their key.
#[derive(Debug)]
pub(crate) struct Lent {
    pub(crate) values: Map<String, Value>,
    pub(crate) records: Option<(String, RecordsBack)>,
    /// [`ScriptContext::taken_back`].
    pub(crate) taken_back: Option<Vec<String>>,
}

/// Lent values handed back to [`ScriptContext::restore_script`].
#[derive(Debug, Clone, PartialEq)]
pub enum Returned {
    /// The call continued or short-circuited: the values as the scripts left them, to take
    /// back as [`ScriptContext::apply_script`] does. Values the scripts did not change are
    /// the ones lent, not copies.
    Changed(Map<String, Value>),
    /// The call was rejected or failed: the values as they were lent. The scripts' changes are
    /// dropped.
    Unchanged(Map<String, Value>),
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
