//! SQL statements for a resource, built with sea-query from a checked query or record.
//!
//! Every name is looked up in the resource's schema first (unknown names are errors, never
//! SQL) and every value is coerced to its column's type and bound as a parameter. The same
//! builders serve both backends; only the values differ where the backends store a type
//! differently (see `coerce.rs`).
//!
//! A query is checked by one walk over it, and everything made from a query is made by that
//! walk: it hands each checked part to a sink, which builds the SQL, collects the bound values,
//! records the shape a kept text is looked up by, or only checks.
//!
//! - `filter.rs`: the walk over a filter tree, where each condition is checked; the sea-query
//!   condition and the values it binds.
//! - `select.rs`: the walk over a list query (filters, sort keys, page); the list `SELECT`, its
//!   `COUNT`, the select by one column; the check a flow runs before its hooks.
//! - `aggregate.rs`: `COUNT`, `SUM`, `AVG`, `MIN`, `MAX` over a query's rows.
//! - `write.rs`: `INSERT`, `UPDATE`, `DELETE` of one row.
//! - `cache.rs`: the rendered texts kept per resource — list `SELECT`s by shape, inserts by
//!   the columns they set — and the shape key.
//!
//! Running the statements is `source.rs`'s; the flows that call hooks around them are in
//! `read.rs`, `write.rs` and `transaction.rs` at the crate's root.

use sea_query::Alias;

use crate::error::DataError;
use crate::resource::ResourceInner;
use crate::schema::Column;

mod aggregate;
mod cache;
mod filter;
mod select;
mod write;

pub(crate) use aggregate::aggregate;
pub(crate) use cache::{Inserts, Selects};
pub(crate) use filter::filters;
pub(crate) use select::{by_column, by_keys, check, count};
pub(crate) use write::{delete, update};

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn table(res: &ResourceInner) -> Alias {
    Alias::new(res.def.table_name())
}

/// Bounds on what one query may ask for, so that no client input reaches a database limit
/// (SQLite's bound-parameter and expression-depth limits, PostgreSQL's signed 64-bit
/// offsets) as a 500: a query over a bound is a [`DataError::InvalidQuery`] naming it.
pub(crate) mod bounds {
    /// The most values of one `in` or `not_in` list.
    pub(crate) const LIST_VALUES: usize = 1000;
    /// The most sort keys of one query.
    pub(crate) const SORT_KEYS: usize = 16;
    /// The most aggregates of one request.
    pub(crate) const AGGREGATES: usize = 64;
    /// The largest offset: the databases count rows in signed 64-bit integers.
    pub(crate) const OFFSET: u64 = i64::MAX as u64;
}

/// A query over one of the [`bounds`]: `what` (e.g. "sort keys") asked for, the most allowed.
fn too_many(what: &str, asked: impl std::fmt::Display, most: impl std::fmt::Display) -> DataError {
    DataError::InvalidQuery {
        message: format!("{asked} {what} asked for; the most is {most}"),
    }
}

fn unsupported(res: &ResourceInner, column: &Column, message: impl Into<String>) -> DataError {
    DataError::UnsupportedFilter {
        resource: res.name().to_owned(),
        column: column.name.clone(),
        column_type: column.kind,
        message: message.into(),
    }
}

/// The resource the tests build statements for.
#[cfg(test)]
fn apartments() -> ResourceInner {
    use crate::schema::ResourceDef;
    ResourceInner::new(
        ResourceDef::new("apartments")
            .column(Column::integer("id").primary_key())
            .column(Column::text("title"))
            .column(Column::float("price"))
            .column(Column::json("meta")),
    )
}
