//! Scheduled builds through the whole server: the schedule set on the settings API (a broken
//! expression refused with what is expected), fired by the timer's pass when due — once for a
//! server that was down — building the named branch with event `schedule`, reported to GitHub; a missing branch said on the settings page.

use crate::common::web_app::{Browser, TestApp};
use fake_github::{CommitSpec, Permission, RepoSpec};
use serde_json::json;
use sicuro_types::BuildStatus;

const SICURO_JSON: &str = r#"{"test": {"custom": ["echo hello from $SICURO_REPO at $SICURO_COMMIT"]}}"#;

/// alice's repository alice/app with a commit on main, subscribed, its ping build passed.
async fn subscribed() -> (TestApp, Browser) {
    let app = TestApp::start().await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    app.wait_builds("alice/app", "the ping build to end", |b| {
        b.iter().find(|b| b.status() == BuildStatus::Success).map(|_| ())
    })
    .await;
    (app, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_set_in_the_settings_builds_its_branch_once_when_due_and_reports_it() {
    let (app, alice) = subscribed().await;
    let nightly = app
        .fake
        .commit(
            "alice/app",
            CommitSpec::new("nightly", "Nightly").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    let (_, mut settings) = alice.get_json("/api/repos/alice/app/settings").await;

    settings["schedule"] = json!("every night");
    let (code, body) = alice
        .post("/api/repos/alice/app/settings", Some(settings.clone()))
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body.to_string().contains("five fields"),
        "the error says what is expected: {body}"
    );

    settings["schedule"] = json!(" 0 3 * * * ");
    settings["schedule_branch"] = json!("nightly");
    let (code, body) = alice.post("/api/repos/alice/app/settings", Some(settings)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["schedule"], "0 3 * * *");
    assert_eq!(body["schedule_branch"], "nightly");

    let engine = &app.state.engine;
    let now = sicuro::db::now_ms();
    assert!(
        sicuro::schedules::pass(engine, now).await.unwrap().is_empty(),
        "a schedule set now owes nothing yet"
    );
    // Three days later (a server that was down): one build, not three.
    let later = now + 3 * 86_400_000;
    let fired = sicuro::schedules::pass(engine, later).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(
        sicuro::schedules::pass(engine, later).await.unwrap().is_empty(),
        "it fired once"
    );
    let build = app
        .wait_builds("alice/app", "the scheduled build to end", |b| {
            b.iter()
                .find(|b| b.id == fired[0] && b.status() == BuildStatus::Success)
                .cloned()
        })
        .await;
    assert_eq!(build.event(), sicuro_types::TriggerEvent::Schedule);
    assert_eq!(build.branch.as_deref(), Some("nightly"));
    assert_eq!(build.commit_sha, nightly.after);
    let (_, api) = alice.get_json(&format!("/api/builds/{}", build.id)).await;
    assert_eq!(api["summary"]["event"], "schedule", "{api}");
    app.wait_github("the scheduled build's success status", |f| {
        f.statuses("alice/app")
            .iter()
            .any(|s| s.sha == nightly.after && s.state == "success")
            .then_some(())
    })
    .await
    .unwrap();
}

/// A schedule whose branch does not exist builds nothing and says why on the settings page, until
/// a scheduled build starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_build_whose_branch_is_missing_says_why_on_the_settings_page() {
    let (app, alice) = subscribed().await;
    let (_, mut settings) = alice.get_json("/api/repos/alice/app/settings").await;
    settings["schedule"] = json!("@daily");
    settings["schedule_branch"] = json!("release");
    let (code, body) = alice.post("/api/repos/alice/app/settings", Some(settings)).await;
    assert_eq!(code, 200, "{body}");
    let page = || async {
        let (code, html) = alice.get_text("/repos/alice/app/settings").await;
        assert_eq!(code, 200);
        html
    };
    assert!(
        !page().await.contains("id=\"schedule-error\""),
        "no error before it fires"
    );

    let engine = &app.state.engine;
    let day = 86_400_000;
    let now = sicuro::db::now_ms();
    let fired = sicuro::schedules::pass(engine, now + day).await.unwrap();
    assert!(fired.is_empty(), "nothing to build: {fired:?}");
    let html = page().await;
    let note = html
        .split("id=\"schedule-error\"")
        .nth(1)
        .unwrap_or_else(|| panic!("the settings page says why: {html}"));
    let note = &note[..note.find("</p>").unwrap()];
    assert!(
        note.contains("The scheduled build of release at") && note.contains("could not start"),
        "{note}"
    );
    assert_eq!(app.builds_of("alice/app").await.len(), 1, "only the ping build");

    // Once the branch exists, the next occurrence builds it and the note goes.
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("release", "Release").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    let fired = sicuro::schedules::pass(engine, now + 2 * day).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(!page().await.contains("id=\"schedule-error\""), "the note is gone");
}
