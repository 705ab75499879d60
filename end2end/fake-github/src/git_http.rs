//! Cloning over HTTP: git's "dumb" protocol served straight from the bare repositories
//! (`/{owner}/{repo}.git/info/refs`, `/HEAD`, `/objects/...`). Private repositories need a token of
//! a user who can read them, sent as Basic `x-access-token:<token>` or Bearer; every request is
//! recorded with whether it carried credentials.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::credentials;
use crate::state::{GitRequest, Shared};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/{owner}/{repo}/{*path}", get(serve))
}

/// Only what the dumb protocol reads: never `config`, hooks or anything else in the bare dir.
fn servable(path: &str) -> bool {
    let safe_chars = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    let allowed = matches!(
        path,
        "HEAD" | "info/refs" | "objects/info/packs" | "objects/info/alternates" | "objects/info/http-alternates"
    ) || path.starts_with("objects/");
    safe_chars && allowed && !path.split('/').any(|seg| seg.is_empty() || seg.starts_with('.'))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, "Basic realm=\"GitHub\"")],
        "Invalid username or token.\n",
    )
        .into_response()
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path((owner, repo, path)): Path<(String, String, String)>,
) -> Response {
    let name = repo.strip_suffix(".git").unwrap_or(&repo).to_string();
    let creds = credentials(&headers);
    let token = creds.as_ref().and_then(|(_, t)| shared.read(|w| w.token(t).cloned()));
    let found = shared.read(|w| {
        let repo = w.repo(&owner, &name)?.clone();
        let readable = w.permission(&repo, token.as_ref().map(|t| t.login.as_str())).is_some()
            && (!repo.private || token.as_ref().is_some_and(|t| t.scopes.iter().any(|s| s == "repo")));
        Some((repo, readable))
    });
    let response = match (&found, &creds, &token) {
        // Wrong credentials fail even for public repositories, as on GitHub.
        (_, Some(_), None) => unauthorized(),
        (Some((repo, true)), _, _) if servable(&path) => {
            match tokio::fs::read(shared.bare_path(repo).join(&path)).await {
                Ok(bytes) => {
                    let kind = if path == "info/refs" || path == "HEAD" {
                        "text/plain; charset=utf-8"
                    } else {
                        "application/octet-stream"
                    };
                    let body = if method == Method::HEAD { Vec::new() } else { bytes };
                    ([(CONTENT_TYPE, kind)], body).into_response()
                }
                Err(_) => (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
            }
        }
        (Some((_, true)), _, _) => (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
        // Signed in but not allowed: GitHub says the repository does not exist.
        (_, Some(_), Some(_)) => (StatusCode::NOT_FOUND, "Repository not found.\n").into_response(),
        // Anonymous: private and missing repositories look the same, asking for credentials.
        (_, None, _) => unauthorized(),
    };
    let record = GitRequest {
        method: method.to_string(),
        repo: format!("{owner}/{name}"),
        path,
        credentials: creds.map(|(kind, _)| kind),
        user: token.map(|t| t.login),
        status: response.status().as_u16(),
    };
    shared.write(|w| w.git_requests.push(record));
    response
}
