//! Commit statuses: create one (push access, an existing commit, a known state), list them for a
//! ref newest first, and combine the latest of each context.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::api::{ApiError, Caller, Need, json_body, repo_for};
use crate::state::{CommitStatus, Permission, Repo, Shared};
use crate::{clock, git_repo, shapes};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/repos/{owner}/{repo}/statuses/{sha}", post(create))
}

/// Statuses of the commit `ref` names, newest first.
pub(crate) async fn for_ref(shared: &Shared, repo: &Repo, r#ref: &str) -> Vec<CommitStatus> {
    let sha = git_repo::resolve(&shared.bare_path(repo), r#ref)
        .await
        .unwrap_or_else(|| r#ref.to_string());
    shared.read(|w| {
        let mut list: Vec<CommitStatus> = w
            .statuses
            .iter()
            .filter(|s| s.repo_id == repo.id && s.sha == sha)
            .cloned()
            .collect();
        list.reverse();
        list
    })
}

pub(crate) async fn combined(shared: &Shared, repo: &Repo, r#ref: &str) -> axum::Json<Value> {
    let all = for_ref(shared, repo, r#ref).await;
    let mut latest: Vec<&CommitStatus> = vec![];
    for s in &all {
        if !latest.iter().any(|l| l.context.eq_ignore_ascii_case(&s.context)) {
            latest.push(s);
        }
    }
    let state = if latest.iter().any(|s| s.state == "error" || s.state == "failure") {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let sha = all.first().map(|s| s.sha.clone()).unwrap_or_else(|| r#ref.to_string());
    shared.read(|w| {
        axum::Json(json!({
            "state": state,
            "statuses": latest.iter().map(|s| shapes::status(&shared.urls, w, repo, s)).collect::<Vec<_>>(),
            "sha": sha,
            "total_count": latest.len(),
            "repository": shapes::event_repository(&shared.urls, w, repo),
            "commit_url": format!("{}/repos/{}/commits/{sha}", shared.urls.api, repo.full_name()),
            "url": format!("{}/repos/{}/commits/{sha}/status", shared.urls.api, repo.full_name())
        }))
    })
}

const STATES: [&str; 4] = ["error", "failure", "pending", "success"];

async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, sha)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let login = caller.require_login()?.to_string();
    let need = Need {
        role: Permission::Push,
        scopes: &["repo", "repo:status"],
    };
    let (repo, _) = shared.read(|w| repo_for(w, &caller, &owner, &name, &need))?;
    let body = json_body(&body)?;
    let state = body.get("state").and_then(Value::as_str).unwrap_or_default();
    if !STATES.contains(&state) {
        return Err(ApiError::Validation(vec![json!({
            "resource": "Status", "code": "custom", "field": "state",
            "message": format!("state is not included in the list")
        })]));
    }
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::Validation(vec![json!({
                "resource": "Status", "code": "invalid", "field": key
            })])),
        }
    };
    let (target_url, description) = (text("target_url")?, text("description")?);
    let context = text("context")?.unwrap_or_else(|| "default".to_string());
    let full_sha = git_repo::resolve(&shared.bare_path(&repo), &sha)
        .await
        .ok_or_else(|| ApiError::Unprocessable(format!("No commit found for SHA: {sha}")))?;
    let status = shared.write(|w| {
        let s = CommitStatus {
            id: w.next_id(),
            repo_id: repo.id,
            sha: full_sha,
            state: state.to_string(),
            target_url,
            description,
            context,
            creator: login,
            created_at: clock::now(),
        };
        w.statuses.push(s.clone());
        s
    });
    let json = shared.read(|w| shapes::status(&shared.urls, w, &repo, &status));
    let location = HeaderValue::from_str(json["url"].as_str().unwrap_or_default()).expect("URLs are valid header text");
    Ok((StatusCode::CREATED, [(LOCATION, location)], axum::Json(json)).into_response())
}
