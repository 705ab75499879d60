#![no_main]
//! The container-output line assembler: however the byte stream is cut, the same lines come out.
use libfuzzer_sys::fuzz_target;
use sicuro_fuzz::output::{LineAssembler, Piece};

fn assemble(bytes: &[u8], cut: usize) -> Vec<Piece> {
    let mut a = LineAssembler::new("n");
    let mut out = Vec::new();
    let cut = cut.min(bytes.len());
    a.push(&bytes[..cut], &mut |p| out.push(p));
    a.push(&bytes[cut..], &mut |p| out.push(p));
    a.finish(&mut |p| out.push(p));
    out
}

fuzz_target!(|input: (u16, &[u8])| {
    let (cut, bytes) = input;
    assert_eq!(assemble(bytes, cut as usize), assemble(bytes, 0));
});
