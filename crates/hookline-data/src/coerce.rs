//! Values by column type: JSON values are checked and normalized for a column ([`coerce`]), then
//! turned into bound SQL values for one backend ([`to_sql`]).
//!
//! Normalizing makes both backends store and return the same thing: a float column given `3`
//! stores `3.0`; timestamps become UTC RFC 3339 text with six fraction digits (so SQLite's text
//! order is time order); UUIDs become lowercase hyphenated text. A value of the wrong kind is an
//! error, never a silent conversion (no `"3"` into an integer).

use sea_query::Value as SqlValue;
use serde_json::{Number, Value};
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::schema::ColumnType;
use crate::source::Backend;

/// The one timestamp format records carry: `2024-05-01T12:00:00.000000Z`.
const TIMESTAMP_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

pub(crate) use hookline_types::describe;

/// Checks that `value` fits a column of type `kind` and returns it normalized. `null` passes
/// (nullability is checked by the flows). The error describes what was found.
pub(crate) fn coerce(kind: ColumnType, value: &Value) -> Result<Value, String> {
    let mut value = value.clone();
    normalize(kind, &mut value)?;
    Ok(value)
}

/// [`coerce`] in place: checks that `value` fits a column of type `kind` and normalizes it
/// where it is not yet (a value already in its normal form — text, a boolean, an integer for
/// an integer column, a float for a float column — is left as it is). On an error, `value`
/// is unchanged.
pub(crate) fn normalize(kind: ColumnType, value: &mut Value) -> Result<(), String> {
    let wrong = |value: &Value| Err(describe(value));
    let normalized = match (kind, &*value) {
        (ColumnType::Text | ColumnType::Json, value) if has_nul(value) => {
            return Err(format!(
                "{}, which holds a NUL character (\\u0000) that databases do not store in text",
                describe(value)
            ));
        }
        (_, Value::Null)
        | (ColumnType::Json, _)
        | (ColumnType::Text, Value::String(_))
        | (ColumnType::Boolean, Value::Bool(_)) => return Ok(()),
        (ColumnType::Integer, Value::Number(n)) if n.is_i64() => return Ok(()),
        (ColumnType::Integer, Value::Number(n)) => match integer(n) {
            Some(i) => Value::from(i),
            None => return wrong(value),
        },
        // A float `Number` is always finite.
        (ColumnType::Float, Value::Number(n)) if n.is_f64() => return Ok(()),
        (ColumnType::Float, Value::Number(n)) => match n.as_f64().and_then(Number::from_f64) {
            Some(f) => Value::Number(f),
            None => return wrong(value),
        },
        (ColumnType::Timestamp, Value::String(s)) => match parse_timestamp(s) {
            Some(t) => Value::String(format_timestamp(t)),
            None => {
                return Err(format!(
                    "{}, which is not an RFC 3339 timestamp",
                    describe(value)
                ));
            }
        },
        (ColumnType::Uuid, Value::String(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Value::String(u.hyphenated().to_string()),
            Err(_) => return Err(format!("{}, which is not a UUID", describe(value))),
        },
        _ => return wrong(value),
    };
    *value = normalized;
    Ok(())
}

/// Whether a text, or any text inside a JSON value (keys included), holds a NUL character,
/// which PostgreSQL refuses in `text` and `jsonb` (SQLite would store it; refused on both, so
/// that a record means the same on either).
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// An integer, or a float without a fraction that fits (script engines turn `3` into `3.0`).
fn integer(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // 2^63 is exactly representable; anything at or above it does not fit an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let fits = f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f);
    fits.then_some(f as i64)
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Formats a timestamp in the records' one format (UTC, microseconds).
pub(crate) fn format_timestamp(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Turns a normalized value (from [`coerce`]) into a bound SQL value for `backend`. `null`
/// becomes a null of the column's SQL type, so PostgreSQL sees the right parameter type.
pub(crate) fn to_sql(kind: ColumnType, value: &Value, backend: Backend) -> SqlValue {
    let pg = backend == Backend::Postgres;
    match kind {
        ColumnType::Integer => SqlValue::BigInt(value.as_i64()),
        ColumnType::Float => SqlValue::Double(value.as_f64()),
        ColumnType::Text => SqlValue::String(value.as_str().map(str::to_owned)),
        ColumnType::Boolean => SqlValue::Bool(value.as_bool()),
        ColumnType::Timestamp if pg => {
            SqlValue::TimeDateTimeWithTimeZone(value.as_str().and_then(parse_timestamp))
        }
        ColumnType::Uuid if pg => {
            SqlValue::Uuid(value.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()))
        }
        ColumnType::Timestamp | ColumnType::Uuid => {
            SqlValue::String(value.as_str().map(str::to_owned))
        }
        ColumnType::Json if pg => {
            SqlValue::Json((!value.is_null()).then(|| Box::new(value.clone())))
        }
        ColumnType::Json => SqlValue::String((!value.is_null()).then(|| value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_the_column_type() {
        assert_eq!(coerce(ColumnType::Float, &json!(3)).unwrap(), json!(3.0));
        assert!(coerce(ColumnType::Float, &json!(3)).unwrap().is_f64());
        assert_eq!(coerce(ColumnType::Integer, &json!(3.0)).unwrap(), json!(3));
        assert!(coerce(ColumnType::Integer, &json!(3.5)).is_err());
        assert!(coerce(ColumnType::Integer, &json!(1e19)).is_err());
        assert!(coerce(ColumnType::Integer, &json!(u64::MAX)).is_err());
        assert_eq!(
            coerce(ColumnType::Integer, &json!("3")).unwrap_err(),
            "the string \"3\""
        );
    }

    #[test]
    fn normalizing_in_place_matches_coerce_and_keeps_a_refused_value() {
        let cases = [
            (ColumnType::Integer, json!(3)),
            (ColumnType::Integer, json!(-3)),
            (ColumnType::Integer, json!(3.0)),
            (ColumnType::Integer, json!(3.5)),
            (ColumnType::Integer, json!(u64::MAX)),
            (ColumnType::Float, json!(3)),
            (ColumnType::Float, json!(2.5)),
            (ColumnType::Text, json!("x")),
            (ColumnType::Text, json!(1)),
            (ColumnType::Boolean, json!(true)),
            (ColumnType::Timestamp, json!("2024-05-01T14:00:00+02:00")),
            (ColumnType::Timestamp, json!("yesterday")),
            (
                ColumnType::Uuid,
                json!("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            ),
            (ColumnType::Json, json!({"a": [1]})),
            (ColumnType::Float, Value::Null),
        ];
        for (kind, value) in cases {
            let mut in_place = value.clone();
            match (coerce(kind, &value), normalize(kind, &mut in_place)) {
                (Ok(coerced), Ok(())) => {
                    assert_eq!(in_place, coerced, "{kind} {value}");
                    assert_eq!(in_place.is_f64(), coerced.is_f64(), "{kind} {value}");
                }
                (Err(expected), Err(found)) => {
                    assert_eq!(found, expected);
                    assert_eq!(in_place, value, "a refused value is unchanged");
                }
                (coerced, normalized) => panic!("{kind} {value}: {coerced:?} vs {normalized:?}"),
            }
        }
    }

    #[test]
    fn kinds_are_not_converted_silently() {
        assert!(coerce(ColumnType::Text, &json!(1)).is_err());
        assert!(coerce(ColumnType::Boolean, &json!(1)).is_err());
        assert!(coerce(ColumnType::Integer, &json!(true)).is_err());
        assert!(coerce(ColumnType::Text, &json!(["a"])).is_err());
        assert_eq!(coerce(ColumnType::Text, &Value::Null).unwrap(), Value::Null);
        assert_eq!(
            coerce(ColumnType::Json, &json!({"a": [1]})).unwrap(),
            json!({"a": [1]})
        );
    }

    #[test]
    fn timestamps_normalize_to_utc_micros() {
        assert_eq!(
            coerce(ColumnType::Timestamp, &json!("2024-05-01T14:00:00+02:00")).unwrap(),
            json!("2024-05-01T12:00:00.000000Z")
        );
        assert_eq!(
            coerce(ColumnType::Timestamp, &json!("2024-05-01T12:00:00.5Z")).unwrap(),
            json!("2024-05-01T12:00:00.500000Z")
        );
        let err = coerce(ColumnType::Timestamp, &json!("yesterday")).unwrap_err();
        assert!(err.contains("not an RFC 3339 timestamp"));
    }

    #[test]
    fn uuids_normalize_to_lowercase() {
        assert_eq!(
            coerce(
                ColumnType::Uuid,
                &json!("67E55044-10B1-426F-9247-BB680E5FE0C8")
            )
            .unwrap(),
            json!("67e55044-10b1-426f-9247-bb680e5fe0c8")
        );
        assert!(coerce(ColumnType::Uuid, &json!("x'; drop table t; --")).is_err());
    }

    #[test]
    fn nulls_are_typed_for_postgres() {
        assert_eq!(
            to_sql(ColumnType::Uuid, &Value::Null, Backend::Postgres),
            SqlValue::Uuid(None)
        );
        assert_eq!(
            to_sql(ColumnType::Uuid, &Value::Null, Backend::Sqlite),
            SqlValue::String(None)
        );
        assert_eq!(
            to_sql(ColumnType::Json, &Value::Null, Backend::Postgres),
            SqlValue::Json(None)
        );
    }
}
