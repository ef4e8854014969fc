//! The data-API bridge: `host.table(method, table, argsJson)`, which the prelude's `#table`
//! calls end in. On a worker the request goes to the calling task as an [`Event::Table`] and
//! the worker waits for the answer until the script's deadline; on the calling thread the run
//! stops and moves to a worker. The requests themselves (parsing, answering) are
//! [`crate::data_api`]'s; installing the host function is [`prelude`](super::prelude)'s.

use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Instant;

use rquickjs::{Ctx, Exception};

use crate::data_api::TableRequest;

use super::Event;
use super::state::{CallState, Mode, Trip};

impl CallState {
    /// `host.table(method, table, argsJson)`: asks the calling task and waits for the answer
    /// until the script's deadline. On the calling thread the run stops and moves to a worker.
    pub(super) fn table<'js>(
        &self,
        ctx: &Ctx<'js>,
        method: &str,
        table: &str,
        args: &str,
    ) -> rquickjs::Result<String> {
        let call = format!("#{table}.{method}");
        let fail = |message: &str| Exception::throw_message(ctx, &format!("{call}: {message}"));
        if !self.tables.get() {
            return Err(fail(
                "no data API was given to this script tap (see `ScriptTap::with_tables`)",
            ));
        }
        if self.mode == Mode::Inline {
            self.tripped.set(Some(Trip::Offload));
            return Err(fail("moves to a script worker"));
        }
        self.ask(ctx, &call, args, method, table)
    }

    /// A data-API call from a worker: sent to the calling task, answered before the deadline.
    fn ask<'js>(
        &self,
        ctx: &Ctx<'js>,
        call: &str,
        args: &str,
        method: &str,
        table: &str,
    ) -> rquickjs::Result<String> {
        let fail = |message: &str| Exception::throw_message(ctx, &format!("{call}: {message}"));
        let args: serde_json::Value =
            serde_json::from_str(args).map_err(|e| fail(&e.to_string()))?;
        let request = TableRequest::parse(method, table, args)
            .map_err(|e| Exception::throw_type(ctx, &format!("{call}: {e}")))?;
        let Some(events) = self.events.borrow().clone() else {
            return Err(fail("called outside a hook call"));
        };
        let (reply, answer) = sync_channel(1);
        if events.send(Event::Table { request, reply }).is_err() {
            self.tripped.set(Some(Trip::Cancelled));
            return Err(fail("the caller stopped waiting"));
        }
        let answer = match self.deadline.get() {
            Some(deadline) => {
                answer.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => answer.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match answer {
            Ok(Ok(value)) => Ok(value.to_string()),
            Ok(Err(error)) => Err(fail(&error.to_string())),
            Err(RecvTimeoutError::Timeout) => {
                self.tripped.set(Some(Trip::Time));
                Err(fail("no answer before the script's time limit"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.tripped.set(Some(Trip::Cancelled));
                Err(fail("the caller stopped waiting"))
            }
        }
    }
}
