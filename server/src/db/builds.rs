//! Builds: the persistent queue and the history. The database is the source of truth for what
//! is queued and running; the engine only acts on what these functions return.

use sicuro_types::{BuildStatus, TriggerEvent};
use sqlx::FromRow;

use super::{Db, flag, now_ms, statuses};

#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct Build {
    pub id: i64,
    pub repo_id: i64,
    pub number: i64,
    pub event: String,
    pub branch: Option<String>,
    pub is_tag: i64,
    pub pr_number: Option<i64>,
    pub commit_sha: String,
    pub fetch_url: Option<String>,
    pub fetch_ref: Option<String>,
    pub from_fork: i64,
    pub author: Option<String>,
    pub message: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub log_lines: i64,
    pub log_bytes: i64,
    pub rebuild_of: Option<i64>,
    pub cancel_requested: i64,
    /// Who let a fork's build run (it waited for approval).
    pub approved_by: Option<String>,
}

impl Build {
    pub fn status(&self) -> BuildStatus {
        BuildStatus::parse(&self.status).unwrap_or(BuildStatus::Error)
    }

    pub fn event(&self) -> TriggerEvent {
        TriggerEvent::parse(&self.event).unwrap_or(TriggerEvent::Manual)
    }

    pub fn from_fork(&self) -> bool {
        self.from_fork != 0
    }
}

/// A request for a build, before it has a number.
#[derive(Clone, Debug, Default)]
pub struct NewBuild {
    pub repo_id: i64,
    pub event: Option<TriggerEvent>,
    pub branch: Option<String>,
    pub is_tag: bool,
    pub pr_number: Option<i64>,
    pub commit_sha: String,
    /// Where to fetch the commit from when it is not the repository's own URL (a fork).
    pub fetch_url: Option<String>,
    /// The ref that carries the commit (`refs/heads/main`, `refs/pull/7/head`).
    pub fetch_ref: Option<String>,
    pub from_fork: bool,
    pub author: Option<String>,
    pub message: Option<String>,
    pub rebuild_of: Option<i64>,
    /// Untrusted code: the build waits (`waiting`) until someone with push access approves it.
    pub needs_approval: bool,
}

/// The answer to a build request: a new build, or the one with the same signature that is
/// already queued or running.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    New(Build),
    Existing(Build),
}

impl Created {
    pub fn build(&self) -> &Build {
        match self {
            Self::New(b) | Self::Existing(b) => b,
        }
    }
}

pub const COLUMNS: &str = "id, repo_id, number, event, branch, is_tag, pr_number, commit_sha, fetch_url, fetch_ref, \
    from_fork, author, message, status, created_at, started_at, finished_at, exit_code, error, log_lines, log_bytes, \
    rebuild_of, cancel_requested, approved_by";

async fn active_with_signature(
    conn: &mut sqlx::AnyConnection,
    repo_id: i64,
    sha: &str,
    event: &str,
) -> Result<Option<Build>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE repo_id = $1 AND commit_sha = $2 AND event = $3 \
         AND status IN ('waiting', 'queued', 'running')"
    ))
    .bind(repo_id)
    .bind(sha)
    .bind(event)
    .fetch_optional(conn)
    .await
}

/// Queues a build unless one with the same signature (repository, commit, event kind) is queued or
/// running. The unique index `builds_active_signature` makes this hold under concurrent callers on
/// both databases: a loser of the race inserts nothing and returns the winner's build.
pub async fn create(db: &Db, nb: &NewBuild) -> Result<Created, sqlx::Error> {
    let event = nb.event.unwrap_or(TriggerEvent::Manual).as_str();
    for _ in 0..5 {
        let mut tx = db.begin_write().await?;
        if let Some(existing) = active_with_signature(&mut tx, nb.repo_id, &nb.commit_sha, event).await? {
            tx.commit().await?;
            return Ok(Created::Existing(existing));
        }
        let (number,): (i64,) =
            sqlx::query_as("UPDATE repos SET build_counter = build_counter + 1 WHERE id = $1 RETURNING build_counter")
                .bind(nb.repo_id)
                .fetch_one(&mut *tx)
                .await?;
        let inserted: Option<Build> = sqlx::query_as(&format!(
            "INSERT INTO builds (repo_id, number, event, branch, is_tag, pr_number, commit_sha, fetch_url, fetch_ref, \
               from_fork, author, message, status, created_at, rebuild_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $15, $13, $14) \
             ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(nb.repo_id)
        .bind(number)
        .bind(event)
        .bind(&nb.branch)
        .bind(flag(nb.is_tag))
        .bind(nb.pr_number)
        .bind(&nb.commit_sha)
        .bind(&nb.fetch_url)
        .bind(&nb.fetch_ref)
        .bind(flag(nb.from_fork))
        .bind(&nb.author)
        .bind(&nb.message)
        .bind(now_ms())
        .bind(nb.rebuild_of)
        .bind(if nb.needs_approval { "waiting" } else { "queued" })
        .fetch_optional(&mut *tx)
        .await?;
        match inserted {
            Some(b) => {
                statuses::record_change(&mut tx, b.id).await?;
                tx.commit().await?;
                return Ok(Created::New(b));
            }
            // Another request won the race after our check: take its build on the next round.
            None => tx.rollback().await?,
        }
    }
    Err(sqlx::Error::Protocol(
        "could not queue the build after five attempts under contention".into(),
    ))
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Build>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM builds WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn by_number(db: &Db, repo_id: i64, number: i64) -> Result<Option<Build>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE repo_id = $1 AND number = $2"
    ))
    .bind(repo_id)
    .bind(number)
    .fetch_optional(&db.pool)
    .await
}

/// A page of a repository's history, newest first, and the total count.
pub async fn page(db: &Db, repo_id: i64, page: i64, per_page: i64) -> Result<(Vec<Build>, i64), sqlx::Error> {
    let builds = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE repo_id = $1 ORDER BY number DESC LIMIT $2 OFFSET $3"
    ))
    .bind(repo_id)
    .bind(per_page)
    .bind(page.max(0) * per_page)
    .fetch_all(&db.pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM builds WHERE repo_id = $1")
        .bind(repo_id)
        .fetch_one(&db.pool)
        .await?;
    Ok((builds, total))
}

/// The newest build of each of these repositories (optionally on one branch).
pub async fn latest_per_repo(db: &Db, repo_ids: &[i64]) -> Result<Vec<Build>, sqlx::Error> {
    if repo_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = repo_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE id IN (SELECT MAX(id) FROM builds WHERE repo_id IN ({list}) GROUP BY repo_id)"
    ))
    .fetch_all(&db.pool)
    .await
}

/// The newest finished build of a branch, for badges.
pub async fn latest_finished_on_branch(db: &Db, repo_id: i64, branch: &str) -> Result<Option<Build>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE repo_id = $1 AND branch = $2 AND pr_number IS NULL \
         AND status NOT IN ('waiting', 'queued', 'running', 'canceled') ORDER BY id DESC LIMIT 1"
    ))
    .bind(repo_id)
    .bind(branch)
    .fetch_optional(&db.pool)
    .await
}

/// Durations (ms) of the repository's most recent successful builds.
pub async fn recent_success_durations(db: &Db, repo_id: i64, n: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT started_at, finished_at FROM builds WHERE repo_id = $1 AND status = 'success' \
         AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id DESC LIMIT $2",
    )
    .bind(repo_id)
    .bind(n)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(s, f)| f - s).collect())
}

/// A queued build, and its repository's limit, for the queue's index.
#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct QueuedBuild {
    pub build_id: i64,
    pub repo_id: i64,
    pub max_concurrent: i64,
}

/// Queued builds in order of arrival.
pub async fn queued_with_limits(db: &Db) -> Result<Vec<QueuedBuild>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id AS build_id, b.repo_id, r.max_concurrent FROM builds b JOIN repos r ON r.id = b.repo_id \
         WHERE b.status = 'queued' ORDER BY b.id",
    )
    .fetch_all(&db.pool)
    .await
}

/// Lets a build that waited for approval join the queue; `None` when it no longer waits.
pub async fn approve(db: &Db, id: i64, by: &str) -> Result<Option<Build>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let approved: Option<Build> = sqlx::query_as(&format!(
        "UPDATE builds SET status = 'queued', approved_by = $1 WHERE id = $2 AND status = 'waiting' RETURNING {COLUMNS}"
    ))
    .bind(by)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if approved.is_some() {
        statuses::record_change(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(approved)
}

/// Builds waiting for approval (their logs wait for them).
pub async fn waiting_ids(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM builds WHERE status = 'waiting' ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn running(db: &Db) -> Result<Vec<Build>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM builds WHERE status = 'running' ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
}

/// Moves a queued build to `running` and returns it; `None` when it was canceled (or claimed)
/// meanwhile.
pub async fn claim(db: &Db, id: i64) -> Result<Option<Build>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let claimed: Option<Build> = sqlx::query_as(&format!(
        "UPDATE builds SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued' RETURNING {COLUMNS}"
    ))
    .bind(now_ms())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed.is_some() {
        statuses::record_change(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// The verdict of a running build.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    pub status: BuildStatus,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub log_lines: i64,
    pub log_bytes: i64,
}

/// Records a verdict; only a running build can finish this way, so a verdict is written once,
/// and with it (in the same transaction) its commit status in the outbox.
pub async fn finish(db: &Db, id: i64, f: &Finish) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let r = sqlx::query(
        "UPDATE builds SET status = $1, exit_code = $2, error = $3, log_lines = $4, log_bytes = $5, finished_at = $6 \
         WHERE id = $7 AND status = 'running'",
    )
    .bind(f.status.as_str())
    .bind(f.exit_code)
    .bind(&f.error)
    .bind(f.log_lines)
    .bind(f.log_bytes)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let finished = r.rows_affected() == 1;
    if finished {
        statuses::record_change(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(finished)
}

/// Cancels a build that has not started (queued, or waiting for approval) and returns it;
/// `None` when it has started or ended.
pub async fn cancel_queued(db: &Db, id: i64, reason: &str) -> Result<Option<Build>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let canceled: Option<Build> = sqlx::query_as(&format!(
        "UPDATE builds SET status = 'canceled', error = $1, finished_at = $2, cancel_requested = 1 \
         WHERE id = $3 AND status IN ('queued', 'waiting') RETURNING {COLUMNS}"
    ))
    .bind(reason)
    .bind(now_ms())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if canceled.is_some() {
        statuses::record_change(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(canceled)
}

/// Notes that a running build is being canceled, so a restart does not report it otherwise.
pub async fn request_cancel(db: &Db, id: i64, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE builds SET cancel_requested = 1, error = COALESCE(error, $1) WHERE id = $2 AND status = 'running'",
    )
    .bind(reason)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Builds left `running` by a previous process end `error`; returns them for their statuses.
pub async fn fail_orphans(db: &Db, message: &str) -> Result<Vec<Build>, sqlx::Error> {
    let orphans = running(db).await?;
    for b in &orphans {
        let mut tx = db.begin_write().await?;
        let r = sqlx::query(
            "UPDATE builds SET status = 'error', error = $1, finished_at = $2 WHERE id = $3 AND status = 'running'",
        )
        .bind(message)
        .bind(now_ms())
        .bind(b.id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            statuses::record_change(&mut tx, b.id).await?;
        }
        tx.commit().await?;
    }
    Ok(orphans)
}

/// Older queued or running builds that a new build of the same branch or pull request replaces.
pub async fn superseded_by(db: &Db, newer: &Build) -> Result<Vec<Build>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM builds WHERE repo_id = $1 AND id < $2 AND commit_sha <> $3 \
         AND status IN ('waiting', 'queued', 'running') AND event = $4 AND "
    );
    match (newer.event(), newer.pr_number, &newer.branch) {
        (TriggerEvent::PullRequest, Some(pr), _) => {
            sqlx::query_as(&format!("{sql} pr_number = $5"))
                .bind(newer.repo_id)
                .bind(newer.id)
                .bind(&newer.commit_sha)
                .bind(newer.event.as_str())
                .bind(pr)
                .fetch_all(&db.pool)
                .await
        }
        (TriggerEvent::Push, None, Some(branch)) if newer.is_tag == 0 => {
            sqlx::query_as(&format!("{sql} branch = $5 AND is_tag = 0 AND pr_number IS NULL"))
                .bind(newer.repo_id)
                .bind(newer.id)
                .bind(&newer.commit_sha)
                .bind(newer.event.as_str())
                .bind(branch)
                .fetch_all(&db.pool)
                .await
        }
        _ => Ok(Vec::new()),
    }
}
