//! Runs one job: plan, image, services, container, log, verdict, cleanup. Knows nothing about
//! the database or GitHub, so `sicuro run` uses it as it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::api::{BuildStatus, LineKind, format_duration};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType, NetworkCreateRequest};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StatsOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::docker::{
    DockerHandle, LABEL_BUILD, LABEL_CACHE, LABEL_INSTANCE, LABEL_REPO, LABEL_ROLE, is_connection_error,
};
use super::images::Images;
use super::limits::{JobLimits, format_bytes};
use super::log_store::LogWriter;
use super::output::{LineAssembler, Piece};
use super::plan::{PHASES, Plan};
use super::project_files::ProjectFiles;
use super::services;

/// What the runner needs from the outside world.
pub struct RunnerDeps {
    pub docker: Arc<DockerHandle>,
    pub images: Arc<Images>,
    /// Labels every Docker object with this installation's id, so that start-up clean-up only
    /// touches our own leftovers.
    pub instance: String,
}

/// The per-repository cache volume mounted at `/cache`.
#[derive(Clone, Debug)]
pub struct CacheSpec {
    pub volume: String,
    pub repo_id: i64,
}

/// One job to run.
pub struct Job {
    /// The value of the build label (the build id, or a one-off id for `sicuro run`).
    pub key: String,
    /// Names of the files at the source's root (for language detection and defaults).
    pub root_files: Vec<String>,
    pub sicuro_json: Option<String>,
    /// Contents of the root files the default commands depend on (`pyproject.toml`, `package.json`).
    pub project_files: ProjectFiles,
    pub github_language: Option<String>,
    /// The source tree as a tar archive whose paths start with `workspace/`.
    pub source_tar: Vec<u8>,
    /// Variables describing the build (`CI`, `SICURO_COMMIT`, …). Never credentials.
    pub env: Vec<(String, String)>,
    pub limits: JobLimits,
    /// The repository's (or server's) timeout; `sicuro.json` may ask for less or more.
    pub timeout: Duration,
    pub cache: Option<CacheSpec>,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: BuildStatus,
    pub exit_code: Option<i64>,
    /// For `error` (what broke) and for failures that were not a test's (timeouts, limits).
    pub message: Option<String>,
}

impl Verdict {
    fn error(message: impl Into<String>) -> Self {
        Self {
            status: BuildStatus::Error,
            exit_code: None,
            message: Some(message.into()),
        }
    }
}

/// Why a running job is being stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct StopRequest {
    pub status: BuildStatus,
    pub message: String,
}

/// Runs the job to its verdict. Every container and network it created is gone when this returns.
pub async fn run(
    deps: &RunnerDeps,
    job: Job,
    log: &mut LogWriter,
    stop: CancellationToken,
    stop_reason: impl Fn() -> StopRequest,
) -> Verdict {
    let plan = match Plan::for_project(
        &job.root_files,
        &job.project_files,
        job.sicuro_json.as_deref(),
        job.github_language.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            let message = e.to_string();
            log.push(LineKind::Notice, &message);
            return Verdict::error(message);
        }
    };
    let mut resources = Resources::default();
    let result = tokio::select! {
        v = run_plan(deps, &job, &plan, log, &mut resources) => v,
        _ = stop.cancelled() => {
            let r = stop_reason();
            Verdict { status: r.status, exit_code: None, message: Some(r.message) }
        }
    };
    if let Ok(docker) = deps.docker.get().await {
        resources.remove(&docker).await;
    }
    let _ = log.flush();
    result
}

/// What a job created, removed whatever the outcome.
#[derive(Default)]
struct Resources {
    containers: Vec<String>,
    network: Option<String>,
}

impl Resources {
    async fn remove(&mut self, docker: &Docker) {
        let force = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let removals = self
            .containers
            .drain(..)
            .map(|c| {
                let force = force.clone();
                async move {
                    let _ = docker.remove_container(&c, Some(force)).await;
                }
            })
            .collect::<Vec<_>>();
        futures::future::join_all(removals).await;
        if let Some(n) = self.network.take() {
            let _ = docker.remove_network(&n).await;
        }
    }
}

fn labels(deps: &RunnerDeps, job: &Job, role: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_INSTANCE.to_string(), deps.instance.clone()),
        (LABEL_BUILD.to_string(), job.key.clone()),
        (LABEL_ROLE.to_string(), role.to_string()),
    ])
}

fn object_name(deps: &RunnerDeps, job: &Job, what: &str) -> String {
    let inst: String = deps.instance.chars().take(8).collect();
    format!("sicuro-{inst}-{}-{what}", job.key)
}

fn docker_error(context: &str, e: bollard::errors::Error) -> Verdict {
    if is_connection_error(&e) {
        Verdict::error(format!(
            "lost the Docker engine while {context}: {e}. Check that dockerd is running; rebuild when it is back"
        ))
    } else {
        Verdict::error(format!("Docker refused {context}: {e}"))
    }
}

async fn run_plan(deps: &RunnerDeps, job: &Job, plan: &Plan, log: &mut LogWriter, res: &mut Resources) -> Verdict {
    let docker = match deps.docker.get().await {
        Ok(d) => d,
        Err(e) => return Verdict::error(e.to_string()),
    };
    log.push(LineKind::Section, "prepare");
    log.push(
        LineKind::Notice,
        &format!(
            "Language: {} · image: {} · limits: {} memory, {} CPUs, {} processes",
            plan.language.map_or("none (sicuro.json commands only)", |l| l.name()),
            plan.image,
            format_bytes(job.limits.memory_bytes),
            job.limits.cpus,
            job.limits.pids
        ),
    );
    let _ = log.flush();

    // Images: the job's and the services'; each runs as the reference `ensure` returns.
    let mut images: Vec<&str> = vec![plan.image.as_str()];
    images.extend(plan.services.iter().map(|s| s.image()));
    let mut references = HashMap::new();
    for image in images {
        let mut progress = |line: &str| {
            log.push(LineKind::Output, line);
            let _ = log.flush();
        };
        match deps.images.ensure(image, &mut progress).await {
            Ok(reference) => references.insert(image, reference),
            Err(e) => {
                let message = e.to_string();
                log.push(LineKind::Notice, &message);
                return Verdict::error(message);
            }
        };
    }

    // A network private to this build, when it has services.
    let network = if plan.services.is_empty() {
        None
    } else {
        let name = object_name(deps, job, "net");
        let _ = docker.remove_network(&name).await;
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels(deps, job, "network")),
            ..Default::default()
        };
        if let Err(e) = docker.create_network(request).await {
            return docker_error("creating the build's network", e);
        }
        res.network = Some(name.clone());
        Some(name)
    };

    let mut env: Vec<String> = Vec::new();
    if let Some(network) = &network {
        for &kind in &plan.services {
            let name = object_name(deps, job, kind.name());
            remove_stale(&docker, &name).await;
            let image = &references[kind.image()];
            let id = match services::start(&docker, kind, image, &name, network, labels(deps, job, "service")).await {
                Ok(id) => id,
                Err(e) => return Verdict::error(e.to_string()),
            };
            res.containers.push(id.clone());
            match services::wait_ready(&docker, kind, &id).await {
                Ok(took) => log.push(
                    LineKind::Notice,
                    &format!(
                        "Service {} is ready ({}), at {}",
                        kind.name(),
                        format_duration(took.as_millis() as i64),
                        kind.env().1
                    ),
                ),
                Err(e) => return Verdict::error(e.to_string()),
            }
            let (k, v) = kind.env();
            env.push(format!("{k}={v}"));
        }
        let _ = log.flush();
    }

    let mut mounts = Vec::new();
    if let Some(cache) = &job.cache {
        let volume = bollard::models::VolumeCreateRequest {
            name: Some(cache.volume.clone()),
            labels: Some(HashMap::from([
                (LABEL_INSTANCE.to_string(), deps.instance.clone()),
                (LABEL_CACHE.to_string(), "1".to_string()),
                (LABEL_REPO.to_string(), cache.repo_id.to_string()),
            ])),
            ..Default::default()
        };
        if let Err(e) = docker.create_volume(volume).await {
            return docker_error("creating the dependency cache volume", e);
        }
        mounts.push(Mount {
            target: Some("/cache".into()),
            source: Some(cache.volume.clone()),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        });
    }

    env.extend(job.env.iter().map(|(k, v)| format!("{k}={v}")));
    env.extend(plan.env.iter().map(|(k, v)| format!("{k}={v}")));

    let nonce = random_nonce();
    let limits = job.limits;
    let name = object_name(deps, job, "job");
    remove_stale(&docker, &name).await;
    let body = ContainerCreateBody {
        image: Some(references[plan.image.as_str()].clone()),
        entrypoint: Some(vec!["bash".into()]),
        cmd: Some(vec!["/sicuro/run.sh".into()]),
        working_dir: Some("/workspace".into()),
        env: Some(env),
        labels: Some(labels(deps, job, "job")),
        host_config: Some(HostConfig {
            memory: Some(limits.memory_bytes as i64),
            memory_swap: Some(limits.memory_bytes as i64),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids_limit: Some(limits.pids),
            network_mode: network.clone(),
            mounts: Some(mounts),
            security_opt: Some(vec!["no-new-privileges".into()]),
            // The output is read through the attach stream and kept in Sicuro's log store; the
            // daemon's own json-file copy of every line would cost as much again (200,000 lines:
            // 0.70 s instead of 0.41 s with `docker run`) and fill the host's disk.
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let container = match docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
    {
        Ok(c) => c.id,
        Err(e) => return docker_error("creating the job container", e),
    };
    res.containers.push(container.clone());

    let upload = UploadToContainerOptionsBuilder::default().path("/").build();
    if let Err(e) = docker
        .upload_to_container(
            &container,
            Some(upload.clone()),
            bollard::body_full(job.source_tar.clone().into()),
        )
        .await
    {
        return docker_error("copying the source into the container", e);
    }
    let script = match script_tar(&plan.script(&nonce)) {
        Ok(t) => t,
        Err(e) => return Verdict::error(format!("could not package the build script: {e}")),
    };
    if let Err(e) = docker
        .upload_to_container(&container, Some(upload), bollard::body_full(script.into()))
        .await
    {
        return docker_error("copying the build script into the container", e);
    }

    // Attach before starting, so not one byte of output is missed.
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut output = match docker.attach_container(&container, Some(attach)).await {
        Ok(a) => a.output,
        Err(e) => return docker_error("attaching to the job container", e),
    };
    if let Err(e) = docker.start_container(&container, None).await {
        return docker_error("starting the job container", e);
    }
    let started = Instant::now();
    let peak_pids = Arc::new(AtomicU64::new(0));
    let watcher = tokio::spawn(watch_pids(docker.clone(), container.clone(), peak_pids.clone()));
    let timeout = plan.timeout.unwrap_or(job.timeout);

    let streamed = tokio::time::timeout(timeout, stream_output(&mut output, &nonce, plan, log)).await;
    watcher.abort();
    let last_command = match streamed {
        Ok(Ok(last)) => last,
        Ok(Err(e)) => return docker_error("reading the job's output", e),
        Err(_) => {
            let mut message = format!("timed out after {}", format_duration(timeout.as_millis() as i64));
            if peak_pids.load(Ordering::Relaxed) >= limits.pids as u64 {
                message.push_str(&format!(
                    "; the job had reached its process limit of {} processes",
                    limits.pids
                ));
            }
            log.push(LineKind::Notice, &message);
            return Verdict {
                status: BuildStatus::Failure,
                exit_code: None,
                message: Some(message),
            };
        }
    };

    let state = match docker.inspect_container(&container, None).await {
        Ok(i) => i.state.unwrap_or_default(),
        Err(e) => return docker_error("reading the job's exit code", e),
    };
    let exit_code = state.exit_code.unwrap_or(-1);
    let ran_for = format_duration(started.elapsed().as_millis() as i64);
    if exit_code == 0 {
        return Verdict {
            status: BuildStatus::Success,
            exit_code: Some(0),
            message: None,
        };
    }
    let mut reasons = Vec::new();
    if state.oom_killed == Some(true) {
        reasons.push(format!(
            "the job was killed for using more than its memory limit of {}",
            format_bytes(limits.memory_bytes)
        ));
    }
    if peak_pids.load(Ordering::Relaxed) >= limits.pids as u64 {
        reasons.push(format!(
            "the job reached its process limit of {} processes",
            limits.pids
        ));
    }
    let command = last_command.and_then(|i| plan.commands().nth(i as usize));
    let mut message = match command {
        Some(c) => format!("`{c}` exited with code {exit_code} after {ran_for}"),
        None => format!("the job exited with code {exit_code} after {ran_for}"),
    };
    if !reasons.is_empty() {
        message = format!("{message}: {}", reasons.join("; "));
    }
    if let Some(advice) = last_command.and_then(|i| missing_command_advice(plan, i as usize, exit_code)) {
        message = format!("{message}. {advice}");
    }
    log.push(LineKind::Notice, &message);
    Verdict {
        status: BuildStatus::Failure,
        exit_code: Some(exit_code),
        message: Some(message),
    }
}

/// What to do when the command at `index` failed because a program is missing from the image.
fn missing_command_advice(plan: &Plan, index: usize, exit_code: i64) -> Option<String> {
    let command = plan.commands().nth(index)?;
    super::missing_command::advice(command, plan.phase_of(index)?, exit_code)
}

/// Copies the job's output into the log until the container's streams close. Lines are flushed
/// to readers whenever the stream has nothing more ready: no timer, no fixed batch.
/// Returns the index of the last command that started.
async fn stream_output(
    output: &mut (impl futures::Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Unpin),
    nonce: &str,
    plan: &Plan,
    log: &mut LogWriter,
) -> Result<Option<u64>, bollard::errors::Error> {
    let commands: Vec<&str> = plan.commands().collect();
    let mut out = LineAssembler::new(nonce);
    let mut err = LineAssembler::new(nonce);
    let mut last_command = None;
    let mut handle = |piece: Piece, log: &mut LogWriter| match piece {
        Piece::Line(l) => log.push(LineKind::Output, &l),
        Piece::Marker('s', i) => {
            if let Some(name) = PHASES.get(i as usize) {
                log.push(LineKind::Section, name);
            }
        }
        Piece::Marker('c', i) => {
            if let Some(cmd) = commands.get(i as usize) {
                last_command = Some(i);
                log.push(LineKind::Command, cmd);
            }
        }
        Piece::Marker(_, _) => {}
    };
    loop {
        let Some(first) = output.next().await else { break };
        let mut item = Some(first);
        let mut budget = 256;
        while let Some(chunk) = item.take() {
            match chunk? {
                bollard::container::LogOutput::StdErr { message } => err.push(&message, &mut |p| handle(p, log)),
                other => out.push(other.as_ref(), &mut |p| handle(p, log)),
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
            item = output.next().now_or_never().flatten();
        }
        log.flush().map_err(|e| bollard::errors::Error::IOError { err: e })?;
    }
    out.finish(&mut |p| handle(p, log));
    err.finish(&mut |p| handle(p, log));
    let _ = log.flush();
    Ok(last_command)
}

/// Records the highest process count the job reached, from Docker's stats stream.
async fn watch_pids(docker: Docker, container: String, peak: Arc<AtomicU64>) {
    let options = StatsOptionsBuilder::default().stream(true).build();
    let mut stats = docker.stats(&container, Some(options));
    while let Some(Ok(s)) = stats.next().await {
        if let Some(current) = s.pids_stats.and_then(|p| p.current) {
            peak.fetch_max(current, Ordering::Relaxed);
        }
    }
}

async fn remove_stale(docker: &Docker, name: &str) {
    let force = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    let _ = docker.remove_container(name, Some(force)).await;
}

fn random_nonce() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

fn script_tar(script: &str) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    tar.append_data(&mut dir, "sicuro/", std::io::empty())?;
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(script.len() as u64);
    file.set_cksum();
    tar.append_data(&mut file, "sicuro/run.sh", script.as_bytes())?;
    tar.into_inner()
}

/// The cache volume of a repository and language; fork builds get their own, so they can never
/// write to what branch builds read.
pub fn cache_volume(instance: &str, repo_id: i64, language: &str, untrusted: bool) -> String {
    let inst: String = instance.chars().take(8).collect();
    let suffix = if untrusted { "-forks" } else { "" };
    format!("sicuro-cache-{inst}-r{repo_id}-{language}{suffix}")
}

/// The language part of a cache volume's name, from the plan inputs (before the plan exists).
pub fn cache_language(root_files: &[String], sicuro_json: Option<&str>, github_language: Option<&str>) -> String {
    Plan::new(root_files, sicuro_json, github_language)
        .ok()
        .and_then(|p| p.language)
        .map_or("base", |l| l.name())
        .to_string()
}
