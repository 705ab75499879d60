//! Masking secrets in a job's output: every occurrence of a secret's value — each line of a
//! multi-line value, and its base64, base64url and URL-encoded forms — becomes `***` before a
//! line is stored or streamed.
//!
//! One Aho-Corasick automaton (leftmost-longest, so the longest form of a value found at a
//! position is the one hidden) holds every form of every value. The container's output arrives
//! in arbitrary chunks, so [`MaskStream`] keeps back the bytes from which a match could still
//! begin — at most the longest pattern less one byte, and never past the end of a line, since
//! no pattern contains a newline — until the next chunk or the end of the stream decides them.
//!
//! Pure (no I/O): the fuzz target includes this file by path.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a masked value is replaced with.
pub const REPLACEMENT: &[u8] = b"***";

/// Values up to this size (tokens, passwords) are also masked inside longer base64 texts and
/// URL-encoded. Longer ones (keys, certificates) are masked line by line and as whole base64:
/// the other forms of 20 values of 64 KiB would make an automaton of hundreds of megabytes.
pub const ALL_FORMS_UP_TO: usize = 1024;

/// Values (and lines of multi-line values) shorter than this are not masked: they would hide
/// ordinary output everywhere. Secrets shorter than this are refused when they are set.
pub const MIN_CHARS: usize = 4;

/// RFC 3986's unreserved characters stay as they are (what `encodeURIComponent`, Python's
/// `quote(safe="")` and most URL builders produce); everything else is %-encoded.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The masks for one job's secrets. Cheap to clone (the automaton is shared).
#[derive(Clone, Debug, Default)]
pub struct Masker {
    automaton: Option<AhoCorasick>,
    /// Patterns with ids at or past this are passed through unchanged (the script's markers).
    masked_patterns: usize,
    longest: usize,
}

impl Masker {
    /// Masks for these values; `keep` are texts never masked where they occur whole (the
    /// script's marker prefix, which a short secret could otherwise break).
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>, keep: &[&str]) -> Masker {
        let mut patterns: Vec<String> = values.into_iter().flat_map(|v| forms(v.as_ref())).collect();
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Masker::default();
        }
        let masked_patterns = patterns.len();
        patterns.extend(keep.iter().filter(|k| !k.is_empty()).map(|k| k.to_string()));
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("a few hundred short patterns fit any automaton");
        Masker {
            automaton: Some(automaton),
            masked_patterns,
            longest,
        }
    }

    /// Nothing to mask: output passes through untouched.
    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    /// Masks a whole text (a notice, a command echo).
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(ac) = &self.automaton else {
            return Cow::Borrowed(text);
        };
        if ac.find(text).is_none() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        self.replace(text.as_bytes(), text.len(), &mut |b| out.extend_from_slice(b));
        // Only whole (UTF-8) patterns were replaced by ASCII, so the text stays UTF-8.
        Cow::Owned(String::from_utf8(out).expect("masking keeps UTF-8 valid"))
    }

    /// A masker for one byte stream (a container's stdout or stderr).
    pub fn stream(&self) -> MaskStream {
        MaskStream {
            masker: self.clone(),
            pending: Vec::new(),
        }
    }

    /// Writes `buf` to `out` with its matches replaced, deciding only matches that start
    /// before `decided`; returns how many bytes of `buf` were written (the rest is undecided).
    fn replace(&self, buf: &[u8], decided: usize, out: &mut impl FnMut(&[u8])) -> usize {
        let Some(ac) = &self.automaton else {
            out(buf);
            return buf.len();
        };
        let mut at = 0;
        for m in ac.find_iter(buf) {
            if m.start() >= decided {
                break;
            }
            if m.pattern().as_usize() >= self.masked_patterns {
                // Kept whole, so that no secret is found inside it on the next chunk.
                out(&buf[at..m.end()]);
            } else {
                if m.start() > at {
                    out(&buf[at..m.start()]);
                }
                out(REPLACEMENT);
            }
            at = m.end();
        }
        let end = decided.max(at).min(buf.len());
        if end > at {
            out(&buf[at..end]);
        }
        end
    }
}

/// Masks one byte stream chunk by chunk; see the module's comment.
pub struct MaskStream {
    masker: Masker,
    pending: Vec<u8>,
}

impl MaskStream {
    /// Feeds a chunk; `out` gets the masked bytes that are decided.
    pub fn push(&mut self, bytes: &[u8], out: &mut impl FnMut(&[u8])) {
        if self.masker.is_empty() {
            out(bytes);
            return;
        }
        self.pending.extend_from_slice(bytes);
        let len = self.pending.len();
        // A match can start at a position only while the longest pattern still fits behind
        // it, or before the last newline (no pattern spans one).
        let fits = len.saturating_sub(self.masker.longest.saturating_sub(1));
        let line_end = memchr::memrchr(b'\n', &self.pending).map_or(0, |i| i + 1);
        let decided = fits.max(line_end);
        let written = self.masker.replace(&self.pending, decided, out);
        self.pending.drain(..written);
    }

    /// The stream ended: the rest is decided.
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8])) {
        let rest = std::mem::take(&mut self.pending);
        self.masker.replace(&rest, rest.len(), out);
    }
}

/// Every form of a value that is masked: the value (or each line of a multi-line value), then
/// its base64 and base64url encodings — whole, and the characters that do not depend on what
/// surrounds the value in a longer encoded text (`user:token` in a Basic header) — and its
/// URL-encoded forms (those two for values up to [`ALL_FORMS_UP_TO`] bytes). Forms shorter than
/// [`MIN_CHARS`] are left out.
pub fn forms(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.contains('\n') {
        out.extend(value.split('\n').map(|l| l.trim_end_matches('\r').to_string()));
    } else {
        out.push(value.to_string());
    }
    let bytes = value.as_bytes();
    for engine in [STANDARD, URL_SAFE] {
        out.push(engine.encode(bytes));
    }
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes));
        if bytes.len() <= ALL_FORMS_UP_TO {
            for shift in 0..3 {
                out.push(stable_base64(&engine, bytes, shift));
            }
        }
    }
    if bytes.len() <= ALL_FORMS_UP_TO {
        out.push(utf8_percent_encode(value, URL_COMPONENT).to_string());
        out.push(utf8_percent_encode(value, NON_ALPHANUMERIC).to_string());
        out.push(
            utf8_percent_encode(value, URL_COMPONENT)
                .to_string()
                .replace("%20", "+"),
        );
    }
    out.retain(|f| f.chars().count() >= MIN_CHARS && !f.contains('\n'));
    out.sort();
    out.dedup();
    out
}

/// The base64 characters of `value` that are the same wherever it starts `shift` bytes into a
/// three-byte group, whatever comes before or after it: the characters made only of its bits.
fn stable_base64(engine: &impl base64::Engine, value: &[u8], shift: usize) -> String {
    let mut shifted = vec![0u8; shift];
    shifted.extend_from_slice(value);
    let encoded = engine.encode(&shifted);
    let first = (8 * shift).div_ceil(6);
    let last = (8 * shifted.len()) / 6;
    encoded.get(first..last).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(m: &Masker, chunks: &[&[u8]]) -> String {
        let mut s = m.stream();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |b| out.extend_from_slice(b));
        }
        s.finish(&mut |b| out.extend_from_slice(b));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_values_are_masked_wherever_the_stream_is_cut() {
        let m = Masker::new(["hunter2-token"], &[]);
        let text = b"token=hunter2-token; again hunter2-token\n";
        let want = "token=***; again ***\n";
        assert_eq!(m.mask(std::str::from_utf8(text).unwrap()), want);
        for cut in 0..text.len() {
            assert_eq!(streamed(&m, &[&text[..cut], &text[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(streamed(&m, &bytes), want, "one byte at a time");
    }

    #[test]
    fn encoded_forms_are_masked() {
        let secret = "s3cr3t/value+with spaces&more";
        let m = Masker::new([secret], &[]);
        let b64 = STANDARD.encode(secret);
        let url = URL_SAFE_NO_PAD.encode(secret);
        let pct = utf8_percent_encode(secret, URL_COMPONENT).to_string();
        let line = format!("a {b64} b {url} c {pct} d\n");
        assert_eq!(m.mask(&line), "a *** b *** c *** d\n");
    }

    #[test]
    fn a_value_inside_a_longer_base64_text_is_masked() {
        // `echo "user:$TOKEN" | base64`: the token does not start a three-byte group.
        let secret = "ghp_abcdefghijklmnop";
        let m = Masker::new([secret], &[]);
        for prefix in ["", "u:", "user:"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}\n"));
            let masked = m.mask(&encoded);
            assert!(masked.contains("***"), "{prefix:?}: {encoded} → {masked}");
            // At most three characters on each side survive, none made only of the secret.
            assert!(masked.len() <= encoded.len() - 20, "{prefix:?}: {masked}");
        }
    }

    #[test]
    fn each_line_of_a_multi_line_value_is_masked() {
        let key = "-----BEGIN KEY-----\r\nMIIEpAIBAAKCAQEA\r\nab\r\n-----END KEY-----";
        let m = Masker::new([key], &[]);
        let out = streamed(
            &m,
            &[b"-----BEGIN KEY-----\nMIIEpAIB", b"AAKCAQEA\nab\n-----END KEY-----\n"],
        );
        assert_eq!(out, "***\n***\nab\n***\n", "lines under four characters stay");
    }

    #[test]
    fn the_longest_value_at_a_position_wins_even_across_chunks() {
        let m = Masker::new(["abcd", "abcdefgh"], &[]);
        assert_eq!(streamed(&m, &[b"xxabcd", b"efgh yy abcd\n"]), "xx*** yy ***\n");
        assert_eq!(streamed(&m, &[b"abcd"]), "***", "the end of the stream decides");
    }

    #[test]
    fn kept_texts_pass_through_whole() {
        let m = Masker::new(["sicuro"], &["##sicuro:n0nce:"]);
        assert_eq!(
            streamed(&m, &[b"##sicuro:n0nce:s:0\n", b"sicuro\n"]),
            "##sicuro:n0nce:s:0\n***\n"
        );
    }

    #[test]
    fn no_secrets_means_no_change_and_no_delay() {
        let m = Masker::new(Vec::<String>::new(), &["##sicuro:x:"]);
        assert!(m.is_empty());
        let mut s = m.stream();
        let mut out = Vec::new();
        s.push(b"partial", &mut |b| out.extend_from_slice(b));
        assert_eq!(out, b"partial");
    }

    #[test]
    fn held_back_bytes_are_bounded_by_the_longest_pattern() {
        let m = Masker::new(["0123456789"], &[]);
        let mut s = m.stream();
        let mut out = Vec::new();
        s.push(&[b'x'; 1000], &mut |b| out.extend_from_slice(b));
        assert!(s.pending.len() < m.longest, "{}", s.pending.len());
        assert_eq!(out.len() + s.pending.len(), 1000);
    }

    #[test]
    fn long_values_get_their_lines_and_whole_base64_only() {
        let key = format!("-----BEGIN KEY-----\n{}\n-----END KEY-----", "A/b+".repeat(400));
        let f = forms(&key);
        let whole = [STANDARD, URL_SAFE].map(|e| e.encode(&key));
        let unpadded = [STANDARD_NO_PAD, URL_SAFE_NO_PAD].map(|e| e.encode(&key));
        assert!(f.contains(&STANDARD.encode(&key)) && f.iter().any(|l| l.starts_with("A/b+")));
        for form in &f {
            let known = key.lines().any(|l| l == form) || whole.contains(form) || unpadded.contains(form);
            assert!(known, "only lines and whole encodings: {form}");
        }
    }

    #[test]
    fn short_forms_are_left_out() {
        assert!(forms("abc").iter().all(|f| f.len() >= MIN_CHARS));
        assert!(forms("abcd").contains(&"abcd".to_string()));
        assert!(forms("a\nbcde").contains(&"bcde".to_string()));
        assert!(!forms("a\nbcde").contains(&"a".to_string()));
    }
}
