//! [`Record`]: one row as a JSON-like map, with typed accessors and serde conversion to and from
//! your own structs.
//!
//! Records are what data flows return and what hooks see and change. They are plain data
//! (`serde_json` values) so that script hooks can receive and return them unchanged; the data
//! layer's schema coerces values to column types on the way into the database.

use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{ConversionError, describe};

/// One row: column name → JSON value, in the order the columns were added.
///
/// A record is a small map: rows of a table have tens of columns, so a lookup compares the
/// column names in turn (lengths first), which is several times cheaper than a tree or hash
/// lookup at that size. Columns keep the order they were added in: the schema's order for a
/// row read from the database, name order for a record made from JSON or a
/// [`serde_json::Map`], and columns added later at the end. Equality ignores the order.
///
/// ```
/// use hookline_types::Record;
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
/// # Ok::<(), hookline_types::ConversionError>(())
/// ```
#[derive(Clone, Default)]
pub struct Record(Vec<(String, Value)>);

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record(Vec::new())
    }

    /// An empty record with room for `columns` columns.
    pub fn with_capacity(columns: usize) -> Self {
        Record(Vec::with_capacity(columns))
    }

    /// Where the column is, if present.
    #[inline]
    fn position(&self, column: &str) -> Option<usize> {
        self.0.iter().position(|(name, _)| name == column)
    }

    /// The value of a column, if present (a present `null` is `Some(Value::Null)`).
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0
            .iter()
            .find_map(|(name, value)| (name == column).then_some(value))
    }

    /// The value of a column, mutably.
    pub fn get_mut(&mut self, column: &str) -> Option<&mut Value> {
        self.0
            .iter_mut()
            .find_map(|(name, value)| (name == column).then_some(value))
    }

    /// Sets a column, returning the previous value. A new column goes after the others.
    pub fn set(&mut self, column: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let (column, value) = (column.into(), value.into());
        match self.position(&column) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((column, value));
                None
            }
        }
    }

    /// Adds a column the caller knows the record does not have (a database row's columns are
    /// distinct), without looking for it first: cheaper than [`Record::set`] for building a
    /// row column by column. If the column is there after all, debug builds panic; release
    /// builds keep both, and [`Record::get`] sees the first.
    pub fn push_new(&mut self, column: String, value: Value) {
        debug_assert!(!self.contains(&column), "`{column}` is set once");
        self.0.push((column, value));
    }

    /// Removes a column, returning its value; the other columns keep their order.
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        let i = self.position(column)?;
        Some(self.0.remove(i).1)
    }

    /// `true` if the column is present (even as `null`).
    pub fn contains(&self, column: &str) -> bool {
        self.position(column).is_some()
    }

    /// The number of columns present.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if no column is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The columns and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The columns and their values, in order, with the values mutable (names are not, so the
    /// columns stay distinct).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// The column names present, in order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
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
    pub fn to_struct<T: DeserializeOwned>(&self) -> Result<T, ConversionError> {
        let entries = self.0.iter().map(|(k, v)| (k.as_str(), v));
        T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries)).map_err(|source| {
            ConversionError {
                type_name: std::any::type_name::<T>(),
                source,
            }
        })
    }

    /// Builds a record from a Rust type that serializes to a map.
    pub fn from_struct<T: Serialize>(value: &T) -> Result<Self, ConversionError> {
        let conversion = |source| ConversionError {
            type_name: std::any::type_name::<T>(),
            source,
        };
        match serde_json::to_value(value).map_err(conversion)? {
            Value::Object(map) => Ok(Record::from(map)),
            other => Err(conversion(serde::ser::Error::custom(format!(
                "expected a struct or map, got {}",
                describe(&other)
            )))),
        }
    }

    /// A copy of the record as a JSON map.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0.iter().cloned().collect()
    }

    /// The record as a JSON map, its names and values moved.
    pub fn into_map(self) -> Map<String, Value> {
        self.0.into_iter().collect()
    }
}

impl PartialEq for Record {
    /// The same columns with equal values, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .0
                .iter()
                .all(|(name, value)| other.get(name) == Some(value))
    }
}

impl fmt::Debug for Record {
    /// The columns with their values as JSON: `{"id": 1, "title": "Loft"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Json<'a>(&'a Value);
        impl fmt::Debug for Json<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self.0, f)
            }
        }
        f.debug_map()
            .entries(self.iter().map(|(column, value)| (column, Json(value))))
            .finish()
    }
}

impl fmt::Display for Record {
    /// The record as a JSON object, columns in order.
    ///
    /// ```
    /// use hookline_types::Record;
    /// let loft = Record::from_iter([("id", serde_json::json!(1)), ("title", "Loft".into())]);
    /// assert_eq!(loft.to_string(), r#"{"id":1,"title":"Loft"}"#);
    /// assert_eq!(format!("{loft:?}"), r#"{"id": 1, "title": "Loft"}"#);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Record {
    /// A JSON object, columns in order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Record {
    /// A JSON object: a repeated name keeps its last value, and the columns come in name
    /// order (the object is read into a [`Map`] first, so no input makes it slow).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Record::from)
    }
}

impl From<Map<String, Value>> for Record {
    /// The map's entries, in the map's order (by name).
    fn from(map: Map<String, Value>) -> Self {
        Record(map.into_iter().collect())
    }
}

impl From<Vec<(String, Value)>> for Record {
    /// The pairs in order, taken as they are when each column appears once; otherwise as
    /// [`FromIterator`] takes them (a repeated column keeps its first place and its last
    /// value).
    fn from(pairs: Vec<(String, Value)>) -> Self {
        let distinct = pairs
            .iter()
            .enumerate()
            .all(|(i, (name, _))| pairs[..i].iter().all(|(other, _)| other != name));
        if distinct {
            Record(pairs)
        } else {
            pairs.into_iter().collect()
        }
    }
}

impl From<Record> for Vec<(String, Value)> {
    /// The columns and their values, in order.
    fn from(record: Record) -> Self {
        record.0
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Self {
        Value::Object(record.into_map())
    }
}

impl TryFrom<Value> for Record {
    type Error = ConversionError;

    /// A JSON object becomes a record; anything else is a conversion error.
    fn try_from(value: Value) -> Result<Self, ConversionError> {
        match value {
            Value::Object(map) => Ok(Record::from(map)),
            other => Err(ConversionError {
                type_name: "Record",
                source: serde::de::Error::custom(format!(
                    "expected a JSON object, got {}",
                    describe(&other)
                )),
            }),
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Record {
    /// The pairs in order; a repeated column keeps its first place and its last value, as
    /// with [`Record::set`].
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut record = Record::with_capacity(iter.size_hint().0);
        for (column, value) in iter {
            record.set(column, value);
        }
        record
    }
}

impl std::ops::Index<&str> for Record {
    type Output = Value;

    /// The column's value.
    ///
    /// # Panics
    ///
    /// If the record has no such column, as indexing a [`Map`] does; [`Record::get`] does
    /// not panic.
    fn index(&self, column: &str) -> &Value {
        self.get(column)
            .unwrap_or_else(|| panic!("the record has no column `{column}`"))
    }
}

impl IntoIterator for Record {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    /// The columns and their values, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_become_a_record_in_order_with_repeated_columns_merged() {
        let pairs = vec![("b".to_string(), json!(1)), ("a".to_string(), json!(2))];
        let record = Record::from(pairs.clone());
        assert_eq!(Vec::from(record), pairs);
        let repeated = vec![
            ("b".to_string(), json!(1)),
            ("a".to_string(), json!(2)),
            ("b".to_string(), json!(3)),
        ];
        assert_eq!(
            Vec::from(Record::from(repeated)),
            [("b".to_string(), json!(3)), ("a".to_string(), json!(2))]
        );
    }

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
    fn columns_keep_their_order_and_set_replaces_in_place() {
        let mut r: Record = [("m", json!(1)), ("a", json!(2)), ("m", json!(3))]
            .into_iter()
            .collect();
        assert_eq!(r.columns().collect::<Vec<_>>(), ["m", "a"]);
        assert_eq!(
            r.get("m"),
            Some(&json!(3)),
            "a repeated column keeps its last value"
        );
        assert_eq!(r.set("a", 4), Some(json!(2)));
        assert_eq!(r.set("z", 5), None);
        assert_eq!(r.set("b", 6), None);
        assert_eq!(r.columns().collect::<Vec<_>>(), ["m", "a", "z", "b"]);
        assert_eq!(r.remove("m"), Some(json!(3)));
        assert_eq!(r.remove("m"), None);
        assert!(!r.contains("m") && r.contains("z") && r.len() == 3);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"a":4,"z":5,"b":6}"#);
        assert_eq!(format!("{r:?}"), r#"{"a": 4, "z": 5, "b": 6}"#);
    }

    #[test]
    fn equality_ignores_the_order_columns_were_set_in() {
        let ab: Record = [("a", 1), ("b", 2)].into_iter().collect();
        let ba: Record = [("b", 2), ("a", 1)].into_iter().collect();
        let other: Record = [("b", 2), ("a", 9)].into_iter().collect();
        let more: Record = [("b", 2), ("a", 1), ("c", 3)].into_iter().collect();
        assert_eq!(ab, ba);
        assert_ne!(ab, other);
        assert_ne!(ab, more);
        assert_ne!(more, ab);
    }

    #[test]
    fn json_objects_round_trip_with_the_last_duplicate() {
        let r: Record = serde_json::from_str(r#"{"z": 1, "a": 2, "z": 3}"#).unwrap();
        assert_eq!(r.columns().collect::<Vec<_>>(), ["a", "z"]);
        assert_eq!(r.get_i64("z"), Some(3));
        let map = r.clone().into_map();
        assert_eq!(map, r.to_map());
        assert_eq!(Record::from(map), r);
        assert_eq!(Value::from(r), json!({"a": 2, "z": 3}));
        assert!(serde_json::from_str::<Record>("[1]").is_err());
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
