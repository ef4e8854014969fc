//! [`Record`]: one row as a JSON-like map, with typed accessors and serde conversion to and from
//! your own structs.
//!
//! Records are what flows return and what hooks see and change. They are plain data
//! (`serde_json` values) so that script hooks can receive and return them unchanged; the schema
//! coerces values to column types on the way into the database (see [`crate::schema`]).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::DataError;

/// One row: column name → JSON value.
///
/// ```
/// use hookline_data::Record;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Apartment { title: String, price: f64 }
///
/// let mut record = Record::from_struct(&Apartment { title: "Loft".into(), price: 120.0 })?;
/// record.set("price", 150.0);
/// assert_eq!(record.get_f64("price"), Some(150.0));
/// assert_eq!(record.get_str("title"), Some("Loft"));
/// let back: Apartment = record.to_struct()?;
/// assert_eq!(back, Apartment { title: "Loft".into(), price: 150.0 });
/// # Ok::<(), hookline_data::DataError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Record(Map<String, Value>);

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record(Map::new())
    }

    /// The value of a column, if present (a present `null` is `Some(Value::Null)`).
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0.get(column)
    }

    /// The value of a column, mutably.
    pub fn get_mut(&mut self, column: &str) -> Option<&mut Value> {
        self.0.get_mut(column)
    }

    /// Sets a column, returning the previous value.
    pub fn set(&mut self, column: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(column.into(), value.into())
    }

    /// Removes a column, returning its value.
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        self.0.remove(column)
    }

    /// `true` if the column is present (even as `null`).
    pub fn contains(&self, column: &str) -> bool {
        self.0.contains_key(column)
    }

    /// The number of columns present.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if no column is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The columns and their values, by column name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The columns and their values, by column name, with the values mutable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// The column names present.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The column as an integer (`None` if missing, null, or not an integer).
    pub fn get_i64(&self, column: &str) -> Option<i64> {
        self.get(column).and_then(Value::as_i64)
    }

    /// The column as a float (integers convert).
    pub fn get_f64(&self, column: &str) -> Option<f64> {
        self.get(column).and_then(Value::as_f64)
    }

    /// The column as a string (timestamps and UUIDs are strings).
    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.get(column).and_then(Value::as_str)
    }

    /// The column as a boolean.
    pub fn get_bool(&self, column: &str) -> Option<bool> {
        self.get(column).and_then(Value::as_bool)
    }

    /// `true` if the column is missing or `null`.
    pub fn is_null(&self, column: &str) -> bool {
        self.get(column).is_none_or(Value::is_null)
    }

    /// Converts the record into a Rust type through serde, without copying the record.
    pub fn to_struct<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        T::deserialize(&self.0).map_err(|source| DataError::Conversion {
            type_name: std::any::type_name::<T>(),
            source,
        })
    }

    /// Builds a record from a Rust type that serializes to a map.
    pub fn from_struct<T: Serialize>(value: &T) -> Result<Self, DataError> {
        let conversion = |source| DataError::Conversion {
            type_name: std::any::type_name::<T>(),
            source,
        };
        match serde_json::to_value(value).map_err(conversion)? {
            Value::Object(map) => Ok(Record(map)),
            other => Err(conversion(serde::ser::Error::custom(format!(
                "expected a struct or map, got {}",
                crate::coerce::describe(&other)
            )))),
        }
    }

    /// The underlying map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The underlying map, by value.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for Record {
    fn from(map: Map<String, Value>) -> Self {
        Record(map)
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Self {
        Value::Object(record.0)
    }
}

impl TryFrom<Value> for Record {
    type Error = DataError;

    /// A JSON object becomes a record; anything else is a conversion error.
    fn try_from(value: Value) -> Result<Self, DataError> {
        match value {
            Value::Object(map) => Ok(Record(map)),
            other => Err(DataError::Conversion {
                type_name: "Record",
                source: serde::de::Error::custom(format!(
                    "expected a JSON object, got {}",
                    crate::coerce::describe(&other)
                )),
            }),
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Record(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl IntoIterator for Record {
    type Item = (String, Value);
    type IntoIter = serde_json::map::IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_accessors_read_only_matching_kinds() {
        let r: Record = [
            ("n", json!(3)),
            ("f", json!(2.5)),
            ("s", json!("x")),
            ("b", json!(true)),
            ("z", Value::Null),
        ]
        .into_iter()
        .collect();
        assert_eq!(r.get_i64("n"), Some(3));
        assert_eq!(r.get_f64("n"), Some(3.0));
        assert_eq!(r.get_i64("f"), None);
        assert_eq!(r.get_str("s"), Some("x"));
        assert_eq!(r.get_bool("b"), Some(true));
        assert!(r.is_null("z") && r.is_null("missing") && !r.is_null("n"));
    }

    #[test]
    fn non_objects_are_not_records() {
        let err = Record::try_from(json!([1, 2])).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a JSON object, got an array")
        );
        let err = Record::from_struct(&5).unwrap_err();
        assert!(err.to_string().contains("expected a struct or map"));
    }

    #[test]
    fn to_struct_names_the_type_on_mismatch() {
        let r: Record = [("price", "cheap")].into_iter().collect();
        let err = r
            .to_struct::<std::collections::BTreeMap<String, f64>>()
            .unwrap_err();
        assert!(err.to_string().contains("BTreeMap"), "{err}");
    }
}
