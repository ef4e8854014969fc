//! The data API scripts reach through `#table.find/create/update/delete(…)`: the [`TableApi`]
//! trait the host implements, the [`FindQuery`] it receives, [`TableError`], and
//! [`MemoryTables`], an in-memory implementation for prototypes, tests and demos.
//!
//! Scripts see Enfyra's repository shape: every method returns a promise of
//! `{ data: [records] }`; `find({ where | filter, sort, limit, page, fields })`,
//! `create({ data })`, `update({ id, data })`, `delete({ id })`. Calls travel from the script's
//! worker thread back to the async task that runs the hook, which awaits the [`TableApi`]; the
//! script waits for the answer within its time limit.

use std::collections::BTreeMap;
use std::future::ready;
use std::sync::Mutex;

use hookline::{BoxError, BoxFuture};
use hookline_types::{Filter, Query, Record, Sort};
use serde_json::{Map, Value, json};

use crate::error::short_json;

/// A failed data-API call. Scripts see it as a rejected promise whose message is this error's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The table does not exist.
    #[error("no table named `{0}`")]
    UnknownTable(String),
    /// No record has this id.
    #[error("table `{table}` has no record with id {id}")]
    NotFound {
        /// The table.
        table: String,
        /// The id asked for.
        id: Value,
    },
    /// The call's arguments are not what the method takes.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed.
    #[error(transparent)]
    Backend(BoxError),
}

/// What `#table.find({ … })` asks for: a [`Query`] of the shared vocabulary (the same type a
/// data layer's list flow and its `before_datasource_request` hooks take), a page, and the
/// fields to keep.
///
/// Scripts write Enfyra's predicate object as `where` or `filter`: `{ field: value }` for
/// equality, `{ field: { _eq | _neq | _gt | _gte | _lt | _lte | _in | _nin | _is_null |
/// _contains | _starts_with | _ends_with: … } }`, and `_and` / `_or` (arrays) to combine; it
/// is read into [`Filter`]s that must all match. `_not` has no counterpart among filters and is
/// refused with a hint (`_neq`, `_nin`, `_is_null: false`).
///
/// ```
/// use hookline_script::FindQuery;
/// use hookline_types::{Filter, Sort};
/// use serde_json::json;
///
/// let find = FindQuery::from_args(&json!({
///     "where": { "price": { "_gte": 100 }, "city": "Kyiv" },
///     "sort": "-price", "limit": 10, "page": 2, "fields": "id,title"
/// }))?;
/// assert_eq!(find.query.filters, [Filter::eq("city", "Kyiv"), Filter::gte("price", 100)]);
/// assert_eq!(find.query.sort, [Sort::desc("price")]);
/// assert_eq!((find.query.limit, find.page), (Some(10), Some(2)));
/// # Ok::<(), hookline_script::TableError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FindQuery {
    /// Filters, sort keys (`sort: "-price,id"` or `["-price", "id"]`) and `limit`. The offset
    /// is left to the table: it depends on the page and, without a `limit`, on the table's
    /// default page size.
    pub query: Query,
    /// The page (from 1) of `limit` records.
    pub page: Option<u64>,
    /// Only these fields (`fields: "id,name"` or `["id", "name"]`); all when `None`.
    pub fields: Option<Vec<String>>,
}

impl FindQuery {
    /// Reads the argument of `find(…)`.
    pub fn from_args(args: &Value) -> Result<Self, TableError> {
        let mut query = FindQuery::default();
        let Some(args) = args.as_object() else {
            return if args.is_null() {
                Ok(query)
            } else {
                Err(TableError::Invalid(format!(
                    "find expects an object like {{ where: {{ … }}, limit: 10 }}, got {}",
                    short_json(args)
                )))
            };
        };
        for (key, value) in args {
            match key.as_str() {
                "where" | "filter" => match value {
                    Value::Object(filter) => query.query.filters = predicate(filter)?,
                    Value::Null => {}
                    other => {
                        return Err(TableError::Invalid(format!(
                            "find: `{key}` must be an object, got {}",
                            short_json(other)
                        )));
                    }
                },
                "sort" => {
                    query.query.sort = list(key, value)?
                        .into_iter()
                        .map(|s| match s.strip_prefix('-') {
                            Some(field) => Sort::desc(field),
                            None => Sort::asc(s),
                        })
                        .collect();
                }
                "fields" => query.fields = Some(list(key, value)?),
                "limit" => query.query.limit = count(key, value)?,
                "page" => query.page = count(key, value)?,
                other => {
                    return Err(TableError::Invalid(format!(
                        "find: unknown option `{other}`; supported: where (or filter), sort, limit, page, fields"
                    )));
                }
            }
        }
        Ok(query)
    }
}

/// A comma-separated string or an array of strings.
fn list(key: &str, value: &Value) -> Result<Vec<String>, TableError> {
    let invalid = || {
        TableError::Invalid(format!(
            "find: `{key}` must be a comma-separated string or an array of strings, got {}",
            short_json(value)
        ))
    };
    match value {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(String::from).ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

fn count(key: &str, value: &Value) -> Result<Option<u64>, TableError> {
    match value {
        Value::Null => Ok(None),
        v => v.as_u64().map(Some).ok_or_else(|| {
            TableError::Invalid(format!(
                "find: `{key}` must be a whole number, got {}",
                short_json(v)
            ))
        }),
    }
}

/// Translates an Enfyra predicate object into filters that must all match.
fn predicate(filter: &Map<String, Value>) -> Result<Vec<Filter>, TableError> {
    let mut filters = Vec::new();
    for (key, value) in filter {
        match key.as_str() {
            "_and" | "_or" => {
                let Value::Array(items) = value else {
                    return Err(TableError::Invalid(format!(
                        "find: `{key}` must be an array of predicate objects"
                    )));
                };
                let members = items
                    .iter()
                    .map(|item| match item {
                        Value::Object(object) => predicate(object).map(Filter::and),
                        _ => Err(TableError::Invalid(format!(
                            "find: the members of `{key}` must be predicate objects"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                filters.push(if key == "_and" {
                    Filter::and(members)
                } else {
                    Filter::or(members)
                });
            }
            "_not" => {
                return Err(TableError::Invalid(
                    "find: `_not` is not supported on SQL tables; negate the conditions instead (`_neq`, `_nin`, `_is_null: false`)".into(),
                ));
            }
            field => match value {
                Value::Object(ops) => {
                    for (op, operand) in ops {
                        filters.push(condition(field, op, operand)?);
                    }
                }
                Value::Null => filters.push(Filter::is_null(field)),
                other => filters.push(Filter::eq(field, other.clone())),
            },
        }
    }
    Ok(filters)
}

fn condition(field: &str, op: &str, operand: &Value) -> Result<Filter, TableError> {
    let text = || {
        operand
            .as_str()
            .ok_or_else(|| TableError::Invalid(format!("find: `{field}.{op}` needs a string")))
    };
    let list = || match operand {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(TableError::Invalid(format!(
            "find: `{field}.{op}` needs an array"
        ))),
    };
    Ok(match op {
        "_eq" if operand.is_null() => Filter::is_null(field),
        "_eq" => Filter::eq(field, operand.clone()),
        "_neq" if operand.is_null() => Filter::is_not_null(field),
        "_neq" => Filter::ne(field, operand.clone()),
        "_gt" => Filter::gt(field, operand.clone()),
        "_gte" => Filter::gte(field, operand.clone()),
        "_lt" => Filter::lt(field, operand.clone()),
        "_lte" => Filter::lte(field, operand.clone()),
        "_in" => Filter::is_in(field, list()?),
        "_nin" => Filter::not_in(field, list()?),
        "_is_null" => match operand.as_bool() {
            Some(true) => Filter::is_null(field),
            Some(false) => Filter::is_not_null(field),
            None => {
                return Err(TableError::Invalid(format!(
                    "find: `{field}._is_null` needs true or false"
                )));
            }
        },
        "_contains" => Filter::contains(field, text()?),
        "_starts_with" => Filter::starts_with(field, text()?),
        "_ends_with" => Filter::ends_with(field, text()?),
        other => {
            return Err(TableError::Invalid(format!(
                "find: unknown operator `{other}` on `{field}`; supported: _eq, _neq, _gt, _gte, _lt, _lte, _in, _nin, _is_null, _contains, _starts_with, _ends_with"
            )));
        }
    })
}

/// The data API handed to scripts: one method per repository call, over records.
///
/// The SQL-backed implementation belongs to the data layer; [`MemoryTables`] is an in-memory
/// one. Methods return boxed futures so the trait can be used as `Arc<dyn TableApi>`; they run
/// in the async task that called the hook, not on a script worker.
pub trait TableApi: Send + Sync {
    /// The records of `table` that match `query`.
    fn find<'a>(
        &'a self,
        table: &'a str,
        query: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>>;

    /// Inserts `data` and returns the stored record (with its id).
    fn create<'a>(
        &'a self,
        table: &'a str,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>>;

    /// Changes the fields in `data` of the record with `id` and returns the stored record.
    fn update<'a>(
        &'a self,
        table: &'a str,
        id: Value,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>>;

    /// Deletes the record with `id` and returns it.
    fn delete<'a>(&'a self, table: &'a str, id: Value)
    -> BoxFuture<'a, Result<Record, TableError>>;
}

/// A data-API call from a script, parsed from its JavaScript arguments.
#[derive(Debug)]
pub(crate) enum TableRequest {
    Find {
        table: String,
        query: FindQuery,
    },
    Create {
        table: String,
        data: Record,
    },
    Update {
        table: String,
        id: Value,
        data: Record,
    },
    Delete {
        table: String,
        id: Value,
    },
}

impl TableRequest {
    /// Reads `#table.<method>(args)`.
    pub(crate) fn parse(method: &str, table: &str, args: Value) -> Result<Self, TableError> {
        let table = table.to_string();
        let field = |name: &str| args.get(name).filter(|v| !v.is_null()).cloned();
        let data = || match field("data") {
            Some(Value::Object(data)) => Ok(Record::from(data)),
            _ => Err(TableError::Invalid(format!(
                "{method} expects {{ data: {{ … }} }}{}, got {}",
                if method == "update" { " and an id" } else { "" },
                short_json(&args)
            ))),
        };
        let id = || {
            field("id").ok_or_else(|| {
                TableError::Invalid(format!(
                    "{method} expects {{ id: … }}, got {}",
                    short_json(&args)
                ))
            })
        };
        Ok(match method {
            "find" => TableRequest::Find {
                query: FindQuery::from_args(&args)?,
                table,
            },
            "create" => TableRequest::Create {
                data: data()?,
                table,
            },
            "update" => TableRequest::Update {
                id: id()?,
                data: data()?,
                table,
            },
            "delete" => TableRequest::Delete { id: id()?, table },
            other => {
                return Err(TableError::Invalid(format!(
                    "unknown table method `{other}`; tables have find, create, update and delete"
                )));
            }
        })
    }

    /// Runs the call and shapes the answer as scripts see it: `{ data: [records] }`.
    pub(crate) async fn run(self, api: &dyn TableApi) -> Result<Value, TableError> {
        let records = match self {
            TableRequest::Find { table, query } => api.find(&table, query).await?,
            TableRequest::Create { table, data } => vec![api.create(&table, data).await?],
            TableRequest::Update { table, id, data } => {
                vec![api.update(&table, id, data).await?]
            }
            TableRequest::Delete { table, id } => vec![api.delete(&table, id).await?],
        };
        Ok(json!({ "data": records }))
    }
}

/// Tables of JSON records in memory: a real [`TableApi`] for prototypes, tests and demos.
///
/// Tables must be declared ([`MemoryTables::with_table`]); a call to any other table fails, as
/// it would against a database. `create` assigns integer ids (`id`) unless the data has one;
/// `find` evaluates filters and sort keys as the SQL backends do ([`Filter::matches`],
/// [`Sort::compare`]).
///
/// ```
/// use hookline_script::{FindQuery, MemoryTables, Record, TableApi, TableError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tables = MemoryTables::new().with_table("audit_logs");
/// let data = Record::from_iter([("action", "login")]);
/// let row = tables.create("audit_logs", data).await?;
/// assert_eq!(row["id"], 1);
/// assert_eq!(tables.rows("audit_logs").unwrap().len(), 1);
/// assert!(matches!(
///     tables.find("users", FindQuery::default()).await,
///     Err(TableError::UnknownTable(_))
/// ));
/// # Ok::<(), TableError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryTables {
    tables: Mutex<BTreeMap<String, MemoryTable>>,
}

#[derive(Debug, Default)]
struct MemoryTable {
    rows: Vec<Record>,
    next_id: i64,
}

impl MemoryTables {
    /// No tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares an empty table.
    #[must_use]
    pub fn with_table(self, name: impl Into<String>) -> Self {
        self.create_table(name);
        self
    }

    /// Declares an empty table (no change if it exists).
    pub fn create_table(&self, name: impl Into<String>) {
        self.lock()
            .entry(name.into())
            .or_insert_with(|| MemoryTable {
                rows: Vec::new(),
                next_id: 1,
            });
    }

    /// A copy of a table's records, in insertion order; `None` if there is no such table.
    pub fn rows(&self, table: &str) -> Option<Vec<Record>> {
        self.lock().get(table).map(|t| t.rows.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemoryTable>> {
        // A panic while holding the lock cannot leave a table half-written: every change is a
        // single push, assignment or removal.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with<T>(
        &self,
        table: &str,
        f: impl FnOnce(&mut MemoryTable) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        let mut tables = self.lock();
        let t = tables
            .get_mut(table)
            .ok_or_else(|| TableError::UnknownTable(table.to_string()))?;
        f(t)
    }

    fn find_now(&self, table: &str, find: FindQuery) -> Result<Vec<Record>, TableError> {
        let FindQuery {
            query,
            page,
            fields,
        } = find;
        self.with(table, |t| {
            let mut rows: Vec<&Record> = t
                .rows
                .iter()
                .filter(|row| query.filters.iter().all(|f| f.matches(row)))
                .collect();
            rows.sort_by(|a, b| {
                query
                    .sort
                    .iter()
                    .map(|key| key.compare(a, b))
                    .find(|order| order.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let skip = match (page, query.limit) {
                (Some(page), Some(limit)) => page.saturating_sub(1).saturating_mul(limit),
                _ => 0,
            };
            let rows = rows
                .into_iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(
                    query
                        .limit
                        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
                );
            Ok(match &fields {
                Some(fields) => rows
                    .map(|row| {
                        row.iter()
                            .filter(|(k, _)| fields.iter().any(|f| f == k))
                            .map(|(k, v)| (k.to_owned(), v.clone()))
                            .collect()
                    })
                    .collect(),
                None => rows.cloned().collect(),
            })
        })
    }

    fn create_now(&self, table: &str, mut data: Record) -> Result<Record, TableError> {
        self.with(table, |t| {
            match data.get("id").filter(|id| !id.is_null()) {
                Some(id) => {
                    if t.rows
                        .iter()
                        .any(|r| r.get("id").is_some_and(|v| same(v, id)))
                    {
                        return Err(TableError::Invalid(format!(
                            "table `{table}` already has a record with id {id}"
                        )));
                    }
                    if let Some(n) = id.as_i64() {
                        t.next_id = t.next_id.max(n.saturating_add(1));
                    }
                }
                None => {
                    data.set("id", t.next_id);
                    t.next_id += 1;
                }
            }
            t.rows.push(data.clone());
            Ok(data)
        })
    }

    fn update_now(&self, table: &str, id: Value, data: Record) -> Result<Record, TableError> {
        self.with(table, |t| {
            if data.get("id").is_some_and(|new| !same(new, &id)) {
                return Err(TableError::Invalid(format!(
                    "update of `{table}` record {id} cannot change its id"
                )));
            }
            let row = t
                .rows
                .iter_mut()
                .find(|r| r.get("id").is_some_and(|v| same(v, &id)))
                .ok_or_else(|| TableError::NotFound {
                    table: table.to_string(),
                    id: id.clone(),
                })?;
            for (column, value) in data {
                row.set(column, value);
            }
            Ok(row.clone())
        })
    }

    fn delete_now(&self, table: &str, id: Value) -> Result<Record, TableError> {
        self.with(table, |t| {
            let index = t
                .rows
                .iter()
                .position(|r| r.get("id").is_some_and(|v| same(v, &id)))
                .ok_or_else(|| TableError::NotFound {
                    table: table.to_string(),
                    id: id.clone(),
                })?;
            Ok(t.rows.remove(index))
        })
    }
}

impl TableApi for MemoryTables {
    fn find<'a>(
        &'a self,
        table: &'a str,
        query: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>> {
        Box::pin(ready(self.find_now(table, query)))
    }

    fn create<'a>(
        &'a self,
        table: &'a str,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(ready(self.create_now(table, data)))
    }

    fn update<'a>(
        &'a self,
        table: &'a str,
        id: Value,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(ready(self.update_now(table, id, data)))
    }

    fn delete<'a>(
        &'a self,
        table: &'a str,
        id: Value,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(ready(self.delete_now(table, id)))
    }
}

/// Equality of ids that treats `1` and `1.0` as the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> MemoryTables {
        let t = MemoryTables::new().with_table("items");
        for (name, price, tag) in [("a", 5, Some("x")), ("b", 15, None), ("c", 10, Some("y"))] {
            let mut data = Record::new();
            data.set("name", name);
            data.set("price", price);
            data.set("tag", json!(tag));
            t.create_now("items", data).unwrap();
        }
        t
    }

    fn names(rows: &[Record]) -> Vec<&str> {
        rows.iter().map(|r| r.get_str("name").unwrap()).collect()
    }

    fn find(args: Value) -> Result<Vec<Record>, TableError> {
        tables().find_now("items", FindQuery::from_args(&args)?)
    }

    #[test]
    fn find_filters_sorts_and_pages() {
        assert_eq!(
            names(&find(json!({ "where": { "price": { "_gte": 10 } } })).unwrap()),
            ["b", "c"]
        );
        assert_eq!(
            names(&find(json!({ "filter": { "name": "c" } })).unwrap()),
            ["c"]
        );
        assert_eq!(
            names(&find(json!({ "sort": "-price" })).unwrap()),
            ["b", "c", "a"]
        );
        assert_eq!(
            names(&find(json!({ "sort": ["price"], "limit": 1, "page": 2 })).unwrap()),
            ["c"]
        );
        assert_eq!(
            names(&find(json!({ "where": { "_or": [{ "name": "a" }, { "tag": { "_is_null": true } }] } })).unwrap()),
            ["a", "b"]
        );
        assert_eq!(
            names(&find(json!({ "where": { "name": { "_nin": ["a", "b"] } } })).unwrap()),
            ["c"]
        );
        let rows = find(json!({ "fields": "name", "limit": 1 })).unwrap();
        assert_eq!(rows[0].columns().collect::<Vec<_>>(), ["name"]);
    }

    #[test]
    fn bad_queries_say_what_is_supported() {
        let err = find(json!({ "where": { "price": { "_between": [1, 2] } } })).unwrap_err();
        assert!(
            err.to_string().contains("unknown operator `_between`"),
            "{err}"
        );
        // `_not` has no filter to become, in memory as on SQL: refused with what to use.
        let err = find(json!({ "where": { "_not": { "name": "a" } } })).unwrap_err();
        assert!(err.to_string().contains("`_nin`"), "{err}");
        let err = find(json!({ "meta": "totalCount" })).unwrap_err();
        assert!(err.to_string().contains("unknown option `meta`"), "{err}");
        let err = find(json!({ "limit": -1 })).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn ids_are_assigned_unique_and_fixed() {
        let t = tables();
        let rows = t.rows("items").unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| r.get_i64("id").unwrap())
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let one = |column: &str, value: Value| Record::from_iter([(column, value)]);
        assert!(t.create_now("items", one("id", json!(2.0))).is_err());
        assert!(
            t.update_now("items", json!(1), one("id", json!(9)))
                .is_err()
        );
        let updated = t
            .update_now("items", json!(1), one("price", json!(7)))
            .unwrap();
        assert_eq!(updated.get_i64("price"), Some(7));
        let deleted = t.delete_now("items", json!(1)).unwrap();
        assert_eq!(deleted.get_str("name"), Some("a"));
        assert!(matches!(
            t.delete_now("items", json!(1)),
            Err(TableError::NotFound { .. })
        ));
        assert!(t.rows("nope").is_none());
    }

    #[test]
    fn requests_check_their_arguments() {
        assert!(TableRequest::parse("create", "t", json!({ "data": { "a": 1 } })).is_ok());
        for (method, args, needle) in [
            ("create", json!({ "a": 1 }), "create expects { data"),
            ("update", json!({ "data": {} }), "update expects { id"),
            ("delete", json!({}), "delete expects { id"),
            ("upsert", json!({}), "unknown table method `upsert`"),
        ] {
            let err = TableRequest::parse(method, "t", args).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    fn parse(value: Value) -> Result<Vec<Filter>, TableError> {
        predicate(value.as_object().unwrap())
    }

    #[test]
    fn enfyra_predicates_become_filters() {
        let filters = parse(json!({
            "city": "Kyiv",
            "price": { "_gte": 100, "_lt": 500 },
            "deleted_at": null,
            "_or": [{ "rooms": { "_in": [1, 2] } }, { "title": { "_contains": "loft" } }]
        }))
        .unwrap();
        assert_eq!(
            filters,
            [
                Filter::or([
                    Filter::and([Filter::is_in("rooms", [1, 2])]),
                    Filter::and([Filter::like("title", "%loft%")])
                ]),
                Filter::eq("city", "Kyiv"),
                Filter::is_null("deleted_at"),
                Filter::gte("price", 100),
                Filter::lt("price", 500),
            ]
        );
    }

    #[test]
    fn text_operators_match_their_text_literally() {
        let filters = parse(json!({
            "a": { "_contains": "50%" },
            "b": { "_starts_with": "x_" },
            "c": { "_ends_with": "\\" }
        }))
        .unwrap();
        assert_eq!(
            filters,
            [
                Filter::like("a", "%50\\%%"),
                Filter::like("b", "x\\_%"),
                Filter::like("c", "%\\\\"),
            ]
        );
    }

    #[test]
    fn unsupported_predicates_are_refused_with_a_reason() {
        for bad in [
            json!({ "_not": { "a": 1 } }),
            json!({ "a": { "_regex": "x" } }),
            json!({ "a": { "_in": 3 } }),
            json!({ "a": { "_is_null": "yes" } }),
            json!({ "_and": { "a": 1 } }),
            json!({ "a": { "_contains": 3 } }),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(matches!(err, TableError::Invalid(_)), "{bad}: {err}");
        }
    }
}
