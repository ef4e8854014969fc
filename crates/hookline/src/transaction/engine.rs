//! [`Transactions`]: the registry of one kind of transaction — its actions, its six hook lists
//! and its committer. Running a transaction lives in [`super::run`], explaining it in
//! [`super::explain`].

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use super::action::{DynModelAction, DynResourceAction};
use super::committer::DynCommitter;
use super::{
    ActionId, ActionKind, Committer, Domain, ModelAction, ModelActionCall, PostCommit, PreCommit,
    ResourceAction, ResourceActionCall,
};
use crate::error::RegisterError;
use crate::hook::Hook;

/// A registered model action and the hooks bound to it.
pub(crate) struct ModelEntry<D: Domain> {
    pub(crate) id: ActionId,
    pub(crate) action: Box<dyn DynModelAction<D>>,
    pub(crate) pre: Hook<ModelActionCall<D>>,
    pub(crate) post: Hook<ModelActionCall<D>>,
    /// The name errors of the action itself carry.
    pub(crate) step: Arc<str>,
}

/// A registered resource action and the hooks bound to it.
pub(crate) struct ResourceEntry<D: Domain> {
    pub(crate) id: ActionId,
    pub(crate) action: Box<dyn DynResourceAction<D>>,
    pub(crate) pre: Hook<ResourceActionCall<D>>,
    pub(crate) post: Hook<ResourceActionCall<D>>,
    pub(crate) step: Arc<str>,
}

/// The actions, in registration order; replaced as a whole when one is added, so a run keeps
/// the list it started with.
pub(crate) struct Actions<D: Domain> {
    pub(crate) model: Vec<Arc<ModelEntry<D>>>,
    pub(crate) resource: Vec<Arc<ResourceEntry<D>>>,
}

impl<D: Domain> Actions<D> {
    pub(crate) fn model(&self, id: &ActionId) -> Option<&Arc<ModelEntry<D>>> {
        self.model.iter().find(|e| e.id == *id)
    }

    pub(crate) fn resource(&self, id: &ActionId) -> Option<&Arc<ResourceEntry<D>>> {
        self.resource.iter().find(|e| e.id == *id)
    }

    fn kind_of(&self, id: &ActionId) -> Option<ActionKind> {
        if self.model(id).is_some() {
            Some(ActionKind::Model)
        } else if self.resource(id).is_some() {
            Some(ActionKind::Resource)
        } else {
            None
        }
    }
}

pub(crate) struct Inner<D: Domain> {
    pub(crate) name: Arc<str>,
    pub(crate) actions: Mutex<Arc<Actions<D>>>,
    pub(crate) pre_commit: Hook<PreCommit<D>>,
    pub(crate) post_commit: Hook<PostCommit<D>>,
    pub(crate) committer: Box<dyn DynCommitter<D>>,
    /// Names for errors that belong to no hook list: planning, commit, rollback.
    pub(crate) plan_step: Arc<str>,
    pub(crate) commit_step: Arc<str>,
    pub(crate) rollback_step: Arc<str>,
}

/// One kind of transaction: its model and resource actions, the six hook lists around them, and
/// the committer that persists it (Octo's transaction service, module hooks and commit, in one
/// place, generic and without I/O).
///
/// The six hook lists (Octo's `registerHooks()` arrays, mapped in the [module docs](super)):
/// [`pre_commit`](Transactions::pre_commit), [`post_commit`](Transactions::post_commit),
/// [`pre_model_action`](Transactions::pre_model_action),
/// [`post_model_action`](Transactions::post_model_action),
/// [`pre_resource_action`](Transactions::pre_resource_action) and
/// [`post_resource_action`](Transactions::post_resource_action).
///
/// Each is an engine [`Hook`], so a [`Module`](crate::Module) taps them from its
/// `register_hooks`, and the taps run in module order — installation order, a module after
/// the modules it depends on — then in the order the module registered them (Octo's "array
/// order").
///
/// Cloning is cheap; every clone shares actions, hooks and committer.
pub struct Transactions<D: Domain> {
    pub(crate) inner: Arc<Inner<D>>,
}

impl<D: Domain> Clone for Transactions<D> {
    fn clone(&self) -> Self {
        Transactions {
            inner: self.inner.clone(),
        }
    }
}

impl<D: Domain> fmt::Debug for Transactions<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions = self.actions();
        f.debug_struct("Transactions")
            .field("name", &self.inner.name)
            .field(
                "model_actions",
                &actions.model.iter().map(|e| &e.id).collect::<Vec<_>>(),
            )
            .field(
                "resource_actions",
                &actions.resource.iter().map(|e| &e.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<D: Domain> Transactions<D> {
    /// An engine with no actions and no hooks. `name` prefixes its hooks' names
    /// (`{name}.pre_commit`, `{name}.post_model_action[{action}]`, …), which errors, traces and
    /// explain output show.
    pub fn new(name: impl Into<Cow<'static, str>>, committer: impl Committer<D>) -> Self {
        let name: Cow<'static, str> = name.into();
        Transactions {
            inner: Arc::new(Inner {
                pre_commit: Hook::new(format!("{name}.pre_commit")),
                post_commit: Hook::new(format!("{name}.post_commit")),
                committer: Box::new(committer),
                plan_step: Arc::from(format!("{name}.plan")),
                commit_step: Arc::from(format!("{name}.commit")),
                rollback_step: Arc::from(format!("{name}.rollback")),
                actions: Mutex::new(Arc::new(Actions {
                    model: Vec::new(),
                    resource: Vec::new(),
                })),
                name: Arc::from(&*name),
            }),
        }
    }

    /// The engine's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn lock(&self) -> MutexGuard<'_, Arc<Actions<D>>> {
        // The list is replaced by one assignment; a poisoned lock still holds a whole list.
        self.inner.actions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The actions as they are now (a run keeps the list it started with).
    pub(crate) fn actions(&self) -> Arc<Actions<D>> {
        self.lock().clone()
    }

    fn check_new(&self, actions: &Actions<D>, id: &ActionId) -> Result<(), RegisterError> {
        match actions.kind_of(id) {
            Some(_) => Err(RegisterError::DuplicateAction {
                transaction: self.inner.name.to_string(),
                action: id.to_string(),
            }),
            None => Ok(()),
        }
    }

    fn hook_name(&self, list: &str, id: &ActionId) -> String {
        format!("{}.{list}[{id}]", self.inner.name)
    }

    /// Registers a model action. Model actions run in registration order for each diff they
    /// accept. Fails if an action (model or resource) with the same id is registered.
    pub fn model_action(&self, action: impl ModelAction<D>) -> Result<(), RegisterError> {
        let id = action.id();
        let mut actions = self.lock();
        self.check_new(&actions, &id)?;
        let entry = Arc::new(ModelEntry {
            pre: Hook::new(self.hook_name("pre_model_action", &id)),
            post: Hook::new(self.hook_name("post_model_action", &id)),
            step: Arc::from(self.hook_name("model_action", &id)),
            action: Box::new(action),
            id,
        });
        let mut model = actions.model.clone();
        model.push(entry);
        *actions = Arc::new(Actions {
            model,
            resource: actions.resource.clone(),
        });
        Ok(())
    }

    /// Registers a resource action (see [`model_action`](Transactions::model_action)).
    pub fn resource_action(&self, action: impl ResourceAction<D>) -> Result<(), RegisterError> {
        let id = action.id();
        let mut actions = self.lock();
        self.check_new(&actions, &id)?;
        let entry = Arc::new(ResourceEntry {
            pre: Hook::new(self.hook_name("pre_resource_action", &id)),
            post: Hook::new(self.hook_name("post_resource_action", &id)),
            step: Arc::from(self.hook_name("resource_action", &id)),
            action: Box::new(action),
            id,
        });
        let mut resource = actions.resource.clone();
        resource.push(entry);
        *actions = Arc::new(Actions {
            model: actions.model.clone(),
            resource,
        });
        Ok(())
    }

    pub(crate) fn unknown(&self, id: &ActionId, expected: ActionKind) -> RegisterError {
        RegisterError::UnknownAction {
            transaction: self.inner.name.to_string(),
            action: id.to_string(),
            expected: expected.as_str(),
            found: self.actions().kind_of(id).map(ActionKind::as_str),
        }
    }

    fn model_entry(&self, id: &ActionId) -> Result<Arc<ModelEntry<D>>, RegisterError> {
        self.actions()
            .model(id)
            .cloned()
            .ok_or_else(|| self.unknown(id, ActionKind::Model))
    }

    fn resource_entry(&self, id: &ActionId) -> Result<Arc<ResourceEntry<D>>, RegisterError> {
        self.actions()
            .resource(id)
            .cloned()
            .ok_or_else(|| self.unknown(id, ActionKind::Resource))
    }

    /// The hooks that run just before the whole transaction commits (Octo's `preCommitHooks`).
    pub fn pre_commit(&self) -> &Hook<PreCommit<D>> {
        &self.inner.pre_commit
    }

    /// The hooks that run after the transaction committed (Octo's `postCommitHooks`).
    pub fn post_commit(&self) -> &Hook<PostCommit<D>> {
        &self.inner.post_commit
    }

    /// The hooks that run before model action `id`, for every diff it applies (Octo's
    /// `preModelActionHooks` entries with `action` = this action). Fails if no model action has
    /// this id: register actions before the modules that hook them.
    pub fn pre_model_action(
        &self,
        id: &ActionId,
    ) -> Result<Hook<ModelActionCall<D>>, RegisterError> {
        Ok(self.model_entry(id)?.pre.clone())
    }

    /// The hooks that run after model action `id` (Octo's `postModelActionHooks`).
    pub fn post_model_action(
        &self,
        id: &ActionId,
    ) -> Result<Hook<ModelActionCall<D>>, RegisterError> {
        Ok(self.model_entry(id)?.post.clone())
    }

    /// The hooks that run before resource action `id` (Octo's `preResourceActionHooks`).
    pub fn pre_resource_action(
        &self,
        id: &ActionId,
    ) -> Result<Hook<ResourceActionCall<D>>, RegisterError> {
        Ok(self.resource_entry(id)?.pre.clone())
    }

    /// The hooks that run after resource action `id` (Octo's `postResourceActionHooks`).
    pub fn post_resource_action(
        &self,
        id: &ActionId,
    ) -> Result<Hook<ResourceActionCall<D>>, RegisterError> {
        Ok(self.resource_entry(id)?.post.clone())
    }
}
