//! The write statements: `INSERT`, `UPDATE` and `DELETE` of one row, each `RETURNING` the row's
//! columns, for a record already checked and normalized by the write flow (`coerce.rs`).
//!
//! The kept insert texts are in `cache.rs`; running the statements (inside the write's
//! transaction) is `transaction.rs`'s.

use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, Query as SqlQuery, ReturningClause,
    UpdateStatement,
};
use serde_json::Value;

use super::{col, table};
use crate::coerce::to_sql;
use crate::error::DataError;
use crate::record::Record;
use crate::resource::ResourceInner;
use crate::source::Backend;

fn returning(res: &ResourceInner) -> ReturningClause {
    SqlQuery::returning().columns(res.fields.iter().map(|f| col(&f.name)))
}

/// `INSERT INTO <table> (<columns>) VALUES (..) RETURNING <columns>` for a normalized record.
pub(super) fn insert(
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
pub(super) fn in_schema_order<'r>(
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
    use crate::schema::{Column, ResourceDef};
    use crate::source::build;
    use serde_json::json;

    #[test]
    fn plain_inserts_are_what_benches_compare_against() {
        let res = ResourceInner::new(
            ResourceDef::new("apartments")
                .column(Column::integer("id").primary_key())
                .column(Column::text("title"))
                .column(Column::float("price")),
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
}
