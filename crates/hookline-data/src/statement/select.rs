//! The read statements: the list `SELECT` (filters, sort keys, page), its `COUNT`, and the
//! select of the rows with one column's value (a record by key, the children of a parent).
//!
//! [`walk_select`] checks a list query in order — its filters (through `filter.rs`'s walk),
//! its sort keys, its limit — and hands each checked part to a [`SelectSink`]: the statement
//! ([`Statement`]), its bound values ([`Bind`]), nothing ([`Check`], the check before hooks
//! see a query), or the shape a kept text is looked up by (`Keyed`, in `cache.rs`). What the
//! `ORDER BY` ends with (the primary key, unless a sort key is already on it) is decided by the
//! walk, so every sink sees it.
//!
//! Checking a single filter is in `filter.rs`; aggregates in `aggregate.rs`; the kept texts of
//! list selects in `cache.rs`; writes in `write.rs`.

use sea_query::{Asterisk, Cond, Expr, ExprTrait, Func, Order, Query as SqlQuery, SelectStatement};
use serde_json::Value;

use super::filter::{Bind, Check, Checked, FilterSink, Group, Sql, walk_filters};
use super::{bounds, col, table, too_many, unsupported};
use crate::coerce::to_sql;
use crate::error::DataError;
use crate::query::{Direction, Filter, Query};
use crate::resource::ResourceInner;
use crate::schema::{Column, ColumnType};
use crate::source::Backend;

/// A [`FilterSink`] that [`walk_select`] also hands a list query's `WHERE`, sort keys and page.
pub(super) trait SelectSink: FilterSink {
    /// The query's filters, all of which must match; only called if there is at least one.
    fn filters(&mut self, all: Self::Cond);

    /// The next key of the `ORDER BY`: the column at `index`, in `direction`.
    fn order(&mut self, index: usize, column: &Column, direction: Direction);

    /// The primary key, ascending, which ends the `ORDER BY` unless a sort key is on it, so
    /// that pages are stable. It follows from the sort keys.
    fn order_by_pk(&mut self, column: &Column);

    /// The page: the effective limit (see [`limit`]) and the offset.
    fn page(&mut self, limit: u64, offset: u64);
}

/// Walks a list of filters as [`walk_filters`] does, and hands the result to
/// [`SelectSink::filters`] if there are any.
#[inline]
pub(super) fn walk_where<S: SelectSink>(
    res: &ResourceInner,
    filters: &[Filter],
    backend: Backend,
    sink: &mut S,
) -> Result<(), DataError> {
    let all = walk_filters(res, filters, backend, sink)?;
    if !filters.is_empty() {
        sink.filters(all);
    }
    Ok(())
}

/// Walks a list query — filters, then sort keys, then limit, the first misfit being the
/// error — and hands its parts to `sink`. The `ORDER BY` ends with the primary key, ascending,
/// unless a sort key is on it, so that pages are stable.
///
/// Inlined, like [`walk_filters`]: on a kept text's path this walk is most of the work, and the
/// calls between its parts and the sink cost more than the parts do.
#[inline]
pub(super) fn walk_select<S: SelectSink>(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
    sink: &mut S,
) -> Result<(), DataError> {
    walk_where(res, &query.filters, backend, sink)?;
    if query.sort.len() > bounds::SORT_KEYS {
        return Err(too_many("sort keys", query.sort.len(), bounds::SORT_KEYS));
    }
    if query.offset > bounds::OFFSET {
        return Err(too_many(
            "rows skipped (offset)",
            query.offset,
            bounds::OFFSET,
        ));
    }
    let mut on_pk = false;
    for sort in &query.sort {
        let index = res.queryable_index(&sort.field)?;
        let column = &res.def.columns[index];
        if column.kind == ColumnType::Json {
            return Err(unsupported(res, column, "json columns cannot be sorted on"));
        }
        on_pk |= index == res.pk;
        sink.order(index, column, sort.direction);
    }
    if !on_pk {
        sink.order_by_pk(res.pk_column());
    }
    sink.page(limit(res, query)?, query.offset);
    Ok(())
}

/// The effective page size of a query, or [`DataError::LimitTooLarge`].
fn limit(res: &ResourceInner, query: &Query) -> Result<u64, DataError> {
    let limit = query.limit.unwrap_or(res.def.default_limit);
    if limit > res.def.max_limit {
        return Err(DataError::LimitTooLarge {
            resource: res.name().to_owned(),
            limit,
            max: res.def.max_limit,
        });
    }
    Ok(limit)
}

/// Builds a `SELECT` statement: the [`Sql`] condition as its `WHERE`, the sort keys as its
/// `ORDER BY`, the page as its `LIMIT` and `OFFSET`.
pub(super) struct Statement(pub(super) SelectStatement);

impl FilterSink for Statement {
    type Cond = Cond;

    fn condition(&mut self, column: &Column, checked: Checked) -> Cond {
        Sql.condition(column, checked)
    }

    fn group(&mut self, group: Group, len: usize) -> Cond {
        Sql.group(group, len)
    }

    fn add(&mut self, group: Cond, member: Cond) -> Cond {
        Sql.add(group, member)
    }

    fn never(&mut self) -> Cond {
        Sql.never()
    }
}

impl SelectSink for Statement {
    fn filters(&mut self, all: Cond) {
        self.0.cond_where(all);
    }

    fn order(&mut self, _index: usize, column: &Column, direction: Direction) {
        let order = match direction {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        self.0.order_by(col(&column.name), order);
    }

    fn order_by_pk(&mut self, column: &Column) {
        self.0.order_by(col(&column.name), Order::Asc);
    }

    fn page(&mut self, limit: u64, offset: u64) {
        self.0.limit(limit).offset(offset);
    }
}

/// The limit and offset are bound after the filters' values (sort keys bind nothing).
impl SelectSink for Bind {
    fn filters(&mut self, (): ()) {}

    fn order(&mut self, _index: usize, _column: &Column, _direction: Direction) {}

    fn order_by_pk(&mut self, _column: &Column) {}

    fn page(&mut self, limit: u64, offset: u64) {
        self.0.extend([limit.into(), offset.into()]);
    }
}

impl SelectSink for Check {
    fn filters(&mut self, (): ()) {}

    fn order(&mut self, _index: usize, _column: &Column, _direction: Direction) {}

    fn order_by_pk(&mut self, _column: &Column) {}

    fn page(&mut self, _limit: u64, _offset: u64) {}
}

/// `SELECT <columns> FROM <table>`.
pub(super) fn select_all(res: &ResourceInner) -> SelectStatement {
    SqlQuery::select()
        .columns(res.fields.iter().map(|f| col(&f.name)))
        .from(table(res))
        .to_owned()
}

/// Checks a query against the schema (filters, sort keys, limit) without building its
/// statement: what a flow does before handing the query to hooks.
pub(crate) fn check(res: &ResourceInner, query: &Query, backend: Backend) -> Result<(), DataError> {
    walk_select(res, query, backend, &mut Check)
}

/// A list query's statement on its own: `SELECT <columns> FROM <table> WHERE <filters>
/// ORDER BY <sort>, <pk> LIMIT .. OFFSET ..`. The flows get it rendered and kept by shape
/// (`cache.rs`), built by the same walk into the same [`Statement`]; the tests compare the two.
#[cfg(test)]
pub(super) fn select(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<SelectStatement, DataError> {
    let mut statement = Statement(select_all(res));
    walk_select(res, query, backend, &mut statement)?;
    Ok(statement.0)
}

/// `SELECT COUNT(*) FROM <table> WHERE <filters>`.
pub(crate) fn count(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<SelectStatement, DataError> {
    let mut statement = Statement(
        SqlQuery::select()
            .expr(Func::count(Expr::col(Asterisk)))
            .from(table(res))
            .to_owned(),
    );
    walk_where(res, &query.filters, backend, &mut statement)?;
    Ok(statement.0)
}

/// `SELECT <columns> FROM <table> WHERE <column> = <value>`: a record by key, or the children
/// pointing at a parent (no hooks: used by write flows, which check access themselves).
pub(crate) fn by_column(
    res: &ResourceInner,
    column: &Column,
    value: &Value,
    backend: Backend,
) -> SelectStatement {
    select_all(res)
        .and_where(Expr::col(col(&column.name)).eq(to_sql(column.kind, value, backend)))
        .order_by(col(&res.pk_column().name), Order::Asc)
        .to_owned()
}

/// `SELECT <columns> FROM <table> WHERE <pk> IN (<keys>) ORDER BY <pk>`: the records a bulk
/// write names, in primary-key order (the order a write locks them in).
pub(crate) fn by_keys(res: &ResourceInner, keys: &[&Value], backend: Backend) -> SelectStatement {
    let pk = res.pk_column();
    select_all(res)
        .and_where(
            Expr::col(col(&pk.name)).is_in(keys.iter().map(|key| to_sql(pk.kind, key, backend))),
        )
        .order_by(col(&pk.name), Order::Asc)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Condition, Operator};
    use crate::schema::ResourceDef;
    use crate::source::build;
    use crate::statement::apartments;
    use serde_json::json;

    fn sql(query: &Query, backend: Backend) -> String {
        build(&select(&apartments(), query, backend).unwrap(), backend).0
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let evil = "x'); DROP TABLE apartments; --";
        let q = Query::new()
            .filter(Filter::eq("title", evil))
            .filter(Filter::like("title", evil));
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let (text, values) = build(&select(&apartments(), &q, backend).unwrap(), backend);
            assert!(!text.contains("DROP"), "{text}");
            assert!(
                values
                    .0
                    .iter()
                    .any(|v| *v == sea_query::Value::String(Some(evil.into())))
            );
        }
    }

    #[test]
    fn plain_lists_are_what_benches_compare_against() {
        let res = ResourceInner::new(
            ResourceDef::new("apartments")
                .column(Column::integer("id").primary_key())
                .column(Column::text("title"))
                .column(Column::float("price")),
        );
        let list = build(
            &select(&res, &Query::new().limit(20), Backend::Sqlite).unwrap(),
            Backend::Sqlite,
        )
        .0;
        assert_eq!(
            list,
            r#"SELECT "id", "title", "price" FROM "apartments" ORDER BY "id" ASC LIMIT ? OFFSET ?"#
        );
    }

    #[test]
    fn select_orders_by_pk_last_and_pages() {
        let text = sql(
            &Query::new().sort_desc("price").limit(20).offset(40),
            Backend::Postgres,
        );
        assert!(
            text.contains(r#"ORDER BY "price" DESC, "id" ASC LIMIT $1 OFFSET $2"#),
            "{text}"
        );
    }

    #[test]
    fn bad_filters_are_typed_errors() {
        let res = apartments();
        let err = |f: Filter| select(&res, &Query::new().filter(f), Backend::Sqlite).unwrap_err();
        assert!(matches!(
            err(Filter::eq("nope", 1)),
            DataError::UnknownColumn { .. }
        ));
        assert!(matches!(
            err(Filter::eq("price", "cheap")),
            DataError::InvalidValue { .. }
        ));
        assert!(matches!(
            err(Filter::like("price", "1%")),
            DataError::UnsupportedFilter { .. }
        ));
        assert!(matches!(
            err(Filter::eq("meta", json!({}))),
            DataError::UnsupportedFilter { .. }
        ));
        assert!(matches!(
            err(Filter::eq("title", Value::Null)),
            DataError::UnsupportedFilter { .. }
        ));
        let not_a_list = Filter::Condition(Condition {
            field: "id".into(),
            operator: Operator::In,
            value: json!(1),
        });
        assert!(err(not_a_list).to_string().contains("needs a list"));
        let sort = select(&res, &Query::new().sort_asc("\"id\"; --"), Backend::Sqlite).unwrap_err();
        assert!(matches!(sort, DataError::UnknownColumn { .. }));
        let limit = select(&res, &Query::new().limit(1001), Backend::Sqlite).unwrap_err();
        assert!(matches!(
            limit,
            DataError::LimitTooLarge {
                limit: 1001,
                max: 1000,
                ..
            }
        ));
    }
}
