//! Build endpoints: read one, cancel, rebuild.

use app::api::{BuildDetail, BuildSummary, Permission};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiResult, Session, actor_name};
use crate::db::builds::Created;
use crate::web::AppState;
use crate::web::backend;

pub async fn show(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> ApiResult<Json<BuildDetail>> {
    let (repo, build, p) = backend::find_build(&state, &s, id, Permission::Read).await?;
    Ok(Json(backend::build_detail(&state, &repo, &build, p).await?))
}

/// Cancels a queued or running build (push permission). The container is stopped at once.
pub async fn cancel(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> ApiResult<Json<BuildSummary>> {
    let (repo, _, _) = backend::find_build(&state, &s, id, Permission::Push).await?;
    let build = state.engine.cancel(id, &actor_name(&s)).await?;
    Ok(Json(backend::summary(&repo, &build)))
}

/// Runs the same commit again, as the same kind of event (push permission).
pub async fn rebuild(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<BuildSummary>)> {
    let (repo, _, _) = backend::find_build(&state, &s, id, Permission::Push).await?;
    let created = state.engine.rebuild(id).await?;
    let code = if matches!(created, Created::New(_)) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(backend::summary(&repo, created.build()))))
}
