//! A view of a mirror that shows one commit: a bare repository of a few files whose objects are
//! the mirror's (through `objects/info/alternates`, so nothing is copied) and whose only ref is
//! the commit. `git upload-pack` on it advertises that ref alone and, in the stateless protocol
//! served here, accepts only wants reachable from it: the commit and its history, nothing else.

use std::path::Path;

pub struct View {
    dir: tempfile::TempDir,
}

/// The ref the view's one commit is under (and HEAD points at).
pub const REF: &str = "refs/heads/sicuro-build";

impl View {
    pub fn create(repo: &Path, sha: &str) -> std::io::Result<View> {
        if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::other(format!("`{sha}` is not a full commit id")));
        }
        let objects = if repo.join("objects").is_dir() {
            repo.join("objects")
        } else {
            repo.join(".git/objects")
        };
        if !objects.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a git repository",
                repo.display()
            )));
        }
        let objects = objects.canonicalize()?;
        let dir = tempfile::Builder::new().prefix("sicuro-source-").tempdir()?;
        let root = dir.path();
        std::fs::create_dir_all(root.join("objects/info"))?;
        std::fs::create_dir_all(root.join("refs/heads"))?;
        std::fs::write(
            root.join("config"),
            "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
        )?;
        std::fs::write(root.join("HEAD"), format!("ref: {REF}\n"))?;
        std::fs::write(root.join(REF), format!("{}\n", sha.to_ascii_lowercase()))?;
        std::fs::write(root.join("objects/info/alternates"), format!("{}\n", objects.display()))?;
        Ok(View { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
