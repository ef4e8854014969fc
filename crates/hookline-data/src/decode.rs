//! Rows to [`Record`]s, per backend, by the schema's column type and the value's actual
//! database type.
//!
//! The statements select columns in a known order, so each row is read by position. Existing
//! tables may use narrower or older types than hookline creates (`INT4`, `REAL`, `TIMESTAMP`
//! without time zone, `VARCHAR`, SQLite's `CURRENT_TIMESTAMP` text); those are read too.
//! Anything else is a [`DataError::Decode`] naming the column and the database type.

use serde_json::{Number, Value};
use sqlx::postgres::{PgRow, PgValueRef};
use sqlx::sqlite::{SqliteRow, SqliteValueRef};
use sqlx::{Decode, Postgres, Row, Sqlite, TypeInfo, ValueRef};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::coerce::{format_timestamp, parse_timestamp};
use crate::error::DataError;
use crate::record::Record;
use crate::schema::ColumnType;

/// Room a decoded record keeps for columns beyond the selected ones: response hooks often add
/// computed columns to every row (AdminForth's virtual columns), and a row with room for them
/// is not reallocated by the hook.
const ADDED_COLUMNS: usize = 2;

/// A column of a result: its key in the record and its type.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: ColumnType,
}

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

fn decode_error(resource: &str, field: &Field, db_type: &str, message: impl ToString) -> DataError {
    DataError::Decode {
        resource: resource.into(),
        column: field.name.clone(),
        db_type: db_type.into(),
        message: message.to_string(),
    }
}

fn float(f: f64) -> Result<Value, BoxDynError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a finite number").into())
}

/// SQLite's `CURRENT_TIMESTAMP` form, `2024-05-01 12:00:00`, read as UTC.
fn parse_sqlite_datetime(s: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Decodes the rows of a result, in order, into a vector of the right size.
pub(crate) fn rows<R>(
    rows: &[R],
    decode: impl Fn(&R) -> Result<Record, DataError>,
) -> Result<Vec<Record>, DataError> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        records.push(decode(row)?);
    }
    Ok(records)
}

/// Decodes one SQLite row.
pub(crate) fn sqlite_row(
    row: &SqliteRow,
    resource: &str,
    fields: &[Field],
) -> Result<Record, DataError> {
    let mut record = Record::with_capacity(fields.len() + ADDED_COLUMNS);
    for (i, field) in fields.iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let info = raw.type_info().into_owned();
        let db_type = info.name();
        let value = if raw.is_null() {
            Value::Null
        } else {
            sqlite_value(raw, field.kind, db_type)
                .map_err(|e| decode_error(resource, field, db_type, e))?
        };
        record.push_new(field.name.clone(), value);
    }
    Ok(record)
}

fn sqlite_value(
    raw: SqliteValueRef<'_>,
    kind: ColumnType,
    db_type: &str,
) -> Result<Value, BoxDynError> {
    fn text(raw: SqliteValueRef<'_>) -> Result<String, BoxDynError> {
        <String as Decode<Sqlite>>::decode(raw)
    }
    fn int(raw: SqliteValueRef<'_>) -> Result<i64, BoxDynError> {
        <i64 as Decode<Sqlite>>::decode(raw)
    }
    fn real(raw: SqliteValueRef<'_>) -> Result<f64, BoxDynError> {
        <f64 as Decode<Sqlite>>::decode(raw)
    }
    Ok(match (kind, db_type) {
        (ColumnType::Integer, "INTEGER") => Value::from(int(raw)?),
        (ColumnType::Integer, "REAL") => {
            let f = real(raw)?;
            if f.fract() != 0.0 {
                return Err(format!("{f} is not an integer").into());
            }
            Value::from(f as i64)
        }
        (ColumnType::Float, "REAL") => float(real(raw)?)?,
        (ColumnType::Float, "INTEGER") => float(int(raw)? as f64)?,
        (ColumnType::Boolean, "INTEGER") => Value::Bool(int(raw)? != 0),
        (ColumnType::Text, "TEXT") => Value::String(text(raw)?),
        (ColumnType::Uuid, "TEXT") => {
            let s = text(raw)?;
            Value::String(uuid::Uuid::parse_str(&s)?.hyphenated().to_string())
        }
        (ColumnType::Timestamp, "TEXT") => {
            let s = text(raw)?;
            let t = parse_timestamp(&s)
                .or_else(|| parse_sqlite_datetime(&s))
                .ok_or_else(|| format!("{s:?} is not a timestamp"))?;
            Value::String(format_timestamp(t))
        }
        (ColumnType::Timestamp, "INTEGER") => Value::String(format_timestamp(
            OffsetDateTime::from_unix_timestamp(int(raw)?)?,
        )),
        (ColumnType::Json, "TEXT") => serde_json::from_str(&text(raw)?)?,
        (ColumnType::Json, "INTEGER") => Value::from(int(raw)?),
        (ColumnType::Json, "REAL") => float(real(raw)?)?,
        (kind, db_type) => return Err(format!("a {db_type} value is not a {kind}").into()),
    })
}

/// Decodes one PostgreSQL row.
pub(crate) fn postgres_row(
    row: &PgRow,
    resource: &str,
    fields: &[Field],
) -> Result<Record, DataError> {
    let mut record = Record::with_capacity(fields.len() + ADDED_COLUMNS);
    for (i, field) in fields.iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let info = raw.type_info().into_owned();
        let db_type = info.name();
        let value = if raw.is_null() {
            Value::Null
        } else {
            postgres_value(raw, field.kind, db_type)
                .map_err(|e| decode_error(resource, field, db_type, e))?
        };
        record.push_new(field.name.clone(), value);
    }
    Ok(record)
}

fn postgres_value(
    raw: PgValueRef<'_>,
    kind: ColumnType,
    db_type: &str,
) -> Result<Value, BoxDynError> {
    fn get<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Result<T, BoxDynError> {
        T::decode(raw)
    }
    Ok(match (kind, db_type) {
        (ColumnType::Integer, "INT8") => Value::from(get::<i64>(raw)?),
        (ColumnType::Integer, "INT4") => Value::from(get::<i32>(raw)?),
        (ColumnType::Integer, "INT2") => Value::from(get::<i16>(raw)?),
        (ColumnType::Float, "FLOAT8") => float(get::<f64>(raw)?)?,
        (ColumnType::Float, "FLOAT4") => float(f64::from(get::<f32>(raw)?))?,
        (ColumnType::Float, "INT8") => float(get::<i64>(raw)? as f64)?,
        (ColumnType::Float, "INT4") => float(f64::from(get::<i32>(raw)?))?,
        (ColumnType::Float, "INT2") => float(f64::from(get::<i16>(raw)?))?,
        (ColumnType::Boolean, "BOOL") => Value::Bool(get::<bool>(raw)?),
        (ColumnType::Text, "TEXT" | "VARCHAR" | "BPCHAR" | "NAME") => {
            Value::String(get::<String>(raw)?)
        }
        (ColumnType::Uuid, "UUID") => {
            Value::String(get::<uuid::Uuid>(raw)?.hyphenated().to_string())
        }
        (ColumnType::Uuid, "TEXT" | "VARCHAR") => Value::String(
            uuid::Uuid::parse_str(&get::<String>(raw)?)?
                .hyphenated()
                .to_string(),
        ),
        (ColumnType::Timestamp, "TIMESTAMPTZ") => {
            Value::String(format_timestamp(get::<OffsetDateTime>(raw)?))
        }
        (ColumnType::Timestamp, "TIMESTAMP") => Value::String(format_timestamp(
            get::<PrimitiveDateTime>(raw)?.assume_utc(),
        )),
        (ColumnType::Json, "JSONB" | "JSON") => get::<Value>(raw)?,
        (ColumnType::Float, "NUMERIC") => {
            return Err(
                "NUMERIC columns are not supported; use DOUBLE PRECISION or cast in a view".into(),
            );
        }
        (kind, db_type) => return Err(format!("a {db_type} value is not a {kind}").into()),
    })
}
