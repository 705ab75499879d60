//! When each dependency cache was last mounted by a job: the order in which the retention pass
//! removes caches once their total outgrows `SICURO_CACHE_LIMIT`.

use std::collections::HashMap;

use super::Db;

/// A job of the repository mounts the cache `name` now.
pub async fn used(db: &Db, repo_id: i64, name: &str, at_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cache_uses (repo_id, name, last_used_at) VALUES ($1, $2, $3) \
         ON CONFLICT (repo_id, name) DO UPDATE SET last_used_at = excluded.last_used_at",
    )
    .bind(repo_id)
    .bind(name)
    .bind(at_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Every cache's last use, by (repository, name).
pub async fn last_uses(db: &Db) -> Result<HashMap<(i64, String), i64>, sqlx::Error> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as("SELECT repo_id, name, last_used_at FROM cache_uses")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|(r, n, at)| ((r, n), at)).collect())
}

/// The cache is gone: its use is no longer remembered.
pub async fn forget(db: &Db, repo_id: i64, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cache_uses WHERE repo_id = $1 AND name = $2")
        .bind(repo_id)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(())
}
