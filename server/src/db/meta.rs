//! Small facts about this installation (its instance id, for labelling Docker objects).

use super::Db;

pub async fn get(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM server_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.0))
}

/// Stores `value` unless the key already has one; returns the value that holds.
pub async fn get_or_insert(db: &Db, key: &str, value: &str) -> Result<String, sqlx::Error> {
    sqlx::query("INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&db.pool)
        .await?;
    Ok(get(db, key).await?.unwrap_or_else(|| value.to_string()))
}
