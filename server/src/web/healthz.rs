//! `GET /healthz`: whether the database and the Docker engine answer. 503 when either is down.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub database: Check,
    pub docker: Check,
}

#[derive(Serialize)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (db, docker) = tokio::join!(state.db.ping(), state.engine.executor().health());
    let database = match db {
        Ok(()) => Check {
            ok: true,
            detail: state.db.kind_name().to_string(),
        },
        Err(e) => Check {
            ok: false,
            detail: e.to_string(),
        },
    };
    let docker = match docker {
        Ok(v) => Check { ok: true, detail: v },
        Err(e) => Check { ok: false, detail: e },
    };
    let ok = database.ok && docker.ok;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            status: if ok { "ok" } else { "unavailable" },
            version: env!("CARGO_PKG_VERSION"),
            database,
            docker,
        }),
    )
}
