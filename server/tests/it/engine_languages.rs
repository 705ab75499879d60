//! Each language's image and defaults, end to end on the real Docker engine: a sample project
//! whose tests pass ends `success`, one whose tests fail ends `failure` at its test command.

use crate::common::{TestEngine, leftovers};
use sicuro_types::{BuildStatus, LineKind};

async fn verdict(t: &TestEngine, fixture: &str) -> (BuildStatus, String, Vec<sicuro_types::LogLine>, i64) {
    let (repo, git) = t.fixture_repo(fixture).await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    (
        done.status(),
        done.error.clone().unwrap_or_default(),
        t.log(b.id).await,
        b.id,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_language_passes_and_fails_for_real() {
    let t = TestEngine::start().await;
    let cases = [
        ("ruby", "bundle exec rake test"),
        ("node", "npm test"),
        ("python", "pytest"),
        ("go", "go test ./..."),
        ("rust", "cargo test"),
    ];
    let runs = cases.iter().flat_map(|(lang, test_cmd)| {
        [true, false].map(|pass| {
            let t = &t;
            async move {
                let fixture = format!("{lang}-{}", if pass { "pass" } else { "fail" });
                let (status, error, log, id) = verdict(t, &fixture).await;
                (fixture, pass, *test_cmd, status, error, log, id)
            }
        })
    });
    let results = futures::future::join_all(runs).await;
    for (fixture, pass, test_cmd, status, error, log, id) in results {
        let text: Vec<String> = log.iter().map(|l| format!("{:?} {}", l.kind(), l.text())).collect();
        if pass {
            assert_eq!(status, BuildStatus::Success, "{fixture}: {error}\n{}", text.join("\n"));
        } else {
            assert_eq!(status, BuildStatus::Failure, "{fixture}: {error}\n{}", text.join("\n"));
            assert!(
                error.contains(&format!("`{test_cmd}` exited with code")),
                "{fixture} failed at its tests, not earlier: {error}"
            );
        }
        // The log shows each phase and echoes each command.
        let sections: Vec<&str> = log
            .iter()
            .filter(|l| l.kind() == LineKind::Section)
            .map(|l| l.text())
            .collect();
        assert_eq!(
            sections,
            ["checkout", "prepare", "dependencies", "setup", "test"],
            "{fixture}"
        );
        assert!(
            log.iter()
                .any(|l| l.kind() == LineKind::Command && l.text() == test_cmd),
            "{fixture} echoes `{test_cmd}`"
        );
        assert_eq!(
            leftovers(&t.engine, id).await,
            (0, 0),
            "{fixture} left containers or networks behind"
        );
    }
}
