//! Script hooks on `hookline-data` resources (feature `data`): function-style scripts
//! (AdminForth's) bound to a resource's [`HookPoint`], and the data API they reach through
//! `tables.<name>` / `#name`, served by the resources' own flows.
//!
//! It lives here, behind a feature, rather than in a crate of its own: how a hook's records
//! travel to QuickJS and back (lent as rows, patched in place, only the values a hook takes
//! read back) is this crate's business, and keeping the binding inside it keeps that
//! protocol private. `hookline-data` stays free of any script dependency.
//!
//! - [`ResourceScripts`] holds a script pool and a [`WeakData`] handle: the taps it registers
//!   live inside the data set's own hooks, so they must not keep it alive (no cycle, and no
//!   lock on the data API's path).
//! - [`ResourceScripts::bind`] registers scripts on one hook point in one call;
//!   [`ResourceScripts::binding`] prepares the registration to make later (inside a
//!   [`Module`](hookline::Module)'s `register_hooks`, say).
//! - [`user_json`] is how scripts see the caller, everywhere.
//!
//! What scripts receive, by hook, under AdminForth's names: `resource`; `record` / `recordId`
//! (create), `updates` / `oldRecord` / `recordId` (edit), `record` / `recordId` / `cascadeFrom`
//! (delete), `query` (before a read), `response` / `query` / `total` (after a read); the caller
//! as `user` ([`user_json`]) and as `adminUser` (`{ pk, dbUser }`); and `tables`, the data
//! API. They may change `record`, `updates`, `query`, `response` and `total`; other changes
//! are dropped. `{ ok: false, error }` rejects (422, or the `status` given).
//!
//! ```
//! use hookline_data::{Actor, Column, Data, DataSource, HookPoint, Record, ResourceDef};
//! use hookline_script::resources::ResourceScripts;
//! use hookline_script::{PoolConfig, ScriptPool, ScriptSource};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let data = Data::builder(DataSource::connect("sqlite::memory:").await?)
//!     .resource(
//!         ResourceDef::new("apartments")
//!             .column(Column::integer("id").primary_key())
//!             .column(Column::text("title").required())
//!             .column(Column::integer("realtor_id")),
//!     )
//!     .build()
//!     .await?;
//! let pool = ScriptPool::new(PoolConfig::default().workers(1))?;
//! let set_realtor = pool
//!     .load(ScriptSource::function(
//!         "create.before_save.js",
//!         "export default async ({ record, user }) => { record.realtor_id = user.id; return { ok: true }; };",
//!     ))
//!     .await?;
//!
//! let scripts = ResourceScripts::new(&pool, &data);
//! scripts.bind("apartments", &HookPoint::CreateBefore, "set-realtor", [set_realtor])?;
//!
//! let apartments = data.resource("apartments")?;
//! let record = Record::try_from(json!({ "title": "Loft", "realtor_id": 99 }))?;
//! let stored = apartments.create(&Actor::new(7), record).await?;
//! assert_eq!(stored.get_i64("realtor_id"), Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod data_api;
mod view;

use std::fmt;
use std::sync::Arc;

use hookline::{AsyncTap, Flow, Hook, RegisterError, Tap, TapError, TapHandle, TapResult};
use hookline_data::{Actor, Data, DataError, HookPoint, HookRef, Resource, WeakData};
use serde_json::{Map, Value, json};

use crate::data_api::TableApi;
use crate::error::ScriptError;
use crate::pool::ScriptPool;
use crate::source::{Script, ScriptSource, Style};
use crate::tap::{ScriptOutcome, ScriptTap};

pub use data_api::DataTables;
use view::{ScriptView, Viewed};

/// The role added to the caller for the data calls scripts make, so that access rules can
/// grant some writes to hooks only (`allowed_actions` checking `actor.has_role("script")`).
/// A caller never has it otherwise: hosts refuse it as a user role.
pub const SCRIPT_ROLE: &str = "script";

/// The caller as scripts see it (`user`, `@USER`): the actor's attributes, with `id`, `roles`
/// and `role` (the first role, or `null`) over them.
///
/// ```
/// use hookline_data::Actor;
/// use hookline_script::resources::user_json;
/// use serde_json::json;
///
/// let ann = Actor::new(7).with_role("realtor").with_attribute("login", "ann@x.dev");
/// assert_eq!(
///     serde_json::Value::Object(user_json(&ann)),
///     json!({ "login": "ann@x.dev", "id": 7, "roles": ["realtor"], "role": "realtor" })
/// );
/// ```
pub fn user_json(actor: &Actor) -> Map<String, Value> {
    let mut user = actor.attributes.to_map();
    user.insert("id".into(), actor.id.clone());
    user.insert("roles".into(), json!(actor.roles));
    user.insert(
        "role".into(),
        actor.roles.first().map_or(Value::Null, |r| json!(r)),
    );
    user
}

/// Binds scripts to the hook points of one data set's resources, and serves their data API.
///
/// Cheap to clone. Holds the pool and a [`WeakData`]: a script whose data set is gone gets
/// an error from the data API ("the data set is closed") instead of keeping it open.
#[derive(Clone)]
pub struct ResourceScripts {
    pool: ScriptPool,
    data: WeakData,
}

impl fmt::Debug for ResourceScripts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceScripts")
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

/// Why scripts could not be bound to a hook point.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The resource does not exist, or the point names a dropdown of a column that has none.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The hook refused the tap (a name taken, an unknown `before`/`after` name, …).
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// The data set is gone: every [`Data`] handle to it was dropped.
    #[error("the data set is closed")]
    Closed,
    /// A script file could not be read or compiled ([`ResourceScripts::bind_files`]).
    #[error(transparent)]
    Script(#[from] ScriptError),
}

impl ResourceScripts {
    /// Scripts of `pool` on the resources of `data`.
    pub fn new(pool: &ScriptPool, data: &Data) -> Self {
        ResourceScripts {
            pool: pool.clone(),
            data: data.downgrade(),
        }
    }

    /// Registers `scripts` on `resource`'s hook at `point` as one tap (one worker call per
    /// hook call, the scripts in order on one copy of the context). `tap` is the tap's name or
    /// its options ([`Tap::named`]`(…).first()`, …). The tap's registration site is the
    /// caller's.
    #[track_caller]
    pub fn bind(
        &self,
        resource: &str,
        point: &HookPoint,
        tap: impl Into<Tap>,
        scripts: impl IntoIterator<Item = Script>,
    ) -> Result<TapHandle, BindError> {
        let data = self.data.upgrade().ok_or(BindError::Closed)?;
        let resource = data.resource(resource)?;
        let binding = self.binding(&resource, point, scripts)?;
        Ok(binding.register(tap)?)
    }

    /// Reads function-style script files, compiles them on the pool, and binds them as
    /// [`bind`](ResourceScripts::bind) does: one tap, the files in order. A file that does not
    /// read or compile is [`BindError::Script`], located in the file, and nothing is bound.
    ///
    /// ```no_run
    /// # async fn f(scripts: hookline_script::resources::ResourceScripts) -> Result<(), Box<dyn std::error::Error>> {
    /// use hookline_data::HookPoint;
    /// scripts
    ///     .bind_files(
    ///         "apartments",
    ///         &"create.before_save".parse::<HookPoint>()?,
    ///         "apartment-rules",
    ///         ["hooks/set_realtor.js", "hooks/check_price.js"],
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind_files<P: AsRef<std::path::Path>>(
        &self,
        resource: &str,
        point: &HookPoint,
        tap: impl Into<Tap>,
        files: impl IntoIterator<Item = P>,
    ) -> Result<TapHandle, BindError> {
        let mut scripts = Vec::new();
        for file in files {
            let source = ScriptSource::read(file, Style::Function)?;
            scripts.push(self.pool.load(source).await?);
        }
        self.bind(resource, point, tap, scripts)
    }

    /// Prepares the registration of `scripts` on `resource`'s hook at `point`:
    /// [`DataError`] if the point has no hook there (a dropdown of a column without a foreign
    /// key). [`Binding::register`] registers it.
    pub fn binding(
        &self,
        resource: &Resource,
        point: &HookPoint,
        scripts: impl IntoIterator<Item = Script>,
    ) -> Result<Binding, DataError> {
        let tap = DataScripts {
            tap: ScriptTap::new(&self.pool, scripts),
            scripts: self.clone(),
        };
        let hook = match resource.hook(point)? {
            HookRef::ReadRequest(hook) => BoundHook::ReadRequest(hook.clone()),
            HookRef::ReadResponse(hook) => BoundHook::ReadResponse(hook.clone()),
            HookRef::Create(hook) => BoundHook::Create(hook.clone()),
            HookRef::Edit(hook) => BoundHook::Edit(hook.clone()),
            HookRef::Delete(hook) => BoundHook::Delete(hook.clone()),
            other => {
                return Err(DataError::Definition {
                    resource: resource.name().to_owned(),
                    message: format!(
                        "hook `{}` takes a context scripts cannot be bound to",
                        other.name()
                    ),
                });
            }
        };
        Ok(Binding { hook, tap })
    }

    /// The script pool.
    pub fn pool(&self) -> &ScriptPool {
        &self.pool
    }

    /// The data API for scripts running for `actor`: the resources' own flows (access checks
    /// and hooks included), as `actor` with the extra role [`SCRIPT_ROLE`].
    pub fn tables_for(&self, actor: &Actor) -> Arc<dyn TableApi> {
        let mut actor = actor.clone();
        if !actor.has_role(SCRIPT_ROLE) {
            actor.roles.push(SCRIPT_ROLE.to_owned());
        }
        Arc::new(DataTables::new(self.data.clone(), actor))
    }
}

/// Scripts prepared for one hook point ([`ResourceScripts::binding`]), to register once or
/// several times (say, under a module's scope each time the module is installed).
pub struct Binding {
    hook: BoundHook,
    tap: DataScripts,
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("hook", &self.hook_name())
            .field("scripts", &self.tap.tap.scripts())
            .finish()
    }
}

/// The hook a binding registers on, by context type.
enum BoundHook {
    ReadRequest(Hook<hookline_data::ReadRequest>),
    ReadResponse(Hook<hookline_data::ReadResponse>),
    Create(Hook<hookline_data::CreateContext>),
    Edit(Hook<hookline_data::EditContext>),
    Delete(Hook<hookline_data::DeleteContext>),
}

impl Binding {
    /// Registers the scripts as one tap with these options; its registration site (in
    /// `explain()` and errors) is the caller's.
    #[track_caller]
    pub fn register(&self, tap: impl Into<Tap>) -> Result<TapHandle, RegisterError> {
        let handler = self.tap.clone();
        match &self.hook {
            BoundHook::ReadRequest(hook) => hook.tap_handler(tap, handler),
            BoundHook::ReadResponse(hook) => hook.tap_handler(tap, handler),
            BoundHook::Create(hook) => hook.tap_handler(tap, handler),
            BoundHook::Edit(hook) => hook.tap_handler(tap, handler),
            BoundHook::Delete(hook) => hook.tap_handler(tap, handler),
        }
    }

    /// The name of the hook it registers on (`<resource>.<point>`).
    pub fn hook_name(&self) -> &str {
        match &self.hook {
            BoundHook::ReadRequest(hook) => hook.name(),
            BoundHook::ReadResponse(hook) => hook.name(),
            BoundHook::Create(hook) => hook.name(),
            BoundHook::Edit(hook) => hook.name(),
            BoundHook::Delete(hook) => hook.name(),
        }
    }
}

/// The tap of a binding: its scripts, and the data API they get for each call's caller.
#[derive(Clone)]
struct DataScripts {
    tap: ScriptTap,
    scripts: ResourceScripts,
}

impl<C: ScriptView> AsyncTap<C> for DataScripts {
    async fn call(&self, ctx: &mut C) -> TapResult {
        let tap = self
            .tap
            .clone()
            .with_tables(self.scripts.tables_for(ctx.actor()));
        match tap.run_lent(&mut Viewed(ctx)).await? {
            ScriptOutcome::Rejected {
                status, message, ..
            } => Err(TapError::reject(message).with_status(status)),
            ScriptOutcome::Continue | ScriptOutcome::Return { .. } => Ok(Flow::Continue),
        }
    }
}
