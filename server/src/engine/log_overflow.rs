//! A log over its size limit keeps its beginning and its end: the first quarter of the limit
//! stays in the log file, and the output after it goes to segment files beside it, of which the
//! newest three quarters of the limit are kept. When the log ends, one record standing for the
//! lines left out and then the kept segments are appended to the log file, so every kept line
//! keeps its number. Disk use stays near the limit however much the job prints.
//!
//! Segments are named `<id>.tail.<first line>.<bytes left out before it>`, so a restart can
//! still put a log together from what is on disk.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sicuro_types::log::encode_skipped;

pub struct Segment {
    path: PathBuf,
    first_line: u64,
    /// Bytes of output left out between the log's head and this segment.
    left_out_before: u64,
    bytes: u64,
}

pub struct Overflow {
    dir: PathBuf,
    build_id: i64,
    /// The marker's number: the first line not in the head.
    marker_line: u64,
    keep_bytes: u64,
    segment_bytes: u64,
    kept: VecDeque<Segment>,
    current: Option<(File, Segment)>,
    left_out: u64,
}

impl Overflow {
    /// Starts keeping the tail of a log whose head ends before line `marker_line`, limited to
    /// `limit` bytes in all.
    pub fn new(dir: &Path, build_id: i64, marker_line: u64, limit: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            build_id,
            marker_line,
            keep_bytes: limit / 4 * 3,
            segment_bytes: (limit / 8).max(4096),
            kept: VecDeque::new(),
            current: None,
            left_out: 0,
        }
    }

    /// Appends encoded line records (one line each) whose first line is numbered `first_line`,
    /// starting a new segment at a record boundary whenever one is full.
    pub fn append(&mut self, mut records: &[u8], mut first_line: u64) -> io::Result<()> {
        while !records.is_empty() {
            let room = self
                .segment_bytes
                .saturating_sub(self.current.as_ref().map_or(0, |(_, s)| s.bytes));
            // Whole records that fit (at least one).
            let mut take = 0usize;
            let mut lines = 0u64;
            for i in memchr::memchr_iter(b'\n', records) {
                if take > 0 && (i + 1) as u64 > room {
                    break;
                }
                take = i + 1;
                lines += 1;
            }
            if take == 0 {
                take = records.len();
            }
            self.write_to_segment(&records[..take], first_line)?;
            records = &records[take..];
            first_line += lines;
        }
        Ok(())
    }

    fn write_to_segment(&mut self, records: &[u8], first_line: u64) -> io::Result<()> {
        if self.current.is_none() {
            let segment = Segment {
                path: self
                    .dir
                    .join(format!("{}.tail.{first_line}.{}", self.build_id, self.left_out)),
                first_line,
                left_out_before: self.left_out,
                bytes: 0,
            };
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&segment.path)?;
            self.current = Some((file, segment));
        }
        let (file, segment) = self.current.as_mut().expect("opened above");
        file.write_all(records)?;
        segment.bytes += records.len() as u64;
        if segment.bytes >= self.segment_bytes {
            let (_, full) = self.current.take().expect("current");
            self.kept.push_back(full);
            self.drop_oldest();
        }
        Ok(())
    }

    fn drop_oldest(&mut self) {
        while self.kept.iter().map(|s| s.bytes).sum::<u64>() > self.keep_bytes && self.kept.len() > 1 {
            let old = self.kept.pop_front().expect("more than one");
            self.left_out += old.bytes;
            let _ = std::fs::remove_file(&old.path);
        }
    }

    /// Writes the marker and the kept segments to the end of `log`; removes the segments.
    pub fn finish(mut self, log: &mut File, ts: i64) -> io::Result<()> {
        if let Some((_, s)) = self.current.take() {
            self.kept.push_back(s);
        }
        append_tail(log, self.marker_line, ts, self.kept.into_iter().collect())
    }

    /// After a restart: puts the segments a build left on disk at the end of its log.
    pub fn recover(dir: &Path, build_id: i64, log: &mut File, marker_line: u64, ts: i64) -> io::Result<()> {
        let prefix = format!("{build_id}.tail.");
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((first, before)) = name.strip_prefix(&prefix).and_then(|r| r.split_once('.')) else {
                continue;
            };
            let (Ok(first_line), Ok(left_out_before)) = (first.parse(), before.parse()) else {
                continue;
            };
            segments.push(Segment {
                path: entry.path(),
                first_line,
                left_out_before,
                bytes: entry.metadata()?.len(),
            });
        }
        if segments.is_empty() {
            return Ok(());
        }
        segments.sort_by_key(|s| s.first_line);
        append_tail(log, marker_line, ts, segments)
    }
}

fn append_tail(log: &mut File, marker_line: u64, ts: i64, segments: Vec<Segment>) -> io::Result<()> {
    let Some(first) = segments.first() else {
        return Ok(());
    };
    // Nothing is left out when the tail kept all that followed the head.
    let lines = first.first_line.saturating_sub(marker_line);
    if lines > 0 {
        let mut marker = Vec::new();
        encode_skipped(&mut marker, ts, lines, first.left_out_before);
        log.write_all(&marker)?;
    }
    for s in &segments {
        let mut f = File::open(&s.path)?;
        io::copy(&mut f, log)?;
    }
    log.sync_data()?;
    for s in &segments {
        let _ = std::fs::remove_file(&s.path);
    }
    Ok(())
}
