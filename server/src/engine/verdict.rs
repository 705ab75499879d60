//! How a build ended, said the way a person reads it: which command failed with which code,
//! which limit was hit, or what broke.

use std::time::Duration;

use sicuro_types::{BuildStatus, format_duration};

use super::executor::JobEnd;
use super::limits::format_bytes;
use crate::config::JobLimits;

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: BuildStatus,
    pub exit_code: Option<i64>,
    /// For `error` (what broke) and for failures that were not a test's (timeouts, limits).
    pub message: Option<String>,
}

impl Verdict {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            status: BuildStatus::Error,
            exit_code: None,
            message: Some(message.into()),
        }
    }

    fn failure(exit_code: Option<i64>, message: String) -> Self {
        Self {
            status: BuildStatus::Failure,
            exit_code,
            message: Some(message),
        }
    }

    /// A build stopped on request: canceled, superseded, or shut down.
    pub fn stopped(request: StopRequest) -> Self {
        Self {
            status: request.status,
            exit_code: None,
            message: Some(request.message),
        }
    }
}

/// Why a running build is being stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct StopRequest {
    pub status: BuildStatus,
    pub message: String,
}

/// What the job's end means.
pub struct JobFacts<'a> {
    pub end: JobEnd,
    /// The command that ran last.
    pub last_command: Option<&'a str>,
    pub limits: JobLimits,
    pub timeout: Duration,
    pub ran_for: Duration,
}

pub fn from_end(facts: JobFacts<'_>, stop_reason: impl FnOnce() -> StopRequest) -> Verdict {
    let pids_reason =
        |hit: bool| hit.then(|| format!("the job reached its process limit of {} processes", facts.limits.pids));
    match facts.end {
        JobEnd::Stopped => Verdict::stopped(stop_reason()),
        JobEnd::Failed(message) => Verdict::error(message),
        JobEnd::TimedOut { hit_pids_limit } => {
            let mut message = format!("timed out after {}", format_duration(facts.timeout.as_millis() as i64));
            if hit_pids_limit {
                message.push_str(&format!(
                    "; the job had reached its process limit of {} processes",
                    facts.limits.pids
                ));
            }
            Verdict::failure(None, message)
        }
        JobEnd::Exited { code: 0, .. } => Verdict {
            status: BuildStatus::Success,
            exit_code: Some(0),
            message: None,
        },
        JobEnd::Exited {
            code,
            oom_killed,
            hit_pids_limit,
        } => {
            let ran_for = format_duration(facts.ran_for.as_millis() as i64);
            let mut message = match facts.last_command {
                Some(c) => format!("`{c}` exited with code {code} after {ran_for}"),
                None => format!("the job exited with code {code} after {ran_for}"),
            };
            let mut reasons = Vec::new();
            if oom_killed {
                reasons.push(format!(
                    "the job was killed for using more than its memory limit of {}",
                    format_bytes(facts.limits.memory_bytes)
                ));
            }
            reasons.extend(pids_reason(hit_pids_limit));
            if !reasons.is_empty() {
                message = format!("{message}: {}", reasons.join("; "));
            }
            Verdict::failure(Some(code), message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(end: JobEnd) -> JobFacts<'static> {
        JobFacts {
            end,
            last_command: Some("cargo test"),
            limits: JobLimits {
                memory_bytes: 128 * 1024 * 1024,
                cpus: 1.0,
                pids: 64,
            },
            timeout: Duration::from_secs(3),
            ran_for: Duration::from_millis(1500),
        }
    }

    fn canceled() -> StopRequest {
        StopRequest {
            status: BuildStatus::Canceled,
            message: "canceled by ann".into(),
        }
    }

    #[test]
    fn each_end_reads_as_a_person_would_say_it() {
        let v = from_end(
            facts(JobEnd::Exited {
                code: 101,
                oom_killed: true,
                hit_pids_limit: true,
            }),
            canceled,
        );
        assert_eq!(v.status, BuildStatus::Failure);
        assert_eq!(v.exit_code, Some(101));
        assert_eq!(
            v.message.as_deref(),
            Some(
                "`cargo test` exited with code 101 after 1s: the job was killed for using more than its memory \
                 limit of 128 MiB; the job reached its process limit of 64 processes"
            )
        );
        let v = from_end(facts(JobEnd::TimedOut { hit_pids_limit: false }), canceled);
        assert_eq!(
            (v.status, v.message.as_deref()),
            (BuildStatus::Failure, Some("timed out after 3s"))
        );
        let v = from_end(facts(JobEnd::Stopped), canceled);
        assert_eq!(
            (v.status, v.message.as_deref()),
            (BuildStatus::Canceled, Some("canceled by ann"))
        );
        let v = from_end(facts(JobEnd::Failed("Docker refused x".into())), canceled);
        assert_eq!(
            (v.status, v.message.as_deref()),
            (BuildStatus::Error, Some("Docker refused x"))
        );
        let v = from_end(
            facts(JobEnd::Exited {
                code: 0,
                oom_killed: false,
                hit_pids_limit: false,
            }),
            canceled,
        );
        assert_eq!(
            (v.status, v.exit_code, v.message),
            (BuildStatus::Success, Some(0), None)
        );
    }
}
