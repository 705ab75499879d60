//! Service sidecars (PostgreSQL, Redis) as swarm services on the job's overlay network,
//! reachable by their names. Readiness is the service's own health check: its task stays
//! `starting` until the check passes, so no exec on a node (which only that node's API allows).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, NetworkAttachmentConfig, ServiceSpec as SwarmService,
    ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use sicuro_types::format_duration;

use super::manager::Manager;
use super::objects::Objects;
use super::registry::Registry;
use super::tasks;
use crate::config::JobLimits;
use crate::engine::executor::{JobEnd, JobOutput, ServiceSpec};
use crate::engine::service_kind::ServiceKind;

/// A service's readiness is checked this often.
const CHECK_EVERY: Duration = Duration::from_millis(200);

pub struct Sidecars<'a> {
    pub docker: &'a Docker,
    pub manager: &'a Manager,
    pub registry: &'a Registry,
    pub objects: &'a Objects<'a>,
    pub network: &'a str,
    pub constraints: &'a [String],
    pub start_timeout: Duration,
}

impl Sidecars<'_> {
    /// Creates every service, then waits until each is ready.
    pub async fn start_all(
        &self,
        services: &[ServiceSpec],
        images: &[String],
        out: &mut dyn JobOutput,
    ) -> Result<(), JobEnd> {
        let mut created = Vec::new();
        for (service, image) in services.iter().zip(images) {
            let spec = self.spec(service, image);
            let id = self
                .docker
                .create_service(spec, self.registry.credentials())
                .await
                .map_err(|e| {
                    self.manager
                        .failed(&format!("creating service {}", service.kind.name()), e)
                })?
                .id
                .unwrap_or_default();
            created.push((service.kind, id));
        }
        let waits = created.iter().map(|(kind, id)| async move {
            let what = format!("service {}", kind.name());
            (
                *kind,
                tasks::wait_running(self.docker, self.manager, id, &what, self.start_timeout).await,
            )
        });
        for (kind, ready) in futures::future::join_all(waits).await {
            let (took, node) = ready?;
            out.notice(&format!(
                "Service {} is ready ({}), at {}{}",
                kind.name(),
                format_duration(took.as_millis() as i64),
                kind.env().1,
                node.map(|n| format!(" on {}", n.hostname)).unwrap_or_default()
            ));
        }
        out.flush();
        Ok(())
    }

    fn spec(&self, service: &ServiceSpec, image: &str) -> SwarmService {
        let kind = service.kind;
        let limits: JobLimits = service.limits;
        SwarmService {
            name: Some(self.objects.name(kind.name())),
            labels: Some(self.objects.labels("service")),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ports: None,
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.to_string()),
                    labels: Some(self.objects.labels("service")),
                    health_check: Some(health_check(kind)),
                    stop_grace_period: Some(0),
                    ..Default::default()
                }),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        memory_bytes: Some(limits.memory_bytes as i64),
                        nano_cpus: Some((limits.cpus * 1e9) as i64),
                        pids: Some(limits.pids),
                    }),
                    ..Default::default()
                }),
                restart_policy: Some(never_restart()),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(self.constraints.to_vec()),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(self.network.to_string()),
                    aliases: Some(vec![kind.name().to_string()]),
                    ..Default::default()
                }]),
                log_driver: Some(small_json_log()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A task that ends stays ended: a failed build is not run again, nor a crashed service.
pub fn never_restart() -> TaskSpecRestartPolicy {
    TaskSpecRestartPolicy {
        condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
        max_attempts: Some(0),
        ..Default::default()
    }
}

/// A service's own log is only for debugging on its node: kept small.
fn small_json_log() -> TaskSpecLogDriver {
    TaskSpecLogDriver {
        name: Some("json-file".into()),
        options: Some(HashMap::from([
            ("max-size".to_string(), "10m".to_string()),
            ("max-file".to_string(), "1".to_string()),
        ])),
    }
}

/// The service's readiness check, run by its node's engine.
fn health_check(kind: ServiceKind) -> HealthConfig {
    let test = match kind {
        // redis-cli exits 0 even while Redis is still loading; it must say PONG.
        ServiceKind::Redis => vec![
            "CMD-SHELL".to_string(),
            "redis-cli -h 127.0.0.1 ping | grep -q PONG".to_string(),
        ],
        ServiceKind::Postgres => std::iter::once("CMD")
            .chain(kind.ready_check())
            .map(String::from)
            .collect(),
    };
    HealthConfig {
        test: Some(test),
        interval: Some(CHECK_EVERY.as_nanos() as i64),
        timeout: Some(Duration::from_secs(5).as_nanos() as i64),
        // Readiness is bounded by the start timeout, not by a count of failed checks.
        retries: Some(10_000),
        start_period: Some(0),
        ..Default::default()
    }
}
