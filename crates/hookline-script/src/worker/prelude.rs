//! `prelude.js`, evaluated once in each context: it is handed `host` (the host functions
//! `host.log` and `host.table`, the only doors out of the sandbox) and returns the helpers a
//! call needs ([`Prelude`]). What the host functions do is in [`state`](super::state)
//! (`console` lines) and [`data_api`](super::data_api) (the data API).

use std::rc::Rc;

use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Function, Object, Persistent};

use super::state::CallState;

const PRELUDE: &str = include_str!("prelude.js");

/// What `prelude.js` returns.
pub(super) struct Prelude {
    pub(super) body_context: Persistent<Function<'static>>,
    pub(super) function_args: Persistent<Function<'static>>,
    pub(super) rejection: Persistent<Function<'static>>,
    pub(super) object_prototype: Persistent<Object<'static>>,
}

pub(super) fn install_prelude<'js>(
    ctx: &Ctx<'js>,
    state: &Rc<CallState>,
) -> rquickjs::Result<Prelude> {
    let mut options = EvalOptions::default();
    options.filename = Some("<hookline prelude>".into());
    let factory: Function = ctx.eval_with_options(PRELUDE, options)?;
    let host = Object::new(ctx.clone())?;
    let logs = state.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: i32, text: String| {
            logs.log(level, &text)
        })?,
    )?;
    let tables = state.clone();
    host.set(
        "table",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, method: String, table: String, args: String| {
                tables.table(&ctx, &method, &table, &args)
            },
        )?,
    )?;
    let helpers: Object = factory.call((host,))?;
    Ok(Prelude {
        body_context: Persistent::save(ctx, helpers.get::<_, Function>("bodyContext")?),
        function_args: Persistent::save(ctx, helpers.get::<_, Function>("functionArgs")?),
        rejection: Persistent::save(ctx, helpers.get::<_, Function>("rejection")?),
        object_prototype: Persistent::save(ctx, helpers.get::<_, Object>("objectPrototype")?),
    })
}
