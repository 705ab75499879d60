//! The scheduler: starts queued builds in order of arrival, at most `max_concurrent_builds` at
//! once and at most each repository's own limit. It wakes when a build is queued or finishes.
//!
//! The database says what is queued (a restart loses nothing, and a claim is an update that
//! only succeeds on a queued build); [`QueueIndex`] mirrors it in memory so that finding the next
//! build to start costs a map lookup, not a read of every queued build.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::verdict::StopRequest;
use super::{Engine, RunningBuild, build};
use crate::db::{builds, repos};

/// Queued and running builds per repository, and which repositories could start one now.
#[derive(Debug, Default)]
pub struct QueueIndex {
    repos: HashMap<i64, RepoQueue>,
    /// Repositories with a queued build and room to run it, keyed by their oldest queued build.
    ready: BTreeSet<(i64, i64)>,
    running: usize,
}

#[derive(Debug)]
struct RepoQueue {
    queued: BTreeSet<i64>,
    running: usize,
    limit: usize,
    /// This repository's key in `ready`, if it is there.
    ready_key: Option<(i64, i64)>,
}

impl QueueIndex {
    /// A build was queued (or found queued at start-up).
    pub fn queued(&mut self, repo_id: i64, build_id: i64, limit: i64) {
        let repo = self.repo(repo_id, limit);
        repo.queued.insert(build_id);
        self.refresh(repo_id);
    }

    /// A queued build was canceled before it started.
    pub fn dequeued(&mut self, repo_id: i64, build_id: i64) {
        if let Some(repo) = self.repos.get_mut(&repo_id) {
            repo.queued.remove(&build_id);
            self.refresh(repo_id);
        }
    }

    /// The oldest build that may start now (counted as running from here on), if any.
    pub fn next(&mut self, max_running: usize) -> Option<(i64, i64)> {
        if self.running >= max_running {
            return None;
        }
        let &(build_id, repo_id) = self.ready.iter().next()?;
        let repo = self.repos.get_mut(&repo_id).expect("ready repositories are indexed");
        repo.queued.remove(&build_id);
        repo.running += 1;
        self.running += 1;
        self.refresh(repo_id);
        Some((build_id, repo_id))
    }

    /// Whether `next` would return a build.
    pub fn has_next(&self, max_running: usize) -> bool {
        self.running < max_running && !self.ready.is_empty()
    }

    /// A build that `next` returned has finished (or could not start).
    pub fn finished(&mut self, repo_id: i64) {
        if let Some(repo) = self.repos.get_mut(&repo_id) {
            repo.running = repo.running.saturating_sub(1);
            self.running = self.running.saturating_sub(1);
            self.refresh(repo_id);
        }
    }

    /// A build that `next` returned could not be claimed for now: it waits again.
    pub fn requeue(&mut self, repo_id: i64, build_id: i64) {
        if let Some(repo) = self.repos.get_mut(&repo_id) {
            repo.running = repo.running.saturating_sub(1);
            self.running = self.running.saturating_sub(1);
            repo.queued.insert(build_id);
            self.refresh(repo_id);
        }
    }

    /// The repository's own limit changed.
    pub fn set_limit(&mut self, repo_id: i64, limit: i64) {
        if let Some(repo) = self.repos.get_mut(&repo_id) {
            repo.limit = limit.max(1) as usize;
            self.refresh(repo_id);
        }
    }

    /// How many builds run now, and how many of them are the repository's.
    pub fn running(&self, repo_id: i64) -> (usize, usize) {
        (self.running, self.repos.get(&repo_id).map_or(0, |r| r.running))
    }

    /// Why a queued build has not started, as the queue sees it (`None`: it is next).
    pub fn why_waiting(&self, repo_id: i64, build_id: i64, max_running: usize) -> Option<Waiting> {
        let repo = self.repos.get(&repo_id)?;
        if !repo.queued.contains(&build_id) {
            return None;
        }
        let ahead = repo.queued.range(..build_id).count();
        if repo.running >= repo.limit {
            return Some(Waiting::RepoLimit {
                running: repo.running,
                limit: repo.limit,
                ahead,
                holders: Vec::new(),
            });
        }
        if self.running >= max_running {
            return Some(Waiting::ServerLimit {
                running: self.running,
                ahead,
            });
        }
        (ahead > 0).then_some(Waiting::Behind { ahead })
    }

    fn repo(&mut self, repo_id: i64, limit: i64) -> &mut RepoQueue {
        let repo = self.repos.entry(repo_id).or_insert_with(|| RepoQueue {
            queued: BTreeSet::new(),
            running: 0,
            limit: 1,
            ready_key: None,
        });
        repo.limit = limit.max(1) as usize;
        repo
    }

    /// Puts the repository in `ready` (under its oldest queued build) or takes it out, and
    /// forgets it once it has nothing queued or running.
    fn refresh(&mut self, repo_id: i64) {
        let Some(repo) = self.repos.get_mut(&repo_id) else {
            return;
        };
        if let Some(key) = repo.ready_key.take() {
            self.ready.remove(&key);
        }
        match repo.queued.first() {
            Some(&oldest) if repo.running < repo.limit => {
                repo.ready_key = Some((oldest, repo_id));
                self.ready.insert((oldest, repo_id));
            }
            None if repo.running == 0 => {
                self.repos.remove(&repo_id);
            }
            _ => {}
        }
    }
}

/// Why a queued build waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// The repository runs as many builds as its settings allow: `holders` are the numbers of
    /// the running ones, when known.
    RepoLimit {
        running: usize,
        limit: usize,
        ahead: usize,
        holders: Vec<i64>,
    },
    /// The server runs as many builds as `SICURO_MAX_CONCURRENT_BUILDS` allows.
    ServerLimit { running: usize, ahead: usize },
    /// Older builds of the repository start first.
    Behind { ahead: usize },
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ahead = |n: usize| match n {
            0 => String::new(),
            1 => "; 1 older build of this repository goes first".to_string(),
            n => format!("; {n} older builds of this repository go first"),
        };
        match self {
            Waiting::RepoLimit {
                running,
                limit,
                ahead: a,
                holders,
            } => {
                let who = match holders.is_empty() {
                    true => running.to_string(),
                    false => holders.iter().map(|n| format!("#{n}")).collect::<Vec<_>>().join(", "),
                };
                let count = if holders.is_empty() { *running } else { holders.len() };
                write!(
                    f,
                    "waiting: this repository runs at most {limit} build{} at once (its settings) and {who} {} running{}",
                    if *limit == 1 { "" } else { "s" },
                    if count == 1 { "is" } else { "are" },
                    ahead(*a)
                )
            }
            Waiting::ServerLimit { running, ahead: a } => write!(
                f,
                "waiting for a free slot: the server runs {running} build{} at once (SICURO_MAX_CONCURRENT_BUILDS){}",
                if *running == 1 { "" } else { "s" },
                ahead(*a)
            ),
            Waiting::Behind { ahead: a } => write!(f, "waiting{}", ahead(*a).replacen("; ", ": ", 1)),
        }
    }
}

/// How often the queue asks an unavailable executor again.
const EXECUTOR_RETRY: Duration = Duration::from_secs(2);

pub async fn run(engine: Engine) {
    loop {
        let woken = engine.0.wake.notified();
        match start_eligible(&engine).await {
            Err(e) => {
                tracing::error!("the queue could not read the database: {e}; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Ok(Started::ExecutorAway) => {
                // Builds wait for the executor; nothing announces its return, so ask again soon.
                let _ = tokio::time::timeout(EXECUTOR_RETRY, woken).await;
                continue;
            }
            Ok(Started::All) => {}
        }
        if !engine.accepting() {
            return;
        }
        woken.await;
    }
}

/// Why `start_eligible` stopped starting builds.
enum Started {
    /// Every build that may start has started.
    All,
    /// Builds could start but the executor cannot run them now; they stay queued.
    ExecutorAway,
}

async fn start_eligible(engine: &Engine) -> Result<Started, sqlx::Error> {
    let max = engine.0.config.max_concurrent_builds;
    loop {
        if !engine.accepting() || !engine.0.queue.lock().expect("queue").has_next(max) {
            return Ok(Started::All);
        }
        if let Err(reason) = engine.0.executor.available().await {
            engine.set_waiting(Some(reason));
            return Ok(Started::ExecutorAway);
        }
        engine.set_waiting(None);
        let Some((build_id, repo_id)) = engine.0.queue.lock().expect("queue").next(max) else {
            return Ok(Started::All);
        };
        let claimed = match claim(engine, build_id, repo_id).await {
            Ok(c) => c,
            Err(e) => {
                engine.0.queue.lock().expect("queue").requeue(repo_id, build_id);
                return Err(e);
            }
        };
        let Some((build, repo)) = claimed else {
            // Canceled (or its repository removed) meanwhile.
            engine.0.queue.lock().expect("queue").finished(repo_id);
            continue;
        };
        let stop = CancellationToken::new();
        let reason = Arc::new(Mutex::new(None));
        engine.0.running.lock().expect("running builds").insert(
            build.id,
            RunningBuild {
                stop: stop.clone(),
                reason: reason.clone(),
                repo_id: build.repo_id,
                number: build.number,
            },
        );
        // A cancel that came between the claim and the registration left only its flag.
        if let Ok(Some(now)) = builds::get(&engine.0.db, build.id).await
            && now.cancel_requested != 0
            && let Some(r) = engine.0.running.lock().expect("running builds").get(&build.id)
        {
            r.stop(StopRequest {
                status: sicuro_types::BuildStatus::Canceled,
                message: now.error.clone().unwrap_or_else(|| "canceled".into()),
            });
        }
        let task_engine = engine.clone();
        let mut tasks = engine.0.tasks.lock().await;
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let id = build.id;
            // A panic in a build must not leave it running forever: record it and go on.
            let outcome = tokio::spawn(build::execute(task_engine.clone(), build, repo.clone(), stop, reason)).await;
            if let Err(e) = outcome {
                tracing::error!(build = id, "build task failed: {e}");
                build::record_internal_error(&task_engine, &repo, id, &e.to_string()).await;
            }
            task_engine.0.running.lock().expect("running builds").remove(&id);
            task_engine.0.queue.lock().expect("queue").finished(repo_id);
            task_engine.0.idle.notify_waiters();
            task_engine.0.wake.notify_one();
        });
    }
}

/// Moves the build to `running` in the database and reads its repository once for the run.
async fn claim(
    engine: &Engine,
    build_id: i64,
    repo_id: i64,
) -> Result<Option<(builds::Build, Arc<repos::Repo>)>, sqlx::Error> {
    let Some(build) = builds::claim(&engine.0.db, build_id).await? else {
        return Ok(None);
    };
    match repos::get(&engine.0.db, repo_id).await? {
        Some(repo) => Ok(Some((build, Arc::new(repo)))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut QueueIndex, max: usize) -> Vec<i64> {
        std::iter::from_fn(|| q.next(max).map(|(b, _)| b)).collect()
    }

    #[test]
    fn builds_start_in_order_of_arrival_within_both_limits() {
        let mut q = QueueIndex::default();
        q.queued(1, 10, 1);
        q.queued(2, 11, 2);
        q.queued(1, 12, 1);
        q.queued(2, 13, 2);
        q.queued(2, 14, 2);
        // Repository 1 may run one, repository 2 two, the server three.
        assert_eq!(drain(&mut q, 3), [10, 11, 13]);
        assert_eq!(q.running(2), (3, 2));
        q.finished(1);
        assert_eq!(drain(&mut q, 3), [12]);
        q.finished(2);
        assert_eq!(drain(&mut q, 3), [14]);
        assert_eq!(drain(&mut q, 3), Vec::<i64>::new());
    }

    #[test]
    fn a_waiting_build_says_which_limit_holds_it() {
        let mut q = QueueIndex::default();
        q.queued(1, 10, 1);
        q.queued(1, 11, 1);
        q.queued(1, 12, 1);
        q.queued(2, 20, 5);
        assert_eq!(q.why_waiting(1, 10, 1), None, "the next one");
        assert_eq!(q.why_waiting(1, 11, 1), Some(Waiting::Behind { ahead: 1 }));
        assert_eq!(drain(&mut q, 1), [10]);
        assert_eq!(
            q.why_waiting(1, 12, 1),
            Some(Waiting::RepoLimit {
                running: 1,
                limit: 1,
                ahead: 1,
                holders: vec![]
            })
        );
        assert_eq!(
            q.why_waiting(2, 20, 1),
            Some(Waiting::ServerLimit { running: 1, ahead: 0 })
        );
        assert_eq!(q.why_waiting(1, 10, 1), None, "running, not waiting");
        assert_eq!(
            Waiting::RepoLimit {
                running: 1,
                limit: 1,
                ahead: 1,
                holders: vec![]
            }
            .to_string(),
            "waiting: this repository runs at most 1 build at once (its settings) and 1 is running; \
             1 older build of this repository goes first"
        );
        assert_eq!(
            Waiting::RepoLimit {
                running: 2,
                limit: 2,
                ahead: 0,
                holders: vec![4, 6]
            }
            .to_string(),
            "waiting: this repository runs at most 2 builds at once (its settings) and #4, #6 are running"
        );
        assert_eq!(
            Waiting::ServerLimit { running: 3, ahead: 0 }.to_string(),
            "waiting for a free slot: the server runs 3 builds at once (SICURO_MAX_CONCURRENT_BUILDS)"
        );
        assert_eq!(
            Waiting::Behind { ahead: 2 }.to_string(),
            "waiting: 2 older builds of this repository go first"
        );
    }

    #[test]
    fn canceled_builds_and_new_limits_are_taken_into_account() {
        let mut q = QueueIndex::default();
        for b in [1, 2, 3] {
            q.queued(7, b, 1);
        }
        q.dequeued(7, 1);
        assert_eq!(drain(&mut q, 10), [2]);
        q.set_limit(7, 2);
        assert_eq!(drain(&mut q, 10), [3]);
        q.finished(7);
        q.finished(7);
        assert!(
            q.repos.is_empty(),
            "a repository with nothing queued or running is forgotten"
        );
        assert!(q.ready.is_empty());
    }
}
