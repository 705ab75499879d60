//! Records every REST API request (method, path, headers of interest, JSON body) with the status
//! the fake answered, so tests can check what Sicuro sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::bearer_token;
use crate::state::{ApiRequest, Shared};

const HEADERS: [&str; 5] = [
    "authorization",
    "accept",
    "content-type",
    "user-agent",
    "x-github-api-version",
];
const MAX_BODY: usize = 25 * 1024 * 1024;

pub(crate) async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let headers: BTreeMap<String, String> = HEADERS
        .iter()
        .filter_map(|&name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    let user = bearer_token(&parts.headers).and_then(|t| shared.read(|w| w.token(&t).map(|t| t.login.clone())));
    // Nested routers see the path without `/api/v3`; record it as it was sent.
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let mut entry = ApiRequest {
        method: parts.method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(String::from),
        headers,
        body: serde_json::from_slice(&bytes).ok(),
        user,
        status: 0,
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    entry.status = response.status().as_u16();
    shared.write(|w| w.api_requests.push(entry));
    response
}
