//! The engine's share of retention: finished builds beyond a repository's count or age go with
//! their logs, the mirrors drop the refs of fork pull requests nothing builds any more (then
//! `git gc --auto` decides whether to pack and prune), the dependency caches are held to their
//! total size, least recently used first, and job images of older recipe versions go once
//! nothing uses them.

use super::Engine;
use crate::db::{caches, now_ms, pruning, repos};
use crate::engine::executor::CacheSize;

/// What one retention pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub builds: u64,
    pub fork_refs: u64,
    pub caches: u64,
    /// The bytes those caches held.
    pub cache_bytes: u64,
    pub images: u64,
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
        self.prune_caches(&mut pruned).await?;
        match self.0.executor.remove_old_images(policy.keep_old_images_for).await {
            Ok(n) => pruned.images = n as u64,
            Err(e) => tracing::info!("job images of older recipe versions stay for now: {e}"),
        }
        Ok(pruned)
    }

    /// Removes the least recently used caches until their total is within the limit. A cache a
    /// running job uses stays, and the next in line goes instead.
    async fn prune_caches(&self, pruned: &mut Pruned) -> Result<(), sqlx::Error> {
        let sizes = match self.0.executor.cache_sizes().await {
            Ok(s) => s,
            Err(e) => {
                tracing::info!("the dependency caches could not be measured, so none is removed: {e}");
                return Ok(());
            }
        };
        let limit = self.0.config.retention.cache_limit_bytes;
        let mut total: u64 = sizes.iter().map(|c| c.bytes).sum();
        for cache in least_recently_used_first(sizes, &caches::last_uses(&self.0.db).await?) {
            if total <= limit {
                break;
            }
            match self.0.executor.remove_cache(cache.repo_id, &cache.name).await {
                Ok(true) => {
                    caches::forget(&self.0.db, cache.repo_id, &cache.name).await?;
                    total = total.saturating_sub(cache.bytes);
                    pruned.caches += 1;
                    pruned.cache_bytes += cache.bytes;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!("retention: {e}"),
            }
        }
        Ok(())
    }
}

/// The caches in the order they go: least recently used first; one whose use Sicuro has no
/// record of (made before it kept any) counts as the oldest; among equals the larger first.
fn least_recently_used_first(
    mut sizes: Vec<CacheSize>,
    last_uses: &std::collections::HashMap<(i64, String), i64>,
) -> Vec<CacheSize> {
    let last_use = |c: &CacheSize| last_uses.get(&(c.repo_id, c.name.clone())).copied().unwrap_or(0);
    sizes.sort_by_key(|c| (last_use(c), std::cmp::Reverse(c.bytes)));
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(repo_id: i64, name: &str, bytes: u64) -> CacheSize {
        CacheSize {
            repo_id,
            name: name.into(),
            bytes,
        }
    }

    #[test]
    fn the_least_recently_used_go_first_and_unrecorded_ones_before_them() {
        let uses = std::collections::HashMap::from([
            ((1, "node".to_string()), 300),
            ((2, "rust".to_string()), 100),
            ((3, "go".to_string()), 200),
        ]);
        let sizes = vec![
            cache(1, "node", 50),
            cache(2, "rust", 40),
            cache(3, "go", 30),
            cache(4, "base", 5),
            cache(5, "base", 7),
        ];
        let order: Vec<_> = least_recently_used_first(sizes, &uses)
            .into_iter()
            .map(|c| c.repo_id)
            .collect();
        assert_eq!(order, [5, 4, 2, 3, 1]);
    }
}
