//! People who signed in with GitHub, and their (encrypted) tokens.

use sqlx::FromRow;

use super::{Db, now_ms};

#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct User {
    pub id: i64,
    pub github_id: i64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    /// The OAuth token, sealed with the server's key (see `crypto`).
    pub token_ciphertext: Option<Vec<u8>>,
    pub token_scopes: Option<String>,
    pub token_revoked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organisations they belonged to at the last access check (comma-separated).
    pub orgs: Option<String>,
    pub access_checked_at: Option<i64>,
}

impl User {
    pub fn org_list(&self) -> Vec<String> {
        self.orgs
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect()
    }
}

const COLUMNS: &str = "id, github_id, login, name, avatar_url, token_ciphertext, token_scopes, token_revoked_at, \
    created_at, updated_at, orgs, access_checked_at";

/// Creates or refreshes the user after a successful sign-in, with their new token.
pub async fn upsert_signed_in(
    db: &Db,
    github_id: i64,
    login: &str,
    name: Option<&str>,
    avatar_url: Option<&str>,
    token_ciphertext: &[u8],
    scopes: &str,
) -> Result<User, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(&format!(
        "INSERT INTO users (github_id, login, name, avatar_url, token_ciphertext, token_scopes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (github_id) DO UPDATE SET login = excluded.login, name = excluded.name, \
           avatar_url = excluded.avatar_url, token_ciphertext = excluded.token_ciphertext, \
           token_scopes = excluded.token_scopes, token_revoked_at = NULL, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    ))
    .bind(github_id)
    .bind(login)
    .bind(name)
    .bind(avatar_url)
    .bind(token_ciphertext)
    .bind(scopes)
    .bind(now)
    .fetch_one(&db.pool)
    .await
}

pub async fn get(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

/// GitHub answered 401 to this user's token: keep the row, forget that the token works.
pub async fn mark_token_revoked(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET token_revoked_at = $1 WHERE id = $2 AND token_revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records who a user was found to be at an access check: their organisations, now.
pub async fn record_access_check(db: &Db, id: i64, orgs: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET orgs = $1, access_checked_at = $2 WHERE id = $3")
        .bind(orgs.join(","))
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
