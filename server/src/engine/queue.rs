//! The scheduler: starts queued builds in order of arrival, at most `max_concurrent_builds` at
//! once and at most each repository's own limit. It wakes when a build is queued or finishes;
//! the database says what is queued, so a restart loses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Engine, RunningBuild, build};
use crate::db::{builds, repos};

pub async fn run(engine: Engine) {
    loop {
        let woken = engine.0.wake.notified();
        if let Err(e) = start_eligible(&engine).await {
            tracing::error!("the queue could not read the database: {e}; retrying in a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if !engine.accepting() {
            return;
        }
        woken.await;
    }
}

async fn start_eligible(engine: &Engine) -> Result<(), sqlx::Error> {
    let max = engine.0.config.max_concurrent_builds;
    let mut repo_limits: HashMap<i64, i64> = HashMap::new();
    loop {
        if !engine.accepting() {
            return Ok(());
        }
        let per_repo: HashMap<i64, i64> = {
            let running = engine.0.running.lock().expect("running builds");
            if running.len() >= max {
                return Ok(());
            }
            running.values().fold(HashMap::new(), |mut m, r| {
                *m.entry(r.repo_id).or_default() += 1;
                m
            })
        };
        let mut next = None;
        for b in builds::queued(&engine.0.db).await? {
            let limit = match repo_limits.get(&b.repo_id) {
                Some(l) => *l,
                None => {
                    let l = repos::get(&engine.0.db, b.repo_id)
                        .await?
                        .map_or(1, |r| r.max_concurrent.max(1));
                    repo_limits.insert(b.repo_id, l);
                    l
                }
            };
            if per_repo.get(&b.repo_id).copied().unwrap_or(0) < limit {
                next = Some(b);
                break;
            }
        }
        let Some(b) = next else { return Ok(()) };
        if !builds::claim(&engine.0.db, b.id).await? {
            continue; // canceled meanwhile
        }
        let stop = CancellationToken::new();
        let reason = Arc::new(Mutex::new(None));
        engine.0.running.lock().expect("running builds").insert(
            b.id,
            RunningBuild {
                repo_id: b.repo_id,
                stop: stop.clone(),
                reason: reason.clone(),
            },
        );
        let claimed = builds::get(&engine.0.db, b.id).await?.unwrap_or(b);
        let task_engine = engine.clone();
        let mut tasks = engine.0.tasks.lock().await;
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let id = claimed.id;
            // A panic in a build must not leave it running forever: record it and go on.
            let outcome = tokio::spawn(build::execute(task_engine.clone(), claimed, stop, reason)).await;
            if let Err(e) = outcome {
                tracing::error!(build = id, "build task failed: {e}");
                build::record_internal_error(&task_engine, id, &e.to_string()).await;
            }
            task_engine.0.running.lock().expect("running builds").remove(&id);
            task_engine.0.idle.notify_waiters();
            task_engine.0.wake.notify_one();
        });
    }
}
