//! Log lines: their kinds, how they cross the wire, and the one definition of how they are stored.
//!
//! A log file holds one record per line of text: `<unix ms> <code> <text>\n`. The codes `o`, `s`,
//! `c` and `n` are lines (see [`LineKind`]); `v` is the build's verdict, written once when the log
//! ends, so a reader of the file knows how the build ended without asking the database. A record
//! that does not parse is kept as output, so a damaged file loses nothing.

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

/// One numbered log line, as stored and as streamed: `[n, ts_ms, kind, text]` on the wire.
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

/// One stored record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Line { ts: i64, kind: LineKind, text: String },
    Verdict(BuildStatus),
}

/// Appends a line record (`text` must not contain a newline).
pub fn encode_line(buf: &mut Vec<u8>, ts: i64, kind: LineKind, text: &str) {
    encode(buf, ts, kind.code(), text);
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
        for raw in [&b"garbage"[..], b"12 x text", b"12 v nonsense", b"abc o text"] {
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
}
