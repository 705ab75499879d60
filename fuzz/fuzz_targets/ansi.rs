#![no_main]
//! The ANSI renderer: never panics, and what it returns never contains an escape character.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for seg in app::ansi::render(text) {
        assert!(!seg.text.contains('\u{1b}'));
    }
    let _ = app::ansi::strip(text);
});
