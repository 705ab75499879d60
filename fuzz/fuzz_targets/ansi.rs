#![no_main]
//! The ANSI renderer: never panics, and what it returns never contains an escape character.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for seg in sicuro_fuzz::ansi::render(text) {
        assert!(!seg.text.contains('\u{1b}'));
    }
    let _ = sicuro_fuzz::ansi::strip(text);
});
