//! [`Filter::matches`] and [`Sort::compare`]: a filter evaluated on a [`Record`] in memory,
//! with the meaning the SQL backends give it, and records ordered by a sort key — for in-memory tables, tests, and checking a record against a query
//! without a database.

use std::cmp::Ordering;

use serde_json::Value;

use crate::query::{Condition, Direction, Filter, Operator, Sort};
use crate::record::Record;

impl Filter {
    /// Whether `record` satisfies the filter, as a SQL `WHERE` would decide it: a missing
    /// column is `null`; comparisons with `null` (other than `is_null`) do not match, `ne` and
    /// `not_in` included; numbers compare by value (`1` equals `1.0`); `like` and `ilike` take
    /// `%`, `_` and `\` escapes (`ilike` folds case by Unicode's simple lowercase). Values of
    /// different kinds are never less or greater than each other.
    ///
    /// ```
    /// use hookline_types::{Filter, Record};
    /// use serde_json::json;
    ///
    /// let flat = Record::try_from(json!({ "title": "Sunny loft", "price": 120, "tag": null }))?;
    /// assert!(Filter::gte("price", 100.0).matches(&flat));
    /// assert!(Filter::ilike("title", "%LOFT").matches(&flat));
    /// assert!(Filter::or([Filter::eq("price", 1), Filter::is_null("tag")]).matches(&flat));
    /// assert!(!Filter::ne("tag", "x").matches(&flat)); // null is not "not equal"
    /// # Ok::<(), hookline_types::ConversionError>(())
    /// ```
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::Condition(condition) => condition.matches(record),
            Filter::And { and } => and.iter().all(|f| f.matches(record)),
            Filter::Or { or } => or.iter().any(|f| f.matches(record)),
        }
    }
}

impl Condition {
    /// Whether `record` satisfies this comparison ([`Filter::matches`]).
    pub fn matches(&self, record: &Record) -> bool {
        let value = record.get(&self.field).unwrap_or(&Value::Null);
        let arg = &self.value;
        if self.operator == Operator::IsNull {
            return value.is_null() == arg.as_bool().unwrap_or(true);
        }
        if value.is_null() {
            return false;
        }
        let list = || arg.as_array().map(Vec::as_slice).unwrap_or_default();
        match self.operator {
            Operator::Eq => same(value, arg),
            Operator::Ne => !arg.is_null() && !same(value, arg),
            Operator::Lt => compare(value, arg) == Some(Ordering::Less),
            Operator::Lte => matches!(compare(value, arg), Some(Ordering::Less | Ordering::Equal)),
            Operator::Gt => compare(value, arg) == Some(Ordering::Greater),
            Operator::Gte => {
                matches!(
                    compare(value, arg),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            }
            Operator::In => list().iter().any(|option| same(value, option)),
            Operator::NotIn => !list().iter().any(|option| same(value, option)),
            Operator::Like | Operator::Ilike => match (value, arg) {
                (Value::String(text), Value::String(pattern)) => {
                    if self.operator == Operator::Like {
                        like(text, pattern)
                    } else {
                        like(&text.to_lowercase(), &pattern.to_lowercase())
                    }
                }
                _ => false,
            },
            Operator::IsNull => unreachable!("handled above"),
        }
    }
}

impl Sort {
    /// The order of two records by this key, for sorting in memory: missing and `null` first,
    /// then booleans, numbers, strings and other values; values of one kind by value.
    /// [`Direction::Desc`] reverses it.
    ///
    /// ```
    /// use hookline_types::{Record, Sort};
    /// use serde_json::json;
    ///
    /// let mut rows: Vec<Record> = [json!({ "p": 2 }), json!({ "p": null }), json!({ "p": 1.5 })]
    ///     .into_iter()
    ///     .map(|v| Record::try_from(v).unwrap())
    ///     .collect();
    /// let key = Sort::desc("p");
    /// rows.sort_by(|a, b| key.compare(a, b));
    /// assert_eq!(rows[0].get_i64("p"), Some(2));
    /// assert!(rows[2].is_null("p"));
    /// ```
    pub fn compare(&self, a: &Record, b: &Record) -> Ordering {
        let order = order(a.get(&self.field), b.get(&self.field));
        match self.direction {
            Direction::Asc => order,
            Direction::Desc => order.reverse(),
        }
    }
}

/// Total order for sorting: missing and `null` first, then booleans, numbers, strings, others.
fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(x), Some(y)) => compare(x, y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality that treats `1` and `1.0` as the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The order of two values of the same kind (numbers, strings or booleans); `None` for values
/// of different kinds or of other kinds.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// SQL `LIKE` with `\` as the escape character: `%` any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '%' => Token::Any,
            '_' => Token::One,
            c => Token::Char(c),
        });
    }
    // Greedy matching with one backtrack point per `%` (linear in practice, no recursion).
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => (t, p) = (t + 1, p + 1),
            Some(Token::One) => (t, p) = (t + 1, p + 1),
            Some(Token::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    (t, p) = (st + 1, sp + 1);
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Any))
}

#[derive(Clone, Copy)]
enum Token {
    Char(char),
    Any,
    One,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat() -> Record {
        Record::try_from(json!({
            "title": "50% off_loft\\", "price": 10, "ratio": 2.5, "live": true, "tag": null
        }))
        .unwrap()
    }

    #[test]
    fn comparisons_follow_sql() {
        let r = flat();
        for (filter, expected) in [
            (Filter::eq("price", 10.0), true),
            (Filter::ne("price", 11), true),
            (Filter::ne("tag", 1), false),
            (Filter::ne("missing", 1), false),
            (Filter::lt("ratio", 3), true),
            (Filter::lte("price", 10), true),
            (Filter::gt("price", "9"), false),
            (Filter::gte("live", false), true),
            (Filter::is_in("price", [1, 10]), true),
            (Filter::is_in("price", Vec::<i64>::new()), false),
            (Filter::not_in("price", [1, 2]), true),
            (Filter::not_in("tag", [1]), false),
            (Filter::not_in("price", Vec::<i64>::new()), true),
            (Filter::is_null("tag"), true),
            (Filter::is_null("missing"), true),
            (Filter::is_not_null("price"), true),
            (Filter::and([]), true),
            (Filter::or([]), false),
        ] {
            assert_eq!(filter.matches(&r), expected, "{filter:?}");
        }
    }

    #[test]
    fn like_patterns_take_wildcards_and_escapes() {
        let r = flat();
        for (filter, expected) in [
            (Filter::contains("title", "% off_"), true),
            (Filter::contains("title", "%off"), false),
            (Filter::starts_with("title", "50%"), true),
            (Filter::ends_with("title", "loft\\"), true),
            (Filter::like("title", "5_%"), true),
            (Filter::like("title", "%LOFT%"), false),
            (Filter::ilike("title", "%LOFT%"), true),
            (Filter::like("title", "50"), false),
            (Filter::like("price", "1%"), false),
        ] {
            assert_eq!(filter.matches(&r), expected, "{filter:?}");
        }
        assert!(like("aaa", "%a%a"));
        assert!(!like("ab", "%a"));
        assert!(like("", "%"));
    }
}
