//! The job as a swarm service: one replica with restart condition `none`, so it runs once.
//!
//! Not a `replicated-job` service, although swarm has them since API 1.41: on Docker 20.10
//! (Debian's engine) deleting a running replicated job leaves its container running
//! (moby#44312), and deleted jobs leave their tasks and exited containers behind (moby#42789).
//! A one-replica service with restart `none` runs once as well, is not rerun after a failure, a
//! node loss or a manager restart, reports the same exit code, and is gone with its container
//! when deleted.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::Docker;
use bollard::models::{
    ConfigSpec, EndpointSpec, EndpointSpecModeEnum, Limit, Mount, NetworkAttachmentConfig, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecConfigs,
    TaskSpecContainerSpecFile1, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
};

use super::manager::Manager;
use super::objects::Objects;
use super::registry::Registry;
use super::services::never_restart;
use super::source::Grant;
use super::wrapper;
use crate::engine::executor::docker::JOB_CAPABILITIES;
use crate::engine::executor::{JobEnd, JobSpec};

pub struct JobService<'a> {
    pub job: &'a JobSpec,
    pub image: &'a str,
    pub network: Option<&'a str>,
    pub mounts: Vec<Mount>,
    pub constraints: Vec<String>,
    pub grant: &'a Grant,
    pub sha: &'a str,
    /// Commits of history to fetch (0: all).
    pub depth: u32,
    pub nonce: &'a str,
    /// The image's user, when it is not root (see `wrapper::RUN_AS_VAR`).
    pub run_as: Option<String>,
}

/// Stores the build's script as a swarm config (a task cannot be given a file any other way).
pub async fn script_config(
    docker: &Docker,
    manager: &Manager,
    objects: &Objects<'_>,
    script: &str,
) -> Result<(String, String), JobEnd> {
    let name = objects.name("script");
    let id = docker
        .create_config(ConfigSpec {
            name: Some(name.clone()),
            labels: Some(objects.labels("script")),
            data: Some(base64::engine::general_purpose::STANDARD.encode(script)),
            ..Default::default()
        })
        .await
        .map_err(|e| manager.failed("storing the build script", e))?
        .id;
    Ok((id, name))
}

pub async fn create(
    docker: &Docker,
    manager: &Manager,
    registry: &Registry,
    objects: &Objects<'_>,
    config: (String, String),
    s: JobService<'_>,
) -> Result<String, JobEnd> {
    let limits = s.job.main.limits;
    let mut env: Vec<String> = s.job.main.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("{}={}", wrapper::TOKEN_VAR, s.grant.token()));
    if let Some(user) = &s.run_as {
        env.push(format!("{}={user}", wrapper::RUN_AS_VAR));
    }
    let spec = ServiceSpec {
        name: Some(objects.name("job")),
        labels: Some(objects.labels("job")),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        // No virtual IP for a job nobody connects to.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(s.image.to_string()),
                labels: Some(objects.labels("job")),
                command: Some(wrapper::command(s.nonce, s.grant.fetch_url(), s.sha, s.depth)),
                dir: Some(wrapper::WORKSPACE.into()),
                user: s.run_as.as_ref().map(|_| "0:0".to_string()),
                env: Some(env),
                mounts: Some(s.mounts),
                configs: Some(vec![TaskSpecContainerSpecConfigs {
                    file: Some(TaskSpecContainerSpecFile1 {
                        name: Some(wrapper::SCRIPT_PATH.into()),
                        uid: Some("0".into()),
                        gid: Some("0".into()),
                        mode: Some(0o755),
                    }),
                    config_id: Some(config.0),
                    config_name: Some(config.1),
                    ..Default::default()
                }]),
                // A cancel kills at once: the job has nothing to save (the default is 10 s).
                stop_grace_period: Some(0),
                // The same short list of capabilities as on one Docker engine.
                capability_drop: Some(vec!["ALL".into()]),
                capability_add: Some(JOB_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
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
                constraints: Some(s.constraints),
                ..Default::default()
            }),
            networks: s.network.map(|n| {
                vec![NetworkAttachmentConfig {
                    target: Some(n.to_string()),
                    ..Default::default()
                }]
            }),
            log_driver: Some(job_log()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_service(spec, registry.credentials())
        .await
        .map_err(|e| manager.failed("creating the job's service", e))?
        .id
        .ok_or_else(|| JobEnd::Failed("the swarm manager created the job's service but gave no id".into()))
}

/// The task's log is how its output reaches Sicuro: json-file (task logs need json-file or
/// journald), rotated so that a job printing without end cannot fill its node's disk. Two
/// files of 64 MiB hold more than Sicuro keeps of one build's log.
fn job_log() -> TaskSpecLogDriver {
    TaskSpecLogDriver {
        name: Some("json-file".into()),
        options: Some(HashMap::from([
            ("max-size".to_string(), "64m".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    }
}
