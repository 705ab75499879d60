//! The job's output, read from its task's log (json-file on the node, through the manager).
//!
//! A follow stream carries lines as they are printed, but it does not end when the task does
//! (nor when its node dies), so the task's state decides the end; then one plain read gets the
//! rest. Every line comes with the daemon's timestamp; a reconnect (`since` has whole seconds
//! only) re-reads the last second, and [`Cursor`] drops what was already taken: no gap, no
//! duplicate, file order.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures::Stream;

pub type LogStream = std::pin::Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Opens the task's log after what `cursor` has taken; `follow` keeps it open for new lines.
pub fn open(docker: &Docker, task_id: &str, cursor: &Cursor, follow: bool) -> LogStream {
    let options = LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        since: cursor.since(),
        until: 0,
        timestamps: true,
        tail: "all".into(),
    };
    Box::pin(docker.task_logs(task_id, Some(options)))
}

/// Nanoseconds since the Unix epoch.
pub type Stamp = i128;

/// How far the log has been taken: the last line's timestamp, and how many lines had exactly
/// that one (two lines can share a timestamp).
#[derive(Debug, Default)]
pub struct Cursor {
    last: Option<Stamp>,
    at_last: usize,
    /// Lines at `last` that the current connection has yet to repeat.
    to_skip: usize,
}

impl Cursor {
    /// The `since` of the next connection: the last line's second (0: from the start).
    fn since(&self) -> i32 {
        self.last.map_or(0, |ns| ns.div_euclid(1_000_000_000) as i32)
    }

    /// A new connection starts: it repeats the lines of the last second.
    pub fn reconnect(&mut self) {
        self.to_skip = self.at_last;
    }

    /// Whether a line with this timestamp is new (and takes it if so).
    pub fn take(&mut self, stamp: Stamp) -> bool {
        match self.last {
            Some(last) if stamp < last => false,
            Some(last) if stamp == last => {
                if self.to_skip > 0 {
                    self.to_skip -= 1;
                    false
                } else {
                    self.at_last += 1;
                    true
                }
            }
            _ => {
                self.last = Some(stamp);
                self.at_last = 1;
                self.to_skip = 0;
                true
            }
        }
    }
}

/// Splits a log message into its timestamp and its bytes (`2026-12-01T23:07:38.32248Z text`).
pub fn split(message: &[u8]) -> Option<(Stamp, &[u8])> {
    let space = memchr::memchr(b' ', message)?;
    let stamp = parse_stamp(std::str::from_utf8(&message[..space]).ok()?)?;
    Some((stamp, &message[space + 1..]))
}

/// RFC 3339 in UTC as the daemon writes it: nanoseconds, trailing zeros dropped, `Z`.
fn parse_stamp(s: &str) -> Option<Stamp> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let secs = days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_timestamps_parse_with_or_without_trailing_zeros() {
        let a = parse_stamp("2026-12-01T23:07:38.322482637Z").unwrap();
        let b = parse_stamp("2026-12-01T23:07:38.3224Z").unwrap();
        assert_eq!(a / 1_000_000_000, 1_796_166_458, "seconds since the epoch");
        assert_eq!(b % 1_000_000_000, 322_400_000);
        assert_eq!(parse_stamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_stamp("2026-12-01 23:07:38Z"), None);
        let (stamp, text) = split(b"2026-12-01T23:07:38.5Z hello world\n").unwrap();
        assert_eq!((stamp % 1_000_000_000, text), (500_000_000, &b"hello world\n"[..]));
    }

    #[test]
    fn a_reconnect_repeats_nothing_and_skips_nothing() {
        let mut c = Cursor::default();
        // The first connection takes lines 1..=4; 3 and 4 share a timestamp.
        for s in [10, 20, 30, 30] {
            assert!(c.take(s));
        }
        assert_eq!(c.since(), 0);
        // The second connection repeats the last second: 10, 20, 30, 30, then a new 30 and 40.
        c.reconnect();
        let taken: Vec<i128> = [10, 20, 30, 30, 30, 40].into_iter().filter(|s| c.take(*s)).collect();
        assert_eq!(taken, [30, 40], "only the third line at 30 and the one at 40 are new");
        c.reconnect();
        assert!(!c.take(40));
        assert!(c.take(41));
    }
}
