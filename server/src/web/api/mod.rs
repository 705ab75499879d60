//! The JSON API, for the pages' state changes, the CLI and scripts. Reads are GETs; every state
//! change is a POST, PUT or DELETE (all CSRF-checked, see `csrf`). The routes are in
//! `web::routes`.

pub mod builds;
pub mod repos;
pub mod secrets;

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::extract::Session;

/// `GET /api/me`: who is asking, and the CSRF token their state changes must carry.
pub async fn me(State(state): State<AppState>, Session(s): Session) -> Json<sicuro_types::Viewer> {
    Json(super::pages::viewer(&state, &s))
}
