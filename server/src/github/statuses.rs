//! Commit statuses: every state change of a GitHub repository's build becomes a row in the
//! status outbox, in the same transaction as the change (`db::builds`), and a poster drains the
//! outbox with the subscriber's token, retrying with backoff on GitHub errors and rate limits.
//! It words each status when it posts it: a queued build's says why it waits. A status that
//! cannot be posted never changes a build's verdict; a canceled build ends `error` "canceled",
//! never left pending.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::json;
use sicuro_types::{BuildStatus, TriggerEvent, format_duration};
use tokio::sync::{Notify, mpsc};

use super::{GhError, Github, enc};
use crate::crypto::Keys;
use crate::db::builds::Build;
use crate::db::repos::Repo;
use crate::db::{self, Db, now_ms};
use crate::engine::{BuildChange, Engine};

/// GitHub's limit on a status description.
const MAX_DESCRIPTION: usize = 140;
/// After this many failed attempts a status is dropped (with a log line).
const MAX_ATTEMPTS: i64 = 12;

/// The context of a build's statuses: one per kind of event, as GitHub users expect.
pub fn context(event: TriggerEvent) -> &'static str {
    match event {
        TriggerEvent::PullRequest => "sicuro/pr",
        _ => "sicuro/push",
    }
}

/// The build's page under the public URL.
pub fn target_url(github: &Github, repo: &Repo, build: &Build) -> String {
    github
        .public_url
        .join(&format!("repos/{}/{}/builds/{}", repo.owner, repo.name, build.number))
        .expect("joins")
        .to_string()
}

/// GitHub state and description for a build as it is now.
pub fn status_for(build: &Build) -> (&'static str, String) {
    status_with_tests(build, None)
}

/// The same, with the counts of its test reports when it had any ("… — 212 passed, 3 failed").
pub fn status_with_tests(build: &Build, tests: Option<sicuro_types::TestCounts>) -> (&'static str, String) {
    status_described(build, tests, None)
}

/// The same, with why a queued build waits (the engine's reason) when it does.
pub fn status_described(
    build: &Build,
    tests: Option<sicuro_types::TestCounts>,
    waiting: Option<&str>,
) -> (&'static str, String) {
    let n = build.number;
    let took = match (build.started_at, build.finished_at) {
        (Some(s), Some(f)) => format_duration(f - s),
        _ => String::new(),
    };
    let (state, description) = match build.status() {
        BuildStatus::Waiting => (
            "pending",
            format!(
                "Build #{n} is waiting for approval: a pull request from a fork runs once someone with push access approves it"
            ),
        ),
        BuildStatus::Queued => match waiting {
            Some(why) => ("pending", format!("Build #{n} queued, {why}")),
            None => ("pending", format!("Build #{n} queued")),
        },
        BuildStatus::Running => ("pending", format!("Build #{n} running")),
        BuildStatus::Success => ("success", format!("Build #{n} passed in {took}")),
        BuildStatus::Failure => ("failure", format!("Build #{n} failed in {took}")),
        BuildStatus::Error => (
            "error",
            format!(
                "Build #{n} errored: {}",
                build.error.as_deref().unwrap_or("see the build page")
            ),
        ),
        // A declined or otherwise stopped build says why; a plain cancel says just that.
        BuildStatus::Canceled => match build.error.as_deref() {
            Some(why) if !why.starts_with("canceled") => ("error", why.to_string()),
            _ => ("error", "canceled".to_string()),
        },
    };
    let description = match tests.filter(|t| t.total() > 0 && build.status().is_finished()) {
        Some(t) => format!("{} — {description}", t.describe()),
        None => description,
    };
    (state, truncate(&description, MAX_DESCRIPTION))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Posts the statuses the outbox holds, woken by the engine's changes.
pub struct StatusPoster {
    db: Db,
    github: Arc<Github>,
    keys: Arc<Keys>,
    engine: Engine,
    due: Notify,
}

impl StatusPoster {
    pub fn start(db: Db, github: Arc<Github>, keys: Arc<Keys>, engine: &Engine) -> Arc<Self> {
        let poster = Arc::new(Self {
            db,
            github,
            keys,
            engine: engine.clone(),
            due: Notify::new(),
        });
        let background = engine.background();
        background.spawn("status waker", poster.clone().wake_on(engine.observe()));
        background.spawn("status poster", poster.clone().post_loop());
        poster
    }

    /// Every change of a build has queued its status (in the change's own transaction): post it.
    async fn wake_on(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<BuildChange>) {
        while changes.recv().await.is_some() {
            self.due.notify_one();
        }
    }

    async fn post_loop(self: Arc<Self>) {
        loop {
            let woken = self.due.notified();
            let wait = match self.post_due().await {
                Ok(()) => match db::statuses::next_due_at(&self.db).await {
                    Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64),
                    Ok(None) => Duration::from_secs(3600),
                    Err(_) => Duration::from_secs(5),
                },
                Err(e) => {
                    tracing::error!("status outbox unreadable: {e}");
                    Duration::from_secs(5)
                }
            };
            if wait.is_zero() {
                continue;
            }
            let _ = tokio::time::timeout(wait, woken).await;
        }
    }

    async fn post_due(&self) -> Result<(), sqlx::Error> {
        for pending in db::statuses::due(&self.db, 50).await? {
            // A newer status of the same build replaces older ones still waiting.
            for older in db::statuses::older_of_build(&self.db, pending.build_id, pending.id).await? {
                db::statuses::delete(&self.db, older).await?;
            }
            let Some(build) = db::builds::get(&self.db, pending.build_id).await? else {
                db::statuses::delete(&self.db, pending.id).await?;
                continue;
            };
            let Some(repo) = db::repos::get(&self.db, build.repo_id).await? else {
                db::statuses::delete(&self.db, pending.id).await?;
                continue;
            };
            let (state, description) = self.word(&build, &pending.build_status).await;
            match self.post(&repo, &build, state, &description).await {
                Ok(()) => db::statuses::delete(&self.db, pending.id).await?,
                Err(PostError::Drop(why)) => {
                    tracing::warn!(build = build.id, "commit status dropped: {why}");
                    db::statuses::delete(&self.db, pending.id).await?;
                }
                Err(PostError::Retry(after, why)) if pending.attempts + 1 < MAX_ATTEMPTS => {
                    let after = after.unwrap_or_else(|| backoff(pending.attempts));
                    tracing::warn!(
                        build = build.id,
                        "commit status not posted ({why}); retrying in {after:?}"
                    );
                    let at = now_ms() + after.as_millis() as i64;
                    db::statuses::retry_later(&self.db, pending.id, at, &why).await?;
                }
                Err(PostError::Retry(_, why)) => {
                    tracing::error!(
                        build = build.id,
                        "commit status given up after {MAX_ATTEMPTS} attempts: {why}"
                    );
                    db::statuses::delete(&self.db, pending.id).await?;
                }
            }
        }
        Ok(())
    }

    /// The state and description of the build as it was at the change (`status`): a verdict
    /// with its test counts, a queued build with why it waits if it still does.
    async fn word(&self, build: &Build, status: &str) -> (&'static str, String) {
        let mut then = build.clone();
        if !status.is_empty() {
            then.status = status.to_string();
        }
        let tests = match then.status().is_finished() {
            true => db::test_reports::counts(&self.db, build.id)
                .await
                .ok()
                .flatten()
                .map(|(c, _)| c),
            false => None,
        };
        let waiting = match (then.status(), build.status()) {
            (BuildStatus::Queued, BuildStatus::Queued) => self.engine.queued_reason(build.repo_id, build.id),
            _ => None,
        };
        status_described(&then, tests, waiting.as_deref())
    }

    async fn post(&self, repo: &Repo, build: &Build, state: &str, description: &str) -> Result<(), PostError> {
        let token = self.subscriber_token(repo).await?;
        let path = format!(
            "/repos/{}/{}/statuses/{}",
            enc(&repo.owner),
            enc(&repo.name),
            build.commit_sha
        );
        let body = json!({
            "state": state,
            "target_url": target_url(&self.github, repo, build),
            "description": description,
            "context": context(build.event()),
        });
        match self
            .github
            .request::<serde_json::Value, _>(&token, Method::POST, &path, Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(GhError::RateLimited { retry_after }) => {
                Err(PostError::Retry(Some(retry_after), "rate limited".into()))
            }
            Err(GhError::Unavailable(e)) => Err(PostError::Retry(None, e)),
            Err(GhError::Unauthorized) => {
                self.token_revoked(repo).await;
                Err(PostError::Drop("the subscriber's token was revoked".into()))
            }
            Err(e) => Err(PostError::Drop(e.to_string())),
        }
    }

    async fn subscriber_token(&self, repo: &Repo) -> Result<String, PostError> {
        let user_id = repo
            .subscriber_id
            .ok_or_else(|| PostError::Drop("nobody subscribed this repository".into()))?;
        let user = db::users::get(&self.db, user_id)
            .await
            .map_err(|e| PostError::Retry(None, e.to_string()))?
            .ok_or_else(|| PostError::Drop("the subscriber no longer exists".into()))?;
        if user.token_revoked_at.is_some() {
            return Err(PostError::Drop(
                "the subscriber's token was revoked; someone must sign in again".into(),
            ));
        }
        user.token_ciphertext
            .as_deref()
            .and_then(|c| self.keys.open(c))
            .ok_or_else(|| PostError::Drop("the stored token cannot be decrypted (was the secret key changed?)".into()))
    }

    async fn token_revoked(&self, repo: &Repo) {
        if let Some(user_id) = repo.subscriber_id {
            let _ = db::users::mark_token_revoked(&self.db, user_id).await;
            let _ = db::repos::flag_token_problem_for_subscriber(&self.db, user_id, TOKEN_PROBLEM).await;
        }
    }
}

/// What the repository page says when builds can no longer use the subscriber's token.
pub const TOKEN_PROBLEM: &str = "GitHub no longer accepts the token of the person who subscribed this repository, so Sicuro cannot post \
     commit statuses or fetch private code. Someone with admin rights must sign in to Sicuro again.";

/// 1 s, 2 s, 4 s … up to 5 minutes.
fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 8) as u32).min(Duration::from_secs(300))
}

enum PostError {
    /// Try again after this long (or after the backoff for the attempt count).
    Retry(Option<Duration>, String),
    Drop(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(status: &str, error: Option<&str>) -> Build {
        Build {
            id: 1,
            repo_id: 1,
            number: 12,
            event: "push".into(),
            branch: Some("main".into()),
            is_tag: 0,
            pr_number: None,
            commit_sha: "a".repeat(40),
            fetch_url: None,
            fetch_ref: None,
            from_fork: 0,
            author: None,
            message: None,
            status: status.into(),
            created_at: 0,
            started_at: Some(1_000),
            finished_at: Some(64_000),
            exit_code: None,
            error: error.map(str::to_string),
            log_lines: 0,
            log_bytes: 0,
            rebuild_of: None,
            cancel_requested: 0,
            approved_by: None,
        }
    }

    #[test]
    fn descriptions_say_what_happened_and_how_long_it_took() {
        assert_eq!(
            status_for(&build("queued", None)),
            ("pending", "Build #12 queued".into())
        );
        assert_eq!(
            status_for(&build("running", None)),
            ("pending", "Build #12 running".into())
        );
        assert_eq!(
            status_for(&build("success", None)),
            ("success", "Build #12 passed in 1m 03s".into())
        );
        assert_eq!(
            status_for(&build("failure", None)),
            ("failure", "Build #12 failed in 1m 03s".into())
        );
        assert_eq!(
            status_for(&build("canceled", Some("canceled by alice"))),
            ("error", "canceled".into())
        );
        let counts = sicuro_types::TestCounts {
            passed: 212,
            failed: 3,
            skipped: 0,
        };
        assert_eq!(
            status_with_tests(&build("failure", None), Some(counts)),
            ("failure", "212 passed, 3 failed — Build #12 failed in 1m 03s".into())
        );
        let (state, d) = status_for(&build("error", Some(&"x".repeat(500))));
        assert_eq!(state, "error");
        assert_eq!(d.chars().count(), MAX_DESCRIPTION);
    }

    #[test]
    fn pull_requests_have_their_own_context() {
        assert_eq!(context(TriggerEvent::PullRequest), "sicuro/pr");
        assert_eq!(context(TriggerEvent::Push), "sicuro/push");
        assert_eq!(context(TriggerEvent::Ping), "sicuro/push");
        assert_eq!(context(TriggerEvent::Manual), "sicuro/push");
    }
}
