//! The test harness: a real engine (real Docker, real SQLite or PostgreSQL) in a temporary
//! directory, repositories made from the sample projects, and ways to wait for builds without
//! sleeping.

#![allow(dead_code)]

pub mod postgres;
pub mod process;
pub mod swarm;
pub mod web_app;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sicuro::config::{Config, EngineConfig, Env};
use sicuro::db::builds::{Build, Created};
use sicuro::db::repos::{NewRepo, Repo};
use sicuro::db::{Db, builds, repos};
use sicuro::engine::executor::Executor;
use sicuro::engine::executor::docker::DockerExecutor;
use sicuro::engine::executor::docker::images::BuildArgs;
use sicuro::engine::executor::swarm::SwarmExecutor;
use sicuro::engine::limits::JobLimits;
use sicuro::engine::log_store::LogEvent;
use sicuro::engine::{BuildRequest, Engine, EngineOptions, NoCredentials};
use sicuro_types::{BuildStatus, LogLine, RepoKind};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects")
}

/// Server defaults, with the extra CA certificates of this machine, and small limits for tests.
pub fn engine_config() -> EngineConfig {
    let mut c = Config::from_env(&Env::from_pairs([]))
        .expect("defaults are valid")
        .engine;
    c.max_concurrent_builds = 3;
    c.default_timeout = Duration::from_secs(600);
    c.shutdown_grace = Duration::from_secs(5);
    c.limits = JobLimits {
        memory_bytes: 2 * 1024 * 1024 * 1024,
        cpus: 2.0,
        pids: 1024,
    };
    c
}

/// A database for a test: SQLite in `dir`, or a fresh PostgreSQL database when asked for and
/// `SICURO_TEST_DATABASE_URL` names a server.
pub async fn database(dir: &Path, postgres: bool) -> Option<Db> {
    let url = database_url(dir, postgres).await?;
    Some(Db::connect(&url).await.unwrap())
}

/// `SICURO_TEST_DATABASE=postgres`: every test's database is a fresh PostgreSQL one (make test
/// runs the database-bound tests a second time so).
pub fn all_on_postgres() -> bool {
    std::env::var("SICURO_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// The URL of a fresh database (see `database`).
pub async fn database_url(dir: &Path, postgres: bool) -> Option<String> {
    if !postgres && !all_on_postgres() {
        return Some(format!("sqlite://{}/sicuro.db", dir.display()));
    }
    let admin_url = match std::env::var("SICURO_TEST_DATABASE_URL") {
        Ok(url) => url,
        Err(_) if all_on_postgres() => panic!("SICURO_TEST_DATABASE=postgres needs SICURO_TEST_DATABASE_URL"),
        Err(_) => return None,
    };
    let name = format!("sicuro_test_{}", random_suffix());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    match admin_url.rsplit_once('/') {
        Some((base, _)) => Some(format!("{base}/{name}")),
        None => panic!("SICURO_TEST_DATABASE_URL must end with /database"),
    }
}

pub fn random_suffix() -> String {
    use rand::Rng;
    hex::encode(rand::thread_rng().r#gen::<[u8; 6]>())
}

/// Whether the PostgreSQL variants of the tests can run here.
pub fn postgres_available() -> bool {
    std::env::var("SICURO_TEST_DATABASE_URL").is_ok()
}

pub struct TestEngine {
    pub engine: Engine,
    pub db: Db,
    pub dir: tempfile::TempDir,
}

impl TestEngine {
    pub async fn start() -> TestEngine {
        Self::start_with(engine_config(), false).await
    }

    pub async fn start_with(config: EngineConfig, postgres: bool) -> TestEngine {
        Self::start_on(config, postgres, swarm::requested()).await
    }

    /// An engine on the test swarm, whatever SICURO_TEST_EXECUTOR says.
    pub async fn start_swarm(config: EngineConfig) -> TestEngine {
        Self::start_on(config, false, true).await
    }

    async fn start_on(config: EngineConfig, postgres: bool, on_swarm: bool) -> TestEngine {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), postgres).await.expect("database");
        Self::start_in(dir, db, config, on_swarm).await
    }

    /// An engine on a database of the test's own (one it will stop and start, say).
    pub async fn start_on_db(db: Db) -> TestEngine {
        Self::start_in(tempfile::tempdir().unwrap(), db, engine_config(), false).await
    }

    async fn start_in(dir: tempfile::TempDir, db: Db, config: EngineConfig, on_swarm: bool) -> TestEngine {
        let instance = sicuro::engine::instance_id(&db).await.unwrap();
        let args = BuildArgs::with_extra_ca_certs(config.extra_ca_certs.clone());
        // SICURO_TEST_EXECUTOR=swarm: the same tests through the test swarm.
        let executor: Arc<dyn Executor> = if on_swarm {
            Arc::new(SwarmExecutor::start(&instance, swarm::config(), args).await.unwrap())
        } else {
            Arc::new(DockerExecutor::new(&instance, args))
        };
        let engine = Engine::start(EngineOptions {
            db: db.clone(),
            config,
            data_dir: dir.path().to_path_buf(),
            credentials: Arc::new(NoCredentials),
            executor,
            secrets: sicuro::crypto::Keys::derive(b"the engine tests' secret key, 32+ bytes").secret_box(),
        })
        .await
        .unwrap();
        TestEngine { engine, db, dir }
    }

    /// A local repository made from a sample project (or any directory), committed with git.
    pub async fn repo_from(&self, name: &str, source: &Path) -> (Repo, GitRepo) {
        let git = GitRepo::from_dir(self.dir.path().join(format!("src-{name}")), source);
        let repo = repos::upsert(
            &self.db,
            &NewRepo {
                kind: RepoKind::Local,
                owner: "local".into(),
                name: name.into(),
                clone_url: git.path.display().to_string(),
                html_url: None,
                github_id: None,
                private: false,
                default_branch: "main".into(),
                language: None,
                watched: true,
            },
        )
        .await
        .unwrap();
        (repo, git)
    }

    pub async fn fixture_repo(&self, fixture: &str) -> (Repo, GitRepo) {
        self.repo_from(fixture, &fixtures().join(fixture)).await
    }

    /// A repository whose only content is a `sicuro.json` (and any extra files).
    pub async fn script_repo(&self, name: &str, sicuro_json: &str, files: &[(&str, &str)]) -> (Repo, GitRepo) {
        let src = self.dir.path().join(format!("tree-{name}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("sicuro.json"), sicuro_json).unwrap();
        for (path, contents) in files {
            std::fs::write(src.join(path), contents).unwrap();
        }
        self.repo_from(name, &src).await
    }

    pub async fn build(&self, repo: &Repo, sha: &str) -> Build {
        match self.enqueue(repo, sha).await {
            Created::New(b) | Created::Existing(b) => b,
        }
    }

    pub async fn enqueue(&self, repo: &Repo, sha: &str) -> Created {
        self.engine.request(repo.id, push_of(sha)).await.unwrap()
    }

    /// Waits for the build to finish (no polling: the engine says when) and returns it.
    pub async fn finished(&self, build_id: i64) -> Build {
        let mut changes = self.engine.changes();
        loop {
            let b = builds::get(&self.db, build_id).await.unwrap().unwrap();
            if b.status().is_finished() {
                return b;
            }
            or_fault(
                &self.engine,
                tokio::time::timeout(Duration::from_secs(900), changes.recv()),
            )
            .await
            .expect("the build finishes within 15 minutes")
            .ok();
        }
    }

    /// Waits until the build has the status.
    pub async fn until_status(&self, build_id: i64, status: BuildStatus) -> Build {
        let mut changes = self.engine.changes();
        loop {
            let b = builds::get(&self.db, build_id).await.unwrap().unwrap();
            if b.status() == status {
                return b;
            }
            assert!(
                !b.status().is_finished() || status.is_finished(),
                "build ended {:?} while waiting for {status:?}: {:?}",
                b.status(),
                b.error
            );
            or_fault(
                &self.engine,
                tokio::time::timeout(Duration::from_secs(900), changes.recv()),
            )
            .await
            .expect("status change")
            .ok();
        }
    }

    /// Waits until the build's log has a line containing `needle`, reading the live log.
    pub async fn until_log_contains(&self, build_id: i64, needle: &str) {
        let mut stream = std::pin::pin!(self.engine.read_log(build_id, 0, true));
        let found = or_fault(
            &self.engine,
            tokio::time::timeout(Duration::from_secs(600), async {
                while let Some(event) = stream.next().await {
                    if let LogEvent::Lines(batch) = event.unwrap()
                        && batch.iter().any(|l| l.text().contains(needle))
                    {
                        return true;
                    }
                }
                false
            }),
        )
        .await
        .expect("the line appears within 10 minutes");
        if !found {
            let b = builds::get(&self.db, build_id).await.unwrap().unwrap();
            panic!(
                "the log ended without a line containing {needle:?}; the build ended {:?} ({:?}):\n{}",
                b.status(),
                b.error,
                self.log_text(build_id).await
            );
        }
    }

    pub async fn log(&self, build_id: i64) -> Vec<LogLine> {
        read_whole_log(&self.engine, build_id).await
    }

    /// The log's text as far as it is written now (the build may still run).
    pub async fn log_so_far(&self, build_id: i64) -> String {
        let mut lines = Vec::new();
        let mut stream = std::pin::pin!(self.engine.read_log(build_id, 0, false));
        while let Some(event) = stream.next().await {
            if let LogEvent::Lines(batch) = event.unwrap() {
                lines.extend(batch.into_iter().map(|l| l.text().to_string()));
            }
        }
        lines.join("\n")
    }

    pub async fn log_text(&self, build_id: i64) -> String {
        self.log(build_id)
            .await
            .iter()
            .map(|l| l.text().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A push of `sha` to `main`, as a webhook would ask for it.
/// Runs `wait`, unless one of the engine's (or the web app's) background tasks panics first:
/// then the test fails at once with the task and its message, not later as a timeout.
pub async fn or_fault<T>(engine: &Engine, wait: impl std::future::Future<Output = T>) -> T {
    tokio::select! {
        t = wait => t,
        fault = engine.background().failed() => panic!("{fault}"),
    }
}

pub fn push_of(sha: &str) -> BuildRequest {
    BuildRequest::Push {
        branch: "main".into(),
        sha: sha.into(),
        author: None,
        message: None,
    }
}

/// Every line of a build's log, once it has ended.
pub async fn read_whole_log(engine: &Engine, build_id: i64) -> Vec<LogLine> {
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(engine.read_log(build_id, 0, true));
    while let Some(event) = stream.next().await {
        if let LogEvent::Lines(batch) = event.unwrap() {
            out.extend(batch);
        }
    }
    out
}

/// A git repository on disk, made from a directory.
pub struct GitRepo {
    pub path: PathBuf,
}

impl GitRepo {
    pub fn from_dir(path: PathBuf, source: &Path) -> GitRepo {
        std::fs::create_dir_all(&path).unwrap();
        copy_dir(source, &path);
        let g = GitRepo { path };
        g.git(&["init", "-q", "-b", "main"]);
        g.commit_all("initial");
        g
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.path)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn write(&self, file: &str, contents: &str) {
        std::fs::write(self.path.join(file), contents).unwrap();
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The engine's containers and networks still present for a build (after clean-up: none). On the
/// swarm: its services, configs and containers on any node, and its networks.
pub async fn leftovers(engine: &Engine, build_id: i64) -> (usize, usize) {
    if engine.executor().kind() == "swarm" {
        return swarm::leftovers_of_build(engine.instance(), build_id).await;
    }
    use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
    use sicuro::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, label_filter};
    let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
        .get()
        .await
        .unwrap();
    let key = build_id.to_string();
    let filters = label_filter(&[(LABEL_BUILD, &key), (LABEL_INSTANCE, engine.instance())]);
    let c = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .len();
    let n = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build()))
        .await
        .unwrap()
        .len();
    (c, n)
}

/// The build's job containers still present (its sandbox and services not counted).
pub async fn job_containers(engine: &Engine, build_id: i64) -> usize {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    use sicuro::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, LABEL_ROLE, label_filter};
    let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
        .get()
        .await
        .unwrap();
    let key = build_id.to_string();
    let filters = label_filter(&[
        (LABEL_BUILD, &key),
        (LABEL_INSTANCE, engine.instance()),
        (LABEL_ROLE, "job"),
    ]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .len()
}

/// A scratch directory holding an empty data directory for a server process and a git
/// repository whose one file is `sicuro.json`, committed on `main`.
pub fn data_and_repo(sicuro_json: &str) -> (tempfile::TempDir, PathBuf, GitRepo) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("sicuro.json"), sicuro_json).unwrap();
    let git = GitRepo::from_dir(dir.path().join("src"), &tree);
    (dir, data, git)
}
