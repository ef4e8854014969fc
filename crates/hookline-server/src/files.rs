//! Where script files come from: a directory on disk (a user's config) or text built into the
//! binary (the demo). [`ScriptFiles::source`] reads one as a [`ScriptSource`].

use std::io;
use std::path::PathBuf;

use hookline_script::{ScriptError, ScriptSource, Style};

/// The place script paths of a config resolve in.
#[derive(Debug, Clone)]
pub(crate) enum ScriptFiles {
    /// Files relative to a directory (the config file's).
    Dir(PathBuf),
    /// Files built into the binary: `(path, text)`.
    Embedded(&'static [(&'static str, &'static str)]),
}

impl Default for ScriptFiles {
    fn default() -> Self {
        ScriptFiles::Dir(PathBuf::from("."))
    }
}

impl ScriptFiles {
    /// Reads the script at `path` (as written in the config) in `style`.
    pub(crate) fn source(&self, path: &str, style: Style) -> Result<ScriptSource, ScriptError> {
        match self {
            ScriptFiles::Dir(dir) => ScriptSource::read(dir.join(path), style),
            ScriptFiles::Embedded(files) => {
                let Some((name, code)) = files.iter().find(|(name, _)| *name == path) else {
                    return Err(ScriptError::Read {
                        path: PathBuf::from(path),
                        source: io::Error::new(io::ErrorKind::NotFound, "no such built-in file"),
                    });
                };
                Ok(match style {
                    Style::Function => ScriptSource::function(*name, *code),
                    Style::Body(role) => ScriptSource::body(*name, *code, role),
                })
            }
        }
    }
}
