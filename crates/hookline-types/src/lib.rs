//! # hookline-types — the vocabulary hookline's crates share
//!
//! The words `hookline-data` (resources over SQL) and `hookline-script` (hooks written in
//! JavaScript) both speak, defined once: a [`Record`] (one row), a [`ColumnType`], and a
//! [`Query`] — [`Filter`]s, [`Sort`] keys, a page, a total, [`Aggregate`]s. A query a script
//! builds with `#apartments.find({ where: … })` is the same value a Rust
//! `list.before_datasource_request` tap changes and the same value the SQL builder reads.
//!
//! This crate is plain data with serde: no I/O, no engine, no database. It exists, as ripgrep's
//! `grep-matcher` does, so that the crates above it agree on their types without depending on
//! each other. Both re-export what they use, so `hookline_data::Record` and
//! `hookline_types::Record` are the same type.
//!
//! ```
//! use hookline_types::{ColumnType, Filter, Query, Record};
//! use serde_json::json;
//!
//! let mut record = Record::try_from(json!({ "title": "Loft", "price": 120.0 }))?;
//! record.set("realtor_id", 7);
//! assert_eq!(record.get_i64("realtor_id"), Some(7));
//!
//! let query = Query::new()
//!     .filter(Filter::gte("price", 100))
//!     .sort_desc("price")
//!     .limit(20);
//! let back = Query::from_json(serde_json::to_value(&query)?)?;
//! assert_eq!(back, query);
//! assert_eq!("float".parse::<ColumnType>(), Ok(ColumnType::Float));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod column;
mod error;
mod eval;
pub mod query;
pub mod record;

pub use column::ColumnType;
pub use error::{ConversionError, QueryError, describe};
pub use query::{
    Aggregate, AggregateFn, Condition, Direction, Filter, Operator, Query, Sort, Source,
    escape_like,
};
pub use record::Record;
