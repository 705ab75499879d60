//! The test swarm of `scripts/swarm.sh` (three node daemons on this machine, a registry): its
//! settings for Sicuro, what Sicuro left on it, and faults done to it. `SICURO_TEST_EXECUTOR=swarm`
//! runs the engine's tests (`TestEngine`) through it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{ListConfigsOptions, ListContainersOptions, ListNetworksOptions, ListServicesOptions};
use sicuro::config::SwarmConfig;
use sicuro::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, label_filter};

/// Whether the engine's tests run through the swarm.
pub fn requested() -> bool {
    std::env::var("SICURO_TEST_EXECUTOR").as_deref() == Ok("swarm")
}

/// Normal swarm tests share the swarm; a test that kills one of its daemons has it to itself.
pub static SWARM: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// `scripts/swarm.sh env`'s variables: from the environment, or from the swarm's env file.
pub fn env() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SICURO_SWARM_"))
        .collect();
    if !vars.contains_key("SICURO_SWARM_DOCKER_HOST") {
        let dir = std::env::var("SICURO_SWARM_DIR").unwrap_or_else(|_| "/var/lib/sicuro-swarm".into());
        let text = std::fs::read_to_string(Path::new(&dir).join("env")).unwrap_or_else(|_| {
            panic!("the test swarm is not up: run `sh scripts/swarm.sh up` (make test does) and try again")
        });
        for line in text.lines() {
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                vars.insert(k.to_string(), v.trim_matches('\'').to_string());
            }
        }
    }
    vars
}

fn var(vars: &HashMap<String, String>, name: &str) -> String {
    vars.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is missing from `sh scripts/swarm.sh env`"))
}

pub fn nodes() -> Vec<String> {
    var(&env(), "SICURO_SWARM_NODES")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

pub fn node_host(node: &str) -> String {
    var(&env(), &format!("SICURO_SWARM_{}_DOCKER_HOST", node.to_uppercase()))
}

/// The executor's settings for the test swarm: jobs on the two workers, images built by this
/// machine's dockerd, the source served on the swarm's bridge.
pub fn config() -> SwarmConfig {
    let vars = env();
    let host_addr = var(&vars, "SICURO_SWARM_HOST_ADDR");
    SwarmConfig {
        manager: Some(var(&vars, "SICURO_SWARM_DOCKER_HOST")),
        build_host: Some(std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())),
        registry: var(&vars, "SICURO_SWARM_REGISTRY"),
        registry_push: var(&vars, "SICURO_SWARM_REGISTRY_PUSH"),
        registry_auth: None,
        constraints: vec!["node.role==worker".into()],
        source_listen: format!("{host_addr}:0").parse().unwrap(),
        source_url: None,
        node_hosts: nodes().iter().map(|n| (n.clone(), node_host(n))).collect(),
        start_timeout: Duration::from_secs(300),
    }
}

/// The same settings as a server's environment variables.
pub fn server_env() -> Vec<(String, String)> {
    let c = config();
    let env: Vec<(&str, String)> = vec![
        ("SICURO_EXECUTOR", "swarm".to_string()),
        ("DOCKER_HOST", c.manager.clone().unwrap()),
        ("SICURO_SWARM_BUILD_HOST", c.build_host.clone().unwrap()),
        ("SICURO_REGISTRY", c.registry.clone()),
        ("SICURO_REGISTRY_PUSH", c.registry_push.clone()),
        ("SICURO_SWARM_CONSTRAINTS", c.constraints.join(",")),
        ("SICURO_SWARM_SOURCE_LISTEN", c.source_listen.to_string()),
        (
            "SICURO_SWARM_NODE_HOSTS",
            c.node_hosts
                .iter()
                .map(|(n, h)| format!("{n}={h}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub async fn connect(host: &str) -> Docker {
    Docker::connect_with_host(host)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap_or_else(|e| panic!("{host} does not answer: {e}"))
}

pub async fn manager() -> Docker {
    connect(&var(&env(), "SICURO_SWARM_DOCKER_HOST")).await
}

/// Services, networks and configs on the manager, and containers on every node, with these
/// labels: what Sicuro left behind.
pub async fn objects(labels: &[(&str, &str)]) -> Leftovers {
    let filters = label_filter(labels);
    let m = manager().await;
    let services = m
        .list_services(Some(ListServicesOptions {
            filters: Some(filters.clone()),
            status: None,
        }))
        .await
        .unwrap()
        .len();
    let networks = m
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap()
        .len();
    let configs = m
        .list_configs(Some(ListConfigsOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap()
        .len();
    let mut containers = 0;
    for node in nodes() {
        let Ok(d) = Docker::connect_with_host(&node_host(&node)) else {
            continue;
        };
        let Ok(d) = d.negotiate_version().await else { continue };
        containers += d
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .map_or(0, |c| c.len());
    }
    Leftovers {
        services,
        networks,
        configs,
        containers,
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub services: usize,
    pub networks: usize,
    pub configs: usize,
    pub containers: usize,
}

/// What a build left on the swarm (services, configs and containers on any node; networks), in
/// the shape of the local executor's `leftovers`.
pub async fn leftovers_of_build(instance: &str, build_id: i64) -> (usize, usize) {
    let key = build_id.to_string();
    let l = objects(&[(LABEL_INSTANCE, instance), (LABEL_BUILD, key.as_str())]).await;
    (l.services + l.containers + l.configs, l.networks)
}

/// Polls `what` until it holds, for at most `limit`; panics saying what it waited for.
pub async fn until<F, Fut>(limit: Duration, description: &str, mut what: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !what().await {
        assert!(Instant::now() < deadline, "waited {limit:?} for {description}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Kills a node's dockerd (the pid from its pid file) with `signal`.
pub fn kill_node(node: &str, signal: &str) {
    let pidfile = var(&env(), &format!("SICURO_SWARM_{}_PIDFILE", node.to_uppercase()));
    let pid = std::fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("{pidfile}: {e}"));
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.trim())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {} ({node}'s dockerd)", pid.trim());
}

/// `swarm.sh up`: restarts the nodes that are down (they rejoin the swarm).
fn swarm_up() -> std::process::Output {
    Command::new("sh")
        .arg(root().join("scripts/swarm.sh"))
        .arg("up")
        .output()
        .unwrap()
}

/// Held by a test that stops a swarm daemon: if the test fails before it brings the daemon
/// back, dropping this does, so the tests after it find the whole swarm.
pub struct BringBackOnDrop;

impl Drop for BringBackOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = swarm_up();
        }
    }
}

/// Brings every node back (`swarm.sh up` restarts the ones that are down; they rejoin), and
/// waits until the manager sees all of them ready.
pub async fn restore() {
    let out = swarm_up();
    assert!(
        out.status.success(),
        "swarm.sh up: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    until(Duration::from_secs(120), "every swarm node ready again", || async {
        let Ok(d) = Docker::connect_with_host(&var(&env(), "SICURO_SWARM_DOCKER_HOST")) else {
            return false;
        };
        let Ok(d) = d.negotiate_version().await else {
            return false;
        };
        let nodes = d.list_nodes(None).await.unwrap_or_default();
        nodes.len() == 3
            && nodes
                .iter()
                .all(|n| n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY))
    })
    .await;
}
