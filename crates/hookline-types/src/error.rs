//! The errors of this crate's conversions: [`QueryError`] (a query of the wrong shape) and
//! [`ConversionError`] (a record to or from a Rust type), and [`describe`], how error messages
//! name a JSON value.

use serde_json::Value;

/// A query that could not be read: an unknown filter operator, or a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A filter operator that does not exist.
    #[error(
        "unknown filter operator `{operator}`; expected one of: eq, ne, lt, lte, gt, gte, in, not_in, like, ilike, is_null"
    )]
    UnknownOperator {
        /// The operator given.
        operator: String,
    },
    /// A query that does not have the expected shape.
    #[error("invalid query: {message}")]
    Invalid {
        /// What is wrong, with the path to it.
        message: String,
    },
}

/// A record that could not be converted to or from a Rust type.
#[derive(Debug, thiserror::Error)]
#[error("record does not convert to or from `{type_name}`: {source}")]
pub struct ConversionError {
    /// The Rust type.
    pub type_name: &'static str,
    /// serde's explanation.
    pub source: serde_json::Error,
}

/// Describes a JSON value for an error message: `the string "x"`, `an array`, …; long strings
/// are cut at 40 characters.
///
/// ```
/// use hookline_types::describe;
/// use serde_json::json;
///
/// assert_eq!(describe(&json!("x")), r#"the string "x""#);
/// assert_eq!(describe(&json!([1])), "an array");
/// ```
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("a string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
