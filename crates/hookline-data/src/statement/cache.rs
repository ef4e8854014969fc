//! The rendered statements kept for reuse, so that a repeated list or insert only binds its
//! values: list `SELECT`s by query shape ([`Selects`]), inserts by the columns they set
//! ([`Inserts`]), and the shape itself ([`Keyed`]).
//!
//! A list query's shape is recorded by [`Keyed`], a sink of the one walk over the query
//! (`select.rs`, `filter.rs`) that wraps another sink: on a kept text's path it wraps the
//! values ([`Bind`]), so the query is checked and its key and values collected without building
//! SQL; when a text has to be rendered it wraps the statement builder, so the text and the key
//! it is kept under come from the same traversal. How statements are built is in `select.rs`
//! and `write.rs`; how they are run, in `source.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sea_query::{PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder};
use sea_query_sqlx::{SqlxBinder, SqlxValues};

use super::filter::{Bind, Checked, FilterSink, Group};
use super::select::{SelectSink, Statement, select_all, walk_select};
use super::write::{in_schema_order, insert};
use crate::coerce::to_sql;
use crate::error::DataError;
use crate::query::{Direction, Query};
use crate::record::Record;
use crate::resource::ResourceInner;
use crate::schema::Column;
use crate::source::Backend;

/// The first word of each part of a filter tree in a shape key, but for the root (see
/// [`Keyed`]).
const CONDITION: usize = 0;
const AND: usize = 1;
const OR: usize = 2;
const NEVER: usize = 3;

/// A sink that records the shape of what the walk hands it — what fixes a statement's text
/// whatever its values — and passes every part on to `S`.
///
/// The key is the backend, then the filter tree depth first — its root (the query's list) as
/// its number of members, a condition as `CONDITION` and [`Checked::shape`], an `and` or an
/// `or` as its kind and number of members, an `or` of nothing as `NEVER` — then each sort key
/// as its column's position and whether it is descending. Each part of the tree says where it
/// ends, so the sort keys are told apart from it and no two shapes share a key; the primary key
/// that ends the `ORDER BY` follows from the sort keys and is not recorded.
struct Keyed<S> {
    key: Vec<usize>,
    inner: S,
}

impl<S> Keyed<S> {
    /// Starts the key of a list query on `backend`, sized for flat filters (four words each)
    /// and the sort keys.
    fn select(query: &Query, backend: Backend, inner: S) -> Self {
        let mut key = Vec::with_capacity(2 + 4 * query.filters.len() + 2 * query.sort.len());
        key.push(backend as usize);
        Keyed { key, inner }
    }
}

impl<S: FilterSink> FilterSink for Keyed<S> {
    type Cond = S::Cond;

    fn condition(&mut self, column: &Column, checked: Checked) -> S::Cond {
        self.key.push(CONDITION);
        self.key.extend(checked.shape());
        self.inner.condition(column, checked)
    }

    fn group(&mut self, group: Group, len: usize) -> S::Cond {
        match group {
            Group::Query => self.key.push(len),
            Group::And => self.key.extend([AND, len]),
            Group::Or => self.key.extend([OR, len]),
        }
        self.inner.group(group, len)
    }

    fn add(&mut self, group: S::Cond, member: S::Cond) -> S::Cond {
        self.inner.add(group, member)
    }

    fn never(&mut self) -> S::Cond {
        self.key.push(NEVER);
        self.inner.never()
    }
}

impl<S: SelectSink> SelectSink for Keyed<S> {
    fn filters(&mut self, all: S::Cond) {
        self.inner.filters(all);
    }

    fn order(&mut self, index: usize, column: &Column, direction: Direction) {
        self.key
            .extend([index, usize::from(direction == Direction::Desc)]);
        self.inner.order(index, column, direction);
    }

    /// Not recorded: it follows from the sort keys.
    fn order_by_pk(&mut self, column: &Column) {
        self.inner.order_by_pk(column);
    }

    /// The limit and offset are always bound: they are not part of the shape.
    fn page(&mut self, limit: u64, offset: u64) {
        self.inner.page(limit, offset);
    }
}

/// The shape of a list query's statement (see [`Keyed`]) and its parameters in the order
/// sea-query binds them, from one walk that checks the query as every other walk does and
/// builds no SQL.
fn select_shape(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<(Vec<usize>, Vec<sea_query::Value>), DataError> {
    let values = Bind(Vec::with_capacity(query.filters.len() + 2));
    let mut sink = Keyed::select(query, backend, values);
    walk_select(res, query, backend, &mut sink)?;
    Ok((sink.key, sink.inner.0))
}

/// The shape of a list query's statement and the statement's text, from one walk.
fn keyed_select(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<(Vec<usize>, String), DataError> {
    let mut sink = Keyed::select(query, backend, Statement(select_all(res)));
    walk_select(res, query, backend, &mut sink)?;
    Ok((sink.key, select_text(&sink.inner.0, backend)))
}

/// The text of a list `SELECT`.
///
/// On SQLite the limit is written `CAST(? AS INTEGER)`: SQLite reads a bare `LIMIT ?`'s bound
/// value while preparing the statement, to plan with it, and then marks the statement to be
/// prepared again whenever that parameter is bound anew, so a kept text would be parsed and
/// planned again by every list. As an expression, the limit is computed when the statement
/// runs, and the prepared statement in sqlx's cache is reused.
fn select_text(statement: &SelectStatement, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let text = statement.build_sqlx(SqliteQueryBuilder).0;
            match text.strip_suffix(" LIMIT ? OFFSET ?") {
                Some(head) => format!("{head} LIMIT CAST(? AS INTEGER) OFFSET ?"),
                None => text,
            }
        }
        Backend::Postgres => statement.build_sqlx(PostgresQueryBuilder).0,
    }
}

/// The rendered list `SELECT`s of one resource, by shape.
///
/// A `SELECT`'s text depends only on its query's shape (see [`Keyed`]), so it is built and
/// rendered once per shape; later queries of the same shape reuse the text and only bind their
/// values. At most [`Selects::MAX_SHAPES`] texts are kept; a query of a further shape has its
/// statement rendered anew.
#[derive(Default)]
pub(crate) struct Selects(Mutex<HashMap<Vec<usize>, Arc<str>>>);

impl Selects {
    /// The most shapes kept per resource.
    pub(crate) const MAX_SHAPES: usize = 32;

    /// The text and values of the list `SELECT` for `query`, checked by the walk as everywhere
    /// else.
    ///
    /// A kept shape costs one walk over the query, which checks it and collects its key and
    /// values, and a lookup; a shape not kept costs a second walk, which builds the statement
    /// and the key it is kept under.
    pub(crate) fn render(
        &self,
        res: &ResourceInner,
        query: &Query,
        backend: Backend,
    ) -> Result<(Arc<str>, SqlxValues), DataError> {
        let (key, values) = select_shape(res, query, backend)?;
        let values = SqlxValues(sea_query::Values(values));
        if let Some(text) = self.lock().get(&key) {
            return Ok((text.clone(), values));
        }
        let (built_key, text) = keyed_select(res, query, backend)?;
        debug_assert_eq!(key, built_key, "two walks over {query:?} disagree");
        let text: Arc<str> = text.into();
        let mut texts = self.lock();
        if texts.len() < Self::MAX_SHAPES {
            texts.insert(built_key, text.clone());
        }
        Ok((text, values))
    }

    /// The kept texts. The map only ever gains entries, so a poisoned lock still holds valid
    /// texts.
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<usize>, Arc<str>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The rendered inserts of one resource on one backend, by the columns they set.
///
/// An insert's text depends only on which columns the record has (they are listed in the
/// schema's order, whatever the record's order), so it is built and rendered by
/// [`insert`] once per set of columns; later inserts with the same
/// columns reuse the text and only bind their values. A set of columns is keyed by a bit per
/// column; a table with more than [`Inserts::MAX_COLUMNS`] columns has each insert rendered
/// anew.
#[derive(Default)]
pub(crate) struct Inserts(Mutex<HashMap<u128, Arc<str>>>);

impl Inserts {
    /// The most columns a table may have for its inserts to be kept.
    pub(crate) const MAX_COLUMNS: usize = u128::BITS as usize;

    /// The text and values of the insert of a normalized record.
    pub(crate) fn render(
        &self,
        res: &ResourceInner,
        record: &Record,
        backend: Backend,
    ) -> Result<(Arc<str>, SqlxValues), DataError> {
        let kept = res.def.columns.len() <= Self::MAX_COLUMNS;
        let mut columns = 0_u128;
        let mut values = Vec::with_capacity(record.len());
        for (index, value) in in_schema_order(res, record)? {
            if kept {
                columns |= 1 << index;
            }
            values.push(to_sql(res.def.columns[index].kind, value, backend));
        }
        let values = SqlxValues(sea_query::Values(values));
        if !kept {
            return Ok((render_insert(res, record, backend)?, values));
        }
        // The map only ever gains entries, so a poisoned lock still holds valid texts.
        let mut texts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(text) = texts.get(&columns) {
            return Ok((text.clone(), values));
        }
        let text = render_insert(res, record, backend)?;
        texts.insert(columns, text.clone());
        Ok((text, values))
    }
}

/// The text of the insert of a normalized record, rendered by sea-query.
fn render_insert(
    res: &ResourceInner,
    record: &Record,
    backend: Backend,
) -> Result<Arc<str>, DataError> {
    let (text, _) = match backend {
        Backend::Sqlite => insert(res, record, backend)?.build_sqlx(SqliteQueryBuilder),
        Backend::Postgres => insert(res, record, backend)?.build_sqlx(PostgresQueryBuilder),
    };
    Ok(Arc::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Filter;
    use crate::schema::ResourceDef;
    use crate::source::build;
    use crate::statement::apartments;
    use crate::statement::select::{check, select};
    use serde_json::{Value, json};

    #[test]
    fn inserts_are_rendered_once_per_column_set_and_bind_each_records_values() {
        let res = apartments();
        let inserts = Inserts::default();
        let record = |pairs: &[(&str, Value)]| -> Record { pairs.iter().cloned().collect() };
        let (first, values) = inserts
            .render(
                &res,
                &record(&[("price", json!(1.5)), ("title", json!("a"))]),
                Backend::Sqlite,
            )
            .unwrap();
        assert_eq!(
            &*first,
            r#"INSERT INTO "apartments" ("title", "price") VALUES (?, ?) RETURNING "id", "title", "price", "meta""#
        );
        assert_eq!(
            values.0.0,
            [
                sea_query::Value::String(Some("a".into())),
                sea_query::Value::Double(Some(1.5))
            ]
        );
        // The same columns in the other order: the same text, the values bound in its order.
        let (again, values) = inserts
            .render(
                &res,
                &record(&[("title", json!("b")), ("price", json!(2.0))]),
                Backend::Sqlite,
            )
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same columns reuse the text"
        );
        assert_eq!(
            values.0.0,
            [
                sea_query::Value::String(Some("b".into())),
                sea_query::Value::Double(Some(2.0))
            ]
        );
        let (other, values) = inserts
            .render(&res, &record(&[("title", json!("c"))]), Backend::Sqlite)
            .unwrap();
        assert_eq!(
            &*other,
            r#"INSERT INTO "apartments" ("title") VALUES (?) RETURNING "id", "title", "price", "meta""#
        );
        assert_eq!(values.0.0, [sea_query::Value::String(Some("c".into()))]);
        let (empty, values) = inserts
            .render(&res, &Record::new(), Backend::Sqlite)
            .unwrap();
        assert_eq!(
            &*empty,
            r#"INSERT INTO "apartments" DEFAULT VALUES RETURNING "id", "title", "price", "meta""#
        );
        assert!(values.0.0.is_empty());
        let unknown = inserts
            .render(&res, &record(&[("nope", json!(1))]), Backend::Sqlite)
            .unwrap_err();
        assert!(
            matches!(unknown, DataError::UnknownColumn { .. }),
            "{unknown}"
        );
    }

    #[test]
    fn inserts_into_a_table_of_more_than_128_columns_are_rendered_each_time() {
        let def = (0..Inserts::MAX_COLUMNS + 2).fold(
            ResourceDef::new("wide").column(Column::integer("id").primary_key()),
            |def, i| def.column(Column::text(format!("c{i:03}"))),
        );
        let res = ResourceInner::new(def);
        let inserts = Inserts::default();
        // `c128` and `c129` are past the 128th column: they have no bit of their own.
        let first = [("c000", json!("a")), ("c129", json!("b"))];
        let second = [("c000", json!("a")), ("c128", json!("b"))];
        let (one, _) = inserts
            .render(&res, &first.iter().cloned().collect(), Backend::Sqlite)
            .unwrap();
        let (two, values) = inserts
            .render(&res, &second.into_iter().collect(), Backend::Sqlite)
            .unwrap();
        let (again, _) = inserts
            .render(&res, &first.iter().cloned().collect(), Backend::Sqlite)
            .unwrap();
        assert!(one.contains(r#"("c000", "c129")"#), "{one}");
        assert!(two.contains(r#"("c000", "c128")"#), "{two}");
        assert_eq!(
            values.0.0,
            [
                sea_query::Value::String(Some("a".into())),
                sea_query::Value::String(Some("b".into()))
            ]
        );
        assert_eq!(one, again);
        assert!(!Arc::ptr_eq(&one, &again), "nothing is kept");
    }

    /// Queries of many shapes, two of each: the same shape with other values.
    fn shaped_queries() -> Vec<Query> {
        let shapes: Vec<fn(i64) -> Query> = vec![
            |_| Query::new(),
            |n| Query::new().limit(n as u64).offset(2 * n as u64),
            |n| Query::new().filter(Filter::eq("price", n)),
            |n| Query::new().filter(Filter::ne("price", n)),
            |n| Query::new().filter(Filter::lt("price", n)),
            |n| Query::new().filter(Filter::lte("price", n)),
            |n| Query::new().filter(Filter::gt("price", n)),
            |n| Query::new().filter(Filter::gte("price", n)),
            |n| Query::new().filter(Filter::gte("id", n)),
            |n| Query::new().filter(Filter::eq("title", format!("t{n}"))),
            |n| Query::new().filter(Filter::is_in("id", [n, n + 1])),
            |n| Query::new().filter(Filter::is_in("id", [n, n + 1, n + 2])),
            |n| Query::new().filter(Filter::not_in("id", [n])),
            |_| Query::new().filter(Filter::is_in("id", Vec::<i64>::new())),
            |_| Query::new().filter(Filter::not_in("id", Vec::<i64>::new())),
            |n| Query::new().filter(Filter::like("title", format!("%{n}%"))),
            |n| Query::new().filter(Filter::ilike("title", format!("%T{n}%"))),
            |_| Query::new().filter(Filter::is_null("price")),
            |_| Query::new().filter(Filter::is_not_null("price")),
            |n| Query::new().filter(Filter::or([])).limit(n as u64),
            |_| Query::new().filter(Filter::and([])),
            |n| {
                Query::new()
                    .filter(Filter::gt("price", n))
                    .filter(Filter::lt("id", n))
            },
            |n| Query::new().filter(Filter::and([Filter::gt("price", n), Filter::lt("id", n)])),
            |n| Query::new().filter(Filter::or([Filter::gt("price", n), Filter::lt("id", n)])),
            |n| {
                Query::new().filter(Filter::or([
                    Filter::and([Filter::gt("price", n), Filter::ilike("title", "a%")]),
                    Filter::is_in("id", [n]),
                ]))
            },
            |n| {
                Query::new().filter(Filter::or([
                    Filter::and([Filter::gt("price", n)]),
                    Filter::ilike("title", "a%"),
                    Filter::is_in("id", [n]),
                ]))
            },
            |n| Query::new().sort_asc("price").offset(n as u64),
            |n| Query::new().sort_desc("price").offset(n as u64),
            |n| {
                Query::new()
                    .sort_desc("title")
                    .sort_asc("price")
                    .offset(n as u64)
            },
            |n| {
                Query::new()
                    .sort_asc("price")
                    .sort_desc("title")
                    .offset(n as u64)
            },
            |n| Query::new().sort_desc("id").offset(n as u64),
            |n| {
                Query::new()
                    .filter(Filter::ilike("title", format!("{n}%")))
                    .filter(Filter::is_in("price", [n, n * 2]))
                    .sort_desc("price")
                    .limit(n as u64)
                    .offset(n as u64)
            },
        ];
        shapes
            .iter()
            .flat_map(|shape| [shape(3), shape(7)])
            .collect()
    }

    #[test]
    fn kept_selects_match_fresh_ones_and_bind_in_sea_querys_order() {
        let res = apartments();
        let queries = shaped_queries();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let selects = Selects::default();
            // Twice: the first pass renders and keeps the texts, the second reuses them.
            for _ in 0..2 {
                for query in &queries {
                    let (text, values) = selects.render(&res, query, backend).unwrap();
                    let fresh_values = build(&select(&res, query, backend).unwrap(), backend).1;
                    let fresh = select_text(&select(&res, query, backend).unwrap(), backend);
                    assert_eq!(*text, *fresh, "{query:?} on {backend:?}");
                    assert_eq!(values.0.0, fresh_values.0.0, "{query:?} on {backend:?}");
                }
            }
            // One text per shape; the first two shapes are one (limit and offset are always
            // bound).
            assert_eq!(selects.lock().len(), queries.len() / 2 - 1);
        }
    }

    #[test]
    fn sqlite_limits_are_cast_expressions_and_postgres_limits_plain_parameters() {
        let res = apartments();
        let query = Query::new().sort_desc("price").limit(20).offset(40);
        let (sqlite, values) = Selects::default()
            .render(&res, &query, Backend::Sqlite)
            .unwrap();
        assert_eq!(
            &*sqlite,
            r#"SELECT "id", "title", "price", "meta" FROM "apartments" ORDER BY "price" DESC, "id" ASC LIMIT CAST(? AS INTEGER) OFFSET ?"#
        );
        assert_eq!(
            values.0.0,
            [
                sea_query::Value::BigUnsigned(Some(20)),
                sea_query::Value::BigUnsigned(Some(40))
            ]
        );
        let (postgres, _) = Selects::default()
            .render(&res, &query, Backend::Postgres)
            .unwrap();
        assert!(postgres.ends_with(" LIMIT $1 OFFSET $2"), "{postgres}");
    }

    #[test]
    fn shapes_differ_where_texts_do() {
        let res = apartments();
        let queries = shaped_queries();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for a in &queries {
                for b in &queries {
                    let key = |q| select_shape(&res, q, backend).unwrap().0;
                    let text = |q| build(&select(&res, q, backend).unwrap(), backend).0;
                    if key(a) == key(b) {
                        assert_eq!(text(a), text(b), "{a:?} and {b:?} share a shape");
                    }
                }
            }
        }
        let query = Query::new();
        assert_ne!(
            select_shape(&res, &query, Backend::Sqlite).unwrap().0,
            select_shape(&res, &query, Backend::Postgres).unwrap().0
        );
    }

    #[test]
    fn a_text_is_kept_under_the_key_its_query_is_looked_up_by() {
        let res = apartments();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for query in &shaped_queries() {
                // The walk that binds (a kept text's path) and the walk that builds (a new
                // shape's) record the same key; the built text is the fresh statement's.
                let (key, _) = select_shape(&res, query, backend).unwrap();
                let (built_key, text) = keyed_select(&res, query, backend).unwrap();
                assert_eq!(key, built_key, "{query:?} on {backend:?}");
                let fresh = select_text(&select(&res, query, backend).unwrap(), backend);
                assert_eq!(text, fresh, "{query:?} on {backend:?}");
            }
        }
    }

    #[test]
    fn kept_selects_are_bounded_and_checked_as_fresh_ones() {
        let res = apartments();
        let selects = Selects::default();
        for n in 0..Selects::MAX_SHAPES + 8 {
            let ids: Vec<usize> = (0..n).collect();
            let query = Query::new().filter(Filter::is_in("id", ids));
            let (text, _) = selects.render(&res, &query, Backend::Postgres).unwrap();
            let fresh = build(
                &select(&res, &query, Backend::Postgres).unwrap(),
                Backend::Postgres,
            );
            assert_eq!(*text, fresh.0);
        }
        assert_eq!(selects.lock().len(), Selects::MAX_SHAPES);
        for bad in [
            Query::new().filter(Filter::eq("nope", 1)),
            Query::new().filter(Filter::eq("price", "cheap")),
            Query::new().filter(Filter::like("price", "1%")),
            Query::new().filter(Filter::or([Filter::eq("meta", 1)])),
            Query::new().sort_asc("meta"),
            Query::new().limit(1_000_000),
        ] {
            let kept = selects.render(&res, &bad, Backend::Sqlite).unwrap_err();
            let fresh = select(&res, &bad, Backend::Sqlite).unwrap_err();
            let checked = check(&res, &bad, Backend::Sqlite).unwrap_err();
            assert_eq!(kept.to_string(), fresh.to_string());
            assert_eq!(checked.to_string(), fresh.to_string());
        }
    }
}
