//! Octo's module hooks (seed 003): the `SimpleAppModule` example, and two modules whose hooks run
//! in module order.
//!
//! In Octo, a module's `registerHooks()` returns hook arrays — here a `postModelActionHooks` entry
//! bound to `AddSimpleAppModelAction` ("I will trigger after AddSimpleAppModelAction runs!") and a
//! `preCommitHooks` entry ("I will trigger before Octo commits the transaction!"). In hookline a
//! module taps the matching hook lists of a [`Transactions`] engine from `register_hooks`:
//! `post_model_action(&id)` and `pre_commit()`. A model hook receives the diff, the inputs and
//! the action's outputs, and whatever outputs it leaves replace the action's.
//!
//! "Since module1 is registered first based on hierarchy, the post commit hooks of module1 will
//! be executed before module2's": `RegionModule` is a dependency of `SimpleAppModule`, so it is
//! installed first although it is listed second (as Octo imports a parent before its children),
//! and modules run in installation order; within one module, hooks run in the order the module
//! registers them (Octo's array order).
//!
//! Run it with `cargo run -p hookline-examples --example octo_simple_app`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookline::transaction::{
    ActionId, Applied, Diff, DiffAction, Domain, MemorySession, MemoryStore, ModelAction,
    ModelActionCall, PostCommit, PreCommit, ResourceAction, Transaction, Transactions,
};
use hookline::{Flow, Module, ModuleScope, Modules, Phase, RegisterError, TapError};

/// Octo's `ActionOutputs`: resource id → resource.
type ActionOutputs = BTreeMap<String, String>;

/// What the transaction writes to: the models and the resources, staged until the commit.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    models: Vec<String>,
    resources: Vec<String>,
}

/// `SimpleAppModuleSchema`: the module's inputs.
#[derive(Debug)]
struct SimpleAppInputs {
    region: String,
}

/// The types of Octo-style transactions: nodes are `kind:name`.
struct Octo;
impl Domain for Octo {
    type Node = String;
    type Value = String;
    type Inputs = SimpleAppInputs;
    type Outputs = ActionOutputs;
    type Session = MemorySession<State>;
}

const ADD_SIMPLE_APP: ActionId = ActionId::new("AddSimpleAppModelAction");
const ADD_REGION: ActionId = ActionId::new("AddRegionModelAction");
const ADD_RESOURCE: ActionId = ActionId::new("AddResourceAction");

/// Adds an app model; outputs the bucket resource the app needs.
struct AddSimpleAppModelAction;
impl ModelAction<Octo> for AddSimpleAppModelAction {
    fn id(&self) -> ActionId {
        ADD_SIMPLE_APP
    }

    fn filter(&self, diff: &Diff<Octo>) -> bool {
        diff.action() == DiffAction::Add && diff.node().starts_with("app:")
    }

    async fn handle(
        &self,
        state: &mut MemorySession<State>,
        diff: &Diff<Octo>,
        inputs: &SimpleAppInputs,
        mut outputs: ActionOutputs,
    ) -> Result<ActionOutputs, TapError> {
        state.models.push(diff.node().clone());
        outputs.insert(
            format!("bucket:{}-assets", diff.value()),
            format!("s3 bucket in {}", inputs.region),
        );
        Ok(outputs)
    }
}

/// Adds a region model; outputs the network resource it needs.
struct AddRegionModelAction;
impl ModelAction<Octo> for AddRegionModelAction {
    fn id(&self) -> ActionId {
        ADD_REGION
    }

    fn filter(&self, diff: &Diff<Octo>) -> bool {
        diff.action() == DiffAction::Add && diff.node().starts_with("region:")
    }

    async fn handle(
        &self,
        state: &mut MemorySession<State>,
        diff: &Diff<Octo>,
        _: &SimpleAppInputs,
        mut outputs: ActionOutputs,
    ) -> Result<ActionOutputs, TapError> {
        state.models.push(diff.node().clone());
        outputs.insert(format!("vpc:{}", diff.value()), "vpc".into());
        Ok(outputs)
    }
}

/// Creates a resource the model actions asked for.
struct AddResourceAction;
impl ResourceAction<Octo> for AddResourceAction {
    fn id(&self) -> ActionId {
        ADD_RESOURCE
    }

    fn filter(&self, diff: &Diff<Octo>) -> bool {
        diff.action() == DiffAction::Add
    }

    async fn handle(
        &self,
        state: &mut MemorySession<State>,
        diff: &Diff<Octo>,
        _: &SimpleAppInputs,
    ) -> Result<(), TapError> {
        state.resources.push(diff.node().clone());
        Ok(())
    }
}

/// Every resource the model actions output becomes a resource diff; buckets wait for the VPCs.
fn resource_diffs(applied: &Applied<Octo>) -> Vec<Diff<Octo>> {
    let vpcs: Vec<String> = applied
        .outputs_of(&ADD_REGION)
        .flat_map(|(_, outputs)| outputs.keys().cloned())
        .collect();
    let mut diffs = Vec::new();
    for (_, outputs) in applied.outputs_of(&ADD_SIMPLE_APP) {
        for (id, resource) in outputs {
            let diff = Diff::add(id.clone(), "resourceId", resource.clone());
            diffs.push(vpcs.iter().cloned().fold(diff, Diff::after));
        }
    }
    for vpc in vpcs {
        diffs.push(Diff::add(vpc, "resourceId", "vpc".into()));
    }
    diffs
}

/// What the hooks say, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The seed's `SimpleAppModule`, plus an owner tag and a post-commit hook.
struct SimpleAppModule {
    tx: Transactions<Octo>,
    log: Log,
}

impl Module for SimpleAppModule {
    fn name(&self) -> &str {
        "@example/simple-app"
    }

    fn depends_on(&self) -> Vec<String> {
        vec!["@example/region".into()]
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        // postModelActionHooks: [{ action: AddSimpleAppModelAction, handle }, { … }]
        let post = self.tx.post_model_action(&ADD_SIMPLE_APP)?;
        let log = self.log.clone();
        post.tap(
            scope.tap("announce"),
            move |_: &mut ModelActionCall<Octo>| {
                lock(&log).push("I will trigger after AddSimpleAppModelAction runs!".into());
                Ok(Flow::Continue) // `return actionOutputs;` — unchanged
            },
        )?;
        let log = self.log.clone();
        post.tap(
            scope.tap("tag-owner"),
            move |call: &mut ModelActionCall<Octo>| {
                // The outputs this hook leaves replace the action's: every resource gets a tag.
                let tagged = call
                    .outputs
                    .iter()
                    .map(|(id, resource)| (id.clone(), format!("{resource} [owner=team-a]")))
                    .collect();
                call.replace_outputs(tagged);
                lock(&log).push("simple-app: tagged the app's resources".into());
                Ok(Flow::Continue)
            },
        )?;

        // preCommitHooks: [{ handle }]
        let log = self.log.clone();
        self.tx.pre_commit().tap(
            scope.tap("before-commit"),
            move |_: &mut PreCommit<Octo>| {
                lock(&log).push("I will trigger before Octo commits the transaction!".into());
                Ok(Flow::Continue)
            },
        )?;

        let log = self.log.clone();
        self.tx.post_commit().tap(
            scope.tap("after-commit"),
            move |_: &mut PostCommit<Octo>| {
                lock(&log).push("simple-app: post-commit".into());
                Ok(Flow::Continue)
            },
        )?;
        Ok(())
    }
}

/// The parent module: apps need a region; it reports every commit.
struct RegionModule {
    tx: Transactions<Octo>,
    log: Log,
}

impl Module for RegionModule {
    fn name(&self) -> &str {
        "@example/region"
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        self.tx.pre_model_action(&ADD_SIMPLE_APP)?.tap(
            scope.tap("require-region"),
            |call: &mut ModelActionCall<Octo>| {
                if call.inputs().region.is_empty() {
                    return Err(TapError::reject("an app needs a region").with_status(400));
                }
                Ok(Flow::Continue)
            },
        )?;
        let log = self.log.clone();
        self.tx.post_commit().tap(
            scope.tap("after-commit"),
            move |ctx: &mut PostCommit<Octo>| {
                let resources: usize = ctx.transaction().resource().iter().map(Vec::len).sum();
                lock(&log).push(format!("region: post-commit ({resources} resources)"));
                Ok(Flow::Continue)
            },
        )?;
        Ok(())
    }
}

fn deploy(app: &str, region: &str) -> Transaction<Octo> {
    let inputs = SimpleAppInputs {
        region: region.into(),
    };
    let app = Diff::add(format!("app:{app}"), "name", app.into());
    let transaction = if region.is_empty() {
        Transaction::new(inputs).model(app)
    } else {
        // The app waits a level for its region.
        let node = format!("region:{region}");
        Transaction::new(inputs)
            .model(Diff::add(node.clone(), "name", region.into()))
            .model(app.after(node))
    };
    transaction.resources_from(resource_diffs)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new(State::default());
    let tx = Transactions::new("octo", store.clone());
    tx.model_action(AddRegionModelAction)?;
    tx.model_action(AddSimpleAppModelAction)?;
    tx.resource_action(AddResourceAction)?;

    let log: Log = Arc::default();
    // Listed child first: `install_all` installs the dependency first, and that order holds.
    Modules::new().install_all([
        Box::new(SimpleAppModule {
            tx: tx.clone(),
            log: log.clone(),
        }) as Box<dyn Module>,
        Box::new(RegionModule {
            tx: tx.clone(),
            log: log.clone(),
        }),
    ])?;

    let transaction = deploy("shop", "us-east-1");
    println!("{}", tx.explain_transaction(&transaction)?);

    println!("1. Deploy the app `shop` in region us-east-1.");
    let applied = tx.run(transaction, store.begin()).await?;
    for line in lock(&log).iter() {
        println!("   {line}");
    }
    let state = store.get();
    println!("   committed models {:?}", state.models);
    println!("   committed resources {:?}", state.resources);

    println!(
        "2. Deploy `blog` without a region: the region module's pre-model-action hook vetoes."
    );
    let err = tx.run(deploy("blog", ""), store.begin()).await.unwrap_err();
    println!("   {err}");

    // What happened, in order: the model hooks of simple-app in array order, the pre-commit
    // hook, then the post-commit hooks in module order (region first).
    assert_eq!(
        *lock(&log),
        [
            "I will trigger after AddSimpleAppModelAction runs!",
            "simple-app: tagged the app's resources",
            "I will trigger before Octo commits the transaction!",
            "region: post-commit (2 resources)",
            "simple-app: post-commit",
        ]
    );
    // The tag hook's outputs replaced the action's, and became the resource diffs; the bucket
    // waited a level for the VPC.
    let outputs = applied.model()[1][0].outputs(&ADD_SIMPLE_APP).unwrap();
    assert_eq!(
        outputs["bucket:shop-assets"],
        "s3 bucket in us-east-1 [owner=team-a]"
    );
    let levels: Vec<Vec<&str>> = applied
        .resource()
        .iter()
        .map(|level| level.iter().map(|a| a.diff().node().as_str()).collect())
        .collect();
    assert_eq!(levels, [vec!["vpc:us-east-1"], vec!["bucket:shop-assets"]]);
    assert_eq!(
        state,
        State {
            models: vec!["region:us-east-1".into(), "app:shop".into()],
            resources: vec!["vpc:us-east-1".into(), "bucket:shop-assets".into()],
        }
    );
    // The veto names the module, the hook list and the action, and nothing was committed.
    assert_eq!((err.phase(), err.status()), (Phase::PreAction, 400));
    assert_eq!(err.tap().and_then(|t| t.module()), Some("@example/region"));
    assert_eq!(err.hook(), "octo.pre_model_action[AddSimpleAppModelAction]");
    assert_eq!(err.action(), Some("AddSimpleAppModelAction"));
    assert_eq!(store.version(), 1);
    assert_eq!(store.get(), state);
    // Explain lists the hooks around the action in the order they run.
    assert_eq!(
        tx.explain().action(&ADD_SIMPLE_APP).unwrap().post().names(),
        ["announce", "tag-owner"]
    );
    assert_eq!(
        tx.explain()
            .post_commit()
            .taps()
            .map(|t| t.module())
            .collect::<Vec<_>>(),
        [Some("@example/region"), Some("@example/simple-app")]
    );
    println!("ok");
    Ok(())
}
