//! Where a job may run: the configured constraints, plus a soft affinity for the node that holds
//! the repository's dependency cache. Caches are volumes local to each node (the same name on
//! every node), so a build is pinned to the node that last ran this cache while that node is
//! ready and runs fewer of Sicuro's jobs than it has CPUs; otherwise it goes wherever the
//! swarm puts it and starts with a cold cache there. Swarm has no "prefer this node", so the
//! choice is Sicuro's. It is kept in memory: after a restart the next build goes anywhere.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::Docker;

use super::nodes;
use crate::engine::executor::CacheSpec;

#[derive(Default)]
pub struct Placement {
    /// (repository, cache name) → the node that last ran a job with that cache.
    holder: Mutex<HashMap<(i64, String), String>>,
    /// Running jobs (by key) → their node.
    running: Mutex<HashMap<String, String>>,
}

/// The constraints of one job, and what to tell its log about them.
pub struct Choice {
    pub constraints: Vec<String>,
    pub notice: Option<String>,
}

impl Placement {
    pub async fn choose(&self, docker: &Docker, base: &[String], caches: &[CacheSpec]) -> Choice {
        let mut constraints = base.to_vec();
        let Some(cache) = caches.first() else {
            return Choice {
                constraints,
                notice: None,
            };
        };
        let holder = self
            .holder
            .lock()
            .expect("placement")
            .get(&(cache.repo_id, cache.name.clone()))
            .cloned();
        let Some(node_id) = holder else {
            return Choice {
                constraints,
                notice: None,
            };
        };
        let busy = self
            .running
            .lock()
            .expect("placement")
            .values()
            .filter(|n| **n == node_id)
            .count();
        let notice = match nodes::inspect(docker, &node_id).await {
            Ok(node) if node.is_ready() && busy < node.cpus as usize => {
                constraints.push(format!("node.id=={node_id}"));
                format!(
                    "Placed on {}, which holds this repository's dependency cache",
                    node.describe()
                )
            }
            Ok(node) if node.is_ready() => format!(
                "{} holds this repository's dependency cache but runs {busy} jobs on {} CPUs; placed anywhere (the cache \
                 may be cold there)",
                node.describe(),
                node.cpus
            ),
            Ok(node) => format!(
                "{} holds this repository's dependency cache but is not available ({}); placed anywhere (the cache may \
                 be cold there)",
                node.describe(),
                node.state.map_or("unknown".into(), |s| s.to_string())
            ),
            Err(_) => {
                "The node that held this repository's dependency cache has left the swarm; placed anywhere".into()
            }
        };
        Choice {
            constraints,
            notice: Some(notice),
        }
    }

    /// The job's task was given a node.
    pub fn assigned(&self, key: &str, caches: &[CacheSpec], node_id: &str) {
        self.running
            .lock()
            .expect("placement")
            .insert(key.to_string(), node_id.to_string());
        let mut holder = self.holder.lock().expect("placement");
        for c in caches {
            holder.insert((c.repo_id, c.name.clone()), node_id.to_string());
        }
    }

    pub fn finished(&self, key: &str) {
        self.running.lock().expect("placement").remove(key);
    }

    /// The repository's caches were cleared: no node holds them any more.
    pub fn forget(&self, repo_id: i64) {
        self.holder.lock().expect("placement").retain(|(r, _), _| *r != repo_id);
    }
}
