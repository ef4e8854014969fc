//! `hookline init`: writes the demo's config and scripts into a directory as a starting point.

use std::io;
use std::path::{Path, PathBuf};

use crate::demo::{CONFIG, FILES};

/// Writing the starter files failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A file exists already; nothing was written.
    #[error("`{}` exists already; nothing was written (use --force to overwrite)", .0.display())]
    Exists(PathBuf),
    /// A file or directory could not be written.
    #[error("cannot write `{}`: {source}", .path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Writes `hookline.toml` and its scripts (the demo: AdminForth's apartments example) into
/// `dir`, returning the paths written. Refuses to overwrite unless `force`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("hookline-init-doc-{}", std::process::id()));
/// let written = hookline_server::init(&dir, false)?;
/// assert!(written.iter().any(|p| p.ends_with("hookline.toml")));
/// assert!(hookline_server::init(&dir, false).is_err()); // no silent overwrite
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hookline_server::InitError>(())
/// ```
pub fn init(dir: &Path, force: bool) -> Result<Vec<PathBuf>, InitError> {
    let files: Vec<(PathBuf, &str)> = std::iter::once((dir.join("hookline.toml"), CONFIG))
        .chain(FILES.iter().map(|(path, text)| (dir.join(path), *text)))
        .collect();
    if !force && let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(InitError::Exists(existing.clone()));
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, text) in files {
        let write = |path: &Path| -> io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        };
        write(&path).map_err(|source| InitError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
