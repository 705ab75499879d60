#![no_main]
//! Webhook payload parsing: arbitrary bytes for each event Sicuro reads never panic.
use libfuzzer_sys::fuzz_target;
use sicuro_fuzz::decide::decide;

fuzz_target!(|data: &[u8]| {
    for event in ["ping", "push", "pull_request"] {
        let _ = decide(event, data);
    }
});
