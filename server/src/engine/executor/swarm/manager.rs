//! The swarm manager: the one Docker API Sicuro needs for running jobs. Whether it answers, and
//! as a manager of an active swarm, is asked at most once a second however many callers ask.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{LocalNodeState, NodeState};
use tokio::sync::Mutex;

use crate::engine::executor::JobEnd;
use crate::engine::executor::docker::client::{DockerHandle, is_connection_error};

/// How long an answer about the manager's availability is reused.
const PROBE_TTL: Duration = Duration::from_secs(1);

pub struct Manager {
    pub handle: Arc<DockerHandle>,
    /// For messages: `DOCKER_HOST` or the default socket.
    pub address: String,
    probe: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Manager {
    pub fn new(host: Option<String>) -> Self {
        Self {
            address: host.clone().unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
            handle: Arc::new(DockerHandle::with_host(host)),
            probe: Mutex::new(None),
        }
    }

    /// The client, or why the manager cannot be reached.
    pub async fn get(&self) -> Result<Docker, String> {
        self.handle.get().await.map_err(|e| self.unreachable(&e.0))
    }

    pub fn unreachable(&self, why: &str) -> String {
        format!(
            "the Docker Swarm manager at {} cannot be reached ({why}). Check that its dockerd runs and that DOCKER_HOST \
             names a manager of the swarm",
            self.address
        )
    }

    /// What a failed request to the manager means for a job.
    pub fn failed(&self, context: &str, e: bollard::errors::Error) -> JobEnd {
        if is_connection_error(&e) {
            JobEnd::Failed(format!(
                "lost the swarm manager while {context}: {}",
                self.unreachable(&e.to_string())
            ))
        } else {
            JobEnd::Failed(format!("the swarm manager refused {context}: {e}"))
        }
    }

    /// Whether jobs can be placed now (reused for a second).
    pub async fn available(&self) -> Result<(), String> {
        let mut probe = self.probe.lock().await;
        if let Some((at, answer)) = probe.as_ref()
            && at.elapsed() < PROBE_TTL
        {
            return answer.clone();
        }
        let answer = self.check().await.map(|_| ());
        *probe = Some((Instant::now(), answer.clone()));
        answer
    }

    /// The manager's version and the swarm's size, or why jobs cannot be placed.
    pub async fn check(&self) -> Result<String, String> {
        let docker = self.get().await?;
        let info = match docker.info().await {
            Ok(i) => i,
            Err(e) => {
                self.handle.reset().await;
                return Err(self.unreachable(&e.to_string()));
            }
        };
        let swarm = info.swarm.unwrap_or_default();
        if swarm.local_node_state != Some(LocalNodeState::ACTIVE) || swarm.control_available != Some(true) {
            return Err(format!(
                "the Docker engine at {} is not a manager of an active swarm (swarm state: {}{}). Point DOCKER_HOST at \
                 a manager, or run `docker swarm init` there",
                self.address,
                swarm.local_node_state.map_or("unknown".into(), |s| s.to_string()),
                swarm
                    .error
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            ));
        }
        let nodes = docker.list_nodes(None).await.unwrap_or_default();
        let ready = nodes
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY))
            .count();
        Ok(format!(
            "Docker {} swarm manager, {ready} of {} nodes ready",
            info.server_version.unwrap_or_default(),
            nodes.len()
        ))
    }
}
