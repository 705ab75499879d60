//! One build from claim to verdict: checkout from the mirror, the plan, the job (see `job`),
//! then the verdict in the database and at the end of the log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sicuro_types::{BuildStatus, LineKind, format_duration};
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::checkout::{CHECKOUT_DEPTH, CheckoutError, CheckoutRef};
use super::checkout_contents;
use super::executor::{Source, SourceKind};
use super::job::{self, CacheOwner, JobInputs};
use super::log_store::LogWriter;
use super::plan::Plan;
use super::project_files::{self, ProjectFiles};
use super::sicuro_json;
use super::verdict::{StopRequest, Verdict};
use crate::db::builds::{self, Build, Finish};
use crate::db::repos::Repo;

/// Why a running build is being stopped, set by whoever stops it.
pub type StopSlot = Arc<Mutex<Option<StopRequest>>>;

pub async fn execute(engine: Engine, build: Build, repo: Arc<Repo>, stop: CancellationToken, reason: StopSlot) {
    let started = Instant::now();
    engine.announce(&repo, build.clone());
    let mut log = match engine.0.logs.create(build.id, engine.0.config.log_limit_bytes) {
        Ok(l) => l,
        Err(e) => {
            record_internal_error(
                &engine,
                &repo,
                build.id,
                &format!("the log file could not be created: {e}"),
            )
            .await;
            return;
        }
    };
    tracing::info!(build = build.id, repo = %repo.slug(), number = build.number, "started");
    let stop_reason = move || {
        reason.lock().expect("stop reason").clone().unwrap_or(StopRequest {
            status: BuildStatus::Canceled,
            message: "canceled".into(),
        })
    };

    log.push(LineKind::Section, "checkout");
    let checked_out = tokio::select! {
        c = checkout(&engine, &repo, &build) => c,
        _ = stop.cancelled() => Err(Verdict::stopped(stop_reason())),
    };
    let verdict = match checked_out.and_then(|c| plan(c, &build, &mut log)) {
        Err(v) => say(&mut log, v),
        Ok((plan, source)) => run_job(&engine, &repo, &build, plan, source, &mut log, stop, stop_reason).await,
    };
    finish(&engine, &repo, &build, log, verdict, started).await;
}

/// A verdict reached before the job ran, said in the log.
fn say(log: &mut LogWriter, v: Verdict) -> Verdict {
    if let Some(m) = &v.message {
        log.push(LineKind::Notice, m);
    }
    v
}

/// The build's secrets, then its job.
#[allow(clippy::too_many_arguments)]
async fn run_job(
    engine: &Engine,
    repo: &Repo,
    build: &Build,
    plan: Plan,
    source: Source,
    log: &mut LogWriter,
    stop: CancellationToken,
    stop_reason: impl FnOnce() -> StopRequest,
) -> Verdict {
    let given = match engine.secrets_for_build(repo, build, plan.secrets.as_deref()).await {
        Ok(g) => g,
        Err(v) => return say(log, v),
    };
    if !given.withheld.is_empty() {
        log.push(
            LineKind::Notice,
            &format!(
                "Secrets withheld from this pull request from a fork: {} (only secrets marked for forks are given to forks' code)",
                given.withheld.join(", ")
            ),
        );
    }
    let config = &engine.0.config;
    let inputs = JobInputs {
        key: build.id.to_string(),
        source,
        env: build_env(repo, build),
        secrets: given.secrets,
        // Settings saved before a ceiling was lowered are held to it too.
        limits: config
            .ceilings
            .hold(config.limits.with_overrides(repo.memory_bytes, repo.cpus, repo.pids)),
        timeout: repo
            .timeout_secs
            .filter(|s| *s > 0)
            .map_or(config.default_timeout, |s| Duration::from_secs(s as u64))
            .min(config.ceilings.timeout),
        max_timeout: config.ceilings.timeout,
        blocked_networks: config.blocked_networks.clone(),
        cache: Some(CacheOwner {
            repo_id: repo.id,
            untrusted: build.from_fork(),
        }),
    };
    // Remembered for the retention pass, which removes the least recently used caches first.
    let cache = job::cache_name(&plan, build.from_fork());
    if let Err(e) = crate::db::caches::used(&engine.0.db, repo.id, &cache, crate::db::now_ms()).await {
        tracing::warn!("the use of cache {cache} could not be recorded: {e}");
    }
    let outcome = job::run(engine.0.executor.as_ref(), &plan, inputs, log, stop, stop_reason).await;
    if let Some(tests) = &outcome.tests {
        record_tests(engine, build.id, tests).await;
    }
    outcome.verdict
}

/// The summary line, the verdict in the database, then the end of the log, in that order.
async fn finish(
    engine: &Engine,
    repo: &Arc<Repo>,
    build: &Build,
    mut log: LogWriter,
    verdict: Verdict,
    started: Instant,
) {
    let elapsed = format_duration(started.elapsed().as_millis() as i64);
    let summary = match (verdict.status, &verdict.message) {
        (BuildStatus::Success, _) => format!("Build #{} passed in {elapsed}", build.number),
        (status, Some(m)) => format!("Build #{} {} after {elapsed}: {m}", build.number, status.label()),
        (status, None) => format!("Build #{} {} after {elapsed}", build.number, status.label()),
    };
    log.push(LineKind::Notice, &summary);
    let finish = Finish {
        status: verdict.status,
        exit_code: verdict.exit_code,
        error: verdict.message.clone(),
        log_lines: log.lines() as i64,
        log_bytes: log.bytes() as i64,
    };
    let _ = log.flush();
    record(engine, repo, build.id, &finish).await;
    if let Err(e) = log.finish(verdict.status) {
        tracing::error!(build = build.id, "the log could not be completed: {e}");
    }
    tracing::info!(
        build = build.id,
        status = verdict.status.as_str(),
        "finished in {elapsed}"
    );
}

/// Keeps what the test reports say, before the verdict is announced (its commit status carries
/// the counts). Failing to is logged, never a reason to change the verdict.
async fn record_tests(engine: &Engine, build_id: i64, tests: &super::reports::ParsedReports) {
    let recorded =
        crate::db::test_reports::record(&engine.0.db, build_id, tests.counts, &tests.cases, &tests.problems).await;
    if let Err(e) = recorded {
        tracing::error!(build = build_id, "the test report could not be recorded: {e}");
    }
}

/// Writes the verdict, retrying for as long as the database does not answer (a build left
/// active would hold its slot, and every rebuild of its commit would return it), then
/// announces it. Only a server shutting down stops trying: the next one's recovery ends the
/// build `error`, saying the server restarted.
async fn record(engine: &Engine, repo: &Arc<Repo>, build_id: i64, finish: &Finish) {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        match builds::finish(&engine.0.db, build_id, finish).await {
            Ok(_) => break,
            Err(e) if !engine.accepting() && attempt >= 5 => {
                tracing::error!(
                    build = build_id,
                    "the verdict could not be recorded before shutting down: {e}"
                );
                return;
            }
            Err(e) => {
                tracing::error!(
                    build = build_id,
                    attempt,
                    "could not record the verdict, retrying in {delay:?}: {e}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
        }
    }
    // The announcement (pages, streams, the status poster's wake-up) needs the row as it is now.
    let mut delay = Duration::from_millis(200);
    loop {
        match builds::get(&engine.0.db, build_id).await {
            Ok(Some(b)) => return engine.announce(repo, b),
            Ok(None) => return,
            Err(e) if !engine.accepting() => {
                tracing::warn!(build = build_id, "the verdict is recorded but not announced: {e}");
                return;
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

pub async fn record_internal_error(engine: &Engine, repo: &Arc<Repo>, build_id: i64, message: &str) {
    let message = format!("Sicuro failed internally: {message}");
    let finish = Finish {
        status: BuildStatus::Error,
        exit_code: None,
        error: Some(message.clone()),
        log_lines: 0,
        log_bytes: 0,
    };
    record(engine, repo, build_id, &finish).await;
    engine.0.logs.conclude(build_id, &message, BuildStatus::Error);
}

/// What the checkout gives the plan.
struct CheckedOut {
    root_files: Vec<String>,
    sicuro_json: Option<String>,
    /// The root files the defaults depend on (`pyproject.toml`, `package.json`).
    project_files: ProjectFiles,
    github_language: Option<String>,
    source: Source,
    /// What the job goes without (a fetched commit's submodules), said at the top of its log.
    notices: Vec<String>,
}

/// Fetches the commit into the mirror and reads what the plan needs from it.
async fn checkout(engine: &Engine, repo: &Repo, build: &Build) -> Result<CheckedOut, Verdict> {
    let checkout_error = |e: CheckoutError| Verdict::error(format!("checkout failed: {e}"));
    let creds = if build.from_fork() && build.fetch_url.is_some() {
        // A fork is fetched with no token of ours: it is public or it cannot be built.
        Default::default()
    } else {
        engine.0.credentials.for_repo(repo).await
    };
    let url = build.fetch_url.as_deref().unwrap_or(&repo.clone_url);
    let mirrors = &engine.0.mirrors;
    mirrors
        .ensure_commit(
            repo.id,
            url,
            build.fetch_ref.as_deref(),
            &build.commit_sha,
            &creds,
            build.fetch_url.is_some(),
        )
        .await
        .map_err(checkout_error)?;
    let root_files = mirrors
        .root_files(repo.id, &build.commit_sha)
        .await
        .map_err(checkout_error)?;
    let sicuro_json = mirrors
        .read_file(repo.id, &build.commit_sha, sicuro_json::FILE_NAME)
        .await
        .map_err(checkout_error)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut project_files = ProjectFiles::default();
    for name in project_files::NAMES
        .iter()
        .filter(|n| root_files.iter().any(|f| f == *n))
    {
        if let Some(bytes) = mirrors
            .read_file(repo.id, &build.commit_sha, name)
            .await
            .map_err(checkout_error)?
        {
            project_files.insert(name, &bytes);
        }
    }
    // `"clone": {"depth": N}` when the file asks (a broken file is reported by the plan).
    let depth = sicuro_json
        .as_deref()
        .and_then(|t| sicuro_json::SicuroJson::parse(t).ok())
        .and_then(|j| j.clone_depth())
        .unwrap_or(CHECKOUT_DEPTH);
    // A job the executor runs elsewhere fetches the commit from the mirror itself.
    let mut notices = Vec::new();
    let source = match engine.0.executor.source_kind() {
        SourceKind::Archive => Source::Archive(
            mirrors
                .checkout_tar(
                    repo.id,
                    &build.commit_sha,
                    &checkout_ref(build),
                    &repo.clone_url,
                    depth,
                    &creds,
                )
                .await
                .map_err(checkout_error)?,
        ),
        SourceKind::Commit => {
            notices =
                checkout_contents::left_out_of_fetched_commits(mirrors, repo.id, &build.commit_sha, &root_files).await;
            Source::Commit {
                repo: mirrors.path(repo.id),
                sha: build.commit_sha.clone(),
                depth,
            }
        }
    };
    Ok(CheckedOut {
        root_files,
        sicuro_json,
        project_files,
        github_language: repo.language.clone(),
        source,
        notices,
    })
}

/// Says what was checked out and makes the plan from it.
fn plan(c: CheckedOut, build: &Build, log: &mut LogWriter) -> Result<(Plan, Source), Verdict> {
    log.push(
        LineKind::Notice,
        &format!("Checked out {} ({})", short(&build.commit_sha), describe_ref(build)),
    );
    for notice in &c.notices {
        log.push(LineKind::Notice, notice);
    }
    let _ = log.flush();
    let plan = Plan::for_project(
        &c.root_files,
        &c.project_files,
        c.sicuro_json.as_deref(),
        c.github_language.as_deref(),
    )
    .map_err(|e| Verdict::error(e.to_string()))?;
    Ok((plan, c.source))
}

/// What a job may know about its build. No credentials, ever.
fn build_env(repo: &Repo, build: &Build) -> Vec<(String, String)> {
    let mut env = vec![
        ("CI".to_string(), "true".to_string()),
        ("SICURO".to_string(), "true".to_string()),
        ("SICURO_REPO".to_string(), repo.slug()),
        ("SICURO_BUILD_NUMBER".to_string(), build.number.to_string()),
        ("SICURO_EVENT".to_string(), build.event.clone()),
        ("SICURO_COMMIT".to_string(), build.commit_sha.clone()),
    ];
    if let Some(b) = &build.branch {
        let key = if build.is_tag != 0 {
            "SICURO_TAG"
        } else {
            "SICURO_BRANCH"
        };
        env.push((key.to_string(), b.clone()));
    }
    if let Some(pr) = build.pr_number {
        env.push(("SICURO_PULL_REQUEST".to_string(), pr.to_string()));
    }
    env
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// What the job's checkout is on: the branch pushed, the tag, a pull request's head (detached,
/// as CI checkouts of a pull request are, with its `refs/pull/N/head`), or the commit alone.
fn checkout_ref(build: &Build) -> CheckoutRef {
    match (build.pr_number, &build.branch) {
        (Some(n), _) => CheckoutRef::PullRequest(n),
        (None, Some(t)) if build.is_tag != 0 => CheckoutRef::Tag(t.clone()),
        (None, Some(b)) => CheckoutRef::Branch(b.clone()),
        _ => CheckoutRef::Detached,
    }
}

fn describe_ref(build: &Build) -> String {
    match (build.pr_number, &build.branch) {
        (Some(pr), _) => format!("pull request #{pr}"),
        (None, Some(b)) if build.is_tag != 0 => format!("tag {b}"),
        (None, Some(b)) => format!("branch {b}"),
        _ => "commit".to_string(),
    }
}
