//! Build endpoints: read one, cancel, rebuild, approve or decline a fork's pull request.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sicuro_types::{BuildDetail, BuildSummary, Permission};

use crate::db::builds::Created;
use crate::engine::BuildRequest;
use crate::web::AppState;
use crate::web::error::WebResult;
use crate::web::extract::{Session, actor_name};
use crate::web::pages;

pub async fn show(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<Json<BuildDetail>> {
    let (repo, build, p) = pages::find_build(&state, &s, id, Permission::Read).await?;
    Ok(Json(pages::build_detail(&state, &repo, &build, p).await?))
}

/// Cancels a queued or running build (push permission). The container is stopped at once.
pub async fn cancel(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<Json<BuildSummary>> {
    let (repo, _, _) = pages::find_build(&state, &s, id, Permission::Push).await?;
    let build = state.engine.cancel(id, &actor_name(&s)).await?;
    Ok(Json(pages::summary(&repo, &build)))
}

/// Runs the same commit again, as the same kind of event (push permission).
pub async fn rebuild(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<(StatusCode, Json<BuildSummary>)> {
    let (repo, _, _) = pages::find_build(&state, &s, id, Permission::Push).await?;
    let created = state
        .engine
        .request(repo.id, BuildRequest::Rebuild { build_id: id })
        .await?;
    tracing::info!(repo = %repo.slug(), build = id, by = %actor_name(&s), "rebuild requested");
    let code = if matches!(created, Created::New(_)) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(pages::summary(&repo, created.build()))))
}

/// Lets a pull request from a fork run (push permission).
pub async fn approve(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<Json<BuildSummary>> {
    let (repo, _, _) = pages::find_build(&state, &s, id, Permission::Push).await?;
    let build = state.engine.approve(id, &actor_name(&s)).await?;
    Ok(Json(pages::summary(&repo, &build)))
}

/// Refuses to run a pull request from a fork (push permission); it ends with a final status.
pub async fn decline(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<Json<BuildSummary>> {
    let (repo, _, _) = pages::find_build(&state, &s, id, Permission::Push).await?;
    let build = state.engine.decline(id, &actor_name(&s)).await?;
    Ok(Json(pages::summary(&repo, &build)))
}
