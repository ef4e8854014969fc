//! Schema DDL for resources: the tables a data set needs, compared with the database's catalog,
//! created or extended when that is safe, refused when it is not.
//!
//! # What a build does to the database
//!
//! [`DataBuilder::build`](crate::DataBuilder::build) reads the catalog (`pragma_table_info`
//! and `pragma_index_list` on SQLite, `information_schema.columns` and `pg_index` on
//! PostgreSQL) and plans, per resource, parents before children:
//!
//! - **Additive changes**, applied: a missing table is created (hookline's types per backend,
//!   see [`ColumnType`]; `NOT NULL` for the primary key and required columns; a generated
//!   integer primary key; a `UNIQUE` constraint named `<table>_<column>_key` per unique
//!   column; plain foreign keys, without `ON DELETE`, since hookline runs cascades itself so
//!   that hooks run). A declared column missing from an existing table is added
//!   (`ALTER TABLE … ADD COLUMN`) when it is nullable or has a default — existing rows get the
//!   default (a required column without a default is added to an empty table only; SQLite
//!   adds it without `NOT NULL`, which it cannot add without a default, and the create flow
//!   checks required values anyway). A column declared `unique` whose table has no
//!   single-column unique index on it gets one (`CREATE UNIQUE INDEX "<table>_<column>_key"`).
//! - **Destructive or ambiguous changes**, refused with a [`SchemaProblem`] that names the
//!   resource and column and says what to do: a column in the table but not in the definition
//!   (dropped, or renamed), a column whose type does not fit the declared one, a new required
//!   column without a default on a table with rows, a new primary key column, a new unique
//!   column over duplicate values. hookline never drops, renames or retypes a column.
//!
//! Nothing is changed when anything is refused. With
//! [`create_missing_tables(false)`](crate::DataBuilder::create_missing_tables) the tables are
//! only checked (declared columns exist with fitting types; other columns are allowed), and
//! nothing is changed. [`DataBuilder::inspect`](crate::DataBuilder::inspect) returns the plan
//! ([`SchemaReport`]) without changing anything.
//!
//! # Several instances on one database
//!
//! Checking the catalog and then creating is a race when several instances start at once
//! (PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent one: it can fail
//! on `pg_type`'s unique index). So a build that may change the schema holds the
//! [`SchemaLock`] from before it reads the catalog until the changes are made; a caller that
//! also seeds holds it itself across build and seed ([`DataBuilder::under_lock`](crate::DataBuilder::under_lock)).

use std::fmt;
use std::sync::Arc;

use sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, ForeignKey, Func, Index, PostgresQueryBuilder, Query,
    SchemaStatementBuilder, SqliteQueryBuilder, Table,
};
use serde_json::Value;

use crate::coerce;
use crate::decode::Field;
use crate::error::DataError;
use crate::resource::ResourceInner;
use crate::schema::{Column, ColumnType};
use crate::schema_lock::SchemaLock;
use crate::source::{Backend, DataSource};

/// Every column of a table: name and declared type (SQLite) or type name (PostgreSQL's
/// `udt_name`: `int8`, `text`, `timestamptz`, …).
const SQLITE_COLUMNS: &str = "SELECT name, type FROM pragma_table_info($1)";
const POSTGRES_COLUMNS: &str = "SELECT column_name::text, udt_name::text \
     FROM information_schema.columns \
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position";

/// The columns of a table that a single-column, non-partial unique index covers.
const SQLITE_UNIQUE: &str = "SELECT ii.name FROM pragma_index_list($1) AS il \
     JOIN pragma_index_info(il.name) AS ii \
     WHERE il.\"unique\" = 1 AND il.partial = 0 AND ii.name IS NOT NULL \
     AND (SELECT COUNT(*) FROM pragma_index_info(il.name)) = 1";
const POSTGRES_UNIQUE: &str = "SELECT a.attname::text FROM pg_index i \
     JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = t.relnamespace \
     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
     WHERE n.nspname = current_schema() AND t.relname = $1 AND i.indisunique \
     AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL";

/// Creates missing tables and makes the other additive changes (if `create`; under the
/// [`SchemaLock`], taken here unless `lock_held`), or only checks (if not); refuses with the
/// first [`SchemaProblem`] (all of them are logged).
pub(crate) async fn prepare(
    source: &DataSource,
    resources: &[Arc<ResourceInner>],
    create: bool,
    lock_held: bool,
) -> Result<(), DataError> {
    if !create {
        return inspect(source, resources, false).await?.refusal();
    }
    let lock = match lock_held {
        true => None,
        false => Some(SchemaLock::acquire(source).await?),
    };
    let report = inspect(source, resources, true).await?;
    report.refusal()?;
    for change in report.changes {
        tracing::info!(
            resource = %change.resource,
            table = %change.table,
            sql = %change.sql,
            "{}",
            change.description
        );
        source.execute_schema(change.sql).await?;
    }
    if let Some(lock) = lock {
        lock.release().await?;
    }
    Ok(())
}

/// What `build` would do: the additive changes (when `create`) and the problems, read from the
/// catalog without changing anything.
pub(crate) async fn inspect(
    source: &DataSource,
    resources: &[Arc<ResourceInner>],
    create: bool,
) -> Result<SchemaReport, DataError> {
    let mut report = SchemaReport::default();
    for res in creation_order(resources) {
        let table = TablePlan {
            res,
            all: resources,
            backend: source.backend(),
        };
        let existing = columns(source, table.name()).await?;
        if existing.is_empty() {
            if create {
                report
                    .changes
                    .push(table.change(None, "create the table", table.create()));
            } else {
                report.problems.push(table.problem(
                    None,
                    "the table does not exist, and creating missing tables is off".into(),
                ));
            }
            continue;
        }
        let unique = match res.def.columns.iter().any(|c| c.unique && !c.primary_key) {
            true => {
                source
                    .catalog(SQLITE_UNIQUE, POSTGRES_UNIQUE, table.name())
                    .await?
            }
            false => Vec::new(),
        };
        let mut rows = Rows::Unknown;
        let added: Vec<&Column> = res
            .def
            .columns
            .iter()
            .filter(|c| !existing.iter().any(|(name, _)| *name == c.name))
            .collect();
        for column in &res.def.columns {
            match existing.iter().find(|(name, _)| *name == column.name) {
                Some((_, db_type)) => {
                    if !fits(column.kind, table.backend, db_type, !create) {
                        report
                            .problems
                            .push(table.problem(Some(column), table.retype(column, db_type)));
                    } else if column.unique && !column.primary_key && !unique.contains(&column.name)
                    {
                        if !create {
                            tracing::warn!(
                                resource = res.name(),
                                column = %column.name,
                                "the column is unique in the definition, but no unique index \
                                 covers it in the table: racing writes can store duplicates"
                            );
                        } else if let Some(value) = duplicate(source, &table, column).await? {
                            report.problems.push(table.problem(
                                Some(column),
                                format!(
                                    "the column is unique in the definition, but the table has \
                                     duplicate values (such as {value}), so the unique index \
                                     `{}` cannot be created: remove the duplicates, or declare \
                                     the column without `unique`",
                                    unique_index_name(table.name(), &column.name)
                                ),
                            ));
                        } else {
                            report.changes.push(table.unique_index(column));
                        }
                    }
                }
                None if !create => {
                    let message = "the declared column is missing from the table, and creating \
                        missing tables is off (so hookline changes no table): add it to the table \
                        by hand, or remove it from the definition";
                    report
                        .problems
                        .push(table.problem(Some(column), message.into()));
                }
                None => match table.add_column(column, source, &mut rows).await? {
                    Ok(changes) => report.changes.extend(changes),
                    Err(message) => report.problems.push(table.problem(Some(column), message)),
                },
            }
        }
        if create {
            for (name, _) in &existing {
                if res.def.get_column(name).is_none() {
                    let message = table.dropped(name, &added);
                    report.problems.push(SchemaProblem {
                        column: Some(name.clone()),
                        ..table.problem(None, message)
                    });
                }
            }
        }
    }
    Ok(report)
}

/// What a build would do to the database ([`DataBuilder::inspect`](crate::DataBuilder::inspect)):
/// the additive changes it makes, and the problems that make it refuse to start. Neither list
/// is applied by inspecting.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use hookline_data::{Column, Data, DataSource, ResourceDef};
/// let source = DataSource::connect("sqlite::memory:").await?;
/// let notes = ResourceDef::new("notes").column(Column::integer("id").primary_key());
/// Data::builder(source.clone()).resource(notes.clone()).build().await?;
///
/// // A column added to the definition is added to the table at the next build;
/// let report = Data::builder(source.clone())
///     .resource(notes.clone().column(Column::text("body")))
///     .inspect()
///     .await?;
/// assert!(report.problems.is_empty());
/// assert_eq!(report.changes[0].column.as_deref(), Some("body"));
/// assert!(report.changes[0].sql.contains("ADD COLUMN"));
///
/// // a column dropped from it is refused.
/// let report = Data::builder(source.clone())
///     .resource(ResourceDef::new("notes").column(Column::integer("key").primary_key()))
///     .inspect()
///     .await?;
/// assert!(report.problems.iter().any(|p| p.column.as_deref() == Some("id")));
/// # Ok::<(), hookline_data::DataError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct SchemaReport {
    /// The additive changes, in the order a build makes them.
    pub changes: Vec<SchemaChange>,
    /// The destructive or ambiguous differences; a build refuses to start while there is one.
    pub problems: Vec<SchemaProblem>,
}

impl SchemaReport {
    /// `Err` with the first problem (each one is logged) if there are any.
    fn refusal(&self) -> Result<(), DataError> {
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        for problem in &self.problems {
            tracing::error!("{problem}");
        }
        let mut error = first.clone();
        if self.problems.len() > 1 {
            error.message = format!(
                "{} ({} more schema problem(s) are logged)",
                error.message,
                self.problems.len() - 1
            );
        }
        Err(error.into())
    }
}

/// An additive schema change a build makes: a table created, a column added, a unique index
/// created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// The resource.
    pub resource: String,
    /// Its table.
    pub table: String,
    /// The column added or indexed; `None` for a table created.
    pub column: Option<String>,
    /// What the change does, in words (`add the column`, …).
    pub description: String,
    /// The statement.
    pub sql: String,
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table `{}`", self.table)?;
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}: {}", self.description, self.sql)
    }
}

/// A difference between a resource and its table that a build refuses to resolve by itself,
/// with what to do about it. It becomes a [`DataError::SchemaMismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// The resource.
    pub resource: String,
    /// Its table.
    pub table: String,
    /// The column, if the problem is about one (it may be a column of the table that the
    /// definition does not have).
    pub column: Option<String>,
    /// What differs and what to do; names the column.
    pub message: String,
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table `{}` of resource `{}` does not match its definition: {}",
            self.table, self.resource, self.message
        )
    }
}

impl From<SchemaProblem> for DataError {
    fn from(problem: SchemaProblem) -> Self {
        DataError::SchemaMismatch {
            resource: problem.resource,
            table: problem.table,
            message: problem.message,
        }
    }
}

// ---- For `hookline check --database`: a connection that cannot change the database. ----
// (Kept here, not in source.rs: only the schema inspection needs it.)
impl DataSource {
    /// Opens a pool that cannot change the database, for
    /// [`DataBuilder::inspect`](crate::DataBuilder::inspect): SQLite read-only (a missing file
    /// is an error, not created), PostgreSQL with `default_transaction_read_only` on.
    pub async fn connect_read_only(url: &str) -> Result<Self, DataError> {
        use std::str::FromStr;
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .read_only(true)
                .create_if_missing(false);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            Ok(DataSource::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?
                .options([("default_transaction_read_only", "on")]);
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            Ok(DataSource::Postgres(pool))
        } else {
            Err(DataError::UnsupportedUrl { url: url.into() })
        }
    }
}

/// The name hookline gives the unique constraint or index of a column: `<table>_<column>_key`
/// (PostgreSQL's own default for a one-column unique constraint), cut to PostgreSQL's 63
/// bytes (names are ASCII).
pub(crate) fn unique_index_name(table: &str, column: &str) -> String {
    let mut name = format!("{table}_{column}_key");
    name.truncate(63);
    name
}

/// The columns of a table, with their types lowercased; empty if there is no such table.
async fn columns(source: &DataSource, table: &str) -> Result<Vec<(String, String)>, DataError> {
    fn pair<R: sqlx::Row>(row: &R) -> Result<(String, String), sqlx::Error>
    where
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        usize: sqlx::ColumnIndex<R>,
    {
        let name: String = row.try_get(0)?;
        let kind: Option<String> = row.try_get(1)?;
        Ok((name, kind.unwrap_or_default().to_ascii_lowercase()))
    }
    let pairs = match source {
        DataSource::Sqlite(pool) => sqlx::query(SQLITE_COLUMNS)
            .bind(table)
            .fetch_all(pool)
            .await?
            .iter()
            .map(pair)
            .collect::<Result<_, _>>()?,
        DataSource::Postgres(pool) => sqlx::query(POSTGRES_COLUMNS)
            .bind(table)
            .fetch_all(pool)
            .await?
            .iter()
            .map(pair)
            .collect::<Result<_, _>>()?,
    };
    Ok(pairs)
}

/// A value of `column` that more than one row holds, as JSON text.
async fn duplicate(
    source: &DataSource,
    table: &TablePlan<'_>,
    column: &Column,
) -> Result<Option<String>, DataError> {
    let name = Alias::new(&column.name);
    let statement = Query::select()
        .column(name.clone())
        .from(Alias::new(table.name()))
        .and_where(Expr::col(name.clone()).is_not_null())
        .group_by_col(name.clone())
        .and_having(Func::count(Expr::col(name)).gt(1))
        .limit(1)
        .to_owned();
    let field = Field {
        name: column.name.clone(),
        kind: column.kind,
    };
    let rows = source.fetch(&statement, table.res.name(), &[field]).await?;
    Ok(rows
        .first()
        .and_then(|row| row.get(&column.name))
        .map(Value::to_string))
}

/// Whether a table has rows, asked once per table and only when it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    Unknown,
    None,
    One,
    Many,
}

impl Rows {
    async fn get(&mut self, source: &DataSource, table: &TablePlan<'_>) -> Result<Rows, DataError> {
        if *self == Rows::Unknown {
            let statement = Query::select()
                .expr(Expr::cust("1"))
                .from(Alias::new(table.name()))
                .limit(2)
                .to_owned();
            let field = Field {
                name: "one".into(),
                kind: ColumnType::Integer,
            };
            *self = match source
                .fetch(&statement, table.res.name(), &[field])
                .await?
                .len()
            {
                0 => Rows::None,
                1 => Rows::One,
                _ => Rows::Many,
            };
        }
        Ok(*self)
    }
}

/// One resource's table, for planning its statements and wording its problems.
struct TablePlan<'a> {
    res: &'a ResourceInner,
    all: &'a [Arc<ResourceInner>],
    backend: Backend,
}

impl TablePlan<'_> {
    fn name(&self) -> &str {
        self.res.def.table_name()
    }

    fn problem(&self, column: Option<&Column>, message: String) -> SchemaProblem {
        SchemaProblem {
            resource: self.res.name().to_owned(),
            table: self.name().to_owned(),
            column: column.map(|c| c.name.clone()),
            message: match column {
                Some(column) => format!("column `{}`: {message}", column.name),
                None => message,
            },
        }
    }

    fn change(&self, column: Option<&Column>, description: &str, sql: String) -> SchemaChange {
        SchemaChange {
            resource: self.res.name().to_owned(),
            table: self.name().to_owned(),
            column: column.map(|c| c.name.clone()),
            description: description.to_owned(),
            sql,
        }
    }

    fn render(&self, statement: &impl SchemaStatementBuilder) -> String {
        render(statement, self.backend)
    }

    /// `CREATE TABLE IF NOT EXISTS` for the resource.
    fn create(&self) -> String {
        let res = self.res;
        let table = Alias::new(self.name());
        let mut statement = Table::create();
        statement.table(table.clone()).if_not_exists();
        for column in &res.def.columns {
            let mut def = column_def(column, self.backend);
            if column.primary_key {
                def.not_null().primary_key();
                if column.kind == ColumnType::Integer {
                    def.auto_increment();
                }
            } else if column.required {
                def.not_null();
            }
            statement.col(&mut def);
        }
        for column in res
            .def
            .columns
            .iter()
            .filter(|c| c.unique && !c.primary_key)
        {
            statement.index(
                Index::create()
                    .name(unique_index_name(self.name(), &column.name))
                    .col(Alias::new(&column.name))
                    .unique(),
            );
        }
        for column in &res.def.columns {
            if let Some((table_name, key)) = self.target(column) {
                statement.foreign_key(
                    ForeignKey::create()
                        .from(table.clone(), Alias::new(&column.name))
                        .to(Alias::new(table_name), Alias::new(key)),
                );
            }
        }
        self.render(&statement)
    }

    /// The table and primary key a foreign key column points at.
    fn target(&self, column: &Column) -> Option<(&str, &str)> {
        let foreign = column.foreign.as_ref()?;
        let target = self.all.iter().find(|r| r.name() == foreign.resource)?;
        Some((target.def.table_name(), &target.pk_column().name))
    }

    /// The statements that add a declared column to the existing table, or why it cannot be
    /// added.
    async fn add_column(
        &self,
        column: &Column,
        source: &DataSource,
        rows: &mut Rows,
    ) -> Result<Result<Vec<SchemaChange>, String>, DataError> {
        let table = self.name();
        let name = &column.name;
        if column.primary_key {
            return Ok(Err(format!(
                "the column is the primary key in the definition but is not in the table: \
                 hookline does not change a table's primary key; declare the table's own \
                 primary key, or migrate the table by hand (ALTER TABLE \"{table}\" ADD COLUMN \
                 \"{name}\" …, then move the primary key to it)"
            )));
        }
        // The default as a literal, checked by the definition's validation.
        let default = match &column.default {
            Some(value) if !value.is_null() => coerce::coerce(column.kind, value)
                .ok()
                .map(|value| coerce::to_sql(column.kind, &value, self.backend)),
            _ => None,
        };
        let mut def = column_def(column, self.backend);
        if column.required {
            match (&default, rows.get(source, self).await?, self.backend) {
                (Some(_), _, _) | (None, Rows::None, Backend::Postgres) => {
                    def.not_null();
                }
                // SQLite adds no NOT NULL column without a default, even to an empty table;
                // the create flow checks required values anyway.
                (None, Rows::None, Backend::Sqlite) => {}
                (None, _, _) => {
                    let add = self.render(
                        Table::alter()
                            .table(Alias::new(table))
                            .add_column(column_def(column, self.backend)),
                    );
                    return Ok(Err(format!(
                        "the column is new, required and has no default, and the table has rows, \
                         which would have no value: give it a `default`, or make it optional, or \
                         add and fill it by hand ({add}; UPDATE \"{table}\" SET \"{name}\" = …)"
                    )));
                }
            }
        }
        if column.unique && default.is_some() && rows.get(source, self).await? == Rows::Many {
            return Ok(Err(
                "the column is new, unique and has a default, and the table has more than one \
                 row: every row would get the default, which breaks `unique`; declare it \
                 without a default, or add and fill it by hand, then declare it"
                    .to_owned(),
            ));
        }
        if let Some(value) = default {
            def.default(Expr::val(value));
        }
        if let Some((target, key)) = self.target(column) {
            // SQLite adds no REFERENCES column with a non-null default.
            if self.backend == Backend::Postgres || column.default.is_none() {
                def.extra(format!("REFERENCES \"{target}\" (\"{key}\")"));
            }
        }
        let sql = self.render(Table::alter().table(Alias::new(table)).add_column(&mut def));
        let mut changes = vec![self.change(Some(column), "add the column", sql)];
        if column.unique {
            changes.push(self.unique_index(column));
        }
        Ok(Ok(changes))
    }

    /// `CREATE UNIQUE INDEX` for a unique column of an existing table.
    fn unique_index(&self, column: &Column) -> SchemaChange {
        let sql = self.render(
            Index::create()
                .name(unique_index_name(self.name(), &column.name))
                .table(Alias::new(self.name()))
                .col(Alias::new(&column.name))
                .unique()
                .if_not_exists(),
        );
        self.change(Some(column), "create the unique index", sql)
    }

    /// Why a column's type in the table does not do, and how to migrate it.
    fn retype(&self, column: &Column, db_type: &str) -> String {
        let (table, name) = (self.name(), &column.name);
        let shown = if db_type.is_empty() {
            "untyped"
        } else {
            db_type
        };
        let how = match self.backend {
            Backend::Postgres => {
                let target = postgres_type(column.kind);
                format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" TYPE {target} USING \"{name}\"::{target}"
                )
            }
            Backend::Sqlite => "SQLite cannot change a column's type: create the table anew, \
                 copy the rows over, drop the old table and rename the new one \
                 (https://www.sqlite.org/lang_altertable.html#otheralter)"
                .to_owned(),
        };
        format!(
            "the column is `{shown}` in the table, which does not hold a {}: hookline changes no \
             existing column; declare the type the table has, or migrate the column by hand: {how}",
            column.kind
        )
    }

    /// Why a column of the table that the definition lacks stops the start, and what to do.
    fn dropped(&self, name: &str, added: &[&Column]) -> String {
        let table = self.name();
        let rename = match added {
            [new] => format!(
                "if it was renamed to `{}`: ALTER TABLE \"{table}\" RENAME COLUMN \"{name}\" TO \"{}\"; ",
                new.name, new.name
            ),
            _ => String::new(),
        };
        format!(
            "column `{name}` is in the table but not in the definition: was it dropped or \
             renamed? hookline drops and renames no column. Declare it again (`backend_only` \
             hides it from clients), or migrate the table by hand: {rename}if it was dropped \
             (its values are lost): ALTER TABLE \"{table}\" DROP COLUMN \"{name}\""
        )
    }
}

/// A sea-query schema statement as text for a backend.
fn render(statement: &impl SchemaStatementBuilder, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => statement.to_string(SqliteQueryBuilder),
        Backend::Postgres => statement.to_string(PostgresQueryBuilder),
    }
}

/// A column of hookline's type for the backend, without constraints.
fn column_def(column: &Column, backend: Backend) -> ColumnDef {
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
    def
}

/// The PostgreSQL type hookline creates for a column type.
fn postgres_type(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::Integer => "bigint",
        ColumnType::Float => "double precision",
        ColumnType::Text => "text",
        ColumnType::Boolean => "boolean",
        ColumnType::Timestamp => "timestamp with time zone",
        ColumnType::Json => "jsonb",
        ColumnType::Uuid => "uuid",
    }
}

/// SQLite's type affinity of a declared type (https://www.sqlite.org/datatype3.html §3.1);
/// `None` for no declared type, which holds anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
    None,
}

fn affinity(declared: &str) -> Affinity {
    let has = |part: &str| declared.contains(part);
    if declared.is_empty() {
        Affinity::None
    } else if has("int") {
        Affinity::Integer
    } else if has("char") || has("clob") || has("text") {
        Affinity::Text
    } else if has("blob") {
        Affinity::Blob
    } else if has("real") || has("floa") || has("doub") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// Whether a table's column type (lowercased) holds values of `kind`.
///
/// Compared by kind, not by name, so that the narrower or older types an existing table may
/// use pass (`int4`, `varchar`, `real`, `timestamp` without time zone, SQLite's affinities).
/// `existing` (tables hookline only reads and writes, never changes) also lets the types the
/// rows are only read from pass: an integer column for a float, a text column for a UUID.
fn fits(kind: ColumnType, backend: Backend, db_type: &str, existing: bool) -> bool {
    match backend {
        Backend::Postgres => {
            let integer = matches!(db_type, "int8" | "int4" | "int2");
            match kind {
                ColumnType::Integer => integer,
                ColumnType::Float => matches!(db_type, "float8" | "float4") || existing && integer,
                ColumnType::Text => {
                    matches!(db_type, "text" | "varchar" | "bpchar")
                        || existing && db_type == "name"
                }
                ColumnType::Boolean => db_type == "bool",
                ColumnType::Timestamp => matches!(db_type, "timestamptz" | "timestamp"),
                ColumnType::Json => matches!(db_type, "jsonb" | "json"),
                ColumnType::Uuid => {
                    db_type == "uuid" || existing && matches!(db_type, "text" | "varchar")
                }
            }
        }
        Backend::Sqlite => match (kind, affinity(db_type)) {
            (_, Affinity::None) => true,
            (_, Affinity::Blob) => false,
            (ColumnType::Integer, Affinity::Integer)
            | (ColumnType::Float, Affinity::Real | Affinity::Numeric)
            | (ColumnType::Boolean, Affinity::Integer | Affinity::Numeric)
            | (ColumnType::Text, Affinity::Text)
            | (ColumnType::Timestamp, Affinity::Text | Affinity::Numeric)
            | (ColumnType::Json, Affinity::Text | Affinity::Numeric)
            | (ColumnType::Uuid, Affinity::Text) => true,
            (ColumnType::Uuid, Affinity::Numeric) => db_type.contains("uuid"),
            (ColumnType::Integer, Affinity::Real | Affinity::Numeric)
            | (ColumnType::Float, Affinity::Integer)
            | (ColumnType::Timestamp, Affinity::Integer)
            | (ColumnType::Json, _) => existing,
            _ => false,
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ResourceDef;

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

    fn create(all: &[Arc<ResourceInner>], backend: Backend) -> String {
        TablePlan {
            res: &all[0],
            all,
            backend,
        }
        .create()
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
        let sqlite = create(&all, Backend::Sqlite);
        assert!(
            sqlite.contains(r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#),
            "{sqlite}"
        );
        assert!(sqlite.contains(r#""listed_at" text"#), "{sqlite}");
        assert!(sqlite.contains(r#""title" text NOT NULL"#), "{sqlite}");
        assert!(
            sqlite.contains(r#"CONSTRAINT "apartments_title_key" UNIQUE ("title")"#),
            "{sqlite}"
        );
        assert!(
            sqlite.contains(r#"FOREIGN KEY ("realtor_id") REFERENCES "users" ("id")"#),
            "{sqlite}"
        );
        let pg = create(&all, Backend::Postgres);
        assert!(
            pg.contains(r#""id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL PRIMARY KEY"#),
            "{pg}"
        );
        assert!(
            pg.contains(r#""listed_at" timestamp with time zone"#),
            "{pg}"
        );
        assert!(
            pg.contains(r#"CONSTRAINT "apartments_title_key" UNIQUE ("title")"#),
            "{pg}"
        );
    }

    #[test]
    fn unique_names_fit_postgres_identifiers() {
        assert_eq!(unique_index_name("users", "email"), "users_email_key");
        let long = unique_index_name(&"t".repeat(60), "column");
        assert_eq!(long.len(), 63);
    }

    #[test]
    fn types_fit_by_kind() {
        use Backend::{Postgres, Sqlite};
        // What hookline creates fits, on both backends.
        for (kind, sqlite, pg) in [
            (ColumnType::Integer, "bigint", "int8"),
            (ColumnType::Float, "double", "float8"),
            (ColumnType::Text, "text", "text"),
            (ColumnType::Boolean, "boolean", "bool"),
            (ColumnType::Timestamp, "text", "timestamptz"),
            (ColumnType::Json, "text", "jsonb"),
            (ColumnType::Uuid, "text", "uuid"),
        ] {
            assert!(fits(kind, Sqlite, sqlite, false), "{kind} {sqlite}");
            assert!(fits(kind, Postgres, pg, false), "{kind} {pg}");
        }
        // Narrower or older types of the same kind fit.
        assert!(fits(ColumnType::Text, Sqlite, "varchar(20)", false));
        assert!(fits(ColumnType::Integer, Postgres, "int4", false));
        assert!(fits(ColumnType::Timestamp, Sqlite, "datetime", false));
        assert!(fits(ColumnType::Float, Sqlite, "anything", true));
        // A changed kind does not.
        assert!(!fits(ColumnType::Float, Sqlite, "text", false));
        assert!(!fits(ColumnType::Text, Sqlite, "double", false));
        assert!(!fits(ColumnType::Integer, Postgres, "text", false));
        assert!(!fits(ColumnType::Float, Postgres, "int8", false));
        assert!(!fits(ColumnType::Float, Postgres, "numeric", true));
        // An existing table's integers can be read as floats, its text as UUIDs.
        assert!(fits(ColumnType::Float, Postgres, "int8", true));
        assert!(fits(ColumnType::Uuid, Postgres, "varchar", true));
    }
}
