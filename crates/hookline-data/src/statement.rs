//! SQL statements for a resource, built with sea-query from a checked query or record.
//!
//! Every name is looked up in the resource's schema first (unknown names are errors, never
//! SQL) and every value is coerced to its column's type and bound as a parameter. The same
//! builders serve both backends; only the values differ where the backends store a type
//! differently (see `coerce.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_query::{
    Alias, Asterisk, BinOper, Cond, DeleteStatement, Expr, ExprTrait, Func, InsertStatement,
    LikeExpr, Order, PostgresQueryBuilder, Query as SqlQuery, SelectStatement, SqliteQueryBuilder,
    UpdateStatement,
};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use serde_json::Value;

use crate::coerce::{describe, to_sql};
use crate::decode::Field;
use crate::error::DataError;
use crate::query::{Aggregate, AggregateFn, Condition, Direction, Filter, Operator, Query};
use crate::record::Record;
use crate::resource::ResourceInner;
use crate::schema::{Column, ColumnType};
use crate::source::Backend;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn table(res: &ResourceInner) -> Alias {
    Alias::new(res.def.table_name())
}

fn unsupported(res: &ResourceInner, column: &Column, message: impl Into<String>) -> DataError {
    DataError::UnsupportedFilter {
        resource: res.name().to_owned(),
        column: column.name.clone(),
        column_type: column.kind,
        message: message.into(),
    }
}

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
struct Checked {
    index: usize,
    operator: Operator,
    operands: Operands,
}

impl Checked {
    /// The number that, with the column and operator, fixes the condition's SQL text: the
    /// length of a list, whether nulls match.
    fn shape(&self) -> usize {
        match &self.operands {
            Operands::One(..) | Operands::Pattern { .. } => 0,
            Operands::List { values, .. } => values.len(),
            Operands::Null(nulls) => usize::from(*nulls),
        }
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

    /// The condition on `column` (the column at [`index`](Checked::index)) as a sea-query
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

fn condition(res: &ResourceInner, c: &Condition, backend: Backend) -> Result<Expr, DataError> {
    let checked = check_condition(res, c, backend)?;
    let column = &res.def.columns[checked.index];
    Ok(checked.expr(column))
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

fn filter(res: &ResourceInner, f: &Filter, backend: Backend) -> Result<Cond, DataError> {
    Ok(match f {
        Filter::Condition(c) => Cond::all().add(condition(res, c, backend)?),
        Filter::And { and } => and.iter().try_fold(Cond::all(), |acc, f| {
            Ok::<_, DataError>(acc.add(filter(res, f, backend)?))
        })?,
        Filter::Or { or } if or.is_empty() => Cond::all().add(Expr::val(1).eq(2)),
        Filter::Or { or } => or.iter().try_fold(Cond::any(), |acc, f| {
            Ok::<_, DataError>(acc.add(filter(res, f, backend)?))
        })?,
    })
}

/// The `WHERE` condition of a list of filters (all must match).
pub(crate) fn filters(
    res: &ResourceInner,
    filters: &[Filter],
    backend: Backend,
) -> Result<Cond, DataError> {
    filters
        .iter()
        .try_fold(Cond::all(), |acc, f| Ok(acc.add(filter(res, f, backend)?)))
}

/// Adds the `WHERE` clause of `filters`, if there are any.
fn where_filters(
    statement: &mut SelectStatement,
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<(), DataError> {
    if !query.filters.is_empty() {
        statement.cond_where(filters(res, &query.filters, backend)?);
    }
    Ok(())
}

fn select_all(res: &ResourceInner) -> SelectStatement {
    SqlQuery::select()
        .columns(res.fields.iter().map(|f| col(&f.name)))
        .from(table(res))
        .to_owned()
}

/// The effective page size of a query, or [`DataError::LimitTooLarge`].
pub(crate) fn limit(res: &ResourceInner, query: &Query) -> Result<u64, DataError> {
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

/// The sort keys of a query, checked: the positions of known, sortable columns, and the orders.
fn sort_keys<'q>(
    res: &'q ResourceInner,
    query: &'q Query,
) -> impl Iterator<Item = Result<(usize, Order), DataError>> + 'q {
    query.sort.iter().map(move |sort| {
        let index = res.queryable_index(&sort.field)?;
        let column = &res.def.columns[index];
        if column.kind == ColumnType::Json {
            return Err(unsupported(res, column, "json columns cannot be sorted on"));
        }
        let order = match sort.direction {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        Ok((index, order))
    })
}

/// Checks a query against the schema (filters, sort keys, limit) without building its
/// statement: what a flow does before handing the query to hooks.
pub(crate) fn check(res: &ResourceInner, query: &Query, backend: Backend) -> Result<(), DataError> {
    select_shape(res, query, backend).map(drop)
}

/// `SELECT <columns> FROM <table> WHERE <filters> ORDER BY <sort>, <pk> LIMIT .. OFFSET ..`.
pub(crate) fn select(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<SelectStatement, DataError> {
    let mut statement = select_all(res);
    where_filters(&mut statement, res, query, backend)?;
    for key in sort_keys(res, query) {
        let (index, order) = key?;
        statement.order_by(col(&res.def.columns[index].name), order);
    }
    let pk = &res.pk_column().name;
    if !query.sort.iter().any(|s| &s.field == pk) {
        statement.order_by(col(pk), Order::Asc);
    }
    statement.limit(limit(res, query)?).offset(query.offset);
    Ok(statement)
}

/// Appends the shape of a filter to `key` and its parameters to `values`, checking it as
/// [`filter`] does.
fn filter_shape(
    res: &ResourceInner,
    f: &Filter,
    backend: Backend,
    key: &mut Vec<usize>,
    values: &mut Vec<sea_query::Value>,
) -> Result<(), DataError> {
    match f {
        Filter::Condition(c) => {
            let checked = check_condition(res, c, backend)?;
            key.extend([0, checked.index, checked.operator as usize, checked.shape()]);
            checked.bind(values);
        }
        Filter::And { and } => {
            key.extend([1, and.len()]);
            for f in and {
                filter_shape(res, f, backend, key, values)?;
            }
        }
        // `filter` writes an empty `or` as `1 = 2`.
        Filter::Or { or } if or.is_empty() => {
            key.extend([2, 0]);
            values.extend([1_i32.into(), 2_i32.into()]);
        }
        Filter::Or { or } => {
            key.extend([2, or.len()]);
            for f in or {
                filter_shape(res, f, backend, key, values)?;
            }
        }
    }
    Ok(())
}

/// The shape of [`select`]'s statement for `query` — what fixes its text: the backend, the
/// filters' structure, columns, operators and list lengths, the sort keys — and its
/// parameters in the order sea-query binds them. Checks the query as [`select`] does, in
/// the same order, so a query fails here exactly when it fails there.
fn select_shape(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<(Vec<usize>, Vec<sea_query::Value>), DataError> {
    // Sized for flat filters (four words and about one value each) and the sort keys.
    let mut key = Vec::with_capacity(3 + 4 * query.filters.len() + 2 * query.sort.len());
    key.extend([backend as usize, query.filters.len()]);
    let mut values = Vec::with_capacity(query.filters.len() + 2);
    for f in &query.filters {
        filter_shape(res, f, backend, &mut key, &mut values)?;
    }
    key.push(query.sort.len());
    for sort in sort_keys(res, query) {
        let (index, order) = sort?;
        key.extend([index, usize::from(matches!(order, Order::Desc))]);
    }
    values.extend([limit(res, query)?.into(), query.offset.into()]);
    Ok((key, values))
}

/// The text of [`select`]'s statement for `query`.
///
/// On SQLite the limit is written `CAST(? AS INTEGER)`: SQLite reads a bare `LIMIT ?`'s bound
/// value while preparing the statement, to plan with it, and then marks the statement to be
/// prepared again whenever that parameter is bound anew, so a kept text would be parsed and
/// planned again by every list. As an expression, the limit is computed when the statement
/// runs, and the prepared statement in sqlx's cache is reused.
fn select_text(res: &ResourceInner, query: &Query, backend: Backend) -> Result<String, DataError> {
    Ok(match backend {
        Backend::Sqlite => {
            let text = select(res, query, backend)?
                .build_sqlx(SqliteQueryBuilder)
                .0;
            match text.strip_suffix(" LIMIT ? OFFSET ?") {
                Some(head) => format!("{head} LIMIT CAST(? AS INTEGER) OFFSET ?"),
                None => text,
            }
        }
        Backend::Postgres => {
            select(res, query, backend)?
                .build_sqlx(PostgresQueryBuilder)
                .0
        }
    })
}

/// The rendered list `SELECT`s ([`select`]) of one resource, by shape.
///
/// A `SELECT`'s text depends only on its query's shape (see [`select_shape`]), so it is built
/// and rendered by [`select`] once per shape; later queries of the same shape reuse the text
/// and only bind their values. At most [`Selects::MAX_SHAPES`] texts are kept; a query of a
/// further shape has its statement rendered anew.
#[derive(Default)]
pub(crate) struct Selects(Mutex<HashMap<Vec<usize>, Arc<str>>>);

impl Selects {
    /// The most shapes kept per resource.
    pub(crate) const MAX_SHAPES: usize = 32;

    /// The text and values of [`select`] for `query`, with the same checks.
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
        let text: Arc<str> = select_text(res, query, backend)?.into();
        let mut texts = self.lock();
        if texts.len() < Self::MAX_SHAPES {
            texts.insert(key, text.clone());
        }
        Ok((text, values))
    }

    /// The kept texts. The map only ever gains entries, so a poisoned lock still holds valid
    /// texts.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<usize>, Arc<str>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `SELECT COUNT(*) FROM <table> WHERE <filters>`.
pub(crate) fn count(
    res: &ResourceInner,
    query: &Query,
    backend: Backend,
) -> Result<SelectStatement, DataError> {
    let mut statement = SqlQuery::select()
        .expr(Func::count(Expr::col(Asterisk)))
        .from(table(res))
        .to_owned();
    where_filters(&mut statement, res, query, backend)?;
    Ok(statement)
}

/// The aggregates over the rows matching `query`, and the fields of the one result row.
pub(crate) fn aggregate(
    res: &ResourceInner,
    query: &Query,
    aggregates: &[Aggregate],
    backend: Backend,
) -> Result<(SelectStatement, Vec<Field>), DataError> {
    let mut statement = SqlQuery::select().from(table(res)).to_owned();
    where_filters(&mut statement, res, query, backend)?;
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

fn returning(res: &ResourceInner) -> sea_query::ReturningClause {
    SqlQuery::returning().columns(res.fields.iter().map(|f| col(&f.name)))
}

/// `INSERT INTO <table> (<columns>) VALUES (..) RETURNING <columns>` for a normalized record.
pub(crate) fn insert(
    res: &ResourceInner,
    record: &Record,
    backend: Backend,
) -> Result<InsertStatement, DataError> {
    let mut statement = SqlQuery::insert();
    statement.into_table(table(res)).returning(returning(res));
    if record.is_empty() {
        statement.or_default_values();
        return Ok(statement);
    }
    let mut columns = Vec::with_capacity(record.len());
    let mut values = Vec::with_capacity(record.len());
    for (index, value) in in_schema_order(res, record)? {
        let column = &res.def.columns[index];
        columns.push(col(&column.name));
        values.push(Expr::from(to_sql(column.kind, value, backend)));
    }
    statement.columns(columns);
    statement
        .values(values)
        .map_err(|e| DataError::Definition {
            resource: res.name().to_owned(),
            message: format!("insert could not be built: {e}"),
        })?;
    Ok(statement)
}

/// The values of a normalized record by column index, in the schema's order: the order an
/// insert lists its columns in, so that the same columns always give the same text.
fn in_schema_order<'r>(
    res: &ResourceInner,
    record: &'r Record,
) -> Result<Vec<(usize, &'r Value)>, DataError> {
    let mut columns = record
        .iter()
        .map(|(name, value)| Ok((res.column_index(name)?, value)))
        .collect::<Result<Vec<_>, DataError>>()?;
    columns.sort_unstable_by_key(|&(index, _)| index);
    Ok(columns)
}

/// The rendered inserts of one resource on one backend, by the columns they set.
///
/// An insert's text depends only on which columns the record has (they are listed in the
/// schema's order, whatever the record's order), so it is built and rendered by [`insert`] once
/// per set of columns; later
/// inserts with the same columns reuse the text and only bind their values. A set of columns
/// is keyed by a bit per column; a table with more than [`Inserts::MAX_COLUMNS`] columns has
/// each insert rendered anew.
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

/// `UPDATE <table> SET .. WHERE <pk> = <id> RETURNING <columns>` for normalized changes.
pub(crate) fn update(
    res: &ResourceInner,
    id: &Value,
    set: &Record,
    backend: Backend,
) -> Result<UpdateStatement, DataError> {
    let values = set
        .iter()
        .map(|(name, value)| {
            let column = res.column(name)?;
            Ok((col(name), Expr::from(to_sql(column.kind, value, backend))))
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    let pk = res.pk_column();
    Ok(SqlQuery::update()
        .table(table(res))
        .values(values)
        .and_where(Expr::col(col(&pk.name)).eq(to_sql(pk.kind, id, backend)))
        .returning(returning(res))
        .to_owned())
}

/// `DELETE FROM <table> WHERE <pk> = <id> RETURNING <columns>`.
pub(crate) fn delete(res: &ResourceInner, id: &Value, backend: Backend) -> DeleteStatement {
    let pk = res.pk_column();
    SqlQuery::delete()
        .from_table(table(res))
        .and_where(Expr::col(col(&pk.name)).eq(to_sql(pk.kind, id, backend)))
        .returning(returning(res))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ResourceDef;
    use crate::source::build;
    use serde_json::json;

    fn apartments() -> ResourceInner {
        ResourceInner::new(
            ResourceDef::new("apartments")
                .column(Column::integer("id").primary_key())
                .column(Column::text("title"))
                .column(Column::float("price"))
                .column(Column::json("meta")),
        )
    }

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
    fn plain_statements_are_what_benches_compare_against() {
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
        let record: Record = [("price", json!(1.5)), ("title", json!("t"))]
            .into_iter()
            .collect();
        let insert = build(
            &insert(&res, &record, Backend::Postgres).unwrap(),
            Backend::Postgres,
        )
        .0;
        assert_eq!(
            insert,
            r#"INSERT INTO "apartments" ("title", "price") VALUES ($1, $2) RETURNING "id", "title", "price""#
        );
    }

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
                    let fresh = select_text(&res, query, backend).unwrap();
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
            assert_eq!(kept.to_string(), fresh.to_string());
        }
    }
}
