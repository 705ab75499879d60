//! Dependency caches on a swarm: a named volume per repository and cache, on each node that
//! ran the repository's builds (the node creates it, with its labels, on first use). The
//! manager cannot list or remove node volumes, so clearing asks each node's engine.

use std::collections::HashMap;

use bollard::models::{Mount, MountType, MountVolumeOptions};

use super::nodes::NodeHosts;
use crate::engine::executor::docker::caches::{self as engine_caches, clear as clear_on_engine, volume_name};
use crate::engine::executor::docker::client::{LABEL_CACHE, LABEL_INSTANCE, LABEL_REPO};
use crate::engine::executor::docker::images::LABEL_RECIPE;
use crate::engine::executor::{CacheSize, CacheSpec};

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
            "{NO_NODE_HOSTS} Set SICURO_SWARM_NODE_HOSTS so Sicuro can, or run on each node: docker volume rm \
             $(docker volume ls -q --filter label={LABEL_INSTANCE}={instance} --filter label={LABEL_REPO}={repo_id})"
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

const NO_NODE_HOSTS: &str =
    "the dependency caches are volumes on the swarm's nodes, and a manager cannot see or remove those.";

/// Every cache's size, summed over the nodes that hold a copy. A node's caches are measured
/// with one of the job images it pulled (every node with a cache ran a job).
pub async fn sizes(nodes: &NodeHosts, instance: &str) -> Result<Vec<CacheSize>, String> {
    if nodes.is_empty() {
        return Err(format!(
            "{NO_NODE_HOSTS} Set SICURO_SWARM_NODE_HOSTS for SICURO_CACHE_LIMIT to apply."
        ));
    }
    let mut total: HashMap<(i64, String), u64> = HashMap::new();
    for (node, client) in nodes.clients().await {
        let docker = client.map_err(|e| format!("{node}: {e}"))?;
        let volumes = engine_caches::list(&docker, instance)
            .await
            .map_err(|e| format!("{node}: {e}"))?;
        if volumes.is_empty() {
            continue;
        }
        let filters = HashMap::from([("label".to_string(), vec![LABEL_RECIPE.to_string()])]);
        let images = docker
            .list_images(Some(
                bollard::query_parameters::ListImagesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| format!("{node}: {e}"))?;
        let image = images
            .first()
            .map(|i| i.id.clone())
            .ok_or_else(|| format!("{node} has caches but no job image to measure them with"))?;
        for size in engine_caches::sizes(&docker, instance, volumes, &image)
            .await
            .map_err(|e| format!("{node}: {e}"))?
        {
            *total.entry((size.repo_id, size.name)).or_default() += size.bytes;
        }
    }
    Ok(total
        .into_iter()
        .map(|((repo_id, name), bytes)| CacheSize { repo_id, name, bytes })
        .collect())
}

/// Removes one cache on every node; `Ok(false)` when a running job uses it somewhere.
pub async fn remove(nodes: &NodeHosts, instance: &str, repo_id: i64, name: &str) -> Result<bool, String> {
    let mut all = true;
    for (node, client) in nodes.clients().await {
        let docker = client.map_err(|e| format!("{node}: {e}"))?;
        all &= engine_caches::remove(&docker, instance, repo_id, name)
            .await
            .map_err(|e| format!("{node}: {e}"))?;
    }
    Ok(all)
}
