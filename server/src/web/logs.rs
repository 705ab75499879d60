//! A build's log over HTTP: a server-sent-events stream whose event ids are line numbers (a
//! reconnecting browser sends `Last-Event-ID` and gets exactly the missing lines), ending with an
//! explicit `end` event; the same lines as JSON; and the raw text for download. Running and
//! finished logs are read the same way, from the log file.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use sicuro_types::routes::event;
use sicuro_types::{BuildStatus, LogEnd, LogLine, Permission};

use super::AppState;
use super::error::WebResult;
use super::extract::Session;
use super::pages;
use crate::engine::LogEvent;

#[derive(Deserialize, Default)]
pub struct After {
    /// Resume after this line number (the SSE stream also honours `Last-Event-ID`).
    #[serde(default)]
    after: Option<u64>,
}

/// `GET /api/builds/{id}/log/stream`
pub async fn stream(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
) -> WebResult<Response> {
    let (_, build, _) = pages::find_build(&state, &s, id, Permission::Read).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = last_event_id.or(q.after).unwrap_or(0);
    if let Some(line) = last_event_id {
        tracing::info!(
            build = id,
            "log stream of build {id} resumed after line {line} (Last-Event-ID)"
        );
    }
    let mut response = Sse::new(events(state, id, after, build.status()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let h = response.headers_mut();
    // Tell nginx and friends not to buffer: each line must go out as it is printed.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    Ok(response)
}

/// `status_read` is the build's status when the request came: a log written before logs kept
/// their verdict ends with it.
fn events(
    state: AppState,
    id: i64,
    after: u64,
    status_read: BuildStatus,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    // A dropped connection is resumed after one second (browsers wait three by default).
    let retry = futures::stream::once(async {
        Ok(Event::default()
            .retry(Duration::from_secs(1))
            .comment("resume after 1 s"))
    });
    let log = state
        .engine
        .read_log(id, after, true)
        .filter_map(move |item| async move {
            match item {
                Ok(LogEvent::Lines(batch)) if !batch.is_empty() => {
                    let last = batch.last().map(LogLine::number).unwrap_or_default();
                    let data = serde_json::to_string(&batch).unwrap_or_else(|_| "[]".into());
                    Some(Ok(Event::default().event(event::LINES).id(last.to_string()).data(data)))
                }
                Ok(LogEvent::Lines(_)) => None,
                Ok(LogEvent::End { status, lines }) => {
                    let end = LogEnd {
                        status: status.unwrap_or(status_read),
                        lines,
                    };
                    Some(Ok(Event::default()
                        .event(event::END)
                        .data(serde_json::to_string(&end).unwrap_or_default())))
                }
                Err(e) => {
                    tracing::warn!(build = id, "log read failed: {e}");
                    None
                }
            }
        });
    retry.chain(log)
}

/// `GET /api/builds/{id}/log?after=N`: the lines written so far, as JSON.
pub async fn json(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<After>,
) -> WebResult<Json<Vec<LogLine>>> {
    pages::find_build(&state, &s, id, Permission::Read).await?;
    let mut out = Vec::new();
    let mut reader = std::pin::pin!(snapshot(&state, id, q.after.unwrap_or(0)));
    while let Some(batch) = reader.next().await {
        out.extend(batch);
    }
    Ok(Json(out))
}

/// `GET /api/builds/{id}/log.txt`: the log as plain text, as a download.
pub async fn text(State(state): State<AppState>, Session(s): Session, Path(id): Path<i64>) -> WebResult<Response> {
    let (repo, build, _) = pages::find_build(&state, &s, id, Permission::Read).await?;
    let body = snapshot(&state, id, 0).map(|batch| {
        let mut chunk = String::new();
        for l in &batch {
            chunk.push_str(&l.plain_text());
            chunk.push('\n');
        }
        Ok::<_, Infallible>(chunk)
    });
    let filename = format!("{}-{}-build-{}.log", repo.owner, repo.name, build.number);
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The lines written so far, without waiting for more.
fn snapshot(state: &AppState, id: i64, after: u64) -> impl Stream<Item = Vec<LogLine>> + Send + 'static + use<> {
    state.engine.read_log(id, after, false).filter_map(|item| async move {
        match item {
            Ok(LogEvent::Lines(batch)) => Some(batch),
            _ => None,
        }
    })
}
