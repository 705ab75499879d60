//! The retention pass's queries: which finished builds a repository no longer keeps, and
//! removing them (their statuses, test reports and secret-use records go with them).

use super::Db;

/// Up to `limit` finished builds of the repository, oldest first, that are beyond its newest
/// `keep` or older than `before_ms` — never one that is active, and never the newest build of
/// a branch or pull request (its badge and its page stay; a tag's build ages like the rest).
pub async fn prunable_builds(
    db: &Db,
    repo_id: i64,
    keep: u64,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    // The id of the `keep`-th newest build: anything older is beyond the count.
    let threshold: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM builds WHERE repo_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2")
            .bind(repo_id)
            .bind(keep.saturating_sub(1) as i64)
            .fetch_optional(&db.pool)
            .await?;
    let threshold = threshold.map_or(i64::MIN, |t| t.0);
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM builds WHERE repo_id = $1 AND status NOT IN ('waiting', 'queued', 'running') \
         AND (id < $2 OR created_at < $3) \
         AND id NOT IN (SELECT MAX(id) FROM builds WHERE repo_id = $1 AND is_tag = 0 GROUP BY branch, pr_number) \
         ORDER BY id LIMIT $4",
    )
    .bind(repo_id)
    .bind(threshold)
    .bind(before_ms)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Removes these builds (and, by cascade, what belongs to them) in one transaction.
pub async fn delete_builds(db: &Db, ids: &[i64]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut tx = db.begin_write().await?;
    let r = sqlx::query(&format!(
        "DELETE FROM builds WHERE id IN ({list}) AND status NOT IN ('waiting', 'queued', 'running')"
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(r.rows_affected())
}

/// Whether the repository has an active build of a fork's code (whose commit the mirror's
/// fork refs must keep).
pub async fn has_active_fork_build(db: &Db, repo_id: i64) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM builds WHERE repo_id = $1 AND from_fork = 1 AND status IN ('waiting', 'queued', 'running')",
    )
    .bind(repo_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// How many rows the retention pass bounds: builds, deliveries, sessions.
pub async fn counts(db: &Db) -> Result<(i64, i64, i64), sqlx::Error> {
    let one = |sql: &'static str| async move {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&db.pool).await?;
        Ok::<i64, sqlx::Error>(n)
    };
    Ok((
        one("SELECT COUNT(*) FROM builds").await?,
        one("SELECT COUNT(*) FROM webhook_deliveries").await?,
        one("SELECT COUNT(*) FROM sessions").await?,
    ))
}
