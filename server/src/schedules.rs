//! Scheduled builds: at the start of every minute, each watched repository whose schedule (its
//! settings' cron expression, `engine::schedule`) came due since it last fired gets a build of
//! its schedule's branch (the default branch unless it names one), event `schedule`. A server
//! that was down fires once for what it missed, not once per missed occurrence.

use std::time::Duration;

use crate::db::{now_ms, repos};
use crate::engine::{BuildRequest, Engine, schedule};

/// Fires the schedules due at `now` (ms); returns the builds it asked for.
pub async fn pass(engine: &Engine, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    let mut builds = Vec::new();
    for repo in repos::scheduled(engine.db()).await? {
        let Some(expression) = &repo.schedule else { continue };
        let cron = match schedule::parse(expression) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(repo = %repo.slug(), "{e}");
                continue;
            }
        };
        let since = repo.scheduled_at.unwrap_or(repo.created_at);
        if !schedule::next_after(&cron, since).is_some_and(|due| due <= now) {
            continue;
        }
        // Recorded first: two servers on one database (or a slow pass) fire it once.
        if !repos::mark_scheduled(engine.db(), repo.id, repo.scheduled_at, now).await? {
            continue;
        }
        let branch = repo
            .schedule_branch
            .clone()
            .unwrap_or_else(|| repo.default_branch.clone());
        let error = match engine
            .request(repo.id, BuildRequest::Schedule { branch: branch.clone() })
            .await
        {
            Ok(created) => {
                builds.push(created.build().id);
                None
            }
            Err(e) => {
                tracing::warn!(repo = %repo.slug(), "the scheduled build of {branch} could not be started: {e}");
                Some(format!(
                    "The scheduled build of {branch} at {} could not start: {e}",
                    utc_minute(now)
                ))
            }
        };
        // Shown on the settings page until a scheduled build starts again.
        if error.is_some() || repo.schedule_error.is_some() {
            repos::set_schedule_error(engine.db(), repo.id, error.as_deref()).await?;
        }
    }
    Ok(builds)
}

/// `2026-12-02 03:00 UTC`, for people.
fn utc_minute(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A pass at the start of every minute (cron's resolution), for as long as the server runs.
pub async fn run(engine: Engine) {
    loop {
        let now = now_ms();
        if let Err(e) = pass(&engine, now).await {
            tracing::warn!("scheduled builds: the database could not be read: {e}");
        }
        let into_minute = now.rem_euclid(60_000) as u64;
        tokio::time::sleep(Duration::from_millis(60_000 - into_minute)).await;
    }
}
