//! Script sources and loaded scripts: [`ScriptSource`] (code, name and [`Style`], from a file
//! or inline), and [`Script`], a source prepared for the workers (body-style macros rewritten,
//! positions mapped) and checked to compile.
//!
//! Loading goes through [`ScriptPool::load`](crate::ScriptPool::load); compiling and running
//! live in [`crate::worker`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::body::{self, SourceMap};
use crate::error::ScriptError;

/// Whether a body-style script is a pre-hook or a post-hook (Enfyra's `preHooks` /
/// `postHooks`): when its return value counts, and what it does. Written `"pre"` / `"post"`
/// in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPhase {
    /// A pre-hook: a returned value (anything but `undefined`) short-circuits the hook with that
    /// value; later scripts and taps do not run.
    Pre,
    /// A post-hook: a returned value replaces `@DATA` and the next script sees it.
    Post,
}

/// How a script is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// AdminForth style: an ES module whose default export is a (usually async) function of the
    /// context object, returning `{ ok: true }` or `{ ok: false, error }`.
    Function,
    /// Enfyra style: statements using `@BODY`, `@DATA`, `#table.find(…)` and the other macros,
    /// run as the body of an async function.
    Body(HookPhase),
}

/// A script's code, its name (a file path or a name given to inline code) and its style.
///
/// ```
/// use hookline_script::{HookPhase, ScriptSource, Style};
///
/// let source = ScriptSource::body("audit", "await #audit_logs.create({ data: { at: @STATUS } });", HookPhase::Post);
/// assert_eq!((source.name(), source.style()), ("audit", Style::Body(HookPhase::Post)));
/// ```
#[derive(Debug, Clone)]
pub struct ScriptSource {
    name: Arc<str>,
    code: Arc<str>,
    style: Style,
}

impl ScriptSource {
    /// A function-style script from inline code. `name` appears in errors and locations.
    pub fn function(name: impl Into<Arc<str>>, code: impl Into<Arc<str>>) -> Self {
        ScriptSource {
            name: name.into(),
            code: code.into(),
            style: Style::Function,
        }
    }

    /// A body-style script from inline code.
    pub fn body(name: impl Into<Arc<str>>, code: impl Into<Arc<str>>, phase: HookPhase) -> Self {
        ScriptSource {
            name: name.into(),
            code: code.into(),
            style: Style::Body(phase),
        }
    }

    /// Reads a script file (synchronously, as configuration is read). The path, as given,
    /// becomes the script's name.
    pub fn read(path: impl AsRef<Path>, style: Style) -> Result<Self, ScriptError> {
        let path = path.as_ref();
        let code = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ScriptSource {
            name: Arc::from(path.display().to_string()),
            code: Arc::from(code),
            style,
        })
    }

    /// The script's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The script's code, as written.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The script's style.
    pub fn style(&self) -> Style {
        self.style
    }
}

/// A loaded script: checked to compile, ready to run in a [`ScriptTap`](crate::ScriptTap).
///
/// Cheap to clone. Each worker compiles a script once, the first time it runs it, and keeps
/// the compiled function while any clone of the `Script` exists.
#[derive(Clone)]
pub struct Script {
    pub(crate) inner: Arc<ScriptInner>,
}

pub(crate) struct ScriptInner {
    /// Unique in the process, so workers can cache compiled scripts by id.
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) style: Style,
    /// The code QuickJS compiles (rewritten for body style).
    pub(crate) code: String,
    pub(crate) map: SourceMap,
    /// Set once the script, or one run in the same call, called the data API on a calling
    /// thread: its calls go straight to the workers from then on.
    pub(crate) offload: AtomicBool,
}

impl Script {
    /// Rewrites and maps a source; compiling is the worker's part.
    pub(crate) fn prepare(source: ScriptSource) -> Result<Script, ScriptError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (code, map) = match source.style {
            Style::Function => (
                source.code.to_string(),
                SourceMap::identity(source.name.clone(), source.code.clone()),
            ),
            Style::Body(_) => {
                let rewritten = body::rewrite(&source.name, &source.code)?;
                (rewritten.code, rewritten.map)
            }
        };
        Ok(Script {
            inner: Arc::new(ScriptInner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                name: source.name,
                style: source.style,
                code,
                map,
                offload: AtomicBool::new(false),
            }),
        })
    }

    /// The script's name (its file path, or the name given to inline code).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The script's style.
    pub fn style(&self) -> Style {
        self.inner.style
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.inner.name)
            .field("style", &self.inner.style)
            .finish()
    }
}
