//! Transactions (the Octo model): diffs applied by model and resource actions in dependency
//! levels, with module hooks around every action and around the commit.
//!
//! A [`Transaction`] is a set of [`Diff`]s — `Add | Update | Delete | Replace` of a node's field
//! to a value — with the inputs its actions receive. [`Transactions::run`] applies it through a
//! per-transaction session (a staged copy, a database transaction):
//!
//! 1. **plan**: the model diffs are ordered into dependency levels ([`Diff::after`]);
//! 2. **model actions**: level by level, every [`ModelAction`] whose `filter` accepts a diff
//!    runs for it, wrapped in its pre- and post-model-action hooks, which thread the action's
//!    outputs (a waterfall: a hook's outputs replace the previous ones);
//! 3. **resource actions**: the same for resource diffs — given up front or planned from the
//!    model outputs ([`Transaction::resources_from`]) — and [`ResourceAction`]s, whose hooks
//!    observe;
//! 4. **pre-commit hooks** see the whole transaction and the open session, and may veto;
//! 5. **commit**: the [`Committer`] consumes the session;
//! 6. **post-commit hooks** see the committed transaction.
//!
//! The six hook lists are engine [`Hook`](crate::Hook)s, reached through [`Transactions`]; a
//! [`Module`](crate::Module) taps them from `register_hooks` (with
//! [`ModuleScope::tap`](crate::ModuleScope::tap) options, or plain names), so they run in module
//! order — installation order, a module after the modules it depends on, as Octo registers
//! modules in import order — then in the order the module registered them (Octo's "array
//! order"):
//!
//! | Octo `registerHooks()` returns | hookline | the hook receives | the hook may |
//! |---|---|---|---|
//! | `preCommitHooks` | [`Transactions::pre_commit`] | [`PreCommit`]: transaction, session | veto: nothing is committed |
//! | `postCommitHooks` | [`Transactions::post_commit`] | [`PostCommit`]: transaction | fail: returned with `committed() == true` |
//! | `preModelActionHooks` `{action, handle}` | [`Transactions::pre_model_action`]`(&id)` | [`ModelActionCall`]: diff, inputs, outputs | set the outputs the action receives; veto the action |
//! | `postModelActionHooks` | [`Transactions::post_model_action`]`(&id)` | [`ModelActionCall`] | replace the action's outputs; fail |
//! | `preResourceActionHooks` | [`Transactions::pre_resource_action`]`(&id)` | [`ResourceActionCall`]: diff, inputs | observe; veto the action |
//! | `postResourceActionHooks` | [`Transactions::post_resource_action`]`(&id)` | [`ResourceActionCall`] | observe; fail |
//!
//! [`Transactions::explain`] shows which hooks run around which action, in which order.
//!
//! # Example: Octo's `SimpleAppModule`
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use hookline::{Flow, Module, ModuleScope, Modules, RegisterError, TapError};
//! use hookline::transaction::{
//!     ActionId, Diff, DiffAction, Domain, MemorySession, MemoryStore, ModelAction,
//!     ModelActionCall, PreCommit, Transaction, Transactions,
//! };
//!
//! struct Apps;
//! impl Domain for Apps {
//!     type Node = String;
//!     type Value = String;
//!     type Inputs = ();
//!     type Outputs = BTreeMap<String, String>; // Octo's ActionOutputs
//!     type Session = MemorySession<Vec<String>>;
//! }
//!
//! const ADD_APP: ActionId = ActionId::new("add-simple-app");
//! struct AddSimpleApp;
//! impl ModelAction<Apps> for AddSimpleApp {
//!     fn id(&self) -> ActionId { ADD_APP }
//!     fn filter(&self, diff: &Diff<Apps>) -> bool {
//!         diff.action() == DiffAction::Add && diff.node().starts_with("app:")
//!     }
//!     async fn handle(
//!         &self,
//!         apps: &mut MemorySession<Vec<String>>,
//!         diff: &Diff<Apps>,
//!         _: &(),
//!         mut outputs: BTreeMap<String, String>,
//!     ) -> Result<BTreeMap<String, String>, TapError> {
//!         apps.push(diff.value().clone());
//!         outputs.insert("app".into(), diff.value().clone());
//!         Ok(outputs)
//!     }
//! }
//!
//! struct SimpleAppModule { tx: Transactions<Apps>, log: Arc<Mutex<Vec<String>>> }
//! impl Module for SimpleAppModule {
//!     fn name(&self) -> &str { "@example/simple-app" }
//!     fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
//!         let log = self.log.clone();
//!         self.tx.post_model_action(&ADD_APP)?.tap(scope.tap("announce"), move |call: &mut ModelActionCall<Apps>| {
//!             log.lock().unwrap().push(format!("after {}", call.action()));
//!             call.outputs.insert("owner".into(), "team-a".into()); // outputs may be replaced
//!             Ok(Flow::Continue)
//!         })?;
//!         let log = self.log.clone();
//!         self.tx.pre_commit().tap(scope.tap("before-commit"), move |_: &mut PreCommit<Apps>| {
//!             log.lock().unwrap().push("before commit".into());
//!             Ok(Flow::Continue)
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let store = MemoryStore::new(Vec::new());
//! let tx = Transactions::new("apps", store.clone());
//! tx.model_action(AddSimpleApp)?;
//! let log = Arc::new(Mutex::new(Vec::new()));
//! Modules::new().install(SimpleAppModule { tx: tx.clone(), log: log.clone() })?;
//!
//! let add = Transaction::new(()).model(Diff::add("app:shop".into(), "name", "shop".into()));
//! let applied = tx.run(add, store.begin()).await?;
//!
//! assert_eq!(*log.lock().unwrap(), ["after add-simple-app", "before commit"]);
//! assert_eq!(applied.model()[0][0].outputs(&ADD_APP).unwrap()["owner"], "team-a");
//! assert_eq!(store.get(), ["shop"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! # Errors
//!
//! Every error is a [`HookError`](crate::HookError) naming the hook list (its
//! [`hook`](crate::HookError::hook), e.g. `apps.post_model_action[add-simple-app]`), the tap and
//! its module ([`tap`](crate::HookError::tap)), and the action
//! ([`action`](crate::HookError::action)):
//!
//! | what failed | [`Phase`](crate::Phase) | then |
//! |---|---|---|
//! | a dependency cycle ([`CycleError`]) or a panicking resource planner | `Plan` | rollback; nothing committed |
//! | a pre-model- or pre-resource-action hook | `PreAction` | the action does not run; rollback |
//! | an action | `Action` | rollback |
//! | a post-action hook | `PostAction` | rollback |
//! | a pre-commit hook | `PreCommit` | rollback: nothing committed |
//! | the commit | `Commit` | nothing committed |
//! | a post-commit hook | `PostCommit` | returned with [`committed`](crate::HookError::committed) `== true`; the data stays |
//!
//! The first error stops the transaction. If the rollback itself fails, that failure is attached
//! to the error as a [suppressed](crate::HookError::suppressed) one. Panics and tap timeouts are
//! errors like any other.
//!
//! # Where hookline differs from Octo, and why
//!
//! - Hooks are bound to an [`ActionId`], not to `action.constructor.name`: two action types of
//!   the same name no longer share hooks, and binding to an unknown id is a registration error
//!   ([`RegisterError::UnknownAction`](crate::RegisterError::UnknownAction)) instead of a hook
//!   that never fires.
//! - A hook's `Flow::Return(())` is ignored like Octo ignores these hooks' return values: every
//!   hook of a list runs. Model hooks change outputs through [`ModelActionCall::outputs`].
//! - Actions run one at a time — they share the session — where Octo runs a level's resource
//!   actions concurrently.
//! - Commit hooks receive the resource diffs too (Octo passes `[]` since its Terraform
//!   migration), and pre-commit hooks receive the open session, so a SQL layer can check
//!   invariants inside the database transaction before it commits.
//! - Inputs are given once per transaction ([`Domain::Inputs`]); Octo resolves them per action.
//!   There is no `VALIDATE` diff action: it belongs to Octo's Terraform lifecycle.
//!
//! # What lives where
//!
//! `domain` ([`Domain`]), `diff` ([`Diff`]), `plan` ([`Transaction`], levels), `action`
//! ([`ModelAction`], [`ResourceAction`], [`ActionId`]), `hooks` (the hook contexts), `engine`
//! ([`Transactions`]: registration), `run` (running), `applied` ([`Applied`]: what ran),
//! `committer` ([`Committer`]), `memory` ([`MemoryStore`]), `explain` ([`TransactionExplain`]).

mod action;
mod applied;
mod committer;
mod diff;
mod domain;
mod engine;
mod explain;
mod hooks;
mod memory;
mod plan;
mod run;

pub use action::{ActionId, ActionKind, ModelAction, ResourceAction};
pub use applied::{Applied, AppliedAction, AppliedDiff};
pub use committer::Committer;
pub use diff::{Diff, DiffAction};
pub use domain::Domain;
pub use engine::Transactions;
pub use explain::{ActionExplain, PlanExplain, PlannedDiff, TransactionExplain};
pub use hooks::{ModelActionCall, PostCommit, PreCommit, ResourceActionCall};
pub use memory::{MemorySession, MemoryStore, StoreConflict};
pub use plan::{CycleError, Transaction};
