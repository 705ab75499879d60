//! Log lines: their kinds, how they cross the wire, and the one definition of how they are stored.
//!
//! A log file holds one record per line of text: `<ms> <code> <text>\n`. The codes `o`, `s`, `c`
//! and `n` are lines (see [`LineKind`]); `v` is the build's verdict, written once when the log
//! ends, so a reader of the file knows how the build ended without asking the database. A record
//! that does not parse is kept as output, so a damaged file loses nothing.
//!
//! A log begins with `<unix ms> b 2`: the time the log started, and that every later record's time
//! is milliseconds since then (when the line arrived). Files written before had no begin record
//! and Unix times on every line; readers take their first record's time as the start.
//!
//! `k` marks lines left out of a log over its size limit: `<ms> k <lines> <bytes>`. It is shown as
//! a notice and stands for all the left-out lines: it has the first one's number, and the next
//! line's number is `lines` higher, so every kept line keeps the number it had in the job's output.

use serde::{Deserialize, Serialize};

use crate::build::BuildStatus;

/// The kinds of log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineKind {
    /// Output of the job.
    #[serde(rename = "o")]
    Output,
    /// A phase begins; the text is its name.
    #[serde(rename = "s")]
    Section,
    /// A command is about to run; the text is the command.
    #[serde(rename = "c")]
    Command,
    /// A message from Sicuro itself (image builds, limits, the verdict).
    #[serde(rename = "n")]
    Notice,
}

impl LineKind {
    /// The storage code (also the wire name).
    pub fn code(self) -> char {
        match self {
            Self::Output => 'o',
            Self::Section => 's',
            Self::Command => 'c',
            Self::Notice => 'n',
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            b'o' => Some(Self::Output),
            b's' => Some(Self::Section),
            b'c' => Some(Self::Command),
            b'n' => Some(Self::Notice),
            _ => None,
        }
    }
}

/// The storage code of the verdict record.
pub const VERDICT_CODE: char = 'v';
/// The storage code of the record that begins a log (its start time).
pub const BEGIN_CODE: char = 'b';
/// The storage code of the record that stands for lines left out.
pub const SKIPPED_CODE: char = 'k';
/// The version a begin record names.
pub const FORMAT_VERSION: &str = "2";

/// One numbered log line, as stored and as streamed: `[n, ms, kind, text]` on the wire, where `ms`
/// is when the line arrived, in milliseconds since the log began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine(pub u64, pub i64, pub LineKind, pub String);

impl LogLine {
    pub fn number(&self) -> u64 {
        self.0
    }
    pub fn ts(&self) -> i64 {
        self.1
    }
    pub fn kind(&self) -> LineKind {
        self.2
    }
    pub fn text(&self) -> &str {
        &self.3
    }

    /// The line as plain text with its time since the log began, for downloads: `[01:02.345] text`.
    pub fn timed_text(&self) -> String {
        format!("[{}] {}", format_offset(self.ts()), self.plain_text())
    }

    /// The line as plain text, for downloads and the terminal.
    pub fn plain_text(&self) -> String {
        match self.kind() {
            LineKind::Output => self.text().to_string(),
            LineKind::Section => format!("── {} ──", self.text()),
            LineKind::Command => format!("$ {}", self.text()),
            LineKind::Notice => format!("[sicuro] {}", self.text()),
        }
    }
}

/// The `end` event of a log stream: how the build ended and how many lines its log has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEnd {
    pub status: BuildStatus,
    pub lines: u64,
}

/// `[h:]mm:ss.mmm` for a time since the log began.
pub fn format_offset(ms: i64) -> String {
    let ms = ms.max(0);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{m:02}:{s:02}.{milli:03}")
    }
}

/// What a reader shows in place of lines left out of a log over its limit.
pub fn skipped_text(lines: u64, bytes: u64) -> String {
    format!(
        "{lines} lines ({}) left out here: the log is over its size limit, so its beginning and its end are kept",
        format_size(bytes)
    )
}

fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Lines left out of a log: the marker has number `at`, and the next line `at + lines`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogGap {
    pub at: u64,
    pub lines: u64,
    pub bytes: u64,
}

/// A phase's header line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSection {
    pub line: u64,
    pub name: String,
    /// Milliseconds since the log began.
    pub ts: i64,
}

/// The command a failed build failed on, with the last lines it printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFailure {
    /// The phase it ran in (`test`).
    pub section: Option<String>,
    pub command: String,
    /// The line that shows the command.
    pub command_line: u64,
    /// Its last lines of output (the command line itself when it printed little).
    pub lines: Vec<LogLine>,
}

/// A window of a log's lines, and what a viewer needs to place it in the whole log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogWindow {
    pub lines: Vec<LogLine>,
    /// The number of the log's last line so far (0: empty).
    pub last: u64,
    /// When the log began (Unix ms), if it has begun.
    pub started_at: Option<i64>,
    pub gaps: Vec<LogGap>,
    pub sections: Vec<LogSection>,
    /// Whether the log is complete.
    pub done: bool,
    pub status: Option<BuildStatus>,
    /// Where to continue when the window was cut short by its line or byte budget.
    pub next: Option<u64>,
    /// For a failed build: the failing command.
    pub failure: Option<LogFailure>,
}

/// Server-side search of a log, as streamed: hits (line numbers) in batches, then the total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHits {
    pub lines: Vec<u64>,
    /// Hits so far, including those whose numbers were not sent (past the cap).
    pub count: u64,
    /// The last line searched so far.
    pub searched: u64,
}

/// One stored record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Line {
        ts: i64,
        kind: LineKind,
        text: String,
    },
    Verdict(BuildStatus),
    /// The log began at `ts` (Unix ms); later times are offsets from it.
    Begin {
        ts: i64,
    },
    Skipped {
        ts: i64,
        lines: u64,
        bytes: u64,
    },
}

/// Appends a line record (`text` must not contain a newline).
pub fn encode_line(buf: &mut Vec<u8>, ts: i64, kind: LineKind, text: &str) {
    encode(buf, ts, kind.code(), text);
}

/// Appends the record that begins a log: its start time, and that times are offsets from it.
pub fn encode_begin(buf: &mut Vec<u8>, unix_ms: i64) {
    encode(buf, unix_ms, BEGIN_CODE, FORMAT_VERSION);
}

/// Appends the record that stands for `lines` lines (`bytes` bytes of output) left out.
pub fn encode_skipped(buf: &mut Vec<u8>, ts: i64, lines: u64, bytes: u64) {
    encode(buf, ts, SKIPPED_CODE, &format!("{lines} {bytes}"));
}

/// Appends the verdict record that ends a log.
pub fn encode_verdict(buf: &mut Vec<u8>, ts: i64, status: BuildStatus) {
    encode(buf, ts, VERDICT_CODE, status.as_str());
}

fn encode(buf: &mut Vec<u8>, ts: i64, code: char, text: &str) {
    buf.extend_from_slice(ts.to_string().as_bytes());
    buf.push(b' ');
    buf.push(code as u8);
    buf.push(b' ');
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
}

/// Decodes one record (without its newline). Whatever does not parse is output.
pub fn decode(raw: &[u8]) -> Record {
    let text = String::from_utf8_lossy(raw);
    let mut parts = text.splitn(3, ' ');
    let ts = parts.next().and_then(|t| t.parse::<i64>().ok());
    let code = parts.next().filter(|c| c.len() == 1).map(|c| c.as_bytes()[0]);
    let rest = parts.next().unwrap_or_default();
    match (ts, code) {
        (Some(_), Some(c)) if c == VERDICT_CODE as u8 => match BuildStatus::parse(rest) {
            Some(status) => Record::Verdict(status),
            None => damaged(&text),
        },
        (Some(ts), Some(c)) if c == BEGIN_CODE as u8 && rest == FORMAT_VERSION => Record::Begin { ts },
        (Some(ts), Some(c)) if c == SKIPPED_CODE as u8 => match rest.split_once(' ') {
            Some((l, b)) if l.parse::<u64>().is_ok_and(|l| l > 0) && b.parse::<u64>().is_ok() => Record::Skipped {
                ts,
                lines: l.parse().unwrap_or(1),
                bytes: b.parse().unwrap_or(0),
            },
            _ => damaged(&text),
        },
        (Some(ts), Some(c)) => match LineKind::from_code(c) {
            Some(kind) => Record::Line {
                ts,
                kind,
                text: rest.to_string(),
            },
            None => damaged(&text),
        },
        _ => damaged(&text),
    }
}

fn damaged(text: &str) -> Record {
    Record::Line {
        ts: 0,
        kind: LineKind::Output,
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_compact_on_the_wire() {
        let l = LogLine(3, 1700, LineKind::Output, "a\r\"b".into());
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"[3,1700,"o","a\r\"b"]"#);
    }

    #[test]
    fn records_round_trip_and_damage_is_kept_as_output() {
        let mut buf = Vec::new();
        encode_line(&mut buf, 17, LineKind::Command, "make  test");
        encode_line(&mut buf, 18, LineKind::Output, "");
        encode_verdict(&mut buf, 19, BuildStatus::Failure);
        let records: Vec<Record> = buf
            .split(|b| *b == b'\n')
            .filter(|r| !r.is_empty())
            .map(decode)
            .collect();
        assert_eq!(
            records[0],
            Record::Line {
                ts: 17,
                kind: LineKind::Command,
                text: "make  test".into()
            }
        );
        assert_eq!(
            decode(b"18 o "),
            Record::Line {
                ts: 18,
                kind: LineKind::Output,
                text: String::new()
            }
        );
        assert_eq!(records.last(), Some(&Record::Verdict(BuildStatus::Failure)));
        for raw in [
            &b"garbage"[..],
            b"12 x text",
            b"12 v nonsense",
            b"abc o text",
            b"12 k 0 5",
            b"12 k many",
            b"12 b 99",
        ] {
            assert!(
                matches!(
                    decode(raw),
                    Record::Line {
                        kind: LineKind::Output,
                        ts: 0,
                        ..
                    }
                ),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn begin_and_skipped_records_round_trip() {
        let mut buf = Vec::new();
        encode_begin(&mut buf, 1_700_000_000_000);
        encode_skipped(&mut buf, 42, 1234, 99_000);
        let records: Vec<Record> = buf
            .split(|b| *b == b'\n')
            .filter(|r| !r.is_empty())
            .map(decode)
            .collect();
        assert_eq!(
            records,
            [
                Record::Begin { ts: 1_700_000_000_000 },
                Record::Skipped {
                    ts: 42,
                    lines: 1234,
                    bytes: 99_000
                }
            ]
        );
        assert!(skipped_text(1234, 99_000).starts_with("1234 lines (96.7 KiB) left out"));
    }

    #[test]
    fn offsets_read_as_minutes_seconds_and_milliseconds() {
        assert_eq!(format_offset(0), "00:00.000");
        assert_eq!(format_offset(62_345), "01:02.345");
        assert_eq!(format_offset(3_723_004), "1:02:03.004");
        let l = LogLine(1, 1500, LineKind::Command, "make".into());
        assert_eq!(l.timed_text(), "[00:01.500] $ make");
    }
}
