//! The engine's share of retention: finished builds beyond a repository's count or age go with
//! their logs, and the mirrors drop the refs of fork pull requests nothing builds any more
//! (then `git gc --auto` decides whether to pack and prune).

use super::Engine;
use crate::db::{now_ms, pruning, repos};

/// What one retention pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub builds: u64,
    pub fork_refs: u64,
}

/// Builds removed per round (one transaction each).
const BATCH: i64 = 2_000;

impl Engine {
    /// Removes what the retention settings no longer keep (see `config::RetentionConfig`).
    pub async fn prune(&self) -> Result<Pruned, sqlx::Error> {
        let policy = &self.0.config.retention;
        let before = now_ms() - i64::try_from(policy.keep_builds_for.as_millis()).unwrap_or(i64::MAX);
        let mut pruned = Pruned::default();
        for repo in repos::list(&self.0.db).await? {
            loop {
                let ids = pruning::prunable_builds(&self.0.db, repo.id, policy.keep_builds, before, BATCH).await?;
                if ids.is_empty() {
                    break;
                }
                // The logs first: a crash in between leaves rows that the next pass removes,
                // never log files nothing points at.
                for id in &ids {
                    self.0.logs.remove(*id);
                }
                pruned.builds += pruning::delete_builds(&self.0.db, &ids).await?;
            }
            if !pruning::has_active_fork_build(&self.0.db, repo.id).await? {
                pruned.fork_refs += self.0.mirrors.prune_fork_refs(repo.id).await;
            }
        }
        Ok(pruned)
    }
}
