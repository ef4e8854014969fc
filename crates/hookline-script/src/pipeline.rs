//! Scripts on pipelines: [`ScriptContext`] for the engine's [`Before`] and [`After`] contexts,
//! so script taps can be pre-hooks and post-hooks of any [`Pipeline`](hookline::Pipeline) whose
//! input is a script context (Enfyra's route pipeline).
//!
//! - Before-taps see the input's values plus `share` (Enfyra's `@SHARE`, kept in the pipeline's
//!   [`Share`](hookline::Share) map as a [`ScriptShare`]); they may change both.
//! - After-taps see the input's values plus `data` (the output, `null` on the error path),
//!   `statusCode` (`@STATUS`: 200, or the error's status), `error` (`@ERROR`: `{ message, name,
//!   statusCode }`, absent on success) and `share`. They may replace `data` on the success path
//!   and change `share`; the input and the error are read-only there, as the engine wants.
//!
//! Keys of the input named like these are hidden by them.

use hookline::{After, Before, ErrorKind, HookError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::context::ScriptContext;
use crate::error::ContextError;
use crate::schema::keep_number_kinds;

/// `@SHARE` of a pipeline run: the JSON object scripts share between pre-hooks, the handler and
/// post-hooks, stored in the pipeline's typed share map.
///
/// ```
/// use hookline::Share;
/// use hookline_script::ScriptShare;
/// use serde_json::json;
///
/// let mut share = Share::new();
/// share.insert(ScriptShare(json!({ "tenant": "acme" }).as_object().unwrap().clone()));
/// assert_eq!(share.get::<ScriptShare>().unwrap().0["tenant"], "acme");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptShare(pub Map<String, Value>);

fn share_value(share: &hookline::Share) -> Value {
    Value::Object(
        share
            .get::<ScriptShare>()
            .map(|s| s.0.clone())
            .unwrap_or_default(),
    )
}

fn take_share(values: &mut Map<String, Value>) -> Result<Option<ScriptShare>, ContextError> {
    match values.remove("share") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(ScriptShare(map))),
        Some(other) => Err(ContextError::invalid(format!(
            "`share` must stay an object; the scripts set it to {}",
            crate::error::short_json(&other)
        ))),
    }
}

impl<I: ScriptContext> ScriptContext for Before<I> {
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        let mut values = self.input.to_script()?;
        values.insert("share".into(), share_value(&self.share));
        Ok(values)
    }

    fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        let share = take_share(&mut values)?;
        self.input.apply_script(values)?;
        if let Some(share) = share {
            self.share.insert(share);
        }
        Ok(())
    }
}

/// `@ERROR` for an error: its message (a rejection's own message, or the full error for a
/// failure), a name, and the status.
fn error_value(error: &HookError) -> Value {
    let (name, message) = match error.kind() {
        ErrorKind::Rejected { message, .. } => ("HttpError", message.to_string()),
        _ => ("Error", error.to_string()),
    };
    json!({ "message": message, "name": name, "statusCode": error.status() })
}

impl<I, O> ScriptContext for After<I, O>
where
    I: ScriptContext,
    O: Serialize + DeserializeOwned + Send,
{
    fn to_script(&self) -> Result<Map<String, Value>, ContextError> {
        let mut values = self.input().to_script()?;
        let data = match self.output() {
            Some(output) => {
                serde_json::to_value(output).map_err(|source| ContextError::Convert {
                    key: "data".into(),
                    source,
                })?
            }
            None => Value::Null,
        };
        values.insert("data".into(), data);
        values.insert("statusCode".into(), Value::from(self.status()));
        match self.error() {
            Some(error) => values.insert("error".into(), error_value(error)),
            None => values.remove("error"),
        };
        values.insert("share".into(), share_value(self.share()));
        Ok(values)
    }

    fn apply_script(&mut self, mut values: Map<String, Value>) -> Result<(), ContextError> {
        let share = take_share(&mut values)?;
        if let Some(output) = self.output_mut() {
            let mut data = values.remove("data").unwrap_or(Value::Null);
            if let Ok(before) = serde_json::to_value(&*output) {
                keep_number_kinds(&before, &mut data);
            }
            *output = serde_json::from_value(data).map_err(|source| ContextError::Convert {
                key: "data".into(),
                source,
            })?;
        }
        if let Some(share) = share {
            self.share_mut().insert(share);
        }
        Ok(())
    }
}
