//! The network private to one job, so its services are reachable by name from it alone.

use bollard::Docker;
use bollard::models::NetworkCreateRequest;

use super::{Objects, Resources, failed};
use crate::engine::executor::JobEnd;

/// Creates the job's network when it has services (`wanted`); returns its name.
pub async fn create(
    docker: &Docker,
    objects: &Objects<'_>,
    wanted: bool,
    res: &mut Resources,
) -> Result<Option<String>, JobEnd> {
    if !wanted {
        return Ok(None);
    }
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
    Ok(Some(name))
}
