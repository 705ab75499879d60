//! Repositories Sicuro knows: GitHub ones (watched or not), git URLs and local paths.

use sicuro_types::{RepoKind, RepoSettings};
use sqlx::FromRow;

use super::{Db, flag, now_ms};

#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct Repo {
    pub id: i64,
    pub kind: String,
    pub owner: String,
    pub name: String,
    pub clone_url: String,
    pub html_url: Option<String>,
    pub github_id: Option<i64>,
    pub private: i64,
    pub default_branch: String,
    pub language: Option<String>,
    pub watched: i64,
    pub hook_id: Option<i64>,
    pub subscriber_id: Option<i64>,
    pub token_problem: Option<String>,
    pub build_counter: i64,
    pub max_concurrent: i64,
    pub supersede: i64,
    pub timeout_secs: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub created_at: i64,
}

impl Repo {
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn kind(&self) -> RepoKind {
        RepoKind::parse(&self.kind)
    }

    pub fn is_private(&self) -> bool {
        self.private != 0
    }

    pub fn is_watched(&self) -> bool {
        self.watched != 0
    }

    pub fn settings(&self) -> RepoSettings {
        RepoSettings {
            max_concurrent: self.max_concurrent,
            supersede: self.supersede != 0,
            timeout_secs: self.timeout_secs,
            memory_bytes: self.memory_bytes,
            cpus: self.cpus,
            pids: self.pids,
        }
    }
}

/// What is needed to create a repository row.
#[derive(Clone, Debug)]
pub struct NewRepo {
    pub kind: RepoKind,
    pub owner: String,
    pub name: String,
    pub clone_url: String,
    pub html_url: Option<String>,
    pub github_id: Option<i64>,
    pub private: bool,
    pub default_branch: String,
    pub language: Option<String>,
    pub watched: bool,
}

const COLUMNS: &str = "id, kind, owner, name, clone_url, html_url, github_id, private, default_branch, \
    language, watched, hook_id, subscriber_id, token_problem, build_counter, max_concurrent, supersede, \
    timeout_secs, memory_bytes, cpus, pids, created_at";

/// Inserts the repository, or refreshes the GitHub facts of the existing row with the same slug.
pub async fn upsert(db: &Db, r: &NewRepo) -> Result<Repo, sqlx::Error> {
    let sql = format!(
        "INSERT INTO repos (kind, owner, name, clone_url, html_url, github_id, private, default_branch, language, watched, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (owner, name) DO UPDATE SET clone_url = excluded.clone_url, html_url = excluded.html_url, \
           github_id = excluded.github_id, private = excluded.private, default_branch = excluded.default_branch, \
           language = COALESCE(excluded.language, repos.language) \
         RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(r.kind.as_str())
        .bind(&r.owner)
        .bind(&r.name)
        .bind(&r.clone_url)
        .bind(&r.html_url)
        .bind(r.github_id)
        .bind(flag(r.private))
        .bind(&r.default_branch)
        .bind(&r.language)
        .bind(flag(r.watched))
        .bind(now_ms())
        .fetch_one(&db.pool)
        .await
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Repo>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM repos WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn by_slug(db: &Db, owner: &str, name: &str) -> Result<Option<Repo>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM repos WHERE owner = $1 AND name = $2"))
        .bind(owner)
        .bind(name)
        .fetch_optional(&db.pool)
        .await
}

pub async fn by_github_id(db: &Db, github_id: i64) -> Result<Option<Repo>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM repos WHERE github_id = $1"))
        .bind(github_id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn list(db: &Db) -> Result<Vec<Repo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM repos ORDER BY watched DESC, owner, name"
    ))
    .fetch_all(&db.pool)
    .await
}

/// GitHub repositories among `github_ids` that Sicuro knows, for the dashboard.
pub async fn by_github_ids(db: &Db, github_ids: &[i64]) -> Result<Vec<Repo>, sqlx::Error> {
    if github_ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids come from GitHub as integers, so inlining them is safe and portable.
    let list = github_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM repos WHERE github_id IN ({list})"))
        .fetch_all(&db.pool)
        .await
}

/// Records a subscription: the webhook id and whose token builds use.
pub async fn set_watched(
    db: &Db,
    id: i64,
    hook_id: Option<i64>,
    subscriber_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET watched = 1, hook_id = $1, subscriber_id = $2, token_problem = NULL WHERE id = $3")
        .bind(hook_id)
        .bind(subscriber_id)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Ends a subscription; the history stays.
pub async fn set_unwatched(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET watched = 0, hook_id = NULL WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn set_token_problem(db: &Db, id: i64, problem: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET token_problem = $1 WHERE id = $2")
        .bind(problem)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Marks every repository whose builds use this user's token as needing a new sign-in.
pub async fn flag_token_problem_for_subscriber(db: &Db, user_id: i64, problem: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET token_problem = $1 WHERE subscriber_id = $2")
        .bind(problem)
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// After a sign-in, the user's token works again for the repositories they subscribed.
pub async fn clear_token_problem_for_subscriber(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET token_problem = NULL WHERE subscriber_id = $1")
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn set_language(db: &Db, id: i64, language: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET language = $1 WHERE id = $2 AND language IS NULL")
        .bind(language)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn update_settings(db: &Db, id: i64, s: &RepoSettings) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE repos SET max_concurrent = $1, supersede = $2, timeout_secs = $3, memory_bytes = $4, cpus = $5, pids = $6 \
         WHERE id = $7",
    )
    .bind(s.max_concurrent)
    .bind(flag(s.supersede))
    .bind(s.timeout_secs)
    .bind(s.memory_bytes)
    .bind(s.cpus)
    .bind(s.pids)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
