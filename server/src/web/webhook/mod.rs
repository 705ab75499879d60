//! `POST /hooks/github`: the signature is verified before anything else, the delivery id is
//! recorded (a redelivery creates nothing new), the reply (202) goes out at once and the work
//! happens in the background.

pub mod decide;
pub mod signature;

use app::api::TriggerEvent;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::AppState;
use crate::db::builds::NewBuild;
use crate::db::{deliveries, repos};
use decide::{Decision, Trigger};

/// GitHub caps payloads at 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let reply = |code: StatusCode, msg: &str| (code, Json(json!({ "message": msg })));
    let Some(github) = &state.github else {
        return reply(
            StatusCode::NOT_FOUND,
            "webhooks are off: this server has no GitHub settings",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(
        github.config.webhook_secret.as_bytes(),
        header("x-hub-signature-256"),
        &body,
    ) {
        tracing::warn!(
            delivery = header("x-github-delivery").unwrap_or("?"),
            "webhook refused: {e}"
        );
        return reply(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let (Some(event), Some(delivery)) = (header("x-github-event"), header("x-github-delivery")) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Event or X-GitHub-Delivery header",
        );
    };
    let (event, delivery) = (event.to_string(), delivery.to_string());
    match deliveries::record_first(&state.db, &delivery, &event).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(%delivery, %event, "redelivery ignored: this delivery was handled before");
            return reply(StatusCode::ACCEPTED, "already handled");
        }
        Err(e) => {
            tracing::error!(%delivery, "webhook could not be recorded: {e}");
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; GitHub will let you redeliver",
            );
        }
    }
    tokio::spawn(async move {
        if let Err(e) = handle(&state, &event, &delivery, &body).await {
            tracing::error!(%delivery, %event, "webhook not handled: {e}");
            // Forget the delivery so that a redelivery from GitHub's settings page can retry it.
            let _ = sqlx::query("DELETE FROM webhook_deliveries WHERE delivery_id = $1")
                .bind(&delivery)
                .execute(&state.db.pool)
                .await;
        }
    });
    reply(StatusCode::ACCEPTED, "accepted")
}

/// Acts on a verified delivery.
pub async fn handle(state: &AppState, event: &str, delivery: &str, body: &[u8]) -> anyhow::Result<()> {
    let decision = decide::decide(event, body)?;
    let (github_id, full_name, trigger) = match decision {
        Decision::Ignore(why) => {
            tracing::info!(%delivery, %event, "webhook ignored: {why}");
            return Ok(());
        }
        Decision::Build {
            repo_github_id,
            repo_full_name,
            trigger,
        } => (repo_github_id, repo_full_name, trigger),
    };
    let Some(repo) = repos::by_github_id(&state.db, github_id)
        .await?
        .filter(|r| r.is_watched())
    else {
        tracing::info!(%delivery, %event, repo = %full_name, "webhook ignored: Sicuro does not watch this repository");
        return Ok(());
    };
    let created = match trigger {
        Trigger::Ping { default_branch } => {
            let branch = default_branch.unwrap_or_else(|| repo.default_branch.clone());
            state.engine.enqueue_branch(&repo, &branch, TriggerEvent::Ping).await?
        }
        Trigger::Push {
            branch,
            is_tag,
            sha,
            author,
            message,
        } => {
            let kind = if is_tag { "tags" } else { "heads" };
            state
                .engine
                .enqueue(NewBuild {
                    repo_id: repo.id,
                    event: Some(TriggerEvent::Push),
                    fetch_ref: Some(format!("refs/{kind}/{branch}")),
                    branch: Some(branch),
                    is_tag,
                    commit_sha: sha,
                    author,
                    message,
                    ..Default::default()
                })
                .await?
        }
        Trigger::PullRequest {
            number,
            sha,
            fork_clone_url,
            head_ref,
            author,
            title,
        } => {
            let from_fork = fork_clone_url.is_some();
            let fetch_ref = if from_fork {
                format!("refs/heads/{head_ref}")
            } else {
                format!("refs/pull/{number}/head")
            };
            state
                .engine
                .enqueue(NewBuild {
                    repo_id: repo.id,
                    event: Some(TriggerEvent::PullRequest),
                    branch: Some(head_ref),
                    pr_number: Some(number),
                    commit_sha: sha,
                    fetch_url: fork_clone_url,
                    fetch_ref: Some(fetch_ref),
                    from_fork,
                    author,
                    message: title,
                    ..Default::default()
                })
                .await?
        }
    };
    tracing::info!(%delivery, %event, repo = %repo.slug(), build = created.build().id, "webhook handled");
    Ok(())
}
