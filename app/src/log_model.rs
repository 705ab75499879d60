//! The log viewer's data: every line received, the phase sections, which are collapsed, and the
//! mapping between display rows and lines. Kept outside the reactive system (a million lines do
//! not belong in signals); the viewer renders only the rows on screen.

use std::collections::HashSet;

use sicuro_types::{LineKind, LogLine};

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Index of the section's header line.
    pub line: usize,
    pub name: String,
    pub ts: i64,
}

#[derive(Default)]
pub struct LogModel {
    lines: Vec<LogLine>,
    sections: Vec<Section>,
    collapsed: HashSet<usize>,
}

impl LogModel {
    /// Appends lines that follow the last one held; repeated or older lines are ignored, so a
    /// reconnecting stream can never duplicate a line. Returns how many were added.
    pub fn append(&mut self, batch: impl IntoIterator<Item = LogLine>) -> usize {
        let mut added = 0;
        for line in batch {
            if line.number() <= self.last_number() {
                continue;
            }
            if line.kind() == LineKind::Section {
                self.sections.push(Section {
                    line: self.lines.len(),
                    name: line.text().to_string(),
                    ts: line.ts(),
                });
            }
            self.lines.push(line);
            added += 1;
        }
        added
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn last_number(&self) -> u64 {
        self.lines.last().map_or(0, LogLine::number)
    }

    pub fn line(&self, idx: usize) -> Option<&LogLine> {
        self.lines.get(idx)
    }

    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Index of the line with this number.
    pub fn index_of_number(&self, number: u64) -> Option<usize> {
        self.lines.binary_search_by_key(&number, LogLine::number).ok()
    }

    /// (first line, end line, rows shown) of each part: the lines before any section, then each section.
    fn parts(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let first_section = self.sections.first().map_or(self.lines.len(), |s| s.line);
        let preamble = std::iter::once((0, first_section, first_section));
        let sections = self.sections.iter().enumerate().map(move |(i, s)| {
            let end = self.sections.get(i + 1).map_or(self.lines.len(), |n| n.line);
            let rows = if self.collapsed.contains(&i) { 1 } else { end - s.line };
            (s.line, end, rows)
        });
        preamble.chain(sections)
    }

    /// Rows on display (collapsed sections show only their header).
    pub fn row_count(&self) -> usize {
        if self.collapsed.is_empty() {
            return self.lines.len();
        }
        self.parts().map(|(_, _, rows)| rows).sum()
    }

    pub fn row_to_line(&self, row: usize) -> Option<usize> {
        if self.collapsed.is_empty() {
            return (row < self.lines.len()).then_some(row);
        }
        let mut rest = row;
        for (start, _, rows) in self.parts() {
            if rest < rows {
                return Some(start + rest);
            }
            rest -= rows;
        }
        None
    }

    /// The row showing a line (its section's header when the section is collapsed).
    pub fn line_to_row(&self, line: usize) -> usize {
        if self.collapsed.is_empty() {
            return line;
        }
        let mut row = 0;
        for (start, end, rows) in self.parts() {
            if line < end {
                return row + (line - start).min(rows.saturating_sub(1));
            }
            row += rows;
        }
        row
    }

    pub fn section_of_line(&self, line: usize) -> Option<usize> {
        match self.sections.binary_search_by_key(&line, |s| s.line) {
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

    /// Opens the section holding `line`, so that it can be shown.
    pub fn reveal(&mut self, line: usize) {
        if let Some(s) = self.section_of_line(line) {
            self.collapsed.remove(&s);
        }
    }

    /// How long a section ran: until the next section, or until `end_ts` (the build's end or
    /// now) for the last one.
    pub fn section_duration(&self, section: usize, end_ts: Option<i64>) -> Option<i64> {
        let start = self.sections.get(section)?.ts;
        let end = match self.sections.get(section + 1) {
            Some(next) => next.ts,
            None => end_ts.or_else(|| self.lines.last().map(LogLine::ts))?,
        };
        Some((end - start).max(0))
    }

    /// Indices of lines whose visible text contains `query`, ignoring case.
    pub fn find_all(&self, query: &str) -> Vec<usize> {
        let q = query.to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let ascii = q.is_ascii();
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                let text = crate::ansi::strip(l.text());
                if ascii {
                    contains_ascii_ci(&text, &q)
                } else {
                    text.to_lowercase().contains(&q)
                }
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Case-insensitive search for an ASCII needle (already lower case) without allocating.
fn contains_ascii_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return false;
    }
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(n: u64, kind: LineKind, text: &str) -> LogLine {
        LogLine(n, n as i64 * 100, kind, text.into())
    }

    fn model() -> LogModel {
        let mut m = LogModel::default();
        m.append(vec![
            l(1, LineKind::Notice, "starting"),
            l(2, LineKind::Section, "setup"),
            l(3, LineKind::Command, "npm ci"),
            l(4, LineKind::Output, "added 3 packages"),
            l(5, LineKind::Section, "test"),
            l(6, LineKind::Output, "\x1b[32mok\x1b[0m 1 - Adds"),
            l(7, LineKind::Output, "done"),
        ]);
        m
    }

    #[test]
    fn duplicates_and_old_lines_are_ignored() {
        let mut m = model();
        assert_eq!(
            m.append(vec![l(6, LineKind::Output, "again"), l(8, LineKind::Output, "new")]),
            1
        );
        assert_eq!(m.len(), 8);
        assert_eq!(m.last_number(), 8);
        assert_eq!(m.index_of_number(4), Some(3));
    }

    #[test]
    fn collapsing_a_section_hides_its_lines_but_not_its_header() {
        let mut m = model();
        assert_eq!(m.row_count(), 7);
        m.toggle(0); // setup
        assert_eq!(m.row_count(), 5);
        let shown: Vec<_> = (0..m.row_count()).map(|r| m.row_to_line(r).unwrap()).collect();
        assert_eq!(shown, [0, 1, 4, 5, 6]);
        assert_eq!(m.line_to_row(3), 1, "a hidden line maps to its header");
        assert_eq!(m.line_to_row(5), 3);
        m.reveal(3);
        assert_eq!(m.row_count(), 7);
    }

    #[test]
    fn sections_know_their_durations() {
        let m = model();
        assert_eq!(m.section_of_line(3), Some(0));
        assert_eq!(m.section_of_line(0), None);
        assert_eq!(m.section_duration(0, None), Some(300));
        assert_eq!(m.section_duration(1, Some(1000)), Some(500));
    }

    #[test]
    fn search_ignores_case_and_colour_codes() {
        let m = model();
        assert_eq!(m.find_all("OK 1"), vec![5]);
        assert_eq!(m.find_all("npm"), vec![2]);
        assert!(m.find_all("").is_empty());
        assert!(m.find_all("absent").is_empty());
    }
}
