//! Repository endpoints: list, add (local mode), subscribe/unsubscribe (GitHub), trigger a
//! build, settings, caches.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sicuro_types::{BuildPage, BuildSummary, Permission, RepoKind, RepoSettings, RepoSummary};

use crate::db::builds::Created;
use crate::db::repos::{self, NewRepo};
use crate::engine::{BuildRequest, EngineError};
use crate::web::AppState;
use crate::web::access::{self, is_local_admin};
use crate::web::error::{WebError, WebResult, bad_request, forbidden};
use crate::web::extract::{Session, actor_name};
use crate::web::pages;

pub async fn list(State(state): State<AppState>, Session(s): Session) -> WebResult<Json<Vec<RepoSummary>>> {
    Ok(Json(pages::list_repos(&state, &s).await?))
}

pub async fn show(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<RepoSummary>> {
    let (repo, p) = pages::find_repo(&state, &s, &owner, &name, Permission::Read).await?;
    let last = crate::db::builds::latest_per_repo(&state.db, &[repo.id]).await?;
    Ok(Json(pages::repo_summary(&repo, p, last.first(), None)))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: i64,
}

pub async fn builds(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> WebResult<Json<BuildPage>> {
    Ok(Json(pages::builds_page(&state, &s, &owner, &name, q.page).await?))
}

#[derive(Deserialize)]
pub struct AddRepo {
    /// A git URL or an absolute path on the server.
    pub url: String,
    /// Optional `owner/name` to show it under.
    #[serde(default)]
    pub slug: Option<String>,
}

/// Adds a repository by URL or path (local mode, from this machine).
pub async fn add(
    State(state): State<AppState>,
    Session(s): Session,
    Json(req): Json<AddRepo>,
) -> WebResult<(StatusCode, Json<RepoSummary>)> {
    if !is_local_admin(&state, &s) {
        return Err(forbidden(
            "repositories are added by URL in local mode only, from the server's own machine; with GitHub settings, subscribe a GitHub repository instead",
        ));
    }
    let url = req.url.trim().to_string();
    state.engine.check_remote_url(&url)?;
    let kind = if url.starts_with('/') || url.starts_with("file://") {
        RepoKind::Local
    } else {
        RepoKind::Git
    };
    let (owner, name) = match req.slug.as_deref().map(|s| s.split_once('/')) {
        Some(Some((o, n))) if valid_segment(o) && valid_segment(n) => (o.to_string(), n.to_string()),
        Some(_) => {
            return Err(bad_request(
                "slug must look like owner/name (letters, digits, '.', '-', '_')",
            ));
        }
        None => slug_from_url(&url, kind),
    };
    let default_branch = state.engine.remote_default_branch(&url).await.map_err(|e| match e {
        EngineError::Checkout(e) => WebError::Unprocessable(format!("Sicuro cannot read that repository: {e}")),
        other => other.into(),
    })?;
    if let Some(existing) = repos::by_slug(&state.db, &owner, &name).await?
        && existing.clone_url != url
    {
        return Err(WebError::Conflict(format!(
            "{owner}/{name} already names {}; pass another \"slug\"",
            existing.clone_url
        )));
    }
    let repo = repos::upsert(
        &state.db,
        &NewRepo {
            kind,
            owner,
            name,
            clone_url: url,
            html_url: None,
            github_id: None,
            private: false,
            default_branch,
            language: None,
            watched: true,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(pages::repo_summary(&repo, Permission::Admin, None, None)),
    ))
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && s != "."
        && s != ".."
}

/// `https://host/owner/name.git` → (owner, name); a path → ("local", its last component).
fn slug_from_url(url: &str, kind: RepoKind) -> (String, String) {
    let clean = |s: &str| -> String {
        let s: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let s = s.trim_matches('.').to_string();
        if s.is_empty() { "repo".into() } else { s }
    };
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = trimmed.split(['/', ':']).filter(|p| !p.is_empty()).collect();
    let name = clean(parts.last().copied().unwrap_or("repo"));
    if kind == RepoKind::Local {
        return ("local".into(), name);
    }
    let owner = parts
        .len()
        .checked_sub(2)
        .and_then(|i| parts.get(i))
        .map_or("git".to_string(), |o| clean(o));
    (owner, name)
}

#[derive(Deserialize, Default)]
pub struct TriggerRequest {
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
}

/// "Build now": a branch's head (the default branch if none is given) or a given commit.
pub async fn trigger(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
    body: Option<Json<TriggerRequest>>,
) -> WebResult<(StatusCode, Json<BuildSummary>)> {
    let req = body.map(|b| b.0).unwrap_or_default();
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Push).await?;
    let branch = req.branch.filter(|b| !b.trim().is_empty());
    let request = match req.commit.filter(|c| !c.trim().is_empty()) {
        Some(sha) => BuildRequest::Commit { sha, branch },
        None => BuildRequest::Branch { branch },
    };
    let created = state.engine.request(repo.id, request).await?;
    let code = if matches!(created, Created::New(_)) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(repo = %repo.slug(), by = %actor_name(&s), "build requested");
    Ok((code, Json(pages::summary(&repo, created.build()))))
}

/// Subscribes a GitHub repository: needs admin rights; creates (or reuses) Sicuro's webhook.
pub async fn subscribe(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<RepoSummary>> {
    let Some(github) = state.github.clone() else {
        return Err(WebError::Conflict(
            "subscribing needs GitHub settings (SICURO_GITHUB_CLIENT_ID, …)".into(),
        ));
    };
    let user = s.user.clone().ok_or(WebError::SignInRequired)?;
    let token = access::user_token(&state, &user).ok_or(WebError::SignInRequired)?;
    let gh = github.repo(&token, &owner, &name).await?;
    let permission = gh.permission();
    state.access.put(user.id, gh.id, permission);
    if permission < Permission::Admin {
        return Err(forbidden(format!(
            "subscribing needs admin rights on {}; ask one of its admins to subscribe it",
            gh.full_name
        )));
    }
    let repo = repos::upsert_github(
        &state.db,
        &NewRepo {
            kind: RepoKind::Github,
            owner: gh.owner.login.clone(),
            name: gh.name.clone(),
            clone_url: gh.clone_url.clone(),
            html_url: Some(gh.html_url.clone()),
            github_id: Some(gh.id),
            private: gh.private,
            default_branch: gh.default_branch.clone().unwrap_or_else(|| "main".into()),
            language: gh.language.clone(),
            watched: false,
        },
    )
    .await?;
    // Watched before the hook exists: GitHub pings a new hook at once, and that ping must find
    // the repository watched to start the first build.
    let was_watched = repo.is_watched();
    repos::set_watched(&state.db, repo.id, repo.hook_id, Some(user.id)).await?;
    let (hook_id, reused) = match github.ensure_hook(&token, &repo.owner, &repo.name).await {
        Ok(h) => h,
        Err(e) => {
            if !was_watched {
                let _ = repos::set_unwatched(&state.db, repo.id).await;
            }
            return Err(WebError::BadGateway(format!("the webhook could not be created: {e}")));
        }
    };
    repos::set_watched(&state.db, repo.id, Some(hook_id), Some(user.id)).await?;
    if reused {
        // GitHub pings new hooks by itself; a reused one is pinged so the first build still comes.
        let _ = github.ping_hook(&token, &repo.owner, &repo.name, hook_id).await;
    }
    tracing::info!(repo = %repo.slug(), by = %user.login, hook = hook_id, "subscribed");
    let repo = repos::get(&state.db, repo.id).await?.unwrap_or(repo);
    let last = crate::db::builds::latest_per_repo(&state.db, &[repo.id]).await?;
    Ok(Json(pages::repo_summary(
        &repo,
        permission,
        last.first(),
        gh.description,
    )))
}

/// Unsubscribes: removes the webhook; the build history stays.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<RepoSummary>> {
    let (repo, p) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    if let (Some(github), Some(hook_id)) = (&state.github, repo.hook_id) {
        let user = s.user.clone().ok_or(WebError::SignInRequired)?;
        let token = access::user_token(&state, &user).ok_or(WebError::SignInRequired)?;
        github
            .delete_hook(&token, &repo.owner, &repo.name, hook_id)
            .await
            .map_err(|e| WebError::BadGateway(format!("the webhook could not be removed: {e}")))?;
    }
    repos::set_unwatched(&state.db, repo.id).await?;
    tracing::info!(repo = %repo.slug(), by = %actor_name(&s), "unsubscribed");
    let repo = repos::get(&state.db, repo.id).await?.unwrap_or(repo);
    let last = crate::db::builds::latest_per_repo(&state.db, &[repo.id]).await?;
    Ok(Json(pages::repo_summary(&repo, p, last.first(), None)))
}

pub async fn settings(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<RepoSettings>> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Read).await?;
    Ok(Json(repo.settings()))
}

pub async fn update_settings(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
    Json(new): Json<RepoSettings>,
) -> WebResult<Json<RepoSettings>> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    state.engine.update_settings(repo.id, &new).await?;
    let repo = repos::get(&state.db, repo.id).await?.unwrap_or(repo);
    Ok(Json(repo.settings()))
}

#[derive(serde::Serialize)]
pub struct Cleared {
    pub removed: usize,
}

pub async fn clear_caches(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<Cleared>> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Push).await?;
    let removed = state.engine.clear_caches(repo.id).await?;
    Ok(Json(Cleared { removed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_urls_and_paths() {
        assert_eq!(
            slug_from_url("https://github.com/rust-lang/bors.git", RepoKind::Git),
            ("rust-lang".into(), "bors".into())
        );
        assert_eq!(
            slug_from_url("git@host:team/app.git", RepoKind::Git),
            ("team".into(), "app".into())
        );
        assert_eq!(
            slug_from_url("/home/me/my project/", RepoKind::Local),
            ("local".into(), "my-project".into())
        );
        assert!(!valid_segment(".."));
        assert!(valid_segment("a.b-c_d"));
    }
}
