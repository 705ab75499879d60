//! Build logs: one append-only file per build, written line by line as the job prints, and a
//! `watch` channel per live build that says how far the file is complete.
//!
//! Readers never get lines from memory: they read the file up to the published length and wait
//! for the next change. So a late subscriber sees the stored lines and then the live ones with no
//! gap and no duplicate, a slow subscriber costs no memory, and a crash keeps every line written.
//!
//! The file format is defined once, in `sicuro_types::log`: a record per line, and the build's
//! verdict as the last record, so a log says how its build ended.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::Stream;
use sicuro_types::log::{Record, decode, encode_line, encode_verdict};
use sicuro_types::{BuildStatus, LineKind, LogLine};
use tokio::sync::watch;

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
}

/// What a reader of a log gets: batches of lines, then once how the log ended.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEvent {
    Lines(Vec<LogLine>),
    End {
        /// The build's verdict, when the log holds it (logs written before verdicts were kept
        /// in them do not).
        status: Option<BuildStatus>,
        /// The number of lines in the log.
        lines: u64,
    },
}

pub struct LogStore {
    dir: PathBuf,
    live: Mutex<HashMap<i64, watch::Sender<Progress>>>,
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

    /// Announces a log that will be written (a queued build), so that readers wait for it.
    pub fn expect(&self, build_id: i64) {
        self.live
            .lock()
            .expect("log registry lock")
            .entry(build_id)
            .or_insert_with(|| watch::channel(Progress::default()).0);
    }

    /// Ends the log of a build whose job did not run (or was cut short by a restart) with a
    /// notice saying why and the verdict, appended to whatever the log holds; readers end.
    pub fn conclude(&self, build_id: i64, notice: &str, status: BuildStatus) {
        let mut buf = Vec::new();
        for part in notice.split('\n') {
            encode_line(&mut buf, now_ms(), LineKind::Notice, part);
        }
        encode_verdict(&mut buf, now_ms(), status);
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(build_id))
            .and_then(|mut f| f.write_all(&buf).and_then(|_| f.sync_data()));
        if let Err(e) = written {
            tracing::error!(build = build_id, "the log could not be concluded: {e}");
        }
        if let Some(tx) = self.live.lock().expect("log registry lock").remove(&build_id) {
            let bytes = file_len(&self.path(build_id)).unwrap_or_default();
            tx.send_modify(|p| {
                p.bytes = bytes;
                p.done = true;
                p.status = Some(status);
            });
        }
    }

    /// Starts the log of a build, replacing anything a previous attempt left.
    pub fn create(self: &Arc<Self>, build_id: i64, limit_bytes: u64) -> io::Result<LogWriter> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.path(build_id))?;
        let tx = self
            .live
            .lock()
            .expect("log registry lock")
            .entry(build_id)
            .or_insert_with(|| watch::channel(Progress::default()).0)
            .clone();
        tx.send_replace(Progress::default());
        Ok(LogWriter {
            store: self.clone(),
            build_id,
            file,
            buf: Vec::with_capacity(64 * 1024),
            committed: Progress::default(),
            pending_lines: 0,
            limit_bytes,
            truncated: false,
        })
    }

    /// Lines after line number `after`, in batches, until the log is complete; then its end.
    pub fn read(&self, build_id: i64, after: u64) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        let rx = self
            .live
            .lock()
            .expect("log registry lock")
            .get(&build_id)
            .map(watch::Sender::subscribe);
        self.reader(build_id, after, rx)
    }

    /// The lines written so far, without waiting for more; then where the log stands.
    pub fn snapshot(
        &self,
        build_id: i64,
        after: u64,
    ) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        self.reader(build_id, after, None)
    }

    fn reader(
        &self,
        build_id: i64,
        after: u64,
        rx: Option<watch::Receiver<Progress>>,
    ) -> impl Stream<Item = io::Result<LogEvent>> + Send + 'static + use<> {
        let state = ReadState {
            path: self.path(build_id),
            reader: None,
            rx,
            next_line: 1,
            offset: 0,
            after,
            status: None,
            finished: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            match s.next_batch().await {
                Ok(Some(event)) => Some((Ok(event), s)),
                Ok(None) => None,
                Err(e) if s.finished => {
                    let _ = e;
                    None
                }
                Err(e) => {
                    s.finished = true;
                    Some((Err(e), s))
                }
            }
        })
    }

    pub fn is_live(&self, build_id: i64) -> bool {
        self.live.lock().expect("log registry lock").contains_key(&build_id)
    }
}

/// Appends a build's lines. Lines are buffered until `flush`, which the runner calls whenever
/// the container's stream has nothing more ready, so lines reach readers as they are printed.
pub struct LogWriter {
    store: Arc<LogStore>,
    build_id: i64,
    file: File,
    buf: Vec<u8>,
    committed: Progress,
    pending_lines: u64,
    limit_bytes: u64,
    truncated: bool,
}

impl LogWriter {
    /// Adds a line (or several, if `text` holds newlines).
    pub fn push(&mut self, kind: LineKind, text: &str) {
        for part in text.split('\n') {
            self.push_one(kind, part);
        }
    }

    fn push_one(&mut self, kind: LineKind, text: &str) {
        if self.truncated && kind != LineKind::Notice {
            return;
        }
        let size = (text.len() + 24) as u64;
        let used = self.committed.bytes + self.buf.len() as u64;
        if !self.truncated && kind != LineKind::Notice && used + size > self.limit_bytes {
            self.truncated = true;
            let notice = format!(
                "The log reached its limit of {}; later output is not kept. The build goes on.",
                super::limits::format_bytes(self.limit_bytes)
            );
            self.append(LineKind::Notice, &notice);
            return;
        }
        self.append(kind, text);
    }

    fn append(&mut self, kind: LineKind, text: &str) {
        encode_line(&mut self.buf, now_ms(), kind, text);
        self.pending_lines += 1;
    }

    /// Writes the buffered lines and tells readers.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.committed.bytes += self.buf.len() as u64;
        self.committed.lines += self.pending_lines;
        self.buf.clear();
        self.pending_lines = 0;
        let p = self.committed;
        if let Some(tx) = self.store.live.lock().expect("log registry lock").get(&self.build_id) {
            tx.send_replace(p);
        }
        Ok(())
    }

    /// Lines written so far, including buffered ones.
    pub fn lines(&self) -> u64 {
        self.committed.lines + self.pending_lines
    }

    pub fn bytes(&self) -> u64 {
        self.committed.bytes + self.buf.len() as u64
    }

    /// Writes what is left and the build's verdict, makes it durable and ends the log for readers.
    pub fn finish(mut self, status: BuildStatus) -> io::Result<Progress> {
        encode_verdict(&mut self.buf, now_ms(), status);
        let result = self.flush().and_then(|_| self.file.sync_data());
        self.close(Some(status));
        result.map(|_| self.committed)
    }

    fn close(&mut self, status: Option<BuildStatus>) {
        let mut done = self.committed;
        done.done = true;
        done.status = status;
        if let Some(tx) = self
            .store
            .live
            .lock()
            .expect("log registry lock")
            .remove(&self.build_id)
        {
            tx.send_replace(done);
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // A writer dropped without `finish` (a panic, a canceled task) still releases its readers.
        if self.store.is_live(self.build_id) {
            let _ = self.flush();
            self.close(None);
        }
    }
}

struct ReadState {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    rx: Option<watch::Receiver<Progress>>,
    /// Number of the next line in the file.
    next_line: u64,
    /// Bytes of the file consumed.
    offset: u64,
    after: u64,
    /// The verdict, once read from the file or announced by the writer.
    status: Option<BuildStatus>,
    finished: bool,
}

const BATCH_LINES: usize = 2000;

impl ReadState {
    async fn next_batch(&mut self) -> io::Result<Option<LogEvent>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let (limit, done) = match &mut self.rx {
                Some(rx) => {
                    let p = *rx.borrow_and_update();
                    self.status = self.status.or(p.status);
                    (p.bytes, p.done)
                }
                None => (file_len(&self.path)?, true),
            };
            if self.offset < limit {
                let batch = self.read_until(limit)?;
                if !batch.is_empty() {
                    return Ok(Some(LogEvent::Lines(batch)));
                }
                continue;
            }
            if done {
                self.finished = true;
                return Ok(Some(LogEvent::End {
                    status: self.status,
                    lines: self.next_line - 1,
                }));
            }
            let rx = self.rx.as_mut().expect("live logs have a receiver");
            if rx.changed().await.is_err() {
                // The writer vanished without a final word: read what the file holds, then end.
                self.rx = None;
            }
        }
    }

    /// Reads whole lines up to byte `limit`, at most one batch, skipping lines up to `after`.
    fn read_until(&mut self, limit: u64) -> io::Result<Vec<LogLine>> {
        if self.reader.is_none() {
            let mut f = File::open(&self.path)?;
            f.seek(SeekFrom::Start(self.offset))?;
            self.reader = Some(BufReader::with_capacity(256 * 1024, f));
        }
        let reader = self.reader.as_mut().expect("opened above");
        let mut batch = Vec::new();
        let mut raw = Vec::new();
        while self.offset < limit && batch.len() < BATCH_LINES {
            raw.clear();
            let n = reader.read_until(b'\n', &mut raw)?;
            if n == 0 || raw.last() != Some(&b'\n') {
                // The file is shorter than announced (it was replaced): stop here.
                self.offset = limit;
                break;
            }
            self.offset += n as u64;
            let (ts, kind, text) = match decode(&raw[..raw.len() - 1]) {
                Record::Verdict(status) => {
                    self.status = Some(status);
                    continue;
                }
                Record::Line { ts, kind, text } => (ts, kind, text),
            };
            let number = self.next_line;
            self.next_line += 1;
            if number <= self.after {
                continue;
            }
            batch.push(LogLine(number, ts, kind, text));
        }
        Ok(batch)
    }
}

fn file_len(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn collect(store: &Arc<LogStore>, id: i64, after: u64) -> Vec<LogLine> {
        collect_with_end(store, id, after).await.0
    }

    async fn collect_with_end(store: &Arc<LogStore>, id: i64, after: u64) -> (Vec<LogLine>, Option<LogEvent>) {
        let mut out = Vec::new();
        let mut end = None;
        let mut s = std::pin::pin!(store.read(id, after));
        while let Some(event) = s.next().await {
            match event.unwrap() {
                LogEvent::Lines(batch) => out.extend(batch),
                e @ LogEvent::End { .. } => end = Some(e),
            }
        }
        (out, end)
    }

    #[tokio::test]
    async fn finished_logs_read_back_numbered_and_resume_after_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        let mut w = store.create(7, 1 << 20).unwrap();
        w.push(LineKind::Section, "setup");
        w.push(LineKind::Command, "make");
        w.push(LineKind::Output, "a b  c\r");
        w.push(LineKind::Notice, "two\nlines");
        w.finish(BuildStatus::Success).unwrap();

        let lines = collect(&store, 7, 0).await;
        let got: Vec<_> = lines.iter().map(|l| (l.number(), l.kind(), l.text())).collect();
        assert_eq!(
            got,
            [
                (1, LineKind::Section, "setup"),
                (2, LineKind::Command, "make"),
                (3, LineKind::Output, "a b  c\r"),
                (4, LineKind::Notice, "two"),
                (5, LineKind::Notice, "lines"),
            ]
        );
        let tail = collect(&store, 7, 3).await;
        assert_eq!(tail.iter().map(|l| l.number()).collect::<Vec<_>>(), [4, 5]);
    }

    #[tokio::test]
    async fn a_late_subscriber_sees_every_line_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        store.expect(1);
        // A reader that subscribes before the build starts.
        let early = tokio::spawn({
            let store = store.clone();
            async move { collect(&store, 1, 0).await }
        });
        let mut w = store.create(1, 1 << 30).unwrap();
        let mut late = None;
        for i in 1..=10_000u32 {
            w.push(LineKind::Output, &format!("line {i}"));
            if i % 7 == 0 {
                w.flush().unwrap();
                tokio::task::yield_now().await;
            }
            if i == 5_000 {
                let store = store.clone();
                late = Some(tokio::spawn(async move { collect(&store, 1, 0).await }));
            }
        }
        w.finish(BuildStatus::Success).unwrap();
        for reader in [early, late.unwrap()] {
            let lines = reader.await.unwrap();
            assert_eq!(lines.len(), 10_000);
            for (i, l) in lines.iter().enumerate() {
                assert_eq!(l.number(), i as u64 + 1);
                assert_eq!(l.text(), format!("line {}", i + 1));
            }
        }
    }

    #[tokio::test]
    async fn the_size_limit_truncates_with_a_notice_and_keeps_notices() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        let mut w = store.create(3, 1000).unwrap();
        for i in 0..100 {
            w.push(LineKind::Output, &format!("output line number {i}"));
        }
        w.push(LineKind::Notice, "verdict");
        let p = w.finish(BuildStatus::Success).unwrap();
        assert!(p.bytes < 1200, "{p:?}");
        let lines = collect(&store, 3, 0).await;
        let texts: Vec<_> = lines.iter().map(|l| l.text()).collect();
        assert!(
            texts.iter().any(|t| t.contains("reached its limit of 1000 B")),
            "{texts:?}"
        );
        assert_eq!(texts.last(), Some(&"verdict"));
    }

    #[tokio::test]
    async fn readers_of_an_abandoned_log_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        store.expect(9);
        let reader = tokio::spawn({
            let store = store.clone();
            async move { collect_with_end(&store, 9, 0).await }
        });
        tokio::task::yield_now().await;
        store.conclude(9, "canceled before it started", BuildStatus::Canceled);
        let (lines, end) = reader.await.unwrap();
        assert_eq!(
            lines.iter().map(|l| l.text()).collect::<Vec<_>>(),
            ["canceled before it started"]
        );
        assert_eq!(
            end,
            Some(LogEvent::End {
                status: Some(BuildStatus::Canceled),
                lines: 1
            })
        );
    }

    #[tokio::test]
    async fn the_verdict_travels_with_the_log_to_live_and_late_readers() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        store.expect(4);
        let live = tokio::spawn({
            let store = store.clone();
            async move { collect_with_end(&store, 4, 0).await.1 }
        });
        let mut w = store.create(4, 1 << 20).unwrap();
        w.push(LineKind::Output, "ok");
        w.finish(BuildStatus::Failure).unwrap();
        let ended = Some(LogEvent::End {
            status: Some(BuildStatus::Failure),
            lines: 1,
        });
        assert_eq!(live.await.unwrap(), ended);
        // A reader of the finished file learns the verdict from the file alone.
        assert_eq!(collect_with_end(&store, 4, 0).await.1, ended);
        // A restart's conclusion is appended after what the job wrote.
        store.conclude(4, "the server restarted during the build", BuildStatus::Error);
        let (lines, end) = collect_with_end(&store, 4, 0).await;
        assert_eq!(lines.len(), 2);
        assert!(matches!(
            end,
            Some(LogEvent::End {
                status: Some(BuildStatus::Error),
                lines: 2
            })
        ));
    }
}
