//! Sign in with GitHub and sign out.
//!
//! `/auth/github` sends the browser to GitHub with a random `state` that is kept, together with
//! the browser's session id, in a short-lived encrypted cookie; the callback checks both, trades
//! the code for a token, stores the token encrypted and starts a fresh session (a new id, so a
//! session id planted before sign-in is worthless). Failures end on `/auth/error`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use sicuro_types::routes::path;

use super::extract::Session;
use super::session::{self, TTL_MS};
use super::{AppState, admission};
use crate::crypto::{hash_session_id, random_token};
use crate::db;
use crate::github::oauth::SignInError;

const OAUTH_COOKIE: &str = "sicuro_oauth";

/// Where sign-in problems are explained; the page knows each code's text.
fn error_page(code: &str) -> Redirect {
    Redirect::to(&format!("{}?reason={code}", path::SIGN_IN_ERROR))
}

fn error_code(e: &SignInError) -> &'static str {
    match e {
        SignInError::Denied => "denied",
        SignInError::StateMismatch => "state",
        SignInError::Exchange(_) => "exchange",
        SignInError::Unavailable(_) => "unavailable",
        SignInError::NotAllowed(_) => "not_allowed",
    }
}

pub async fn start(State(state): State<AppState>, Session(s): Session, jar: PrivateCookieJar) -> Response {
    let Some(github) = &state.github else {
        return error_page("not_configured").into_response();
    };
    let (url, oauth_state) = github.authorize_url();
    let cookie = Cookie::build((OAUTH_COOKIE, format!("{oauth_state}:{}", s.id)))
        .path(path::SIGN_IN)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.scheme() == "https")
        .max_age(time::Duration::minutes(10))
        .build();
    (jar.add(cookie), Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    Session(s): Session,
    jar: PrivateCookieJar,
    Query(q): Query<Callback>,
) -> Response {
    let Some(github) = state.github.clone() else {
        return error_page("not_configured").into_response();
    };
    let expected = jar.get(OAUTH_COOKIE).map(|c| c.value().to_string());
    let jar = jar.remove(Cookie::build(OAUTH_COOKIE).path(path::SIGN_IN));
    let result = async {
        let state_ok = match (&expected, &q.state) {
            (Some(cookie), Some(given)) => cookie
                .split_once(':')
                .is_some_and(|(st, sid)| st == given && sid == s.id),
            _ => false,
        };
        if !state_ok {
            return Err(SignInError::StateMismatch);
        }
        if q.error.is_some() {
            return Err(SignInError::Denied);
        }
        let code = q
            .code
            .as_deref()
            .ok_or_else(|| SignInError::Exchange("no code in the callback".into()))?;
        let token = github.exchange_code(code).await?;
        let user = github
            .user(&token.access_token)
            .await
            .map_err(|e| SignInError::Unavailable(e.to_string()))?;
        let orgs = admission::at_sign_in(&state, &github, &user.login, &token.access_token)
            .await
            .map_err(|refusal| match refusal {
                admission::Refusal::NotAllowed => SignInError::NotAllowed(user.login.clone()),
                admission::Refusal::Unavailable(e) => SignInError::Unavailable(e),
            })?;
        Ok((token, user, orgs))
    }
    .await;
    let (token, gh_user, orgs) = match result {
        Ok(ok) => ok,
        Err(SignInError::NotAllowed(login)) => {
            tracing::warn!(%login, "sign-in refused: this account is not allowed to use this server");
            let page = Redirect::to(&format!(
                "{}?reason=not_allowed&login={}",
                path::SIGN_IN_ERROR,
                crate::github::enc(&login)
            ));
            return (jar, page).into_response();
        }
        Err(e) => {
            tracing::warn!("sign-in failed: {e}");
            return (jar, error_page(error_code(&e))).into_response();
        }
    };
    let sealed = state.keys.seal(&token.access_token);
    let user = match db::users::upsert_signed_in(
        &state.db,
        gh_user.id,
        &gh_user.login,
        gh_user.name.as_deref(),
        gh_user.avatar_url.as_deref(),
        &sealed,
        &token.scopes,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("sign-in could not be stored: {e}");
            return (jar, error_page("unavailable")).into_response();
        }
    };
    let _ = db::users::record_access_check(&state.db, user.id, &orgs).await;
    state.access.forget_user(user.id);
    let _ = db::repos::clear_token_problem_for_subscriber(&state.db, user.id).await;
    let new_id = random_token();
    if let Err(e) = db::sessions::create(&state.db, &hash_session_id(&new_id), user.id, TTL_MS).await {
        tracing::error!("session could not be stored: {e}");
        return (jar, error_page("unavailable")).into_response();
    }
    tracing::info!(login = %user.login, "signed in");
    let jar = jar.add(session::session_cookie(&state, new_id));
    (jar, Redirect::to("/")).into_response()
}

#[derive(Deserialize)]
pub struct SignOut {
    csrf: String,
}

/// A plain form POST (works without JavaScript); its CSRF token travels in the form.
pub async fn sign_out(
    State(state): State<AppState>,
    Session(s): Session,
    jar: PrivateCookieJar,
    Form(f): Form<SignOut>,
) -> Response {
    if !state.keys.csrf_valid(&s.id, &f.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "invalid CSRF token; reload the page and try again",
        )
            .into_response();
    }
    let _ = db::sessions::delete(&state.db, &hash_session_id(&s.id)).await;
    let jar = jar.remove(Cookie::build(session::COOKIE).path("/"));
    (jar, Redirect::to("/")).into_response()
}
