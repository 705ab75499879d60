//! The log viewer's data: which lines of the log are loaded (in chunks of line numbers, fetched
//! as the reader scrolls to them, the least recently seen dropped past a cap), how long the log
//! is, its gaps (lines left out of a log over its limit), its phase sections and which are
//! collapsed, and the mapping between display rows and line numbers. Kept outside the reactive
//! system (a million lines do not belong in signals); the viewer renders only the rows on screen.

use std::collections::{BTreeMap, HashSet};

use sicuro_types::{LineKind, LogGap, LogLine, LogSection};

/// Lines per chunk: what one request for an unloaded part of the log asks for.
pub const CHUNK: u64 = 500;
/// Chunks kept in memory at most (the tab stays small however long the log).
pub const MAX_CHUNKS: usize = 60;

#[derive(Default)]
struct Chunk {
    lines: Vec<LogLine>,
    /// The ranges of numbers loaded (fetched or streamed), merged.
    loaded: Vec<(u64, u64)>,
    seen: u64,
}

impl Chunk {
    fn mark(&mut self, from: u64, to: u64) {
        self.loaded.push((from, to));
        self.loaded.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.loaded.len());
        for &(a, b) in &self.loaded {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.loaded = merged;
    }
}

#[derive(Default)]
pub struct LogModel {
    chunks: BTreeMap<u64, Chunk>,
    /// The number of the log's last line known.
    last: u64,
    gaps: Vec<LogGap>,
    sections: Vec<LogSection>,
    collapsed: HashSet<usize>,
    tick: u64,
}

fn chunk_of(number: u64) -> u64 {
    number.saturating_sub(1) / CHUNK
}

fn chunk_end(chunk: u64) -> u64 {
    (chunk + 1) * CHUNK
}

impl LogModel {
    /// What the server says about the whole log (its length, gaps, sections).
    pub fn set_shape(&mut self, last: u64, gaps: Vec<LogGap>, sections: Vec<LogSection>) {
        self.last = self.last.max(last);
        if !gaps.is_empty() {
            self.gaps = gaps;
        }
        for s in sections {
            self.add_section(s);
        }
    }

    fn add_section(&mut self, s: LogSection) {
        if let Err(i) = self.sections.binary_search_by_key(&s.line, |x| x.line) {
            self.sections.insert(i, s);
        }
    }

    /// Puts in lines fetched (a window) or streamed at the end; returns how many were new.
    /// `covered` is the range of numbers the fetch answered for (lines absent from it do not
    /// exist there).
    pub fn insert(&mut self, lines: Vec<LogLine>, covered: Option<(u64, u64)>) -> usize {
        let mut added = 0;
        let mut previous: Option<(u64, LineKind)> = None;
        for line in lines {
            let n = line.number();
            // A jump in numbers right after a notice (the marker): the lines between were left out.
            if let Some((p, LineKind::Notice)) = previous
                && n > p + 1
                && !self.gaps.iter().any(|g| g.at == p)
            {
                let at = self.gaps.partition_point(|g| g.at < p);
                self.gaps.insert(
                    at,
                    LogGap {
                        at: p,
                        lines: n - p,
                        bytes: 0,
                    },
                );
            }
            previous = Some((n, line.kind()));
            if line.kind() == LineKind::Section {
                self.add_section(LogSection {
                    line: n,
                    name: line.text().to_string(),
                    ts: line.ts(),
                });
            }
            self.last = self.last.max(n);
            let c = self.chunks.entry(chunk_of(n)).or_default();
            match c.lines.binary_search_by_key(&n, LogLine::number) {
                Ok(_) => {}
                Err(i) => {
                    c.lines.insert(i, line);
                    added += 1;
                }
            }
            c.mark(n, n);
        }
        if let Some((from, to)) = covered.filter(|(f, t)| *f >= 1 && f <= t) {
            for k in chunk_of(from)..=chunk_of(to) {
                let (start, end) = (k * CHUNK + 1, chunk_end(k));
                self.chunks.entry(k).or_default().mark(from.max(start), to.min(end));
            }
        }
        added
    }

    /// The number of the log's last line.
    pub fn last_number(&self) -> u64 {
        self.last
    }

    pub fn is_empty(&self) -> bool {
        self.last == 0
    }

    /// How many lines the log has (left-out ones not counted).
    pub fn len(&self) -> u64 {
        self.existing(1, self.last + 1)
    }

    pub fn line(&mut self, number: u64) -> Option<&LogLine> {
        self.tick += 1;
        let tick = self.tick;
        let c = self.chunks.get_mut(&chunk_of(number))?;
        c.seen = tick;
        let i = c.lines.binary_search_by_key(&number, LogLine::number).ok()?;
        c.lines.get(i)
    }

    pub fn sections(&self) -> &[LogSection] {
        &self.sections
    }

    pub fn gaps(&self) -> &[LogGap] {
        &self.gaps
    }

    /// Where fetches are needed to show lines `first..=last`: `(from, count)` for each stretch
    /// not loaded, at most a chunk each.
    pub fn missing(&self, first: u64, last: u64) -> Vec<(u64, u64)> {
        let last = last.min(self.last);
        if first == 0 || first > last {
            return Vec::new();
        }
        let mut out = Vec::new();
        for k in chunk_of(first)..=chunk_of(last) {
            let (start, end) = ((k * CHUNK + 1).max(first), chunk_end(k).min(last));
            let loaded = self.chunks.get(&k).map(|c| c.loaded.as_slice()).unwrap_or_default();
            let mut at = start;
            for &(a, b) in loaded {
                if b < at {
                    continue;
                }
                if a > end {
                    break;
                }
                if a > at {
                    out.push((at, a - at));
                }
                at = at.max(b + 1);
            }
            if at <= end {
                out.push((at, end - at + 1));
            }
        }
        out
    }

    /// Drops the least recently shown chunks past the cap (never those holding `keep`).
    pub fn evict(&mut self, keep: std::ops::RangeInclusive<u64>) {
        while self.chunks.len() > MAX_CHUNKS {
            let keep_chunks = chunk_of(*keep.start())..=chunk_of(*keep.end());
            let Some(oldest) = self
                .chunks
                .iter()
                .filter(|(k, _)| !keep_chunks.contains(k))
                .min_by_key(|(_, c)| c.seen)
                .map(|(k, _)| *k)
            else {
                return;
            };
            self.chunks.remove(&oldest);
        }
    }

    /// Numbers in `a..b` that exist (not inside a gap).
    fn existing(&self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let hidden: u64 = self
            .gaps
            .iter()
            .map(|g| {
                let (s, e) = (g.at + 1, g.at + g.lines);
                e.min(b).saturating_sub(s.max(a))
            })
            .sum();
        (b - a) - hidden
    }

    /// The `k`-th existing number from `a` on (0: `a` itself).
    fn nth_from(&self, a: u64, k: u64) -> u64 {
        let mut n = a + k;
        for g in &self.gaps {
            let (s, e) = (g.at + 1, g.at + g.lines);
            if e <= a {
                continue;
            }
            let s = s.max(a);
            if s <= n {
                n += e - s;
            } else {
                break;
            }
        }
        n
    }

    /// (first number, end number, collapsed) of each part: the lines before any section, then
    /// each section.
    fn parts(&self) -> impl Iterator<Item = (u64, u64, bool)> + '_ {
        let end = self.last + 1;
        let first_section = self.sections.first().map_or(end, |s| s.line);
        let preamble = std::iter::once((1, first_section, false));
        let sections = self.sections.iter().enumerate().map(move |(i, s)| {
            let e = self.sections.get(i + 1).map_or(end, |n| n.line);
            (s.line, e, self.collapsed.contains(&i))
        });
        preamble.chain(sections)
    }

    fn part_rows(&self, (start, end, collapsed): (u64, u64, bool)) -> u64 {
        match (collapsed, end > start) {
            (_, false) => 0,
            (true, true) => 1,
            (false, true) => self.existing(start, end),
        }
    }

    /// Rows on display (collapsed sections show only their header).
    pub fn row_count(&self) -> u64 {
        self.parts().map(|p| self.part_rows(p)).sum()
    }

    /// The line number a row shows.
    pub fn row_to_number(&self, row: u64) -> Option<u64> {
        let mut rest = row;
        for p in self.parts() {
            let rows = self.part_rows(p);
            if rest < rows {
                return Some(if p.2 { p.0 } else { self.nth_from(p.0, rest) });
            }
            rest -= rows;
        }
        None
    }

    /// The row showing a line (its section's header when the section is collapsed).
    pub fn number_to_row(&self, number: u64) -> u64 {
        let mut row = 0;
        for p in self.parts() {
            if number < p.1 {
                return row + if p.2 { 0 } else { self.existing(p.0, number.max(p.0)) };
            }
            row += self.part_rows(p);
        }
        row.saturating_sub(1)
    }

    /// The section (by index) a line is in.
    pub fn section_of(&self, number: u64) -> Option<usize> {
        match self.sections.binary_search_by_key(&number, |s| s.line) {
            Ok(i) => Some(i),
            Err(0) => None,
            Err(i) => Some(i - 1),
        }
    }

    pub fn is_collapsed(&self, section: usize) -> bool {
        self.collapsed.contains(&section)
    }

    pub fn toggle(&mut self, section: usize) {
        if !self.collapsed.remove(&section) && section < self.sections.len() {
            self.collapsed.insert(section);
        }
    }

    /// Opens the section holding a line, so that it can be shown.
    pub fn reveal(&mut self, number: u64) {
        if let Some(s) = self.section_of(number) {
            self.collapsed.remove(&s);
        }
    }

    /// How long a section ran: until the next section, or until `end` (ms since the log
    /// began: the build's end, or now) for the last one.
    pub fn section_duration(&self, section: usize, end: Option<i64>) -> Option<i64> {
        let start = self.sections.get(section)?.ts;
        let end = match self.sections.get(section + 1) {
            Some(next) => next.ts,
            None => end?,
        };
        Some((end - start).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(n: u64, kind: LineKind, text: &str) -> LogLine {
        LogLine(n, n as i64 * 100, kind, text.into())
    }

    fn model() -> LogModel {
        let mut m = LogModel::default();
        m.insert(
            vec![
                l(1, LineKind::Notice, "starting"),
                l(2, LineKind::Section, "setup"),
                l(3, LineKind::Command, "npm ci"),
                l(4, LineKind::Output, "added 3 packages"),
                l(5, LineKind::Section, "test"),
                l(6, LineKind::Output, "\x1b[32mok\x1b[0m 1 - Adds"),
                l(7, LineKind::Output, "done"),
            ],
            None,
        );
        m
    }

    #[test]
    fn repeated_lines_are_ignored_and_lines_are_found_by_number() {
        let mut m = model();
        assert_eq!(
            m.insert(
                vec![l(6, LineKind::Output, "again"), l(8, LineKind::Output, "new")],
                None
            ),
            1
        );
        assert_eq!(m.len(), 8);
        assert_eq!(m.last_number(), 8);
        assert_eq!(m.line(4).map(|l| l.text()), Some("added 3 packages"));
        assert_eq!(m.line(6).map(|l| l.text()), Some("\x1b[32mok\x1b[0m 1 - Adds"));
    }

    #[test]
    fn collapsing_a_section_hides_its_lines_but_not_its_header() {
        let mut m = model();
        assert_eq!(m.row_count(), 7);
        m.toggle(0); // setup
        assert_eq!(m.row_count(), 5);
        let shown: Vec<_> = (0..m.row_count()).map(|r| m.row_to_number(r).unwrap()).collect();
        assert_eq!(shown, [1, 2, 5, 6, 7]);
        assert_eq!(m.number_to_row(4), 1, "a hidden line maps to its header");
        assert_eq!(m.number_to_row(6), 3);
        m.reveal(4);
        assert_eq!(m.row_count(), 7);
    }

    #[test]
    fn sections_know_their_durations() {
        let m = model();
        assert_eq!(m.section_of(3), Some(0));
        assert_eq!(m.section_of(1), None);
        assert_eq!(m.section_duration(0, None), Some(300));
        assert_eq!(m.section_duration(1, Some(1000)), Some(500));
    }

    #[test]
    fn a_million_line_log_is_known_by_its_shape_and_loaded_where_it_is_looked_at() {
        let mut m = LogModel::default();
        m.set_shape(1_000_000, vec![], vec![]);
        assert_eq!(m.row_count(), 1_000_000);
        assert_eq!(m.missing(999_990, 1_000_000), [(999_990, 11)]);
        let tail: Vec<LogLine> = (999_801..=1_000_000).map(|n| l(n, LineKind::Output, "x")).collect();
        m.insert(tail, Some((999_801, 1_000_000)));
        assert_eq!(m.missing(999_990, 1_000_000), Vec::<(u64, u64)>::new());
        assert_eq!(m.missing(999_700, 999_900), [(999_700, 101)]);
        assert!(m.line(500_000).is_none());
        // Far apart chunks are fetched and the oldest dropped past the cap.
        for k in 0..(MAX_CHUNKS as u64 + 10) {
            m.insert(
                vec![l(k * CHUNK + 1, LineKind::Output, "y")],
                Some((k * CHUNK + 1, chunk_end(k))),
            );
            m.line(k * CHUNK + 1);
        }
        m.evict(999_990..=1_000_000);
        assert!(m.chunks.len() <= MAX_CHUNKS);
        assert!(m.line(1_000_000).is_some(), "the rows on screen stay");
    }

    #[test]
    fn lines_left_out_take_no_rows_and_keep_their_numbers() {
        let mut m = LogModel::default();
        m.set_shape(
            1_010,
            vec![LogGap {
                at: 5,
                lines: 1_000,
                bytes: 9,
            }],
            vec![],
        );
        // Lines 1..=5 (5 is the marker), then 1005..=1010.
        assert_eq!(m.row_count(), 11);
        assert_eq!(m.row_to_number(4), Some(5));
        assert_eq!(m.row_to_number(5), Some(1_005));
        assert_eq!(m.number_to_row(1_006), 6);
        assert_eq!(m.len(), 11);
        // A gap seen only in streamed lines is learned from the jump in numbers.
        let mut s = LogModel::default();
        s.insert(
            vec![
                l(1, LineKind::Output, "a"),
                l(2, LineKind::Notice, "left out"),
                l(50, LineKind::Output, "b"),
            ],
            None,
        );
        assert_eq!(s.row_count(), 3);
        assert_eq!(s.row_to_number(2), Some(50));
    }
}
