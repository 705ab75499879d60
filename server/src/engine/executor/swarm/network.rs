//! The overlay network private to one attempt at a job: its services and the job meet there, by
//! name (DNS round-robin, no routing mesh). Attachable, so a container started by hand on a node
//! can join it when debugging a build.

use bollard::Docker;
use bollard::models::NetworkCreateRequest;

use super::manager::Manager;
use super::objects::Objects;
use crate::engine::executor::JobEnd;

pub async fn create(docker: &Docker, manager: &Manager, objects: &Objects<'_>) -> Result<String, JobEnd> {
    let name = objects.name("net");
    docker
        .create_network(NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(objects.labels("network")),
            ..Default::default()
        })
        .await
        .map_err(|e| manager.failed("creating the build's overlay network", e))?;
    Ok(name)
}
