//! Removes what a previous process of this installation left on the swarm (a crash, a SIGKILL,
//! a manager that went away mid-build): services by label on the manager (their tasks and
//! containers go with them), then the networks and script configs. When the nodes' engines are
//! known, containers the swarm itself left behind are removed there too. Cache volumes are kept
//! on purpose; they are the only volumes Sicuro's swarm jobs have.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, ListContainersOptions, ListServicesOptions, RemoveContainerOptions};
use futures::{Stream, StreamExt};

use super::nodes::NodeHosts;
use super::objects;
use crate::engine::executor::Reaped;
use crate::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, label_filter};

fn build_of(labels: Option<&HashMap<String, String>>) -> String {
    labels.and_then(|l| l.get(LABEL_BUILD)).cloned().unwrap_or_default()
}

pub async fn reap(
    docker: &Docker,
    nodes: &NodeHosts,
    instance: &str,
    keep: &(dyn Fn() -> HashSet<String> + Send + Sync),
) -> Result<Reaped, bollard::errors::Error> {
    let filters = label_filter(&[(LABEL_INSTANCE, instance)]);
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filters.clone()),
            status: None,
        }))
        .await?;
    // Asked after listing: a build registers as running before it creates anything.
    let keep = keep();
    let mut reaped = Reaped::default();
    let mut left: HashSet<String> = HashSet::new();
    for s in services {
        let build = build_of(s.spec.as_ref().and_then(|s| s.labels.as_ref()));
        if keep.contains(&build) {
            continue;
        }
        if let Some(id) = s.id
            && docker.delete_service(&id).await.is_ok()
        {
            reaped.services += 1;
            left.insert(build);
        }
    }
    // Networks and configs of each build that is not running, once its tasks are gone.
    let mut builds: HashSet<String> = left;
    for n in docker
        .list_networks(Some(bollard::query_parameters::ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await?
    {
        builds.insert(build_of(n.labels.as_ref()));
    }
    for c in docker
        .list_configs(Some(bollard::query_parameters::ListConfigsOptions {
            filters: Some(filters.clone()),
        }))
        .await?
    {
        builds.insert(build_of(c.spec.as_ref().and_then(|s| s.labels.as_ref())));
    }
    for build in builds.iter().filter(|b| !keep.contains(*b)) {
        let of_build = label_filter(&[(LABEL_INSTANCE, instance), (LABEL_BUILD, build)]);
        objects::wait_tasks_gone(docker, &of_build, Duration::from_secs(20)).await;
        reaped.networks += objects::remove_networks_and_configs(docker, &of_build).await;
    }
    reaped.containers += reap_node_containers(nodes, &filters, &keep).await;
    Ok(reaped)
}

/// Containers with our label that no running build owns, on each node Sicuro can reach.
async fn reap_node_containers(
    nodes: &NodeHosts,
    filters: &HashMap<String, Vec<String>>,
    keep: &HashSet<String>,
) -> usize {
    let mut removed = 0;
    for (node, client) in nodes.clients().await {
        let Ok(docker) = client else {
            tracing::debug!("node {node} is not reachable for clean-up");
            continue;
        };
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .unwrap_or_default();
        for c in containers {
            if keep.contains(&build_of(c.labels.as_ref())) {
                continue;
            }
            let force = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            if let Some(id) = c.id
                && docker.remove_container(&id, Some(force)).await.is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// The build label of every service of this instance that the manager creates from now on.
pub fn creations(docker: &Docker, instance: &str) -> impl Stream<Item = String> + use<> {
    let filters = HashMap::from([
        ("type".to_string(), vec!["service".to_string()]),
        ("event".to_string(), vec!["create".to_string()]),
    ]);
    let docker = docker.clone();
    let instance = instance.to_string();
    docker
        .events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .take_while(|e| std::future::ready(e.is_ok()))
        .filter_map(move |e| {
            let docker = docker.clone();
            let instance = instance.clone();
            async move {
                // Service events carry no labels: the service says whose it is.
                let id = e.ok()?.actor?.id?;
                let spec = docker.inspect_service(&id, None).await.ok()?.spec?;
                let labels = spec.labels?;
                (labels.get(LABEL_INSTANCE) == Some(&instance)).then(|| labels.get(LABEL_BUILD).cloned())?
            }
        })
}
