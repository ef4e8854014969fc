//! [`ScriptTap`]: scripts registered on a hook. One hook call converts the context once, runs
//! every script of the tap in one engine call (on the calling thread, or on a worker), and
//! converts the result back once; data-API calls made by the scripts on a worker are served by
//! the calling task in the meantime.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use futures_util::future::{Either, select};

use hookline::{AsyncTap, BoxFuture, Flow, TapError, TapResult};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::context::ScriptContext;
use crate::data_api::{TableApi, TableError, TableRequest};
use crate::error::{ContextError, Limit, ScriptError};
use crate::lend::{Lend, Lent, RecordsBack, Returned};
use crate::pool::ScriptPool;
use crate::source::Script;
use crate::worker::{CallJob, CallOutput, Event, Inline, Job};

/// How a tap's scripts ended, when none failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptOutcome {
    /// Every script let the call go on.
    Continue,
    /// A body-style pre-hook returned a value: the hook short-circuits with it.
    Return {
        /// The script that returned.
        script: Arc<str>,
        /// The value.
        value: Value,
    },
    /// A script rejected the call: `{ ok: false, error }`, or `@THROW4xx(message)`.
    Rejected {
        /// The script that rejected.
        script: Arc<str>,
        /// The status (422 unless the script chose one).
        status: u16,
        /// The message for the user.
        message: String,
    },
}

/// Scripts registered on a hook as one tap.
///
/// Register it with [`Hook::tap_handler`](hookline::Hook::tap_handler) on any hook whose
/// context implements [`ScriptContext`] and whose output (what a tap may short-circuit with)
/// deserializes from JSON. The scripts run in order on one copy of the context:
///
/// - a function-style script's `{ ok: false, error }` rejects the call (status 422, or its
///   `status`); the remaining scripts do not run;
/// - a body-style `@THROW4xx(message)` rejects with that status;
/// - a body-style pre-hook that returns a value short-circuits the hook with it
///   ([`Flow::Return`]); a post-hook's returned value replaces `data` for the next script;
/// - anything thrown, or a sandbox limit, fails the call with a [`ScriptError`] naming the
///   script and its file position.
///
/// Changes the scripts made to the context are applied when the call continues or
/// short-circuits, not when it is rejected or fails.
///
/// Give the scripts a data API for `#table.find/create/update/delete` with
/// [`ScriptTap::with_tables`].
#[derive(Clone)]
pub struct ScriptTap {
    pool: ScriptPool,
    scripts: Arc<[Script]>,
    tables: Option<Arc<dyn TableApi>>,
}

impl fmt::Debug for ScriptTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptTap")
            .field("scripts", &self.scripts)
            .field("tables", &self.tables.is_some())
            .finish()
    }
}

impl ScriptTap {
    /// A tap running `scripts`, in this order, on `pool`'s workers.
    pub fn new(pool: &ScriptPool, scripts: impl IntoIterator<Item = Script>) -> Self {
        ScriptTap {
            pool: pool.clone(),
            scripts: scripts.into_iter().collect(),
            tables: None,
        }
    }

    /// Hands the scripts a data API: `#table.find(…)` and friends call it.
    #[must_use]
    pub fn with_tables(mut self, tables: Arc<dyn TableApi>) -> Self {
        self.tables = Some(tables);
        self
    }

    /// The scripts, in the order they run.
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    fn names(&self) -> String {
        self.scripts
            .iter()
            .map(|s| format!("`{}`", s.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs the scripts on `ctx` outside any hook, reporting how they ended.
    pub async fn run<C: ScriptContext + ?Sized>(
        &self,
        ctx: &mut C,
    ) -> Result<ScriptOutcome, ScriptError> {
        self.run_lent(ctx).await
    }

    /// Runs the scripts on a context that lends its values ([`Lend`]).
    pub(crate) async fn run_lent<C: Lend + ?Sized>(
        &self,
        ctx: &mut C,
    ) -> Result<ScriptOutcome, ScriptError> {
        if self.scripts.is_empty() {
            return Ok(ScriptOutcome::Continue);
        }
        let context = |source| ScriptError::Context {
            scripts: self.names(),
            source,
        };
        let records = ctx.lend_records();
        let mut values = match ctx.lend_script() {
            Ok(values) => values,
            Err(error) => {
                if let Some((key, records)) = records
                    && let Err(restore) = ctx.restore_records(key, RecordsBack::Records(records))
                {
                    tracing::warn!(error = %restore, "a context could not take back its lent records");
                }
                return Err(context(error));
            }
        };
        let records = records.map(|(key, records)| {
            values.remove(&key);
            (key, RecordsBack::Records(records))
        });
        let taken_back = ctx
            .taken_back()
            .map(|keys| keys.iter().map(|key| key.to_string()).collect());
        let lent = Lent {
            values,
            records,
            taken_back,
        };
        let (result, lent) = self.execute(lent).await?;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                // The script's error is what the caller needs to see; a context that cannot take
                // its own values back unchanged is only logged.
                if let Err(restore) = restore(ctx, lent, false) {
                    tracing::warn!(error = %restore, "a context could not take back its lent values");
                }
                return Err(error);
            }
        };
        match output {
            CallOutput::Continue => {
                restore(ctx, lent, true).map_err(context)?;
                Ok(ScriptOutcome::Continue)
            }
            CallOutput::Return { script, value } => {
                restore(ctx, lent, true).map_err(context)?;
                Ok(ScriptOutcome::Return { script, value })
            }
            CallOutput::Reject {
                script,
                status,
                message,
            } => {
                restore(ctx, lent, false).map_err(context)?;
                Ok(ScriptOutcome::Rejected {
                    script,
                    status,
                    message,
                })
            }
        }
    }

    /// Runs the call on this thread if it can, else hands it to a worker and serves its
    /// data-API calls until it is done. The outer
    /// error says the values were lost with the job (the pool is closed, or the worker
    /// stopped); otherwise they come back with how the call ended.
    async fn execute(
        &self,
        mut values: Lent,
    ) -> Result<(Result<CallOutput, ScriptError>, Lent), ScriptError> {
        if let Inline::Done(result) =
            self.pool
                .call_inline(&self.scripts, &mut values, self.tables.is_some())
        {
            return Ok((result, values));
        }
        let (events, mut answers) = mpsc::unbounded_channel();
        self.pool.submit(Job::Call(CallJob {
            scripts: self.scripts.clone(),
            values,
            tables: self.tables.is_some(),
            events,
            span: tracing::Span::current(),
        }))?;
        // At most one data-API call is open: the worker waits for its answer. If the worker
        // stops waiting (its time limit), its next event arrives first and the call is dropped.
        let mut open: Option<(BoxFuture<'_, Result<Value, TableError>>, SyncSender<_>)> = None;
        loop {
            let event = match open.as_mut() {
                None => answers.recv().await,
                Some((call, _)) => {
                    let first = match select(call.as_mut(), pin!(answers.recv())).await {
                        Either::Left((answer, _)) => Ok(answer),
                        Either::Right((event, _)) => Err(event),
                    };
                    match first {
                        Ok(answer) => {
                            if let Some((_, reply)) = open.take() {
                                // The worker may have stopped waiting just now; then the
                                // answer is not needed.
                                let _ = reply.send(answer);
                            }
                            continue;
                        }
                        // The open call is dropped below, replaced by the next one or
                        // with the finished call.
                        Err(event) => event,
                    }
                }
            };
            match event {
                Some(Event::Table { request, reply }) => {
                    open = Some((Box::pin(self.answer(request)), reply));
                }
                Some(Event::Done { result, values }) => return Ok((result, values)),
                None => {
                    return Err(ScriptError::PoolClosed(format!(
                        "the worker running {} stopped",
                        self.names()
                    )));
                }
            }
        }
    }

    async fn answer(&self, request: TableRequest) -> Result<Value, TableError> {
        match &self.tables {
            Some(tables) => request.run(&**tables).await,
            None => Err(TableError::Invalid("no data API was given".into())),
        }
    }
}

impl<C, O> AsyncTap<C, O> for ScriptTap
where
    C: ScriptContext + 'static,
    O: DeserializeOwned + Send + 'static,
{
    async fn call(&self, ctx: &mut C) -> TapResult<O> {
        let outcome = match self.run(ctx).await {
            Ok(outcome) => outcome,
            // A script out of time is a timeout (504) like an engine one; the details (script,
            // position) go to the log, since a timeout carries only its limit.
            Err(
                error @ ScriptError::LimitExceeded {
                    limit: Limit::Time(limit),
                    ..
                },
            ) => {
                tracing::warn!(error = %error, "script stopped by its time limit");
                return Err(TapError::timed_out(limit));
            }
            Err(error) => return Err(error.into()),
        };
        match outcome {
            ScriptOutcome::Continue => Ok(Flow::Continue),
            ScriptOutcome::Return { script, value } => serde_json::from_value(value)
                .map(Flow::Return)
                .map_err(|source| {
                    TapError::fail(ScriptError::Output {
                        script,
                        output_type: std::any::type_name::<O>(),
                        source,
                    })
                }),
            ScriptOutcome::Rejected {
                status, message, ..
            } => Err(TapError::reject(message).with_status(status)),
        }
    }
}

/// Hands lent values and records back to `ctx`: the records first, then the values, as the
/// scripts left them (`changed`) or as they were lent. Both are handed back even if the first
/// fails; the first error is returned.
fn restore<C: Lend + ?Sized>(ctx: &mut C, lent: Lent, changed: bool) -> Result<(), ContextError> {
    let Lent {
        values, records, ..
    } = lent;
    let records = match records {
        Some((key, records)) => ctx.restore_records(key, records),
        None => Ok(()),
    };
    let values = ctx.restore_script(if changed {
        Returned::Changed(values)
    } else {
        Returned::Unchanged(values)
    });
    records.and(values)
}
