//! How a script's run ended badly, as a [`ScriptError`] or a rejection ([`Failure`]): QuickJS
//! errors classified (a tripped limit, a memory or stack limit, `@THROW4xx`, an exception),
//! compile errors, and positions mapped from a stack frame back to the script's source. Values
//! are described for messages by [`describe`]. Deciding what a failure does to the call is the
//! caller's ([`run`](super::run), [`engine`](super::engine)).

use std::sync::Arc;

use rquickjs::{Ctx, Exception, Function, Value};

use crate::body::SourceMap;
use crate::error::{Limit, Location, ScriptError, shorten};
use crate::pool::PoolConfig;
use crate::source::{Script, ScriptInner};

use super::state::{CallState, Trip};

/// A script's run ended badly: a rejection (`@THROW4xx`) or an error.
pub(super) enum Failure {
    Reject { status: u16, message: String },
    Error(ScriptError),
}

/// Classifies an error from QuickJS: a limit, a rejection, or an exception with its position.
pub(super) fn failure<'js>(
    ctx: &Ctx<'js>,
    error: rquickjs::Error,
    script: &ScriptInner,
    state: &CallState,
    config: &PoolConfig,
    rejection: Option<&Function<'js>>,
) -> Failure {
    let name = script.name.clone();
    let exception = matches!(error, rquickjs::Error::Exception).then(|| ctx.catch());
    let stack = exception
        .as_ref()
        .and_then(|e| e.as_exception())
        .and_then(Exception::stack);
    let location = stack
        .as_deref()
        .and_then(|s| stack_location(s, &script.map));
    let limit = |limit: Limit, location: Option<Location>| {
        Failure::Error(ScriptError::LimitExceeded {
            script: name.clone(),
            limit,
            location,
        })
    };
    match state.tripped.get() {
        Some(Trip::Time) => return limit(Limit::Time(config.time_limit), location),
        // An offloaded run's result is dropped (see `call_inline`).
        Some(Trip::Cancelled | Trip::Offload) => {
            return Failure::Error(ScriptError::Cancelled { script: name });
        }
        None => {}
    }
    if matches!(error, rquickjs::Error::Allocation) {
        return limit(Limit::Memory(config.memory_limit), location);
    }
    let Some(value) = exception else {
        return Failure::Error(ScriptError::Engine {
            script: name,
            message: error.to_string(),
        });
    };
    if let Some(rejection) = rejection
        && let Ok(found) = rejection.call::<_, Value>((value.clone(),))
        && let Some(found) = found.as_array()
    {
        let status = found.get::<i32>(0).ok();
        let message = found.get::<String>(1).ok();
        if let (Some(status), Some(message)) = (status, message) {
            return Failure::Reject {
                status: u16::try_from(status).unwrap_or(500),
                message,
            };
        }
    }
    let Some(exception) = value.as_exception() else {
        return Failure::Error(ScriptError::Thrown {
            script: name,
            message: format!("the value {}", describe(ctx, &value)),
            location,
        });
    };
    let kind = exception
        .get::<_, Value>("name")
        .ok()
        .and_then(|n| n.as_string().and_then(|s| s.to_string().ok()))
        .unwrap_or_else(|| "Error".to_string());
    let message = exception.message().unwrap_or_default();
    match (kind.as_str(), message.as_str()) {
        ("InternalError", "out of memory") => limit(Limit::Memory(config.memory_limit), location),
        ("RangeError", "Maximum call stack size exceeded") => {
            limit(Limit::Stack(config.stack_limit), location)
        }
        _ => Failure::Error(ScriptError::Thrown {
            script: name,
            message: format!("{kind}: {message}"),
            location,
        }),
    }
}

/// A compile-time failure: a syntax error with its position, or whatever the module's top level
/// did.
pub(super) fn compile_failure<'js>(
    ctx: &Ctx<'js>,
    error: rquickjs::Error,
    script: &ScriptInner,
    state: &CallState,
    config: &PoolConfig,
) -> ScriptError {
    match failure(ctx, error, script, state, config, None) {
        Failure::Error(ScriptError::Thrown {
            message,
            location: Some(location),
            ..
        }) if message.starts_with("SyntaxError") => ScriptError::Syntax { location, message },
        Failure::Error(ScriptError::Thrown {
            script,
            message,
            location,
        }) if message.contains("could not load module") => ScriptError::Thrown {
            script,
            message: format!("{message} (scripts cannot import modules)"),
            location,
        },
        Failure::Error(error) => error,
        Failure::Reject { status, message } => ScriptError::Thrown {
            script: script.name.clone(),
            message: format!("HttpError {status} while loading: {message}"),
            location: None,
        },
    }
}

pub(super) fn unsettled(
    script: &ScriptInner,
    state: &CallState,
    config: &PoolConfig,
) -> ScriptError {
    match state.tripped.get() {
        Some(Trip::Time) => ScriptError::LimitExceeded {
            script: script.name.clone(),
            limit: Limit::Time(config.time_limit),
            location: None,
        },
        Some(Trip::Cancelled | Trip::Offload) => ScriptError::Cancelled {
            script: script.name.clone(),
        },
        None => ScriptError::Unsettled {
            script: script.name.clone(),
        },
    }
}

pub(super) fn engine_error(script: Option<&Script>, message: &str) -> ScriptError {
    ScriptError::Engine {
        script: script.map_or_else(|| Arc::from("<none>"), |s| s.inner.name.clone()),
        message: message.to_string(),
    }
}

/// The innermost stack frame in the script's own file, mapped to its source position. Frames
/// read `    at name (file:line:column)` or `    at file:line:column`.
fn stack_location(stack: &str, map: &SourceMap) -> Option<Location> {
    stack.lines().find_map(|frame| {
        let frame = frame.trim().strip_prefix("at ")?;
        let position = match (frame.rfind('('), frame.strip_suffix(')')) {
            (Some(open), Some(inner)) => &inner[open + 1..],
            _ => frame,
        };
        let mut parts = position.rsplitn(3, ':');
        let column: u32 = parts.next()?.parse().ok()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        (file == &**map.file()).then(|| map.locate(line, column))
    })
}

/// A value for an error message: its JSON (shortened), or its type.
pub(super) fn describe<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if value.is_undefined() {
        return "undefined".to_string();
    }
    if value.is_function() {
        return "a function".to_string();
    }
    match ctx.json_stringify(value.clone()) {
        Ok(Some(text)) => text
            .to_string()
            .map_or_else(|_| value.type_name().to_string(), shorten),
        Ok(None) => value.type_name().to_string(),
        Err(_) => {
            ctx.catch();
            value.type_name().to_string()
        }
    }
}
