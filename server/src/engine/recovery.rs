//! Start-up recovery and reaping: builds a killed process left running end `error`, queued builds
//! wait again, and what the executor holds for builds no longer running is removed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sicuro_types::BuildStatus;

use super::{Engine, EngineError, executor};
use crate::db::builds;
use crate::db::repos;

impl Engine {
    /// Builds a previous process left `running` end `error` (their logs say so), the executor's
    /// leftovers are removed, and queued builds wait for the queue as before.
    pub(super) async fn recover(&self) -> Result<(), EngineError> {
        const RESTARTED: &str = "the server restarted during the build";
        for b in builds::fail_orphans(&self.0.db, RESTARTED).await? {
            tracing::warn!(
                build = b.id,
                "build was running when the previous process ended; marked error"
            );
            self.0.logs.conclude(b.id, RESTARTED, BuildStatus::Error);
            if let (Some(after), Some(repo)) = (
                builds::get(&self.0.db, b.id).await?,
                repos::get(&self.0.db, b.repo_id).await?,
            ) {
                self.announce(&Arc::new(repo), after);
            }
        }
        for id in builds::waiting_ids(&self.0.db).await? {
            self.0.logs.expect(id);
        }
        // Read first: the queue's lock is never held across an await.
        let queued = builds::queued_with_limits(&self.0.db).await?;
        {
            let mut queue = self.0.queue.lock().expect("queue");
            for q in queued {
                self.0.logs.expect(q.build_id);
                queue.queued(q.repo_id, q.build_id, q.max_concurrent);
            }
        }
        self.reap().await;
        Ok(())
    }

    /// Every minute, removes what builds could not clean up themselves (the executor was away
    /// when they ended), so nothing lingers until the next restart.
    pub(super) async fn reap_periodically(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        while self.accepting() {
            tick.tick().await;
            self.reap().await;
        }
    }

    /// Reaps as soon as the executor reports an object created for a job that no running build
    /// owns: one whose creation a killed process had asked for just before it died, which the
    /// executor completes after the start-up reaping has listed what there was.
    pub(super) async fn reap_strays(self) {
        use futures::StreamExt;
        while self.accepting() {
            let mut creations = self.0.executor.creations();
            while let Some(key) = creations.next().await {
                if !self.running_ids().iter().any(|id| id.to_string() == key) {
                    self.reap().await;
                }
            }
            // The executor went away (or never answered): listen again once it is back.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Removes the executor's leftovers of builds that are not running in this process.
    pub async fn reap(&self) {
        let keep = || -> HashSet<String> { self.running_ids().iter().map(i64::to_string).collect() };
        match self.0.executor.reap(&keep).await {
            Ok(r) if r != executor::Reaped::default() => {
                tracing::info!(
                    containers = r.containers,
                    networks = r.networks,
                    services = r.services,
                    "removed leftovers of earlier builds"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("leftovers of earlier builds will be removed once the executor answers: {e}"),
        }
    }
}
