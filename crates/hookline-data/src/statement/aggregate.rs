//! The aggregate statement: `COUNT`, `SUM`, `AVG`, `MIN`, `MAX` over the rows a query's filters
//! match, each cast to a type both backends return alike, and the fields of its one row.
//!
//! The filters are checked by the walk in `filter.rs`, as for a list; the plain row count of a
//! list (`with_total`) is [`count`](super::select::count), in `select.rs`.

use sea_query::{Alias, Asterisk, Expr, Func, Query as SqlQuery, SelectStatement};

use super::select::{Statement, walk_where};
use super::{bounds, col, table, too_many, unsupported};
use crate::decode::Field;
use crate::error::DataError;
use crate::query::{Aggregate, AggregateFn, Query};
use crate::resource::ResourceInner;
use crate::schema::ColumnType;
use crate::source::Backend;

/// The aggregates over the rows matching `query`, and the fields of the one result row.
pub(crate) fn aggregate(
    res: &ResourceInner,
    query: &Query,
    aggregates: &[Aggregate],
    backend: Backend,
) -> Result<(SelectStatement, Vec<Field>), DataError> {
    if aggregates.len() > bounds::AGGREGATES {
        return Err(too_many("aggregates", aggregates.len(), bounds::AGGREGATES));
    }
    let mut statement = Statement(SqlQuery::select().from(table(res)).to_owned());
    walk_where(res, &query.filters, backend, &mut statement)?;
    let mut statement = statement.0;
    let mut fields = Vec::with_capacity(aggregates.len());
    for (i, aggregate) in aggregates.iter().enumerate() {
        crate::schema::check_name("aggregate alias", &aggregate.alias)
            .map_err(|message| DataError::InvalidQuery { message })?;
        if aggregates[..i].iter().any(|a| a.alias == aggregate.alias) {
            return Err(DataError::InvalidQuery {
                message: format!("aggregate alias `{}` is used twice", aggregate.alias),
            });
        }
        let (expr, kind) = aggregate_expr(res, aggregate)?;
        statement.expr_as(expr, col(&aggregate.alias));
        fields.push(Field {
            name: aggregate.alias.clone(),
            kind,
        });
    }
    if fields.is_empty() {
        return Err(DataError::InvalidQuery {
            message: "ask for at least one aggregate".into(),
        });
    }
    Ok((statement, fields))
}

fn aggregate_expr(
    res: &ResourceInner,
    aggregate: &Aggregate,
) -> Result<(Expr, ColumnType), DataError> {
    let Some(name) = &aggregate.column else {
        return match aggregate.function {
            AggregateFn::Count => {
                Ok((Func::count(Expr::col(Asterisk)).into(), ColumnType::Integer))
            }
            other => Err(DataError::InvalidQuery {
                message: format!("aggregate `{}`: {other:?} needs a column", aggregate.alias),
            }),
        };
    };
    let column = res.queryable_column(name)?;
    let field = Expr::col(col(name));
    let numeric = matches!(column.kind, ColumnType::Integer | ColumnType::Float);
    let double = || Alias::new("DOUBLE PRECISION");
    let (expr, kind): (Expr, ColumnType) = match aggregate.function {
        AggregateFn::Count => (Func::count(field).into(), ColumnType::Integer),
        AggregateFn::Sum if column.kind == ColumnType::Integer => (
            Func::cast_as(Func::sum(field), Alias::new("BIGINT")).into(),
            ColumnType::Integer,
        ),
        AggregateFn::Sum if numeric => (
            Func::cast_as(Func::sum(field), double()).into(),
            ColumnType::Float,
        ),
        AggregateFn::Avg if numeric => (
            Func::cast_as(Func::avg(field), double()).into(),
            ColumnType::Float,
        ),
        AggregateFn::Min | AggregateFn::Max
            if matches!(
                column.kind,
                ColumnType::Integer | ColumnType::Float | ColumnType::Text | ColumnType::Timestamp
            ) =>
        {
            let call = if aggregate.function == AggregateFn::Min {
                Func::min(field)
            } else {
                Func::max(field)
            };
            (call.into(), column.kind)
        }
        function => {
            return Err(unsupported(
                res,
                column,
                format!("{function:?} does not apply to {} columns", column.kind),
            ));
        }
    };
    Ok((expr, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::build;
    use crate::statement::apartments;

    #[test]
    fn aggregates_cast_to_portable_types() {
        let res = apartments();
        let (statement, fields) = aggregate(
            &res,
            &Query::new(),
            &[
                Aggregate::count("n"),
                Aggregate::sum("id", "ids"),
                Aggregate::avg("price", "mean"),
            ],
            Backend::Postgres,
        )
        .unwrap();
        let text = build(&statement, Backend::Postgres).0;
        assert!(text.contains(r#"COUNT(*) AS "n""#), "{text}");
        assert!(text.contains("CAST(SUM(\"id\") AS BIGINT)"), "{text}");
        assert!(
            text.contains("CAST(AVG(\"price\") AS DOUBLE PRECISION)"),
            "{text}"
        );
        assert_eq!(
            fields.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [ColumnType::Integer, ColumnType::Integer, ColumnType::Float]
        );
        let bad_alias = aggregate(
            &res,
            &Query::new(),
            &[Aggregate::count("n; drop")],
            Backend::Sqlite,
        )
        .unwrap_err();
        assert!(matches!(bad_alias, DataError::InvalidQuery { .. }));
        let bad_fn = aggregate(
            &res,
            &Query::new(),
            &[Aggregate::sum("title", "s")],
            Backend::Sqlite,
        )
        .unwrap_err();
        assert!(matches!(bad_fn, DataError::UnsupportedFilter { .. }));
    }
}
