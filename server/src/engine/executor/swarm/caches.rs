//! Dependency caches on a swarm: a named volume per repository and cache, on each node that
//! ran the repository's builds (the node creates it, with its labels, on first use). The
//! manager cannot list or remove node volumes, so clearing asks each node's engine.

use std::collections::HashMap;

use bollard::models::{Mount, MountType, MountVolumeOptions};

use super::nodes::NodeHosts;
use crate::engine::executor::CacheSpec;
use crate::engine::executor::docker::caches::{clear as clear_on_engine, volume_name};
use crate::engine::executor::docker::client::{LABEL_CACHE, LABEL_INSTANCE, LABEL_REPO};

pub fn mounts(instance: &str, caches: &[CacheSpec]) -> Vec<Mount> {
    caches
        .iter()
        .map(|c| Mount {
            target: Some(c.mount.clone()),
            source: Some(volume_name(instance, c)),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(HashMap::from([
                    (LABEL_INSTANCE.to_string(), instance.to_string()),
                    (LABEL_CACHE.to_string(), "1".to_string()),
                    (LABEL_REPO.to_string(), c.repo_id.to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// Removes the repository's cache volumes on every configured node; returns how many.
pub async fn clear(nodes: &NodeHosts, instance: &str, repo_id: i64) -> Result<usize, String> {
    if nodes.is_empty() {
        return Err(format!(
            "the dependency caches are volumes on the swarm's nodes, and a manager cannot remove those. Set \
             SICURO_SWARM_NODE_HOSTS so Sicuro can, or run on each node: docker volume rm $(docker volume ls -q \
             --filter label={LABEL_INSTANCE}={instance} --filter label={LABEL_REPO}={repo_id})"
        ));
    }
    let mut removed = 0;
    let mut problems = Vec::new();
    for (node, client) in nodes.clients().await {
        let result = match client {
            Ok(docker) => clear_on_engine(&docker, instance, repo_id).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(n) => removed += n,
            Err(e) => problems.push(format!("{node}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(removed)
    } else {
        Err(format!(
            "{removed} cache volume(s) removed, but not on every node: {}",
            problems.join("; ")
        ))
    }
}
