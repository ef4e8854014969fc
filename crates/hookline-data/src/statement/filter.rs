//! The walk over a query's filters: the one place a filter is checked.
//!
//! [`walk_filters`] checks each condition against the schema (a known, queryable column, an
//! operator that applies to its type, operands coerced to it) and hands each checked condition
//! and each group to a [`FilterSink`] as it finds them. What a query's filters become is a sink
//! of that one walk: the sea-query condition ([`Sql`]), the values a statement binds in
//! sea-query's order ([`Bind`]), nothing at all ([`Check`]), and the shape a kept statement is
//! looked up by (`Keyed`, in `cache.rs`), which wraps another sink and so records the shape in
//! the same traversal that builds or binds. So a filter fails for each exactly when it fails for
//! the others, and each sees the same tree.
//!
//! The three readings of a checked condition — its expression, its bound values, the words of
//! its shape — are the methods of [`Checked`], side by side. Sort keys, limits and whole
//! statements are in `select.rs`; the shape key and the kept texts in `cache.rs`.

use sea_query::{BinOper, Cond, Expr, ExprTrait, Func, LikeExpr};
use serde_json::Value;

use super::{bounds, col, too_many, unsupported};
use crate::coerce::{describe, to_sql};
use crate::error::DataError;
use crate::query::{Condition, Filter, Operator};
use crate::resource::ResourceInner;
use crate::schema::{Column, ColumnType};
use crate::source::Backend;

/// Whether `operator` applies to a column type.
fn operator_fits(kind: ColumnType, operator: Operator) -> bool {
    use Operator::*;
    match operator {
        IsNull => true,
        Eq | Ne | In | NotIn => kind != ColumnType::Json,
        Lt | Lte | Gt | Gte => matches!(
            kind,
            ColumnType::Integer | ColumnType::Float | ColumnType::Text | ColumnType::Timestamp
        ),
        Like | Ilike => kind == ColumnType::Text,
    }
}

/// A non-null value for a comparison, bound for the backend.
fn operand(
    res: &ResourceInner,
    column: &Column,
    value: &Value,
    backend: Backend,
) -> Result<sea_query::Value, DataError> {
    match res.coerce(column, value)? {
        Value::Null => Err(unsupported(
            res,
            column,
            "comparing with null matches nothing; use the `is_null` operator",
        )),
        v => Ok(to_sql(column.kind, &v, backend)),
    }
}

fn pattern(res: &ResourceInner, column: &Column, value: &Value) -> Result<String, DataError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(unsupported(
            res,
            column,
            format!("a pattern must be a string, got {}", describe(other)),
        )),
    }
}

/// The comparison and operands of a checked condition, coerced and bound for the backend.
enum Operands {
    /// A comparison with one value (`eq` … `gte`).
    One(BinOper, sea_query::Value),
    /// A list: `in`, or `not_in` if `negated`.
    List {
        negated: bool,
        values: Vec<sea_query::Value>,
    },
    /// A pattern: `like`, or `ilike` (the pattern lowercased) if `lower`.
    Pattern { lower: bool, pattern: String },
    /// `is_null`: `true` if nulls match, `false` if non-nulls do.
    Null(bool),
}

/// A condition checked against the schema: its column's position, its operator, and its
/// comparison and operands.
pub(super) struct Checked {
    index: usize,
    operator: Operator,
    operands: Operands,
}

impl Checked {
    /// What fixes the condition's SQL text ([`expr`](Checked::expr)'s, whatever the values):
    /// its column's position, its operator, and the length of a list or whether nulls match.
    pub(super) fn shape(&self) -> [usize; 3] {
        let n = match &self.operands {
            Operands::One(..) | Operands::Pattern { .. } => 0,
            Operands::List { values, .. } => values.len(),
            Operands::Null(nulls) => usize::from(*nulls),
        };
        [self.index, self.operator as usize, n]
    }

    /// Appends the condition's parameters, in the order sea-query binds those of
    /// [`expr`](Checked::expr).
    fn bind(self, values: &mut Vec<sea_query::Value>) {
        match self.operands {
            Operands::One(_, value) => values.push(value),
            // sea-query writes an empty `IN` as `1 = 2` and an empty `NOT IN` as `1 = 1`.
            Operands::List {
                negated,
                values: list,
            } if list.is_empty() => {
                let right: i32 = if negated { 1 } else { 2 };
                values.extend([1_i32.into(), right.into()]);
            }
            Operands::List { values: list, .. } => values.extend(list),
            Operands::Pattern { pattern, .. } => values.push(pattern.into()),
            Operands::Null(_) => {}
        }
    }

    /// The condition on `column` (the column at the checked position) as a sea-query
    /// expression.
    fn expr(self, column: &Column) -> Expr {
        let field = Expr::col(col(&column.name));
        match self.operands {
            Operands::One(op, value) => field.binary(op, value),
            Operands::List {
                negated: false,
                values,
            } => field.is_in(values),
            Operands::List { values, .. } => field.is_not_in(values),
            Operands::Pattern {
                lower: true,
                pattern,
            } => Expr::from(Func::lower(field)).like(LikeExpr::new(pattern).escape('\\')),
            Operands::Pattern { pattern, .. } => field.like(LikeExpr::new(pattern).escape('\\')),
            Operands::Null(true) => field.is_null(),
            Operands::Null(false) => field.is_not_null(),
        }
    }
}

/// Checks a condition against the schema and coerces its operands.
fn check_condition(
    res: &ResourceInner,
    c: &Condition,
    backend: Backend,
) -> Result<Checked, DataError> {
    let index = res.queryable_index(&c.field)?;
    let column = &res.def.columns[index];
    if !operator_fits(column.kind, c.operator) {
        return Err(unsupported(
            res,
            column,
            format!(
                "operator `{}` does not apply to {} columns",
                c.operator, column.kind
            ),
        ));
    }
    let one = |value| operand(res, column, value, backend);
    let compare = |op| Ok::<_, DataError>(Operands::One(op, one(&c.value)?));
    let operands = match c.operator {
        Operator::Eq => compare(BinOper::Equal)?,
        Operator::Ne => compare(BinOper::NotEqual)?,
        Operator::Lt => compare(BinOper::SmallerThan)?,
        Operator::Lte => compare(BinOper::SmallerThanOrEqual)?,
        Operator::Gt => compare(BinOper::GreaterThan)?,
        Operator::Gte => compare(BinOper::GreaterThanOrEqual)?,
        Operator::In | Operator::NotIn => {
            let Value::Array(items) = &c.value else {
                return Err(unsupported(
                    res,
                    column,
                    format!(
                        "`{}` needs a list of values, got {}",
                        c.operator,
                        describe(&c.value)
                    ),
                ));
            };
            if items.len() > bounds::LIST_VALUES {
                return Err(too_many(
                    &format!("values in `{}` on `{}`", c.operator, column.name),
                    items.len(),
                    bounds::LIST_VALUES,
                ));
            }
            Operands::List {
                negated: c.operator == Operator::NotIn,
                values: items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
            }
        }
        Operator::Like => Operands::Pattern {
            lower: false,
            pattern: pattern(res, column, &c.value)?,
        },
        Operator::Ilike => Operands::Pattern {
            lower: true,
            pattern: pattern(res, column, &c.value)?.to_lowercase(),
        },
        Operator::IsNull => match &c.value {
            Value::Null | Value::Bool(true) => Operands::Null(true),
            Value::Bool(false) => Operands::Null(false),
            other => {
                return Err(unsupported(
                    res,
                    column,
                    format!(
                        "`is_null` takes true, false or null, got {}",
                        describe(other)
                    ),
                ));
            }
        },
    };
    Ok(Checked {
        index,
        operator: c.operator,
        operands,
    })
}

/// A group of filters.
#[derive(Clone, Copy)]
pub(super) enum Group {
    /// A query's own list of filters, the root of the tree: all members must match.
    Query,
    /// An `and`: all members must match.
    And,
    /// An `or` with members: at least one must match.
    Or,
}

/// An `or` of nothing matches nothing: the SQL truth `1 = 2`, with both sides bound.
const NEVER: (i32, i32) = (1, 2);

/// What [`walk_filters`] hands the parts of a filter tree to, in the order it finds them:
/// depth first, a group before its members.
pub(super) trait FilterSink {
    /// What a filter becomes.
    type Cond;

    /// A condition, checked; `column` is the column at its position.
    fn condition(&mut self, column: &Column, checked: Checked) -> Self::Cond;

    /// A group of `len` members; each member is then walked and [`add`](FilterSink::add)ed to
    /// what this returns.
    fn group(&mut self, group: Group, len: usize) -> Self::Cond;

    /// Adds a walked member to its group.
    fn add(&mut self, group: Self::Cond, member: Self::Cond) -> Self::Cond;

    /// An `or` of nothing, which matches nothing.
    fn never(&mut self) -> Self::Cond;
}

/// Walks a query's list of filters (all must match), checking every condition, and hands the
/// parts to `sink`. The first filter that does not fit the schema is the error.
#[inline]
pub(super) fn walk_filters<S: FilterSink>(
    res: &ResourceInner,
    filters: &[Filter],
    backend: Backend,
    sink: &mut S,
) -> Result<S::Cond, DataError> {
    walk_group(res, Group::Query, filters, backend, sink)
}

#[inline]
fn walk_group<S: FilterSink>(
    res: &ResourceInner,
    group: Group,
    members: &[Filter],
    backend: Backend,
    sink: &mut S,
) -> Result<S::Cond, DataError> {
    let mut cond = sink.group(group, members.len());
    for f in members {
        let member = walk(res, f, backend, sink)?;
        cond = sink.add(cond, member);
    }
    Ok(cond)
}

fn walk<S: FilterSink>(
    res: &ResourceInner,
    f: &Filter,
    backend: Backend,
    sink: &mut S,
) -> Result<S::Cond, DataError> {
    match f {
        Filter::Condition(c) => {
            let checked = check_condition(res, c, backend)?;
            Ok(sink.condition(&res.def.columns[checked.index], checked))
        }
        Filter::And { and } => walk_group(res, Group::And, and, backend, sink),
        Filter::Or { or } if or.is_empty() => Ok(sink.never()),
        Filter::Or { or } => walk_group(res, Group::Or, or, backend, sink),
    }
}

/// Builds the sea-query condition of a filter tree.
pub(super) struct Sql;

impl FilterSink for Sql {
    type Cond = Cond;

    fn condition(&mut self, column: &Column, checked: Checked) -> Cond {
        Cond::all().add(checked.expr(column))
    }

    fn group(&mut self, group: Group, _len: usize) -> Cond {
        match group {
            Group::Query | Group::And => Cond::all(),
            Group::Or => Cond::any(),
        }
    }

    fn add(&mut self, group: Cond, member: Cond) -> Cond {
        group.add(member)
    }

    fn never(&mut self) -> Cond {
        Cond::all().add(Expr::val(NEVER.0).eq(NEVER.1))
    }
}

/// Collects the values [`Sql`]'s condition binds, in the order sea-query binds them, without
/// building it.
pub(super) struct Bind(pub(super) Vec<sea_query::Value>);

impl FilterSink for Bind {
    type Cond = ();

    fn condition(&mut self, _column: &Column, checked: Checked) {
        checked.bind(&mut self.0);
    }

    fn group(&mut self, _group: Group, _len: usize) {}

    fn add(&mut self, (): (), (): ()) {}

    fn never(&mut self) {
        self.0.extend([NEVER.0.into(), NEVER.1.into()]);
    }
}

/// Only checks: the walk's errors, and nothing else.
pub(super) struct Check;

impl FilterSink for Check {
    type Cond = ();

    fn condition(&mut self, _column: &Column, _checked: Checked) {}

    fn group(&mut self, _group: Group, _len: usize) {}

    fn add(&mut self, (): (), (): ()) {}

    fn never(&mut self) {}
}

/// The `WHERE` condition of a list of filters (all must match).
pub(crate) fn filters(
    res: &ResourceInner,
    filters: &[Filter],
    backend: Backend,
) -> Result<Cond, DataError> {
    walk_filters(res, filters, backend, &mut Sql)
}

#[cfg(test)]
mod tests {
    use crate::query::{Filter, Query};
    use crate::source::{Backend, build};
    use crate::statement::apartments;
    use crate::statement::select::select;

    #[test]
    fn groups_and_empty_lists_render_as_sql_truths() {
        let q = Query::new()
            .filter(Filter::or([]))
            .filter(Filter::is_in("id", Vec::<i64>::new()))
            .filter(Filter::or([
                Filter::eq("id", 1),
                Filter::and([Filter::gt("price", 2), Filter::is_null("title")]),
            ]));
        let (text, values) = build(
            &select(&apartments(), &q, Backend::Postgres).unwrap(),
            Backend::Postgres,
        );
        assert!(
            text.contains(
                r#"WHERE $1 = $2 AND $3 = $4 AND ("id" = $5 OR ("price" > $6 AND "title" IS NULL))"#
            ),
            "{text}"
        );
        let first: Vec<&sea_query::Value> = values.0.iter().take(4).collect();
        assert_eq!(
            first,
            [&1i32.into(), &2i32.into(), &1i32.into(), &2i32.into()]
        );
    }
}
