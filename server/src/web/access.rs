//! Who may do what. Private repositories' builds and logs are visible only to signed-in users
//! who can read them on GitHub; public ones to everybody; rebuild and cancel need push
//! permission, subscribe and unsubscribe need admin. Server admins (`SICURO_ADMINS`) may do
//! everything. GitHub is asked by the repository's id, so a name freed by a rename and taken by
//! another repository gives nobody the old one's builds; its answers also say whether the
//! repository became private (at once) or was renamed. Answers are cached briefly. In local mode
//! (no GitHub settings) people at this machine may do everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sicuro_types::{Permission, RepoKind};

use super::AppState;
use super::session::RequestSession;
use crate::db::repos::{self, Repo};
use crate::github::GhError;
use crate::github::types::GhRepo;

const TTL: Duration = Duration::from_secs(60);

/// Recent permission answers per (user, GitHub repository id).
#[derive(Default)]
pub struct PermissionCache {
    entries: Mutex<HashMap<(i64, i64), (Permission, Instant)>>,
}

impl PermissionCache {
    pub fn get(&self, user_id: i64, github_id: i64) -> Option<Permission> {
        let entries = self.entries.lock().expect("permission cache");
        let (p, at) = entries.get(&(user_id, github_id))?;
        (at.elapsed() < TTL).then_some(*p)
    }

    pub fn put(&self, user_id: i64, github_id: i64, p: Permission) {
        let mut entries = self.entries.lock().expect("permission cache");
        if entries.len() > 50_000 {
            entries.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        entries.insert((user_id, github_id), (p, Instant::now()));
    }

    pub fn forget_user(&self, user_id: i64) {
        self.entries
            .lock()
            .expect("permission cache")
            .retain(|(u, _), _| *u != user_id);
    }
}

/// Whether this request is a person at this machine in local mode.
pub fn is_local_admin(state: &AppState, session: &RequestSession) -> bool {
    state.config.local_mode() && session.from_loopback
}

/// Whether the signed-in viewer is one of the server's admins.
pub fn is_server_admin(state: &AppState, session: &RequestSession) -> bool {
    session
        .user
        .as_ref()
        .is_some_and(|u| state.config.access.is_admin(&u.login))
}

/// The viewer's permission on a repository Sicuro knows.
pub async fn permission(state: &AppState, session: &RequestSession, repo: &Repo) -> Permission {
    if is_local_admin(state, session) || is_server_admin(state, session) {
        return Permission::Admin;
    }
    if repo.kind() != RepoKind::Github {
        // Repositories added by URL or path exist for local use; signed-in people may look.
        return if session.user.is_some() {
            Permission::Read
        } else {
            Permission::None
        };
    }
    let public = if repo.is_private() {
        Permission::None
    } else {
        Permission::Read
    };
    let (Some(user), Some(github), Some(github_id)) = (&session.user, &state.github, repo.github_id) else {
        return public;
    };
    if let Some(p) = state.access.get(user.id, github_id) {
        return p;
    }
    let Some(token) = user_token(state, user) else {
        return public;
    };
    let p = match github.repo_by_id(&token, github_id).await {
        Ok(answer) => {
            let now = follow(state, github_id, &answer).await;
            let public = if now.private {
                Permission::None
            } else {
                Permission::Read
            };
            answer.permission().max(public)
        }
        Err(GhError::NotFound) => {
            // Hidden from this account: private now (or gone) — hidden from everyone else too.
            mark_private(state, repo).await;
            Permission::None
        }
        Err(GhError::Unauthorized) => {
            let _ = crate::db::users::mark_token_revoked(&state.db, user.id).await;
            return public;
        }
        // GitHub is unreachable: fall back to what anyone may see, without caching it.
        Err(_) => return public,
    };
    state.access.put(user.id, github_id, p);
    p
}

/// Takes in what GitHub answered about a repository: its name now, its visibility.
pub async fn follow(state: &AppState, github_id: i64, answer: &GhRepo) -> Visibility {
    let facts = repos::GithubFacts {
        github_id,
        owner: &answer.owner.login,
        name: &answer.name,
        private: answer.private,
        clone_url: Some(&answer.clone_url),
        html_url: Some(&answer.html_url),
    };
    if let Err(e) = repos::follow_github(&state.db, &facts).await {
        tracing::warn!(
            github_id,
            "what GitHub said of the repository could not be recorded: {e}"
        );
    }
    Visibility {
        private: answer.private,
    }
}

pub struct Visibility {
    pub private: bool,
}

async fn mark_private(state: &AppState, repo: &Repo) {
    if repo.is_private() {
        return;
    }
    let facts = repos::GithubFacts {
        github_id: repo.github_id.unwrap_or_default(),
        owner: &repo.owner,
        name: &repo.name,
        private: true,
        clone_url: None,
        html_url: None,
    };
    let _ = repos::follow_github(&state.db, &facts).await;
}

/// The signed-in user's GitHub token, if it still works.
pub fn user_token(state: &AppState, user: &crate::db::users::User) -> Option<String> {
    if user.token_revoked_at.is_some() {
        return None;
    }
    state.keys.open(user.token_ciphertext.as_deref()?)
}
