//! The outbox of commit statuses: a row per change of a GitHub repository's build, written in
//! the transaction of the change itself (`db::builds`) and drained by the GitHub status poster,
//! so a status survives GitHub outages, restarts and a crash at any point.

use sqlx::FromRow;

use super::{Db, now_ms};

#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct PendingStatus {
    pub id: i64,
    pub build_id: i64,
    /// The build's status when it changed (`queued`, `running`, a verdict); the poster words
    /// the commit status from it when it posts.
    pub build_status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// Queues the commit status of a build's change, in the transaction that makes the change:
/// nothing can end between the two, so no crash loses a status. Only a GitHub repository's
/// builds have commit statuses.
pub async fn record_change(conn: &mut sqlx::AnyConnection, build_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO status_outbox (build_id, state, description, build_status, next_attempt_at, created_at) \
         SELECT b.id, '', '', b.status, $2, $2 FROM builds b JOIN repos r ON r.id = b.repo_id \
         WHERE b.id = $1 AND r.kind = 'github'",
    )
    .bind(build_id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Statuses due now, oldest first.
pub async fn due(db: &Db, limit: i64) -> Result<Vec<PendingStatus>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, build_id, COALESCE(build_status, '') AS build_status, attempts, next_attempt_at, last_error, created_at FROM status_outbox \
         WHERE next_attempt_at <= $1 ORDER BY id LIMIT $2",
    )
    .bind(now_ms())
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// When the next status falls due, if any is waiting.
pub async fn next_due_at(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    let row: (Option<i64>,) = sqlx::query_as("SELECT MIN(next_attempt_at) FROM status_outbox")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.0)
}

/// Earlier statuses of the same build that are still waiting (they are superseded by `id`).
pub async fn older_of_build(db: &Db, build_id: i64, id: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM status_outbox WHERE build_id = $1 AND id < $2")
        .bind(build_id)
        .bind(id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM status_outbox WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn retry_later(db: &Db, id: i64, at_ms: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE status_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
    )
    .bind(at_ms)
    .bind(error)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
