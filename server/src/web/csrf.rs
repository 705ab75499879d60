//! CSRF protection for every state-changing request: any method but GET, HEAD and OPTIONS
//! (POST, and the secrets' PUT and DELETE).
//!
//! Browsers are recognised by the headers they always send: a cross-site `Sec-Fetch-Site` or a
//! foreign `Origin` is refused outright, and a request carrying our session cookie must also
//! carry the session's token in `X-CSRF-Token` (the pages get it with the viewer). Clients
//! that are not browsers (the CLI, scripts) send neither cookie nor Origin. The webhook is
//! authenticated by its signature instead, and sign-out checks the token in its form itself.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use sicuro_types::routes::path;

use super::AppState;
use super::session::RequestSession;

pub const HEADER: &str = "x-csrf-token";

/// Paths that authenticate state changes otherwise: the webhook by its signature (GitHub is not
/// a browser), sign-out by the token in its form (its origin is still checked).
const EXEMPT: &[&str] = &[path::GITHUB_WEBHOOK];
const TOKEN_IN_FORM: &[&str] = &[path::SIGN_OUT];

pub async fn protect(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !unsafe_method || EXEMPT.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let session = req
        .extensions()
        .get::<RequestSession>()
        .filter(|_| !TOKEN_IN_FORM.contains(&req.uri().path()));
    if let Err(why) = check(&state, req.headers(), session) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(sicuro_types::ApiError { error: why.into() }),
        )
            .into_response();
    }
    next.run(req).await
}

fn check(state: &AppState, headers: &HeaderMap, session: Option<&RequestSession>) -> Result<(), &'static str> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    if let Some(origin) = get(header::ORIGIN.as_str())
        && !same_origin(state, origin, get(header::HOST.as_str()))
    {
        return Err("request from another origin refused");
    }
    if let Some(session) = session.filter(|s| s.had_cookie) {
        let valid = get(HEADER).is_some_and(|t| state.keys.csrf_valid(&session.id, t));
        if !valid {
            return Err("missing or invalid CSRF token; reload the page and try again");
        }
    }
    Ok(())
}

fn same_origin(state: &AppState, origin: &str, host: Option<&str>) -> bool {
    let public = state.config.public_url.origin().ascii_serialization();
    if origin == public {
        return true;
    }
    // Also the address the browser actually used (e.g. localhost vs 127.0.0.1 in local use).
    host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}
