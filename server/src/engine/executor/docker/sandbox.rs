//! The build's network namespace, held by a small container the way a pod's infra container
//! holds it: on a network of the build's own (no other build, no other container of the host's
//! shares it), with routes to the blocked networks (link-local metadata services at least)
//! blackholed before anything else runs. The job and its services join it: they reach each
//! other on localhost (and by the services' names, which its hosts file maps there), and none of
//! them has the capability to change its routes.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::StreamExt;

use super::{Objects, Resources, failed, remove_stale};
use crate::engine::executor::{JobEnd, JobSpec};

pub const IMAGE: &str = "sicuro/sandbox";
const READY: &str = "sicuro-sandbox-ready";

/// Creates the sandbox on `network` (not started: the job's container can be created and given
/// its files meanwhile, joining it by id); returns its id.
pub async fn create(
    docker: &Docker,
    objects: &Objects<'_>,
    job: &JobSpec,
    image: &str,
    network: &str,
    res: &mut Resources,
) -> Result<String, JobEnd> {
    let name = objects.name("sandbox");
    remove_stale(docker, &name).await;
    let body = ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["sh".into(), "-c".into(), script(&job.network.blocked)]),
        labels: Some(objects.labels("sandbox")),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_string()),
            // The services answer on localhost; their names lead there.
            extra_hosts: Some(
                job.services
                    .iter()
                    .map(|s| format!("{}:127.0.0.1", s.kind.name()))
                    .collect(),
            ),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            memory: Some(32 * 1024 * 1024),
            pids_limit: Some(16),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
        .map_err(|e| failed("creating the build's network sandbox", e))?
        .id;
    res.containers.push(id.clone());
    Ok(id)
}

/// Starts the created sandbox; returns once its routes are in place.
pub async fn start(docker: &Docker, id: &str) -> Result<(), JobEnd> {
    let mut output = super::container::attach_and_start(docker, id, "the build's network sandbox").await?;
    let mut said = String::new();
    while let Some(chunk) = output.next().await {
        let text = match chunk {
            Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => message,
            Ok(_) => continue,
            Err(e) => return Err(failed("reading the build's network sandbox", e)),
        };
        said.push_str(&String::from_utf8_lossy(&text));
        if said.contains(READY) {
            return Ok(());
        }
    }
    Err(JobEnd::Failed(format!(
        "the build's network could not be isolated (routes to the blocked networks could not be set): {}",
        said.trim()
    )))
}

/// Blackholes every blocked network, says so, then holds the namespace.
fn script(blocked: &[String]) -> String {
    let mut s = String::from("set -e; ");
    for net in blocked {
        s.push_str(&format!("ip route add blackhole {net}; "));
    }
    s.push_str(&format!("echo {READY}; exec sleep infinity"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_blackholes_each_blocked_network_before_it_says_ready() {
        let s = script(&["169.254.0.0/16".into(), "10.0.0.0/8".into()]);
        assert_eq!(
            s,
            "set -e; ip route add blackhole 169.254.0.0/16; ip route add blackhole 10.0.0.0/8; \
             echo sicuro-sandbox-ready; exec sleep infinity"
        );
    }
}
