//! Webhook deliveries already seen, so a redelivery (same `X-GitHub-Delivery`) does nothing new.

use super::{Db, now_ms};

/// Whether a delivery is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    /// The same delivery id again (GitHub's "Redeliver").
    Redelivery,
    /// The same body (by its digest) under another delivery id: a replay.
    Replay,
}

/// Records the delivery and its body's digest, and says whether either was seen before.
pub async fn record_first(db: &Db, delivery_id: &str, event: &str, digest: &str) -> Result<Seen, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO webhook_deliveries (delivery_id, event, received_at, body_digest) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(delivery_id)
    .bind(event)
    .bind(now_ms())
    .bind(digest)
    .execute(&db.pool)
    .await?;
    if r.rows_affected() == 1 {
        return Ok(Seen::First);
    }
    let same_id: Option<(String,)> =
        sqlx::query_as("SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(if same_id.is_some() {
        Seen::Redelivery
    } else {
        Seen::Replay
    })
}

/// Forgets deliveries older than GitHub's redelivery window (30 days is generous).
pub async fn prune(db: &Db, older_than_ms: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < $1")
        .bind(now_ms() - older_than_ms)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected())
}

/// Forgets one delivery, so that GitHub's "Redeliver" can try it again (its handling failed).
pub async fn forget(db: &Db, delivery_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE delivery_id = $1")
        .bind(delivery_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
