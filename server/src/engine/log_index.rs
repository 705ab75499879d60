//! A log's sparse index: every 1,000 lines or 1 MiB, where a line's record starts in the file, so
//! that reading a range of lines costs what the range costs, not what the log before it costs;
//! and what a viewer needs of the whole log (its start, gaps, phases, the last command).
//!
//! The writer keeps it as lines arrive (in memory, shared with readers); a finished log's is kept
//! beside it as `<id>.idx`, and rebuilt by one scan when it is missing or stale (older logs, or a
//! log a restart concluded).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sicuro_types::log::{Record, decode};
use sicuro_types::{BuildStatus, LineKind, LogGap, LogSection};

/// A checkpoint at least every this many lines…
pub const EVERY_LINES: u64 = 1000;
/// …and at least every this many bytes.
pub const EVERY_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogIndex {
    /// `(number, offset)`: the record at byte `offset` is the line numbered `number`.
    pub checkpoints: Vec<(u64, u64)>,
    /// Bytes of the file indexed (whole records only).
    pub bytes: u64,
    /// The number the next line gets.
    pub next_line: u64,
    /// When the log began (Unix ms), and whether the file's times are offsets from it.
    pub started_at: Option<i64>,
    pub relative: bool,
    pub gaps: Vec<LogGap>,
    pub sections: Vec<LogSection>,
    /// The last command's line and text.
    pub last_command: Option<(u64, String)>,
    /// The last line of the job's own (not a notice).
    pub output_end: u64,
    pub status: Option<BuildStatus>,
}

impl Default for LogIndex {
    fn default() -> Self {
        Self {
            checkpoints: Vec::new(),
            bytes: 0,
            next_line: 1,
            started_at: None,
            relative: false,
            gaps: Vec::new(),
            sections: Vec::new(),
            last_command: None,
            output_end: 0,
            status: None,
        }
    }
}

/// How a file's times read as offsets from the log's start.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    pub started_at: Option<i64>,
    pub relative: bool,
}

impl Timing {
    pub fn offset(&self, ts: i64) -> i64 {
        if self.relative {
            ts
        } else {
            (ts - self.started_at.unwrap_or(ts)).max(0)
        }
    }
}

impl LogIndex {
    /// The number of the last line (0: none).
    pub fn last(&self) -> u64 {
        self.next_line - 1
    }

    pub fn timing(&self) -> Timing {
        Timing {
            started_at: self.started_at,
            relative: self.relative,
        }
    }

    /// Takes in the record of `len` bytes at `offset` (the next in the file).
    pub fn observe(&mut self, offset: u64, len: u64, record: &Record) {
        self.bytes = offset + len;
        match record {
            Record::Begin { ts } => {
                if self.started_at.is_none() && self.next_line == 1 {
                    self.started_at = Some(*ts);
                    self.relative = true;
                }
            }
            Record::Verdict(status) => self.status = Some(*status),
            Record::Skipped { ts, lines, bytes } => {
                let number = self.number_line(offset, *ts);
                self.gaps.push(LogGap {
                    at: number,
                    lines: *lines,
                    bytes: *bytes,
                });
                self.next_line = number + lines;
            }
            Record::Line { ts, kind, text } => self.observe_line(offset, len, *ts, *kind, text),
        }
    }

    /// Takes in a line record (what `observe` does for one, without the record decoded).
    pub fn observe_line(&mut self, offset: u64, len: u64, ts: i64, kind: LineKind, text: &str) {
        self.bytes = offset + len;
        let number = self.number_line(offset, ts);
        self.next_line = number + 1;
        match kind {
            LineKind::Notice => return,
            LineKind::Section => self.sections.push(LogSection {
                line: number,
                name: text.to_string(),
                ts: self.timing().offset(ts),
            }),
            LineKind::Command => self.last_command = Some((number, text.to_string())),
            LineKind::Output => {}
        }
        self.output_end = number;
    }

    /// Makes `self` (the readers' copy) equal to `newer` (the writer's), copying only what was
    /// added since the last time.
    pub fn catch_up(&mut self, newer: &LogIndex) {
        if self.checkpoints.len() > newer.checkpoints.len()
            || self.sections.len() > newer.sections.len()
            || self.gaps.len() > newer.gaps.len()
        {
            *self = newer.clone();
            return;
        }
        let n = self.checkpoints.len();
        self.checkpoints.extend_from_slice(&newer.checkpoints[n..]);
        let n = self.sections.len();
        self.sections.extend_from_slice(&newer.sections[n..]);
        let n = self.gaps.len();
        self.gaps.extend_from_slice(&newer.gaps[n..]);
        self.bytes = newer.bytes;
        self.next_line = newer.next_line;
        self.started_at = newer.started_at;
        self.relative = newer.relative;
        self.last_command.clone_from(&newer.last_command);
        self.output_end = newer.output_end;
        self.status = newer.status;
    }

    /// The number of a line record at `offset`, with a checkpoint when one is due.
    fn number_line(&mut self, offset: u64, ts: i64) -> u64 {
        if self.started_at.is_none() {
            // A log written before logs began with their start time: its first line's.
            self.started_at = Some(ts);
        }
        let number = self.next_line;
        let due = match self.checkpoints.last() {
            None => true,
            Some(&(line, at)) => number - line >= EVERY_LINES || offset - at >= EVERY_BYTES,
        };
        if due {
            self.checkpoints.push((number, offset));
        }
        number
    }

    /// Where to start reading to reach line `line`: the last checkpoint at or before it.
    pub fn locate(&self, line: u64) -> (u64, u64) {
        let i = self.checkpoints.partition_point(|&(n, _)| n <= line);
        match i {
            0 => (1, 0),
            i => self.checkpoints[i - 1],
        }
    }

    /// Forgets everything from byte `offset` on, where line `next_line` starts (the file was cut
    /// back there).
    pub fn truncate(&mut self, offset: u64, next_line: u64) {
        self.checkpoints.retain(|&(_, at)| at < offset);
        self.sections.retain(|s| s.line < next_line);
        self.gaps.retain(|g| g.at < next_line);
        if self.last_command.as_ref().is_some_and(|(n, _)| *n >= next_line) {
            self.last_command = None;
        }
        self.output_end = self.output_end.min(next_line.saturating_sub(1));
        self.bytes = offset;
        self.next_line = next_line;
    }

    /// Reads the records from `self.bytes` to the end of the file (whole records only).
    pub fn extend_from_file(&mut self, path: &Path) -> io::Result<()> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(self.bytes))?;
        let mut reader = BufReader::with_capacity(256 * 1024, f);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let n = reader.read_until(b'\n', &mut raw)?;
            if n == 0 || raw.last() != Some(&b'\n') {
                return Ok(());
            }
            let offset = self.bytes;
            self.observe(offset, n as u64, &decode(&raw[..n - 1]));
        }
    }

    /// The index of a finished log: its side file when it covers the whole log, else extended or
    /// rebuilt by scanning (and saved for next time).
    pub fn load_or_build(log: &Path, side: &Path) -> io::Result<LogIndex> {
        let len = match std::fs::metadata(log) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LogIndex::default()),
            Err(e) => return Err(e),
        };
        let saved = std::fs::read(side)
            .ok()
            .and_then(|b| serde_json::from_slice::<LogIndex>(&b).ok())
            .filter(|ix| ix.bytes <= len);
        if let Some(ix) = &saved
            && ix.bytes == len
        {
            return Ok(ix.clone());
        }
        let mut ix = saved.unwrap_or_default();
        ix.extend_from_file(log)?;
        ix.save(side);
        Ok(ix)
    }

    /// Writes the side file (atomically: a reader never sees half of it). Failing to is not an
    /// error: the index is rebuilt from the log when needed.
    pub fn save(&self, side: &Path) {
        let tmp = side.with_extension(format!("idx.{}.tmp", std::process::id()));
        let written = serde_json::to_vec(self)
            .map_err(io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, side));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!("a log index could not be saved to {}: {e}", side.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sicuro_types::log::{encode_begin, encode_line, encode_skipped, encode_verdict};

    fn index_of(buf: &[u8]) -> LogIndex {
        let mut ix = LogIndex::default();
        let mut offset = 0u64;
        for raw in buf.split_inclusive(|b| *b == b'\n') {
            ix.observe(offset, raw.len() as u64, &decode(&raw[..raw.len() - 1]));
            offset += raw.len() as u64;
        }
        ix
    }

    #[test]
    fn checkpoints_come_every_thousand_lines_and_locate_finds_the_one_before() {
        let mut buf = Vec::new();
        encode_begin(&mut buf, 1000);
        for i in 0..2500 {
            encode_line(&mut buf, i, LineKind::Output, "x");
        }
        let ix = index_of(&buf);
        let numbers: Vec<u64> = ix.checkpoints.iter().map(|c| c.0).collect();
        assert_eq!(numbers, [1, 1001, 2001]);
        assert_eq!(ix.last(), 2500);
        assert_eq!(ix.locate(1500).0, 1001);
        assert_eq!(ix.locate(2001).0, 2001);
        assert_eq!(ix.locate(1).0, 1);
        // The checkpoint's offset is where that line's record starts.
        let at = ix.locate(1001).1 as usize;
        assert!(
            buf[at..].starts_with(b"1000 o x\n"),
            "{:?}",
            String::from_utf8_lossy(&buf[at..at + 9])
        );
        assert_eq!(ix.started_at, Some(1000));
        assert!(ix.relative);
    }

    #[test]
    fn big_lines_get_a_checkpoint_every_mebibyte() {
        let mut buf = Vec::new();
        let big = "y".repeat(300 * 1024);
        for i in 0..10 {
            encode_line(&mut buf, i, LineKind::Output, &big);
        }
        let ix = index_of(&buf);
        assert_eq!(ix.checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 5, 9]);
    }

    #[test]
    fn gaps_sections_commands_and_the_verdict_are_remembered() {
        let mut buf = Vec::new();
        encode_begin(&mut buf, 5);
        encode_line(&mut buf, 1, LineKind::Section, "test");
        encode_line(&mut buf, 2, LineKind::Command, "make");
        encode_skipped(&mut buf, 3, 100, 4000);
        encode_line(&mut buf, 4, LineKind::Output, "boom");
        encode_line(&mut buf, 5, LineKind::Notice, "make exited with code 2");
        encode_verdict(&mut buf, 6, BuildStatus::Failure);
        let ix = index_of(&buf);
        assert_eq!(
            ix.gaps,
            [LogGap {
                at: 3,
                lines: 100,
                bytes: 4000
            }]
        );
        assert_eq!(ix.last(), 104, "the notice after `boom` (103) is 104");
        assert_eq!(ix.output_end, 103);
        assert_eq!(ix.last_command, Some((2, "make".into())));
        assert_eq!(ix.sections[0].line, 1);
        assert_eq!(ix.status, Some(BuildStatus::Failure));
    }

    #[test]
    fn old_logs_count_time_from_their_first_line() {
        let mut buf = Vec::new();
        encode_line(&mut buf, 1_700_000_000_000, LineKind::Output, "a");
        let ix = index_of(&buf);
        assert_eq!(ix.started_at, Some(1_700_000_000_000));
        assert_eq!(ix.timing().offset(1_700_000_001_500), 1500);
    }

    #[test]
    fn a_missing_or_stale_side_file_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (log, side) = (dir.path().join("1.log"), dir.path().join("1.idx"));
        let mut buf = Vec::new();
        encode_begin(&mut buf, 0);
        for i in 0..1500 {
            encode_line(&mut buf, i, LineKind::Output, "z");
        }
        std::fs::write(&log, &buf).unwrap();
        let built = LogIndex::load_or_build(&log, &side).unwrap();
        assert_eq!(built.last(), 1500);
        assert!(side.exists(), "saved for next time");
        // More was appended (a restart's conclusion): the saved index is extended.
        encode_line(&mut buf, 9, LineKind::Notice, "restarted");
        std::fs::write(&log, &buf).unwrap();
        assert_eq!(LogIndex::load_or_build(&log, &side).unwrap().last(), 1501);
        std::fs::write(&side, b"not json").unwrap();
        assert_eq!(LogIndex::load_or_build(&log, &side).unwrap().last(), 1501);
    }
}
