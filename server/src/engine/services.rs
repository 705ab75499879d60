//! Service containers (PostgreSQL, Redis) started fresh for one build, on a network private to
//! that build, and waited for until they accept connections.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointSettings, ExecConfig, HostConfig, NetworkingConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::StreamExt;

pub use super::service_kind::ServiceKind;

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("service {service} could not be started: {message}")]
    Start { service: &'static str, message: String },
    #[error("service {0} did not accept connections within {READY_TIMEOUT:?}")]
    NotReady(&'static str),
}

/// Creates and starts a service container of `image` (the reference of `kind`'s image to run) on
/// `network`, reachable as its name; returns its id.
pub async fn start(
    docker: &Docker,
    kind: ServiceKind,
    image: &str,
    name: &str,
    network: &str,
    labels: std::collections::HashMap<String, String>,
) -> Result<String, ServiceError> {
    let fail = |e: bollard::errors::Error| ServiceError::Start {
        service: kind.name(),
        message: e.to_string(),
    };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_string()),
            // Services are throwaway: keep their data in memory-backed storage and cap them.
            memory: Some(1024 * 1024 * 1024),
            pids_limit: Some(512),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(
                [(
                    network.to_string(),
                    EndpointSettings {
                        aliases: Some(vec![kind.name().to_string()]),
                        ..Default::default()
                    },
                )]
                .into(),
            ),
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .map_err(fail)?;
    docker.start_container(&created.id, None).await.map_err(fail)?;
    Ok(created.id)
}

/// Waits until the service answers its readiness check, backing off between attempts.
pub async fn wait_ready(docker: &Docker, kind: ServiceKind, container: &str) -> Result<Duration, ServiceError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    while started.elapsed() < READY_TIMEOUT {
        if check_once(docker, kind, container).await {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    Err(ServiceError::NotReady(kind.name()))
}

async fn check_once(docker: &Docker, kind: ServiceKind, container: &str) -> bool {
    let Ok(exec) = docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(kind.ready_check().into_iter().map(String::from).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
    else {
        return false;
    };
    let mut output = String::new();
    if let Ok(bollard::exec::StartExecResults::Attached { output: mut stream, .. }) =
        docker.start_exec(&exec.id, None).await
    {
        while let Some(Ok(chunk)) = stream.next().await {
            output.push_str(&chunk.to_string());
        }
    }
    let Ok(inspect) = docker.inspect_exec(&exec.id).await else {
        return false;
    };
    let ok = inspect.exit_code == Some(0);
    match kind {
        // redis-cli exits 0 even while Redis is still loading; it must say PONG.
        ServiceKind::Redis => ok && output.contains("PONG"),
        ServiceKind::Postgres => ok,
    }
}
