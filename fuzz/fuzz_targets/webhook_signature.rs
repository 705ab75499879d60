#![no_main]
//! The signature check on arbitrary headers and bodies: never panics, and a forged header
//! never verifies.
use libfuzzer_sys::fuzz_target;
use sicuro_fuzz::signature::{sign, verify};

fuzz_target!(|input: (&[u8], &str, &[u8])| {
    let (secret, header, body) = input;
    if secret.is_empty() {
        return;
    }
    if verify(secret, Some(header), body).is_ok() {
        assert_eq!(header.trim(), sign(secret, body), "only the true signature verifies");
    }
});
