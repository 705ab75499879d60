//! Repositories Sicuro knows: GitHub ones (watched or not), git URLs and local paths.

use sicuro_types::{ForkPolicy, RepoKind, RepoSettings};
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
    pub fork_policy: String,
    pub schedule: Option<String>,
    pub schedule_branch: Option<String>,
    /// When the schedule last fired or was set (ms).
    pub scheduled_at: Option<i64>,
    /// Why the last scheduled build could not start; `None` when it started.
    pub schedule_error: Option<String>,
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
            fork_policy: self.fork_policy(),
            schedule: self.schedule.clone(),
            schedule_branch: self.schedule_branch.clone(),
        }
    }

    pub fn fork_policy(&self) -> ForkPolicy {
        ForkPolicy::parse(&self.fork_policy)
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
    timeout_secs, memory_bytes, cpus, pids, created_at, fork_policy, schedule, schedule_branch, scheduled_at, schedule_error";

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

/// Inserts or refreshes a GitHub repository by its GitHub id — the identity that survives
/// renames and transfers. A row that holds the same name but is another repository (the name
/// was freed by a rename and taken again) is moved aside first, so the newcomer inherits none of
/// its history, logs, mirror, caches or settings.
pub async fn upsert_github(db: &Db, r: &NewRepo) -> Result<Repo, sqlx::Error> {
    let github_id = r.github_id.expect("a GitHub repository has a GitHub id");
    let mut tx = db.begin_write().await?;
    move_aside(&mut tx, &r.owner, &r.name, github_id).await?;
    let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM repos WHERE github_id = $1")
        .bind(github_id)
        .fetch_optional(&mut *tx)
        .await?;
    let repo = match existing {
        Some((id,)) => {
            sqlx::query_as(&format!(
                "UPDATE repos SET owner = $1, name = $2, clone_url = $3, html_url = $4, private = $5, \
                 default_branch = $6, language = COALESCE($7, language) WHERE id = $8 RETURNING {COLUMNS}"
            ))
            .bind(&r.owner)
            .bind(&r.name)
            .bind(&r.clone_url)
            .bind(&r.html_url)
            .bind(flag(r.private))
            .bind(&r.default_branch)
            .bind(&r.language)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
        }
        None => insert(&mut tx, r).await?,
    };
    tx.commit().await?;
    Ok(repo)
}

/// Follows what GitHub says of a repository Sicuro knows (a webhook payload, a permission
/// answer): its current name and visibility. Returns the row as it is now.
pub async fn follow_github(db: &Db, seen: &GithubFacts<'_>) -> Result<Option<Repo>, sqlx::Error> {
    let Some(row) = by_github_id(db, seen.github_id).await? else {
        return Ok(None);
    };
    let renamed = row.owner != seen.owner || row.name != seen.name;
    if !renamed && row.is_private() == seen.private {
        return Ok(Some(row));
    }
    let mut tx = db.begin_write().await?;
    if renamed {
        move_aside(&mut tx, seen.owner, seen.name, seen.github_id).await?;
        tracing::info!(from = %row.slug(), to = %format!("{}/{}", seen.owner, seen.name), "repository renamed on GitHub");
    }
    let clone_url = seen.clone_url.unwrap_or(&row.clone_url);
    let html_url = seen.html_url.or(row.html_url.as_deref());
    let repo = sqlx::query_as(&format!(
        "UPDATE repos SET owner = $1, name = $2, private = $3, clone_url = $4, html_url = $5 WHERE id = $6 \
         RETURNING {COLUMNS}"
    ))
    .bind(seen.owner)
    .bind(seen.name)
    .bind(flag(seen.private))
    .bind(clone_url)
    .bind(html_url)
    .bind(row.id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(repo))
}

/// What GitHub says a repository is called and who may see it.
pub struct GithubFacts<'a> {
    pub github_id: i64,
    pub owner: &'a str,
    pub name: &'a str,
    pub private: bool,
    pub clone_url: Option<&'a str>,
    pub html_url: Option<&'a str>,
}

/// Renames a row that holds `owner/name` but is not GitHub repository `github_id` to
/// `name~<row id>`, freeing the name.
async fn move_aside(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner: &str,
    name: &str,
    github_id: i64,
) -> Result<(), sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE repos SET name = name || '~' || CAST(id AS TEXT) \
         WHERE owner = $1 AND name = $2 AND (github_id IS NULL OR github_id <> $3)",
    )
    .bind(owner)
    .bind(name)
    .bind(github_id)
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() > 0 {
        tracing::warn!(repo = %format!("{owner}/{name}"), "another repository now has this name; the old one's history was moved aside");
    }
    Ok(())
}

async fn insert(tx: &mut sqlx::Transaction<'static, sqlx::Any>, r: &NewRepo) -> Result<Repo, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO repos (kind, owner, name, clone_url, html_url, github_id, private, default_branch, language, watched, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
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
    .fetch_one(&mut **tx)
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
        "UPDATE repos SET max_concurrent = $1, supersede = $2, timeout_secs = $3, memory_bytes = $4, cpus = $5, pids = $6, \
         fork_policy = $7, schedule = $9, schedule_branch = $10, schedule_error = NULL WHERE id = $8",
    )
    .bind(s.max_concurrent)
    .bind(flag(s.supersede))
    .bind(s.timeout_secs)
    .bind(s.memory_bytes)
    .bind(s.cpus)
    .bind(s.pids)
    .bind(s.fork_policy.as_str())
    .bind(id)
    .bind(s.schedule.as_deref())
    .bind(s.schedule_branch.as_deref())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The watched repositories that have a schedule.
pub async fn scheduled(db: &Db) -> Result<Vec<Repo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM repos WHERE schedule IS NOT NULL AND watched = 1 ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
}

/// Records why the repository's scheduled build could not start (`None`: it started).
pub async fn set_schedule_error(db: &Db, id: i64, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE repos SET schedule_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The schedule fired, or was set, at `at` (ms): its next occurrence is found from then on.
/// `previous` is the time the caller read; `false` when another pass moved it first.
pub async fn mark_scheduled(db: &Db, id: i64, previous: Option<i64>, at: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE repos SET scheduled_at = $1 WHERE id = $2 AND COALESCE(scheduled_at, 0) = $3")
        .bind(at)
        .bind(id)
        .bind(previous.unwrap_or(0))
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() == 1)
}
