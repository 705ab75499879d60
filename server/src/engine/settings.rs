//! A repository's build settings: what is sensible at all, and what this server allows (its
//! ceilings). Refused settings say which bound and which variable raises it.

use sicuro_types::RepoSettings;

use super::EngineError;
use super::limits::format_bytes;
use crate::config::Ceilings;

/// The settings as they are stored: a blank schedule or branch is none.
pub fn normalized(mut s: RepoSettings) -> RepoSettings {
    let blank_is_none = |v: Option<String>| v.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    s.schedule = blank_is_none(s.schedule);
    s.schedule_branch = blank_is_none(s.schedule_branch);
    s
}

pub fn check(s: &RepoSettings, ceilings: &Ceilings) -> Result<(), EngineError> {
    let invalid = |m: &str| Err(EngineError::InvalidRequest(m.to_string()));
    if s.max_concurrent < 1 {
        return invalid("max_concurrent must be at least 1");
    }
    if s.timeout_secs.is_some_and(|t| t < 10) {
        return invalid("timeout_secs must be at least 10 seconds");
    }
    if s.memory_bytes.is_some_and(|m| m < 64 * 1024 * 1024) {
        return invalid("memory_bytes must be at least 64 MiB");
    }
    if s.cpus.is_some_and(|c| c.is_nan() || c <= 0.0) {
        return invalid("cpus must be more than 0");
    }
    if s.pids.is_some_and(|p| p < 16) {
        return invalid("pids must be at least 16");
    }
    if let Some(expression) = &s.schedule {
        super::schedule::parse(expression).map_err(EngineError::InvalidRequest)?;
    }
    if let Some(branch) = &s.schedule_branch {
        super::schedule::check_branch(branch).map_err(EngineError::InvalidRequest)?;
    }
    let over = |what: String, var: &str, ceiling: String| {
        Err(EngineError::OverCeiling(format!(
            "{what} is above this server's ceiling of {ceiling} ({var}); ask the server's operator to raise it"
        )))
    };
    if s.max_concurrent > ceilings.repo_concurrency {
        return over(
            format!("max_concurrent {}", s.max_concurrent),
            "SICURO_MAX_REPO_CONCURRENCY",
            ceilings.repo_concurrency.to_string(),
        );
    }
    if let Some(t) = s.timeout_secs
        && t as u64 > ceilings.timeout.as_secs()
    {
        return over(
            format!("timeout_secs {t}"),
            "SICURO_MAX_BUILD_TIMEOUT",
            format!("{} seconds", ceilings.timeout.as_secs()),
        );
    }
    if let Some(m) = s.memory_bytes
        && m as u64 > ceilings.limits.memory_bytes
    {
        return over(
            format!("memory_bytes {}", format_bytes(m as u64)),
            "SICURO_MAX_JOB_MEMORY",
            format_bytes(ceilings.limits.memory_bytes),
        );
    }
    if let Some(c) = s.cpus
        && c > ceilings.limits.cpus
    {
        return over(
            format!("cpus {c}"),
            "SICURO_MAX_JOB_CPUS",
            ceilings.limits.cpus.to_string(),
        );
    }
    if let Some(p) = s.pids
        && p > ceilings.limits.pids
    {
        return over(
            format!("pids {p}"),
            "SICURO_MAX_JOB_PIDS",
            ceilings.limits.pids.to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::JobLimits;

    fn ceilings() -> Ceilings {
        Ceilings {
            limits: JobLimits {
                memory_bytes: 4 << 30,
                cpus: 2.0,
                pids: 2048,
            },
            timeout: Duration::from_secs(3600),
            repo_concurrency: 2,
        }
    }

    fn settings() -> RepoSettings {
        RepoSettings {
            max_concurrent: 1,
            supersede: true,
            timeout_secs: None,
            memory_bytes: None,
            cpus: None,
            pids: None,
            fork_policy: Default::default(),
            schedule: None,
            schedule_branch: None,
        }
    }

    #[test]
    fn settings_above_a_ceiling_are_refused_naming_it() {
        assert!(check(&settings(), &ceilings()).is_ok());
        let cases = [
            (
                RepoSettings {
                    memory_bytes: Some(1 << 40),
                    ..settings()
                },
                "SICURO_MAX_JOB_MEMORY",
            ),
            (
                RepoSettings {
                    cpus: Some(1024.0),
                    ..settings()
                },
                "SICURO_MAX_JOB_CPUS",
            ),
            (
                RepoSettings {
                    pids: Some(1 << 20),
                    ..settings()
                },
                "SICURO_MAX_JOB_PIDS",
            ),
            (
                RepoSettings {
                    max_concurrent: 64,
                    ..settings()
                },
                "SICURO_MAX_REPO_CONCURRENCY",
            ),
            (
                RepoSettings {
                    timeout_secs: Some(365 * 24 * 3600),
                    ..settings()
                },
                "SICURO_MAX_BUILD_TIMEOUT",
            ),
        ];
        for (s, var) in cases {
            match check(&s, &ceilings()) {
                Err(EngineError::OverCeiling(m)) => assert!(m.contains(var), "{m}"),
                other => panic!("{var}: {other:?}"),
            }
        }
        assert!(matches!(
            check(
                &RepoSettings {
                    pids: Some(3),
                    ..settings()
                },
                &ceilings()
            ),
            Err(EngineError::InvalidRequest(_))
        ));
    }
}
