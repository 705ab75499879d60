//! Property tests (fuzzing on stable Rust): the webhook signature check, webhook payload
//! parsing, the `sicuro.json` parser, the output line assembler and the secrets' masker never
//! panic on arbitrary input, and keep their promises on generated input. `scripts/fuzz.sh` runs the same code
//! paths under cargo-fuzz when it is installed.

use proptest::prelude::*;
use sicuro::engine::mask::Masker;
use sicuro::engine::output::{LineAssembler, Piece};
use sicuro::engine::plan::Plan;
use sicuro::engine::sicuro_json::SicuroJson;
use sicuro::web::webhook::decide::decide;
use sicuro::web::webhook::signature::{SignatureError, sign, verify};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("SICURO_PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(2000),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_signature_header_is_handled_and_only_the_right_one_verifies(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        header in ".{0,80}",
        flip in 0usize..64,
    ) {
        let _ = verify(&secret, Some(&header), &body);
        let good = sign(&secret, &body);
        prop_assert_eq!(verify(&secret, Some(&good), &body), Ok(()));
        // Any change to one hex digit of the signature is refused.
        let mut bad = good.clone().into_bytes();
        let i = 7 + flip;
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        prop_assert_eq!(verify(&secret, Some(&bad), &body), Err(SignatureError::Mismatch));
    }

    #[test]
    fn webhook_parsing_never_panics(event in prop_oneof!["push", "ping", "pull_request", "issues"], body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decide(&event, &body);
    }

    #[test]
    fn push_payloads_decide_as_their_ref_says(branch in "[a-z][a-z0-9/_-]{0,20}", tag in any::<bool>(), sha in "[0-9a-f]{40}", msg in ".{0,40}") {
        let r = if tag { format!("refs/tags/{branch}") } else { format!("refs/heads/{branch}") };
        let body = serde_json::json!({"ref": r, "after": sha, "deleted": false, "head_commit": {"message": msg}, "repository": {"id": 1, "full_name": "o/r"}});
        let d = decide("push", body.to_string().as_bytes()).unwrap();
        let skip = msg.contains("[skip ci]") || msg.contains("[ci skip]");
        match d {
            sicuro::web::webhook::decide::Decision::Build { trigger: sicuro::web::webhook::decide::Trigger::Push { branch: b, is_tag, sha: s, .. }, .. } => {
                prop_assert!(!skip);
                prop_assert_eq!((b, is_tag, s), (branch, tag, sha));
            }
            sicuro::web::webhook::decide::Decision::Ignore(_) => prop_assert!(skip),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn sicuro_json_parsing_never_panics(text in ".{0,300}") {
        let _ = SicuroJson::parse(&text);
        let _ = Plan::new(&["package.json".to_string()], Some(&text), None);
    }

    #[test]
    fn generated_sicuro_json_follows_the_override_and_custom_rules(
        phases in proptest::collection::vec((any::<bool>(), proptest::collection::vec("[a-z ]{1,12}", 0..3)), 3),
    ) {
        let names = ["dependencies", "setup", "test"];
        let mut doc = serde_json::Map::new();
        for (name, (ov, custom)) in names.iter().zip(&phases) {
            doc.insert(name.to_string(), serde_json::json!({"override": ov, "custom": custom}));
        }
        let text = serde_json::Value::Object(doc).to_string();
        let plan = Plan::new(&["go.mod".to_string()], Some(&text), None).unwrap();
        let defaults = [vec![], vec!["go mod download".to_string()], vec!["go test ./...".to_string()]];
        for (i, (ov, custom)) in phases.iter().enumerate() {
            let mut want = if *ov { vec![] } else { defaults[i].clone() };
            want.extend(custom.iter().cloned());
            prop_assert_eq!(&plan.phases[i].commands, &want);
        }
        // The script quotes every command as one word: parse it back.
        let script = plan.script("nonce");
        for cmd in plan.commands() {
            prop_assert!(script.contains(&sicuro::engine::plan::shell_quote(cmd)));
        }
    }

    #[test]
    fn lines_are_the_same_however_the_stream_is_cut(
        text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..2000),
        cuts in proptest::collection::vec(0usize..2000, 0..20),
    ) {
        let whole = assemble(&text, &[]);
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(assemble(&text, &cuts), whole);
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Secrets from a four-letter alphabet overlap each other and the output around them, the
    /// hard case for leftmost-longest matching across chunk boundaries.
    #[test]
    fn no_secret_survives_masking_however_the_stream_is_cut(
        secrets in proptest::collection::vec("[a-d]{4,9}", 1..5),
        parts in proptest::collection::vec((0usize..5, "[a-e\n]{0,12}"), 0..30),
        cuts in proptest::collection::vec(0usize..600, 0..12),
    ) {
        let mut text = String::new();
        for (i, noise) in &parts {
            text.push_str(noise);
            if let Some(s) = secrets.get(*i) {
                text.push_str(s);
            }
        }
        let masker = Masker::new(&secrets, &[]);
        let whole = masker.mask(&text).into_owned();
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(masked_stream(&masker, text.as_bytes(), &cuts), whole.clone());
        for s in &secrets {
            prop_assert!(!whole.contains(s.as_str()), "{} survived in {:?} (from {:?})", s, whole, text);
        }
    }
}

fn masked_stream(masker: &Masker, bytes: &[u8], cuts: &[usize]) -> String {
    let mut stream = masker.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let c = c.min(bytes.len()).max(last);
        stream.push(&bytes[last..c], &mut |b| out.extend_from_slice(b));
        last = c;
    }
    stream.finish(&mut |b| out.extend_from_slice(b));
    String::from_utf8(out).unwrap()
}

fn assemble(bytes: &[u8], cuts: &[usize]) -> Vec<Piece> {
    let mut a = LineAssembler::new("n");
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let c = c.min(bytes.len()).max(last);
        a.push(&bytes[last..c], &mut |p| out.push(p));
        last = c;
    }
    a.finish(&mut |p| out.push(p));
    out
}
