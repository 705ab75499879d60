//! The CI engine: takes build requests, queues them in the database, runs each in a fresh
//! container and records log and verdict. It knows nothing about HTTP sessions or GitHub's JSON;
//! the web app gives it requests and reads the changes it announces.
//!
//! Flow: `enqueue` (database) → `queue` (claims in order, within limits) → `build` (checkout,
//! then `runner`) → log lines (`log_store`) and `BuildChange`s (channels) → the web app.

pub mod build;
pub mod checkout;
pub mod docker;
pub mod images;
pub mod language;
pub mod limits;
pub mod log_store;
pub mod missing_command;
pub mod node_package_manager;
pub mod output;
pub mod plan;
pub mod project_files;
pub mod python_tests;
pub mod queue;
pub mod reaper;
pub mod runner;
pub mod service_kind;
pub mod services;
pub mod sicuro_json;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::{BuildStatus, TriggerEvent};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::db::builds::{self, Build, Created, NewBuild};
use crate::db::repos::{self, Repo};
use crate::db::{Db, meta};
use checkout::{CheckoutError, Credentials, Mirrors};
use docker::DockerHandle;
use images::Images;
use log_store::LogStore;
use runner::StopRequest;

/// A build changed state (queued, running, finished). Announced after the database has it.
#[derive(Clone, Debug)]
pub struct BuildChange {
    pub repo: Arc<Repo>,
    pub build: Build,
}

/// Where the engine gets credentials for fetching a repository (the subscriber's token).
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    async fn for_repo(&self, repo: &Repo) -> Credentials;
}

/// No credentials: public and local repositories only.
pub struct NoCredentials;

#[async_trait::async_trait]
impl CredentialSource for NoCredentials {
    async fn for_repo(&self, _repo: &Repo) -> Credentials {
        Credentials::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("repository {0} is not known")]
    UnknownRepo(i64),
    #[error("build {0} does not exist")]
    UnknownBuild(i64),
    #[error("{0}")]
    Checkout(#[from] CheckoutError),
    #[error("the server is shutting down and takes no new builds")]
    ShuttingDown,
    #[error("{0}")]
    Docker(String),
}

/// What the engine needs to start.
pub struct EngineOptions {
    pub db: Db,
    pub config: EngineConfig,
    pub data_dir: PathBuf,
    pub credentials: Arc<dyn CredentialSource>,
}

pub(crate) struct RunningBuild {
    repo_id: i64,
    stop: CancellationToken,
    reason: Arc<Mutex<Option<StopRequest>>>,
}

pub(crate) struct Inner {
    pub db: Db,
    pub config: EngineConfig,
    pub docker: Arc<DockerHandle>,
    pub images: Arc<Images>,
    pub mirrors: Arc<Mirrors>,
    pub logs: Arc<LogStore>,
    pub instance: String,
    pub credentials: Arc<dyn CredentialSource>,
    changes: broadcast::Sender<BuildChange>,
    observers: Mutex<Vec<mpsc::UnboundedSender<BuildChange>>>,
    wake: Notify,
    idle: Notify,
    running: Mutex<HashMap<i64, RunningBuild>>,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    accepting: AtomicBool,
}

/// A handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine(pub(crate) Arc<Inner>);

impl Engine {
    /// Opens the stores, recovers from a previous process and starts the queue.
    pub async fn start(options: EngineOptions) -> Result<Engine, EngineError> {
        let engine = Self::new(options).await?;
        engine.recover().await?;
        tokio::spawn(queue::run(engine.clone()));
        tokio::spawn(engine.clone().reap_periodically());
        tokio::spawn(engine.clone().reap_strays());
        Ok(engine)
    }

    async fn new(options: EngineOptions) -> Result<Engine, EngineError> {
        let instance = meta::get_or_insert(&options.db, "instance_id", &random_id()).await?;
        let io = |e: std::io::Error| EngineError::Docker(format!("cannot create a data directory: {e}"));
        let docker = Arc::new(DockerHandle::new());
        let build_args = images::BuildArgs::with_extra_ca_certs(options.config.extra_ca_certs.clone());
        Ok(Engine(Arc::new(Inner {
            db: options.db,
            config: options.config,
            images: Arc::new(Images::new(docker.clone(), build_args)),
            docker,
            mirrors: Arc::new(Mirrors::new(options.data_dir.join("mirrors")).map_err(io)?),
            logs: LogStore::new(options.data_dir.join("logs")).map_err(io)?,
            instance,
            credentials: options.credentials,
            changes: broadcast::channel(1024).0,
            observers: Mutex::new(Vec::new()),
            wake: Notify::new(),
            idle: Notify::new(),
            running: Mutex::new(HashMap::new()),
            tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            accepting: AtomicBool::new(true),
        })))
    }

    /// Builds a previous process left `running` end `error` (their logs stay as they were), its
    /// containers and networks are removed, and queued builds wait for the queue as before.
    async fn recover(&self) -> Result<(), EngineError> {
        let orphans = builds::fail_orphans(&self.0.db, "the server restarted during the build").await?;
        for b in orphans {
            tracing::warn!(
                build = b.id,
                "build was running when the previous process ended; marked error"
            );
            if let Some(after) = builds::get(&self.0.db, b.id).await? {
                self.announce(after).await;
            }
        }
        for b in builds::queued(&self.0.db).await? {
            self.0.logs.expect(b.id);
        }
        self.reap().await;
        Ok(())
    }

    /// Every minute, removes what builds could not clean up themselves (the Docker daemon was
    /// away when they ended), so nothing lingers until the next restart.
    async fn reap_periodically(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        while self.accepting() {
            tick.tick().await;
            self.reap().await;
        }
    }

    /// Reaps as soon as Docker reports a container of this installation that no running build
    /// owns: one whose creation a killed process had asked for just before it died, which
    /// Docker completes after the start-up reaping has listed what there was.
    async fn reap_strays(self) {
        use futures::StreamExt;
        while self.accepting() {
            if let Ok(docker) = self.0.docker.get().await {
                let mut creations = reaper::creations(&docker, &self.0.instance);
                while let Some(build) = creations.next().await {
                    if !self.running_ids().iter().any(|id| id.to_string() == build) {
                        self.reap().await;
                    }
                }
            }
            // Docker went away (or never answered): listen again once it is back.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Removes Docker leftovers of builds that are not running in this process.
    pub async fn reap(&self) {
        let Ok(docker) = self.0.docker.get().await else {
            tracing::debug!("Docker is not reachable; leftovers of earlier builds will be removed once it is");
            return;
        };
        let keep = || -> HashSet<String> { self.running_ids().iter().map(i64::to_string).collect() };
        match reaper::reap(&docker, &self.0.instance, keep).await {
            Ok(r) if r != reaper::Reaped::default() => {
                tracing::info!(
                    containers = r.containers,
                    networks = r.networks,
                    "removed leftovers of earlier builds"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("could not list Docker leftovers: {e}"),
        }
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn logs(&self) -> &Arc<LogStore> {
        &self.0.logs
    }

    pub fn docker(&self) -> &Arc<DockerHandle> {
        &self.0.docker
    }

    pub fn images(&self) -> &Arc<Images> {
        &self.0.images
    }

    pub fn mirrors(&self) -> &Arc<Mirrors> {
        &self.0.mirrors
    }

    pub fn config(&self) -> &EngineConfig {
        &self.0.config
    }

    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// Every state change, for pages and streams (a slow reader may miss some; it should
    /// re-read the database when told it lagged).
    pub fn changes(&self) -> broadcast::Receiver<BuildChange> {
        self.0.changes.subscribe()
    }

    /// Every state change, none ever dropped: for consumers that must see each one (statuses).
    pub fn observe(&self) -> mpsc::UnboundedReceiver<BuildChange> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.observers.lock().expect("observers").push(tx);
        rx
    }

    pub(crate) async fn announce(&self, build: Build) {
        let repo = match repos::get(&self.0.db, build.repo_id).await {
            Ok(Some(r)) => Arc::new(r),
            _ => return,
        };
        let change = BuildChange { repo, build };
        self.0
            .observers
            .lock()
            .expect("observers")
            .retain(|tx| tx.send(change.clone()).is_ok());
        let _ = self.0.changes.send(change);
    }

    /// Queues a build, or returns the queued or running build with the same signature. A newer
    /// push to a branch (or commit on a pull request) cancels older builds of it when the
    /// repository asks for that (the default).
    pub async fn enqueue(&self, request: NewBuild) -> Result<Created, EngineError> {
        if !self.0.accepting.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        let repo = repos::get(&self.0.db, request.repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(request.repo_id))?;
        let created = builds::create(&self.0.db, &request).await?;
        if let Created::New(build) = &created {
            self.0.logs.expect(build.id);
            tracing::info!(build = build.id, repo = %repo.slug(), number = build.number, sha = %build.commit_sha, "queued");
            self.announce(build.clone()).await;
            if repo.supersede != 0 {
                for older in builds::superseded_by(&self.0.db, build).await? {
                    let reason = format!("superseded by build #{}", build.number);
                    self.stop(
                        older.id,
                        StopRequest {
                            status: BuildStatus::Canceled,
                            message: reason,
                        },
                    )
                    .await?;
                }
            }
            self.0.wake.notify_one();
        }
        Ok(created)
    }

    /// Queues a build of a branch's current head (resolving the commit first).
    pub async fn enqueue_branch(&self, repo: &Repo, branch: &str, event: TriggerEvent) -> Result<Created, EngineError> {
        let creds = self.0.credentials.for_repo(repo).await;
        let head = self
            .0
            .mirrors
            .resolve_branch(repo.id, &repo.clone_url, branch, &creds)
            .await?;
        self.enqueue(NewBuild {
            repo_id: repo.id,
            event: Some(event),
            branch: Some(branch.to_string()),
            commit_sha: head.sha,
            fetch_ref: Some(format!("refs/heads/{branch}")),
            author: Some(head.author),
            message: Some(head.message),
            ..Default::default()
        })
        .await
    }

    /// Queues the same commit again, as the same kind of event.
    pub async fn rebuild(&self, build_id: i64) -> Result<Created, EngineError> {
        let b = builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))?;
        self.enqueue(NewBuild {
            repo_id: b.repo_id,
            event: Some(b.event()),
            branch: b.branch.clone(),
            is_tag: b.is_tag != 0,
            pr_number: b.pr_number,
            commit_sha: b.commit_sha.clone(),
            fetch_url: b.fetch_url.clone(),
            fetch_ref: b.fetch_ref.clone(),
            from_fork: b.from_fork(),
            author: b.author.clone(),
            message: b.message.clone(),
            rebuild_of: Some(b.rebuild_of.unwrap_or(b.id)),
        })
        .await
    }

    /// Cancels a queued or running build. Returns the build as it is afterwards.
    pub async fn cancel(&self, build_id: i64, by: &str) -> Result<Build, EngineError> {
        self.stop(
            build_id,
            StopRequest {
                status: BuildStatus::Canceled,
                message: format!("canceled by {by}"),
            },
        )
        .await?;
        builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))
    }

    async fn stop(&self, build_id: i64, request: StopRequest) -> Result<(), EngineError> {
        if builds::cancel_queued(&self.0.db, build_id, &request.message).await? {
            self.0.logs.abandon(build_id);
            if let Some(b) = builds::get(&self.0.db, build_id).await? {
                self.announce(b).await;
            }
            return Ok(());
        }
        let signalled = {
            let running = self.0.running.lock().expect("running builds");
            running.get(&build_id).map(|r| {
                *r.reason.lock().expect("stop reason") = Some(request.clone());
                r.stop.clone()
            })
        };
        if let Some(token) = signalled {
            builds::request_cancel(&self.0.db, build_id, &request.message).await?;
            token.cancel();
        }
        Ok(())
    }

    /// Waits until the build is no longer running in this process.
    pub async fn wait_finished(&self, build_id: i64) {
        loop {
            let idle = self.0.idle.notified();
            if !self.0.running.lock().expect("running builds").contains_key(&build_id) {
                return;
            }
            idle.await;
        }
    }

    pub fn running_ids(&self) -> Vec<i64> {
        self.0.running.lock().expect("running builds").keys().copied().collect()
    }

    /// Removes the repository's dependency caches (branch and fork ones).
    pub async fn clear_caches(&self, repo_id: i64) -> Result<usize, EngineError> {
        let docker = self
            .0
            .docker
            .get()
            .await
            .map_err(|e| EngineError::Docker(e.to_string()))?;
        let repo = repo_id.to_string();
        let filters = docker::label_filter(&[
            (docker::LABEL_INSTANCE, &self.0.instance),
            (docker::LABEL_CACHE, "1"),
            (docker::LABEL_REPO, &repo),
        ]);
        let volumes = docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::Docker(e.to_string()))?;
        let mut removed = 0;
        for v in volumes.volumes.unwrap_or_default() {
            docker
                .remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
                .map_err(|e| {
                    EngineError::Docker(format!(
                        "cache {} could not be removed ({e}); a running build may be using it, try again when it ends",
                        v.name
                    ))
                })?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Stops taking builds, lets running ones finish for up to `grace`, then cancels the rest
    /// cleanly (containers removed, verdict recorded).
    pub async fn shutdown(&self, grace: Duration) {
        self.0.accepting.store(false, Ordering::SeqCst);
        self.0.wake.notify_one();
        let all_done = async {
            loop {
                let idle = self.0.idle.notified();
                if self.0.running.lock().expect("running builds").is_empty() {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            let ids = self.running_ids();
            tracing::warn!(builds = ?ids, "grace period over; canceling running builds");
            for id in ids {
                let _ = self
                    .stop(
                        id,
                        StopRequest {
                            status: BuildStatus::Canceled,
                            message: "canceled: the server shut down during the build".into(),
                        },
                    )
                    .await;
            }
        }
        let mut tasks = self.0.tasks.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    pub(crate) fn accepting(&self) -> bool {
        self.0.accepting.load(Ordering::SeqCst)
    }
}

fn random_id() -> String {
    use rand::Rng;
    hex::encode(rand::thread_rng().r#gen::<[u8; 8]>())
}
