//! What a read asks for: [`Query`] (filters, sort, limit/offset, total, source) and
//! [`Aggregate`]s.
//!
//! A query is plain data that `before_datasource_request` hooks may change, in Rust or (through
//! serde) in a script. It names columns by string; the flows check every name and value against
//! the resource's schema before any SQL is built (`hookline-data` checks them and builds the
//! SQL; a script's `find` is read into the same [`Query`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::QueryError;

/// A comparison in a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal (`null` is refused: use `is_null`).
    Eq,
    /// Not equal (rows where the column is null do not match, as in SQL).
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// One of a list of values (`value` is an array; an empty list matches nothing).
    In,
    /// None of a list of values (an empty list matches every row; otherwise nulls do not match).
    NotIn,
    /// A case-sensitive SQL pattern (`%` any run, `_` one character, `\\` escapes either),
    /// text columns only.
    Like,
    /// A case-insensitive SQL pattern, text columns only (on SQLite, case folds ASCII only).
    Ilike,
    /// `value: true` (or `null`) matches nulls, `value: false` non-nulls.
    IsNull,
}

impl Operator {
    /// Every operator, in documentation order.
    pub const ALL: [Operator; 11] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::In,
        Operator::NotIn,
        Operator::Like,
        Operator::Ilike,
        Operator::IsNull,
    ];

    /// The operator's name: `"eq"`, `"not_in"`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Ne => "ne",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Like => "like",
            Operator::Ilike => "ilike",
            Operator::IsNull => "is_null",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operator {
    type Err = QueryError;

    /// Parses an operator name; an unknown name is [`QueryError::UnknownOperator`].
    ///
    /// ```
    /// use hookline_types::{QueryError, Operator};
    /// assert_eq!("not_in".parse::<Operator>().unwrap(), Operator::NotIn);
    /// assert!(matches!("regex".parse::<Operator>(), Err(QueryError::UnknownOperator { .. })));
    /// ```
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Operator::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| QueryError::UnknownOperator {
                operator: s.to_owned(),
            })
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// One comparison: `field operator value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The column.
    pub field: String,
    /// The comparison.
    pub operator: Operator,
    /// The value (an array for `in`/`not_in`, a boolean or null for `is_null`).
    #[serde(default)]
    pub value: Value,
}

/// A filter: a condition, or an `and`/`or` group of filters.
///
/// The serde form is AdminForth's: `{"field": "realtor_id", "operator": "eq", "value": 7}`,
/// `{"and": [...]}`, `{"or": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawFilter")]
pub enum Filter {
    /// One comparison.
    Condition(Condition),
    /// All of these (an empty group matches everything).
    And {
        /// The members.
        and: Vec<Filter>,
    },
    /// Any of these (an empty group matches nothing).
    Or {
        /// The members.
        or: Vec<Filter>,
    },
}

/// The serde form of a filter before it is known which kind it is; gives precise errors
/// (an untagged enum would only say "did not match any variant").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    field: Option<String>,
    operator: Option<Operator>,
    #[serde(default)]
    value: Value,
    and: Option<Vec<Filter>>,
    or: Option<Vec<Filter>>,
}

impl TryFrom<RawFilter> for Filter {
    type Error = String;

    fn try_from(raw: RawFilter) -> Result<Self, String> {
        match raw {
            RawFilter {
                field: Some(field),
                operator: Some(operator),
                value,
                and: None,
                or: None,
            } => Ok(Filter::Condition(Condition {
                field,
                operator,
                value,
            })),
            RawFilter {
                field: None,
                operator: None,
                value: Value::Null,
                and: Some(and),
                or: None,
            } => Ok(Filter::And { and }),
            RawFilter {
                field: None,
                operator: None,
                value: Value::Null,
                and: None,
                or: Some(or),
            } => Ok(Filter::Or { or }),
            _ => Err(
                "a filter is either {field, operator, value} or {and: [...]} or {or: [...]}".into(),
            ),
        }
    }
}

impl Filter {
    fn condition(field: impl Into<String>, operator: Operator, value: Value) -> Self {
        Filter::Condition(Condition {
            field: field.into(),
            operator,
            value,
        })
    }

    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Eq, value.into())
    }

    /// `field <> value`.
    pub fn ne(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Ne, value.into())
    }

    /// `field < value`.
    pub fn lt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Lt, value.into())
    }

    /// `field <= value`.
    pub fn lte(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Lte, value.into())
    }

    /// `field > value`.
    pub fn gt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Gt, value.into())
    }

    /// `field >= value`.
    pub fn gte(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, Operator::Gte, value.into())
    }

    /// `field IN (values)`.
    pub fn is_in<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        let values = values.into_iter().map(Into::into).collect();
        Self::condition(field, Operator::In, Value::Array(values))
    }

    /// `field NOT IN (values)`.
    pub fn not_in<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        let values = values.into_iter().map(Into::into).collect();
        Self::condition(field, Operator::NotIn, Value::Array(values))
    }

    /// `field LIKE pattern`, case-sensitive.
    pub fn like(field: impl Into<String>, pattern: impl Into<String>) -> Self {
        Self::condition(field, Operator::Like, Value::String(pattern.into()))
    }

    /// `field LIKE pattern`, case-insensitive.
    pub fn ilike(field: impl Into<String>, pattern: impl Into<String>) -> Self {
        Self::condition(field, Operator::Ilike, Value::String(pattern.into()))
    }

    /// `field` contains `text` literally (case-sensitive): a [`like`](Self::like) whose `%`,
    /// `_` and `\` in `text` match themselves.
    pub fn contains(field: impl Into<String>, text: &str) -> Self {
        Self::like(field, format!("%{}%", escape_like(text)))
    }

    /// `field` starts with `text` literally (case-sensitive); see [`contains`](Self::contains).
    pub fn starts_with(field: impl Into<String>, text: &str) -> Self {
        Self::like(field, format!("{}%", escape_like(text)))
    }

    /// `field` ends with `text` literally (case-sensitive); see [`contains`](Self::contains).
    pub fn ends_with(field: impl Into<String>, text: &str) -> Self {
        Self::like(field, format!("%{}", escape_like(text)))
    }

    /// `field IS NULL`.
    pub fn is_null(field: impl Into<String>) -> Self {
        Self::condition(field, Operator::IsNull, Value::Bool(true))
    }

    /// `field IS NOT NULL`.
    pub fn is_not_null(field: impl Into<String>) -> Self {
        Self::condition(field, Operator::IsNull, Value::Bool(false))
    }

    /// All of these.
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Self {
        Filter::And {
            and: filters.into_iter().collect(),
        }
    }

    /// Any of these.
    pub fn or(filters: impl IntoIterator<Item = Filter>) -> Self {
        Filter::Or {
            or: filters.into_iter().collect(),
        }
    }

    /// The column of a condition (`None` for groups).
    pub fn field(&self) -> Option<&str> {
        match self {
            Filter::Condition(c) => Some(&c.field),
            _ => None,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    /// The column.
    pub field: String,
    /// The direction.
    #[serde(default)]
    pub direction: Direction,
}

impl Sort {
    /// Ascending by `field`.
    pub fn asc(field: impl Into<String>) -> Self {
        Sort {
            field: field.into(),
            direction: Direction::Asc,
        }
    }

    /// Descending by `field`.
    pub fn desc(field: impl Into<String>) -> Self {
        Sort {
            field: field.into(),
            direction: Direction::Desc,
        }
    }
}

/// Why a read happens, so hooks can tell (AdminForth's `query.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A list page (also counts).
    #[default]
    List,
    /// A show page.
    Show,
    /// The edit page's initial data (runs the `show` hooks).
    Edit,
    /// A dropdown of a foreign-key column (runs the column's dropdown hooks).
    Dropdown,
    /// An aggregate (runs the `list` request hooks, so row scoping applies).
    Aggregate,
}

/// A read request: filters (all must match), sort keys, a page, and whether to count the total.
///
/// ```
/// use hookline_types::{Filter, Query};
/// let q = Query::new()
///     .filter(Filter::gte("price", 100))
///     .filter(Filter::or([Filter::eq("city", "Kyiv"), Filter::ilike("title", "%loft%")]))
///     .sort_desc("price")
///     .limit(20)
///     .with_total();
/// assert_eq!(q.filters.len(), 2);
///
/// // The JSON form, as a server receives it:
/// let same = Query::from_json(serde_json::json!({
///     "filters": [
///         {"field": "price", "operator": "gte", "value": 100},
///         {"or": [{"field": "city", "operator": "eq", "value": "Kyiv"},
///                 {"field": "title", "operator": "ilike", "value": "%loft%"}]}
///     ],
///     "sort": [{"field": "price", "direction": "desc"}],
///     "limit": 20,
///     "with_total": true
/// }))?;
/// assert_eq!(same, q);
/// # Ok::<(), hookline_types::QueryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Query {
    /// Filters; a record must match all of them.
    pub filters: Vec<Filter>,
    /// Sort keys, most significant first. The primary key is always the last tiebreaker, so
    /// pages are stable.
    pub sort: Vec<Sort>,
    /// The page size; the resource's `default_limit` if unset, at most its `max_limit`.
    pub limit: Option<u64>,
    /// Records to skip.
    pub offset: u64,
    /// Also count all matching records (a second query).
    pub with_total: bool,
    /// Why the read happens; set by the flow.
    pub source: Source,
}

impl Query {
    /// An empty query: everything, default page.
    pub fn new() -> Self {
        Query::default()
    }

    /// Parses the JSON form. Shape errors, unknown fields and unknown operators are
    /// [`QueryError::Invalid`] with the path to the problem.
    pub fn from_json(value: Value) -> Result<Self, QueryError> {
        serde_json::from_value(value).map_err(|e| QueryError::Invalid {
            message: e.to_string(),
        })
    }

    /// Adds a filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Replaces every top-level condition on the filter's field with this filter (AdminForth's
    /// `filtersTools.replaceOrAddTopFilter`): what a row-scoping hook does to client filters.
    pub fn replace_filter(&mut self, filter: Filter) {
        if let Some(field) = filter.field() {
            self.filters.retain(|f| f.field() != Some(field));
        }
        self.filters.push(filter);
    }

    /// Adds an ascending sort key.
    pub fn sort_asc(mut self, field: impl Into<String>) -> Self {
        self.sort.push(Sort::asc(field));
        self
    }

    /// Adds a descending sort key.
    pub fn sort_desc(mut self, field: impl Into<String>) -> Self {
        self.sort.push(Sort::desc(field));
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the records to skip.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Asks for the total count of matching records.
    pub fn with_total(mut self) -> Self {
        self.with_total = true;
        self
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    /// Number of rows (no column), or of non-null values of a column.
    Count,
    /// Sum of an integer (→ integer) or float (→ float) column; `null` over no rows.
    Sum,
    /// Smallest value (any column type but json).
    Min,
    /// Largest value (any column type but json).
    Max,
    /// Mean of a numeric column, as a float.
    Avg,
}

/// One aggregate to compute, named `alias` in the result.
///
/// ```
/// use hookline_types::Aggregate;
/// let wanted = [Aggregate::count("n"), Aggregate::sum("price", "total"), Aggregate::max("price", "top")];
/// assert_eq!(wanted[1].column.as_deref(), Some("price"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    /// The function.
    pub function: AggregateFn,
    /// The column (`None` only for a row count).
    #[serde(default)]
    pub column: Option<String>,
    /// The key of the result in the returned record (a valid identifier).
    pub alias: String,
}

impl Aggregate {
    fn of(function: AggregateFn, column: Option<String>, alias: impl Into<String>) -> Self {
        Aggregate {
            function,
            column,
            alias: alias.into(),
        }
    }

    /// The number of matching rows.
    pub fn count(alias: impl Into<String>) -> Self {
        Self::of(AggregateFn::Count, None, alias)
    }

    /// The sum of a column.
    pub fn sum(column: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::of(AggregateFn::Sum, Some(column.into()), alias)
    }

    /// The smallest value of a column.
    pub fn min(column: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::of(AggregateFn::Min, Some(column.into()), alias)
    }

    /// The largest value of a column.
    pub fn max(column: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::of(AggregateFn::Max, Some(column.into()), alias)
    }

    /// The mean of a column.
    pub fn avg(column: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::of(AggregateFn::Avg, Some(column.into()), alias)
    }
}

/// `text` as a [`Filter::like`] pattern that matches `text` itself: `%`, `_` and `\` are
/// escaped with `\`.
///
/// ```
/// assert_eq!(hookline_types::escape_like(r"50%_off\"), r"50\%\_off\\");
/// ```
pub fn escape_like(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_operator_is_named_in_the_error() {
        let err =
            Query::from_json(json!({"filters": [{"field": "a", "operator": "regex", "value": 1}]}))
                .unwrap_err();
        assert!(matches!(err, QueryError::Invalid { .. }));
        let text = err.to_string();
        assert!(
            text.contains("unknown filter operator `regex`") && text.contains("not_in"),
            "{text}"
        );
    }

    #[test]
    fn malformed_filters_and_fields_are_refused() {
        for bad in [
            json!({"filters": [{"field": "a", "operator": "eq", "and": []}]}),
            json!({"filters": [{"and": [], "or": []}]}),
            json!({"filters": [{"field": "a"}]}),
            json!({"filters": [{"field": "a", "operator": "eq", "colour": 1}]}),
            json!({"limit": -1}),
            json!({"limit": "20"}),
            json!({"sort": [{"field": "a", "direction": "up"}]}),
            json!({"page": 2}),
        ] {
            assert!(
                matches!(
                    Query::from_json(bad.clone()),
                    Err(QueryError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_round_trip_keeps_groups() {
        let q = Query::new().filter(Filter::or([
            Filter::is_null("a"),
            Filter::and([Filter::is_in("b", [1, 2])]),
        ]));
        let back = Query::from_json(serde_json::to_value(&q).unwrap()).unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn replace_filter_drops_client_conditions_on_the_field() {
        let mut q = Query::new()
            .filter(Filter::eq("realtor_id", 2))
            .filter(Filter::gt("price", 1))
            .filter(Filter::or([Filter::eq("realtor_id", 3)]));
        q.replace_filter(Filter::eq("realtor_id", 7));
        assert_eq!(
            q.filters,
            [
                Filter::gt("price", 1),
                Filter::or([Filter::eq("realtor_id", 3)]),
                Filter::eq("realtor_id", 7)
            ]
        );
    }
}
