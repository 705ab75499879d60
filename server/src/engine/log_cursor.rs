//! Reading a log file from a known place: records become numbered lines, in batches bounded in
//! lines and in bytes. Reads block, so the async side runs them on tokio's blocking threads.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use sicuro_types::log::{Record, decode, skipped_text};
use sicuro_types::{BuildStatus, LineKind, LogLine};

use super::log_index::Timing;

/// At most this many lines in a batch…
pub const BATCH_LINES: usize = 2000;
/// …and about this many bytes of text (a batch holds at least one line, of at most 64 KiB).
pub const BATCH_BYTES: usize = 256 * 1024;

pub struct Cursor {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    /// Where the next record starts.
    pub offset: u64,
    /// The number the next line record gets.
    pub next_line: u64,
    pub timing: Timing,
    /// The verdict, once read.
    pub status: Option<BuildStatus>,
}

/// What to read: lines numbered from `from`, up to byte `limit` of the file, within a budget.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub from: u64,
    /// The first line not to read (exclusive).
    pub until: u64,
    pub limit: u64,
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Cursor {
    /// A cursor at the record of line `line`, which starts at byte `offset`.
    pub fn at(path: PathBuf, (line, offset): (u64, u64), timing: Timing) -> Self {
        Self {
            path,
            reader: None,
            offset,
            next_line: line,
            timing,
            status: None,
        }
    }

    /// Drops the open file, so the next read opens the file anew (it was replaced or cut back).
    pub fn reopen_at(&mut self, (line, offset): (u64, u64)) {
        self.reader = None;
        self.offset = offset;
        self.next_line = line;
    }

    /// Reads whole records up to `budget.limit`, returning the lines numbered in
    /// `from..until` and stopping once the batch is full. Blocks.
    pub fn read(&mut self, budget: Budget) -> io::Result<Vec<LogLine>> {
        let mut batch = Vec::new();
        let mut text_bytes = 0usize;
        if self.offset >= budget.limit || self.next_line >= budget.until {
            return Ok(batch);
        }
        if self.reader.is_none() {
            let mut f = File::open(&self.path)?;
            f.seek(SeekFrom::Start(self.offset))?;
            self.reader = Some(BufReader::with_capacity(64 * 1024, f));
        }
        let reader = self.reader.as_mut().expect("opened above");
        let mut raw = Vec::new();
        while self.offset < budget.limit && self.next_line < budget.until {
            if batch.len() >= budget.max_lines || (text_bytes >= budget.max_bytes && !batch.is_empty()) {
                break;
            }
            raw.clear();
            let n = reader.read_until(b'\n', &mut raw)?;
            if n == 0 || raw.last() != Some(&b'\n') {
                // The file is shorter than announced (it was replaced): stop here.
                self.offset = budget.limit;
                self.reader = None;
                break;
            }
            self.offset += n as u64;
            let line = match decode(&raw[..n - 1]) {
                Record::Verdict(status) => {
                    self.status = Some(status);
                    continue;
                }
                Record::Begin { ts } => {
                    if self.timing.started_at.is_none() {
                        self.timing = Timing {
                            started_at: Some(ts),
                            relative: true,
                        };
                    }
                    continue;
                }
                Record::Skipped { ts, lines, bytes } => {
                    let number = self.next_line;
                    self.next_line += lines;
                    LogLine(
                        number,
                        offset_of(&mut self.timing, ts),
                        LineKind::Notice,
                        skipped_text(lines, bytes),
                    )
                }
                Record::Line { ts, kind, text } => {
                    let number = self.next_line;
                    self.next_line += 1;
                    LogLine(number, offset_of(&mut self.timing, ts), kind, text)
                }
            };
            if line.number() < budget.from {
                continue;
            }
            text_bytes += line.text().len();
            batch.push(line);
        }
        Ok(batch)
    }

    /// `read` on a blocking thread.
    pub async fn read_blocking(mut self, budget: Budget) -> (Self, io::Result<Vec<LogLine>>) {
        match tokio::task::spawn_blocking(move || {
            let r = self.read(budget);
            (self, r)
        })
        .await
        {
            Ok(done) => done,
            Err(e) => panic!("a log read panicked: {e}"),
        }
    }
}

/// A record's time as an offset from the log's start (an old log's first record is its start).
fn offset_of(timing: &mut Timing, ts: i64) -> i64 {
    if timing.started_at.is_none() {
        timing.started_at = Some(ts);
    }
    timing.offset(ts)
}
