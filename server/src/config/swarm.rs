//! Which executor runs the jobs (`SICURO_EXECUTOR`), and the Docker Swarm executor's settings:
//! the manager, where images are built and which registry carries them to the nodes, where the
//! jobs may run, and where they fetch their source from this server.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::problems::{Env, Problems, parse_duration};

/// The executor chosen for jobs.
#[derive(Clone, Debug, Default)]
pub enum ExecutorChoice {
    /// The local Docker engine (the default).
    #[default]
    Docker,
    /// A Docker Swarm, through one of its managers.
    Swarm(Box<SwarmConfig>),
}

#[derive(Clone)]
pub struct SwarmConfig {
    /// A manager's Docker API (`DOCKER_HOST`); `None`: the local socket.
    pub manager: Option<String>,
    /// The Docker engine that builds Sicuro's images and pushes them (`SICURO_SWARM_BUILD_HOST`);
    /// `None`: the manager.
    pub build_host: Option<String>,
    /// The registry as the nodes pull from it (`SICURO_REGISTRY`, e.g. `registry.example.com:5000`).
    pub registry: String,
    /// The same registry as the build host pushes to it (`SICURO_REGISTRY_PUSH`), when it differs.
    pub registry_push: String,
    /// Credentials for pushing and pulling, when the registry asks for them.
    pub registry_auth: Option<RegistryAuth>,
    /// Placement constraints every job and service gets (`SICURO_SWARM_CONSTRAINTS`).
    pub constraints: Vec<String>,
    /// Where this process serves jobs their commits (`SICURO_SWARM_SOURCE_LISTEN`).
    pub source_listen: SocketAddr,
    /// How jobs reach that listener (`SICURO_SWARM_SOURCE_URL`); `None`: `http://` + the
    /// listener's own address, once bound.
    pub source_url: Option<Url>,
    /// Nodes' own Docker APIs, by node hostname (`SICURO_SWARM_NODE_HOSTS`): dependency caches
    /// are volumes on the nodes, which a manager cannot list or remove.
    pub node_hosts: Vec<(String, String)>,
    /// How long a job or service may take to be placed, pulled and started
    /// (`SICURO_SWARM_START_TIMEOUT`).
    pub start_timeout: Duration,
}

#[derive(Clone)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SwarmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmConfig")
            .field("manager", &self.manager)
            .field("build_host", &self.build_host)
            .field("registry", &self.registry)
            .field("registry_push", &self.registry_push)
            .field("registry_auth", &self.registry_auth.as_ref().map(|a| &a.username))
            .field("constraints", &self.constraints)
            .field("source_listen", &self.source_listen)
            .field("source_url", &self.source_url)
            .field("node_hosts", &self.node_hosts)
            .field("start_timeout", &self.start_timeout)
            .finish()
    }
}

pub const DEFAULT_SOURCE_LISTEN: &str = "0.0.0.0:3001";

pub(super) fn from_env(env: &Env, p: &mut Problems) -> ExecutorChoice {
    match env.get("SICURO_EXECUTOR").unwrap_or("docker") {
        "docker" => ExecutorChoice::Docker,
        "swarm" => ExecutorChoice::Swarm(Box::new(swarm_from_env(env, p))),
        other => {
            p.add(
                "SICURO_EXECUTOR",
                format!("`{other}` is not an executor"),
                "use docker (the local Docker engine) or swarm (a Docker Swarm, see docs/deploy.md)",
            );
            ExecutorChoice::Docker
        }
    }
}

fn swarm_from_env(env: &Env, p: &mut Problems) -> SwarmConfig {
    let registry = env.get("SICURO_REGISTRY").map(registry_address).unwrap_or_else(|| {
        p.add(
            "SICURO_REGISTRY",
            "the swarm executor needs a registry to carry Sicuro's images to the nodes",
            "give the registry's host:port as the nodes reach it, e.g. registry.example.com:5000",
        );
        String::new()
    });
    let registry_push = env
        .get("SICURO_REGISTRY_PUSH")
        .map_or(registry.clone(), registry_address);
    let registry_auth = match (env.get("SICURO_REGISTRY_USERNAME"), env.get("SICURO_REGISTRY_PASSWORD")) {
        (Some(u), Some(pw)) => Some(RegistryAuth {
            username: u.to_string(),
            password: pw.to_string(),
        }),
        (None, None) => None,
        _ => {
            p.add(
                "SICURO_REGISTRY_PASSWORD",
                "only one of SICURO_REGISTRY_USERNAME and SICURO_REGISTRY_PASSWORD is set",
                "set both (the registry's credentials) or neither",
            );
            None
        }
    };
    let source_listen: SocketAddr = p.parse_or(
        env,
        "SICURO_SWARM_SOURCE_LISTEN",
        DEFAULT_SOURCE_LISTEN.parse().expect("valid"),
        "an address and port the nodes can reach, such as 10.0.0.5:3001 (port 0: any free port)",
        |s| s.parse().ok(),
    );
    let source_url = match env.get("SICURO_SWARM_SOURCE_URL") {
        Some(raw) => match Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                p.add(
                    "SICURO_SWARM_SOURCE_URL",
                    format!("`{raw}` is not an http(s) URL"),
                    "give the address at which jobs reach SICURO_SWARM_SOURCE_LISTEN, e.g. http://10.0.0.5:3001",
                );
                None
            }
        },
        None if source_listen.ip().is_unspecified() => {
            p.add(
                "SICURO_SWARM_SOURCE_URL",
                format!("jobs fetch their commit from this server, and {source_listen} does not say at which address"),
                "set the URL at which the swarm's nodes reach SICURO_SWARM_SOURCE_LISTEN, e.g. http://10.0.0.5:3001",
            );
            None
        }
        None => None,
    };
    let constraints: Vec<String> = env
        .get("SICURO_SWARM_CONSTRAINTS")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for c in &constraints {
        if !(c.contains("==") || c.contains("!=")) {
            p.add(
                "SICURO_SWARM_CONSTRAINTS",
                format!("`{c}` is not a placement constraint"),
                "give constraints such as node.role==worker,node.labels.ci==true, separated by commas",
            );
        }
    }
    let node_hosts = env.get("SICURO_SWARM_NODE_HOSTS").map_or_else(Vec::new, |s| {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter_map(|e| match e.split_once('=') {
                Some((node, host)) if !node.is_empty() && host.contains("://") => {
                    Some((node.to_string(), host.to_string()))
                }
                _ => {
                    p.add(
                        "SICURO_SWARM_NODE_HOSTS",
                        format!("`{e}` is not hostname=docker-host"),
                        "list each node's Docker API as hostname=unix:///…|tcp://…, separated by commas",
                    );
                    None
                }
            })
            .collect()
    });
    let start_timeout = p.parse_or(
        env,
        "SICURO_SWARM_START_TIMEOUT",
        Duration::from_secs(300),
        "a duration such as 5m",
        parse_duration,
    );
    SwarmConfig {
        manager: env.get("DOCKER_HOST").map(str::to_string),
        build_host: env.get("SICURO_SWARM_BUILD_HOST").map(str::to_string),
        registry,
        registry_push,
        registry_auth,
        constraints,
        source_listen,
        source_url,
        node_hosts,
        start_timeout,
    }
}

/// `https://reg.example.com:5000/` → `reg.example.com:5000` (image names carry no scheme).
fn registry_address(raw: &str) -> String {
    let s = raw.trim_end_matches('/');
    s.split_once("://").map_or(s, |(_, rest)| rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarm(pairs: &[(&str, &str)]) -> Result<SwarmConfig, Vec<&'static str>> {
        let mut p = Problems::default();
        let mut all = vec![("SICURO_EXECUTOR", "swarm")];
        all.extend_from_slice(pairs);
        let choice = from_env(&Env::from_pairs(all), &mut p);
        if !p.0.is_empty() {
            return Err(p.0.iter().map(|x| x.var).collect());
        }
        match choice {
            ExecutorChoice::Swarm(c) => Ok(*c),
            ExecutorChoice::Docker => panic!("swarm was asked for"),
        }
    }

    #[test]
    fn the_swarm_needs_a_registry_and_an_address_for_its_jobs() {
        assert_eq!(swarm(&[]).unwrap_err(), ["SICURO_REGISTRY", "SICURO_SWARM_SOURCE_URL"]);
        let c = swarm(&[
            ("SICURO_REGISTRY", "https://reg.example.com:5000/"),
            ("SICURO_SWARM_SOURCE_LISTEN", "10.0.0.5:0"),
            ("SICURO_SWARM_CONSTRAINTS", "node.role==worker, node.labels.ci==true"),
            (
                "SICURO_SWARM_NODE_HOSTS",
                "w1=tcp://10.0.0.6:2376,w2=unix:///run/w2.sock",
            ),
        ])
        .unwrap();
        assert_eq!(c.registry, "reg.example.com:5000");
        assert_eq!(c.registry_push, c.registry);
        assert_eq!(c.constraints, ["node.role==worker", "node.labels.ci==true"]);
        assert_eq!(c.node_hosts.len(), 2);
        assert_eq!(c.source_url, None, "derived from the listener once bound");
        assert_eq!(c.start_timeout, Duration::from_secs(300));
    }

    #[test]
    fn bad_swarm_settings_name_their_variable() {
        let err = swarm(&[
            ("SICURO_REGISTRY", "r:5000"),
            ("SICURO_SWARM_SOURCE_URL", "ftp://x"),
            ("SICURO_SWARM_CONSTRAINTS", "worker"),
            ("SICURO_SWARM_NODE_HOSTS", "w1"),
            ("SICURO_REGISTRY_USERNAME", "u"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            [
                "SICURO_REGISTRY_PASSWORD",
                "SICURO_SWARM_SOURCE_URL",
                "SICURO_SWARM_CONSTRAINTS",
                "SICURO_SWARM_NODE_HOSTS"
            ]
        );
        let mut p = Problems::default();
        from_env(&Env::from_pairs([("SICURO_EXECUTOR", "k8s")]), &mut p);
        assert_eq!(p.0[0].var, "SICURO_EXECUTOR");
    }

    #[test]
    fn the_registry_password_is_not_printed() {
        let c = swarm(&[
            ("SICURO_REGISTRY", "r:5000"),
            ("SICURO_SWARM_SOURCE_URL", "http://10.0.0.5:3001"),
            ("SICURO_REGISTRY_USERNAME", "ci"),
            ("SICURO_REGISTRY_PASSWORD", "hunter2"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
