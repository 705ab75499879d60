//! Who may do what. Private repositories' builds and logs are visible only to signed-in users
//! who can read them on GitHub; public ones to everybody; rebuild and cancel need push
//! permission, subscribe and unsubscribe need admin. GitHub's answers are cached briefly.
//! In local mode (no GitHub settings) people at this machine may do everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sicuro_types::{Permission, RepoKind};

use super::AppState;
use super::session::RequestSession;
use crate::db::repos::Repo;
use crate::github::GhError;

const TTL: Duration = Duration::from_secs(60);

/// Recent permission answers per (user, repository).
#[derive(Default)]
pub struct PermissionCache {
    entries: Mutex<HashMap<(i64, String), (Permission, Instant)>>,
}

impl PermissionCache {
    pub fn get(&self, user_id: i64, slug: &str) -> Option<Permission> {
        let entries = self.entries.lock().expect("permission cache");
        let (p, at) = entries.get(&(user_id, slug.to_string()))?;
        (at.elapsed() < TTL).then_some(*p)
    }

    pub fn put(&self, user_id: i64, slug: &str, p: Permission) {
        let mut entries = self.entries.lock().expect("permission cache");
        if entries.len() > 50_000 {
            entries.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        entries.insert((user_id, slug.to_string()), (p, Instant::now()));
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

/// The viewer's permission on a repository Sicuro knows.
pub async fn permission(state: &AppState, session: &RequestSession, repo: &Repo) -> Permission {
    if is_local_admin(state, session) {
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
    let (Some(user), Some(github)) = (&session.user, &state.github) else {
        return public;
    };
    if let Some(p) = state.access.get(user.id, &repo.slug()) {
        return p;
    }
    let Some(token) = user_token(state, user) else {
        return public;
    };
    let p = match github.repo(&token, &repo.owner, &repo.name).await {
        Ok(r) => r.permission(),
        Err(GhError::NotFound) => Permission::None,
        Err(GhError::Unauthorized) => {
            let _ = crate::db::users::mark_token_revoked(&state.db, user.id).await;
            return public;
        }
        // GitHub is unreachable: fall back to what anyone may see, without caching it.
        Err(_) => return public,
    };
    let p = p.max(public);
    state.access.put(user.id, &repo.slug(), p);
    p
}

/// The signed-in user's GitHub token, if it still works.
pub fn user_token(state: &AppState, user: &crate::db::users::User) -> Option<String> {
    if user.token_revoked_at.is_some() {
        return None;
    }
    state.keys.open(user.token_ciphertext.as_deref()?)
}
