//! `GET /badge/{owner}/{repo}.svg[?branch=…]`: the latest finished build of a branch (the
//! default branch unless given) as an SVG badge for READMEs.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sicuro_types::{BuildStatus, Permission};

use super::AppState;
use super::extract::Session;
use super::pages;
use crate::db::builds;

#[derive(Deserialize)]
pub struct BadgeQuery {
    branch: Option<String>,
}

pub async fn badge(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, file)): Path<(String, String)>,
    Query(q): Query<BadgeQuery>,
) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok((repo, _)) = pages::find_repo(&state, &s, &owner, name, Permission::Read).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let branch = q.branch.unwrap_or_else(|| repo.default_branch.clone());
    let status = builds::latest_finished_on_branch(&state.db, repo.id, &branch)
        .await
        .ok()
        .flatten()
        .map(|b| b.status());
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // Badges must not be cached by GitHub's image proxy for long.
            (header::CACHE_CONTROL, "no-cache, max-age=0"),
        ],
        svg(status),
    )
        .into_response()
}

/// A flat two-part badge: "build | passing".
pub fn svg(status: Option<BuildStatus>) -> String {
    let (text, color) = match status {
        Some(BuildStatus::Success) => ("passing", "#2da44e"),
        Some(BuildStatus::Failure) => ("failing", "#cf222e"),
        Some(BuildStatus::Error) => ("error", "#bf8700"),
        _ => ("unknown", "#6e7781"),
    };
    let left = 38;
    let right = 8 + 7 * text.len() as u32;
    let width = left + right;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="build: {text}"><title>build: {text}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{color}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">build</text><text x="{rx}" y="14">{text}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_name_the_state() {
        assert!(svg(Some(BuildStatus::Success)).contains(">passing<"));
        assert!(svg(Some(BuildStatus::Failure)).contains("aria-label=\"build: failing\""));
        assert!(svg(None).contains("unknown"));
    }
}
