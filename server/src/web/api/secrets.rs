//! Repository secrets through the API, for the repository's admins only: list (names, who
//! changed each and when), set, delete, and the audit trail. Values go in and never come out:
//! no answer, log line or error message here carries one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sicuro_types::{Permission, SecretChange, SecretInfo, SetSecret};

use crate::db::secrets::{SecretEvent, SecretRow};
use crate::web::AppState;
use crate::web::error::{WebResult, bad_request, not_found};
use crate::web::extract::{Session, actor_name};
use crate::web::pages;

/// How many changes the audit trail shows.
pub const AUDIT_LIMIT: i64 = 200;

pub async fn list(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<Vec<SecretInfo>>> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    Ok(Json(
        state.engine.secrets(repo.id).await?.into_iter().map(info).collect(),
    ))
}

pub async fn put(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name, secret)): Path<(String, String, String)>,
    body: Bytes,
) -> WebResult<(StatusCode, Json<SecretInfo>)> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    let set = parse(&body)?;
    let actor = actor_name(&s);
    let created = state
        .engine
        .set_secret(repo.id, &secret, &set.value, set.forks, &actor)
        .await?;
    tracing::info!(repo = %repo.slug(), secret = %secret, forks = set.forks, by = %actor, created, "secret set");
    let row = state
        .engine
        .secrets(repo.id)
        .await?
        .into_iter()
        .find(|r| r.name == secret)
        .ok_or_else(|| not_found(format!("secret {secret}")))?;
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((code, Json(info(row))))
}

pub async fn delete(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name, secret)): Path<(String, String, String)>,
) -> WebResult<StatusCode> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    let actor = actor_name(&s);
    if !state.engine.delete_secret(repo.id, &secret, &actor).await? {
        return Err(not_found(format!("secret {secret} of {}", repo.slug())));
    }
    tracing::info!(repo = %repo.slug(), secret = %secret, by = %actor, "secret deleted");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn audit(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Json<Vec<SecretChange>>> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Admin).await?;
    Ok(Json(
        state
            .engine
            .secret_events(repo.id, AUDIT_LIMIT)
            .await?
            .into_iter()
            .map(change)
            .collect(),
    ))
}

/// The body, read here rather than by axum's `Json` so that no error repeats what was sent
/// (serde's messages quote the values they could not read).
fn parse(body: &[u8]) -> WebResult<SetSecret> {
    serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "the body must be JSON like {{\"value\": \"…\", \"forks\": false}} ({} at line {}, column {})",
            match e.classify() {
                serde_json::error::Category::Data => "a key is missing or has the wrong type",
                serde_json::error::Category::Eof => "it ends early",
                _ => "it is not valid JSON",
            },
            e.line(),
            e.column()
        ))
    })
}

pub fn info(r: SecretRow) -> SecretInfo {
    SecretInfo {
        name: r.name,
        forks: r.forks != 0,
        updated_by: r.updated_by,
        updated_at: r.updated_at,
    }
}

pub fn change(e: SecretEvent) -> SecretChange {
    SecretChange {
        name: e.name,
        action: e.action,
        forks: e.forks.map(|f| f != 0),
        actor: e.actor,
        at: e.at,
    }
}
