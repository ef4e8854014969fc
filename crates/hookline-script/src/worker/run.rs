//! One call's scripts running in one context ([`Run`]): the lent values built into JavaScript
//! once, each script run on them in turn, its result read — AdminForth's
//! `{ ok, error?, status? }` for function style, `return value` for body style (a pre-hook's
//! short-circuits, a post-hook's replaces `@DATA`) — and the values patched back with the
//! scripts' changes. Compiling is [`engine`](super::engine)'s, error mapping
//! [`failure`](super::failure)'s.

use std::cell::RefCell;
use std::collections::HashMap;

use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Function, Object, Value};

use crate::convert::{self, Read, ToJson};
use crate::error::ScriptError;
use crate::lend::{Lent, RecordsBack};
use crate::pool::PoolConfig;
use crate::raw::{self, Atoms, Built};
use crate::source::{HookPhase, Script, ScriptInner, Style};

use super::CallOutput;
use super::engine::{Compiled, function};
use super::failure::{Failure, describe, engine_error, failure, unsettled};
use super::state::CallState;

/// How one script run ended, short of a failure.
enum Step {
    Next,
    Return(serde_json::Value),
    Reject { status: u16, message: String },
}

/// Runs pending jobs until `value` (if a promise) settles. `Ok(None)`: it never will.
pub(super) fn settle<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
) -> rquickjs::Result<Option<Value<'js>>> {
    let Some(promise) = value.as_promise() else {
        return Ok(Some(value));
    };
    loop {
        if promise.state() != PromiseState::Pending {
            return match promise.result::<Value>() {
                Some(result) => result.map(Some),
                None => Ok(None),
            };
        }
        if !ctx.execute_pending_job() {
            return Ok(None);
        }
    }
}

/// One call's scripts running in one context.
pub(super) struct Run<'a, 'js> {
    pub(super) ctx: &'a Ctx<'js>,
    pub(super) state: &'a CallState,
    pub(super) config: &'a PoolConfig,
    pub(super) atoms: &'a RefCell<Atoms>,
    pub(super) rejection: Function<'js>,
    pub(super) body_context: Function<'js>,
    pub(super) function_args: Function<'js>,
    pub(super) object_prototype: Object<'js>,
}

/// What the scripts of a call share, made when the first script of a style needs it.
#[derive(Default)]
struct Prepared<'js> {
    /// `$ctx` of body-style scripts.
    body_context: Option<Value<'js>>,
    /// `tables` was added to the argument of function-style scripts.
    function_args: bool,
}

const FUNCTION_RESULT: &str = "{ ok: boolean, error?: string, status?: 400..599 }";

impl<'js> Run<'_, 'js> {
    fn fail(&self, error: rquickjs::Error, script: &ScriptInner) -> Failure {
        failure(
            self.ctx,
            error,
            script,
            self.state,
            self.config,
            Some(&self.rejection),
        )
    }

    pub(super) fn chain(
        &self,
        compiled: &mut HashMap<u64, Compiled>,
        scripts: &[Script],
        source: &mut Lent,
    ) -> Result<CallOutput, ScriptError> {
        let ctx = self.ctx;
        let Some(first) = scripts.first() else {
            return Err(engine_error(None, "a call without scripts"));
        };
        self.state.start(&first.inner.name, self.config);
        let (values, built) = self
            .build(source)
            .map_err(|e| self.error(self.fail(e, &first.inner), &first.inner))?;
        let mut prepared = Prepared::default();
        let mut last = first;
        for script in scripts {
            last = script;
            let inner = &script.inner;
            self.state.start(&inner.name, self.config);
            let function = function(ctx, compiled, self.state, self.config, script)?;
            match self.step(inner, &function, &values, &mut prepared) {
                Ok(Step::Next) => {}
                Ok(Step::Return(value)) => {
                    self.finish(inner, &values, built.as_ref(), source)?;
                    return Ok(CallOutput::Return {
                        script: inner.name.clone(),
                        value,
                    });
                }
                Ok(Step::Reject { status, message }) | Err(Failure::Reject { status, message }) => {
                    self.drain(inner)?;
                    return Ok(CallOutput::Reject {
                        script: inner.name.clone(),
                        status,
                        message,
                    });
                }
                Err(Failure::Error(error)) => return Err(error),
            }
        }
        self.finish(&last.inner, &values, built.as_ref(), source)?;
        Ok(CallOutput::Continue)
    }

    /// A failure outside a script's own result handling becomes an error; a rejection there
    /// (which cannot happen outside a script run) is reported as a thrown error.
    fn error(&self, failure: Failure, script: &ScriptInner) -> ScriptError {
        match failure {
            Failure::Error(error) => error,
            Failure::Reject { status, message } => ScriptError::Thrown {
                script: script.name.clone(),
                message: format!("HttpError {status}: {message}"),
                location: None,
            },
        }
    }

    /// Runs one script on `values`.
    fn step(
        &self,
        script: &ScriptInner,
        function: &Function<'js>,
        values: &Value<'js>,
        prepared: &mut Prepared<'js>,
    ) -> Result<Step, Failure> {
        let ctx = self.ctx;
        match script.style {
            Style::Function => {
                if !prepared.function_args {
                    self.function_args
                        .call::<_, ()>((values.clone(),))
                        .map_err(|e| self.fail(e, script))?;
                    prepared.function_args = true;
                }
                let returned: Value = function
                    .call((values.clone(),))
                    .map_err(|e| self.fail(e, script))?;
                let Some(returned) = settle(ctx, returned).map_err(|e| self.fail(e, script))?
                else {
                    return Err(Failure::Error(unsettled(script, self.state, self.config)));
                };
                self.function_result(script, &returned)
                    .map_err(Failure::Error)
            }
            Style::Body(role) => {
                let context = match &prepared.body_context {
                    Some(context) => context.clone(),
                    None => {
                        let context: Value = self
                            .body_context
                            .call((values.clone(),))
                            .map_err(|e| self.fail(e, script))?;
                        prepared.body_context = Some(context.clone());
                        context
                    }
                };
                let returned: Value = function
                    .call((context,))
                    .map_err(|e| self.fail(e, script))?;
                let Some(returned) = settle(ctx, returned).map_err(|e| self.fail(e, script))?
                else {
                    return Err(Failure::Error(unsettled(script, self.state, self.config)));
                };
                if returned.is_undefined() {
                    return Ok(Step::Next);
                }
                match role {
                    HookPhase::Pre => match self.json().convert(&returned) {
                        Ok(Some(value)) => Ok(Step::Return(value)),
                        Ok(None) => Err(Failure::Error(ScriptError::BadReturn {
                            script: script.name.clone(),
                            expected: "undefined (to continue) or a JSON value (to short-circuit)",
                            found: describe(ctx, &returned),
                        })),
                        Err(e) => Err(self.fail(e, script)),
                    },
                    HookPhase::Post => {
                        let object = values.as_object().ok_or_else(|| {
                            Failure::Error(engine_error(
                                None,
                                "the context values are not an object",
                            ))
                        })?;
                        object
                            .set("data", returned)
                            .map_err(|e| self.fail(e, script))?;
                        Ok(Step::Next)
                    }
                }
            }
        }
    }

    /// Reads `{ ok, error?, status? }` (AdminForth's contract).
    fn function_result(
        &self,
        script: &ScriptInner,
        returned: &Value<'js>,
    ) -> Result<Step, ScriptError> {
        let bad = || ScriptError::BadReturn {
            script: script.name.clone(),
            expected: FUNCTION_RESULT,
            found: describe(self.ctx, returned),
        };
        let Some(object) = returned.as_object().filter(|_| !returned.is_array()) else {
            return Err(bad());
        };
        let field = |key: &str| object.get::<_, Value>(key).map_err(|_| bad());
        let Some(ok) = field("ok")?.as_bool() else {
            return Err(bad());
        };
        let error = field("error")?;
        let error = if error.is_undefined() || error.is_null() {
            None
        } else if let Some(text) = error.as_string() {
            Some(text.to_string().map_err(|_| bad())?).filter(|t| !t.is_empty())
        } else {
            return Err(bad());
        };
        let status = field("status")?;
        let status = if status.is_undefined() || status.is_null() {
            hookline::TapError::DEFAULT_REJECT_STATUS
        } else {
            match status.as_number() {
                Some(n) if n.fract() == 0.0 && (400.0..600.0).contains(&n) => n as u16,
                _ => return Err(bad()),
            }
        };
        Ok(match (ok, error) {
            (_, Some(message)) => Step::Reject { status, message },
            (false, None) => Step::Reject {
                status,
                message: "Operation aborted by hook".to_string(),
            },
            (true, None) => Step::Next,
        })
    }

    fn json(&self) -> ToJson<'_, 'js> {
        ToJson::new(self.ctx, &self.object_prototype, self.atoms)
    }

    /// Runs what the scripts left queued (un-awaited promises), within the last script's time
    /// limit.
    fn drain(&self, last: &ScriptInner) -> Result<(), ScriptError> {
        while self.ctx.execute_pending_job() {}
        match self.state.tripped.get() {
            Some(_) => Err(unsettled(last, self.state, self.config)),
            None => Ok(()),
        }
    }

    /// The JavaScript object of the lent values and records, and what the records were built
    /// with (for [`Run::finish`]).
    fn build(&self, source: &Lent) -> rquickjs::Result<(Value<'js>, Option<Built<'js>>)> {
        let object = convert::object(self.ctx, &source.values, 0, self.atoms)?;
        let built = match &source.records {
            Some((key, RecordsBack::Records(records))) => {
                let prototype = &self.object_prototype;
                raw::define_records(self.ctx, &object, key, records, self.atoms, prototype)?
            }
            _ => None,
        };
        Ok((object.into_value(), built))
    }

    /// Drains the job queue and patches `source`, the JSON the values were built from, with
    /// the scripts' changes. On an error `source` is left as it was.
    fn finish(
        &self,
        last: &ScriptInner,
        values: &Value<'js>,
        built: Option<&Built<'js>>,
        source: &mut Lent,
    ) -> Result<(), ScriptError> {
        self.drain(last)?;
        let json = self.json();
        let read = || -> rquickjs::Result<Option<_>> {
            let read = Read {
                skip: source.records.as_ref().map(|(key, _)| key.as_str()),
                only: source.taken_back.as_deref(),
            };
            let Some(changes) = json.diff_object(values, &source.values, read)? else {
                return Ok(None);
            };
            let records = match (&source.records, values.as_object()) {
                (Some((key, RecordsBack::Records(records))), Some(object)) => {
                    let value: Value = object.get(key.as_str())?;
                    Some(json.diff_records(&value, records, 1, built)?)
                }
                _ => None,
            };
            Ok(Some((changes, records)))
        };
        match read() {
            Ok(Some((changes, records))) => {
                changes.apply(&mut source.values);
                if let (Some(patch), Some((_, lent))) = (records, source.records.as_mut())
                    && let RecordsBack::Records(records) =
                        std::mem::replace(lent, RecordsBack::Replaced(None))
                {
                    *lent = patch.apply(records);
                }
                Ok(())
            }
            Ok(None) => Err(engine_error(
                None,
                "the context values are no longer an object",
            )),
            Err(e) => Err(self.error(self.fail(e, last), last)),
        }
    }
}
