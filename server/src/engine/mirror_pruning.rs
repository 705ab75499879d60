//! A mirror keeps the refs of fork pull requests under `refs/forks/`; once nothing builds a
//! fork's code any more they go, and `git gc --auto` packs and prunes when git thinks it due.

use super::checkout::{Credentials, Mirrors, git};

impl Mirrors {
    /// Deletes the mirror's fork refs; returns how many. Nothing when the mirror is missing.
    pub async fn prune_fork_refs(&self, repo_id: i64) -> u64 {
        let dir = self.path(repo_id);
        if !dir.exists() {
            return 0;
        }
        let lock = self.lock(repo_id);
        let _guard = lock.lock().await;
        let none = Credentials::default();
        let Ok(refs) = git(&dir, &["for-each-ref", "--format=%(refname)", "refs/forks/"], &none).await else {
            return 0;
        };
        let refs = String::from_utf8_lossy(&refs).into_owned();
        let mut deleted = 0;
        for r in refs.lines().filter(|r| r.starts_with("refs/forks/")) {
            if git(&dir, &["update-ref", "-d", r], &none).await.is_ok() {
                deleted += 1;
            }
        }
        if let Err(e) = git(&dir, &["gc", "--auto", "--quiet"], &none).await {
            tracing::warn!(repo = repo_id, "git gc on the mirror failed: {e}");
        }
        deleted
    }
}
