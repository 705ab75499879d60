//! Reads for pages and the JSON API: rows from the database and GitHub turned into the shared
//! API types, filtered by what the viewer may see.

use std::collections::HashMap;

use app::page_data::{PageData, PageError, Parts};
use sicuro_types::{
    BuildDetail, BuildPage, BuildStatus, BuildSummary, Permission, RepoKind, RepoSummary, ServerInfo, SettingsPage,
    Viewer,
};

use super::AppState;
use super::access::{self, is_local_admin};
use super::error::{WebError, WebResult as Result, forbidden, not_found};
use super::extract::session_of;
use super::session::RequestSession;
use crate::db::builds::{self, Build};
use crate::db::repos::{self, Repo};
use crate::github::GhError;

pub fn viewer(state: &AppState, session: &RequestSession) -> Viewer {
    Viewer {
        login: session.user.as_ref().map(|u| u.login.clone()),
        avatar_url: session.user.as_ref().and_then(|u| u.avatar_url.clone()),
        local_mode: state.config.local_mode(),
        csrf_token: state.keys.csrf_token(&session.id),
    }
}

pub async fn server_info(state: &AppState) -> ServerInfo {
    ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        docker: state.engine.executor().health().await,
        database: state.db.kind_name().to_string(),
        github_configured: state.github.is_some(),
        features_needing_github: state
            .config
            .features_needing_github()
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

pub fn summary(repo: &Repo, b: &Build) -> BuildSummary {
    BuildSummary {
        id: b.id,
        repo: repo.slug(),
        number: b.number,
        status: b.status(),
        event: b.event(),
        branch: b.branch.clone(),
        is_tag: b.is_tag != 0,
        pr_number: b.pr_number,
        commit_sha: b.commit_sha.clone(),
        commit_url: repo
            .html_url
            .as_ref()
            .map(|u| format!("{}/commit/{}", u.trim_end_matches('/'), b.commit_sha)),
        author: b.author.clone(),
        title: b.message.as_deref().and_then(|m| m.lines().next()).map(str::to_string),
        created_at: b.created_at,
        started_at: b.started_at,
        finished_at: b.finished_at,
    }
}

pub fn repo_summary(
    repo: &Repo,
    permission: Permission,
    last: Option<&Build>,
    description: Option<String>,
) -> RepoSummary {
    RepoSummary {
        id: Some(repo.id),
        slug: repo.slug(),
        kind: repo.kind(),
        private: repo.is_private(),
        description,
        default_branch: repo.default_branch.clone(),
        watched: repo.is_watched(),
        permission,
        last_build: last.map(|b| summary(repo, b)),
        token_problem: repo.token_problem.clone(),
    }
}

/// The dashboard's list: the signed-in user's GitHub repositories (watched first), or the
/// repositories Sicuro knows that this viewer may see.
pub async fn list_repos(state: &AppState, session: &RequestSession) -> Result<Vec<RepoSummary>> {
    if let (Some(user), Some(github)) = (&session.user, &state.github)
        && let Some(token) = access::user_token(state, user)
    {
        let gh_repos = match github.user_repos(&token).await {
            Ok(r) => r,
            Err(GhError::Unauthorized) => {
                let _ = crate::db::users::mark_token_revoked(&state.db, user.id).await;
                return Err(WebError::SignInRequired);
            }
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<i64> = gh_repos.iter().map(|r| r.id).collect();
        let mut known: HashMap<i64, Repo> = repos::by_github_ids(&state.db, &ids)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.github_id?, r)))
            .collect();
        // GitHub's answer is news about renames and visibility: take it in.
        for g in &gh_repos {
            if let Some(repo) = known.get(&g.id)
                && (repo.is_private() != g.private || repo.owner != g.owner.login || repo.name != g.name)
            {
                access::follow(state, g.id, g).await;
                if let Some(now) = repos::by_github_id(&state.db, g.id).await? {
                    known.insert(g.id, now);
                }
            }
        }
        let latest = latest_builds(state, known.values().map(|r| r.id).collect()).await?;
        let mut out: Vec<RepoSummary> = gh_repos
            .into_iter()
            .map(|g| {
                let permission = g.permission();
                state.access.put(user.id, g.id, permission);
                match known.get(&g.id) {
                    Some(repo) => repo_summary(repo, permission, latest.get(&repo.id), g.description.clone()),
                    None => RepoSummary {
                        id: None,
                        slug: g.full_name.clone(),
                        kind: RepoKind::Github,
                        private: g.private,
                        description: g.description.clone(),
                        default_branch: g.default_branch.clone().unwrap_or_else(|| "main".into()),
                        watched: false,
                        permission,
                        last_build: None,
                        token_problem: None,
                    },
                }
            })
            .collect();
        if access::is_server_admin(state, session) {
            // Server admins see every repository Sicuro watches, theirs or not.
            for repo in repos::list(&state.db).await? {
                if repo.is_watched() && !out.iter().any(|r| r.id == Some(repo.id)) {
                    let last = builds::latest_per_repo(&state.db, &[repo.id]).await?;
                    out.push(repo_summary(&repo, Permission::Admin, last.first(), None));
                }
            }
        }
        out.sort_by_key(|r| !r.watched);
        return Ok(out);
    }
    let all = repos::list(&state.db).await?;
    let mut visible = Vec::new();
    for repo in all {
        let p = access::permission(state, session, &repo).await;
        if p >= Permission::Read && (repo.is_watched() || is_local_admin(state, session)) {
            visible.push((repo, p));
        }
    }
    let latest = latest_builds(state, visible.iter().map(|(r, _)| r.id).collect()).await?;
    Ok(visible
        .iter()
        .map(|(r, p)| repo_summary(r, *p, latest.get(&r.id), None))
        .collect())
}

async fn latest_builds(state: &AppState, repo_ids: Vec<i64>) -> Result<HashMap<i64, Build>> {
    Ok(builds::latest_per_repo(&state.db, &repo_ids)
        .await?
        .into_iter()
        .map(|b| (b.repo_id, b))
        .collect())
}

/// A repository the viewer may see at least with `need`; hidden ones are "not found".
pub async fn find_repo(
    state: &AppState,
    session: &RequestSession,
    owner: &str,
    name: &str,
    need: Permission,
) -> Result<(Repo, Permission)> {
    let repo = repos::by_slug(&state.db, owner, name)
        .await?
        .ok_or_else(|| not_found(format!("repository {owner}/{name}")))?;
    check(state, session, repo, need).await
}

pub async fn check(
    state: &AppState,
    session: &RequestSession,
    repo: Repo,
    need: Permission,
) -> Result<(Repo, Permission)> {
    let p = access::permission(state, session, &repo).await;
    if p < Permission::Read {
        // The same answer as for a repository that does not exist: a stranger learns nothing.
        return Err(not_found(format!("repository {}", repo.slug())));
    }
    if p < need && session.user.is_none() {
        // Signing in may be all it takes.
        return Err(WebError::SignInRequired);
    }
    if p < need {
        let what = match need {
            Permission::Admin => "admin rights on the repository are needed",
            _ => "push access to the repository is needed",
        };
        return Err(forbidden(what));
    }
    Ok((repo, p))
}

/// A build by id, with the viewer's permission on its repository.
pub async fn find_build(
    state: &AppState,
    session: &RequestSession,
    build_id: i64,
    need: Permission,
) -> Result<(Repo, Build, Permission)> {
    let build = builds::get(&state.db, build_id)
        .await?
        .ok_or_else(|| not_found(format!("build {build_id}")))?;
    let repo = repos::get(&state.db, build.repo_id)
        .await?
        .ok_or_else(|| not_found(format!("build {build_id}")))?;
    let (repo, p) = check(state, session, repo, need).await?;
    Ok((repo, build, p))
}

pub const PER_PAGE: i64 = 25;

pub async fn builds_page(
    state: &AppState,
    session: &RequestSession,
    owner: &str,
    name: &str,
    page: i64,
) -> Result<BuildPage> {
    let (repo, p) = find_repo(state, session, owner, name, Permission::Read).await?;
    let (rows, total) = builds::page(&state.db, repo.id, page.max(0), PER_PAGE).await?;
    let last = rows.first().cloned();
    Ok(BuildPage {
        builds: rows.iter().map(|b| summary(&repo, b)).collect(),
        repo: repo_summary(&repo, p, last.as_ref(), None),
        page: page.max(0),
        per_page: PER_PAGE,
        total,
        can_build: p >= Permission::Push,
    })
}

pub async fn build_detail(state: &AppState, repo: &Repo, b: &Build, p: Permission) -> Result<BuildDetail> {
    let recent = builds::recent_success_durations(&state.db, repo.id, 5).await?;
    let estimate_ms = (!recent.is_empty()).then(|| recent.iter().sum::<i64>() / recent.len() as i64);
    let status = b.status();
    Ok(BuildDetail {
        summary: summary(repo, b),
        message: b.message.clone(),
        exit_code: b.exit_code,
        // A queued build that cannot start says why (the executor is unavailable, or a limit).
        error: b.error.clone().or_else(|| {
            (status == sicuro_types::BuildStatus::Queued)
                .then(|| state.engine.queued_reason(repo.id, b.id))
                .flatten()
        }),
        estimate_ms,
        log_lines: b.log_lines,
        can_cancel: p >= Permission::Push && !status.is_finished(),
        can_rebuild: p >= Permission::Push && status.is_finished(),
        can_approve: p >= Permission::Push && status == BuildStatus::Waiting,
        approved_by: b.approved_by.clone(),
        rebuild_of: b.rebuild_of,
        secrets: crate::db::secrets::given(&state.db, b.id).await?,
    })
}

pub async fn build_by_number(
    state: &AppState,
    session: &RequestSession,
    owner: &str,
    name: &str,
    number: i64,
) -> Result<BuildDetail> {
    let (repo, p) = find_repo(state, session, owner, name, Permission::Read).await?;
    let b = builds::by_number(&state.db, repo.id, number)
        .await?
        .ok_or_else(|| not_found(format!("build #{number} of {owner}/{name}")))?;
    build_detail(state, &repo, &b, p).await
}

/// The settings page: anyone who may read the repository sees its settings; admins may change
/// them and see its secrets (names, never values) and their audit trail.
pub async fn settings_page(
    state: &AppState,
    session: &RequestSession,
    owner: &str,
    name: &str,
) -> Result<SettingsPage> {
    let (repo, p) = find_repo(state, session, owner, name, Permission::Read).await?;
    let can_edit = p >= Permission::Admin;
    let (secrets, audit) = if can_edit {
        let secrets = state.engine.secrets(repo.id).await?;
        let audit = state
            .engine
            .secret_events(repo.id, super::api::secrets::AUDIT_LIMIT)
            .await?;
        (
            secrets.into_iter().map(super::api::secrets::info).collect(),
            audit.into_iter().map(super::api::secrets::change).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let last = builds::latest_per_repo(&state.db, &[repo.id]).await?;
    Ok(SettingsPage {
        repo: repo_summary(&repo, p, last.first(), None),
        settings: repo.settings(),
        can_edit,
        secrets,
        audit,
        schedule_error: repo.schedule_error.clone(),
    })
}

/// The server side of the pages' `#[server]` functions; errors become the pages' here.
pub struct PageSource(pub AppState);

#[async_trait::async_trait]
impl PageData for PageSource {
    async fn server_info(&self) -> ServerInfo {
        server_info(&self.0).await
    }

    async fn viewer(&self, req: &Parts) -> Viewer {
        viewer(&self.0, &session_of(req))
    }

    async fn repos(&self, req: &Parts) -> std::result::Result<Vec<RepoSummary>, PageError> {
        Ok(list_repos(&self.0, &session_of(req)).await?)
    }

    async fn builds(
        &self,
        req: &Parts,
        owner: &str,
        name: &str,
        page: i64,
    ) -> std::result::Result<BuildPage, PageError> {
        Ok(builds_page(&self.0, &session_of(req), owner, name, page).await?)
    }

    async fn build(
        &self,
        req: &Parts,
        owner: &str,
        name: &str,
        number: i64,
    ) -> std::result::Result<BuildDetail, PageError> {
        Ok(build_by_number(&self.0, &session_of(req), owner, name, number).await?)
    }

    async fn settings(&self, req: &Parts, owner: &str, name: &str) -> std::result::Result<SettingsPage, PageError> {
        Ok(settings_page(&self.0, &session_of(req), owner, name).await?)
    }
}
