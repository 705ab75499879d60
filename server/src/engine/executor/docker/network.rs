//! The network of one job's own: its sandbox is the only container on it, so no other build (and
//! no other container of the host's) can reach the job or be reached from it.

use bollard::Docker;
use bollard::models::NetworkCreateRequest;

use super::{Objects, Resources, failed};
use crate::engine::executor::JobEnd;

/// Creates the job's network; returns its name.
pub async fn create(docker: &Docker, objects: &Objects<'_>, res: &mut Resources) -> Result<String, JobEnd> {
    let name = objects.name("net");
    let _ = docker.remove_network(&name).await;
    let request = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".into()),
        labels: Some(objects.labels("network")),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(|e| failed("creating the build's network", e))?;
    res.network = Some(name.clone());
    Ok(name)
}
