#![no_main]
//! The secrets' masker: however the output is cut into chunks, it comes out as if masked
//! whole, and no secret's value is left in it.
use libfuzzer_sys::fuzz_target;
use sicuro_fuzz::mask::Masker;

fn streamed(masker: &Masker, bytes: &[u8], cuts: &[u16]) -> Vec<u8> {
    let mut stream = masker.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&(bytes.len() as u16))) {
        let c = (c as usize).min(bytes.len()).max(last);
        stream.push(&bytes[last..c], &mut |b| out.extend_from_slice(b));
        last = c;
    }
    stream.finish(&mut |b| out.extend_from_slice(b));
    out
}

fuzz_target!(|input: (Vec<String>, &[u8], Vec<u16>)| {
    let (secrets, text, mut cuts) = input;
    let text = &text[..text.len().min(u16::MAX as usize)];
    let masker = Masker::new(&secrets, &[]);
    cuts.sort_unstable();
    let whole = streamed(&masker, text, &[]);
    assert_eq!(streamed(&masker, text, &cuts), whole, "chunking changed the result");
    for s in &secrets {
        // Values the masker hides whole: single lines of four characters or more; a value with
        // `*` could be rebuilt from the replacement itself.
        if s.chars().count() >= 4 && !s.contains(['\n', '*']) {
            assert!(
                !whole.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s:?} survived"
            );
        }
    }
});
