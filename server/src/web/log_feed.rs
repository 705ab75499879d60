//! One reading and one encoding of a live log for all its viewers: a feed per running build reads
//! each batch of new lines once, encodes it as a server-sent event once, and hands the same bytes
//! to every viewer at the live end. A viewer behind the feed (joining late, or too slow to keep
//! up) reads what it lacks from the log file itself and then joins the feed at a batch boundary,
//! so no line is lost or repeated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures::StreamExt;
use sicuro_types::routes::event;
use sicuro_types::{BuildStatus, LogLine};
use tokio::sync::broadcast;

use crate::engine::{Engine, LogEvent};

/// Batches a viewer may fall behind the feed before it reads from the file instead.
const FEED_DEPTH: usize = 16;

/// What a feed hands out.
#[derive(Clone, Debug)]
pub enum Chunk {
    /// A `lines` event for lines `first..=last`, encoded.
    Lines {
        first: u64,
        last: u64,
        bytes: Bytes,
    },
    End {
        status: Option<BuildStatus>,
        lines: u64,
    },
}

struct Feed {
    tx: broadcast::Sender<Arc<Chunk>>,
    /// The feed's first batch starts after this line.
    after: u64,
}

/// The feeds of the live logs being watched.
#[derive(Default)]
pub struct LogFeeds {
    feeds: Mutex<HashMap<i64, Weak<Feed>>>,
}

/// A viewer's place in a feed.
pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<Chunk>>,
    /// The feed's first batch starts after this line.
    pub after: u64,
    /// Keeps the feed alive while someone watches.
    _feed: Arc<Feed>,
}

impl LogFeeds {
    /// Joins the feed of a live log (starting one after line `last` if there is none).
    pub fn subscribe(&self, engine: &Engine, build_id: i64, last: u64) -> Subscription {
        let mut feeds = self.feeds.lock().expect("feeds");
        if let Some(feed) = feeds.get(&build_id).and_then(Weak::upgrade) {
            return Subscription {
                rx: feed.tx.subscribe(),
                after: feed.after,
                _feed: feed,
            };
        }
        let (tx, rx) = broadcast::channel(FEED_DEPTH);
        let feed = Arc::new(Feed { tx, after: last });
        feeds.retain(|_, f| f.strong_count() > 0);
        feeds.insert(build_id, Arc::downgrade(&feed));
        tokio::spawn(run(engine.clone(), build_id, Arc::downgrade(&feed), last));
        Subscription {
            rx,
            after: last,
            _feed: feed,
        }
    }
}

/// Reads the log once for every viewer until it ends or nobody watches.
async fn run(engine: Engine, build_id: i64, feed: Weak<Feed>, after: u64) {
    let mut log = std::pin::pin!(engine.read_log(build_id, after, true));
    while let Some(item) = log.next().await {
        let Some(feed) = feed.upgrade() else { return };
        let chunk = match item {
            Ok(LogEvent::Lines(batch)) if !batch.is_empty() => encode_lines(&batch),
            Ok(LogEvent::Lines(_)) => continue,
            Ok(LogEvent::End { status, lines }) => Chunk::End { status, lines },
            Err(e) => {
                tracing::warn!(build = build_id, "a live log feed could not read the log: {e}");
                return;
            }
        };
        let end = matches!(chunk, Chunk::End { .. });
        let _ = feed.tx.send(Arc::new(chunk));
        if end {
            return;
        }
    }
}

/// A batch of lines as one `lines` event (its id the last line's number, for resuming).
pub fn encode_lines(batch: &[LogLine]) -> Chunk {
    let first = batch.first().map_or(0, LogLine::number);
    let last = batch.last().map_or(0, LogLine::number);
    let data = serde_json::to_vec(batch).unwrap_or_else(|_| b"[]".to_vec());
    let mut out = Vec::with_capacity(data.len() + 48);
    out.extend_from_slice(format!("event: {}\nid: {last}\ndata: ", event::LINES).as_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\n\n");
    Chunk::Lines {
        first,
        last,
        bytes: Bytes::from(out),
    }
}

/// Any other event, with JSON data.
pub fn encode_event(name: &str, data: &impl serde::Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_default();
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
