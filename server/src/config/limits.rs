//! Resource limits of a job container, so one build cannot starve the others.

use serde::{Deserialize, Serialize};

use super::problems::{Env, Problems, parse_size};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobLimits {
    pub memory_bytes: u64,
    pub cpus: f64,
    pub pids: i64,
}

impl JobLimits {
    pub const DEFAULT: JobLimits = JobLimits {
        memory_bytes: 4 * 1024 * 1024 * 1024,
        cpus: 2.0,
        pids: 2048,
    };

    /// The repository's overrides on top of the server's defaults.
    pub fn with_overrides(self, memory_bytes: Option<i64>, cpus: Option<f64>, pids: Option<i64>) -> Self {
        JobLimits {
            memory_bytes: memory_bytes.filter(|m| *m > 0).map_or(self.memory_bytes, |m| m as u64),
            cpus: cpus.filter(|c| *c > 0.0).unwrap_or(self.cpus),
            pids: pids.filter(|p| *p > 0).unwrap_or(self.pids),
        }
    }
}

/// `SICURO_JOB_MEMORY`, `SICURO_JOB_CPUS`, `SICURO_JOB_PIDS`: the default limits of a job.
pub(super) fn from_env(env: &Env, p: &mut Problems, cpus: usize) -> JobLimits {
    JobLimits {
        memory_bytes: p.parse_or(
            env,
            "SICURO_JOB_MEMORY",
            JobLimits::DEFAULT.memory_bytes,
            "a size such as 4GiB",
            parse_size,
        ),
        cpus: p.parse_or(
            env,
            "SICURO_JOB_CPUS",
            cpus as f64,
            "a number of CPUs such as 2 or 0.5",
            |s| s.parse::<f64>().ok().filter(|c| *c > 0.0),
        ),
        pids: p.parse_or(
            env,
            "SICURO_JOB_PIDS",
            JobLimits::DEFAULT.pids,
            "a whole number such as 1024",
            |s| s.parse::<i64>().ok().filter(|n| *n >= 16),
        ),
    }
}
