//! What people decide about a build: cancel it, approve a fork's build, or decline it.

use std::sync::Arc;

use sicuro_types::BuildStatus;

use super::verdict::StopRequest;
use super::{Engine, EngineError};
use crate::db::builds::{self, Build};
use crate::db::repos::{self, Repo};

impl Engine {
    /// Cancels a queued or running build. Returns the build as it is afterwards.
    pub async fn cancel(&self, build_id: i64, by: &str) -> Result<Build, EngineError> {
        let build = builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))?;
        let repo = repos::get(&self.0.db, build.repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(build.repo_id))?;
        let request = StopRequest {
            status: BuildStatus::Canceled,
            message: format!("canceled by {by}"),
        };
        self.stop(&Arc::new(repo), build_id, request).await?;
        builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))
    }

    pub(super) async fn stop(&self, repo: &Arc<Repo>, build_id: i64, request: StopRequest) -> Result<(), EngineError> {
        if let Some(canceled) = builds::cancel_queued(&self.0.db, build_id, &request.message).await? {
            self.0.queue.lock().expect("queue").dequeued(canceled.repo_id, build_id);
            self.0.logs.conclude(build_id, &request.message, request.status);
            self.announce(repo, canceled);
            return Ok(());
        }
        // Running, or claimed a moment ago and not yet registered: the flag in the database
        // reaches the latter as it registers (the queue looks), so no cancel falls between.
        builds::request_cancel(&self.0.db, build_id, &request.message).await?;
        if let Some(r) = self.0.running.lock().expect("running builds").get(&build_id) {
            r.stop(request);
        }
        Ok(())
    }

    /// Lets a build that waits for approval (a fork's pull request) run.
    pub async fn approve(&self, build_id: i64, by: &str) -> Result<Build, EngineError> {
        let Some(build) = builds::approve(&self.0.db, build_id, by).await? else {
            return Err(self.not_waiting(build_id).await);
        };
        let repo = repos::get(&self.0.db, build.repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(build.repo_id))?;
        tracing::info!(build = build_id, by, "approved");
        self.0
            .queue
            .lock()
            .expect("queue")
            .queued(repo.id, build.id, repo.max_concurrent);
        self.announce(&Arc::new(repo), build.clone());
        self.0.wake.notify_one();
        Ok(build)
    }

    /// Refuses to run a build that waits for approval; it ends `canceled` saying who declined.
    pub async fn decline(&self, build_id: i64, by: &str) -> Result<Build, EngineError> {
        let build = builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))?;
        if build.status() != BuildStatus::Waiting {
            return Err(self.not_waiting(build_id).await);
        }
        let repo = repos::get(&self.0.db, build.repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(build.repo_id))?;
        let request = StopRequest {
            status: BuildStatus::Canceled,
            message: format!("declined by {by}"),
        };
        self.stop(&Arc::new(repo), build_id, request).await?;
        tracing::info!(build = build_id, by, "declined");
        builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))
    }

    async fn not_waiting(&self, build_id: i64) -> EngineError {
        match builds::get(&self.0.db, build_id).await {
            Ok(Some(b)) => EngineError::Conflict(format!(
                "build #{} is {}, not waiting for approval",
                b.number,
                b.status().label()
            )),
            Ok(None) => EngineError::UnknownBuild(build_id),
            Err(e) => e.into(),
        }
    }
}
