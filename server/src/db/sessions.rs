//! Browser sessions of signed-in users. The cookie carries a random id; only its hash is stored,
//! so a copy of the database cannot be used to sign in.

use super::{Db, now_ms};

pub async fn create(db: &Db, id_hash: &str, user_id: i64, ttl_ms: i64) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query("INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The user of a live session.
pub async fn user_id(db: &Db, id_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM sessions WHERE id_hash = $1 AND expires_at > $2")
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.0))
}

pub async fn delete(db: &Db, id_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn delete_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected())
}
