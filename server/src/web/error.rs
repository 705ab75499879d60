//! One error type for the web app: each handler returns `WebResult` and uses `?` on database,
//! engine and GitHub errors, which convert here. It becomes an HTTP answer (`{"error": …}` with
//! its status) for the JSON API and streams, and the pages' error type at the edge of the
//! `#[server]` functions.

use app::page_data::PageError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sicuro_types::ApiError;

use crate::engine::EngineError;
use crate::github::GhError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebError {
    /// Missing, or hidden from this viewer (the two are not told apart).
    NotFound(String),
    SignInRequired,
    Forbidden(String),
    BadRequest(String),
    Conflict(String),
    /// Well-formed, but it cannot be done (a commit that does not exist, a repository that
    /// cannot be read).
    Unprocessable(String),
    /// GitHub refused or failed what Sicuro asked of it on the viewer's behalf.
    BadGateway(String),
    /// The database, the executor or GitHub could not answer; the message says which and why.
    Unavailable(String),
}

pub type WebResult<T> = Result<T, WebError>;

pub fn not_found(what: impl Into<String>) -> WebError {
    WebError::NotFound(what.into())
}

pub fn forbidden(why: impl Into<String>) -> WebError {
    WebError::Forbidden(why.into())
}

pub fn bad_request(why: impl Into<String>) -> WebError {
    WebError::BadRequest(why.into())
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::SignInRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(what) => write!(f, "{what} was not found"),
            Self::SignInRequired => f.write_str("sign in to see this"),
            Self::Forbidden(m)
            | Self::BadRequest(m)
            | Self::Conflict(m)
            | Self::Unprocessable(m)
            | Self::BadGateway(m)
            | Self::Unavailable(m) => f.write_str(m),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        (
            self.status(),
            Json(ApiError {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!("database: {e}");
        WebError::Unavailable(format!("the database could not answer: {e}"))
    }
}

impl From<EngineError> for WebError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownRepo(_) | EngineError::UnknownBuild(_) => WebError::NotFound(e.to_string()),
            EngineError::InvalidRequest(m) => WebError::BadRequest(m),
            EngineError::Conflict(m) => WebError::Conflict(m),
            EngineError::Checkout(_) | EngineError::OverCeiling(_) => WebError::Unprocessable(e.to_string()),
            EngineError::Db(db) => db.into(),
            EngineError::ShuttingDown | EngineError::Executor(_) => WebError::Unavailable(e.to_string()),
        }
    }
}

impl From<GhError> for WebError {
    fn from(e: GhError) -> Self {
        match e {
            GhError::Unauthorized => WebError::SignInRequired,
            GhError::NotFound => WebError::NotFound("the repository".into()),
            GhError::Forbidden(m) => WebError::Forbidden(format!("GitHub refused: {m}")),
            other => WebError::Unavailable(other.to_string()),
        }
    }
}

/// The pages' view of an error, at the edge of the `#[server]` functions.
impl From<WebError> for PageError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::NotFound(what) => PageError::NotFound(what),
            WebError::SignInRequired => PageError::SignInRequired,
            WebError::Forbidden(why) => PageError::Forbidden(why),
            other => PageError::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_what_the_client_can_do() {
        assert_eq!(
            WebError::from(EngineError::UnknownBuild(3)).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            WebError::from(EngineError::InvalidRequest("`-x` is not a branch name".into())),
            bad_request("`-x` is not a branch name")
        );
        assert_eq!(
            WebError::from(EngineError::ShuttingDown).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(WebError::from(GhError::Unauthorized), WebError::SignInRequired);
        assert_eq!(not_found("build 7").to_string(), "build 7 was not found");
        assert_eq!(PageError::from(not_found("x")), PageError::NotFound("x".into()));
    }
}
