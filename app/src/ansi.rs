//! Renders one log line as a terminal would: SGR colours (16, 256 and true colour) and styles,
//! carriage returns and backspaces that overwrite (so progress bars collapse), erase-in-line.
//! The result is plain text segments with a closed set of styles; the page inserts the text as
//! text nodes, so nothing a build prints can become markup.

use vte::{Params, Parser, Perform};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// The 16 theme colours (0–7 normal, 8–15 bright), styled by the page's CSS.
    Named(u8),
    Rgb(u8, u8, u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub inverse: bool,
    pub strike: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub style: Style,
}

/// Longest line rendered; longer lines are cut (the raw download keeps everything).
const MAX_CELLS: usize = 20_000;

/// Renders `line` into styled segments.
pub fn render(line: &str) -> Vec<Segment> {
    if is_plain(line) {
        return vec![Segment {
            text: line.to_string(),
            style: Style::default(),
        }];
    }
    let mut term = LineTerm::default();
    Parser::new().advance(&mut term, line.as_bytes());
    term.segments()
}

/// The text a reader sees, without escape sequences (for search).
pub fn strip(line: &str) -> std::borrow::Cow<'_, str> {
    if is_plain(line) {
        return std::borrow::Cow::Borrowed(line);
    }
    std::borrow::Cow::Owned(render(line).into_iter().map(|s| s.text).collect())
}

/// No control characters (tabs aside): the text is shown as it is.
fn is_plain(line: &str) -> bool {
    !line.chars().any(|c| c.is_control() && c != '\t')
}

#[derive(Default)]
struct LineTerm {
    cells: Vec<(char, Style)>,
    col: usize,
    style: Style,
}

impl LineTerm {
    fn put(&mut self, c: char) {
        if self.col >= MAX_CELLS {
            return;
        }
        if self.col < self.cells.len() {
            self.cells[self.col] = (c, self.style);
        } else {
            while self.cells.len() < self.col {
                self.cells.push((' ', Style::default()));
            }
            self.cells.push((c, self.style));
        }
        self.col += 1;
    }

    fn segments(self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for (c, style) in self.cells {
            match out.last_mut() {
                Some(seg) if seg.style == style => seg.text.push(c),
                _ => out.push(Segment {
                    text: c.to_string(),
                    style,
                }),
            }
        }
        out
    }

    fn sgr(&mut self, params: &Params) {
        let flat: Vec<Vec<u16>> = params.iter().map(|p| p.to_vec()).collect();
        if flat.is_empty() {
            self.style = Style::default();
            return;
        }
        let mut i = 0;
        while i < flat.len() {
            let p = &flat[i];
            let code = p.first().copied().unwrap_or(0);
            match code {
                0 => self.style = Style::default(),
                1 => self.style.bold = true,
                2 => self.style.dim = true,
                3 => self.style.italic = true,
                4 => self.style.underline = true,
                7 => self.style.inverse = true,
                9 => self.style.strike = true,
                21 | 22 => {
                    self.style.bold = false;
                    self.style.dim = false;
                }
                23 => self.style.italic = false,
                24 => self.style.underline = false,
                27 => self.style.inverse = false,
                29 => self.style.strike = false,
                30..=37 => self.style.fg = Some(Color::Named((code - 30) as u8)),
                39 => self.style.fg = None,
                40..=47 => self.style.bg = Some(Color::Named((code - 40) as u8)),
                49 => self.style.bg = None,
                90..=97 => self.style.fg = Some(Color::Named((code - 90 + 8) as u8)),
                100..=107 => self.style.bg = Some(Color::Named((code - 100 + 8) as u8)),
                38 | 48 => {
                    // Either `38;5;n` / `38;2;r;g;b` (separate params) or `38:5:n` (sub-params).
                    let (color, used) = if p.len() > 1 {
                        (extended(&p[1..], true), 0)
                    } else {
                        let rest: Vec<u16> = flat[i + 1..].iter().map(|q| q.first().copied().unwrap_or(0)).collect();
                        let c = extended(&rest, false);
                        let used = match rest.first() {
                            Some(5) => 2,
                            Some(2) => 4,
                            _ => 0,
                        };
                        (c, used)
                    };
                    if code == 38 {
                        self.style.fg = color;
                    } else {
                        self.style.bg = color;
                    }
                    i += used;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `5;n` (256 colours) or `2;r;g;b` (true colour). In the colon form (`38:2::r:g:b`) a
/// colour-space id may precede the components.
fn extended(p: &[u16], colon_form: bool) -> Option<Color> {
    match p {
        [5, n, ..] => Some(indexed(*n as u8)),
        [2, _, r, g, b, ..] if colon_form => Some(Color::Rgb(*r as u8, *g as u8, *b as u8)),
        [2, r, g, b, ..] => Some(Color::Rgb(*r as u8, *g as u8, *b as u8)),
        _ => None,
    }
}

/// xterm's 256-colour palette: 0–15 theme colours, a 6×6×6 cube, then 24 greys.
fn indexed(n: u8) -> Color {
    match n {
        0..=15 => Color::Named(n),
        16..=231 => {
            let n = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            Color::Rgb(level(n / 36), level((n / 6) % 6), level(n % 6))
        }
        _ => {
            let v = 8 + (n - 232) * 10;
            Color::Rgb(v, v, v)
        }
    }
}

impl Perform for LineTerm {
    fn print(&mut self, c: char) {
        self.put(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\r' => self.col = 0,
            0x08 => self.col = self.col.saturating_sub(1),
            b'\t' => {
                let next = (self.col / 8 + 1) * 8;
                while self.col < next.min(MAX_CELLS) {
                    self.put(' ');
                }
                self.col = next;
            }
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], _ignore: bool, action: char) {
        if !intermediates.is_empty() {
            return;
        }
        let first = params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0) as usize;
        match action {
            'm' => self.sgr(params),
            // Erase in line: 0 to the end, 1 to the start, 2 all.
            'K' => match first {
                0 => self.cells.truncate(self.col),
                1 => {
                    for cell in self.cells.iter_mut().take(self.col + 1) {
                        *cell = (' ', Style::default());
                    }
                }
                _ => self.cells.clear(),
            },
            'G' => self.col = first.max(1) - 1,
            'C' => self.col += first.max(1),
            'D' => self.col = self.col.saturating_sub(first.max(1)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(segs: &[Segment]) -> String {
        segs.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn plain_text_is_one_segment() {
        let s = render("hello <script>alert(1)</script>");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].text, "hello <script>alert(1)</script>");
        assert_eq!(s[0].style, Style::default());
    }

    #[test]
    fn sixteen_colours_and_styles() {
        let s = render("\x1b[1;31mred\x1b[0m plain \x1b[4;92mgreen\x1b[24m!");
        assert_eq!(text(&s), "red plain green!");
        assert_eq!(s[0].style.fg, Some(Color::Named(1)));
        assert!(s[0].style.bold);
        assert_eq!(s[1].style, Style::default());
        assert_eq!(s[2].style.fg, Some(Color::Named(10)));
        assert!(s[2].style.underline);
        assert!(!s[3].style.underline);
    }

    #[test]
    fn two_hundred_fifty_six_and_true_colour() {
        let s = render("\x1b[38;5;196ma\x1b[48;2;1;2;3mb\x1b[38:2::10:20:30mc\x1b[38;5;244md");
        assert_eq!(s[0].style.fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(s[1].style.bg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!(s[2].style.fg, Some(Color::Rgb(10, 20, 30)));
        assert_eq!(s[3].style.fg, Some(Color::Rgb(128, 128, 128)));
        assert_eq!(text(&s), "abcd");
    }

    #[test]
    fn carriage_returns_overwrite_like_a_terminal() {
        assert_eq!(
            text(&render("Downloading 10%\rDownloading 55%\rDownloading 100%")),
            "Downloading 100%"
        );
        assert_eq!(text(&render("abcdef\rXY")), "XYcdef");
        assert_eq!(text(&render("50%\r\x1b[Kdone")), "done");
        assert_eq!(text(&render("ab\x08c")), "ac");
        assert_eq!(text(&render("x\r")), "x");
    }

    #[test]
    fn strip_removes_escapes_for_search() {
        assert_eq!(strip("\x1b[32mok\x1b[0m 3 tests"), "ok 3 tests");
        assert!(matches!(strip("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn characters_whose_utf8_holds_a_c1_byte_are_plain_text() {
        // Found by the property test: U+B26C0 is encoded F2 B2 9B 80, and 0x9B alone is CSI.
        assert_eq!(strip("\u{b26c0} ok"), "\u{b26c0} ok");
        assert_eq!(render("\u{b26c0} ok").len(), 1);
    }

    #[test]
    fn a_tab_past_the_last_cell_ends() {
        // Found by cargo-fuzz: the cursor moved past the last cell, then a tab looped forever.
        let line = format!("\x1b[{}G\tx", MAX_CELLS + 1);
        assert!(strip(&line).chars().count() <= MAX_CELLS);
        assert_eq!(text(&render("\x1b[0mab\tc")), "ab      c");
    }

    #[test]
    fn broken_sequences_do_not_panic() {
        for s in [
            "\x1b[",
            "\x1b[38;5m",
            "\x1b[38;2;1m",
            "\x1b]8;;http://x\x07link\x1b]8;;\x07",
            "\x1b[999999999G!",
            "\u{9b}31m",
        ] {
            let _ = render(s);
        }
        assert!(render(&format!("\x1b[{}Cx", u16::MAX)).len() <= 2);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn any_input_renders_without_escape_codes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let line = String::from_utf8_lossy(&bytes);
            let segs = render(&line);
            for s in &segs {
                prop_assert!(!s.text.contains('\u{1b}'), "{:?}", s.text);
            }
            prop_assert!(segs.iter().map(|s| s.text.chars().count()).sum::<usize>() <= MAX_CELLS);
            let _ = strip(&line);
        }

        #[test]
        fn plain_text_is_kept_exactly(text in "[^\x00-\x08\x0a-\x1f\x7f\u{80}-\u{9f}]{0,200}") {
            prop_assert_eq!(strip(&text), text.as_str());
        }

        #[test]
        fn styles_never_change_the_text(words in proptest::collection::vec("[a-z]{1,8}", 1..8), codes in proptest::collection::vec(0u16..110, 1..8)) {
            let mut line = String::new();
            for (w, c) in words.iter().zip(codes.iter().cycle()) {
                line.push_str(&format!("\u{1b}[{c}m{w}"));
            }
            prop_assert_eq!(strip(&line), words.concat());
        }
    }
}
