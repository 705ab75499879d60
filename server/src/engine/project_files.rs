//! The few files at the repository's root whose contents the plan reads (besides their names):
//! read by whoever fetches the source (the mirror for server builds, the working tree for
//! `sicuro run`), before the job starts.

use std::collections::BTreeMap;

/// The files whose contents decide default commands: `pyproject.toml` names the test extra and
/// the test dependency group a Python project installs, `package.json` the package manager of
/// a Node project (`packageManager`).
pub const NAMES: &[&str] = &["pyproject.toml", "package.json"];

/// Larger files are left out (treated as unreadable): no real project's manifest comes near.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Contents of the root files in [`NAMES`] that exist, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectFiles(BTreeMap<String, String>);

impl ProjectFiles {
    /// Keeps `contents` when `name` is one of [`NAMES`] and it is UTF-8 text of a sane size.
    pub fn insert(&mut self, name: &str, contents: &[u8]) {
        if NAMES.contains(&name)
            && contents.len() <= MAX_BYTES
            && let Ok(text) = std::str::from_utf8(contents)
        {
            self.0.insert(name.to_string(), text.to_string());
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Reads them from a directory (a working tree).
    pub fn read_dir(dir: &std::path::Path) -> std::io::Result<Self> {
        let mut files = Self::default();
        for name in NAMES {
            match std::fs::read(dir.join(name)) {
                Ok(bytes) => files.insert(name, &bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(files)
    }
}
