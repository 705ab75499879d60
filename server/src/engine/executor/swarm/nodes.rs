//! The swarm's nodes as the manager sees them, and as their own engines when Sicuro is told how
//! to reach them (`SICURO_SWARM_NODE_HOSTS`: volumes are node-local, a manager cannot list them).

use bollard::Docker;
use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeState};

/// What a job needs to know of the node its task is on.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    pub state: Option<NodeState>,
    /// The manager's reason for the state ("heartbeat failure").
    pub message: String,
    pub schedulable: bool,
    pub cpus: u32,
}

impl NodeInfo {
    fn from(n: Node) -> NodeInfo {
        let status = n.status.unwrap_or_default();
        let description = n.description.unwrap_or_default();
        let spec = n.spec.unwrap_or_default();
        NodeInfo {
            id: n.id.unwrap_or_default(),
            hostname: description.hostname.unwrap_or_default(),
            state: status.state,
            message: status.message.unwrap_or_default(),
            schedulable: matches!(
                spec.availability,
                None | Some(NodeSpecAvailabilityEnum::ACTIVE) | Some(NodeSpecAvailabilityEnum::EMPTY)
            ),
            cpus: description
                .resources
                .and_then(|r| r.nano_cpus)
                .map_or(1, |n| (n / 1_000_000_000).max(1) as u32),
        }
    }

    pub fn is_down(&self) -> bool {
        matches!(self.state, Some(NodeState::DOWN) | Some(NodeState::DISCONNECTED))
    }

    pub fn is_ready(&self) -> bool {
        self.state == Some(NodeState::READY) && self.schedulable
    }

    /// "swn2 (node 5eikm4gy…)".
    pub fn describe(&self) -> String {
        let short: String = self.id.chars().take(12).collect();
        if self.hostname.is_empty() {
            format!("node {short}")
        } else {
            format!("{} (node {short})", self.hostname)
        }
    }
}

pub async fn inspect(docker: &Docker, id: &str) -> Result<NodeInfo, bollard::errors::Error> {
    docker.inspect_node(id).await.map(NodeInfo::from)
}

/// The engines of the nodes, by hostname, as configured.
pub struct NodeHosts(pub Vec<(String, String)>);

impl NodeHosts {
    /// A client of each configured node's engine (API version negotiated), with its hostname;
    /// unreachable ones with why.
    pub async fn clients(&self) -> Vec<(String, Result<Docker, String>)> {
        let mut out = Vec::new();
        for (name, host) in &self.0 {
            let client = match Docker::connect_with_host(host) {
                Ok(d) => d.negotiate_version().await.map_err(|e| format!("{host}: {e}")),
                Err(e) => Err(format!("{host}: {e}")),
            };
            out.push((name.clone(), client));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
