//! The CI engine: takes build requests, queues them in the database, runs each as a job on an
//! executor and records log and verdict. It knows nothing about HTTP sessions or GitHub's JSON;
//! the web app hands it requests (`request`) and reads the changes it announces.
//!
//! Flow: `request` (resolve refs, decide trust, write the row) → `queue` (claims in order,
//! within limits) → `build` (checkout, plan) → `job` (a `JobSpec` for the `executor`) → log
//! lines (`log_store`) and `BuildChange`s (channels) → the web app.

pub mod build;
pub mod checkout;
mod checkout_contents;
mod decisions;
pub mod executor;
pub mod job;
pub mod language;
pub mod limits;
pub mod log_cursor;
pub mod log_index;
pub mod log_output;
pub mod log_overflow;
pub mod log_search;
pub mod log_store;
pub mod mask;
mod mirror_pruning;
pub mod missing_command;
pub mod node_package_manager;
pub mod output;
pub mod plan;
pub mod project_files;
pub mod python_tests;
pub mod queue;
mod recovery;
pub mod reports;
pub mod request;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod service_kind;
pub mod settings;
pub mod sicuro_json;
pub mod verdict;
pub mod working_tree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use sicuro_types::{BuildStatus, ForkPolicy, RepoSettings};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::config::EngineConfig;
use crate::db::builds::{self, Build, Created, NewBuild};
use crate::db::repos::{self, Repo};
use crate::db::{Db, meta};
use build::StopSlot;
pub use checkout::Credentials;
use checkout::{CheckoutError, Mirrors};
use executor::Executor;
pub use log_store::LogEvent;
use log_store::LogStore;
use queue::QueueIndex;
pub use request::BuildRequest;
use verdict::StopRequest;

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
    InvalidRequest(String),
    /// More than this server allows.
    #[error("{0}")]
    OverCeiling(String),
    /// The build is not in a state where that can be done.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Checkout(#[from] CheckoutError),
    #[error("the server is shutting down and takes no new builds")]
    ShuttingDown,
    /// The executor (the Docker engine) could not do what was asked.
    #[error("{0}")]
    Executor(String),
}

/// What the engine needs to start.
pub struct EngineOptions {
    pub db: Db,
    pub config: EngineConfig,
    pub data_dir: PathBuf,
    pub credentials: Arc<dyn CredentialSource>,
    pub executor: Arc<dyn Executor>,
    /// Opens and seals repository secrets (`Keys::secret_box`).
    pub secrets: crate::crypto::SecretBox,
}

pub(crate) struct RunningBuild {
    stop: CancellationToken,
    reason: StopSlot,
    repo_id: i64,
    /// The build's number in its repository, for "#12 is running" in why others wait.
    number: i64,
}

impl RunningBuild {
    /// Asks the build to stop, for `request`'s reason.
    fn stop(&self, request: StopRequest) {
        *self.reason.lock().expect("stop reason") = Some(request);
        self.stop.cancel();
    }
}

pub(crate) struct Inner {
    db: Db,
    config: EngineConfig,
    executor: Arc<dyn Executor>,
    mirrors: Mirrors,
    logs: Arc<LogStore>,
    instance: String,
    credentials: Arc<dyn CredentialSource>,
    secrets: crate::crypto::SecretBox,
    changes: broadcast::Sender<BuildChange>,
    observers: Mutex<Vec<mpsc::UnboundedSender<BuildChange>>>,
    queue: Mutex<QueueIndex>,
    wake: Notify,
    idle: Notify,
    running: Mutex<HashMap<i64, RunningBuild>>,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    background: Background,
    accepting: AtomicBool,
    /// Why queued builds are not starting (the executor cannot run jobs now), if they are not.
    waiting: Mutex<Option<String>>,
}

/// A handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine(pub(crate) Arc<Inner>);

/// This installation's id: labels everything executors create, so clean-up only touches ours.
pub async fn instance_id(db: &Db) -> Result<String, sqlx::Error> {
    meta::get_or_insert(db, "instance_id", &random_id()).await
}

impl Engine {
    /// Opens the stores, recovers from a previous process and starts the queue.
    pub async fn start(options: EngineOptions) -> Result<Engine, EngineError> {
        let engine = Self::new(options).await?;
        engine.recover().await?;
        let background = &engine.0.background;
        background.spawn("build queue", queue::run(engine.clone()));
        background.spawn("periodic reaper", engine.clone().reap_periodically());
        background.spawn("stray reaper", engine.clone().reap_strays());
        Ok(engine)
    }

    async fn new(options: EngineOptions) -> Result<Engine, EngineError> {
        let instance = instance_id(&options.db).await?;
        let io = |e: std::io::Error| EngineError::Executor(format!("cannot create a data directory: {e}"));
        Ok(Engine(Arc::new(Inner {
            db: options.db,
            config: options.config,
            executor: options.executor,
            mirrors: Mirrors::new(options.data_dir.join("mirrors")).map_err(io)?,
            logs: LogStore::new(options.data_dir.join("logs")).map_err(io)?,
            instance,
            credentials: options.credentials,
            secrets: options.secrets,
            changes: broadcast::channel(1024).0,
            observers: Mutex::new(Vec::new()),
            queue: Mutex::new(QueueIndex::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            running: Mutex::new(HashMap::new()),
            tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            background: Background::default(),
            accepting: AtomicBool::new(true),
            waiting: Mutex::new(None),
        })))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn config(&self) -> &EngineConfig {
        &self.0.config
    }

    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.0.executor
    }

    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// A build's log: the lines after line `after`, then (while the build runs) each line as it
    /// is written, then how the log ended. `follow: false` reads only what is written now.
    pub fn read_log(
        &self,
        build_id: i64,
        after: u64,
        follow: bool,
    ) -> impl Stream<Item = std::io::Result<LogEvent>> + Send + 'static + use<> {
        use futures::StreamExt;
        if follow {
            self.0.logs.read(build_id, after).left_stream()
        } else {
            self.0.logs.snapshot(build_id, after).right_stream()
        }
    }

    /// Up to `max_lines` lines of a build's log from line `from`, or its last `tail` lines, and
    /// where they sit in the whole log (its length, gaps, phases, the failing command).
    pub async fn log_window(
        &self,
        build_id: i64,
        from: Option<u64>,
        tail: Option<u64>,
        max_lines: usize,
    ) -> std::io::Result<sicuro_types::LogWindow> {
        self.0.logs.window(build_id, from, tail, max_lines).await
    }

    /// Whether a build's log is still being written (or waits for its build to start).
    pub fn log_is_live(&self, build_id: i64) -> bool {
        self.0.logs.is_live(build_id)
    }

    /// Searches a build's whole log (and, while it runs, each line as it is written).
    pub fn search_log(
        &self,
        build_id: i64,
        query: log_search::Query,
    ) -> impl Stream<Item = std::io::Result<log_search::SearchEvent>> + Send + 'static + use<> {
        log_search::search(&self.0.logs, build_id, query)
    }

    /// The supervisor of the engine's long-lived tasks, for the web app's to join.
    pub fn background(&self) -> &Background {
        &self.0.background
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

    pub(crate) fn announce(&self, repo: &Arc<Repo>, build: Build) {
        let change = BuildChange {
            repo: repo.clone(),
            build,
        };
        self.0
            .observers
            .lock()
            .expect("observers")
            .retain(|tx| tx.send(change.clone()).is_ok());
        let _ = self.0.changes.send(change);
    }

    /// Writes a resolved request as a queued build, or returns the queued or running build with
    /// the same signature. A newer push to a branch (or commit on a pull request) cancels older
    /// builds of it when the repository asks for that (the default).
    async fn enqueue(&self, repo: Arc<Repo>, request: NewBuild) -> Result<Created, EngineError> {
        if !self.accepting() {
            return Err(EngineError::ShuttingDown);
        }
        let created = builds::create(&self.0.db, &request).await?;
        if let Created::New(build) = &created {
            self.0.logs.expect(build.id);
            tracing::info!(build = build.id, repo = %repo.slug(), number = build.number, sha = %build.commit_sha, status = %build.status, "created");
            if build.status() == BuildStatus::Queued {
                self.0
                    .queue
                    .lock()
                    .expect("queue")
                    .queued(repo.id, build.id, repo.max_concurrent);
            }
            self.announce(&repo, build.clone());
            if build.from_fork() && repo.fork_policy() == ForkPolicy::Never {
                let message = "not built: pull requests from forks are not built in this repository (its fork policy \
                               is `never`)";
                let refuse = StopRequest {
                    status: BuildStatus::Canceled,
                    message: message.into(),
                };
                self.stop(&repo, build.id, refuse).await?;
                return Ok(created);
            }
            if repo.supersede != 0 {
                for older in builds::superseded_by(&self.0.db, build).await? {
                    if !self.is_newer(&repo, build, &older).await {
                        tracing::info!(
                            build = build.id,
                            older = older.id,
                            "not superseding: that build's commit is not older"
                        );
                        continue;
                    }
                    let reason = format!("superseded by build #{}", build.number);
                    self.stop(
                        &repo,
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

    /// Whether `newer`'s commit comes after `older`'s: it is not an ancestor of it. A replayed or
    /// late delivery of an older push must never cancel the build of what came after it; when
    /// the mirror cannot tell, both builds run.
    async fn is_newer(&self, repo: &Repo, newer: &Build, older: &Build) -> bool {
        let creds = self.0.credentials.for_repo(repo).await;
        for b in [newer, older] {
            // A fork's commit comes from the fork, with no token of ours.
            let (url, creds, foreign) = match &b.fetch_url {
                Some(fork) => (fork.as_str(), Credentials::default(), true),
                None => (repo.clone_url.as_str(), creds.clone(), false),
            };
            let _ = self
                .0
                .mirrors
                .ensure_commit(repo.id, url, b.fetch_ref.as_deref(), &b.commit_sha, &creds, foreign)
                .await;
        }
        self.0
            .mirrors
            .is_ancestor(repo.id, &newer.commit_sha, &older.commit_sha)
            .await
            == Some(false)
    }

    /// Changes a repository's build settings; the queue applies its new limit at once.
    pub async fn update_settings(&self, repo_id: i64, settings: &RepoSettings) -> Result<(), EngineError> {
        let settings = &settings::normalized(settings.clone());
        settings::check(settings, &self.0.config.ceilings)?;
        let before = repos::get(&self.0.db, repo_id).await?;
        repos::update_settings(&self.0.db, repo_id, settings).await?;
        // A new schedule counts from now: what it would have fired before is not owed.
        if let Some(before) = before
            && before.schedule != settings.schedule
        {
            repos::mark_scheduled(&self.0.db, repo_id, before.scheduled_at, crate::db::now_ms()).await?;
        }
        self.0
            .queue
            .lock()
            .expect("queue")
            .set_limit(repo_id, settings.max_concurrent);
        self.0.wake.notify_one();
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

    /// Why a queued build has not started: the executor is unavailable, or a limit holds it.
    pub fn queued_reason(&self, repo_id: i64, build_id: i64) -> Option<String> {
        self.waiting_reason().or_else(|| {
            let max = self.0.config.max_concurrent_builds;
            let mut why = self
                .0
                .queue
                .lock()
                .expect("queue")
                .why_waiting(repo_id, build_id, max)?;
            if let queue::Waiting::RepoLimit { holders, .. } = &mut why {
                let running = self.0.running.lock().expect("running builds");
                *holders = running
                    .values()
                    .filter(|r| r.repo_id == repo_id)
                    .map(|r| r.number)
                    .collect();
                holders.sort_unstable();
            }
            Some(why.to_string())
        })
    }

    /// Why queued builds wait although they could start (the executor is unavailable), if they do.
    pub fn waiting_reason(&self) -> Option<String> {
        self.0.waiting.lock().expect("waiting reason").clone()
    }

    /// Records why the queue waits (or that it no longer does), saying so once in the log.
    pub(crate) fn set_waiting(&self, reason: Option<String>) {
        let mut slot = self.0.waiting.lock().expect("waiting reason");
        match (&*slot, &reason) {
            (None, Some(r)) => tracing::warn!("queued builds wait: {r}"),
            (Some(_), None) => tracing::info!("the executor is available again; queued builds start"),
            _ => {}
        }
        *slot = reason;
    }

    pub fn running_ids(&self) -> Vec<i64> {
        self.0.running.lock().expect("running builds").keys().copied().collect()
    }

    /// Refuses repository addresses git could take for an option or a remote helper.
    pub fn check_remote_url(&self, url: &str) -> Result<(), EngineError> {
        checkout::validate_url(url).map_err(EngineError::InvalidRequest)
    }

    /// Asks a repository (added by URL or path) for its default branch.
    pub async fn remote_default_branch(&self, url: &str) -> Result<String, EngineError> {
        self.check_remote_url(url)?;
        Ok(checkout::remote_default_branch(url, &Credentials::default()).await?)
    }

    /// Removes the repository's dependency caches (branch and fork ones).
    pub async fn clear_caches(&self, repo_id: i64) -> Result<usize, EngineError> {
        self.0
            .executor
            .clear_caches(repo_id)
            .await
            .map_err(EngineError::Executor)
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
            let running = self.0.running.lock().expect("running builds");
            tracing::warn!(builds = ?running.keys().collect::<Vec<_>>(), "grace period over; canceling running builds");
            for r in running.values() {
                r.stop(StopRequest {
                    status: BuildStatus::Canceled,
                    message: "canceled: the server shut down during the build".into(),
                });
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
