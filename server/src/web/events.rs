//! Live build events for the repository pages and the dashboard: one server-sent-events stream
//! of `build` events (the build's summary after each change), filtered by what the viewer may see.
//! A reader that falls behind gets a `resync` event and re-reads the page's data.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use sicuro_types::{BuildEvent, Permission};
use tokio::sync::broadcast::error::RecvError;

use sicuro_types::routes::event;

use super::AppState;
use super::access;
use super::error::WebResult;
use super::extract::Session;
use super::pages;
use super::session::RequestSession;

/// `GET /api/repos/{owner}/{name}/events`
pub async fn repo_events(
    State(state): State<AppState>,
    Session(s): Session,
    Path((owner, name)): Path<(String, String)>,
) -> WebResult<Response> {
    let (repo, _) = pages::find_repo(&state, &s, &owner, &name, Permission::Read).await?;
    Ok(sse(events(state, s, Some(repo.id))))
}

/// `GET /api/events`: every repository the viewer may see (the dashboard).
pub async fn all_events(State(state): State<AppState>, Session(s): Session) -> Response {
    sse(events(state, s, None))
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

fn events(
    state: AppState,
    session: RequestSession,
    repo_id: Option<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let rx = state.engine.changes();
    futures::stream::unfold((rx, state, session), move |(mut rx, state, session)| async move {
        loop {
            match rx.recv().await {
                Ok(change) => {
                    if repo_id.is_some_and(|id| id != change.repo.id) {
                        continue;
                    }
                    if access::permission(&state, &session, &change.repo).await < Permission::Read {
                        continue;
                    }
                    let event = BuildEvent {
                        build: pages::summary(&change.repo, &change.build),
                    };
                    let data = serde_json::to_string(&event).unwrap_or_default();
                    return Some((
                        Ok(Event::default().event(event::BUILD).data(data)),
                        (rx, state, session),
                    ));
                }
                Err(RecvError::Lagged(_)) => {
                    return Some((
                        Ok(Event::default().event(event::RESYNC).data("{}")),
                        (rx, state, session),
                    ));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
