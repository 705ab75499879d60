//! Dependency caches: one named volume per repository and cache name, kept between builds and
//! removed on request.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptions};

use super::client::{LABEL_CACHE, LABEL_INSTANCE, LABEL_REPO, label_filter};
use super::failed;
use crate::engine::executor::{CacheSpec, JobEnd};

/// The volume of a repository's cache.
pub fn volume_name(instance: &str, cache: &CacheSpec) -> String {
    let inst: String = instance.chars().take(8).collect();
    format!("sicuro-cache-{inst}-r{}-{}", cache.repo_id, cache.name)
}

/// Creates the job's cache volumes (when missing) and returns their mounts.
pub async fn mounts(docker: &Docker, instance: &str, caches: &[CacheSpec]) -> Result<Vec<Mount>, JobEnd> {
    let mut mounts = Vec::new();
    for cache in caches {
        let name = volume_name(instance, cache);
        let volume = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(HashMap::from([
                (LABEL_INSTANCE.to_string(), instance.to_string()),
                (LABEL_CACHE.to_string(), "1".to_string()),
                (LABEL_REPO.to_string(), cache.repo_id.to_string()),
            ])),
            ..Default::default()
        };
        docker
            .create_volume(volume)
            .await
            .map_err(|e| failed("creating the dependency cache volume", e))?;
        mounts.push(Mount {
            target: Some(cache.mount.clone()),
            source: Some(name),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        });
    }
    Ok(mounts)
}

/// Removes the repository's cache volumes (branch and fork ones).
pub async fn clear(docker: &Docker, instance: &str, repo_id: i64) -> Result<usize, String> {
    let repo = repo_id.to_string();
    let filters = label_filter(&[(LABEL_INSTANCE, instance), (LABEL_CACHE, "1"), (LABEL_REPO, &repo)]);
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| e.to_string())?;
    let mut removed = 0;
    for v in volumes.volumes.unwrap_or_default() {
        docker
            .remove_volume(&v.name, None::<RemoveVolumeOptions>)
            .await
            .map_err(|e| {
                format!(
                    "cache {} could not be removed ({e}); a running build may be using it, try again when it ends",
                    v.name
                )
            })?;
        removed += 1;
    }
    Ok(removed)
}
