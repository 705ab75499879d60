//! Searching a whole log on the server: a substring (case-insensitive unless asked) or a regular
//! expression, over the visible text of every line (colour codes left out). Hits stream out as
//! line numbers with a running count; a running log's new lines are searched as they arrive.
//!
//! The file is scanned in chunks of whole records with one `regex` pass per chunk; only the lines
//! a match touches (and lines with colour codes, whose visible text differs) are checked one by
//! one, so a million lines cost a few passes of a fast matcher, not a million small ones.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use futures::Stream;
use regex::bytes::{Regex, RegexBuilder};
use sicuro_types::SearchHits;
use tokio::sync::watch;

use super::log_store::{LogStore, Progress};

/// Line numbers sent per search; past this only the count goes on (a client asks again from
/// the last hit it knows for more).
pub const MAX_HIT_NUMBERS: usize = 100_000;
const FIRST_CHUNK: usize = 256 * 1024;
const CHUNK: usize = 4 << 20;

/// What to look for.
#[derive(Clone, Debug)]
pub struct Query {
    pub text: String,
    pub regex: bool,
    pub case_sensitive: bool,
    /// Only lines after this one.
    pub after: u64,
}

/// A query that cannot be searched for, said so that it can be fixed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(String);

impl Query {
    pub fn matcher(&self) -> Result<Matcher, QueryError> {
        if self.text.is_empty() {
            return Err(QueryError("the search is empty".into()));
        }
        if self.text.len() > 1000 {
            return Err(QueryError("the search is longer than 1,000 characters".into()));
        }
        let pattern = if self.regex {
            self.text.clone()
        } else {
            regex::escape(&self.text)
        };
        let regex = RegexBuilder::new(&pattern)
            .case_insensitive(!self.case_sensitive)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| QueryError(format!("not a valid regular expression: {e}")))?;
        // Anchors mean the start and end of a line's text, which a pass over whole records
        // cannot see: such patterns are checked line by line.
        let per_line = self.regex
            && (self.text.contains('^')
                || self.text.contains('$')
                || self.text.contains("\\A")
                || self.text.contains("\\z"));
        Ok(Matcher { regex, per_line })
    }
}

pub struct Matcher {
    regex: Regex,
    per_line: bool,
}

/// What a search reports: hits so far (sent as they are found), then the whole count.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchEvent {
    Hits(SearchHits),
    End(SearchHits),
}

pub fn search(
    store: &Arc<LogStore>,
    build_id: i64,
    query: Query,
) -> impl Stream<Item = io::Result<SearchEvent>> + Send + 'static + use<> {
    let (path, rx) = store.file_and_progress(build_id);
    let matcher = query.matcher();
    let state = SearchState {
        scanner: matcher.map(|m| Scanner::new(path, m, query.after)).map_err(|e| e.0),
        rx,
        epoch: None,
        finished: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        match s.next().await {
            Ok(Some(e)) => Some((Ok(e), s)),
            Ok(None) => None,
            Err(e) => {
                if s.finished {
                    return None;
                }
                s.finished = true;
                Some((Err(e), s))
            }
        }
    })
}

struct SearchState {
    scanner: Result<Scanner, String>,
    rx: Option<watch::Receiver<Progress>>,
    epoch: Option<u64>,
    finished: bool,
}

impl SearchState {
    async fn next(&mut self) -> io::Result<Option<SearchEvent>> {
        if self.finished {
            return Ok(None);
        }
        let scanner = match &mut self.scanner {
            Ok(s) => s,
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e.clone())),
        };
        loop {
            let (limit, done, epoch) = match &mut self.rx {
                Some(rx) => {
                    let p = *rx.borrow_and_update();
                    (p.bytes, p.done, p.epoch)
                }
                None => (file_len(&scanner.path), true, 0),
            };
            if self.epoch.is_some_and(|e| e != epoch) {
                // The file was cut back: search it again from the start, reporting only new hits.
                scanner.restart();
            }
            self.epoch = Some(epoch);
            if scanner.offset < limit {
                let hits = scanner.scan_blocking(limit).await?;
                if !hits.lines.is_empty() || scanner.chunks % 8 == 0 {
                    return Ok(Some(SearchEvent::Hits(hits)));
                }
                continue;
            }
            if done {
                self.finished = true;
                return Ok(Some(SearchEvent::End(scanner.report(Vec::new()))));
            }
            let rx = self.rx.as_mut().expect("live logs have a receiver");
            if rx.changed().await.is_err() {
                self.rx = None;
            }
        }
    }
}

struct Scanner {
    path: PathBuf,
    file: Option<Arc<File>>,
    matcher: Arc<Matcher>,
    offset: u64,
    next_line: u64,
    /// Hits below this line were reported before the file was cut back.
    report_from: u64,
    count: u64,
    sent: usize,
    chunks: u64,
}

impl Scanner {
    fn new(path: PathBuf, matcher: Matcher, after: u64) -> Self {
        Self {
            path,
            file: None,
            matcher: Arc::new(matcher),
            offset: 0,
            next_line: 1,
            report_from: after + 1,
            count: 0,
            sent: 0,
            chunks: 0,
        }
    }

    fn restart(&mut self) {
        self.report_from = self.report_from.max(self.next_line);
        self.offset = 0;
        self.next_line = 1;
        self.file = None;
    }

    fn report(&self, lines: Vec<u64>) -> SearchHits {
        SearchHits {
            lines,
            count: self.count,
            searched: self.next_line - 1,
        }
    }

    /// Scans one chunk of whole records below `limit` on a blocking thread.
    async fn scan_blocking(&mut self, limit: u64) -> io::Result<SearchHits> {
        let file = match &self.file {
            Some(f) => f.clone(),
            None => {
                let path = self.path.clone();
                let f = Arc::new(
                    tokio::task::spawn_blocking(move || File::open(path))
                        .await
                        .map_err(io::Error::other)??,
                );
                self.file = Some(f.clone());
                f
            }
        };
        let size = if self.chunks == 0 { FIRST_CHUNK } else { CHUNK };
        let (offset, first_line, matcher) = (self.offset, self.next_line, self.matcher.clone());
        let (consumed, next_line, numbers) = tokio::task::spawn_blocking(move || {
            let want = (limit - offset).min(size as u64) as usize;
            let mut chunk = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match file.read_at(&mut chunk[got..], offset + got as u64)? {
                    0 => break,
                    n => got += n,
                }
            }
            chunk.truncate(got);
            // Whole records only; a record longer than the chunk is read whole.
            let whole = match memchr::memrchr(b'\n', &chunk) {
                Some(i) => i + 1,
                None => {
                    let mut rest = Vec::new();
                    let mut at = offset + got as u64;
                    let mut byte = [0u8; 64 * 1024];
                    loop {
                        let n = file.read_at(&mut byte, at)?;
                        if n == 0 {
                            break;
                        }
                        if let Some(i) = memchr::memchr(b'\n', &byte[..n]) {
                            rest.extend_from_slice(&byte[..=i]);
                            break;
                        }
                        rest.extend_from_slice(&byte[..n]);
                        at += n as u64;
                    }
                    chunk.extend_from_slice(&rest);
                    if chunk.last() != Some(&b'\n') {
                        return Ok::<_, io::Error>((0, first_line, Vec::new()));
                    }
                    chunk.len()
                }
            };
            let mut numbers = Vec::new();
            let next = hits_in(&chunk[..whole], first_line, &matcher, &mut numbers);
            Ok((whole as u64, next, numbers))
        })
        .await
        .map_err(io::Error::other)??;
        if consumed == 0 {
            // A partial record at the end of what was announced: wait for the rest.
            self.offset = limit;
            return Ok(self.report(Vec::new()));
        }
        self.offset += consumed;
        self.next_line = next_line;
        self.chunks += 1;
        let mut lines: Vec<u64> = numbers.into_iter().filter(|&n| n >= self.report_from).collect();
        self.count += lines.len() as u64;
        let room = MAX_HIT_NUMBERS.saturating_sub(self.sent);
        lines.truncate(room);
        self.sent += lines.len();
        Ok(self.report(lines))
    }
}

/// The numbers of the lines in `chunk` (whole records, the first numbered `first_line`) whose
/// visible text matches; returns the next line's number.
pub fn hits_in(chunk: &[u8], first_line: u64, matcher: &Matcher, out: &mut Vec<u64>) -> u64 {
    let mut matches = if matcher.per_line {
        None
    } else {
        Some(matcher.regex.find_iter(chunk).map(|m| (m.start(), m.end())).peekable())
    };
    let mut escapes = memchr::memchr_iter(0x1b, chunk).peekable();
    let mut number = first_line;
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', chunk) {
        let record = &chunk[start..end];
        let (line_start, line_end) = (start, end);
        start = end + 1;
        let (code, text) = split_record(record);
        let is_line = match code {
            Some(b'v' | b'b') => false,
            Some(b'k') => {
                let skipped = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.split(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(1);
                number += skipped;
                continue;
            }
            _ => true,
        };
        if !is_line {
            continue;
        }
        let this = number;
        number += 1;
        let touched = match &mut matches {
            None => true,
            Some(m) => {
                // Matches that end before this record are behind us; one that reaches into it
                // (or starts in it) touches it.
                while m.peek().is_some_and(|&(_, e)| e <= line_start) {
                    m.next();
                }
                m.peek().is_some_and(|&(s, _)| s <= line_end)
            }
        };
        let mut coloured = false;
        while let Some(&i) = escapes.peek() {
            if i >= line_end {
                break;
            }
            escapes.next();
            coloured |= i >= line_start;
        }
        if !touched && !coloured {
            continue;
        }
        let visible: Cow<[u8]> = if coloured {
            strip_ansi(text)
        } else {
            Cow::Borrowed(text)
        };
        if matcher.regex.is_match(&visible) {
            out.push(this);
        }
    }
    number
}

/// A record's code and text; a record that does not parse is output, all of it text.
fn split_record(record: &[u8]) -> (Option<u8>, &[u8]) {
    if let Some(sp) = memchr::memchr(b' ', record)
        && record[..sp].iter().all(u8::is_ascii_digit)
        && sp > 0
        && record.len() >= sp + 2
        && (record.len() == sp + 2 || record[sp + 2] == b' ')
    {
        let code = record[sp + 1];
        if matches!(code, b'o' | b's' | b'c' | b'n' | b'v' | b'b' | b'k') {
            return (Some(code), record.get(sp + 3..).unwrap_or_default());
        }
    }
    (None, record)
}

/// The text without its terminal escape sequences (what the viewer shows).
fn strip_ansi(text: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != 0x1b {
            out.push(text[i]);
            i += 1;
            continue;
        }
        match text.get(i + 1) {
            Some(b'[') => {
                i += 2;
                while i < text.len() && !(0x40..=0x7e).contains(&text[i]) {
                    i += 1;
                }
                i += 1;
            }
            Some(b']') => {
                i += 2;
                while i < text.len() && text[i] != 0x07 && !(text[i] == 0x1b && text.get(i + 1) == Some(&b'\\')) {
                    i += 1;
                }
                i += if text.get(i) == Some(&0x07) { 1 } else { 2 };
            }
            _ => i += 2,
        }
    }
    Cow::Owned(out)
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use sicuro_types::log::{encode_begin, encode_line, encode_skipped};
    use sicuro_types::{BuildStatus, LineKind};

    fn query(text: &str) -> Query {
        Query {
            text: text.into(),
            regex: false,
            case_sensitive: false,
            after: 0,
        }
    }

    fn hits(buf: &[u8], q: Query) -> Vec<u64> {
        let mut out = Vec::new();
        hits_in(buf, 1, &q.matcher().unwrap(), &mut out);
        out
    }

    fn log(lines: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_begin(&mut buf, 5);
        for (i, l) in lines.iter().enumerate() {
            encode_line(&mut buf, i as i64, LineKind::Output, l);
        }
        buf
    }

    #[test]
    fn substrings_ignore_case_and_colour_codes_but_not_the_record_prefix() {
        let buf = log(&["Hello World", "\x1b[32mok\x1b[0m 1 - Adds", "nothing", "o n", "WORLDS"]);
        assert_eq!(hits(&buf, query("world")), [1, 5]);
        assert_eq!(hits(&buf, query("OK 1")), [2]);
        // "3 o n" is the prefix of line 4's record plus its text; only the text counts.
        assert_eq!(hits(&buf, query("o nothing")), Vec::<u64>::new());
        assert_eq!(hits(&buf, query("o n")), [4]);
        let case = Query {
            case_sensitive: true,
            ..query("World")
        };
        assert_eq!(hits(&buf, case), [1]);
    }

    #[test]
    fn regular_expressions_with_anchors_mean_the_line_and_skipped_lines_keep_numbers() {
        let mut buf = log(&["error: one", "an error: two"]);
        encode_skipped(&mut buf, 3, 1000, 5000);
        encode_line(&mut buf, 4, LineKind::Output, "error: three");
        let re = |t: &str| Query {
            regex: true,
            ..query(t)
        };
        assert_eq!(hits(&buf, re("^error")), [1, 1003]);
        assert_eq!(hits(&buf, re(r"err\w+: (one|three)")), [1, 1003]);
        assert!(re("(unclosed").matcher().is_err());
        assert!(query("").matcher().is_err());
    }

    #[tokio::test]
    async fn a_running_log_is_searched_as_lines_arrive_and_the_count_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path()).unwrap();
        store.expect(1);
        let mut w = store.create(1, 1 << 30).unwrap();
        for i in 1..=50_000u32 {
            w.push(LineKind::Output, &format!("line {i}"));
        }
        w.flush().unwrap();
        let mut s = std::pin::pin!(search(&store, 1, query("line 4999")));
        let mut found = Vec::new();
        let first = loop {
            match s.next().await.unwrap().unwrap() {
                SearchEvent::Hits(h) if !h.lines.is_empty() => break h,
                SearchEvent::Hits(_) => continue,
                e => panic!("{e:?}"),
            }
        };
        found.extend(first.lines);
        w.push(LineKind::Output, "line 49990 again");
        w.finish(BuildStatus::Success).unwrap();
        let end = loop {
            match s.next().await.unwrap().unwrap() {
                SearchEvent::Hits(h) => found.extend(h.lines),
                SearchEvent::End(h) => break h,
            }
        };
        assert_eq!(
            found,
            [
                4999, 49990, 49991, 49992, 49993, 49994, 49995, 49996, 49997, 49998, 49999, 50001
            ]
        );
        assert_eq!((end.count, end.searched), (12, 50_001));
    }
}
