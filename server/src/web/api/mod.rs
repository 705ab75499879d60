//! The JSON API, for the pages' state changes, the CLI and scripts. Reads are GETs; every state
//! change is a POST (CSRF-checked, see `csrf`).

mod builds;
mod repos;

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use app::api::ApiError;
use app::backend::BackendError;

use super::AppState;
use super::session::RequestSession;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/repos", get(repos::list).post(repos::add))
        .route("/api/repos/{owner}/{name}", get(repos::show))
        .route(
            "/api/repos/{owner}/{name}/builds",
            get(repos::builds).post(repos::trigger),
        )
        .route("/api/repos/{owner}/{name}/subscribe", post(repos::subscribe))
        .route("/api/repos/{owner}/{name}/unsubscribe", post(repos::unsubscribe))
        .route(
            "/api/repos/{owner}/{name}/settings",
            get(repos::settings).post(repos::update_settings),
        )
        .route("/api/repos/{owner}/{name}/caches/clear", post(repos::clear_caches))
        .route("/api/repos/{owner}/{name}/events", get(super::events::repo_events))
        .route("/api/events", get(super::events::all_events))
        .route("/api/builds/{id}", get(builds::show))
        .route("/api/builds/{id}/log", get(super::logs::json))
        .route("/api/builds/{id}/log.txt", get(super::logs::text))
        .route("/api/builds/{id}/log/stream", get(super::logs::stream))
        .route("/api/builds/{id}/cancel", post(builds::cancel))
        .route("/api/builds/{id}/rebuild", post(builds::rebuild))
}

/// `GET /api/me`: who is asking, and the CSRF token their state changes must carry.
async fn me(
    axum::extract::State(state): axum::extract::State<AppState>,
    Session(s): Session,
) -> Json<app::api::Viewer> {
    Json(super::backend::viewer(&state, &s))
}

/// An API failure: a status code and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiFailure(pub StatusCode, pub String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<BackendError> for ApiFailure {
    fn from(e: BackendError) -> Self {
        let code = match &e {
            BackendError::NotFound(_) => StatusCode::NOT_FOUND,
            BackendError::SignInRequired => StatusCode::UNAUTHORIZED,
            BackendError::Forbidden(_) => StatusCode::FORBIDDEN,
            BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiFailure(code, e.to_string())
    }
}

impl From<crate::engine::EngineError> for ApiFailure {
    fn from(e: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError as E;
        let code = match &e {
            E::UnknownRepo(_) | E::UnknownBuild(_) => StatusCode::NOT_FOUND,
            E::ShuttingDown | E::Docker(_) | E::Db(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Checkout(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiFailure(code, e.to_string())
    }
}

pub fn bad_request(msg: impl Into<String>) -> ApiFailure {
    ApiFailure(StatusCode::BAD_REQUEST, msg.into())
}

pub type ApiResult<T> = Result<T, ApiFailure>;

/// The request's session as an extractor.
pub struct Session(pub RequestSession);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Session(
            parts
                .extensions
                .get::<RequestSession>()
                .cloned()
                .unwrap_or_else(RequestSession::anonymous),
        ))
    }
}

/// Who did something, for build records ("canceled by alice").
pub fn actor_name(session: &RequestSession) -> String {
    session
        .user
        .as_ref()
        .map_or_else(|| "a local user".to_string(), |u| u.login.clone())
}
