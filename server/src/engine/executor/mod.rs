//! Where a job runs. The engine decides what a build is — its plan, environment, limits and
//! timeout — and hands it over as a [`JobSpec`]: plain data shaped like a pod (one main
//! container, service sidecars reachable by name on a network private to the job, cache volumes).
//! An [`Executor`] runs it, streams its output into a [`JobOutput`], and says how it ended
//! ([`JobEnd`]). The local Docker engine is one executor; a cluster is another; tests have a fake.

pub mod docker;
pub mod fake;
pub mod swarm;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use super::service_kind::ServiceKind;
use crate::config::{EngineConfig, ExecutorChoice, JobLimits};

/// One job: what runs, not where.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// Names the job's objects (the build id, or a one-off id for `sicuro run`); the executor
    /// labels everything it creates with it, so leftovers can be found and removed.
    pub key: String,
    pub main: MainSpec,
    /// Sidecars, each reachable from the main container by its name (`postgres`, `redis`).
    pub services: Vec<ServiceSpec>,
    /// Volumes that outlive the job (dependency caches).
    pub caches: Vec<CacheSpec>,
    /// What the job's network may not reach.
    pub network: NetworkSpec,
    /// The job is stopped after this long ([`JobEnd::TimedOut`]).
    pub timeout: Duration,
}

/// The container that runs the build's script.
#[derive(Clone, Debug)]
pub struct MainSpec {
    /// The image as the plan names it (`sicuro/node`, or a project's own); the executor makes
    /// sure it exists where the job runs.
    pub image: String,
    /// The source tree, in the form the executor asked for ([`Executor::source_kind`]).
    pub source: Source,
    /// The bash script that runs every phase; the container's working directory is the workspace.
    pub script: String,
    /// The whole environment of the job (build variables, service addresses, `sicuro.json` env).
    pub env: Vec<(String, String)>,
    pub limits: JobLimits,
}

/// How a job gets its source tree.
#[derive(Clone, Debug)]
pub enum Source {
    /// A tar archive whose paths start with `workspace/`, copied into the container.
    Archive(Vec<u8>),
    /// A commit of a git repository on this machine (the build's mirror), which the job fetches
    /// itself: a job on another machine cannot be handed an archive.
    Commit { repo: PathBuf, sha: String, depth: u32 },
}

/// Which [`Source`] an executor's jobs take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Archive,
    Commit,
}

/// A service sidecar.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub kind: ServiceKind,
    pub limits: JobLimits,
}

/// The job's network: its own (no other job shares it), with these destinations unreachable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkSpec {
    /// IPv4 networks in CIDR notation (`169.254.0.0/16`: cloud metadata services).
    pub blocked: Vec<String>,
}

/// A cache volume mounted into the main container.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheSpec {
    /// The repository it belongs to (caches are cleared per repository).
    pub repo_id: i64,
    /// What distinguishes it within the repository: the language, and a separate one for
    /// untrusted builds (`rust-forks`), so a fork can never write what branch builds read.
    pub name: String,
    /// Where it is mounted (`/cache`).
    pub mount: String,
}

/// A cache's size on disk (summed over the machines that hold a copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSize {
    pub repo_id: i64,
    pub name: String,
    pub bytes: u64,
}

/// Receives a job's output as it is printed.
pub trait JobOutput: Send {
    /// Bytes the job wrote to its standard output or error (in any chunking).
    fn output(&mut self, bytes: &[u8], stderr: bool);
    /// A message of the executor's own ("Service postgres is ready (850ms)").
    fn notice(&mut self, text: &str);
    /// A line of progress from preparing the job (an image being built).
    fn progress(&mut self, line: &str);
    /// Nothing more is ready for now: make what was received visible to readers.
    fn flush(&mut self);
}

/// How a job ended. Whatever the end, everything the executor created for it (but the caches)
/// is gone when `run` returns.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEnd {
    /// The main container exited.
    Exited {
        code: i64,
        /// The kernel killed it for exceeding its memory limit.
        oom_killed: bool,
        /// It reached its process limit at some point.
        hit_pids_limit: bool,
    },
    /// It ran past the job's timeout and was stopped.
    TimedOut { hit_pids_limit: bool },
    /// The stop token fired and the job was stopped.
    Stopped,
    /// The executor could not run the job; the message says what broke and what to do.
    Failed(String),
}

/// What the periodic clean-up removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    pub containers: usize,
    pub networks: usize,
    /// Cluster services (the swarm executor's jobs and sidecars).
    pub services: usize,
}

/// Runs jobs somewhere.
#[async_trait::async_trait]
pub trait Executor: Send + Sync + 'static {
    /// "docker", "fake", … for logs and health reports.
    fn kind(&self) -> &'static str;

    /// Runs the job to its end; returns early with [`JobEnd::Stopped`] once `stop` fires.
    async fn run(&self, job: JobSpec, out: &mut dyn JobOutput, stop: CancellationToken) -> JobEnd;

    /// Whether jobs can run now: the engine's version, or why it cannot be reached.
    async fn health(&self) -> Result<String, String>;

    /// Whether a job could start now. The queue claims no build while this says why not, so
    /// builds wait (showing the reason) instead of failing. Executors that report every
    /// failure through the job's end keep the default.
    async fn available(&self) -> Result<(), String> {
        Ok(())
    }

    /// The form of source its jobs take: an archive (the default) or a commit they fetch.
    fn source_kind(&self) -> SourceKind {
        SourceKind::Archive
    }

    /// Removes what jobs whose keys `keep` does not name left behind. `keep` is asked after
    /// listing, so a job that starts meanwhile is never touched.
    async fn reap(&self, keep: &(dyn Fn() -> HashSet<String> + Send + Sync)) -> Result<Reaped, String>;

    /// The keys of jobs whose objects the executor sees being created from now on (a creation a
    /// killed process asked for may complete after the start-up clean-up). Ends when the
    /// executor's event source does; the engine listens again.
    fn creations(&self) -> BoxStream<'static, String> {
        Box::pin(futures::stream::empty())
    }

    /// Removes a repository's caches; returns how many were removed.
    async fn clear_caches(&self, repo_id: i64) -> Result<usize, String>;

    /// Every cache there is, with its size, for the retention pass to hold their total to
    /// `SICURO_CACHE_LIMIT`.
    async fn cache_sizes(&self) -> Result<Vec<CacheSize>, String>;

    /// Removes one cache; `Ok(false)` when a running job uses it (it stays).
    async fn remove_cache(&self, repo_id: i64, name: &str) -> Result<bool, String>;

    /// Removes job images of older recipe versions that were made over `grace` ago and that
    /// nothing uses; returns how many. Executors that build no images keep the default.
    async fn remove_old_images(&self, _grace: Duration) -> Result<usize, String> {
        Ok(0)
    }
}

/// The executor the configuration asks for (`SICURO_EXECUTOR`), labelling what it creates with
/// `instance`.
pub async fn from_config(instance: &str, config: &EngineConfig) -> Result<std::sync::Arc<dyn Executor>, String> {
    let args = docker::images::BuildArgs::with_extra_ca_certs(config.extra_ca_certs.clone());
    Ok(match &config.executor {
        ExecutorChoice::Docker => std::sync::Arc::new(docker::DockerExecutor::new(instance, args)),
        ExecutorChoice::Swarm(swarm) => {
            std::sync::Arc::new(swarm::SwarmExecutor::start(instance, (**swarm).clone(), args).await?)
        }
    })
}
