//! Request extractors the handlers share.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::session::RequestSession;

/// The request's session (resolved by `session::layer`) as an extractor.
pub struct Session(pub RequestSession);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Session(session_of(parts)))
    }
}

/// The session the middleware put in the request (anonymous when there is none).
pub fn session_of(parts: &Parts) -> RequestSession {
    parts
        .extensions
        .get::<RequestSession>()
        .cloned()
        .unwrap_or_else(RequestSession::anonymous)
}

/// Who did something, for build records ("canceled by alice").
pub fn actor_name(session: &RequestSession) -> String {
    session
        .user
        .as_ref()
        .map_or_else(|| "a local user".to_string(), |u| u.login.clone())
}
