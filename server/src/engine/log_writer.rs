//! The writing half of the log store: a build's lines appended as the job prints them, published
//! to readers at each flush, and a log over its limit cut to its beginning and end.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sicuro_types::log::{Record, encode_begin, encode_line, encode_verdict};
use sicuro_types::{BuildStatus, LineKind};

use super::super::log_index::LogIndex;
use super::super::log_overflow::Overflow;
use super::{Live, LogStore, Progress};
use crate::db::now_ms;

/// Appends a build's lines. Lines are buffered until `flush`, which the runner calls whenever
/// the container's stream has nothing more ready, so lines reach readers as they are printed.
pub struct LogWriter {
    store: Arc<LogStore>,
    build_id: i64,
    file: File,
    buf: Vec<u8>,
    committed: Progress,
    started: Instant,
    /// The writer's index, ahead of the readers' copy by what is buffered.
    index: LogIndex,
    shared: Arc<Mutex<LogIndex>>,
    limit_bytes: u64,
    /// Where the first line at or after a quarter of the limit starts: `(number, offset)`.
    quarter: Option<(u64, u64)>,
    overflow: Option<Overflow>,
    /// Records for the overflow, buffered until `flush`, and the first one's number.
    tail: Vec<u8>,
    tail_first: u64,
    /// The number the next line gets (also past the limit).
    next_line: u64,
    closed: bool,
}

impl LogWriter {
    /// Starts the log of a build, replacing anything a previous attempt left.
    pub(super) fn create(store: Arc<LogStore>, build_id: i64, limit_bytes: u64) -> io::Result<LogWriter> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(store.path(build_id))?;
        let _ = std::fs::remove_file(store.index_path(build_id));
        let started_at = now_ms();
        let mut begin = Vec::new();
        encode_begin(&mut begin, started_at);
        file.write_all(&begin)?;
        let mut index = LogIndex::default();
        index.observe(0, begin.len() as u64, &Record::Begin { ts: started_at });
        let (tx, shared) = {
            let mut live = store.live.lock().expect("log registry lock");
            let entry = live.entry(build_id).or_insert_with(Live::new);
            (entry.tx.clone(), entry.index.clone())
        };
        shared.lock().expect("log index").clone_from(&index);
        let committed = Progress {
            bytes: begin.len() as u64,
            epoch: tx.borrow().epoch + 1,
            ..Progress::default()
        };
        tx.send_replace(committed);
        Ok(LogWriter {
            store,
            build_id,
            file,
            buf: Vec::with_capacity(64 * 1024),
            committed,
            started: Instant::now(),
            index,
            shared,
            limit_bytes,
            quarter: None,
            overflow: None,
            tail: Vec::new(),
            tail_first: 0,
            next_line: 1,
            closed: false,
        })
    }

    /// Adds a line (or several, if `text` holds newlines).
    pub fn push(&mut self, kind: LineKind, text: &str) {
        for part in text.split('\n') {
            self.push_one(kind, part);
        }
    }

    fn push_one(&mut self, kind: LineKind, text: &str) {
        let ts = self.started.elapsed().as_millis() as i64;
        let number = self.next_line;
        self.next_line += 1;
        if self.overflow.is_some() {
            if self.tail.is_empty() {
                self.tail_first = number;
            }
            encode_line(&mut self.tail, ts, kind, text);
            return;
        }
        let offset = self.committed.bytes + self.buf.len() as u64;
        let before = self.buf.len();
        encode_line(&mut self.buf, ts, kind, text);
        let len = (self.buf.len() - before) as u64;
        if offset + len > self.limit_bytes {
            let record = self.buf.split_off(before);
            if let Err(e) = self.start_overflow() {
                tracing::error!(build = self.build_id, "a log over its limit could not be cut: {e}");
            }
            self.tail_first = number;
            self.tail.extend_from_slice(&record);
            return;
        }
        if self.quarter.is_none() && offset >= self.limit_bytes / 4 {
            self.quarter = Some((number, offset));
        }
        self.index.observe_line(offset, len, ts, kind, text);
    }

    /// The log reached its limit: what followed its first quarter becomes the start of its
    /// kept tail, and the log file is cut back to that quarter.
    fn start_overflow(&mut self) -> io::Result<()> {
        self.flush()?;
        let (line, offset) = self.quarter.unwrap_or((self.index.next_line, self.committed.bytes));
        let mut overflow = Overflow::new(&self.store.dir, self.build_id, line, self.limit_bytes);
        copy_records(&mut self.file, offset, self.committed.bytes, line, &mut overflow)?;
        self.file.set_len(offset)?;
        self.file.seek(SeekFrom::Start(offset))?;
        self.index.truncate(offset, line);
        self.shared.lock().expect("log index").clone_from(&self.index);
        self.committed.bytes = offset;
        self.committed.lines = line - 1;
        self.committed.epoch += 1;
        self.overflow = Some(overflow);
        self.publish();
        Ok(())
    }

    /// Writes the buffered lines and tells readers.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(overflow) = &mut self.overflow {
            let records = std::mem::take(&mut self.tail);
            return overflow.append(&records, self.tail_first);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.committed.bytes += self.buf.len() as u64;
        self.committed.lines = self.index.last();
        self.buf.clear();
        self.shared.lock().expect("log index").catch_up(&self.index);
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        if let Some(live) = self.store.live.lock().expect("log registry lock").get(&self.build_id) {
            live.tx.send_replace(self.committed);
        }
    }

    /// Lines of the job's output so far (also those past the limit), including buffered ones.
    pub fn lines(&self) -> u64 {
        self.next_line - 1
    }

    pub fn bytes(&self) -> u64 {
        self.committed.bytes + self.buf.len() as u64
    }

    /// Writes what is left and the build's verdict, makes it durable and ends the log for readers.
    pub fn finish(mut self, status: BuildStatus) -> io::Result<Progress> {
        let result = self.complete(Some(status));
        result.map(|_| self.committed)
    }

    /// Puts a kept tail in place, ends the log with the verdict (when there is one), saves the
    /// index and releases the readers.
    fn complete(&mut self, status: Option<BuildStatus>) -> io::Result<()> {
        self.closed = true;
        let written = self.write_end(status);
        let mut done = self.committed;
        done.done = true;
        done.status = status;
        self.shared.lock().expect("log index").clone_from(&self.index);
        if let Some(live) = self
            .store
            .live
            .lock()
            .expect("log registry lock")
            .remove(&self.build_id)
        {
            live.tx.send_replace(done);
        }
        written
    }

    fn write_end(&mut self, status: Option<BuildStatus>) -> io::Result<()> {
        self.flush()?;
        let ts = self.started.elapsed().as_millis() as i64;
        if let Some(overflow) = self.overflow.take() {
            overflow.finish(&mut self.file, ts)?;
            self.index.extend_from_file(&self.store.path(self.build_id))?;
            self.committed.bytes = self.index.bytes;
            self.committed.epoch += 1;
        }
        if let Some(status) = status {
            let offset = self.committed.bytes + self.buf.len() as u64;
            let before = self.buf.len();
            encode_verdict(&mut self.buf, ts, status);
            let len = (self.buf.len() - before) as u64;
            self.index.observe(offset, len, &Record::Verdict(status));
        }
        self.file.write_all(&self.buf)?;
        self.committed.bytes += self.buf.len() as u64;
        self.buf.clear();
        self.committed.lines = self.index.last();
        self.file.sync_data()?;
        self.index.save(&self.store.index_path(self.build_id));
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // A writer dropped without `finish` (a panic, a canceled task) still releases its readers.
        if !self.closed {
            let _ = self.complete(None);
        }
    }
}

/// Copies the whole records in `from..to` of `file`, whose first is line `line`, to `overflow`.
fn copy_records(file: &mut File, from: u64, to: u64, line: u64, overflow: &mut Overflow) -> io::Result<()> {
    let mut reader = file.try_clone()?;
    reader.seek(SeekFrom::Start(from))?;
    let mut reader = reader.take(to - from);
    let mut chunk = vec![0u8; 1 << 20];
    let mut carry = Vec::new();
    let mut line = line;
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&chunk[..n]);
        if let Some(end) = memchr::memrchr(b'\n', &carry) {
            let whole: Vec<u8> = carry.drain(..=end).collect();
            overflow.append(&whole, line)?;
            line += memchr::memchr_iter(b'\n', &whole).count() as u64;
        }
    }
    Ok(())
}
