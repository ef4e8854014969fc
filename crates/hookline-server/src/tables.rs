//! [`DataTables`]: the data API scripts reach through `#table.find/create/update/delete(…)`
//! (body style) and `tables.<name>.…` (function style), served by the resources' own flows —
//! access checks and hooks included — as the calling user with the extra role
//! [`SCRIPT_ROLE`], so access rules can grant writes to hooks only.
//!
//! Enfyra's predicate objects (`{ price: { _gte: 100 } }`, `_and`, `_or`) become the data
//! crate's filters; `_not` has no counterpart there and is refused.

use std::sync::{Arc, Mutex};

use hookline::BoxFuture;
use hookline_data::{Actor, Data, DataError, Direction, Filter, Query, Record, Sort};
use hookline_script::{FindQuery, TableApi, TableError};
use serde_json::{Map, Value};

use crate::validate::SCRIPT_ROLE;

/// The data set scripts work on, shared by every script tap and emptied when the server
/// closes (so the hooks that hold it do not keep the database open).
#[derive(Clone, Default)]
pub(crate) struct DataHandle(Arc<Mutex<Option<Data>>>);

impl DataHandle {
    pub(crate) fn set(&self, data: Data) {
        *self.lock() = Some(data);
    }

    pub(crate) fn clear(&self) {
        *self.lock() = None;
    }

    /// The data set, unless the server has closed.
    pub(crate) fn get(&self) -> Option<Data> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Data>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The data API for scripts running for `actor`.
    pub(crate) fn tables_for(&self, actor: &Actor) -> Arc<dyn TableApi> {
        let mut actor = actor.clone();
        if !actor.has_role(SCRIPT_ROLE) {
            actor.roles.push(SCRIPT_ROLE.to_owned());
        }
        Arc::new(DataTables {
            data: self.clone(),
            actor,
        })
    }
}

/// The data API of one script call.
pub(crate) struct DataTables {
    data: DataHandle,
    actor: Actor,
}

impl DataTables {
    fn resource(&self, table: &str) -> Result<hookline_data::Resource, TableError> {
        let data = self
            .data
            .get()
            .ok_or_else(|| TableError::Invalid("the server is shutting down".into()))?;
        data.resource(table)
            .map_err(|_| TableError::UnknownTable(table.to_owned()))
    }
}

fn table_error(table: &str, error: DataError) -> TableError {
    match error {
        DataError::UnknownResource { .. } => TableError::UnknownTable(table.to_owned()),
        DataError::NotFound { id, .. } => TableError::NotFound {
            table: table.to_owned(),
            id,
        },
        other => TableError::Backend(Box::new(other)),
    }
}

impl TableApi for DataTables {
    fn find<'a>(
        &'a self,
        table: &'a str,
        query: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            let limit = query.limit.unwrap_or(resource.def().default_limit);
            let mut find = Query::new();
            find.filters = predicate(&query.filter)?;
            find.sort = query
                .sort
                .iter()
                .map(|key| Sort {
                    field: key.field.clone(),
                    direction: if key.descending {
                        Direction::Desc
                    } else {
                        Direction::Asc
                    },
                })
                .collect();
            find.limit = Some(limit);
            find.offset = query
                .page
                .unwrap_or(1)
                .saturating_sub(1)
                .saturating_mul(limit);
            let page = resource
                .list(&self.actor, find)
                .await
                .map_err(|e| table_error(table, e))?;
            Ok(page
                .records
                .into_iter()
                .map(|record| {
                    let mut map = record.into_map();
                    if let Some(fields) = &query.fields {
                        map.retain(|k, _| fields.contains(k));
                    }
                    map
                })
                .collect())
        })
    }

    fn create<'a>(
        &'a self,
        table: &'a str,
        data: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .create(&self.actor, Record::from(data))
                .await
                .map(Record::into_map)
                .map_err(|e| table_error(table, e))
        })
    }

    fn update<'a>(
        &'a self,
        table: &'a str,
        id: Value,
        data: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .edit(&self.actor, id, Record::from(data))
                .await
                .map(Record::into_map)
                .map_err(|e| table_error(table, e))
        })
    }

    fn delete<'a>(
        &'a self,
        table: &'a str,
        id: Value,
    ) -> BoxFuture<'a, Result<Map<String, Value>, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .delete(&self.actor, id)
                .await
                .map(Record::into_map)
                .map_err(|e| table_error(table, e))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
