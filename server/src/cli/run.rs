//! `sicuro run [PATH]`: the CI pipeline on a local working tree, uncommitted changes included,
//! with the log streamed to the terminal and the build's result as the exit code — so a
//! developer can reproduce the CI run on their own machine. Ctrl-C cancels it cleanly.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::api::{BuildStatus, LineKind, LogLine};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::engine::checkout::working_tree_tar;
use crate::engine::docker::DockerHandle;
use crate::engine::images::{BuildArgs, Images};
use crate::engine::log_store::{LogStore, plain_text};
use crate::engine::project_files::ProjectFiles;
use crate::engine::runner::{self, CacheSpec, Job, RunnerDeps, StopRequest};
use crate::engine::sicuro_json;

pub struct RunOptions {
    pub path: PathBuf,
    pub timeout: Option<Duration>,
    pub no_cache: bool,
}

/// Runs the pipeline; returns the process exit code.
pub async fn run(options: RunOptions, engine: &EngineConfig) -> anyhow::Result<i32> {
    let path = options
        .path
        .canonicalize()
        .with_context(|| format!("{} does not exist", options.path.display()))?;
    let root_files = root_files(&path)?;
    let sicuro_json = match std::fs::read_to_string(path.join(sicuro_json::FILE_NAME)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("sicuro.json could not be read"),
    };
    let project_files = ProjectFiles::read_dir(&path).context("the project's files could not be read")?;
    let source_tar = working_tree_tar(&path).await?;
    let logs_dir = tempfile::tempdir()?;
    let logs = LogStore::new(logs_dir.path())?;
    let mut log = logs.create(1, engine.log_limit_bytes)?;
    let printer = tokio::spawn(print_log(logs.clone()));

    let language = runner::cache_language(&root_files, sicuro_json.as_deref(), None);
    let cache = (!options.no_cache).then(|| CacheSpec {
        volume: format!("sicuro-run-cache-{}-{language}", short_hash(&path)),
        repo_id: 0,
    });
    let docker = Arc::new(DockerHandle::new());
    let deps = RunnerDeps {
        images: Arc::new(Images::new(
            docker.clone(),
            BuildArgs::with_extra_ca_certs(engine.extra_ca_certs.clone()),
        )),
        docker,
        instance: "sicuro-run".into(),
    };
    let job = Job {
        key: format!("run-{}", std::process::id()),
        root_files,
        sicuro_json,
        project_files,
        github_language: None,
        source_tar,
        env: vec![("CI".into(), "true".into()), ("SICURO".into(), "true".into())],
        limits: engine.limits,
        timeout: options.timeout.unwrap_or(engine.default_timeout),
        cache,
    };
    let stop = CancellationToken::new();
    let ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        })
    };
    let verdict = runner::run(&deps, job, &mut log, stop, || StopRequest {
        status: BuildStatus::Canceled,
        message: "canceled with Ctrl-C".into(),
    })
    .await;
    ctrl_c.abort();
    let summary = match (&verdict.status, &verdict.message) {
        (BuildStatus::Success, _) => "passed".to_string(),
        (s, Some(m)) => format!("{}: {m}", s.label()),
        (s, None) => s.label().to_string(),
    };
    log.push(LineKind::Notice, &format!("Result: {summary}"));
    log.finish()?;
    printer.await.ok();
    Ok(match verdict.status {
        BuildStatus::Success => 0,
        BuildStatus::Failure => verdict.exit_code.filter(|c| (1..=125).contains(c)).unwrap_or(1) as i32,
        BuildStatus::Canceled => 130,
        _ => 2,
    })
}

fn root_files(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("{} cannot be read", path.display()))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn short_hash(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(path.to_string_lossy().as_bytes())[..6])
}

/// Prints lines as they arrive; Sicuro's own lines are styled when stdout is a terminal.
async fn print_log(logs: Arc<LogStore>) {
    let color = std::io::stdout().is_terminal();
    let mut lines = std::pin::pin!(logs.read(1, 0));
    while let Some(Ok(batch)) = lines.next().await {
        let mut out = std::io::stdout().lock();
        for line in &batch {
            let _ = writeln!(out, "{}", styled(line, color));
        }
        let _ = out.flush();
    }
}

fn styled(line: &LogLine, color: bool) -> String {
    let text = plain_text(line);
    if !color {
        return text;
    }
    match line.kind() {
        LineKind::Output => text,
        LineKind::Section => format!("\x1b[1;36m{text}\x1b[0m"),
        LineKind::Command => format!("\x1b[1m{text}\x1b[0m"),
        LineKind::Notice => format!("\x1b[33m{text}\x1b[0m"),
    }
}
