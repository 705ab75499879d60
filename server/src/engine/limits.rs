//! Resource limits of a job container, so one build cannot starve the others.

use serde::{Deserialize, Serialize};

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

/// "4 GiB", "512 MiB".
pub fn format_bytes(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}
