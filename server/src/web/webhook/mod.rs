//! `POST /hooks/github`: the signature is verified before anything else, the delivery id is
//! recorded (a redelivery creates nothing new), the reply (202) goes out at once and the work
//! happens in the background.

pub mod decide;
pub mod signature;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::AppState;
use sha2::Digest;

use crate::db::deliveries::{self, Seen};
use crate::db::repos;
use crate::engine::BuildRequest;
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
    let digest = hex::encode(sha2::Sha256::digest(&body));
    match deliveries::record_first(&state.db, &delivery, &event, &digest).await {
        Ok(Seen::First) => {}
        Ok(Seen::Redelivery) => {
            tracing::info!(%delivery, %event, "redelivery ignored: this delivery was handled before");
            return reply(StatusCode::ACCEPTED, "already handled");
        }
        Ok(Seen::Replay) => {
            tracing::warn!(%delivery, %event, "replay ignored: this exact body came before under another delivery id");
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
            let _ = deliveries::forget(&state.db, &delivery).await;
        }
    });
    reply(StatusCode::ACCEPTED, "accepted")
}

/// Acts on a verified delivery.
pub async fn handle(state: &AppState, event: &str, delivery: &str, body: &[u8]) -> anyhow::Result<()> {
    follow_repository(state, body).await;
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
    if !subscriber_admitted(state, &repo).await {
        tracing::warn!(%delivery, %event, repo = %repo.slug(), "webhook ignored: the person who subscribed this repository is no longer allowed to use this server");
        return Ok(());
    }
    let request = build_request(trigger);
    if let Some(why) = state.engine.not_built(repo.id, &request).await {
        tracing::info!(%delivery, %event, repo = %repo.slug(), "webhook ignored: {why}");
        return Ok(());
    }
    let created = state.engine.request(repo.id, request).await?;
    tracing::info!(%delivery, %event, repo = %repo.slug(), build = created.build().id, "webhook handled");
    Ok(())
}

/// Renames, transfers and visibility changes reach Sicuro with every delivery.
async fn follow_repository(state: &AppState, body: &[u8]) {
    let Some(seen) = decide::repository_seen(body) else {
        return;
    };
    let Some((owner, name)) = seen.full_name.split_once('/') else {
        return;
    };
    let Some(private) = seen.private else { return };
    let facts = repos::GithubFacts {
        github_id: seen.id,
        owner,
        name,
        private,
        clone_url: seen.clone_url.as_deref(),
        html_url: seen.html_url.as_deref(),
    };
    if let Err(e) = repos::follow_github(&state.db, &facts).await {
        tracing::warn!(repo = %seen.full_name, "what the delivery says of the repository could not be recorded: {e}");
    }
}

/// Builds use the subscriber's token: they run only while that person may use this server.
async fn subscriber_admitted(state: &AppState, repo: &repos::Repo) -> bool {
    let Some(user_id) = repo.subscriber_id else {
        return true;
    };
    match crate::db::users::get(&state.db, user_id).await {
        Ok(Some(user)) => super::admission::still_admitted(state, &user).await,
        Ok(None) => false,
        // The database hiccuped: do not drop the build for it.
        Err(_) => true,
    }
}

/// What the delivery asks the engine for, in the engine's words.
fn build_request(trigger: Trigger) -> BuildRequest {
    match trigger {
        Trigger::Ping { default_branch } => BuildRequest::Ping { branch: default_branch },
        Trigger::Push {
            branch,
            is_tag: true,
            sha,
            author,
            message,
        } => BuildRequest::Tag {
            tag: branch,
            sha,
            author,
            message,
        },
        Trigger::Push {
            branch,
            sha,
            author,
            message,
            ..
        } => BuildRequest::Push {
            branch,
            sha,
            author,
            message,
        },
        Trigger::PullRequest {
            number,
            sha,
            fork_clone_url,
            head_ref,
            author,
            title,
        } => BuildRequest::PullRequest {
            number,
            sha,
            head_ref,
            fork_clone_url,
            author,
            title,
        },
    }
}
