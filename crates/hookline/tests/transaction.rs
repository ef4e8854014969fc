//! Transactions (the Octo model): dependency levels, model actions before resource actions, the
//! six hook lists with output replacement, ordering across a module hierarchy, explain, and every
//! error path — pre-hook veto, action failure, post-hook failure, pre-commit veto, commit
//! conflict, post-commit failure after the commit, rollback failure, dependency cycles.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::transaction::{
    ActionId, Applied, Committer, CycleError, Diff, DiffAction, Domain, MemorySession, MemoryStore,
    ModelAction, ModelActionCall, PostCommit, PreCommit, ResourceAction, ResourceActionCall,
    StoreConflict, Transaction, Transactions,
};
use hookline::{
    ErrorKind, Flow, HookError, Module, ModuleScope, Modules, Phase, RegisterError, Tap, TapError,
    TapResult,
};

type Outputs = BTreeMap<String, String>;
type State = Vec<String>;

/// Infrastructure changes staged in memory: nodes are `kind:name`, the inputs are the
/// environment's name, and the session is the list of writes the actions made.
struct Infra;
impl Domain for Infra {
    type Node = &'static str;
    type Value = &'static str;
    type Inputs = &'static str;
    type Outputs = Outputs;
    type Session = MemorySession<State>;
}

const ADD_REGION: ActionId = ActionId::new("add-region");
const ADD_ENV: ActionId = ActionId::new("add-env");
const ADD_APP: ActionId = ActionId::new("add-app");
const PROVISION: ActionId = ActionId::new("provision");

/// What happened, in order: hooks and actions append to it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A tap that appends `label` to the log.
fn note<C>(log: &Log, label: &'static str) -> impl Fn(&mut C) -> TapResult + Send + Sync + 'static {
    let log = log.clone();
    move |_| {
        log.push(label);
        Ok(Flow::Continue)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Succeed,
    Reject,
    Panic,
}

/// A model action for the nodes starting with `prefix`: writes `"{id} {node}"` to the session and
/// adds `{id: "{value}@{inputs}"}` to the outputs it received.
struct Apply {
    id: ActionId,
    prefix: &'static str,
    log: Log,
    behaviour: Behaviour,
}

impl Apply {
    fn new(id: ActionId, prefix: &'static str, log: &Log) -> Self {
        Apply {
            id,
            prefix,
            log: log.clone(),
            behaviour: Behaviour::Succeed,
        }
    }
}

impl ModelAction<Infra> for Apply {
    fn id(&self) -> ActionId {
        self.id.clone()
    }

    fn filter(&self, diff: &Diff<Infra>) -> bool {
        diff.node().starts_with(self.prefix)
    }

    async fn handle(
        &self,
        session: &mut MemorySession<State>,
        diff: &Diff<Infra>,
        inputs: &&'static str,
        mut outputs: Outputs,
    ) -> Result<Outputs, TapError> {
        self.log.push(format!("{} {}", self.id, diff.node()));
        match self.behaviour {
            Behaviour::Succeed => {}
            Behaviour::Reject => return Err(TapError::reject("quota exceeded").with_status(409)),
            Behaviour::Panic => panic!("bug in {}", self.id),
        }
        session.push(format!("{} {}", self.id, diff.node()));
        outputs.insert(self.id.to_string(), format!("{}@{inputs}", diff.value()));
        Ok(outputs)
    }
}

/// A resource action for the nodes starting with `prefix`: writes `"{id} {node}"` to the session.
struct Provision {
    id: ActionId,
    prefix: &'static str,
    log: Log,
    behaviour: Behaviour,
}

impl Provision {
    fn new(id: ActionId, prefix: &'static str, log: &Log) -> Self {
        Provision {
            id,
            prefix,
            log: log.clone(),
            behaviour: Behaviour::Succeed,
        }
    }
}

impl ResourceAction<Infra> for Provision {
    fn id(&self) -> ActionId {
        self.id.clone()
    }

    fn filter(&self, diff: &Diff<Infra>) -> bool {
        diff.node().starts_with(self.prefix)
    }

    async fn handle(
        &self,
        session: &mut MemorySession<State>,
        diff: &Diff<Infra>,
        _inputs: &&'static str,
    ) -> Result<(), TapError> {
        self.log.push(format!("{} {}", self.id, diff.node()));
        match self.behaviour {
            Behaviour::Succeed => {}
            Behaviour::Reject => return Err(TapError::reject("cloud said no").with_status(503)),
            Behaviour::Panic => panic!("bug in {}", self.id),
        }
        session.push(format!("{} {}", self.id, diff.node()));
        Ok(())
    }
}

type Register = Box<dyn Fn(&ModuleScope) -> Result<(), RegisterError> + Send + Sync>;

/// A module whose `register_hooks` is a closure.
struct TestModule {
    name: &'static str,
    depends_on: Vec<&'static str>,
    register: Register,
}

impl Module for TestModule {
    fn name(&self) -> &str {
        self.name
    }

    fn depends_on(&self) -> Vec<String> {
        self.depends_on.iter().map(|d| d.to_string()).collect()
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        (self.register)(scope)
    }
}

fn module(
    name: &'static str,
    depends_on: &[&'static str],
    register: impl Fn(&ModuleScope) -> Result<(), RegisterError> + Send + Sync + 'static,
) -> Box<dyn Module> {
    Box::new(TestModule {
        name,
        depends_on: depends_on.to_vec(),
        register: Box::new(register),
    })
}

/// An engine over `store` with the three model actions and the provision resource action.
fn engine(store: &MemoryStore<State>, log: &Log) -> Transactions<Infra> {
    let tx = Transactions::new("infra", store.clone());
    tx.model_action(Apply::new(ADD_REGION, "region:", log))
        .unwrap();
    tx.model_action(Apply::new(ADD_ENV, "env:", log)).unwrap();
    tx.model_action(Apply::new(ADD_APP, "app:", log)).unwrap();
    tx.resource_action(Provision::new(PROVISION, "res:", log))
        .unwrap();
    tx
}

fn deploy_app() -> Transaction<Infra> {
    Transaction::new("prod")
        .model(Diff::add("app:shop", "name", "shop"))
        .resource(Diff::add("res:bucket", "name", "shop-assets"))
}

fn cycle_of(error: &HookError) -> &CycleError {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<CycleError>())
        .expect("the error's source is the cycle")
}

// ----------------------------------------------------------------------------------------------
// Levels
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn diffs_run_in_dependency_levels_and_each_level_in_insertion_order() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    // Added in reverse dependency order on purpose: the app needs the env, the env the region.
    let transaction = Transaction::new("prod")
        .model(Diff::add("app:shop", "env", "prod").after("env:prod"))
        .model(Diff::add("env:prod", "region", "eu-1").after("region:eu-1"))
        .model(Diff::add("app:blog", "name", "blog"))
        .model(Diff::add("region:eu-1", "name", "eu-1"))
        .model(Diff::add("app:shop-worker", "env", "prod").after("env:prod"));

    let levels: Vec<Vec<&str>> = transaction
        .model_levels()
        .unwrap()
        .iter()
        .map(|level| level.iter().map(|d| *d.node()).collect())
        .collect();
    assert_eq!(
        levels,
        [
            vec!["app:blog", "region:eu-1"],
            vec!["env:prod"],
            vec!["app:shop", "app:shop-worker"]
        ]
    );

    let applied = tx.run(transaction, store.begin()).await.unwrap();
    assert_eq!(
        log.entries(),
        [
            "add-app app:blog",
            "add-region region:eu-1",
            "add-env env:prod",
            "add-app app:shop",
            "add-app app:shop-worker",
        ],
        "a level runs only after the level it depends on"
    );
    let recorded: Vec<(usize, &str)> = applied
        .model()
        .iter()
        .flatten()
        .map(|a| (a.level(), *a.diff().node()))
        .collect();
    assert_eq!(
        recorded,
        [
            (0, "app:blog"),
            (0, "region:eu-1"),
            (1, "env:prod"),
            (2, "app:shop"),
            (2, "app:shop-worker"),
        ]
    );
    assert_eq!(
        store.get(),
        log.entries(),
        "the session's writes were committed"
    );
}

#[test]
fn a_dependency_on_the_own_node_orders_after_that_nodes_other_diffs() {
    let transaction: Transaction<Infra> = Transaction::new("prod")
        .model(Diff::update("app:shop", "replicas", "3").after("app:shop"))
        .model(Diff::add("app:shop", "name", "shop"))
        .model(Diff::delete("app:old", "name", "old").after("app:unknown"));
    let levels: Vec<Vec<DiffAction>> = transaction
        .model_levels()
        .unwrap()
        .iter()
        .map(|level| level.iter().map(|d| d.action()).collect())
        .collect();
    assert_eq!(
        levels,
        [
            vec![DiffAction::Add, DiffAction::Delete],
            vec![DiffAction::Update]
        ],
        "the update waits for the add of its node; a node without diffs imposes nothing"
    );
}

#[tokio::test]
async fn a_dependency_cycle_is_a_plan_error_and_nothing_runs() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.pre_commit()
        .tap("never", note(&log, "pre-commit"))
        .unwrap();
    let cyclic = || {
        Transaction::new("prod")
            .model(Diff::add("app:blog", "name", "blog"))
            .model(Diff::add("env:prod", "app", "shop").after("app:shop"))
            .model(Diff::add("app:shop", "env", "prod").after("env:prod"))
    };

    let cycle = cyclic().model_levels().unwrap_err();
    assert_eq!(
        cycle.diffs(),
        [
            "add \"env:prod\".app",
            "add \"app:shop\".env",
            "add \"env:prod\".app"
        ]
    );
    assert!(tx.explain_transaction(&cyclic()).is_err());

    let err = tx.run(cyclic(), store.begin()).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Plan);
    assert_eq!(err.hook(), "infra.plan");
    assert!(!err.committed());
    assert_eq!(cycle_of(&err), &cycle);
    assert!(
        err.to_string()
            .contains("cycle: add \"env:prod\".app -> add \"app:shop\".env"),
        "{err}"
    );
    assert!(log.entries().is_empty(), "no action and no hook ran");
    assert_eq!(store.version(), 0);
}

#[tokio::test]
async fn a_cycle_among_resource_diffs_fails_after_the_model_stage_and_commits_nothing() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let transaction = deploy_app()
        .resource(Diff::add("res:a", "x", "1").after("res:b"))
        .resource(Diff::add("res:b", "x", "1").after("res:a"));
    let err = tx.run(transaction, store.begin()).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Plan);
    assert_eq!(cycle_of(&err).diffs().len(), 3);
    assert_eq!(
        log.entries(),
        ["add-app app:shop"],
        "only the model stage ran"
    );
    assert_eq!(store.version(), 0);
}

// ----------------------------------------------------------------------------------------------
// The pipeline and the six hook lists
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn model_actions_run_before_resource_actions_then_the_commit_hooks_around_the_commit() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.pre_model_action(&ADD_APP)
        .unwrap()
        .tap("pre", note(&log, "pre-model-action"))
        .unwrap();
    tx.post_model_action(&ADD_APP)
        .unwrap()
        .tap("post", note(&log, "post-model-action"))
        .unwrap();
    tx.pre_resource_action(&PROVISION)
        .unwrap()
        .tap("pre", note(&log, "pre-resource-action"))
        .unwrap();
    tx.post_resource_action(&PROVISION)
        .unwrap()
        .tap("post", note(&log, "post-resource-action"))
        .unwrap();
    let (pre_store, post_store) = (store.clone(), store.clone());
    let (pre_log, post_log) = (log.clone(), log.clone());
    tx.pre_commit()
        .tap("pre", move |ctx: &mut PreCommit<Infra>| {
            pre_log.push(format!(
                "pre-commit (store version {})",
                pre_store.version()
            ));
            assert_eq!(ctx.transaction().model().len(), 1);
            assert_eq!(ctx.transaction().resource().len(), 1);
            Ok(Flow::Continue)
        })
        .unwrap();
    tx.post_commit()
        .tap("post", move |ctx: &mut PostCommit<Infra>| {
            post_log.push(format!(
                "post-commit (store version {})",
                post_store.version()
            ));
            assert_eq!(*ctx.transaction().inputs(), "prod");
            Ok(Flow::Continue)
        })
        .unwrap();

    // The resource diff is given first: resource actions still run after every model action.
    let transaction = Transaction::new("prod")
        .resource(Diff::add("res:bucket", "name", "shop-assets"))
        .model(Diff::add("app:shop", "name", "shop"));
    let applied = tx.run(transaction, store.begin()).await.unwrap();
    assert_eq!(
        log.entries(),
        [
            "pre-model-action",
            "add-app app:shop",
            "post-model-action",
            "pre-resource-action",
            "provision res:bucket",
            "post-resource-action",
            "pre-commit (store version 0)",
            "post-commit (store version 1)",
        ]
    );
    assert_eq!(store.get(), ["add-app app:shop", "provision res:bucket"]);
    let provisioned = &applied.resource()[0][0];
    assert_eq!(provisioned.actions()[0].id(), &PROVISION);
    assert!(provisioned.actions()[0].outputs().is_none());
}

#[tokio::test]
async fn model_action_outputs_are_a_waterfall_through_pre_hooks_the_action_and_post_hooks() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let pre = tx.pre_model_action(&ADD_APP).unwrap();
    pre.tap("seed", |call: &mut ModelActionCall<Infra>| {
        assert!(call.outputs.is_empty(), "the waterfall starts from Default");
        call.outputs
            .insert("seed".into(), call.diff().value().to_string());
        Ok(Flow::Continue)
    })
    .unwrap();
    pre.tap("sees-seed", |call: &mut ModelActionCall<Infra>| {
        assert_eq!(call.outputs["seed"], "shop");
        call.outputs.insert("checked".into(), "yes".into());
        Ok(Flow::Continue)
    })
    .unwrap();
    let post = tx.post_model_action(&ADD_APP).unwrap();
    post.tap("sees-action", |call: &mut ModelActionCall<Infra>| {
        // The action received the pre-hooks' outputs and added its own.
        assert_eq!(
            call.outputs.keys().collect::<Vec<_>>(),
            ["add-app", "checked", "seed"]
        );
        assert_eq!(call.outputs["add-app"], "shop@prod");
        assert_eq!((call.action(), *call.inputs()), (&ADD_APP, "prod"));
        call.outputs.insert("tagged".into(), "team-a".into());
        Ok(Flow::Continue)
    })
    .unwrap();

    let applied = tx.run(deploy_app(), store.begin()).await.unwrap();
    let (diff, outputs) = applied.outputs_of(&ADD_APP).next().unwrap();
    assert_eq!(*diff.node(), "app:shop");
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        ["add-app", "checked", "seed", "tagged"]
    );
}

#[tokio::test]
async fn a_finished_transaction_gives_up_its_diffs_and_outputs_by_value() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let transaction = Transaction::new("prod")
        .model(Diff::add("region:eu", "name", "eu"))
        .model(Diff::add("app:shop", "name", "shop").after("region:eu"))
        .resource(Diff::add("res:bucket", "name", "shop-assets"));

    let applied = tx.run(transaction, store.begin()).await.unwrap();
    let expected: Vec<_> = applied
        .model()
        .iter()
        .flatten()
        .map(|done| {
            (
                *done.diff().node(),
                done.level(),
                done.outputs(&ADD_APP).cloned(),
            )
        })
        .collect();
    let taken: Vec<_> = applied
        .into_model()
        .into_iter()
        .flatten()
        .map(|done| {
            let (diff, level, actions) = done.into_parts();
            let outputs = actions
                .into_iter()
                .find(|action| *action.id() == ADD_APP)
                .and_then(|action| action.into_outputs());
            (*diff.node(), level, outputs)
        })
        .collect();
    assert_eq!(taken, expected);
    assert_eq!(
        taken,
        [
            ("region:eu", 0, None),
            (
                "app:shop",
                1,
                Some(Outputs::from([("add-app".into(), "shop@prod".into())]))
            ),
        ]
    );
}

#[tokio::test]
async fn a_post_model_action_hooks_returned_outputs_replace_the_actions_and_feed_resource_planning()
{
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.post_model_action(&ADD_APP)
        .unwrap()
        .tap_async("move-bucket", |call: &mut ModelActionCall<Infra>| {
            Box::pin(async move {
                let replaced = call.replace_outputs(Outputs::from([(
                    "bucket".to_string(),
                    "res:eu-assets".to_string(),
                )]));
                assert_eq!(replaced["add-app"], "shop@prod");
                Ok(Flow::Continue)
            })
        })
        .unwrap();
    let planned = Transaction::new("prod")
        .model(Diff::add("app:shop", "name", "shop"))
        .resources_from(|applied: &Applied<Infra>| {
            applied
                .outputs_of(&ADD_APP)
                .filter_map(|(_, outputs)| outputs.get("bucket"))
                .map(|bucket| {
                    let node: &'static str = if bucket == "res:eu-assets" {
                        "res:eu-assets"
                    } else {
                        "res:other"
                    };
                    Diff::add(node, "name", "assets")
                })
                .collect()
        });

    let applied = tx.run(planned, store.begin()).await.unwrap();
    assert_eq!(
        applied.model()[0][0].outputs(&ADD_APP),
        Some(&Outputs::from([("bucket".into(), "res:eu-assets".into())])),
        "the hook's outputs replaced the action's"
    );
    assert_eq!(*applied.resource()[0][0].diff().node(), "res:eu-assets");
    assert_eq!(store.get(), ["add-app app:shop", "provision res:eu-assets"]);
}

#[tokio::test]
async fn resource_action_hooks_observe_the_diff_and_every_hook_runs_whatever_it_returns() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let pre = tx.pre_resource_action(&PROVISION).unwrap();
    let seen = log.clone();
    pre.tap("inspect", move |call: &mut ResourceActionCall<Infra>| {
        seen.push(format!(
            "pre {} {} {} for {}",
            call.action(),
            call.diff().action(),
            call.diff().node(),
            call.inputs()
        ));
        // Octo ignores what these hooks return: `Return` does not skip the next hook.
        Ok(Flow::Return(()))
    })
    .unwrap();
    pre.tap("second", note(&log, "pre second")).unwrap();
    tx.post_resource_action(&PROVISION)
        .unwrap()
        .tap("after", note(&log, "post"))
        .unwrap();
    tx.post_commit()
        .tap("first", |_: &mut PostCommit<Infra>| Ok(Flow::Return(())))
        .unwrap();
    tx.post_commit()
        .tap("second", note(&log, "post-commit second"))
        .unwrap();

    tx.run(deploy_app(), store.begin()).await.unwrap();
    assert_eq!(
        log.entries(),
        [
            "add-app app:shop",
            "pre provision add res:bucket for prod",
            "pre second",
            "provision res:bucket",
            "post",
            "post-commit second",
        ]
    );
}

#[tokio::test]
async fn a_pre_commit_hook_can_read_the_uncommitted_session_and_veto() {
    let store = MemoryStore::new(vec!["add-app app:shop".to_string()]);
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.pre_commit()
        .tap("unique-apps", |ctx: &mut PreCommit<Infra>| {
            let session = ctx.session();
            let mut writes = session.clone();
            writes.sort();
            writes.dedup();
            if writes.len() != session.len() {
                return Err(TapError::reject("app `shop` exists already").with_status(409));
            }
            Ok(Flow::Continue)
        })
        .unwrap();

    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert_eq!((err.phase(), err.status()), (Phase::PreCommit, 409));
    assert_eq!(err.user_message(), "app `shop` exists already");
    assert_eq!(
        store.get(),
        ["add-app app:shop"],
        "the veto rolled back the writes"
    );
    assert_eq!(store.version(), 0);
}

// ----------------------------------------------------------------------------------------------
// Ordering across the module hierarchy, and binding by action id
// ----------------------------------------------------------------------------------------------

/// Every module registers two post-model-action hooks on `add-app` and two post-commit hooks.
fn hooking_module(
    tx: &Transactions<Infra>,
    log: &Log,
    name: &'static str,
    depends_on: &[&'static str],
) -> Box<dyn Module> {
    let (tx, log) = (tx.clone(), log.clone());
    module(name, depends_on, move |scope| {
        let post = tx.post_model_action(&ADD_APP)?;
        for hook in ["first", "second"] {
            let entry = format!("{name}.{hook} (model)");
            let log = log.clone();
            post.tap(scope.tap(hook), move |_: &mut ModelActionCall<Infra>| {
                log.push(entry.clone());
                Ok(Flow::Continue)
            })?;
        }
        for hook in ["first", "second"] {
            let entry = format!("{name}.{hook} (commit)");
            let log = log.clone();
            tx.post_commit()
                .tap(scope.tap(hook), move |_: &mut PostCommit<Infra>| {
                    log.push(entry.clone());
                    Ok(Flow::Continue)
                })?;
        }
        Ok(())
    })
}

#[tokio::test]
async fn hooks_run_in_module_order_then_in_the_order_each_module_registered_them() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let modules = Modules::new();
    // Given leaf first: dependencies go first, otherwise the list order holds.
    modules
        .install_all([
            hooking_module(&tx, &log, "app", &["network"]),
            hooking_module(&tx, &log, "network", &["core"]),
            hooking_module(&tx, &log, "core", &[]),
            hooking_module(&tx, &log, "billing", &["core"]),
        ])
        .unwrap();
    assert_eq!(modules.names(), ["core", "network", "app", "billing"]);

    tx.run(deploy_app(), store.begin()).await.unwrap();
    let expected_for = |stage: &str| {
        // Installation order (Octo's): billing, installed after app and unrelated to it, runs
        // after app although app sits deeper in the hierarchy.
        ["core", "network", "app", "billing"]
            .iter()
            .flat_map(|m| ["first", "second"].map(|h| format!("{m}.{h} ({stage})")))
            .collect::<Vec<_>>()
    };
    let entries = log.entries();
    let model: Vec<&String> = entries.iter().filter(|e| e.ends_with("(model)")).collect();
    let commit: Vec<&String> = entries.iter().filter(|e| e.ends_with("(commit)")).collect();
    assert_eq!(model, expected_for("model").iter().collect::<Vec<_>>());
    assert_eq!(commit, expected_for("commit").iter().collect::<Vec<_>>());

    // Explain shows the same order, with the modules.
    let explain = tx.explain();
    let post = explain.action(&ADD_APP).unwrap().post();
    let modules_in_order: Vec<&str> = post.taps().map(|t| t.module().unwrap()).collect();
    assert_eq!(
        modules_in_order,
        [
            "core", "core", "network", "network", "app", "app", "billing", "billing"
        ]
    );

    // Removing a module removes its transaction hooks.
    modules.remove("app").unwrap();
    assert_eq!(tx.post_model_action(&ADD_APP).unwrap().len(), 6);
    assert_eq!(tx.post_commit().len(), 6);
}

mod one {
    /// An action type named `AddApp`…
    pub struct AddApp;
}
mod two {
    /// …and another one with the same name, in another module.
    pub struct AddApp;
}

macro_rules! add_app_action {
    ($ty:ty, $id:literal) => {
        impl ModelAction<Infra> for $ty {
            fn id(&self) -> ActionId {
                ActionId::new($id)
            }
            fn filter(&self, diff: &Diff<Infra>) -> bool {
                diff.node().starts_with("app:")
            }
            async fn handle(
                &self,
                _: &mut MemorySession<State>,
                _: &Diff<Infra>,
                _: &&'static str,
                outputs: Outputs,
            ) -> Result<Outputs, TapError> {
                Ok(outputs)
            }
        }
    };
}
add_app_action!(one::AddApp, "one.add-app");
add_app_action!(two::AddApp, "two.add-app");

#[tokio::test]
async fn actions_with_the_same_type_name_do_not_share_hooks() {
    assert_eq!(
        std::any::type_name::<one::AddApp>().rsplit("::").next(),
        std::any::type_name::<two::AddApp>().rsplit("::").next(),
        "Octo would key both by the name `AddApp`"
    );
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx: Transactions<Infra> = Transactions::new("infra", store.clone());
    tx.model_action(one::AddApp).unwrap();
    tx.model_action(two::AddApp).unwrap();
    tx.post_model_action(&ActionId::new("one.add-app"))
        .unwrap()
        .tap("log", |call: &mut ModelActionCall<Infra>| {
            call.outputs
                .insert("hooked".into(), call.action().to_string());
            Ok(Flow::Continue)
        })
        .unwrap();

    let applied = tx.run(deploy_app(), store.begin()).await.unwrap();
    let hooked = |id: &'static str| applied.model()[0][0].outputs(&ActionId::new(id)).cloned();
    assert_eq!(
        hooked("one.add-app"),
        Some(Outputs::from([("hooked".into(), "one.add-app".into())]))
    );
    assert_eq!(
        hooked("two.add-app"),
        Some(Outputs::new()),
        "no hook ran for two"
    );
    assert!(log.entries().is_empty());
}

#[tokio::test]
async fn an_action_id_can_be_built_at_run_time_and_still_matches_a_constant() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx: Transactions<Infra> = Transactions::new("infra", store.clone());
    let table = String::from("apps");
    tx.model_action(Apply::new(
        ActionId::from(format!("{table}.insert")),
        "app:",
        &log,
    ))
    .unwrap();
    const APPS_INSERT: ActionId = ActionId::new("apps.insert");
    tx.pre_model_action(&APPS_INSERT)
        .unwrap()
        .tap("note", note(&log, "hooked"))
        .unwrap();
    tx.run(deploy_app(), store.begin()).await.unwrap();
    assert_eq!(log.entries(), ["hooked", "apps.insert app:shop"]);
}

// ----------------------------------------------------------------------------------------------
// Error paths
// ----------------------------------------------------------------------------------------------

/// Installs one module, `guard`, whose hook on `list` fails with a rejection.
fn failing_guard(tx: &Transactions<Infra>, list: &'static str) {
    let tx = tx.clone();
    let modules = Modules::new();
    modules
        .install_all([module("guard", &[], move |scope| {
            let tap = scope.tap("veto");
            let reject = || Err(TapError::reject("vetoed by guard").with_status(403));
            match list {
                "pre-model" => {
                    tx.pre_model_action(&ADD_APP)?
                        .tap(tap, move |_: &mut ModelActionCall<Infra>| reject())?;
                }
                "post-model" => {
                    tx.post_model_action(&ADD_APP)?
                        .tap(tap, move |_: &mut ModelActionCall<Infra>| reject())?;
                }
                "pre-resource" => {
                    tx.pre_resource_action(&PROVISION)?
                        .tap(tap, move |_: &mut ResourceActionCall<Infra>| reject())?;
                }
                "post-resource" => {
                    tx.post_resource_action(&PROVISION)?
                        .tap(tap, move |_: &mut ResourceActionCall<Infra>| reject())?;
                }
                "pre-commit" => {
                    tx.pre_commit()
                        .tap(tap, move |_: &mut PreCommit<Infra>| reject())?;
                }
                "post-commit" => {
                    tx.post_commit()
                        .tap(tap, move |_: &mut PostCommit<Infra>| reject())?;
                }
                other => unreachable!("no hook list {other}"),
            }
            Ok(())
        })])
        .unwrap();
}

struct Case {
    list: &'static str,
    phase: Phase,
    hook: &'static str,
    action: Option<&'static str>,
    ran: &'static [&'static str],
    committed: bool,
}

#[tokio::test]
async fn a_failing_hook_in_each_list_fails_the_transaction_as_design_section_1_says() {
    let cases = [
        Case {
            list: "pre-model",
            phase: Phase::PreAction,
            hook: "infra.pre_model_action[add-app]",
            action: Some("add-app"),
            ran: &[],
            committed: false,
        },
        Case {
            list: "post-model",
            phase: Phase::PostAction,
            hook: "infra.post_model_action[add-app]",
            action: Some("add-app"),
            ran: &["add-app app:shop"],
            committed: false,
        },
        Case {
            list: "pre-resource",
            phase: Phase::PreAction,
            hook: "infra.pre_resource_action[provision]",
            action: Some("provision"),
            ran: &["add-app app:shop"],
            committed: false,
        },
        Case {
            list: "post-resource",
            phase: Phase::PostAction,
            hook: "infra.post_resource_action[provision]",
            action: Some("provision"),
            ran: &["add-app app:shop", "provision res:bucket"],
            committed: false,
        },
        Case {
            list: "pre-commit",
            phase: Phase::PreCommit,
            hook: "infra.pre_commit",
            action: None,
            ran: &["add-app app:shop", "provision res:bucket"],
            committed: false,
        },
        Case {
            list: "post-commit",
            phase: Phase::PostCommit,
            hook: "infra.post_commit",
            action: None,
            ran: &["add-app app:shop", "provision res:bucket"],
            committed: true,
        },
    ];
    for case in cases {
        let store = MemoryStore::new(State::new());
        let log = Log::default();
        let tx = engine(&store, &log);
        failing_guard(&tx, case.list);
        // A second diff in a later level: it never runs once the first one's hooks failed.
        let transaction =
            deploy_app().model(Diff::add("app:shop-worker", "of", "shop").after("app:shop"));
        let later_level_ran = case.list == "pre-resource"
            || case.list == "post-resource"
            || case.list.ends_with("commit");

        let err = tx.run(transaction, store.begin()).await.unwrap_err();
        let list = case.list;
        assert_eq!(err.phase(), case.phase, "{list}");
        assert_eq!(err.hook(), case.hook, "{list}");
        assert_eq!(err.action(), case.action, "{list}");
        assert_eq!(err.committed(), case.committed, "{list}");
        assert_eq!((err.status(), err.user_message()), (403, "vetoed by guard"));
        let tap = err.tap().expect("the failing tap is named");
        assert_eq!(
            (tap.name(), tap.module()),
            ("veto", Some("guard")),
            "{list}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("hook `{}`", case.hook)),
            "{message}"
        );
        assert!(
            message.contains("tap `veto` of module `guard`"),
            "{message}"
        );
        if let Some(action) = case.action {
            assert!(message.contains(&format!("action `{action}`")), "{message}");
        }

        let mut expected: Vec<String> = case.ran.iter().map(|s| s.to_string()).collect();
        if later_level_ran {
            expected.insert(1, "add-app app:shop-worker".into());
        }
        assert_eq!(
            log.entries(),
            expected,
            "{list}: what ran before the failure"
        );
        if case.committed {
            assert_eq!(store.version(), 1, "{list}: the data stays");
            assert_eq!(store.get(), expected);
        } else {
            assert_eq!(store.version(), 0, "{list}: nothing committed");
            assert!(store.get().is_empty(), "{list}");
        }
    }
}

#[tokio::test]
async fn a_failing_post_commit_hook_stops_the_later_post_commit_hooks() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.post_commit()
        .tap("notify", |_: &mut PostCommit<Infra>| {
            Err(io::Error::other("mail server down").into())
        })
        .unwrap();
    tx.post_commit().tap("audit", note(&log, "audit")).unwrap();
    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert!(err.committed());
    assert_eq!(err.status(), 500);
    assert!(err.to_string().contains("after commit"), "{err}");
    assert!(!log.entries().contains(&"audit".to_string()));
    assert_eq!(store.version(), 1);
}

#[tokio::test]
async fn a_rejecting_model_action_fails_the_transaction_in_the_action_phase() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx: Transactions<Infra> = Transactions::new("infra", store.clone());
    tx.model_action(Apply {
        behaviour: Behaviour::Reject,
        ..Apply::new(ADD_APP, "app:", &log)
    })
    .unwrap();
    tx.post_model_action(&ADD_APP)
        .unwrap()
        .tap("never", note(&log, "post"))
        .unwrap();
    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert_eq!(err.phase(), Phase::Action);
    assert_eq!(err.hook(), "infra.model_action[add-app]");
    assert_eq!(err.action(), Some("add-app"));
    assert!(err.tap().is_none(), "an action is not a tap");
    assert_eq!((err.status(), err.user_message()), (409, "quota exceeded"));
    assert!(
        err.to_string().contains("action `add-app`, action phase"),
        "{err}"
    );
    assert_eq!(
        log.entries(),
        ["add-app app:shop"],
        "post-hooks did not run"
    );
    assert_eq!(store.version(), 0);
}

#[tokio::test]
async fn a_panicking_action_is_caught_and_reported() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx: Transactions<Infra> = Transactions::new("infra", store.clone());
    tx.model_action(Apply::new(ADD_APP, "app:", &log)).unwrap();
    tx.resource_action(Provision {
        behaviour: Behaviour::Panic,
        ..Provision::new(PROVISION, "res:", &log)
    })
    .unwrap();
    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert_eq!(
        (err.phase(), err.action()),
        (Phase::Action, Some("provision"))
    );
    assert!(
        matches!(err.kind(), ErrorKind::Panicked(message) if message == "bug in provision"),
        "{err:?}"
    );
    assert_eq!(store.version(), 0);
}

#[tokio::test]
async fn a_rejecting_resource_action_fails_the_transaction() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx: Transactions<Infra> = Transactions::new("infra", store.clone());
    tx.resource_action(Provision {
        behaviour: Behaviour::Reject,
        ..Provision::new(PROVISION, "res:", &log)
    })
    .unwrap();
    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert_eq!(err.hook(), "infra.resource_action[provision]");
    assert_eq!((err.status(), err.action()), (503, Some("provision")));
    assert_eq!(store.version(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_times_out_names_its_action() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.pre_model_action(&ADD_APP)
        .unwrap()
        .tap_async(
            Tap::named("slow-check").timeout(Duration::from_secs(5)),
            |_: &mut ModelActionCall<Infra>| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Flow::Continue)
                })
            },
        )
        .unwrap();
    let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut(limit) if *limit == Duration::from_secs(5)));
    assert_eq!(
        (err.phase(), err.action()),
        (Phase::PreAction, Some("add-app"))
    );
    assert!(log.entries().is_empty(), "the action did not run");
}

#[tokio::test]
async fn a_commit_conflict_is_a_commit_error_and_post_commit_hooks_do_not_run() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.post_commit()
        .tap("announce", note(&log, "post-commit"))
        .unwrap();
    let first = store.begin();
    let second = store.begin();
    tx.run(deploy_app(), first).await.unwrap();

    let err = tx.run(deploy_app(), second).await.unwrap_err();
    assert_eq!((err.phase(), err.hook()), (Phase::Commit, "infra.commit"));
    assert!(!err.committed());
    let conflict = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<StoreConflict>())
        .expect("the source is the conflict");
    assert_eq!((conflict.base, conflict.current), (0, 1));
    assert_eq!(
        log.entries().iter().filter(|e| *e == "post-commit").count(),
        1,
        "only the first transaction's post-commit hook ran"
    );
    assert_eq!(store.version(), 1);
}

/// A committer whose rollback fails, to check that the failure is reported.
struct BrokenRollback(MemoryStore<State>);

impl Committer<Infra> for BrokenRollback {
    async fn commit(
        &self,
        session: MemorySession<State>,
        transaction: &Applied<Infra>,
    ) -> Result<(), TapError> {
        Committer::<Infra>::commit(&self.0, session, transaction).await
    }

    async fn rollback(&self, _: MemorySession<State>) -> Result<(), TapError> {
        Err(io::Error::other("connection lost during rollback").into())
    }
}

#[tokio::test]
async fn a_failing_rollback_is_attached_to_the_error_that_caused_it() {
    for cause in [Phase::Action, Phase::PreCommit] {
        let store = MemoryStore::new(State::new());
        let log = Log::default();
        let tx = Transactions::new("infra", BrokenRollback(store.clone()));
        let behaviour = match cause {
            Phase::Action => Behaviour::Reject,
            _ => Behaviour::Succeed,
        };
        tx.model_action(Apply {
            behaviour,
            ..Apply::new(ADD_APP, "app:", &log)
        })
        .unwrap();
        tx.pre_commit()
            .tap("veto", |_: &mut PreCommit<Infra>| {
                Err(TapError::reject("not today"))
            })
            .unwrap();
        let err = tx.run(deploy_app(), store.begin()).await.unwrap_err();
        assert_eq!(err.phase(), cause, "the cause stays the error");
        let [rollback] = err.suppressed() else {
            panic!("expected one suppressed error, got {:?}", err.suppressed());
        };
        assert_eq!(
            (rollback.hook(), rollback.phase()),
            ("infra.rollback", Phase::Commit)
        );
        assert!(
            rollback
                .to_string()
                .contains("connection lost during rollback")
        );
        assert_eq!(store.version(), 0);
    }
}

#[tokio::test]
async fn a_panicking_resource_planner_fails_in_the_plan_phase() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let transaction = deploy_app().resources_from(|_| panic!("planner bug"));
    let err = tx.run(transaction, store.begin()).await.unwrap_err();
    assert_eq!((err.phase(), err.hook()), (Phase::Plan, "infra.plan"));
    assert!(matches!(err.kind(), ErrorKind::Panicked(m) if m == "planner bug"));
    assert_eq!(store.version(), 0);
}

#[test]
fn hooks_bind_only_to_registered_actions_of_their_kind() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);

    let unknown = tx.pre_model_action(&ActionId::new("add-db")).unwrap_err();
    assert_eq!(
        unknown,
        RegisterError::UnknownAction {
            transaction: "infra".into(),
            action: "add-db".into(),
            expected: "model",
            found: None,
        }
    );
    assert!(
        unknown
            .to_string()
            .contains("register the action before binding hooks")
    );

    let wrong_kind = tx.post_model_action(&PROVISION).unwrap_err();
    assert!(
        wrong_kind
            .to_string()
            .contains("no model action `provision` is registered (that id is a resource action)"),
        "{wrong_kind}"
    );
    assert!(tx.pre_resource_action(&ADD_APP).is_err());

    let duplicate = tx
        .resource_action(Provision::new(ADD_APP, "x:", &log))
        .unwrap_err();
    assert!(
        matches!(duplicate, RegisterError::DuplicateAction { ref action, .. } if action == "add-app")
    );

    // A module hooking an unknown action fails to install, and leaves no hook behind.
    let modules = Modules::new();
    let hooks = tx.clone();
    let err = modules
        .install_all([module("typo", &[], move |scope| {
            hooks
                .pre_commit()
                .tap(scope.tap("ok"), |_: &mut PreCommit<Infra>| {
                    Ok(Flow::Continue)
                })?;
            hooks
                .post_model_action(&ActionId::new("add-ap"))?
                .tap(scope.tap("log"), |_: &mut ModelActionCall<Infra>| {
                    Ok(Flow::Continue)
                })?;
            Ok(())
        })])
        .unwrap_err();
    assert!(matches!(err, RegisterError::UnknownAction { .. }));
    assert!(tx.pre_commit().is_empty());
}

// ----------------------------------------------------------------------------------------------
// Explain, single resource actions, concurrency
// ----------------------------------------------------------------------------------------------

#[test]
fn explain_shows_which_hooks_run_around_which_action_in_which_order() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let modules = Modules::new();
    let hooks = tx.clone();
    let note_log = log.clone();
    modules
        .install_all([
            module("audit", &["core"], {
                let (tx, log) = (hooks.clone(), note_log.clone());
                move |scope| {
                    tx.post_model_action(&ADD_APP)?
                        .tap(scope.tap("record"), note(&log, "x"))?;
                    tx.post_commit().tap(scope.tap("notify"), note(&log, "x"))?;
                    Ok(())
                }
            }),
            module("core", &[], move |scope| {
                hooks
                    .pre_model_action(&ADD_APP)?
                    .tap(scope.tap("validate"), note(&note_log, "x"))?;
                hooks
                    .post_model_action(&ADD_APP)?
                    .tap(scope.tap("tag"), note(&note_log, "x"))?;
                hooks
                    .pre_resource_action(&PROVISION)?
                    .tap(scope.tap("quota"), note(&note_log, "x"))?;
                hooks
                    .pre_commit()
                    .tap(scope.tap("check"), note(&note_log, "x"))?;
                Ok(())
            }),
        ])
        .unwrap();

    let explain = tx.explain();
    assert_eq!(
        explain.steps(),
        [
            "model-action[add-region]",
            "model-action[add-env]",
            "pre-model-action[add-app] core/validate",
            "model-action[add-app]",
            "post-model-action[add-app] core/tag",
            "post-model-action[add-app] audit/record",
            "pre-resource-action[provision] core/quota",
            "resource-action[provision]",
            "pre-commit core/check",
            "commit",
            "post-commit audit/notify",
        ]
    );
    let text = explain.to_string();
    assert!(text.starts_with("transaction `infra`"), "{text}");
    assert!(text.contains("model action `add-app`"), "{text}");
    assert!(
        text.contains("post-model-action: `infra.post_model_action[add-app]`"),
        "{text}"
    );
    assert!(text.contains("1. tag  module=core (rank 0)"), "{text}");
    assert!(
        text.contains("2. record  module=audit (rank 1, after core)"),
        "{text}"
    );
    let mermaid = explain.mermaid();
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(
        mermaid.contains("[[\"model-action[add-app]\"]]"),
        "{mermaid}"
    );

    // For one transaction: its levels, and the actions each diff gets, in running order.
    let transaction = Transaction::new("prod")
        .model(Diff::add("app:shop", "env", "prod").after("env:prod"))
        .model(Diff::add("env:prod", "name", "prod"))
        .model(Diff::add("dns:shop", "name", "shop"))
        .resource(Diff::add("res:bucket", "name", "assets"));
    let planned = tx.explain_transaction(&transaction).unwrap();
    let plan = planned.plan().unwrap();
    assert_eq!(plan.model().len(), 2);
    assert_eq!(plan.model()[0][1].diff(), "add \"dns:shop\".name");
    assert!(plan.model()[0][1].actions().is_empty());
    assert_eq!(
        planned.steps(),
        [
            "model-action[add-env] add \"env:prod\".name",
            "pre-model-action[add-app] core/validate",
            "model-action[add-app] add \"app:shop\".env",
            "post-model-action[add-app] core/tag",
            "post-model-action[add-app] audit/record",
            "pre-resource-action[provision] core/quota",
            "resource-action[provision] add \"res:bucket\".name",
            "pre-commit core/check",
            "commit",
            "post-commit audit/notify",
        ]
    );
    let text = planned.to_string();
    assert!(
        text.contains("model level 1:\n      add \"app:shop\".env -> add-app"),
        "{text}"
    );
    assert!(
        text.contains("add \"dns:shop\".name -> no action accepts it"),
        "{text}"
    );
    assert!(log.entries().is_empty(), "explaining runs nothing");
}

#[tokio::test]
async fn a_single_resource_action_runs_with_its_hooks_outside_a_transaction() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    tx.pre_resource_action(&PROVISION)
        .unwrap()
        .tap("pre", note(&log, "pre"))
        .unwrap();
    tx.post_resource_action(&PROVISION)
        .unwrap()
        .tap("post", note(&log, "post"))
        .unwrap();
    tx.pre_commit()
        .tap("never", note(&log, "pre-commit"))
        .unwrap();

    let mut session = store.begin();
    tx.run_resource_action(
        &PROVISION,
        &mut session,
        Diff::add("res:bucket", "name", "b"),
        "prod",
    )
    .await
    .unwrap();
    assert_eq!(log.entries(), ["pre", "provision res:bucket", "post"]);
    assert_eq!(*session, ["provision res:bucket"]);
    assert_eq!(
        store.version(),
        0,
        "nothing is committed by a single action"
    );

    let err = tx
        .run_resource_action(
            &ADD_APP,
            &mut session,
            Diff::add("res:x", "name", "x"),
            "prod",
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.phase(), err.action()),
        (Phase::Action, Some("add-app"))
    );
    assert!(
        err.to_string().contains("no resource action `add-app`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_on_one_store_commit_exactly_once() {
    let store = MemoryStore::new(State::new());
    let log = Log::default();
    let tx = engine(&store, &log);
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let seen = hooked.clone();
    tx.post_model_action(&ADD_APP)
        .unwrap()
        .tap_async("collect", move |call: &mut ModelActionCall<Infra>| {
            let seen = seen.clone();
            Box::pin(async move {
                tokio::task::yield_now().await;
                seen.lock().unwrap().push(call.inputs().to_string());
                Ok(Flow::Continue)
            })
        })
        .unwrap();

    let envs = ["a", "b", "c", "d", "e", "f", "g", "h"];
    // Every session begins before any transaction starts (a spawned task may run at once on
    // another worker thread): optimistic concurrency lets exactly one of them win.
    let sessions = envs.map(|env| (env, store.begin()));
    let runs = sessions.map(|(env, session)| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let transaction = Transaction::new(env).model(Diff::add("app:shop", "name", "shop"));
            tx.run(transaction, session).await
        })
    });
    let mut committed = 0;
    for run in runs {
        match run.await.unwrap() {
            Ok(_) => committed += 1,
            Err(err) => {
                assert_eq!(err.phase(), Phase::Commit);
                assert!(
                    err.to_string()
                        .contains("another transaction committed first")
                );
            }
        }
    }
    assert_eq!(committed, 1);
    assert_eq!(store.version(), 1);
    assert_eq!(store.get(), ["add-app app:shop"]);
    let mut hooked = hooked.lock().unwrap().clone();
    hooked.sort();
    assert_eq!(hooked, envs, "every transaction ran its hooks");
}

/// Records which spans are created and entered, by name.
#[derive(Clone, Default)]
struct SpanLog(Arc<Mutex<Vec<(u64, &'static str)>>>, Log);

impl tracing::Subscriber for SpanLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut spans = self.0.lock().unwrap();
        let id = spans.len() as u64 + 1;
        spans.push((id, span.metadata().name()));
        self.1.push(format!("new {}", span.metadata().name()));
        tracing::span::Id::from_u64(id)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, id: &tracing::span::Id) {
        let spans = self.0.lock().unwrap();
        if let Some((_, name)) = spans.iter().find(|(span, _)| *span == id.into_u64()) {
            self.1.push(format!("enter {name}"));
        }
    }
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn the_transaction_and_each_action_run_in_their_spans_when_a_subscriber_records_them() {
    // tracing-core keeps one global level hint and per-call-site interest for all threads;
    // other tests registering call sites at the same moment can leave them stale for a
    // moment (a race in tracing-core, not in the engine). Each attempt recomputes them under
    // this test's subscriber; a run that makes no action span in any attempt fails below.
    let mut spans = SpanLog::default();
    for _ in 0..10 {
        let store = MemoryStore::new(State::new());
        let tx = engine(&store, &Log::default());
        spans = SpanLog::default();
        let applied = tracing::subscriber::with_default(spans.clone(), || {
            tracing::callsite::rebuild_interest_cache();
            futures_util::FutureExt::now_or_never(tx.run(deploy_app(), store.begin()))
        });
        applied.expect("memory actions do not wait").unwrap();
        if spans.1.entries().iter().any(|entry| entry == "new action") {
            break;
        }
    }
    let log = spans.1.entries();
    for expected in [
        "new transaction",
        "enter transaction",
        "new action",
        "enter action",
    ] {
        assert!(
            log.iter().any(|entry| entry == expected),
            "{expected}: {log:?}"
        );
    }
    // One action span per action: the model action and the resource action.
    assert_eq!(
        log.iter().filter(|e| *e == "new action").count(),
        2,
        "{log:?}"
    );
}
