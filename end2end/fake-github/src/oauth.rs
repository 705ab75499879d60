//! The OAuth App web flow: an authorize page with one button per user and a Deny button (or
//! `&login=alice` to approve at once), then the code-for-token exchange with GitHub's error
//! replies (HTTP 200 with an `error` field).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock;
use crate::state::{AccountKind, OAuthCode, Shared, Token};

/// Codes live ten minutes, as GitHub's do.
const CODE_LIFETIME_SECS: u64 = 600;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/login/oauth/authorize", get(authorize).post(decide))
        .route("/login/oauth/access_token", post(access_token))
}

#[derive(Deserialize, Default, Clone)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    redirect_uri: Option<String>,
    #[serde(default)]
    scope: String,
    state: Option<String>,
    /// Approve at once as this user (test shortcut, and the page's buttons).
    login: Option<String>,
    /// Present when the user pressed Deny.
    deny: Option<String>,
}

pub(crate) fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(crate) fn new_token(prefix: &str) -> String {
    format!("{prefix}_{}", random_string(36))
}

/// GitHub answers with scopes comma-separated, whatever separator was asked with.
pub(crate) fn normalize_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = scope
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    scopes.dedup();
    scopes
}

async fn authorize(State(shared): State<Arc<Shared>>, Query(params): Query<AuthorizeParams>) -> Response {
    if params.login.is_some() || params.deny.is_some() {
        return decide_with(&shared, params);
    }
    if params.client_id != shared.client_id {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>404</h1><p>This is not the web page you are looking for.</p>"),
        )
            .into_response();
    }
    let users: Vec<String> = shared.read(|w| {
        w.accounts
            .iter()
            .filter(|a| a.kind == AccountKind::User)
            .map(|a| a.login.clone())
            .collect()
    });
    let hidden =
        |name: &str, value: &str| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value));
    let mut fields = hidden("client_id", &params.client_id);
    fields += &hidden("scope", &params.scope);
    if let Some(r) = &params.redirect_uri {
        fields += &hidden("redirect_uri", r);
    }
    if let Some(s) = &params.state {
        fields += &hidden("state", s);
    }
    let buttons: String = users
        .iter()
        .map(|u| {
            format!(
                "<p><button type=\"submit\" name=\"login\" value=\"{0}\">Sign in as {0}</button></p>",
                escape(u)
            )
        })
        .collect();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize application</title></head>\
         <body><h1>Authorize application</h1><p>An application wants access to your account (scopes: {}).</p>\
         <form method=\"post\" action=\"/login/oauth/authorize\">{fields}{buttons}\
         <p><button type=\"submit\" name=\"deny\" value=\"1\">Deny</button></p></form></body></html>",
        escape(&params.scope)
    );
    Html(page).into_response()
}

async fn decide(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let params: AuthorizeParams = parse_form(&body);
    decide_with(&shared, params)
}

fn parse_form(body: &[u8]) -> AuthorizeParams {
    let mut p = AuthorizeParams::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "client_id" => p.client_id = v,
            "redirect_uri" => p.redirect_uri = Some(v),
            "scope" => p.scope = v,
            "state" => p.state = Some(v),
            "login" => p.login = Some(v),
            "deny" => p.deny = Some(v),
            _ => {}
        }
    }
    p
}

fn decide_with(shared: &Shared, params: AuthorizeParams) -> Response {
    if params.client_id != shared.client_id {
        return (StatusCode::NOT_FOUND, "unknown client_id").into_response();
    }
    let Some(redirect_uri) = params.redirect_uri.clone() else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is required by this fake").into_response();
    };
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response();
    };
    let login = params.login.as_deref().filter(|_| params.deny.is_none());
    let approved = login.and_then(|l| shared.read(|w| w.user(l).map(|u| u.login.clone())));
    {
        let mut q = target.query_pairs_mut();
        match &approved {
            Some(login) => {
                let code = random_string(20).to_lowercase();
                let grant = OAuthCode {
                    code: code.clone(),
                    login: login.clone(),
                    redirect_uri: redirect_uri.clone(),
                    scopes: normalize_scopes(&params.scope),
                    created_at: clock::now(),
                    used: false,
                };
                shared.write(|w| w.codes.push(grant));
                q.append_pair("code", &code);
            }
            None if params.deny.is_none() => {
                return (StatusCode::NOT_FOUND, "unknown login").into_response();
            }
            None => {
                q.append_pair("error", "access_denied")
                    .append_pair("error_description", "The user has denied your application access.")
                    .append_pair(
                        "error_uri",
                        "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
                    );
            }
        }
        if let Some(state) = &params.state {
            q.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(LOCATION, target.as_str())]).into_response()
}

/// Client credentials from the form, or from HTTP Basic auth (RFC 6749 §2.3.1, as oauth2 sends).
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> (String, String) {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) {
        return (id, secret);
    }
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (decode(id), decode(secret)),
        None => (
            field("client_id").unwrap_or_default(),
            field("client_secret").unwrap_or_default(),
        ),
    }
}

fn oauth_error(error: &str, description: &str, anchor: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "error_uri": format!("https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{anchor}")
    })
}

async fn access_token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json_body = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Vec<(String, String)> = if is_json_body {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (client_id, client_secret) = client_credentials(&headers, &form);
    let answer = if client_id != shared.client_id || client_secret != shared.client_secret {
        oauth_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            "incorrect-client-credentials",
        )
    } else {
        exchange(&shared, field("code").unwrap_or_default(), field("redirect_uri"))
    };
    let wants_json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        axum::Json(answer).into_response()
    } else {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in answer.as_object().expect("answers are objects") {
            form.append_pair(k, v.as_str().unwrap_or_default());
        }
        (
            [(CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")],
            form.finish(),
        )
            .into_response()
    }
}

fn exchange(shared: &Shared, code: String, redirect_uri: Option<String>) -> Value {
    let now = clock::now();
    shared.write(|w| {
        let Some(grant) = w
            .codes
            .iter_mut()
            .find(|c| c.code == code && !c.used && now.saturating_sub(c.created_at) < CODE_LIFETIME_SECS)
        else {
            return oauth_error(
                "bad_verification_code",
                "The code passed is incorrect or expired.",
                "bad-verification-code",
            );
        };
        if redirect_uri.as_ref().is_some_and(|r| *r != grant.redirect_uri) {
            return oauth_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
                "redirect-uri-mismatch2",
            );
        }
        grant.used = true;
        let token = Token {
            token: new_token("gho"),
            login: grant.login.clone(),
            scopes: grant.scopes.clone(),
            revoked: false,
        };
        let answer = json!({"access_token": token.token, "token_type": "bearer", "scope": token.scopes.join(",")});
        w.tokens.push(token);
        answer
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
