//! What a build's job is: the plan (language defaults and `sicuro.json`) turned into a
//! [`JobSpec`] — image, script, environment, services, caches, limits, timeout — run by the
//! executor, and its end turned into the build's verdict. `build` (webhook and manual builds)
//! and `sicuro run` both go through here.

use std::time::Duration;

use sicuro_types::{LineKind, format_duration};
use tokio_util::sync::CancellationToken;

use super::executor::{CacheSpec, Executor, JobSpec, MainSpec, NetworkSpec, ServiceSpec, Source};
use super::limits::format_bytes;
use super::log_output::LogOutput;
use super::log_store::LogWriter;
use super::mask::Masker;
use super::output::marker_prefix;
use super::plan::Plan;
use super::reports::{self, ParsedReports};
use super::verdict::{self, JobFacts, StopRequest, Verdict};
use crate::config::JobLimits;

/// Where the dependency cache is mounted in every image.
pub const CACHE_MOUNT: &str = "/cache";

/// Everything a job needs besides its plan.
pub struct JobInputs {
    /// Names the job's objects (the build id, or a one-off id for `sicuro run`).
    pub key: String,
    /// The source tree, as the executor takes it.
    pub source: Source,
    /// Variables describing the build (`CI`, `SICURO_COMMIT`, …). Never credentials.
    pub env: Vec<(String, String)>,
    /// The secrets this job may have (name, value), already chosen for its trust: set in the
    /// main container's environment only (services get none), and masked in its output.
    pub secrets: Vec<(String, String)>,
    pub limits: JobLimits,
    /// The repository's (or server's) timeout; `sicuro.json` may ask for another.
    pub timeout: Duration,
    /// The most `sicuro.json` may ask for (the server's ceiling).
    pub max_timeout: Duration,
    pub cache: Option<CacheOwner>,
    /// Destinations the job may not reach (`SICURO_BLOCKED_NETWORKS`).
    pub blocked_networks: Vec<String>,
}

/// Whose dependency cache the job gets.
#[derive(Clone, Copy, Debug)]
pub struct CacheOwner {
    pub repo_id: i64,
    /// Builds of code the repository's people did not write (pull requests from forks) get a
    /// cache of their own, so they can never write what trusted builds read.
    pub untrusted: bool,
}

/// How a job ended: its verdict, and what its test reports say (when it wrote any).
pub struct JobOutcome {
    pub verdict: Verdict,
    pub tests: Option<ParsedReports>,
}

/// Runs the plan's job to its verdict. Every object the job created (but its cache) is gone
/// when this returns.
pub async fn run(
    executor: &dyn Executor,
    plan: &Plan,
    inputs: JobInputs,
    log: &mut LogWriter,
    stop: CancellationToken,
    stop_reason: impl FnOnce() -> StopRequest,
) -> JobOutcome {
    announce(plan, &inputs, log);
    let limits = inputs.limits;
    let timeout = timeout(plan, &inputs, log);
    let nonce = random_nonce();
    let masker = Masker::new(inputs.secrets.iter().map(|(_, v)| v), &[&marker_prefix(&nonce)]);
    let spec = spec(plan, inputs, &nonce, timeout);
    let mut out = LogOutput::new(log, plan, &nonce, masker);
    let end = executor.run(spec, &mut out, stop).await;
    out.finish();
    let tests = read_reports(&mut out);
    let facts = JobFacts {
        end,
        last_command: out.last_command(),
        limits,
        timeout,
        ran_for: out.ran_for(),
    };
    let last_index = out.last_command_index();
    let mut verdict = verdict::from_end(facts, stop_reason);
    if let Some(advice) = missing_command_advice(plan, last_index, &verdict) {
        verdict.message = verdict.message.map(|m| format!("{m}. {advice}"));
    }
    if verdict.status == sicuro_types::BuildStatus::Failure
        && let Some(m) = &verdict.message
    {
        log.push(LineKind::Notice, m);
    }
    if let Some(t) = &tests {
        for problem in &t.problems {
            log.push(LineKind::Notice, &format!("Test report: {problem}"));
        }
        if t.counts.total() > 0 {
            log.push(LineKind::Notice, &format!("Tests: {}", t.counts.describe()));
        }
    }
    let _ = log.flush();
    JobOutcome { verdict, tests }
}

/// Parses the reports the job printed; `None` when it printed none.
fn read_reports(out: &mut LogOutput<'_>) -> Option<ParsedReports> {
    let (files, problems) = out.take_reports().into_files();
    if files.is_empty() && problems.is_empty() {
        return None;
    }
    Some(reports::parse(&files, problems))
}

/// The job's timeout: `sicuro.json`'s when it gives one, held to the server's ceiling.
fn timeout(plan: &Plan, inputs: &JobInputs, log: &mut LogWriter) -> Duration {
    let Some(asked) = plan.timeout else {
        return inputs.timeout;
    };
    if asked > inputs.max_timeout {
        log.push(
            LineKind::Notice,
            &format!(
                "sicuro.json asks for a timeout of {}; this server allows at most {} (SICURO_MAX_BUILD_TIMEOUT), so \
                 the build stops after that",
                format_duration(asked.as_millis() as i64),
                format_duration(inputs.max_timeout.as_millis() as i64)
            ),
        );
        return inputs.max_timeout;
    }
    asked
}

fn announce(plan: &Plan, inputs: &JobInputs, log: &mut LogWriter) {
    log.push(LineKind::Section, "prepare");
    log.push(
        LineKind::Notice,
        &format!(
            "Language: {} · image: {} · limits: {} memory, {} CPUs, {} processes",
            plan.language.map_or("none (sicuro.json commands only)", |l| l.name()),
            plan.image,
            format_bytes(inputs.limits.memory_bytes),
            inputs.limits.cpus,
            inputs.limits.pids
        ),
    );
    if !inputs.secrets.is_empty() {
        let names: Vec<&str> = inputs.secrets.iter().map(|(n, _)| n.as_str()).collect();
        log.push(
            LineKind::Notice,
            &format!("Secrets: {} (masked as *** in this log)", names.join(", ")),
        );
    }
    let _ = log.flush();
}

/// What to do when a command failed because a program is missing from the image.
fn missing_command_advice(plan: &Plan, last_index: Option<usize>, verdict: &Verdict) -> Option<String> {
    let (index, code) = (last_index?, verdict.exit_code?);
    let command = plan.commands().nth(index)?;
    super::missing_command::advice(command, plan.phase_of(index)?, code)
}

/// The job as plain data for the executor.
pub fn spec(plan: &Plan, inputs: JobInputs, nonce: &str, timeout: Duration) -> JobSpec {
    // Service addresses first, then the build's variables, then `sicuro.json`'s own, then the
    // secrets, which an admin set and which win.
    let mut env: Vec<(String, String)> = plan
        .services
        .iter()
        .map(|s| {
            let (k, v) = s.env();
            (k.to_string(), v.to_string())
        })
        .collect();
    env.extend(inputs.env);
    env.extend(plan.env.iter().cloned());
    env.extend(inputs.secrets);
    // One entry per name, the last one: what wins does not depend on how the executor reads
    // duplicates.
    let mut seen = std::collections::HashSet::new();
    env.reverse();
    env.retain(|(k, _)| seen.insert(k.clone()));
    env.reverse();
    let caches = inputs
        .cache
        .map(|owner| CacheSpec {
            repo_id: owner.repo_id,
            name: cache_name(plan, owner.untrusted),
            mount: CACHE_MOUNT.to_string(),
        })
        .into_iter()
        .collect();
    JobSpec {
        key: inputs.key,
        main: MainSpec {
            image: plan.image.clone(),
            source: inputs.source,
            script: plan.script(nonce),
            env,
            limits: inputs.limits,
        },
        services: plan
            .services
            .iter()
            .map(|&kind| ServiceSpec {
                kind,
                limits: service_limits(inputs.limits),
            })
            .collect(),
        caches,
        network: NetworkSpec {
            blocked: inputs.blocked_networks,
        },
        timeout,
    }
}

/// A service gets at most what the job gets, and never more than 1 GiB and 512 processes.
fn service_limits(job: JobLimits) -> JobLimits {
    JobLimits {
        memory_bytes: job.memory_bytes.min(1024 * 1024 * 1024),
        cpus: job.cpus,
        pids: job.pids.min(512),
    }
}

/// The cache's name within its repository: the language (its tools' caches), and `-forks`
/// for untrusted builds.
pub fn cache_name(plan: &Plan, untrusted: bool) -> String {
    let language = plan.language.map_or("base", |l| l.name());
    if untrusted {
        format!("{language}-forks")
    } else {
        language.to_string()
    }
}

fn random_nonce() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_to_the_main_container_only_and_win_over_sicuro_json() {
        let plan = Plan::new(
            &[],
            Some(r#"{"env": {"TOKEN": "from-sicuro-json"}, "services": ["redis"], "test": {"custom": ["true"]}}"#),
            None,
        )
        .unwrap();
        let inputs = JobInputs {
            key: "1".into(),
            source: Source::Archive(Vec::new()),
            env: vec![("CI".into(), "true".into())],
            secrets: vec![("TOKEN".into(), "the-secret".into())],
            limits: JobLimits {
                memory_bytes: 1 << 30,
                cpus: 1.0,
                pids: 256,
            },
            timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(60),
            blocked_networks: Vec::new(),
            cache: None,
        };
        let spec = spec(&plan, inputs, "n", Duration::from_secs(60));
        let tokens: Vec<_> = spec.main.env.iter().filter(|(k, _)| k == "TOKEN").collect();
        assert_eq!(
            tokens,
            [&("TOKEN".to_string(), "the-secret".to_string())],
            "once, the secret's value"
        );
        assert_eq!(
            spec.main.env[0],
            ("REDIS_URL".to_string(), "redis://redis:6379/0".to_string())
        );
        // A service is its kind and limits: no environment of the job can reach it.
        assert_eq!(spec.services.len(), 1);
        assert_eq!(format!("{:?}", spec.services[0]).matches("the-secret").count(), 0);
    }
}
