//! Test helpers: an action whose runs finish when the test says so, and a post-action recorder.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hookline::Flow;
use hookline_actions::{AsyncAction, PostActionContext};
use tokio::sync::{oneshot, watch};

/// The payload and error of the test actions.
pub type Out = Result<String, String>;

/// An action backend whose runs wait until the test finishes them, one by one.
#[derive(Clone, Default)]
pub struct Gated {
    inner: Arc<GatedInner>,
}

#[derive(Default)]
struct GatedInner {
    pending: Mutex<HashMap<usize, oneshot::Sender<Out>>>,
    calls: Mutex<Vec<String>>,
    count: watch::Sender<usize>,
}

impl Gated {
    /// An action keyed by its `String` argument, served by this backend.
    pub fn action(&self, name: &'static str) -> AsyncAction<String, String, String> {
        let gated = self.clone();
        AsyncAction::new(name, move |args: String| {
            let gated = gated.clone();
            async move { gated.serve(args).await }
        })
    }

    async fn serve(&self, args: String) -> Out {
        let (tx, rx) = oneshot::channel();
        {
            let mut calls = self.inner.calls.lock().unwrap();
            calls.push(args);
            self.inner.pending.lock().unwrap().insert(calls.len(), tx);
            self.inner.count.send_replace(calls.len());
        }
        rx.await
            .unwrap_or_else(|_| Err("the test dropped the run".into()))
    }

    /// Waits until the action has been called `n` times in all.
    pub async fn started(&self, n: usize) {
        self.inner
            .count
            .subscribe()
            .wait_for(|count| *count >= n)
            .await
            .unwrap();
    }

    /// Finishes call number `n` (1-based) with `out`.
    pub fn finish(&self, n: usize, out: Out) {
        let tx = self
            .inner
            .pending
            .lock()
            .unwrap()
            .remove(&n)
            .unwrap_or_else(|| panic!("call {n} is not pending"));
        tx.send(out).unwrap();
    }

    /// The arguments of every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The number of calls so far.
    pub fn count(&self) -> usize {
        self.inner.calls.lock().unwrap().len()
    }
}

/// What the post-action hook saw: `(context, args, payload or error text)`.
pub type Seen = Arc<Mutex<Vec<(PostActionContext, String, Out)>>>;

/// Records every post-action call of `action`.
pub fn record_post_actions(action: &AsyncAction<String, String, String>) -> Seen {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    action
        .post_action()
        .tap("record", move |ctx| {
            let out = match ctx.result() {
                Ok(payload) => Ok((**payload).clone()),
                Err(error) => Err(error.to_string()),
            };
            log.lock()
                .unwrap()
                .push((ctx.context(), ctx.args().clone(), out));
            Ok(Flow::Continue)
        })
        .unwrap();
    seen
}

/// The contexts recorded so far.
pub fn contexts(seen: &Seen) -> Vec<PostActionContext> {
    seen.lock().unwrap().iter().map(|(c, _, _)| *c).collect()
}

/// An action that answers at once with `"<args>!"` and counts its runs.
pub fn echo(name: &'static str) -> (AsyncAction<String, String, String>, Arc<Mutex<usize>>) {
    let runs = Arc::new(Mutex::new(0));
    let counter = runs.clone();
    let action = AsyncAction::new(name, move |args: String| {
        *counter.lock().unwrap() += 1;
        async move { Ok(format!("{args}!")) }
    });
    (action, runs)
}

/// The payload of a result, for assertions.
pub fn payload(result: &hookline_actions::ActionResult<String, String>) -> &str {
    match result {
        Ok(payload) => payload,
        Err(error) => panic!("expected a payload, got {error:?}"),
    }
}
