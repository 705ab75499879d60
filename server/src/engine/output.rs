//! Turns the container's byte stream into log lines, and the script's markers into sections and
//! command echoes.

/// Lines longer than this are cut into pieces, so one endless line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What the job printed, line by line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Line(String),
    /// `s` (phase index), `c` (command index), `x` (failed exit code) or `d` (done).
    Marker(char, u64),
    /// A test report file the script prints at its end (see `Plan::script`), not part of the log.
    Report(ReportPiece),
}

/// A report file, base64 in lines between markers: its path, its contents, its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportPiece {
    Begin(String),
    Data(String),
    End,
}

/// Splits a byte stream into lines and recognises the markers of `Plan::script`.
pub struct LineAssembler {
    prefix: Vec<u8>,
    buf: Vec<u8>,
}

/// What starts each of the script's markers in its output.
pub fn marker_prefix(nonce: &str) -> String {
    format!("##sicuro:{nonce}:")
}

impl LineAssembler {
    pub fn new(nonce: &str) -> Self {
        Self {
            prefix: marker_prefix(nonce).into_bytes(),
            buf: Vec::new(),
        }
    }

    /// Feeds bytes; calls `out` for every complete line or marker.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl FnMut(Piece)) {
        while !bytes.is_empty() {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    self.buf.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.buf);
                    self.emit(&line, out);
                }
                None => {
                    self.buf.extend_from_slice(bytes);
                    bytes = &[];
                    while self.buf.len() >= MAX_LINE_BYTES {
                        let cut = utf8_boundary(&self.buf, MAX_LINE_BYTES);
                        let rest = self.buf.split_off(cut);
                        let line = std::mem::replace(&mut self.buf, rest);
                        self.emit(&line, out);
                    }
                }
            }
        }
    }

    /// The last line, if the output did not end with a newline.
    pub fn finish(&mut self, out: &mut impl FnMut(Piece)) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line, out);
        }
    }

    fn emit(&self, line: &[u8], out: &mut impl FnMut(Piece)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A marker may follow output that did not end with a newline.
        if let Some(at) = memchr::memmem::find(line, &self.prefix)
            && let Some(marker) = parse_marker(&line[at + self.prefix.len()..])
        {
            if at > 0 {
                out(Piece::Line(String::from_utf8_lossy(&line[..at]).into_owned()));
            }
            out(marker);
            return;
        }
        out(Piece::Line(String::from_utf8_lossy(line).into_owned()));
    }
}

fn parse_marker(rest: &[u8]) -> Option<Piece> {
    let rest = std::str::from_utf8(rest).ok()?;
    let (kind, arg) = rest.split_once(':')?;
    match kind {
        "rf" => return Some(Piece::Report(ReportPiece::Begin(arg.trim().to_string()))),
        "rd" => return Some(Piece::Report(ReportPiece::Data(arg.trim().to_string()))),
        "re" => return Some(Piece::Report(ReportPiece::End)),
        _ => {}
    }
    let kind = match kind {
        "s" => 's',
        "c" => 'c',
        "x" => 'x',
        "d" => 'd',
        _ => return None,
    };
    Some(Piece::Marker(kind, arg.trim().parse().ok()?))
}

fn utf8_boundary(buf: &[u8], max: usize) -> usize {
    if max >= buf.len() {
        return buf.len();
    }
    let mut i = max;
    // Back up over UTF-8 continuation bytes, but never to zero.
    while i > 1 && (buf[i] & 0b1100_0000) == 0b1000_0000 {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut a = LineAssembler::new("n0nce");
        let mut out = Vec::new();
        for c in chunks {
            a.push(c, &mut |p| out.push(p));
        }
        a.finish(&mut |p| out.push(p));
        out
    }

    fn line(s: &str) -> Piece {
        Piece::Line(s.into())
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        assert_eq!(
            run(&[b"hel", b"lo\nwor", b"ld\n", b"tail"]),
            [line("hello"), line("world"), line("tail")]
        );
        assert_eq!(run(&[b"a\r\n\nb\n"]), [line("a"), line(""), line("b")]);
    }

    #[test]
    fn markers_become_pieces_even_after_unterminated_output() {
        let out = run(&[b"##sicuro:n0nce:s:0\nfoo##sicuro:n0nce:c:3\n##sicuro:n0nce:x:2\n"]);
        assert_eq!(
            out,
            [
                Piece::Marker('s', 0),
                line("foo"),
                Piece::Marker('c', 3),
                Piece::Marker('x', 2)
            ]
        );
    }

    #[test]
    fn report_files_come_as_their_own_pieces() {
        let out = run(&[b"##sicuro:n0nce:rf:cGF0aA==\n##sicuro:n0nce:rd:PHg+\n##sicuro:n0nce:re:0\n"]);
        assert_eq!(
            out,
            [
                Piece::Report(ReportPiece::Begin("cGF0aA==".into())),
                Piece::Report(ReportPiece::Data("PHg+".into())),
                Piece::Report(ReportPiece::End)
            ]
        );
    }

    #[test]
    fn forged_or_broken_markers_are_plain_output() {
        let out = run(&[b"##sicuro:guess:s:0\n##sicuro:n0nce:q:1\n##sicuro:n0nce:s:zz\n"]);
        assert_eq!(
            out,
            [
                line("##sicuro:guess:s:0"),
                line("##sicuro:n0nce:q:1"),
                line("##sicuro:n0nce:s:zz")
            ]
        );
    }

    #[test]
    fn endless_lines_are_cut_on_character_boundaries() {
        let big = "é".repeat(MAX_LINE_BYTES); // two bytes each
        let out = run(&[big.as_bytes()]);
        assert!(out.len() >= 2);
        let joined: String = out
            .iter()
            .map(|p| match p {
                Piece::Line(l) => l.as_str(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(joined, big, "no byte is lost or mangled");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(run(&[b"a\xffb\n"]), [line("a\u{fffd}b")]);
    }
}
