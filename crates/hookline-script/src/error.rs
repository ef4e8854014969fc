//! Errors of the script layer: [`ScriptError`] for loading and running scripts, with the
//! [`Location`] in the script's own file and the [`Limit`] a script ran into; [`ContextError`]
//! for values that do not fit a hook's context.
//!
//! Errors of the data APIs scripts call (`#table.find(…)`) are
//! [`TableError`](crate::TableError)s and live with them in [`crate::data_api`].

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::schema::ColumnType;

/// A position in a script's own file: the file name (or the name an inline script was given),
/// the 1-based line and the 1-based column in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The script's file name.
    pub file: Arc<str>,
    /// The line, from 1.
    pub line: u32,
    /// The column in characters, from 1.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A sandbox limit, with its configured value (see [`PoolConfig`](crate::PoolConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Wall-clock time of one script run, host calls included.
    Time(Duration),
    /// Memory of the worker's JavaScript heap, in bytes.
    Memory(usize),
    /// JavaScript stack size, in bytes (unbounded recursion ends here).
    Stack(usize),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Time(limit) => write!(f, "time limit of {limit:?}"),
            Limit::Memory(bytes) => write!(f, "memory limit of {}", Bytes(*bytes)),
            Limit::Stack(bytes) => write!(f, "stack limit of {}", Bytes(*bytes)),
        }
    }
}

/// Formats a byte count as MiB or KiB when it is a whole number of them.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1 << 10;
        const MIB: usize = 1 << 20;
        match self.0 {
            0 => f.write_str("0 bytes"),
            n if n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// A script that could not be loaded or did not run to completion.
///
/// Every variant about a running script names it; where QuickJS knows a position, it is mapped
/// back to the script's own file ([`ScriptError::location`]), through the rewriting of
/// body-style macros.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The script file could not be read.
    #[error("cannot read script `{}`: {source}", .path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The script does not parse.
    #[error("{location}: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// QuickJS's message, e.g. `SyntaxError: unexpected token in expression: ';'`.
        message: String,
    },
    /// A body-style script uses a macro hookline does not provide.
    #[error("{location}: {message}")]
    Macro {
        /// Where the macro is.
        location: Location,
        /// What is wrong and which macros exist.
        message: String,
    },
    /// A function-style script does not `export default` a function.
    #[error(
        "script `{script}` must `export default` a function, e.g. `export default async ({{ record }}) => ({{ ok: true }})`; its default export is {found}"
    )]
    NoDefaultExport {
        /// The script.
        script: Arc<str>,
        /// What it exports instead.
        found: String,
    },
    /// The script threw an exception (or its promise rejected) that is not a rejection.
    #[error("script `{script}` threw {message}{}", at(.location))]
    Thrown {
        /// The script.
        script: Arc<str>,
        /// The exception, e.g. `TypeError: cannot read property 'x' of null`.
        message: String,
        /// The innermost position in the script's file, if the exception has a stack.
        location: Option<Location>,
    },
    /// The script ran into a sandbox limit and was stopped.
    #[error("script `{script}` was stopped: it exceeded the {limit}{}", at(.location))]
    LimitExceeded {
        /// The script.
        script: Arc<str>,
        /// The limit, with its configured value.
        limit: Limit,
        /// Where the script was when it was stopped, if known.
        location: Option<Location>,
    },
    /// The script returned something other than what its style requires.
    #[error("script `{script}` must return {expected}; it returned {found}")]
    BadReturn {
        /// The script.
        script: Arc<str>,
        /// What was expected.
        expected: &'static str,
        /// What came back (as JSON, shortened, or its type).
        found: String,
    },
    /// A pre-hook's returned value does not convert to the hook's output type.
    #[error(
        "script `{script}` returned a value that does not convert to the hook's output type `{output_type}`: {source}"
    )]
    Output {
        /// The script.
        script: Arc<str>,
        /// The Rust type the hook short-circuits with.
        output_type: &'static str,
        /// The conversion error.
        #[source]
        source: serde_json::Error,
    },
    /// The script awaited a promise that can never settle (nothing is left to run).
    #[error("script `{script}` awaits a promise that never settles")]
    Unsettled {
        /// The script.
        script: Arc<str>,
    },
    /// The script was stopped because its caller stopped waiting (its future was dropped,
    /// e.g. by a tap timeout).
    #[error("script `{script}` was stopped because its caller stopped waiting")]
    Cancelled {
        /// The script.
        script: Arc<str>,
    },
    /// The values the scripts left do not fit the hook's context.
    #[error("the values left by script(s) {scripts} do not fit the hook context: {source}")]
    Context {
        /// The scripts of the call, comma-separated.
        scripts: String,
        /// What did not fit.
        #[source]
        source: ContextError,
    },
    /// The worker running the script failed inside hookline or QuickJS (not the script's
    /// fault); the worker's engine was rebuilt and serves the next call.
    #[error("the script worker failed while running `{script}`: {message}")]
    Engine {
        /// The script.
        script: Arc<str>,
        /// What failed.
        message: String,
    },
    /// The pool's workers are gone (the pool failed to start a runtime, or every worker exited).
    #[error("the script pool has no running workers: {0}")]
    PoolClosed(String),
}

fn at(location: &Option<Location>) -> String {
    location
        .as_ref()
        .map(|l| format!(" at {l}"))
        .unwrap_or_default()
}

impl ScriptError {
    /// Where in the script's file the error is, when known.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ScriptError::Syntax { location, .. } | ScriptError::Macro { location, .. } => {
                Some(location)
            }
            ScriptError::Thrown { location, .. } | ScriptError::LimitExceeded { location, .. } => {
                location.as_ref()
            }
            _ => None,
        }
    }

    /// The sandbox limit the script ran into, if that is what stopped it.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            ScriptError::LimitExceeded { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// The script the error is about, if it is about one script.
    pub fn script(&self) -> Option<&str> {
        match self {
            ScriptError::NoDefaultExport { script, .. }
            | ScriptError::Thrown { script, .. }
            | ScriptError::LimitExceeded { script, .. }
            | ScriptError::BadReturn { script, .. }
            | ScriptError::Output { script, .. }
            | ScriptError::Unsettled { script }
            | ScriptError::Cancelled { script }
            | ScriptError::Engine { script, .. } => Some(script),
            ScriptError::Syntax { location, .. } | ScriptError::Macro { location, .. } => {
                Some(&location.file)
            }
            _ => None,
        }
    }
}

/// Values that do not fit a hook context: a column of the wrong type, or a value a context
/// cannot take back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// A value does not fit the declared type of its column.
    #[error("`{path}` is {} column, but the value is {found}", crate::schema::article(*.expected))]
    ColumnType {
        /// Where the value is, e.g. `record.price` or `response[2].price`.
        path: String,
        /// The declared type.
        expected: ColumnType,
        /// The value found (JSON, shortened).
        found: String,
    },
    /// A value could not be converted to or from the context's Rust types.
    #[error("`{key}`: {source}")]
    Convert {
        /// The top-level key of the value.
        key: String,
        /// The conversion error.
        #[source]
        source: serde_json::Error,
    },
    /// A context-specific problem, with a message for the user.
    #[error("{0}")]
    Invalid(String),
}

impl ContextError {
    /// A context-specific problem with this message (for implementations of
    /// [`ScriptContext`](crate::ScriptContext)).
    pub fn invalid(message: impl Into<String>) -> Self {
        ContextError::Invalid(message.into())
    }
}

/// Shortens a JSON rendering of `value` for an error message.
pub(crate) fn short_json(value: &serde_json::Value) -> String {
    shorten(value.to_string())
}

/// Cuts `text` to a length that fits an error message.
pub(crate) fn shorten(text: String) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_in_units() {
        assert_eq!(
            Limit::Memory(16 << 20).to_string(),
            "memory limit of 16 MiB"
        );
        assert_eq!(
            Limit::Stack(512 << 10).to_string(),
            "stack limit of 512 KiB"
        );
        assert_eq!(Limit::Stack(1000).to_string(), "stack limit of 1000 bytes");
        assert_eq!(
            Limit::Time(Duration::from_millis(50)).to_string(),
            "time limit of 50ms"
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let long = serde_json::Value::String("x".repeat(500));
        let s = short_json(&long);
        assert!(s.ends_with('…') && s.chars().count() == 121);
    }
}
