//! Schema DDL for resources: tables created when missing (the embedded default), checked when
//! they exist.
//!
//! Created tables get hookline's types per backend (see [`ColumnType`]), `NOT NULL` for the
//! primary key and required columns, a generated integer primary key, and plain foreign key
//! constraints (no `ON DELETE` action: hookline runs cascades itself, so that hooks run). An
//! existing table is never altered; each declared column must be in it.

use std::sync::Arc;

use sea_query::{Alias, ColumnDef, ForeignKey, PostgresQueryBuilder, SqliteQueryBuilder, Table};

use crate::error::DataError;
use crate::resource::ResourceInner;
use crate::schema::ColumnType;
use crate::source::{Backend, DataSource};

const SQLITE_COLUMNS: &str = "SELECT name FROM pragma_table_info($1)";
const POSTGRES_COLUMNS: &str = "SELECT column_name::text FROM information_schema.columns \
     WHERE table_schema = current_schema() AND table_name = $1";

/// Creates missing tables (if `create`) and checks existing ones, parents before children.
pub(crate) async fn prepare(
    source: &DataSource,
    resources: &[Arc<ResourceInner>],
    create: bool,
) -> Result<(), DataError> {
    for res in creation_order(resources) {
        let table = res.def.table_name();
        let mismatch = |message: String| DataError::SchemaMismatch {
            resource: res.name().to_owned(),
            table: table.to_owned(),
            message,
        };
        let existing = source
            .catalog(SQLITE_COLUMNS, POSTGRES_COLUMNS, table)
            .await?;
        if existing.is_empty() {
            if !create {
                return Err(mismatch(
                    "the table does not exist, and creating missing tables is off".into(),
                ));
            }
            tracing::info!(resource = res.name(), table, "creating table");
            source
                .execute_schema(create_table(res, resources, source.backend()))
                .await?;
            continue;
        }
        let missing: Vec<&str> = res
            .def
            .columns
            .iter()
            .filter(|c| !existing.contains(&c.name))
            .map(|c| c.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(mismatch(format!(
                "declared column(s) missing from the table: {}",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// Resources ordered so that a table is created after the tables its foreign keys point at
/// (self-references and cycles keep the given order).
fn creation_order(resources: &[Arc<ResourceInner>]) -> Vec<&Arc<ResourceInner>> {
    let mut pending: Vec<&Arc<ResourceInner>> = resources.iter().collect();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|res| {
            res.def
                .columns
                .iter()
                .filter_map(|c| c.foreign.as_ref())
                .all(|f| {
                    f.resource == res.name() || !pending.iter().any(|p| p.name() == f.resource)
                })
        });
        ordered.push(pending.remove(ready.unwrap_or(0)));
    }
    ordered
}

/// `CREATE TABLE IF NOT EXISTS` for a resource.
fn create_table(res: &ResourceInner, all: &[Arc<ResourceInner>], backend: Backend) -> String {
    let table = Alias::new(res.def.table_name());
    let mut statement = Table::create();
    statement.table(table.clone()).if_not_exists();
    for column in &res.def.columns {
        let mut def = ColumnDef::new(Alias::new(&column.name));
        match (column.kind, backend) {
            (ColumnType::Integer, _) => def.big_integer(),
            (ColumnType::Float, _) => def.double(),
            (ColumnType::Text, _) => def.text(),
            (ColumnType::Boolean, _) => def.boolean(),
            (ColumnType::Timestamp, Backend::Postgres) => def.timestamp_with_time_zone(),
            (ColumnType::Json, Backend::Postgres) => def.json_binary(),
            (ColumnType::Uuid, Backend::Postgres) => def.uuid(),
            (ColumnType::Timestamp | ColumnType::Json | ColumnType::Uuid, Backend::Sqlite) => {
                def.text()
            }
        };
        if column.primary_key {
            def.not_null().primary_key();
            if column.kind == ColumnType::Integer {
                def.auto_increment();
            }
        } else if column.required {
            def.not_null();
        }
        if column.unique && !column.primary_key {
            def.unique_key();
        }
        statement.col(&mut def);
    }
    for column in &res.def.columns {
        let Some(foreign) = &column.foreign else {
            continue;
        };
        let Some(target) = all.iter().find(|r| r.name() == foreign.resource) else {
            continue;
        };
        statement.foreign_key(
            ForeignKey::create()
                .from(table.clone(), Alias::new(&column.name))
                .to(
                    Alias::new(target.def.table_name()),
                    Alias::new(&target.pk_column().name),
                ),
        );
    }
    match backend {
        Backend::Sqlite => statement.to_string(SqliteQueryBuilder),
        Backend::Postgres => statement.to_string(PostgresQueryBuilder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ResourceDef};

    fn resources() -> Vec<Arc<ResourceInner>> {
        let apartments = ResourceDef::new("apartments")
            .column(Column::integer("id").primary_key())
            .column(Column::text("title").required().unique())
            .column(Column::timestamp("listed_at"))
            .column(Column::integer("realtor_id").references("users"));
        let users = ResourceDef::new("users").column(Column::integer("id").primary_key());
        vec![
            Arc::new(ResourceInner::new(apartments)),
            Arc::new(ResourceInner::new(users)),
        ]
    }

    #[test]
    fn parents_are_created_first() {
        let all = resources();
        let names: Vec<&str> = creation_order(&all).iter().map(|r| r.name()).collect();
        assert_eq!(names, ["users", "apartments"]);
    }

    #[test]
    fn ddl_per_backend() {
        let all = resources();
        let sqlite = create_table(&all[0], &all, Backend::Sqlite);
        assert!(
            sqlite.contains(r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#),
            "{sqlite}"
        );
        assert!(sqlite.contains(r#""listed_at" text"#), "{sqlite}");
        assert!(
            sqlite.contains(r#""title" text NOT NULL UNIQUE"#),
            "{sqlite}"
        );
        assert!(
            sqlite.contains(r#"FOREIGN KEY ("realtor_id") REFERENCES "users" ("id")"#),
            "{sqlite}"
        );
        let pg = create_table(&all[0], &all, Backend::Postgres);
        assert!(
            pg.contains(r#""id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL PRIMARY KEY"#),
            "{pg}"
        );
        assert!(
            pg.contains(r#""listed_at" timestamp with time zone"#),
            "{pg}"
        );
        assert!(pg.contains(r#""title" text NOT NULL UNIQUE"#), "{pg}");
    }
}
