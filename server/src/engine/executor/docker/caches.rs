//! Dependency caches: one named volume per repository and cache name, kept between builds and
//! removed on request or, least recently used first, when they outgrow `SICURO_CACHE_LIMIT`
//! (their sizes are measured by a short container that mounts them read-only: Docker's own
//! figures, `GET /system/df`, changed shape between API versions and walk every volume anyway).

use std::collections::HashMap;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions};
use futures::StreamExt;

use super::client::{LABEL_CACHE, LABEL_INSTANCE, LABEL_REPO, LABEL_ROLE, label_filter};
use super::failed;
use crate::engine::executor::{CacheSize, CacheSpec, JobEnd};

/// The volume of a repository's cache.
pub fn volume_name(instance: &str, cache: &CacheSpec) -> String {
    volume_of(instance, cache.repo_id, &cache.name)
}

fn volume_of(instance: &str, repo_id: i64, name: &str) -> String {
    format!("{}r{repo_id}-{name}", volume_prefix(instance))
}

fn volume_prefix(instance: &str) -> String {
    let inst: String = instance.chars().take(8).collect();
    format!("sicuro-cache-{inst}-")
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

/// One cache volume of this instance.
pub struct CacheVolume {
    pub volume: String,
    pub repo_id: i64,
    pub name: String,
}

/// This instance's cache volumes.
pub async fn list(docker: &Docker, instance: &str) -> Result<Vec<CacheVolume>, String> {
    let filters = label_filter(&[(LABEL_INSTANCE, instance), (LABEL_CACHE, "1")]);
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| e.to_string())?;
    let prefix = volume_prefix(instance);
    Ok(volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| {
            let repo_id: i64 = v.labels.get(LABEL_REPO)?.parse().ok()?;
            let name = v
                .name
                .strip_prefix(&prefix)?
                .strip_prefix(&format!("r{repo_id}-"))?
                .to_string();
            Some(CacheVolume {
                volume: v.name,
                repo_id,
                name,
            })
        })
        .collect())
}

/// The size on disk of these cache volumes, measured by a container of `image` (any image with
/// a shell and `du`) that mounts them all read-only and has no network. It is removed before
/// this returns (a volume it mounts cannot be removed); one a crash leaves behind carries the
/// instance's label, so the reaper removes it.
pub async fn sizes(
    docker: &Docker,
    instance: &str,
    volumes: Vec<CacheVolume>,
    image: &str,
) -> Result<Vec<CacheSize>, String> {
    if volumes.is_empty() {
        return Ok(Vec::new());
    }
    let mounts = volumes
        .iter()
        .map(|v| Mount {
            target: Some(format!("/caches/{}", v.volume)),
            source: Some(v.volume.clone()),
            typ: Some(MountType::VOLUME),
            read_only: Some(true),
            ..Default::default()
        })
        .collect();
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            r#"for d in /caches/*; do du -s -B1 "$d" 2>/dev/null || echo "? $d"; done"#.into(),
        ]),
        labels: Some(HashMap::from([
            (LABEL_INSTANCE.to_string(), instance.to_string()),
            (LABEL_ROLE.to_string(), "cache-sizes".to_string()),
        ])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            network_mode: Some("none".into()),
            // Reading is all it does, whoever owns the files (a job may run as another user).
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["DAC_READ_SEARCH".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            memory: Some(64 * 1024 * 1024),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker
        .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
        .await
        .map_err(|e| format!("creating the container that measures the caches: {e}"))?
        .id;
    let said = measure(docker, &id).await;
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    let removed = docker.remove_container(&id, Some(force)).await;
    let said = said?;
    removed.map_err(|e| format!("removing the container that measured the caches: {e}"))?;
    let measured = parse_du(&String::from_utf8_lossy(&said));
    Ok(volumes
        .into_iter()
        .filter_map(|v| {
            let bytes = *measured.get(&format!("/caches/{}", v.volume))?;
            Some(CacheSize {
                repo_id: v.repo_id,
                name: v.name,
                bytes,
            })
        })
        .collect())
}

/// Runs the measuring container to its end; returns what it printed.
async fn measure(docker: &Docker, id: &str) -> Result<Vec<u8>, String> {
    let what = "the container that measures the caches";
    let mut output = super::container::attach_and_start(docker, id, what)
        .await
        .map_err(|e| match e {
            JobEnd::Failed(message) => message,
            other => format!("{what}: {other:?}"),
        })?;
    let mut said = Vec::new();
    while let Some(chunk) = output.next().await {
        match chunk {
            Ok(LogOutput::StdOut { message }) => said.extend_from_slice(&message),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the caches' sizes: {e}")),
        }
    }
    Ok(said)
}

/// `du -s -B1` lines (`<bytes>\t<path>`) by path.
fn parse_du(output: &str) -> HashMap<String, u64> {
    output
        .lines()
        .filter_map(|line| {
            let (bytes, path) = line.split_once('\t')?;
            Some((path.trim().to_string(), bytes.trim().parse().ok()?))
        })
        .collect()
}

/// Removes one cache volume; `Ok(false)` when a running job has it mounted (it stays).
pub async fn remove(docker: &Docker, instance: &str, repo_id: i64, name: &str) -> Result<bool, String> {
    let volume = volume_of(instance, repo_id, name);
    match docker.remove_volume(&volume, None::<RemoveVolumeOptions>).await {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(false),
        Err(e) => Err(format!("cache {volume} could not be removed: {e}")),
    }
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

#[cfg(test)]
mod tests {
    use super::parse_du;

    #[test]
    fn du_lines_give_each_volume_its_bytes_and_unreadable_ones_none() {
        let sizes = parse_du(
            "4096\t/caches/sicuro-cache-ab-r1-node\n? /caches/x\n2101248\t/caches/sicuro-cache-ab-r2-rust-forks\n",
        );
        assert_eq!(sizes.get("/caches/sicuro-cache-ab-r1-node"), Some(&4096));
        assert_eq!(sizes.get("/caches/sicuro-cache-ab-r2-rust-forks"), Some(&2_101_248));
        assert_eq!(sizes.len(), 2);
    }
}
