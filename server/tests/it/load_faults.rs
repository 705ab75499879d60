//! Faults and bursts: 1,000 webhook deliveries (30% redeliveries) from 20 concurrent senders
//! make exactly one build per distinct change; an SSE reader that disconnects and reconnects 100
//! times during a running build reassembles the exact log.

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::process::read_sse;
use crate::common::web_app::{TestApp, WEBHOOK_SECRET};
use fake_github::{CommitSpec, Permission, RepoSpec};
use sicuro::web::webhook::signature::sign;
use sicuro_types::{BuildStatus, LineKind, LogLine};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_deliveries_makes_one_build_per_change_and_loses_none() {
    // One build at a time, and the first one holds the slot: the burst stays in the queue.
    let app = TestApp::start_with(false, &[("SICURO_MAX_CONCURRENT_BUILDS", "1")]).await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", r#"{"test": {"custom": ["sleep 600"]}}"#),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    let blocker = app
        .wait_builds("alice/app", "the ping build to run", |b| {
            b.iter().find(|b| b.status() == BuildStatus::Running).cloned()
        })
        .await;
    let repo = app.fake.repo("alice/app").unwrap();

    // 700 distinct pushes (each to its own branch, its own commit) and 300 redeliveries.
    let distinct: Vec<(String, Vec<u8>)> = (0..700)
        .map(|i| {
            let sha = format!("{:040x}", 0xabc0000u64 + i);
            let body = serde_json::json!({
                "ref": format!("refs/heads/burst-{i}"),
                "before": "0".repeat(40),
                "after": sha,
                "created": true,
                "deleted": false,
                "head_commit": {"id": sha, "message": format!("change {i}"), "author": {"name": "Alice", "username": "alice"}},
                "repository": {"id": repo.id, "full_name": "alice/app", "default_branch": "main", "clone_url": app.fake.clone_url("alice/app")},
                "pusher": {"name": "alice"},
            });
            (format!("burst-{i}"), serde_json::to_vec(&body).unwrap())
        })
        .collect();
    let mut deliveries: Vec<(String, Vec<u8>)> = distinct.clone();
    deliveries.extend(distinct.iter().take(300).cloned());
    // Mix them so that a redelivery may race its original.
    deliveries.sort_by_key(|(id, body)| (body.len() * 31 + id.len() * 7) % 97);
    let deliveries = Arc::new(tokio::sync::Mutex::new(deliveries));
    let client = reqwest::Client::new();
    let senders = (0..20).map(|_| {
        let deliveries = deliveries.clone();
        let client = client.clone();
        let url = format!("{}/hooks/github", app.url);
        tokio::spawn(async move {
            let mut codes = Vec::new();
            loop {
                let Some((id, body)) = deliveries.lock().await.pop() else {
                    return codes;
                };
                let r = client
                    .post(&url)
                    .header("x-github-event", "push")
                    .header("x-github-delivery", &id)
                    .header("x-hub-signature-256", sign(WEBHOOK_SECRET.as_bytes(), &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                codes.push(r.status().as_u16());
            }
        })
    });
    let codes: Vec<u16> = futures::future::join_all(senders)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    assert_eq!(codes.len(), 1000);
    assert!(codes.iter().all(|c| *c == 202), "every delivery is answered 202");

    // The work happens in the background: wait until every change has its build.
    let builds = app
        .wait_builds("alice/app", "one build per change", |b| {
            (b.len() >= 701).then(|| b.to_vec())
        })
        .await;
    let shas: HashSet<&str> = builds
        .iter()
        .filter(|b| b.id != blocker.id)
        .map(|b| b.commit_sha.as_str())
        .collect();
    assert_eq!(
        builds.len(),
        701,
        "exactly one build per distinct change (and the ping's)"
    );
    assert_eq!(shas.len(), 700, "none lost, none doubled");
    for b in builds {
        app.state.engine.cancel(b.id, "the test").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_that_reconnects_a_hundred_times_gets_the_exact_log() {
    let app = TestApp::start().await;
    // The job (the fake executor runs it with the host's shell) prints ten lines at a time and
    // then waits until the reader's gate file lets it go on: however fast the machine, each
    // reconnect finds at most twenty new lines and the build still running.
    let gate = app.dir.path().join("gate");
    let gate_path = gate.display().to_string();
    let script = format!(
        "for i in $(seq 1 3000); do echo \"line $i\"; if [ $((i % 10)) -eq 0 ]; then until [ \"$(cat {gate_path} 2>/dev/null || echo 0)\" -ge $i ]; do sleep 0.005; done; fi; done"
    );
    let open_gate = |through: usize| {
        let tmp = gate.with_extension("new");
        std::fs::write(&tmp, through.to_string()).unwrap();
        std::fs::rename(&tmp, &gate).unwrap();
    };
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Chatty").file(
                "sicuro.json",
                &serde_json::json!({"test": {"custom": [script]}}).to_string(),
            ),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    let build = app
        .wait_builds("alice/app", "the build to start", |b| {
            b.iter().find(|b| b.status() == BuildStatus::Running).cloned()
        })
        .await;
    let url = format!("{}/api/builds/{}/log/stream", app.url, build.id);
    let mut got: Vec<LogLine> = Vec::new();
    let mut last_id: Option<String> = None;
    for reconnect in 1..=100 {
        // Let the job print up to ten lines past what this reader has; then read one batch
        // and drop the connection, as a flaky network would.
        let printed = got.iter().filter(|l| l.kind() == LineKind::Output).count();
        open_gate(printed + 10);
        let events = read_sse(&url, last_id.as_deref(), |e| e.event == "lines" || e.event == "end").await;
        for e in events {
            match e.event.as_str() {
                "lines" => {
                    got.extend(serde_json::from_str::<Vec<LogLine>>(&e.data).unwrap());
                    last_id = e.id.clone();
                }
                "end" => panic!("the build ended at reconnect {reconnect}, before the gate let it"),
                _ => {}
            }
        }
    }
    // A hundred reconnects mid-build; now let the job finish and read the rest in one go.
    open_gate(3000);
    let rest = read_sse(&url, last_id.as_deref(), |e| e.event == "end").await;
    for e in rest.iter().filter(|e| e.event == "lines") {
        got.extend(serde_json::from_str::<Vec<LogLine>>(&e.data).unwrap());
    }
    let stored: Vec<LogLine> = crate::common::read_whole_log(&app.state.engine, build.id).await;
    assert_eq!(got, stored, "no gap, no duplicate");
    let printed: Vec<&str> = got
        .iter()
        .filter(|l| l.kind() == LineKind::Output)
        .map(|l| l.text())
        .collect();
    assert_eq!(printed.len(), 3000);
}
