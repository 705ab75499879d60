#![no_main]
//! sicuro.json: the parser and the plan never panic, and an accepted file gives a script.
use libfuzzer_sys::fuzz_target;
use sicuro_fuzz::plan::Plan;

fuzz_target!(|text: &str| {
    if let Ok(plan) = Plan::new(&["Cargo.toml".to_string()], Some(text), None) {
        let script = plan.script("fuzz");
        assert!(script.ends_with("__sicuro_mark d 0\n"));
    }
});
