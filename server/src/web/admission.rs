//! Who may use this server (`SICURO_ALLOWED_USERS`, `SICURO_ALLOWED_ORGS`, `SICURO_ADMINS`,
//! `SICURO_OPEN`): asked at sign-in, and again at least hourly for people who stay signed in and
//! for the people whose tokens webhook builds use. Organisation membership comes from GitHub.

use std::time::Duration;

use super::AppState;
use crate::db::{self, now_ms, users::User};
use crate::github::{GhError, Github};

/// How long an access check holds.
pub const RECHECK: Duration = Duration::from_secs(3600);

/// Why someone may not sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not on the lists and in none of the allowed organisations.
    NotAllowed,
    /// GitHub could not tell which organisations they are in.
    Unavailable(String),
}

/// At sign-in: may `login` (with `token`) use this server? Returns their organisations.
pub async fn at_sign_in(state: &AppState, github: &Github, login: &str, token: &str) -> Result<Vec<String>, Refusal> {
    let policy = &state.config.access;
    match policy.admits_by_name(login) {
        Some(true) => return Ok(Vec::new()),
        Some(false) => return Err(Refusal::NotAllowed),
        None => {}
    }
    let orgs = github
        .user_orgs(token)
        .await
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    if policy.admits(login, &orgs) {
        Ok(orgs)
    } else {
        Err(Refusal::NotAllowed)
    }
}

/// Whether a known user may still use this server: the lists are read now; organisation
/// membership is asked of GitHub again when the last answer is over an hour old. GitHub being
/// unreachable keeps the last answer (and asks again next time).
pub async fn still_admitted(state: &AppState, user: &User) -> bool {
    let policy = &state.config.access;
    if let Some(by_name) = policy.admits_by_name(&user.login) {
        return by_name;
    }
    let fresh = user
        .access_checked_at
        .is_some_and(|at| now_ms() - at < RECHECK.as_millis() as i64);
    if fresh {
        return policy.admits(&user.login, &user.org_list());
    }
    let (Some(github), Some(token)) = (&state.github, super::access::user_token(state, user)) else {
        return false;
    };
    match github.user_orgs(&token).await {
        Ok(orgs) => {
            let _ = db::users::record_access_check(&state.db, user.id, &orgs).await;
            policy.admits(&user.login, &orgs)
        }
        Err(GhError::Unauthorized) => false,
        Err(e) => {
            tracing::warn!(login = %user.login, "organisation membership could not be re-checked: {e}");
            policy.admits(&user.login, &user.org_list())
        }
    }
}
