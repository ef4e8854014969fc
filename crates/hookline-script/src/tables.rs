//! The data API scripts reach through `#table.find/create/update/delete(…)`: the [`TableApi`]
//! trait the host implements, the [`FindQuery`] it receives, [`TableError`], and
//! [`MemoryTables`], an in-memory implementation for prototypes, tests and demos.
//!
//! Scripts see Enfyra's repository shape: every method returns a promise of
//! `{ data: [records] }`; `find({ where | filter, sort, limit, page, fields })`,
//! `create({ data })`, `update({ id, data })`, `delete({ id })`. Calls travel from the script's
//! worker thread back to the async task that runs the hook, which awaits the [`TableApi`]; the
//! script waits for the answer within its time limit.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::future::ready;
use std::sync::Mutex;

use hookline::{BoxError, BoxFuture};
use serde_json::{Map, Value, json};

use crate::error::short_json;

/// A JSON record.
pub type Record = Map<String, Value>;

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

/// One sort key of a [`FindQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The field.
    pub field: String,
    /// `true` for descending (written `-field` by scripts).
    pub descending: bool,
}

/// What `#table.find({ … })` asks for.
///
/// `filter` is Enfyra's predicate object, passed as `where` or `filter`: `{ field: value }` for
/// equality, `{ field: { _eq | _neq | _gt | _gte | _lt | _lte | _in | _nin | _is_null |
/// _contains | _starts_with | _ends_with: … } }`, and `_and` / `_or` (arrays) and `_not`
/// (object) to combine. A SQL backend translates it; [`MemoryTables`] evaluates it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FindQuery {
    /// The predicate (empty: every record).
    pub filter: Map<String, Value>,
    /// Sort keys, first is most significant (`sort: "-price,id"` or `["-price", "id"]`).
    pub sort: Vec<SortKey>,
    /// At most this many records.
    pub limit: Option<u64>,
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
                    Value::Object(filter) => query.filter = filter.clone(),
                    Value::Null => {}
                    other => {
                        return Err(TableError::Invalid(format!(
                            "find: `{key}` must be an object, got {}",
                            short_json(other)
                        )));
                    }
                },
                "sort" => {
                    query.sort = list(key, value)?
                        .into_iter()
                        .map(|s| match s.strip_prefix('-') {
                            Some(field) => SortKey {
                                field: field.to_string(),
                                descending: true,
                            },
                            None => SortKey {
                                field: s,
                                descending: false,
                            },
                        })
                        .collect();
                }
                "fields" => query.fields = Some(list(key, value)?),
                "limit" => query.limit = count(key, value)?,
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

/// The data API handed to scripts: one method per repository call, over JSON records.
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
            Some(Value::Object(data)) => Ok(data),
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
/// `find` evaluates the whole [`FindQuery`] language.
///
/// ```
/// use hookline_script::{FindQuery, MemoryTables, TableApi, TableError};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tables = MemoryTables::new().with_table("audit_logs");
/// let data = json!({ "action": "login" }).as_object().unwrap().clone();
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

    fn find_now(&self, table: &str, query: FindQuery) -> Result<Vec<Record>, TableError> {
        self.with(table, |t| {
            let mut rows = Vec::new();
            for row in &t.rows {
                if matches(row, &query.filter)? {
                    rows.push(row.clone());
                }
            }
            rows.sort_by(|a, b| {
                for key in &query.sort {
                    let ord = order(a.get(&key.field), b.get(&key.field));
                    let ord = if key.descending { ord.reverse() } else { ord };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            });
            let skip = match (query.page, query.limit) {
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
            Ok(match &query.fields {
                Some(fields) => rows
                    .map(|row| {
                        row.into_iter()
                            .filter(|(k, _)| fields.iter().any(|f| f == k))
                            .collect()
                    })
                    .collect(),
                None => rows.collect(),
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
                    data.insert("id".into(), Value::from(t.next_id));
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
            row.extend(data);
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

/// Equality that treats `1` and `1.0` as the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Total order for sorting: missing and `null` first, then booleans, numbers, strings, others.
fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(x), Some(y)) => compare(x, y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The order of two values of the same kind (numbers, strings or booleans).
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Whether `row` satisfies `filter`.
fn matches(row: &Record, filter: &Map<String, Value>) -> Result<bool, TableError> {
    for (key, condition) in filter {
        let ok = match key.as_str() {
            "_and" => all_of(row, condition, key)?.into_iter().all(|b| b),
            "_or" => all_of(row, condition, key)?.into_iter().any(|b| b),
            "_not" => match condition {
                Value::Object(inner) => !matches(row, inner)?,
                other => {
                    return Err(TableError::Invalid(format!(
                        "filter: `_not` takes an object, got {}",
                        short_json(other)
                    )));
                }
            },
            field => field_matches(row.get(field), field, condition)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn all_of(row: &Record, condition: &Value, key: &str) -> Result<Vec<bool>, TableError> {
    let Value::Array(items) = condition else {
        return Err(TableError::Invalid(format!(
            "filter: `{key}` takes an array of filters, got {}",
            short_json(condition)
        )));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(inner) => matches(row, inner),
            other => Err(TableError::Invalid(format!(
                "filter: `{key}` items must be objects, got {}",
                short_json(other)
            ))),
        })
        .collect()
}

const OPERATORS: &str =
    "_eq, _neq, _gt, _gte, _lt, _lte, _in, _nin, _is_null, _contains, _starts_with, _ends_with";

fn field_matches(
    value: Option<&Value>,
    field: &str,
    condition: &Value,
) -> Result<bool, TableError> {
    let operators = match condition {
        Value::Object(ops) if ops.keys().all(|k| k.starts_with('_')) && !ops.is_empty() => ops,
        other => return Ok(value.is_some_and(|v| same(v, other))),
    };
    let null = Value::Null;
    let v = value.unwrap_or(&null);
    for (op, arg) in operators {
        let text = |f: fn(&str, &str) -> bool| match (v, arg) {
            (Value::String(s), Value::String(a)) => f(s, a),
            _ => false,
        };
        let ok = match op.as_str() {
            "_eq" => same(v, arg),
            "_neq" => !same(v, arg),
            "_gt" => compare(v, arg) == Some(Ordering::Greater),
            "_gte" => matches!(compare(v, arg), Some(Ordering::Greater | Ordering::Equal)),
            "_lt" => compare(v, arg) == Some(Ordering::Less),
            "_lte" => matches!(compare(v, arg), Some(Ordering::Less | Ordering::Equal)),
            "_in" | "_nin" => {
                let Value::Array(options) = arg else {
                    return Err(TableError::Invalid(format!(
                        "filter: `{field}.{op}` takes an array, got {}",
                        short_json(arg)
                    )));
                };
                options.iter().any(|o| same(v, o)) == (op == "_in")
            }
            "_is_null" => v.is_null() == arg.as_bool().unwrap_or(true),
            "_contains" => text(|s, a| s.contains(a)),
            "_starts_with" => text(|s, a| s.starts_with(a)),
            "_ends_with" => text(|s, a| s.ends_with(a)),
            other => {
                return Err(TableError::Invalid(format!(
                    "filter: unknown operator `{other}` on `{field}`; supported: {OPERATORS}"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> MemoryTables {
        let t = MemoryTables::new().with_table("items");
        for (name, price, tag) in [("a", 5, Some("x")), ("b", 15, None), ("c", 10, Some("y"))] {
            let mut data = Record::new();
            data.insert("name".into(), json!(name));
            data.insert("price".into(), json!(price));
            data.insert("tag".into(), json!(tag));
            t.create_now("items", data).unwrap();
        }
        t
    }

    fn names(rows: &[Record]) -> Vec<&str> {
        rows.iter().map(|r| r["name"].as_str().unwrap()).collect()
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
            names(
                &find(json!({ "where": { "_not": { "name": { "_in": ["a", "b"] } } } })).unwrap()
            ),
            ["c"]
        );
        let rows = find(json!({ "fields": "name", "limit": 1 })).unwrap();
        assert_eq!(rows[0].keys().collect::<Vec<_>>(), ["name"]);
    }

    #[test]
    fn bad_queries_say_what_is_supported() {
        let err = find(json!({ "where": { "price": { "_between": [1, 2] } } })).unwrap_err();
        assert!(
            err.to_string().contains("unknown operator `_between`"),
            "{err}"
        );
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
                .map(|r| r["id"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let mut dup = Record::new();
        dup.insert("id".into(), json!(2.0));
        assert!(t.create_now("items", dup).is_err());
        let mut change = Record::new();
        change.insert("id".into(), json!(9));
        assert!(t.update_now("items", json!(1), change).is_err());
        let mut price = Record::new();
        price.insert("price".into(), json!(7));
        assert_eq!(t.update_now("items", json!(1), price).unwrap()["price"], 7);
        assert_eq!(t.delete_now("items", json!(1)).unwrap()["name"], "a");
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
}
