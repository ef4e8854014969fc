//! What scripts see of each data hook's context ([`ScriptView`], one implementation per
//! context type, under AdminForth's names), and [`Viewed`], which lends a context to a
//! script call through the crate's lending protocol: records move to the worker as rows and
//! come back patched, and only the values a hook takes are read back.

use hookline_data::{
    Actor, CreateContext, DeleteContext, EditContext, Query, ReadRequest, ReadResponse, Record,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::user_json;
use crate::error::ContextError;
use crate::lend::{Lend, Records, RecordsBack, Returned, Row};

/// A hook context scripts can see and change.
pub(crate) trait ScriptView: Send + 'static {
    /// The keys of the values (beside the lent records) whose changes
    /// [`ScriptView::take_back`] takes: only these are read back from the scripts.
    const TAKEN_BACK: &'static [&'static str];

    /// Who the flow runs for.
    fn actor(&self) -> &Actor;

    /// Adds the context's values but the caller and the records [`ScriptView::lend`] moves
    /// out, under AdminForth's names: `resource`, then `query`, `total`, `recordId`,
    /// `oldRecord`, `record` or `cascadeFrom` as the context has them.
    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error>;

    /// Moves out the records scripts may change, under their key (`record`, `updates`,
    /// `response`), leaving them empty here until [`ScriptView::take_back_records`].
    fn lend(&mut self) -> Option<(&'static str, Records)> {
        None
    }

    /// Takes back the records [`ScriptView::lend`] moved out. A context that lends none is
    /// never handed any.
    fn take_back_records(&mut self, _records: RecordsBack) -> Result<(), TakeBackError> {
        Ok(())
    }

    /// Takes back the other values scripts may change ([`ScriptView::TAKEN_BACK`]); a context
    /// that takes none back has nothing to do.
    fn take_back(&mut self, _values: &mut Map<String, Value>) -> Result<(), TakeBackError> {
        Ok(())
    }
}

/// Values left by scripts that the hook context cannot take.
#[derive(Debug, thiserror::Error)]
#[error("the scripts left `{key}` in a shape the hook cannot take: {message}")]
pub(crate) struct TakeBackError {
    key: &'static str,
    message: String,
}

fn take<T: DeserializeOwned>(
    values: &mut Map<String, Value>,
    key: &'static str,
) -> Result<T, TakeBackError> {
    convert(values.remove(key), key)
}

/// The value the scripts left at `key`, as a `T`.
fn convert<T: DeserializeOwned>(
    value: Option<Value>,
    key: &'static str,
) -> Result<T, TakeBackError> {
    let value = value.ok_or(TakeBackError {
        key,
        message: "it was removed".into(),
    })?;
    serde_json::from_value(value).map_err(|e| TakeBackError {
        key,
        message: e.to_string(),
    })
}

/// The record lent as `key`, handed back: the patched row, or what the scripts put there
/// instead if it is an object.
fn record_back(records: RecordsBack, key: &'static str) -> Result<Record, TakeBackError> {
    match records {
        RecordsBack::Records(Records::One(row)) => Ok(Record::from(row)),
        RecordsBack::Records(Records::Many(_)) => Err(TakeBackError {
            key,
            message: "rows came back where one record was lent".into(),
        }),
        RecordsBack::Replaced(Some(Value::Object(map))) => Ok(Record::from(map)),
        RecordsBack::Replaced(other) => convert(other, key),
    }
}

/// The rows lent as `key`, handed back: the patched rows, or what the scripts put there
/// instead if it is an array of objects.
fn rows_back(records: RecordsBack, key: &'static str) -> Result<Vec<Record>, TakeBackError> {
    match records {
        RecordsBack::Records(Records::Many(rows)) => {
            Ok(rows.into_iter().map(Record::from).collect())
        }
        RecordsBack::Records(Records::One(_)) => Err(TakeBackError {
            key,
            message: "one record came back where rows were lent".into(),
        }),
        RecordsBack::Replaced(Some(Value::Array(items))) if items.iter().all(Value::is_object) => {
            Ok(items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(map) => Some(Record::from(map)),
                    _ => None,
                })
                .collect())
        }
        RecordsBack::Replaced(other) => convert(other, key),
    }
}

/// The values scripts see: the context's own ([`ScriptView::script_values`]), the caller as
/// `user` and as `adminUser` (`{ pk, dbUser }`).
fn script_values<C: ScriptView>(ctx: &C) -> Result<Map<String, Value>, serde_json::Error> {
    let mut values = Map::new();
    ctx.script_values(&mut values)?;
    let actor = ctx.actor();
    let user = user_json(actor);
    values.insert(
        "adminUser".into(),
        json!({ "pk": actor.id, "dbUser": user }),
    );
    values.insert("user".into(), Value::Object(user));
    Ok(values)
}

impl ScriptView for CreateContext {
    const TAKEN_BACK: &'static [&'static str] = &[];

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
        values.insert("resource".into(), json!(self.resource));
        values.insert("recordId".into(), self.record_id.clone());
        Ok(())
    }

    fn lend(&mut self) -> Option<(&'static str, Records)> {
        let record = std::mem::take(&mut self.record);
        Some(("record", Records::One(Row::from(record))))
    }

    fn take_back_records(&mut self, records: RecordsBack) -> Result<(), TakeBackError> {
        self.record = record_back(records, "record")?;
        Ok(())
    }
}

impl ScriptView for EditContext {
    const TAKEN_BACK: &'static [&'static str] = &[];

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
        values.insert("resource".into(), json!(self.resource));
        values.insert("recordId".into(), self.record_id.clone());
        values.insert("oldRecord".into(), serde_json::to_value(&self.old_record)?);
        Ok(())
    }

    fn lend(&mut self) -> Option<(&'static str, Records)> {
        let updates = std::mem::take(&mut self.updates);
        Some(("updates", Records::One(Row::from(updates))))
    }

    fn take_back_records(&mut self, records: RecordsBack) -> Result<(), TakeBackError> {
        self.updates = record_back(records, "updates")?;
        Ok(())
    }
}

impl ScriptView for DeleteContext {
    const TAKEN_BACK: &'static [&'static str] = &[];

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
        values.insert("resource".into(), json!(self.resource));
        values.insert("recordId".into(), self.record_id.clone());
        values.insert("record".into(), serde_json::to_value(&self.record)?);
        values.insert("cascadeFrom".into(), json!(self.cascade_from));
        Ok(())
    }
}

impl ScriptView for ReadRequest {
    const TAKEN_BACK: &'static [&'static str] = &["query"];

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
        values.insert("resource".into(), json!(self.resource));
        values.insert("query".into(), serde_json::to_value(&self.query)?);
        Ok(())
    }

    fn take_back(&mut self, values: &mut Map<String, Value>) -> Result<(), TakeBackError> {
        let source = self.query.source;
        let query: Value = take(values, "query")?;
        self.query = Query::from_json(query).map_err(|e| TakeBackError {
            key: "query",
            message: e.to_string(),
        })?;
        self.query.source = source;
        Ok(())
    }
}

impl ScriptView for ReadResponse {
    const TAKEN_BACK: &'static [&'static str] = &["total"];

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn script_values(&self, values: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
        values.insert("resource".into(), json!(self.resource));
        values.insert("query".into(), serde_json::to_value(&self.query)?);
        values.insert("total".into(), json!(self.total));
        Ok(())
    }

    fn lend(&mut self) -> Option<(&'static str, Records)> {
        let rows = std::mem::take(&mut self.response)
            .into_iter()
            .map(Row::from);
        Some(("response", Records::Many(rows.collect())))
    }

    fn take_back_records(&mut self, records: RecordsBack) -> Result<(), TakeBackError> {
        self.response = rows_back(records, "response")?;
        Ok(())
    }

    fn take_back(&mut self, values: &mut Map<String, Value>) -> Result<(), TakeBackError> {
        self.total = take(values, "total")?;
        Ok(())
    }
}

/// A hook context handed to scripts: [`Lend::lend_records`] moves the records they may
/// change to the worker instead of copying them. If the call is dropped midway (the tap's
/// timeout), they are lost with it, and the hook call fails with the timeout.
pub(crate) struct Viewed<'a, C>(pub(crate) &'a mut C);

impl<C: ScriptView> Viewed<'_, C> {
    fn take_back(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        self.0
            .take_back(&mut values)
            .map_err(|e| ContextError::invalid(e.to_string()))
    }
}

impl<C: ScriptView> Lend for Viewed<'_, C> {
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        script_values(&*self.0).map_err(|source| ContextError::Convert {
            key: "context".into(),
            source,
        })
    }

    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        match values {
            Returned::Changed(values) | Returned::Unchanged(values) => self.take_back(values),
        }
    }

    fn taken_back(&self) -> Option<&[&str]> {
        Some(C::TAKEN_BACK)
    }

    fn lend_records(&mut self) -> Option<(String, Records)> {
        let (key, records) = self.0.lend()?;
        Some((key.to_owned(), records))
    }

    fn restore_records(&mut self, _key: String, records: RecordsBack) -> Result<(), ContextError> {
        self.0
            .take_back_records(records)
            .map_err(|e| ContextError::invalid(e.to_string()))
    }
}
