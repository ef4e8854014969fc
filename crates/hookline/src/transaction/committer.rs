//! [`Committer`]: what persists a transaction — commits its session after the pre-commit hooks
//! passed, or rolls it back when anything before the commit failed.
//!
//! The in-memory committer for tests and examples is [`super::MemoryStore`].

use std::future::Future;

use futures_util::future::BoxFuture;

use super::{Applied, Domain};
use crate::flow::TapError;

/// Persists a transaction by consuming its [`Session`](Domain::Session).
///
/// [`Transactions::run`](super::Transactions::run) calls exactly one of the two methods per
/// transaction: `commit` once the actions and the pre-commit hooks succeeded, `rollback` when
/// any of them failed. A SQL layer's session is its database transaction: `commit` calls
/// `tx.commit().await` and `rollback` calls `tx.rollback().await`, so pre-commit hooks run inside
/// the database transaction and their veto is a rollback.
///
/// A committer that appends a session's lines to a shared log, all or nothing:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hookline::{Flow, TapError};
/// use hookline::transaction::{Applied, Committer, Domain, PreCommit, Transaction, Transactions};
///
/// struct Lines;
/// impl Domain for Lines {
///     type Node = u32; type Value = String; type Inputs = (); type Outputs = ();
///     type Session = Vec<String>; // the lines to append
/// }
///
/// struct AppendLog(Arc<Mutex<Vec<String>>>);
/// impl Committer<Lines> for AppendLog {
///     async fn commit(&self, lines: Vec<String>, _: &Applied<Lines>) -> Result<(), TapError> {
///         self.0.lock().unwrap().extend(lines);
///         Ok(())
///     }
/// }
///
/// # futures_util::FutureExt::now_or_never(async {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let tx = Transactions::new("lines", AppendLog(log.clone()));
/// tx.pre_commit().tap("no-blank-lines", |ctx: &mut PreCommit<Lines>| {
///     if ctx.session().iter().any(|line| line.trim().is_empty()) {
///         return Err(TapError::reject("blank line"));
///     }
///     Ok(Flow::Continue)
/// })?;
///
/// tx.run(Transaction::new(()), vec!["one".into()]).await?;
/// let vetoed = tx.run(Transaction::new(()), vec!["two".into(), " ".into()]).await;
/// assert_eq!(vetoed.unwrap_err().user_message(), "blank line");
/// assert_eq!(*log.lock().unwrap(), ["one"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub trait Committer<D: Domain>: Send + Sync + 'static {
    /// Makes the transaction durable. `transaction` is what ran (model diffs with their final
    /// outputs, resource diffs), for committers that persist it as well. An error here is
    /// returned in [`Phase::Commit`](crate::Phase::Commit), not committed.
    fn commit(
        &self,
        session: D::Session,
        transaction: &Applied<D>,
    ) -> impl Future<Output = Result<(), TapError>> + Send;

    /// Discards the session's changes. The default drops the session (a `sqlx::Transaction`
    /// rolls back on drop). An error here is attached to the error that caused the rollback, as
    /// a [suppressed](crate::HookError::suppressed) error.
    fn rollback(&self, session: D::Session) -> impl Future<Output = Result<(), TapError>> + Send {
        drop(session);
        std::future::ready(Ok(()))
    }
}

/// [`Committer`] with boxed futures, so the engine can hold any committer.
pub(crate) trait DynCommitter<D: Domain>: Send + Sync {
    fn commit<'a>(
        &'a self,
        session: D::Session,
        transaction: &'a Applied<D>,
    ) -> BoxFuture<'a, Result<(), TapError>>;

    fn rollback(&self, session: D::Session) -> BoxFuture<'_, Result<(), TapError>>;
}

impl<D: Domain, C: Committer<D>> DynCommitter<D> for C {
    fn commit<'a>(
        &'a self,
        session: D::Session,
        transaction: &'a Applied<D>,
    ) -> BoxFuture<'a, Result<(), TapError>> {
        Box::pin(Committer::commit(self, session, transaction))
    }

    fn rollback(&self, session: D::Session) -> BoxFuture<'_, Result<(), TapError>> {
        Box::pin(Committer::rollback(self, session))
    }
}
