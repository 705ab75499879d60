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
        let build = self.build(build_id).await?;
        self.stop_as(build, BuildStatus::Canceled, format!("canceled by {by}"))
            .await
    }

    /// Stops the build with `status` and `message`; returns it as it is afterwards.
    async fn stop_as(&self, build: Build, status: BuildStatus, message: String) -> Result<Build, EngineError> {
        let repo = self.repo_of(&build).await?;
        self.stop(&Arc::new(repo), build.id, StopRequest { status, message })
            .await?;
        self.build(build.id).await
    }

    async fn build(&self, build_id: i64) -> Result<Build, EngineError> {
        builds::get(&self.0.db, build_id)
            .await?
            .ok_or(EngineError::UnknownBuild(build_id))
    }

    async fn repo_of(&self, build: &Build) -> Result<Repo, EngineError> {
        repos::get(&self.0.db, build.repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(build.repo_id))
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
        let repo = self.repo_of(&build).await?;
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
        let build = self.build(build_id).await?;
        if build.status() != BuildStatus::Waiting {
            return Err(self.not_waiting(build_id).await);
        }
        let declined = self
            .stop_as(build, BuildStatus::Canceled, format!("declined by {by}"))
            .await?;
        tracing::info!(build = build_id, by, "declined");
        Ok(declined)
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
