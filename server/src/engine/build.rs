//! One build from claim to verdict: checkout from the mirror, the job (see `runner`), then the
//! verdict in the database and the announcement.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::{BuildStatus, LineKind, format_duration};
use tokio_util::sync::CancellationToken;

use super::project_files::{self, ProjectFiles};
use super::runner::{self, CacheSpec, Job, RunnerDeps, StopRequest, Verdict};
use super::sicuro_json;
use super::{Engine, checkout::CheckoutError};
use crate::db::builds::{self, Build, Finish};
use crate::db::repos::{self, Repo};

pub async fn execute(engine: Engine, build: Build, stop: CancellationToken, reason: Arc<Mutex<Option<StopRequest>>>) {
    let started = std::time::Instant::now();
    engine.announce(build.clone()).await;
    let repo = match repos::get(&engine.0.db, build.repo_id).await {
        Ok(Some(r)) => r,
        _ => {
            record_internal_error(&engine, build.id, "the repository vanished from the database").await;
            return;
        }
    };
    let mut log = match engine.0.logs.create(build.id, engine.0.config.log_limit_bytes) {
        Ok(l) => l,
        Err(e) => {
            record_internal_error(&engine, build.id, &format!("the log file could not be created: {e}")).await;
            return;
        }
    };
    tracing::info!(build = build.id, repo = %repo.slug(), number = build.number, "started");

    let stop_reason = {
        let reason = reason.clone();
        move || {
            reason.lock().expect("stop reason").clone().unwrap_or(StopRequest {
                status: BuildStatus::Canceled,
                message: "canceled".into(),
            })
        }
    };

    log.push(LineKind::Section, "checkout");
    let prepared = tokio::select! {
        p = prepare(&engine, &repo, &build) => p,
        _ = stop.cancelled() => {
            let r = stop_reason();
            Err(Verdict { status: r.status, exit_code: None, message: Some(r.message) })
        }
    };
    let verdict = match prepared {
        Err(v) => {
            if let Some(m) = &v.message {
                log.push(LineKind::Notice, m);
            }
            v
        }
        Ok(job) => {
            log.push(
                LineKind::Notice,
                &format!("Checked out {} ({})", short(&build.commit_sha), describe_ref(&build)),
            );
            let _ = log.flush();
            let deps = RunnerDeps {
                docker: engine.0.docker.clone(),
                images: engine.0.images.clone(),
                instance: engine.0.instance.clone(),
            };
            runner::run(&deps, job, &mut log, stop, stop_reason).await
        }
    };

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
    // The verdict is in the database before the log ends, so a reader's `end` sees it.
    record(&engine, build.id, &finish).await;
    if let Err(e) = log.finish() {
        tracing::error!(build = build.id, "the log could not be completed: {e}");
    }
    tracing::info!(
        build = build.id,
        status = verdict.status.as_str(),
        "finished in {elapsed}"
    );
}

/// Writes the verdict, retrying while the database is unavailable, then announces it.
async fn record(engine: &Engine, build_id: i64, finish: &Finish) {
    let mut delay = Duration::from_millis(200);
    for attempt in 0..30 {
        match builds::finish(&engine.0.db, build_id, finish).await {
            Ok(_) => break,
            Err(e) => {
                tracing::error!(build = build_id, attempt, "could not record the verdict: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    if let Ok(Some(b)) = builds::get(&engine.0.db, build_id).await {
        engine.announce(b).await;
    }
}

pub async fn record_internal_error(engine: &Engine, build_id: i64, message: &str) {
    let finish = Finish {
        status: BuildStatus::Error,
        exit_code: None,
        error: Some(format!("Sicuro failed internally: {message}")),
        log_lines: 0,
        log_bytes: 0,
    };
    record(engine, build_id, &finish).await;
    engine.0.logs.abandon(build_id);
}

/// Fetches the commit and turns it into a job.
async fn prepare(engine: &Engine, repo: &Repo, build: &Build) -> Result<Job, Verdict> {
    let checkout_error = |e: CheckoutError| Verdict {
        status: BuildStatus::Error,
        exit_code: None,
        message: Some(format!("checkout failed: {e}")),
    };
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
    let source_tar = mirrors
        .archive(repo.id, &build.commit_sha)
        .await
        .map_err(checkout_error)?;

    let limits = engine
        .0
        .config
        .limits
        .with_overrides(repo.memory_bytes, repo.cpus, repo.pids);
    let timeout = repo
        .timeout_secs
        .filter(|s| *s > 0)
        .map_or(engine.0.config.default_timeout, |s| Duration::from_secs(s as u64));
    let language = runner::cache_language(&root_files, sicuro_json.as_deref(), repo.language.as_deref());
    let cache = CacheSpec {
        volume: runner::cache_volume(&engine.0.instance, repo.id, &language, build.from_fork()),
        repo_id: repo.id,
    };
    Ok(Job {
        key: build.id.to_string(),
        root_files,
        sicuro_json,
        project_files,
        github_language: repo.language.clone(),
        source_tar,
        env: build_env(repo, build),
        limits,
        timeout,
        cache: Some(cache),
    })
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

fn describe_ref(build: &Build) -> String {
    match (build.pr_number, &build.branch) {
        (Some(pr), _) => format!("pull request #{pr}"),
        (None, Some(b)) if build.is_tag != 0 => format!("tag {b}"),
        (None, Some(b)) => format!("branch {b}"),
        _ => "commit".to_string(),
    }
}
