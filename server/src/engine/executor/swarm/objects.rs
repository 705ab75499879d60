//! Names and labels of one attempt at a job's swarm objects (services, network, config), and
//! their removal by label, so that clean-up needs no list of what was created: a request cut
//! short by a cancel may still have created its object.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    ListConfigsOptions, ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListTasksOptions,
};

use super::nodes::NodeHosts;

use crate::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, LABEL_ROLE, label_filter};

/// Marks one attempt: names are never reused (a worker may keep a removed overlay network
/// while its container still uses it, and a new network of the same name then hangs a task).
pub const LABEL_ATTEMPT: &str = "org.sicuro.attempt";

/// How long clean-up waits for the tasks' containers to be gone before it removes the network.
const TASKS_GONE: Duration = Duration::from_secs(20);

pub struct Objects<'a> {
    pub instance: &'a str,
    pub key: &'a str,
    pub attempt: String,
}

impl<'a> Objects<'a> {
    pub fn new(instance: &'a str, key: &'a str) -> Self {
        use rand::Rng;
        let attempt = hex::encode(rand::thread_rng().r#gen::<[u8; 3]>());
        Self { instance, key, attempt }
    }

    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_INSTANCE.to_string(), self.instance.to_string()),
            (LABEL_BUILD.to_string(), self.key.to_string()),
            (LABEL_ROLE.to_string(), role.to_string()),
            (LABEL_ATTEMPT.to_string(), self.attempt.clone()),
        ])
    }

    /// `sicuro-<instance>-<key>-<attempt>-<what>`: a valid DNS label (service names are).
    pub fn name(&self, what: &str) -> String {
        let inst: String = self.instance.chars().take(8).collect();
        format!("sicuro-{inst}-{}-{}-{what}", self.key, self.attempt)
    }

    fn filter(&self) -> HashMap<String, Vec<String>> {
        label_filter(&[
            (LABEL_INSTANCE, self.instance),
            (LABEL_BUILD, self.key),
            (LABEL_ATTEMPT, &self.attempt),
        ])
    }

    /// Removes the attempt's services, then (once their containers are gone) its network and
    /// config. A node removes a task's container a moment after the manager has forgotten the
    /// task; where Sicuro can reach the nodes, it waits for that too, so that nothing of the job
    /// (its cache volume free again) is left when this returns. Errors are left to the reaper:
    /// the manager may be away.
    pub async fn remove(&self, docker: &Docker, nodes: &NodeHosts) {
        let filters = self.filter();
        // The job first: a cancel is done when its service is gone.
        let mut services = docker
            .list_services(Some(ListServicesOptions {
                filters: Some(filters.clone()),
                status: None,
            }))
            .await
            .unwrap_or_default();
        services.sort_by_key(|s| {
            s.spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(LABEL_ROLE))
                .map_or(1, |r| u8::from(r != "job"))
        });
        for s in services.iter().filter_map(|s| s.id.as_deref()) {
            let _ = docker.delete_service(s).await;
        }
        let deadline = Instant::now() + TASKS_GONE;
        wait_tasks_gone(docker, &filters, TASKS_GONE).await;
        wait_containers_gone(nodes, &filters, deadline).await;
        remove_networks_and_configs(docker, &filters).await;
    }
}

/// Waits until no task carries these labels (their containers are removed), at most `limit`.
pub async fn wait_tasks_gone(docker: &Docker, filters: &HashMap<String, Vec<String>>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters.clone()),
            }))
            .await
        {
            Ok(t) if t.is_empty() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no node Sicuro can reach has a container with these labels, until `deadline`.
async fn wait_containers_gone(nodes: &NodeHosts, filters: &HashMap<String, Vec<String>>, deadline: Instant) {
    for (_, client) in nodes.clients().await {
        let Ok(node) = client else { continue };
        while Instant::now() < deadline {
            let left = node
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(filters.clone()),
                    ..Default::default()
                }))
                .await
                .map_or(0, |c| c.len());
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Removes the networks and configs these labels select; returns how many networks went.
pub async fn remove_networks_and_configs(docker: &Docker, filters: &HashMap<String, Vec<String>>) -> usize {
    let mut removed = 0;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap_or_default();
    for n in networks.iter().filter_map(|n| n.id.as_deref()) {
        if docker.remove_network(n).await.is_ok() {
            removed += 1;
        }
    }
    let configs = docker
        .list_configs(Some(ListConfigsOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap_or_default();
    for c in configs.iter().filter_map(|c| c.id.as_deref()) {
        let _ = docker.delete_config(c).await;
    }
    removed
}
