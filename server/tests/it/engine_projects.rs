//! Real projects' failure classes, each reproduced by a small fixture that fails on the images
//! and defaults of before (watched: see images/README.md "Projects Sicuro was tried on") and
//! must pass now: test dependencies declared the modern way, the basic set of tools, toolchains
//! that fit the registry, and a missing command that says how to add it.

use crate::common::{TestEngine, leftovers};
use sicuro_types::{BuildStatus, LineKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_projects_failure_classes_build_on_their_own_defaults() {
    let t = TestEngine::start().await;
    // (fixture, a command its log must echo: the default that makes it pass)
    let cases = [
        ("python-test-deps", "pip install -e '.[tests]' --group test"),
        (
            "python-uv-lock",
            "uv sync --locked --active --inexact --no-default-groups --group test",
        ),
        ("python-basic-set", "pytest"),
        ("node-modern", "npm test"),
        ("node-pnpm", "pnpm install --frozen-lockfile"),
        ("go-modern", "go test ./..."),
        ("go-vendored", "go test ./..."),
        ("rust-unlocked-msrv", "cargo test"),
    ];
    let runs = cases.iter().map(|(fixture, command)| {
        let t = &t;
        async move {
            let (repo, git) = t.fixture_repo(fixture).await;
            let b = t.build(&repo, &git.head()).await;
            let done = t.finished(b.id).await;
            let log = t.log(b.id).await;
            t.engine.clear_caches(repo.id).await.unwrap();
            (*fixture, *command, done, log, b.id)
        }
    });
    for (fixture, command, done, log, id) in futures::future::join_all(runs).await {
        let text: Vec<String> = log.iter().map(|l| format!("{:?} {}", l.kind(), l.text())).collect();
        assert_eq!(
            done.status(),
            BuildStatus::Success,
            "{fixture}: {:?}\n{}",
            done.error,
            text.join("\n")
        );
        assert!(
            log.iter().any(|l| l.kind() == LineKind::Command && l.text() == command),
            "{fixture} echoes `{command}`:\n{}",
            text.join("\n")
        );
        assert_eq!(
            leftovers(&t.engine, id).await,
            (0, 0),
            "{fixture} left containers behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_missing_from_the_image_says_which_and_how_to_add_it() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "missing-command",
            r#"{"setup": {"custom": ["protoc --version"]}, "test": {"custom": ["true"]}}"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    t.engine.clear_caches(repo.id).await.unwrap();
    let error = done.error.clone().unwrap_or_default();
    assert_eq!(done.status(), BuildStatus::Failure, "{error}");
    let advice = r#"{"dependencies": {"custom": ["apt-get update", "apt-get install -y protoc"]}}"#;
    for needed in [
        "`protoc --version` exited with code 127",
        "`protoc` is not installed",
        advice,
        "\"image\"",
    ] {
        assert!(error.contains(needed), "the verdict says {needed:?}: {error}");
    }
    let log = t.log(b.id).await;
    assert!(
        log.iter()
            .any(|l| l.kind() == LineKind::Notice && l.text().contains(advice)),
        "a notice line gives the advice"
    );
    // A test that fails with 127 is the project's own problem: no advice about images there.
    let (repo, git) = t
        .script_repo("missing-in-test", r#"{"test": {"custom": ["protoc --version"]}}"#, &[])
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    t.engine.clear_caches(repo.id).await.unwrap();
    assert_eq!(done.status(), BuildStatus::Failure);
    assert!(!done.error.unwrap_or_default().contains("apt-get"));
}

/// Every language image has the basic set of images/README.md, not only the python one the
/// fixture above runs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_language_image_carries_the_basic_set() {
    let t = TestEngine::start().await;
    let check = "for t in make pkg-config gcc g++ less curl wget unzip zip xz jq ssh sqlite3 file ps git git-lfs; do \
                 command -v $t >/dev/null || { echo missing $t; exit 1; }; done; \
                 test \"$LANG\" = C.UTF-8 && locale -a | grep -qx en_US.utf8 && echo basic-set-ok";
    let runs = ["ruby", "node", "python", "go", "rust"].map(|lang| {
        let t = &t;
        async move {
            let json = serde_json::json!({"language": lang, "dependencies": {"override": true},
                "setup": {"override": true}, "test": {"override": true, "custom": [check]}});
            let (repo, git) = t.script_repo(&format!("basic-{lang}"), &json.to_string(), &[]).await;
            let b = t.build(&repo, &git.head()).await;
            let done = t.finished(b.id).await;
            t.engine.clear_caches(repo.id).await.unwrap();
            (lang, done, t.log_text(b.id).await)
        }
    });
    for (lang, done, log) in futures::future::join_all(runs).await {
        assert_eq!(done.status(), BuildStatus::Success, "{lang}: {:?}\n{log}", done.error);
        assert!(log.contains("basic-set-ok"), "{lang}: {log}");
    }
}
