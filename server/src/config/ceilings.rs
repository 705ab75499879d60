//! The most any repository may ask for: its settings and its `sicuro.json` stay under these, so
//! a stranger who subscribes a repository cannot hold every build slot for a year.

use std::time::Duration;

use super::limits::JobLimits;
use super::problems::{Env, Problems, parse_duration, parse_size};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ceilings {
    /// `SICURO_MAX_JOB_MEMORY`, `SICURO_MAX_JOB_CPUS`, `SICURO_MAX_JOB_PIDS`.
    pub limits: JobLimits,
    /// `SICURO_MAX_BUILD_TIMEOUT`.
    pub timeout: Duration,
    /// `SICURO_MAX_REPO_CONCURRENCY`: builds of one repository at once.
    pub repo_concurrency: i64,
}

impl Ceilings {
    /// The job limits, each held to its ceiling.
    pub fn hold(&self, limits: JobLimits) -> JobLimits {
        JobLimits {
            memory_bytes: limits.memory_bytes.min(self.limits.memory_bytes),
            cpus: limits.cpus.min(self.limits.cpus),
            pids: limits.pids.min(self.limits.pids),
        }
    }
}

/// Defaults: the server's own job defaults, timeout and concurrency — nobody gets more than
/// the server gives by default unless the operator raises a ceiling.
pub(super) fn from_env(
    env: &Env,
    p: &mut Problems,
    defaults: JobLimits,
    default_timeout: Duration,
    max_builds: usize,
) -> Ceilings {
    let ceilings = Ceilings {
        limits: JobLimits {
            memory_bytes: p.parse_or(
                env,
                "SICURO_MAX_JOB_MEMORY",
                defaults.memory_bytes,
                "a size such as 8GiB",
                parse_size,
            ),
            cpus: p.parse_or(
                env,
                "SICURO_MAX_JOB_CPUS",
                defaults.cpus,
                "a number of CPUs such as 4",
                |s| s.parse::<f64>().ok().filter(|c| *c > 0.0),
            ),
            pids: p.parse_or(
                env,
                "SICURO_MAX_JOB_PIDS",
                defaults.pids,
                "a whole number such as 4096",
                |s| s.parse::<i64>().ok().filter(|n| *n >= 16),
            ),
        },
        timeout: p.parse_or(
            env,
            "SICURO_MAX_BUILD_TIMEOUT",
            default_timeout,
            "a duration such as 2h",
            parse_duration,
        ),
        repo_concurrency: p.parse_or(
            env,
            "SICURO_MAX_REPO_CONCURRENCY",
            max_builds as i64,
            "a whole number ≥ 1",
            |s| s.parse::<i64>().ok().filter(|n| *n >= 1),
        ),
    };
    let below = |var: &'static str, p: &mut Problems, what: &str| {
        p.add(
            var,
            format!("the ceiling is below the server's default {what}"),
            format!("raise {var}, or lower the default {what} to it"),
        )
    };
    if ceilings.limits.memory_bytes < defaults.memory_bytes {
        below("SICURO_MAX_JOB_MEMORY", p, "job memory (SICURO_JOB_MEMORY)");
    }
    if ceilings.limits.cpus < defaults.cpus {
        below("SICURO_MAX_JOB_CPUS", p, "job CPUs (SICURO_JOB_CPUS)");
    }
    if ceilings.limits.pids < defaults.pids {
        below("SICURO_MAX_JOB_PIDS", p, "job processes (SICURO_JOB_PIDS)");
    }
    if ceilings.timeout < default_timeout {
        below("SICURO_MAX_BUILD_TIMEOUT", p, "timeout (SICURO_BUILD_TIMEOUT)");
    }
    ceilings
}
