//! A build's log over HTTP: a server-sent-events stream whose event ids are line numbers (a
//! reconnecting browser sends `Last-Event-ID` and gets exactly the missing lines), ending with an
//! explicit `end` event; windows of lines by number as JSON (the viewer opens on the last
//! screen); a search of the whole log, streamed; and the raw text for download. Running and
//! finished logs are read the same way, from the log file, and every answer is bounded in bytes
//! per batch however big the log.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use sicuro_types::routes::event;
use sicuro_types::{BuildStatus, LogEnd, LogLine, LogWindow, Permission};

use super::AppState;
use super::error::{WebResult, bad_request};
use super::extract::Session;
use super::log_feed::{Chunk, Subscription, encode_event, encode_lines};
use super::pages;
use crate::engine::LogEvent;
use crate::engine::log_search::{self, SearchEvent};

/// Lines a window holds unless asked for fewer (and at most).
const WINDOW_LINES: usize = 1000;
const MAX_WINDOW_LINES: usize = 5000;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize, Default)]
pub struct WindowQuery {
    /// Lines after this number (the SSE stream also honours `Last-Event-ID`).
    #[serde(default)]
    after: Option<u64>,
    /// Lines from this number.
    #[serde(default)]
    from: Option<u64>,
    /// The last `tail` lines.
    #[serde(default)]
    tail: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/builds/{id}/log/stream`
pub async fn stream(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<WindowQuery>,
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
    // A dropped connection is resumed after one second (browsers wait three by default).
    let retry = futures::stream::once(async { Bytes::from_static(b"retry: 1000\n: resume after 1 s\n\n") });
    let body = retry.chain(log_events(state, id, after, build.status()));
    Ok(event_stream(body))
}

/// A `text/event-stream` answer from encoded events, with keep-alive comments while idle, and
/// headers that keep proxies from buffering it.
fn event_stream(events: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    let body = futures::stream::unfold(Box::pin(events), |mut events| async move {
        tokio::select! {
            next = events.next() => next.map(|b| (Ok::<_, Infallible>(b), events)),
            _ = tokio::time::sleep(KEEP_ALIVE) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), events)),
        }
    });
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    // Tell nginx and friends not to buffer: each line must go out as it is printed.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    response
}

/// Where a viewer's stream is: reading the file itself, or at the live end on the shared feed.
struct Viewer {
    state: AppState,
    id: i64,
    status_read: BuildStatus,
    /// The next line the viewer needs.
    next: u64,
    own: Option<futures::stream::BoxStream<'static, std::io::Result<LogEvent>>>,
    feed: Option<Subscription>,
    /// The feed's end, once seen, for when the viewer has every line before it.
    end_seen: Option<(Option<BuildStatus>, u64)>,
    done: bool,
}

/// `status_read` is the build's status when the request came: a log written before logs kept
/// their verdict ends with it.
fn log_events(state: AppState, id: i64, after: u64, status_read: BuildStatus) -> impl Stream<Item = Bytes> + Send {
    let viewer = Viewer {
        state,
        id,
        status_read,
        next: after + 1,
        own: None,
        feed: None,
        end_seen: None,
        done: false,
    };
    futures::stream::unfold(viewer, |mut v| async move {
        let bytes = v.next_event().await?;
        Some((bytes, v))
    })
}

impl Viewer {
    async fn next_event(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if self.own.is_none() && self.feed.is_none() {
            self.join().await;
        }
        loop {
            if self.own.is_some() {
                match self.read_own().await {
                    Some(b) => return Some(b),
                    None if self.done => return None,
                    None => continue,
                }
            }
            if let Some((status, lines)) = self.end_seen {
                if self.next <= lines {
                    return self.fill(lines).await;
                }
                self.done = true;
                return Some(self.end(status, lines));
            }
            let feed = self.feed.as_mut()?;
            match feed.rx.recv().await {
                Ok(chunk) => match &*chunk {
                    Chunk::Lines { last, .. } if *last < self.next => continue,
                    Chunk::Lines { first, last, bytes } if *first == self.next => {
                        self.next = last + 1;
                        return Some(bytes.clone());
                    }
                    // Lines the feed sent before this viewer was at its place (or while it lagged):
                    // read them from the file, up to the end of this batch.
                    Chunk::Lines { last, .. } => return self.fill(*last).await,
                    Chunk::End { status, lines } => self.end_seen = Some((*status, *lines)),
                },
                Err(broadcast_error) => {
                    if let tokio::sync::broadcast::error::RecvError::Closed = broadcast_error {
                        // The feed is gone (it could not read): read the file from here on.
                        self.feed = None;
                        self.own = Some(self.own_reader());
                    }
                    continue;
                }
            }
        }
    }

    /// A live log is watched through its feed, after reading from the file what came before the
    /// feed's start; a finished log is read from the file.
    async fn join(&mut self) {
        let engine = &self.state.engine;
        if engine.log_is_live(self.id) {
            let last = engine.log_window(self.id, None, Some(1), 1).await.map_or(0, |w| w.last);
            let sub = self.state.log_feeds.subscribe(engine, self.id, last);
            if self.next <= sub.after {
                self.own = Some(self.own_reader_until(sub.after));
            }
            self.feed = Some(sub);
        } else {
            self.own = Some(self.own_reader());
        }
    }

    fn own_reader(&self) -> futures::stream::BoxStream<'static, std::io::Result<LogEvent>> {
        self.state.engine.read_log(self.id, self.next - 1, true).boxed()
    }

    /// What the file holds from the viewer's place up to line `last` (then the feed takes over).
    fn own_reader_until(&self, last: u64) -> futures::stream::BoxStream<'static, std::io::Result<LogEvent>> {
        self.state
            .engine
            .read_log(self.id, self.next - 1, false)
            .filter_map(move |e| async move {
                match e {
                    Ok(LogEvent::Lines(b)) => Some(Ok(LogEvent::Lines(
                        b.into_iter().filter(|l| l.number() <= last).collect(),
                    ))),
                    // Not the log's end: only the end of what it held when the viewer came.
                    Ok(LogEvent::End { .. }) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .boxed()
    }

    async fn read_own(&mut self) -> Option<Bytes> {
        let own = self.own.as_mut()?;
        loop {
            match own.next().await {
                Some(Ok(LogEvent::Lines(batch))) => {
                    let batch: Vec<LogLine> = batch.into_iter().filter(|l| l.number() >= self.next).collect();
                    let Some(last) = batch.last().map(LogLine::number) else {
                        continue;
                    };
                    self.next = last + 1;
                    if let Chunk::Lines { bytes, .. } = encode_lines(&batch) {
                        return Some(bytes);
                    }
                }
                Some(Ok(LogEvent::End { status, lines })) => {
                    self.done = true;
                    return Some(self.end(status, lines));
                }
                Some(Err(e)) => {
                    tracing::warn!(build = self.id, "log read failed: {e}");
                    continue;
                }
                None => {
                    // Caught up with the feed's start: the feed goes on from here.
                    self.own = None;
                    if self.feed.is_none() {
                        self.done = true;
                    }
                    return None;
                }
            }
        }
    }

    /// Reads lines from the viewer's place up to `last` from the file (the feed moved on
    /// without this viewer).
    async fn fill(&mut self, last: u64) -> Option<Bytes> {
        let want = (last + 1 - self.next) as usize;
        match self
            .state
            .engine
            .log_window(self.id, Some(self.next), None, want.min(MAX_WINDOW_LINES))
            .await
        {
            Ok(w) if !w.lines.is_empty() => {
                let lines: Vec<LogLine> = w.lines.into_iter().filter(|l| l.number() <= last).collect();
                self.next = lines.last().map_or(last, LogLine::number) + 1;
                match encode_lines(&lines) {
                    Chunk::Lines { bytes, .. } => Some(bytes),
                    Chunk::End { .. } => None,
                }
            }
            _ => {
                self.next = last + 1;
                Some(Bytes::from_static(b": nothing to fill\n\n"))
            }
        }
    }

    fn end(&self, status: Option<BuildStatus>, lines: u64) -> Bytes {
        let end = LogEnd {
            status: status.unwrap_or(self.status_read),
            lines,
        };
        encode_event(event::END, &end)
    }
}

/// `GET /api/builds/{id}/log?from=N&limit=M` (or `?tail=M`, or `?after=N`): a window of lines,
/// at most 5,000 and about 1 MiB, and where it sits in the whole log.
pub async fn json(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<WindowQuery>,
) -> WebResult<Json<LogWindow>> {
    pages::find_build(&state, &s, id, Permission::Read).await?;
    let limit = q.limit.unwrap_or(WINDOW_LINES).clamp(1, MAX_WINDOW_LINES);
    let from = q.from.or(q.after.map(|a| a + 1));
    let window = state
        .engine
        .log_window(id, from, q.tail, limit)
        .await
        .map_err(|e| super::error::WebError::Unavailable(format!("the log could not be read: {e}")))?;
    Ok(Json(window))
}

#[derive(Deserialize)]
pub struct TextQuery {
    /// Each line with its time since the log began.
    #[serde(default)]
    timestamps: Option<String>,
}

/// `GET /api/builds/{id}/log.txt`: the log as plain text, as a download (`?timestamps=1`: with
/// each line's time since the log began).
pub async fn text(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<TextQuery>,
) -> WebResult<Response> {
    let (repo, build, _) = pages::find_build(&state, &s, id, Permission::Read).await?;
    let timed = q.timestamps.as_deref().is_some_and(|t| t != "0" && t != "false");
    let body = snapshot(&state, id, 0).map(move |batch| {
        let mut chunk = String::new();
        for l in &batch {
            chunk.push_str(&if timed { l.timed_text() } else { l.plain_text() });
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

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    after: Option<u64>,
}

fn flag(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| v != "0" && v != "false" && !v.is_empty())
}

/// `GET /api/builds/{id}/log/search?q=…`: the numbers of the matching lines of the whole log,
/// streamed as `hits` events with a running count, then `end` with the total; a running log's new
/// lines are searched as they come. `regex=1` for a regular expression, `case=1` to match case.
pub async fn search(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
    Query(q): Query<SearchQuery>,
) -> WebResult<Response> {
    pages::find_build(&state, &s, id, Permission::Read).await?;
    let query = log_search::Query {
        text: q.q,
        regex: flag(&q.regex),
        case_sensitive: flag(&q.case),
        after: q.after.unwrap_or(0),
    };
    query.matcher().map_err(|e| bad_request(e.to_string()))?;
    let events = state.engine.search_log(id, query).filter_map(move |e| async move {
        match e {
            Ok(SearchEvent::Hits(h)) => Some(encode_event(event::HITS, &h)),
            Ok(SearchEvent::End(h)) => Some(encode_event(event::END, &h)),
            Err(e) => {
                tracing::warn!(build = id, "log search failed: {e}");
                None
            }
        }
    });
    Ok(event_stream(events))
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
