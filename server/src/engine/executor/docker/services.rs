//! Service containers (PostgreSQL, Redis) started fresh for one build, on a network private to
//! that build, and waited for until they accept connections.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::StreamExt;
use sicuro_types::format_duration;

use super::{JOB_CAPABILITIES, Objects, Resources, remove_stale};
use crate::config::JobLimits;
use crate::engine::executor::{JobEnd, JobOutput, ServiceSpec};
pub use crate::engine::service_kind::ServiceKind;

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("service {service} could not be started: {message}")]
    Start { service: &'static str, message: String },
    #[error("service {0} did not accept connections within {READY_TIMEOUT:?}")]
    NotReady(&'static str),
}

/// Starts every service on the job's network and waits until each accepts connections.
pub async fn start_all(
    docker: &Docker,
    objects: &Objects<'_>,
    services: &[ServiceSpec],
    images: &HashMap<String, String>,
    sandbox: &str,
    out: &mut dyn JobOutput,
    res: &mut Resources,
) -> Result<(), JobEnd> {
    for service in services {
        let kind = service.kind;
        let name = objects.name(kind.name());
        remove_stale(docker, &name).await;
        let image = images.get(kind.image()).map_or(kind.image(), String::as_str);
        let id = start(docker, service, image, &name, sandbox, objects.labels("service"))
            .await
            .map_err(|e| JobEnd::Failed(e.to_string()))?;
        res.containers.push(id.clone());
        let took = wait_ready(docker, kind, &id)
            .await
            .map_err(|e| JobEnd::Failed(e.to_string()))?;
        out.notice(&format!(
            "Service {} is ready ({}), at {}",
            kind.name(),
            format_duration(took.as_millis() as i64),
            kind.env().1
        ));
    }
    out.flush();
    Ok(())
}

/// Creates and starts a service container of `image` (the reference of its image to run) in the
/// build's sandbox (reachable on localhost, and by its name, which the sandbox's hosts file maps
/// there); returns its id.
async fn start(
    docker: &Docker,
    service: &ServiceSpec,
    image: &str,
    name: &str,
    sandbox: &str,
    labels: std::collections::HashMap<String, String>,
) -> Result<String, ServiceError> {
    let kind = service.kind;
    let limits: JobLimits = service.limits;
    let fail = |e: bollard::errors::Error| ServiceError::Start {
        service: kind.name(),
        message: e.to_string(),
    };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(Objects::in_sandbox(sandbox)),
            // Services are throwaway and capped like the job, so none can starve the host.
            memory: Some(limits.memory_bytes as i64),
            memory_swap: Some(limits.memory_bytes as i64),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids_limit: Some(limits.pids),
            security_opt: Some(vec!["no-new-privileges".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(JOB_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
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
async fn wait_ready(docker: &Docker, kind: ServiceKind, container: &str) -> Result<Duration, ServiceError> {
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
