//! The CI engine's settings: how many builds at once, their default timeout and limits, the log
//! limit, the shutdown grace, and the CA certificates built into job images.

use std::time::Duration;

use super::ceilings::{self, Ceilings};
use super::limits::{self, JobLimits};
use super::problems::{Env, Problems, parse_duration, parse_size};
use super::retention::{self, RetentionConfig};
use super::swarm::{self, ExecutorChoice};

/// Defaults for builds; each repository may override them.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub max_concurrent_builds: usize,
    pub default_timeout: Duration,
    pub limits: JobLimits,
    /// The most a repository's settings or `sicuro.json` may ask for.
    pub ceilings: Ceilings,
    pub log_limit_bytes: u64,
    /// How long running builds may go on after SIGTERM before they are canceled.
    pub shutdown_grace: Duration,
    /// Extra CA certificates (PEM) built into the job images, for egress through a
    /// TLS-inspecting proxy or a company CA.
    pub extra_ca_certs: Option<String>,
    /// Where jobs run (`SICURO_EXECUTOR`): the local Docker engine or a swarm.
    pub executor: ExecutorChoice,
    /// IPv4 networks jobs may not reach: link-local (cloud metadata services) always, and what
    /// `SICURO_BLOCKED_NETWORKS` adds (e.g. the private ranges of the host's own network).
    pub blocked_networks: Vec<String>,
    /// What is kept of finished builds, their logs and caches.
    pub retention: RetentionConfig,
}

pub(super) fn from_env(env: &Env, p: &mut Problems) -> EngineConfig {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_concurrent_builds = p.parse_or(
        env,
        "SICURO_MAX_CONCURRENT_BUILDS",
        cpus,
        "a whole number ≥ 1, e.g. 2",
        |s| s.parse::<usize>().ok().filter(|n| *n >= 1),
    );
    let default_timeout = p.parse_or(
        env,
        "SICURO_BUILD_TIMEOUT",
        Duration::from_secs(3600),
        "a duration such as 60m or 1h30m",
        parse_duration,
    );
    let shutdown_grace = p.parse_or(
        env,
        "SICURO_SHUTDOWN_GRACE",
        Duration::from_secs(30),
        "a duration such as 30s",
        |s| humantime::parse_duration(s).ok(),
    );
    let log_limit_bytes = p.parse_or(
        env,
        "SICURO_LOG_LIMIT",
        64 * 1024 * 1024,
        "a size such as 64MiB",
        parse_size,
    );
    let limits = limits::from_env(env, p, cpus);
    let ceilings = ceilings::from_env(env, p, limits, default_timeout, max_concurrent_builds);
    let extra_ca_certs = match extra_ca_certs(env.get("SICURO_EXTRA_CA_CERTS")) {
        Ok(pem) => pem,
        Err(why) => {
            p.add(
                "SICURO_EXTRA_CA_CERTS",
                why,
                "give a PEM file or a directory of .crt files, or `none`",
            );
            None
        }
    };
    let executor = swarm::from_env(env, p);
    let blocked_networks = blocked_networks(env, p);
    let retention = retention::from_env(env, p);
    EngineConfig {
        retention,
        blocked_networks,
        max_concurrent_builds,
        default_timeout,
        limits,
        ceilings,
        log_limit_bytes,
        shutdown_grace,
        extra_ca_certs,
        executor,
    }
}

/// Where Debian keeps the CA certificates an administrator added to this machine.
const LOCAL_CA_DIR: &str = "/usr/local/share/ca-certificates";

/// Reads the extra CA certificates: the file or directory given, or by default the ones added to
/// this machine (what the host trusts, its jobs trust too).
pub(super) fn extra_ca_certs(setting: Option<&str>) -> Result<Option<String>, String> {
    let (path, explicit) = match setting {
        Some("none") => return Ok(None),
        Some(p) => (std::path::PathBuf::from(p), true),
        None => (std::path::PathBuf::from(LOCAL_CA_DIR), false),
    };
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut f: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| format!("{} cannot be read: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt" || x == "pem"))
            .collect();
        f.sort();
        f
    } else if path.is_file() {
        vec![path.clone()]
    } else if explicit {
        return Err(format!("{} does not exist", path.display()));
    } else {
        return Ok(None);
    };
    let mut pem = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{} cannot be read: {e}", f.display()))?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            if explicit {
                return Err(format!("{} holds no PEM certificate", f.display()));
            }
            continue;
        }
        pem.push_str(text.trim());
        pem.push('\n');
    }
    Ok((!pem.is_empty()).then_some(pem))
}

/// Link-local addresses answer for cloud metadata services (credentials of the machine).
pub const LINK_LOCAL: &str = "169.254.0.0/16";

fn blocked_networks(env: &Env, p: &mut Problems) -> Vec<String> {
    let mut nets = vec![LINK_LOCAL.to_string()];
    for raw in env
        .get("SICURO_BLOCKED_NETWORKS")
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|s| !s.is_empty())
    {
        match ipv4_cidr(raw) {
            Some(net) if !nets.contains(&net) => nets.push(net),
            Some(_) => {}
            None => p.add(
                "SICURO_BLOCKED_NETWORKS",
                format!("`{raw}` is not an IPv4 network"),
                "write networks as address/prefix, comma-separated, e.g. 10.0.0.0/8,192.168.0.0/16",
            ),
        }
    }
    nets
}

/// `10.0.0.0/8` as given, when it is an IPv4 network.
fn ipv4_cidr(s: &str) -> Option<String> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some(format!("{addr}/{prefix}"))
}
