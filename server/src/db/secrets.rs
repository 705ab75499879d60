//! Repository secrets (sealed values; see `crypto::SecretBox`), their audit trail, and which
//! secrets each build received. Values are stored sealed only; no function here returns them
//! but `sealed_for_repo`, for the engine to open when a build starts.

use sqlx::FromRow;

use super::{Db, flag, now_ms};

/// A secret without its value.
#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct SecretRow {
    pub name: String,
    pub forks: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A secret as the engine reads it at the start of a build.
#[derive(Clone, FromRow)]
pub struct SealedSecret {
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub forks: i64,
}

#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct SecretEvent {
    pub name: String,
    pub action: String,
    pub forks: Option<i64>,
    pub actor: String,
    pub at: i64,
}

/// Sets a secret's (sealed) value and records the change; true when it is new.
pub async fn put(
    db: &Db,
    repo_id: i64,
    name: &str,
    ciphertext: &[u8],
    forks: bool,
    actor: &str,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let existing: Option<(String,)> = sqlx::query_as("SELECT name FROM repo_secrets WHERE repo_id = $1 AND name = $2")
        .bind(repo_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO repo_secrets (repo_id, name, ciphertext, forks, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (repo_id, name) DO UPDATE SET ciphertext = $3, forks = $4, updated_by = $5, updated_at = $6",
    )
    .bind(repo_id)
    .bind(name)
    .bind(ciphertext)
    .bind(flag(forks))
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let created = existing.is_none();
    record(
        &mut tx,
        repo_id,
        name,
        if created { "created" } else { "updated" },
        Some(forks),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Deletes a secret and records it; false when there was none.
pub async fn delete(db: &Db, repo_id: i64, name: &str, actor: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let r = sqlx::query("DELETE FROM repo_secrets WHERE repo_id = $1 AND name = $2")
        .bind(repo_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let deleted = r.rows_affected() == 1;
    if deleted {
        record(&mut tx, repo_id, name, "deleted", None, actor, now_ms()).await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

async fn record(
    conn: &mut sqlx::AnyConnection,
    repo_id: i64,
    name: &str,
    action: &str,
    forks: Option<bool>,
    actor: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO secret_events (repo_id, name, action, forks, actor, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(repo_id)
        .bind(name)
        .bind(action)
        .bind(forks.map(flag))
        .bind(actor)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The repository's secrets by name, without values.
pub async fn list(db: &Db, repo_id: i64) -> Result<Vec<SecretRow>, sqlx::Error> {
    sqlx::query_as("SELECT name, forks, updated_by, updated_at FROM repo_secrets WHERE repo_id = $1 ORDER BY name")
        .bind(repo_id)
        .fetch_all(&db.pool)
        .await
}

/// Every secret of the repository, sealed, for a build about to start.
pub async fn sealed_for_repo(db: &Db, repo_id: i64) -> Result<Vec<SealedSecret>, sqlx::Error> {
    sqlx::query_as("SELECT name, ciphertext, forks FROM repo_secrets WHERE repo_id = $1 ORDER BY name")
        .bind(repo_id)
        .fetch_all(&db.pool)
        .await
}

/// The newest `limit` changes, newest first.
pub async fn events(db: &Db, repo_id: i64, limit: i64) -> Result<Vec<SecretEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, action, forks, actor, at FROM secret_events WHERE repo_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(repo_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Notes which secrets (names) a build was given.
pub async fn record_given(db: &Db, build_id: i64, names: &[String]) -> Result<(), sqlx::Error> {
    for name in names {
        sqlx::query("INSERT INTO build_secrets (build_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(build_id)
            .bind(name)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// The names of the secrets a build was given.
pub async fn given(db: &Db, build_id: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM build_secrets WHERE build_id = $1 ORDER BY name")
        .bind(build_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}
