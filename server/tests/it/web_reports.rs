//! Test reports end to end on the fake executor (the job script runs in the host's bash): the
//! JUnit XML a job writes is collected at its end, also when its test command fails, kept out of
//! the log, counted in the API and in the commit status, and a test that failed and then passed
//! on the same commit is marked flaky.

use crate::common::web_app::TestApp;
use fake_github::{CommitSpec, Permission, RepoSpec};
use sicuro_types::{BuildStatus, TestOutcome, TestReport};

/// pytest's JUnit XML (`pytest --junitxml=junit.xml`), shortened; `test_sums` fails in the first
/// build of a commit only.
const SCRIPT: &str = r#"if [ "$SICURO_BUILD_NUMBER" = 1 ]; then sums='<failure message="assert 3 == 4">def test_sums():
&gt;       assert add(1, 2) == 4
E       assert 3 == 4</failure><system-out>adding 1 and 2</system-out>'; else sums=''; fi
cat > junit.xml <<EOF
<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="1.5">
<testcase classname="tests.test_math" name="test_adds" time="0.001"/>
<testcase classname="tests.test_math" name="test_sums" time="1.250">$sums</testcase>
<testcase classname="tests.test_math" name="test_slow_io" time="0.200"/>
<testcase classname="tests.test_math" name="test_later" time="0"><skipped message="not yet"/></testcase>
</testsuite></testsuites>
EOF
[ "$SICURO_BUILD_NUMBER" != 1 ]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_collected_counted_kept_out_of_the_log_and_flaky_tests_are_marked() {
    reports_on(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_flaky_tests_work_on_postgresql() {
    if !crate::common::postgres_available() {
        eprintln!("SICURO_TEST_DATABASE_URL is not set; `make test` sets it");
        return;
    }
    reports_on(true).await;
}

async fn reports_on(postgres: bool) {
    let app = TestApp::start_with(postgres, &[]).await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    let sicuro_json = serde_json::json!({"test": {"custom": [SCRIPT]}}).to_string();
    let commit = app
        .fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Tests").file("sicuro.json", &sicuro_json),
        )
        .await
        .unwrap();
    let mut alice = app.signed_in("alice").await;
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    let first = app
        .wait_builds("alice/app", "the first build", |b| {
            b.iter().find(|b| b.number == 1 && b.status().is_finished()).cloned()
        })
        .await;
    assert_eq!(first.status(), BuildStatus::Failure);

    let (code, report) = alice.get_json(&format!("/api/builds/{}/tests", first.id)).await;
    assert_eq!(code, 200, "{report}");
    let report: TestReport = serde_json::from_value(report).unwrap();
    assert_eq!(
        (report.counts.passed, report.counts.failed, report.counts.skipped),
        (2, 1, 1)
    );
    let failing = &report.failing[0];
    assert_eq!(
        (failing.classname.as_str(), failing.name.as_str()),
        ("tests.test_math", "test_sums")
    );
    assert_eq!(failing.outcome, TestOutcome::Failed);
    assert!(
        failing.message.as_deref().unwrap().contains("E       assert 3 == 4"),
        "{failing:?}"
    );
    assert_eq!(failing.output.as_deref(), Some("adding 1 and 2"));
    assert_eq!(report.slowest[0].name, "test_sums");
    assert!(report.flaky.is_empty());

    // The reports are not in the log; the counts are.
    let log = crate::common::read_whole_log(&app.state.engine, first.id).await;
    assert!(
        log.iter().all(|l| !l.text().contains("##sicuro")),
        "no report lines in the log"
    );
    assert!(log.iter().any(|l| l.text() == "Tests: 2 passed, 1 failed, 1 skipped"));

    // The commit status carries the counts.
    let sha = commit.after.clone();
    app.wait_github("the failure status", |f| {
        f.statuses("alice/app")
            .into_iter()
            .any(|s| s.sha == sha && s.state == "failure")
            .then_some(())
    })
    .await
    .unwrap();
    let status = app
        .fake
        .statuses("alice/app")
        .into_iter()
        .find(|s| s.sha == sha && s.state == "failure")
        .unwrap();
    assert!(
        status
            .description
            .as_deref()
            .unwrap()
            .starts_with("2 passed, 1 failed, 1 skipped"),
        "{status:?}"
    );

    // The same commit again: the test passes now, so it is flaky.
    alice.refresh_csrf().await;
    let (code, body) = alice.post(&format!("/api/builds/{}/rebuild", first.id), None).await;
    assert!(code == 200 || code == 201, "{body}");
    let second = app
        .wait_builds("alice/app", "the rebuild", |b| {
            b.iter().find(|b| b.number == 2 && b.status().is_finished()).cloned()
        })
        .await;
    assert_eq!(second.status(), BuildStatus::Success);
    let (_, report) = alice.get_json(&format!("/api/builds/{}/tests", second.id)).await;
    let report: TestReport = serde_json::from_value(report).unwrap();
    assert_eq!((report.counts.passed, report.counts.failed), (3, 0));
    assert_eq!(
        report.flaky.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["test_sums"]
    );
    let (_, first_again) = alice.get_json(&format!("/api/builds/{}/tests", first.id)).await;
    let first_again: TestReport = serde_json::from_value(first_again).unwrap();
    assert!(first_again.failing[0].flaky, "the earlier failure is marked flaky too");

    // A build without reports has none; the anonymous cannot read a private one (not here).
    let (code, _) = app.browser().get_json("/api/builds/999/tests").await;
    assert_eq!(code, 404);
}
