//! Fault injection: the next N API requests (optionally only those whose path contains a string)
//! fail the way GitHub fails: a 500, a primary rate limit (403 with `x-ratelimit-remaining: 0`)
//! or a secondary rate limit (429 with `Retry-After`).

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock;
use crate::state::Shared;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 Internal Server Error.
    ServerError,
    /// 403 with `x-ratelimit-remaining: 0` and a reset a couple of seconds ahead.
    RateLimit,
    /// 429 with `Retry-After: 1`.
    SecondaryRateLimit,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// How many more requests it hits.
    pub remaining: u32,
    /// Only requests whose path contains this (e.g. `/statuses/`).
    #[serde(default)]
    pub path_contains: Option<String>,
}

impl Fault {
    fn matches(&self, path: &str) -> bool {
        self.remaining > 0 && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
    }
}

pub(crate) async fn inject(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let uri = req.extensions().get::<OriginalUri>().map_or(req.uri(), |o| &o.0);
    let path = uri.path().to_string();
    let hit = shared.write(|w| {
        let fault = w.faults.iter_mut().find(|f| f.matches(&path))?;
        fault.remaining -= 1;
        let kind = fault.kind;
        w.faults.retain(|f| f.remaining > 0);
        Some(kind)
    });
    match hit {
        Some(kind) => fault_response(kind),
        None => next.run(req).await,
    }
}

fn fault_response(kind: FaultKind) -> Response {
    match kind {
        FaultKind::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": "Server Error"})),
        )
            .into_response(),
        FaultKind::RateLimit => {
            let reset = clock::now() + 2;
            let mut r = (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                    "status": "403"
                })),
            )
                .into_response();
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-used", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            r
        }
        FaultKind::SecondaryRateLimit => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    "status": "429"
                })),
            )
                .into_response();
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
    }
}
