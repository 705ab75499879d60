//! Repository webhooks: list, create (then ping, in the background, like GitHub), read, update,
//! delete, ping again. All need admin rights in the repository.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api::{ApiError, Caller, Need, json_body, repo_for};
use crate::state::{Hook, HookConfig, Permission, Repo, Shared};
use crate::{clock, deliveries, shapes};

/// GitHub's limit per event and repository.
pub const MAX_HOOKS: usize = 20;

const READ_HOOKS: Need = Need {
    role: Permission::Admin,
    scopes: &["repo", "admin:repo_hook", "write:repo_hook", "read:repo_hook"],
};
const WRITE_HOOKS: Need = Need {
    role: Permission::Admin,
    scopes: &["repo", "admin:repo_hook", "write:repo_hook"],
};
const DELETE_HOOKS: Need = Need {
    role: Permission::Admin,
    scopes: &["repo", "admin:repo_hook"],
};

/// Events a repository hook can subscribe to (a subset of GitHub's list, plus `*`).
const EVENTS: &[&str] = &[
    "*",
    "check_run",
    "check_suite",
    "commit_comment",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "fork",
    "issue_comment",
    "issues",
    "label",
    "member",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "release",
    "repository",
    "star",
    "status",
    "watch",
    "workflow_job",
    "workflow_run",
];

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/repos/{owner}/{repo}/hooks", get(list).post(create))
        .route(
            "/repos/{owner}/{repo}/hooks/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/repos/{owner}/{repo}/hooks/{id}/pings", post(ping))
}

fn hook_error(code: &str, field: Option<&str>, message: &str) -> ApiError {
    let mut e = json!({"resource": "Hook", "code": code, "message": message});
    if let Some(field) = field {
        e["field"] = json!(field);
    }
    ApiError::Validation(vec![e])
}

async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    shared.read(|w| {
        let (repo, _) = repo_for(w, &caller, &owner, &name, &READ_HOOKS)?;
        let hooks: Vec<Value> = w
            .hooks
            .iter()
            .filter(|h| h.repo_id == repo.id)
            .map(|h| shapes::hook(&shared.urls, &repo, h))
            .collect();
        Ok(axum::Json(hooks).into_response())
    })
}

fn string_list(body: &Value, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| hook_error("invalid", Some(key), &format!("{key} must be a list of strings"))),
        Some(_) => Err(hook_error(
            "invalid",
            Some(key),
            &format!("{key} must be a list of strings"),
        )),
    }
}

fn check_events(events: &[String]) -> Result<(), ApiError> {
    match events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        Some(bad) => Err(hook_error(
            "invalid",
            Some("events"),
            &format!("\"{bad}\" is not a valid event name"),
        )),
        None => Ok(()),
    }
}

/// Applies the `config` keys of a request on top of `config`.
fn apply_config(config: &mut HookConfig, body: &Value) -> Result<(), ApiError> {
    let Some(given) = body.get("config") else {
        return Ok(());
    };
    let given = given
        .as_object()
        .ok_or_else(|| hook_error("invalid", Some("config"), "config must be an object"))?;
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for (key, value) in given {
        let invalid = || hook_error("invalid", Some(key), &format!("config.{key} is invalid"));
        match key.as_str() {
            "url" => config.url = text(value).ok_or_else(invalid)?,
            "content_type" => config.content_type = text(value).ok_or_else(invalid)?,
            "secret" => config.secret = text(value).filter(|s| !s.is_empty()),
            "insecure_ssl" => config.insecure_ssl = text(value).ok_or_else(invalid)?,
            _ => {}
        }
    }
    if config.url.trim().is_empty() {
        return Err(hook_error("custom", None, "url cannot be blank"));
    }
    if url::Url::parse(&config.url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        return Err(hook_error("custom", None, "url is not a valid URL"));
    }
    if !matches!(config.content_type.as_str(), "json" | "form") {
        return Err(hook_error(
            "invalid",
            Some("content_type"),
            "content_type must be json or form",
        ));
    }
    Ok(())
}

async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &WRITE_HOOKS))?;
    let body = json_body(&body)?;
    if body.get("name").is_some_and(|n| n != "web") {
        return Err(hook_error("custom", Some("name"), "Name must be \"web\""));
    }
    let events = string_list(&body, "events")?.unwrap_or_else(|| vec!["push".into()]);
    check_events(&events)?;
    let active = match body.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(hook_error("invalid", Some("active"), "active must be a boolean"));
        }
    };
    let mut config = HookConfig {
        url: String::new(),
        content_type: "form".into(),
        secret: None,
        insecure_ssl: "0".into(),
    };
    apply_config(&mut config, &body)?;
    let creator = caller.login.clone().unwrap_or_default();
    let hook = shared.write(|w| {
        let existing: Vec<&Hook> = w.hooks.iter().filter(|h| h.repo_id == repo.id).collect();
        if existing.iter().any(|h| h.config.url == config.url) {
            return Err(hook_error("custom", None, "Hook already exists on this repository"));
        }
        for event in &events {
            if existing.iter().filter(|h| h.events.contains(event)).count() >= MAX_HOOKS {
                let message = format!("The \"{event}\" event cannot have more than {MAX_HOOKS} hooks");
                return Err(hook_error("custom", None, &message));
            }
        }
        let now = clock::now();
        let hook = Hook {
            id: w.next_id(),
            repo_id: repo.id,
            name: "web".into(),
            active,
            events,
            config,
            creator,
            created_at: now,
            updated_at: now,
            last_response_code: None,
            delivered: false,
        };
        w.hooks.push(hook.clone());
        Ok(hook)
    })?;
    if hook.active {
        deliveries::ping_in_background(shared.clone(), hook.id);
    }
    let json = shapes::hook(&shared.urls, &repo, &hook);
    let location = HeaderValue::from_str(json["url"].as_str().unwrap_or_default()).expect("URLs are valid header text");
    Ok((StatusCode::CREATED, [(LOCATION, location)], axum::Json(json)).into_response())
}

fn hook_in(shared: &Shared, repo: &Repo, id: &str) -> Result<Hook, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    shared
        .read(|w| w.hook(id).filter(|h| h.repo_id == repo.id).cloned())
        .ok_or(ApiError::NotFound)
}

async fn read(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &READ_HOOKS))?;
    let hook = hook_in(&shared, &repo, &id)?;
    Ok(axum::Json(shapes::hook(&shared.urls, &repo, &hook)).into_response())
}

async fn update(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &WRITE_HOOKS))?;
    let mut hook = hook_in(&shared, &repo, &id)?;
    let body = json_body(&body)?;
    apply_config(&mut hook.config, &body)?;
    if let Some(events) = string_list(&body, "events")? {
        hook.events = events;
    }
    for added in string_list(&body, "add_events")?.unwrap_or_default() {
        if !hook.events.contains(&added) {
            hook.events.push(added);
        }
    }
    let removed = string_list(&body, "remove_events")?.unwrap_or_default();
    hook.events.retain(|e| !removed.contains(e));
    check_events(&hook.events)?;
    match body.get("active") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => hook.active = *b,
        Some(_) => {
            return Err(hook_error("invalid", Some("active"), "active must be a boolean"));
        }
    }
    hook.updated_at = clock::now();
    shared.write(|w| {
        if let Some(h) = w.hooks.iter_mut().find(|h| h.id == hook.id) {
            *h = hook.clone();
        }
    });
    Ok(axum::Json(shapes::hook(&shared.urls, &repo, &hook)).into_response())
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &DELETE_HOOKS))?;
    let hook = hook_in(&shared, &repo, &id)?;
    shared.write(|w| w.hooks.retain(|h| h.id != hook.id));
    Ok(StatusCode::NO_CONTENT)
}

async fn ping(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &WRITE_HOOKS))?;
    let hook = hook_in(&shared, &repo, &id)?;
    deliveries::ping_in_background(shared.clone(), hook.id);
    Ok(StatusCode::NO_CONTENT)
}
