//! Bringing values back from JavaScript with their column types intact. [`ColumnType`] is the
//! shared vocabulary's (`hookline-types`); timestamps and UUIDs come back as strings.
//!
//! JavaScript has one number type, so QuickJS writes `3.0` as `3` and Rust would read an
//! integer. [`Schema::coerce`] puts each declared column back to its type (`3` in a float column
//! is `3.0`; `3.0` in an integer column is `3`; `2.5` in an integer column is an error), and
//! [`keep_number_kinds`] does the same for undeclared values by looking at what was handed in:
//! a value that was a float stays a float.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

pub use hookline_types::ColumnType;

use crate::error::{ContextError, short_json};

/// The type with its article, for messages ("an integer").
pub(crate) fn article(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "an integer",
        ColumnType::Float => "a float",
        ColumnType::Boolean => "a boolean",
        ColumnType::Text => "a text",
        ColumnType::Timestamp => "a timestamp",
        ColumnType::Json => "a JSON",
        ColumnType::Uuid => "a UUID",
    }
}

/// The declared column types of a record, used to bring script results back with their types.
///
/// `null` fits every column (whether a column may be null is the data layer's rule). Columns the
/// schema does not name keep the number kinds they had ([`keep_number_kinds`]).
///
/// ```
/// use hookline_script::{ColumnType, Schema};
/// use serde_json::json;
///
/// let schema = Schema::new()
///     .column("price", ColumnType::Float)
///     .column("rooms", ColumnType::Integer);
/// let mut record = json!({ "price": 3, "rooms": 2.0, "title": "Loft" });
/// schema.coerce("record", &mut record, None)?;
/// assert!(record["price"].is_f64() && record["rooms"].is_i64());
///
/// let mut bad = json!({ "rooms": 2.5 });
/// let err = schema.coerce("record", &mut bad, None).unwrap_err();
/// assert_eq!(err.to_string(), "`record.rooms` is an integer column, but the value is 2.5");
/// # Ok::<(), hookline_script::ContextError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    columns: BTreeMap<String, ColumnType>,
}

impl Schema {
    /// A schema with no columns.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a column.
    #[must_use]
    pub fn column(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.insert(name.into(), ty);
        self
    }

    /// The declared type of a column.
    pub fn get(&self, name: &str) -> Option<ColumnType> {
        self.columns.get(name).copied()
    }

    /// The declared columns, by name.
    pub fn columns(&self) -> impl Iterator<Item = (&str, ColumnType)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Coerces `value` — a record (object), or an array of records — to the declared types.
    /// `before` is the value as it was handed to the script, for the number kinds of
    /// undeclared columns. `path` names the value in errors (`record`, `response`).
    pub fn coerce(
        &self,
        path: &str,
        value: &mut Value,
        before: Option<&Value>,
    ) -> Result<(), ContextError> {
        match value {
            Value::Object(record) => {
                let before = before.and_then(Value::as_object);
                self.coerce_record(path, record, before)
            }
            Value::Array(records) => {
                for (i, item) in records.iter_mut().enumerate() {
                    let before = before.and_then(|b| b.get(i));
                    if item.is_object() {
                        self.coerce(&format!("{path}[{i}]"), item, before)?;
                    } else if let Some(before) = before {
                        keep_number_kinds(before, item);
                    }
                }
                Ok(())
            }
            other => {
                if let Some(before) = before {
                    keep_number_kinds(before, other);
                }
                Ok(())
            }
        }
    }

    /// Coerces one record's columns (see [`Schema::coerce`]).
    pub fn coerce_record(
        &self,
        path: &str,
        record: &mut Map<String, Value>,
        before: Option<&Map<String, Value>>,
    ) -> Result<(), ContextError> {
        for (name, value) in record.iter_mut() {
            match self.columns.get(name) {
                Some(ty) => {
                    coerce_column(*ty, value).map_err(|found| ContextError::ColumnType {
                        path: format!("{path}.{name}"),
                        expected: *ty,
                        found,
                    })?
                }
                None => {
                    if let Some(old) = before.and_then(|b| b.get(name)) {
                        keep_number_kinds(old, value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Brings `value` to column type `ty`, or says what it is instead.
fn coerce_column(ty: ColumnType, value: &mut Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match (ty, &*value) {
        (ColumnType::Json, _) => Ok(()),
        (ColumnType::Integer, Value::Number(n)) => {
            if n.is_i64() {
                return Ok(());
            }
            match n.as_f64().filter(|_| n.is_f64()) {
                // The bounds are exactly representable: -2^63 and 2^63.
                Some(f)
                    if f.fract() == 0.0
                        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
                {
                    *value = Value::from(f as i64);
                    Ok(())
                }
                _ => Err(n.to_string()),
            }
        }
        (ColumnType::Float, Value::Number(n)) => {
            if n.is_f64() {
                return Ok(());
            }
            match n.as_f64().and_then(Number::from_f64) {
                Some(f) => {
                    *value = Value::Number(f);
                    Ok(())
                }
                None => Err(n.to_string()),
            }
        }
        (ColumnType::Boolean, Value::Bool(_))
        | (ColumnType::Text | ColumnType::Timestamp | ColumnType::Uuid, Value::String(_)) => Ok(()),
        (_, other) => Err(short_json(other)),
    }
}

/// Keeps the number kinds of `before` in `after`: wherever `before` held a float and `after`
/// holds an integer at the same place (same key, same index), the integer becomes a float.
/// Objects and arrays are followed recursively.
///
/// ```
/// use hookline_script::keep_number_kinds;
/// use serde_json::json;
///
/// let before = json!({ "price": 3.5, "items": [{ "w": 1.5 }] });
/// let mut after = json!({ "price": 3, "items": [{ "w": 2 }], "new": 1 });
/// keep_number_kinds(&before, &mut after);
/// assert_eq!(after.to_string(), r#"{"items":[{"w":2.0}],"new":1,"price":3.0}"#);
/// ```
pub fn keep_number_kinds(before: &Value, after: &mut Value) {
    match (before, after) {
        (Value::Number(old), Value::Number(new)) => {
            if old.is_f64()
                && !new.is_f64()
                && let Some(f) = new.as_f64().and_then(Number::from_f64)
            {
                *new = f;
            }
        }
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in new.iter_mut() {
                if let Some(old) = old.get(key) {
                    keep_number_kinds(old, value);
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            for (old, value) in old.iter().zip(new.iter_mut()) {
                keep_number_kinds(old, value);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::new()
            .column("id", ColumnType::Integer)
            .column("price", ColumnType::Float)
            .column("live", ColumnType::Boolean)
            .column("title", ColumnType::Text)
            .column("meta", ColumnType::Json)
    }

    #[test]
    fn numbers_come_back_as_their_column_types() {
        let mut v = json!({ "id": 7.0, "price": 3, "live": true, "title": "x", "meta": [1] });
        schema().coerce("record", &mut v, None).unwrap();
        assert_eq!(v["id"], json!(7));
        assert!(v["id"].is_i64());
        assert!(v["price"].is_f64());
        assert_eq!(v["price"].as_f64(), Some(3.0));
    }

    #[test]
    fn nulls_fit_every_column() {
        let mut v = json!({ "id": null, "price": null, "live": null, "title": null });
        schema().coerce("record", &mut v, None).unwrap();
    }

    #[test]
    fn mismatches_name_the_path_the_type_and_the_value() {
        for (record, message) in [
            (
                json!({ "id": 2.5 }),
                "`r.id` is an integer column, but the value is 2.5",
            ),
            (
                json!({ "id": 1e19 }),
                "`r.id` is an integer column, but the value is 1e+19",
            ),
            (
                json!({ "id": u64::MAX }),
                "`r.id` is an integer column, but the value is 18446744073709551615",
            ),
            (
                json!({ "price": "3" }),
                "`r.price` is a float column, but the value is \"3\"",
            ),
            (
                json!({ "live": 1 }),
                "`r.live` is a boolean column, but the value is 1",
            ),
            (
                json!({ "title": {"a": 1} }),
                "`r.title` is a text column, but the value is {\"a\":1}",
            ),
        ] {
            let mut record = record;
            let err = schema().coerce("r", &mut record, None).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn arrays_of_records_are_coerced_item_by_item() {
        let mut v = json!([{ "price": 1 }, { "price": 2.5 }, { "price": "x" }]);
        let err = schema().coerce("response", &mut v, None).unwrap_err();
        assert!(err.to_string().starts_with("`response[2].price`"), "{err}");
        assert!(v[0]["price"].is_f64());
    }

    #[test]
    fn undeclared_columns_keep_the_kinds_they_came_with() {
        let before = json!({ "weight": 1.5, "count": 2 });
        let mut after = json!({ "weight": 2, "count": 3 });
        schema().coerce("r", &mut after, Some(&before)).unwrap();
        assert!(after["weight"].is_f64());
        assert!(after["count"].is_i64());
    }
}
