//! Build logs: one append-only file per build, written line by line as the job prints, a sparse
//! index of it (`log_index`), and a `watch` channel per live build that says how far the file is
//! complete.
//!
//! Readers never get lines from memory: they read the file up to the published length and wait
//! for the next change. So a late subscriber sees the stored lines and then the live ones with no
//! gap and no duplicate, a slow subscriber costs no memory, and a crash keeps every line written.
//! Reads start at the index's checkpoint before the first line wanted, run on blocking threads,
//! and come in batches bounded in lines and bytes, so a reader costs what it reads.
//!
//! The file format is defined once, in `sicuro_types::log`: a begin record, a record per line,
//! and the build's verdict as the last record, so a log says how its build ended. A log over its
//! limit keeps its beginning and its end (`log_overflow`).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::Stream;
use sicuro_types::log::{encode_begin, encode_line, encode_verdict};
use sicuro_types::{BuildStatus, LineKind, LogFailure, LogLine, LogWindow};
use tokio::sync::watch;

use super::log_cursor::{BATCH_BYTES, Budget, Cursor};
use super::log_index::LogIndex;
use super::log_overflow::Overflow;
use crate::db::now_ms;

/// How far a build's log file is complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub lines: u64,
    pub bytes: u64,
    /// The writer is gone: nothing more will be appended.
    pub done: bool,
    /// How the build ended, once the log has ended with its verdict.
    pub status: Option<BuildStatus>,
    /// Changes when the file was cut back (a log going over its limit): readers find their
    /// place again by line number.
    pub epoch: u64,
}

/// What a reader of a log gets: batches of lines, then once how the log ended.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEvent {
    Lines(Vec<LogLine>),
    End {
        /// The build's verdict, when the log holds it (logs written before verdicts were kept
        /// in them do not).
        status: Option<BuildStatus>,
        /// The number of the log's last line.
        lines: u64,
    },
}

/// How many lines of a failed command a build page shows.
pub const FAILURE_LINES: u64 = 20;

struct Live {
    tx: watch::Sender<Progress>,
    /// The readers' copy of the writer's index, up to what the file holds.
    index: Arc<Mutex<LogIndex>>,
}

impl Live {
    fn new() -> Self {
        Self {
            tx: watch::channel(Progress::default()).0,
            index: Arc::new(Mutex::new(LogIndex::default())),
        }
    }
}

pub struct LogStore {
    dir: PathBuf,
    live: Mutex<HashMap<i64, Live>>,
}

/// A log as a reader finds it: still being written, or finished.
enum Source {
    Live(Arc<Mutex<LogIndex>>, watch::Receiver<Progress>),
    Finished,
}

impl LogStore {
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Arc<Self>> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Arc::new(Self {
            dir,
            live: Mutex::new(HashMap::new()),
        }))
    }

    pub fn path(&self, build_id: i64) -> PathBuf {
        self.dir.join(format!("{build_id}.log"))
    }

    fn index_path(&self, build_id: i64) -> PathBuf {
        self.dir.join(format!("{build_id}.idx"))
    }

    /// Removes a finished build's log and its index (retention); a missing one is no error.
    pub fn remove(&self, build_id: i64) {
        for path in [self.path(build_id), self.index_path(build_id)] {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(
                    build = build_id,
                    "the log file {} could not be removed: {e}",
                    path.display()
                );
            }
        }
    }

    /// Announces a log that will be written (a queued build), so that readers wait for it.
    pub fn expect(&self, build_id: i64) {
        self.live
            .lock()
            .expect("log registry lock")
            .entry(build_id)
            .or_insert_with(Live::new);
    }

    /// Ends the log of a build whose job did not run (or was cut short by a restart) with a
    /// notice saying why and the verdict, appended to whatever the log holds; readers end.
    pub fn conclude(&self, build_id: i64, notice: &str, status: BuildStatus) {
        let (path, side) = (self.path(build_id), self.index_path(build_id));
        let concluded = conclude_file(&self.dir, build_id, &path, &side, notice, status);
        if let Err(e) = &concluded {
            tracing::error!(build = build_id, "the log could not be concluded: {e}");
        }
        if let Some(live) = self.live.lock().expect("log registry lock").remove(&build_id) {
            if let Ok(ix) = &concluded {
                live.index.lock().expect("log index").clone_from(ix);
            }
            let bytes = file_len(&path).unwrap_or_default();
            live.tx.send_modify(|p| {
                p.bytes = bytes;
                p.done = true;
                p.status = Some(status);
                p.epoch += 1;
            });
        }
    }

    /// Starts the log of a build, replacing anything a previous attempt left.
    pub fn create(self: &Arc<Self>, build_id: i64, limit_bytes: u64) -> io::Result<LogWriter> {
        LogWriter::create(self.clone(), build_id, limit_bytes)
    }

    fn source(&self, build_id: i64) -> Source {
        match self.live.lock().expect("log registry lock").get(&build_id) {
            Some(live) => Source::Live(live.index.clone(), live.tx.subscribe()),
            None => Source::Finished,
        }
    }

    /// The index of a log as it is now.
    pub async fn index(&self, build_id: i64) -> io::Result<LogIndex> {
        match self.source(build_id) {
            Source::Live(index, _) => Ok(index.lock().expect("log index").clone()),
            Source::Finished => {
                let (path, side) = (self.path(build_id), self.index_path(build_id));
                blocking(move || LogIndex::load_or_build(&path, &side)).await
            }
        }
    }

    /// Lines after line number `after`, in batches, until the log is complete; then its end.
    pub fn read(&self, build_id: i64, after: u64) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        let source = self.source(build_id);
        self.reader(build_id, after, source)
    }

    /// The lines written so far, without waiting for more; then where the log stands.
    pub fn snapshot(
        &self,
        build_id: i64,
        after: u64,
    ) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        let source = match self.source(build_id) {
            Source::Live(index, rx) => {
                // What the file holds now, read as if it were finished there.
                let limit = rx.borrow().bytes;
                Source::Live(
                    index,
                    watch::channel(Progress {
                        bytes: limit,
                        done: true,
                        ..*rx.borrow()
                    })
                    .1,
                )
            }
            s => s,
        };
        self.reader(build_id, after, source)
    }

    fn reader(
        &self,
        build_id: i64,
        after: u64,
        source: Source,
    ) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        let (index, rx) = match source {
            Source::Live(index, rx) => (Some(index), Some(rx)),
            Source::Finished => (None, None),
        };
        let state = ReadState {
            path: self.path(build_id),
            side: self.index_path(build_id),
            cursor: None,
            index,
            rx,
            epoch: 0,
            from: after + 1,
            status: None,
            finished: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            match s.next_batch().await {
                Ok(Some(event)) => Some((Ok(event), s)),
                Ok(None) => None,
                Err(_) if s.finished => None,
                Err(e) => {
                    s.finished = true;
                    Some((Err(e), s))
                }
            }
        })
    }

    /// Up to `max_lines` lines from line `from` (or the last `tail` lines), within a byte
    /// budget, and where they sit in the whole log.
    pub async fn window(
        &self,
        build_id: i64,
        from: Option<u64>,
        tail: Option<u64>,
        max_lines: usize,
    ) -> io::Result<LogWindow> {
        let (index, limit, done) = match self.source(build_id) {
            Source::Live(index, rx) => {
                let p = *rx.borrow();
                (index.lock().expect("log index").clone(), p.bytes, p.done)
            }
            Source::Finished => {
                let (path, side) = (self.path(build_id), self.index_path(build_id));
                let index = blocking(move || LogIndex::load_or_build(&path, &side)).await?;
                let bytes = index.bytes;
                (index, bytes, true)
            }
        };
        let last = index.last();
        let from = match (from, tail) {
            (Some(f), _) => f.max(1),
            (None, Some(t)) => (last + 1).saturating_sub(t.max(1)).max(1),
            (None, None) => 1,
        };
        let budget = Budget {
            from,
            until: u64::MAX,
            limit,
            max_lines,
            max_bytes: BATCH_BYTES * 4,
        };
        let lines = self.read_range(build_id, &index, budget).await?;
        let next = lines.last().map(LogLine::number).filter(|&n| n < last).map(|n| n + 1);
        let failure = match (done, index.status) {
            (true, Some(BuildStatus::Failure)) => self.failure(build_id, &index).await?,
            _ => None,
        };
        Ok(LogWindow {
            lines,
            last,
            started_at: index.started_at,
            gaps: index.gaps.clone(),
            sections: index.sections.clone(),
            done,
            status: index.status,
            next,
            failure,
        })
    }

    async fn read_range(&self, build_id: i64, index: &LogIndex, budget: Budget) -> io::Result<Vec<LogLine>> {
        let cursor = Cursor::at(self.path(build_id), index.locate(budget.from), index.timing());
        match cursor.read_blocking(budget).await.1 {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            r => r,
        }
    }

    /// The command a failed build failed on, and its last lines.
    async fn failure(&self, build_id: i64, index: &LogIndex) -> io::Result<Option<LogFailure>> {
        let Some((command_line, command)) = index.last_command.clone() else {
            return Ok(None);
        };
        let end = index.output_end.max(command_line);
        let from = (end + 1).saturating_sub(FAILURE_LINES).max(command_line);
        let budget = Budget {
            from,
            until: end + 1,
            limit: index.bytes,
            max_lines: FAILURE_LINES as usize,
            max_bytes: BATCH_BYTES,
        };
        let lines = self.read_range(build_id, index, budget).await?;
        let section = index
            .sections
            .iter()
            .rev()
            .find(|s| s.line < command_line)
            .map(|s| s.name.clone());
        Ok(Some(LogFailure {
            section,
            command,
            command_line,
            lines,
        }))
    }

    pub fn is_live(&self, build_id: i64) -> bool {
        self.live.lock().expect("log registry lock").contains_key(&build_id)
    }

    /// The log's file, and while it is written, its progress (for searches).
    pub(crate) fn file_and_progress(&self, build_id: i64) -> (PathBuf, Option<watch::Receiver<Progress>>) {
        let rx = match self.source(build_id) {
            Source::Live(_, rx) => Some(rx),
            Source::Finished => None,
        };
        (self.path(build_id), rx)
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// Appends a notice and the verdict to a log (putting a restarted build's kept tail first), and
/// returns its index, saved beside it.
fn conclude_file(
    dir: &Path,
    build_id: i64,
    path: &Path,
    side: &Path,
    notice: &str,
    status: BuildStatus,
) -> io::Result<LogIndex> {
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
    if file.metadata()?.len() == 0 {
        let mut begin = Vec::new();
        encode_begin(&mut begin, now_ms());
        file.write_all(&begin)?;
    }
    let mut index = LogIndex::load_or_build(path, side)?;
    let ts = |ix: &LogIndex| match (ix.relative, ix.started_at) {
        (true, Some(start)) => now_ms() - start,
        _ => now_ms(),
    };
    Overflow::recover(dir, build_id, &mut file, index.next_line, ts(&index))?;
    index.extend_from_file(path)?;
    let mut buf = Vec::new();
    for part in notice.split('\n') {
        encode_line(&mut buf, ts(&index), LineKind::Notice, part);
    }
    encode_verdict(&mut buf, ts(&index), status);
    file.write_all(&buf)?;
    file.sync_data()?;
    index.extend_from_file(path)?;
    index.save(side);
    Ok(index)
}

fn file_len(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

#[path = "log_reader.rs"]
mod reader;
#[path = "log_writer.rs"]
mod writer;

use reader::ReadState;
pub use writer::LogWriter;

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
