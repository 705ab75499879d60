//! Removes containers and networks that a previous process of this installation left behind
//! (a crash, a SIGKILL, a daemon that went away mid-build). Cache volumes are kept on purpose.

use std::collections::HashSet;

use bollard::Docker;
use bollard::query_parameters::{
    EventsOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::{Stream, StreamExt};

use super::client::{LABEL_BUILD, LABEL_INSTANCE, label_filter};
use crate::engine::executor::Reaped;

/// Removes this instance's build containers and networks, except those of the builds `keep`
/// names. `keep` is asked after listing: a build registers as running before it creates
/// anything, so whatever the list holds and `keep` does not name is truly left over.
pub async fn reap(
    docker: &Docker,
    instance: &str,
    keep: &(dyn Fn() -> HashSet<String> + Send + Sync),
) -> Result<Reaped, bollard::errors::Error> {
    let filters = label_filter(&[(LABEL_INSTANCE, instance)]);
    let mut reaped = Reaped::default();
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await?;
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build()))
        .await?;
    let keep = keep();
    let force = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    for c in containers {
        let build = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_BUILD))
            .cloned()
            .unwrap_or_default();
        if keep.contains(&build) {
            continue;
        }
        if let Some(id) = c.id
            && docker.remove_container(&id, Some(force.clone())).await.is_ok()
        {
            reaped.containers += 1;
        }
    }
    for n in networks {
        let build = n
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_BUILD))
            .cloned()
            .unwrap_or_default();
        if keep.contains(&build) {
            continue;
        }
        if let Some(id) = n.id
            && docker.remove_network(&id).await.is_ok()
        {
            reaped.networks += 1;
        }
    }
    Ok(reaped)
}

/// The build of every container or network of this instance that Docker creates from now on;
/// ends when the event stream does (the daemon stopped). Network events carry no labels, so a
/// network is recognised by its name (`Objects::name`).
pub fn creations(docker: &Docker, instance: &str) -> impl Stream<Item = String> + use<> {
    let filters = std::collections::HashMap::from([
        ("type", vec!["container".to_string(), "network".to_string()]),
        ("event", vec!["create".to_string()]),
    ]);
    let instance = instance.to_string();
    let prefix = format!("sicuro-{}-", instance.chars().take(8).collect::<String>());
    docker
        .events(Some(EventsOptionsBuilder::default().filters(&filters).build()))
        .take_while(|e| std::future::ready(e.is_ok()))
        .filter_map(move |e| {
            let attributes = e
                .ok()
                .and_then(|e| e.actor)
                .and_then(|a| a.attributes)
                .unwrap_or_default();
            let build = match attributes.get(LABEL_INSTANCE) {
                Some(i) if *i == instance => attributes.get(LABEL_BUILD).cloned(),
                Some(_) => None,
                None => attributes
                    .get("name")
                    .and_then(|n| n.strip_prefix(&prefix))
                    .and_then(|rest| rest.strip_suffix("-net"))
                    .map(str::to_string),
            };
            std::future::ready(build)
        })
}
