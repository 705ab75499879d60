//! Browser sessions. Every browser gets a random session id in an encrypted, signed cookie
//! (`HttpOnly`, `SameSite=Lax`, `Secure` behind https); signing in binds that id (hashed) to a
//! user in the database, so signing out really ends it. The id also anchors the CSRF token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use super::AppState;
use crate::crypto::{hash_session_id, random_token};
use crate::db::{self, users::User};

pub const COOKIE: &str = "sicuro_session";
/// How long a sign-in lasts.
pub const TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// The session of the current request, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestSession {
    pub id: String,
    pub user: Option<User>,
    /// A person at this machine: from loopback, naming a loopback host, not through a proxy
    /// (local mode lets such requests do everything).
    pub from_loopback: bool,
    /// The browser sent a session cookie (and so is bound by the CSRF check).
    pub had_cookie: bool,
}

impl RequestSession {
    /// For requests that come without the middleware (never in the router; a safe default).
    pub fn anonymous() -> Self {
        Self {
            id: String::new(),
            user: None,
            from_loopback: false,
            had_cookie: false,
        }
    }
}

/// Resolves the session before the handler runs and sets the cookie on the way out when the
/// browser had none (only for page loads: webhooks and API clients get no cookie).
pub async fn layer(State(state): State<AppState>, jar: PrivateCookieJar, mut req: Request, next: Next) -> Response {
    let peer_is_loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(a)| a.ip().is_loopback());
    let from_loopback = super::host_check::is_local_request(peer_is_loopback, req.headers());
    let existing = jar.get(COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 64);
    let had_cookie = existing.is_some();
    let wants_page = req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let id = existing.clone().unwrap_or_else(random_token);
    let user = match &existing {
        Some(id) => lookup_user(&state, id).await,
        None => None,
    };
    req.extensions_mut().insert(RequestSession {
        id: id.clone(),
        user,
        from_loopback,
        had_cookie,
    });
    let response = next.run(req).await;
    if existing.is_none() && wants_page {
        let jar = jar.add(session_cookie(&state, id));
        return (jar, response).into_response();
    }
    response
}

/// The signed-in user of a session, if they may still use this server; a session of someone
/// no longer allowed in ends here.
async fn lookup_user(state: &AppState, id: &str) -> Option<User> {
    let hash = hash_session_id(id);
    let user_id = db::sessions::user_id(&state.db, &hash).await.ok()??;
    let user = db::users::get(&state.db, user_id).await.ok()??;
    if !super::admission::still_admitted(state, &user).await {
        tracing::warn!(login = %user.login, "session ended: this account is no longer allowed to use this server");
        let _ = db::sessions::delete(&state.db, &hash).await;
        return None;
    }
    Some(user)
}

/// The session cookie, `Secure` when the public URL is https.
pub fn session_cookie(state: &AppState, id: String) -> Cookie<'static> {
    Cookie::build((COOKIE, id))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.scheme() == "https")
        .max_age(time::Duration::milliseconds(TTL_MS))
        .build()
}
