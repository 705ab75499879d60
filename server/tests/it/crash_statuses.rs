//! The real server, configured for the fake GitHub, killed with SIGKILL while one build has
//! finished, one runs and one waits: after the restart every build's last commit status on
//! GitHub is its final state. (A build's status is queued in the transaction that changes the
//! build, so no crash falls between the two; this test is the one that saw recovery's own
//! verdicts go missing when they were announced before the status poster listened.)

use crate::common::process::{ServerProcess, free_port, read_sse};
use crate::common::web_app::{Browser, CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET};
use fake_github::{CommitSpec, FakeGithub, FakeGithubOptions, Permission, RepoSpec};
use serde_json::json;

const SLOW: &str = r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#;
const QUICK: &str = r#"{"test": {"custom": ["echo quick"]}}"#;

async fn build_of(alice: &Browser, branch: &str) -> serde_json::Value {
    let (code, b) = alice
        .post("/api/repos/alice/app/builds", Some(json!({ "branch": branch })))
        .await;
    assert_eq!(code, 201, "{b}");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_builds_last_status_reaches_github_across_a_sigkill() {
    let fake = FakeGithub::start(FakeGithubOptions {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        state_dir: None,
        port: 0,
    })
    .await
    .unwrap();
    fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    fake.commit("alice/app", CommitSpec::new("main", "Quick").file("sicuro.json", QUICK))
        .await
        .unwrap();
    fake.commit("alice/app", CommitSpec::new("slow", "Slow").file("sicuro.json", SLOW))
        .await
        .unwrap();
    fake.commit("alice/app", CommitSpec::new("quick", "Quick too").file("a.txt", "a"))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (web, api) = (fake.web_url(), fake.api_url());
    let env = [
        ("SICURO_PUBLIC_URL", url.as_str()),
        ("SICURO_GITHUB_URL", web.as_str()),
        ("SICURO_GITHUB_API_URL", api.as_str()),
        ("SICURO_GITHUB_CLIENT_ID", CLIENT_ID),
        ("SICURO_GITHUB_CLIENT_SECRET", CLIENT_SECRET),
        ("SICURO_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SICURO_OPEN", "true"),
        ("SICURO_SECRET_KEY", "a-crash-test-secret-key-of-enough-length"),
        ("SICURO_MAX_CONCURRENT_BUILDS", "1"),
    ];
    let mut server = ServerProcess::start_at(&data, port, &env).await;
    let mut alice = Browser::at(&url);
    alice.sign_in("alice").await.expect("signed in");
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");

    // One build finishes (main), one runs (slow) and one waits behind it (quick).
    let done = build_of(&alice, "main").await;
    let running = build_of(&alice, "slow").await;
    let waiting = build_of(&alice, "quick").await;
    let end = read_sse(&format!("{url}/api/builds/{}/log/stream", done["id"]), None, |e| {
        e.event == "end"
    })
    .await;
    assert!(end.last().unwrap().data.contains("success"), "{end:?}");
    read_sse(&format!("{url}/api/builds/{}/log/stream", running["id"]), None, |e| {
        e.event == "lines" && e.data.contains("started")
    })
    .await;

    server.kill();
    let server = server.restart().await;

    let target = |b: &serde_json::Value| format!("{url}/repos/alice/app/builds/{}", b["number"]);
    let last_status = |f: &FakeGithub, b: &serde_json::Value| {
        let t = target(b);
        f.statuses("alice/app")
            .into_iter()
            .filter(|s| s.target_url.as_deref() == Some(t.as_str()))
            .next_back()
    };
    // The fake's waits last 20 s; the waiting build still has to run: give it ten of them.
    let mut finals = None;
    for _ in 0..10 {
        let found = fake
            .wait_for("every build's final status", |f| {
                let all: Vec<_> = [&done, &running, &waiting].iter().map(|b| last_status(f, b)).collect();
                all.iter()
                    .all(|s| s.as_ref().is_some_and(|s| s.state != "pending"))
                    .then_some(all)
            })
            .await;
        if let Ok(all) = found {
            finals = Some(all);
            break;
        }
    }
    let finals = finals.unwrap_or_else(|| {
        panic!(
            "not every build's final status reached GitHub: {:#?}\nserver log:\n{}",
            fake.statuses("alice/app"),
            server.log()
        )
    });
    let finals: Vec<_> = finals.into_iter().map(Option::unwrap).collect();
    assert_eq!(finals[0].state, "success", "{:?}", finals[0]);
    assert_eq!(finals[1].state, "error", "{:?}", finals[1]);
    assert!(
        finals[1]
            .description
            .as_deref()
            .is_some_and(|d| d.contains("the server restarted during the build")),
        "{:?}",
        finals[1]
    );
    assert_eq!(
        finals[2].state, "success",
        "the waiting build ran after the restart: {:?}",
        finals[2]
    );
}
