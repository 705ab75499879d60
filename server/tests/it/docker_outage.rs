//! The Docker daemon stopped in the middle of a build: the build ends `error` with a message
//! naming Docker, `/healthz` turns 503, the server keeps serving pages, and the next build
//! succeeds once the daemon is back.
//!
//! It stops the machine's dockerd, so it runs only when asked (`make test` does, after the other
//! tests, when it started dockerd itself): `SICURO_TEST_RESTART_DOCKERD=1 cargo test -p server
//! --test it docker_outage -- --ignored`.

use std::process::Command;
use std::time::Duration;

use crate::common::data_and_repo;
use crate::common::process::{ServerProcess, read_sse};

fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Waits for the daemon (an outside process) to reach the wanted state, for at most a minute.
async fn until_docker(up: bool) {
    for _ in 0..240 {
        if docker_answers() == up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "dockerd did not become {}",
        if up { "available" } else { "unavailable" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "stops the machine's Docker daemon; make test runs it on its own"]
async fn a_vanished_docker_daemon_ends_the_build_with_an_error_and_the_server_recovers() {
    assert_eq!(
        std::env::var("SICURO_TEST_RESTART_DOCKERD").as_deref(),
        Ok("1"),
        "only where this test may restart dockerd"
    );
    let (_dir, data, git) = data_and_repo(r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#);
    git.git(&["checkout", "-q", "-b", "quick"]);
    git.write("sicuro.json", r#"{"test": {"custom": ["echo quick"]}}"#);
    git.commit_all("quick");

    let server = ServerProcess::start(&data, &[]).await;
    server
        .post(
            "/api/repos",
            serde_json::json!({ "url": git.path.display().to_string(), "slug": "local/outage" }),
        )
        .await;
    let (_, b) = server
        .post(
            "/api/repos/local/outage/builds",
            serde_json::json!({ "branch": "main" }),
        )
        .await;
    let id = b["id"].as_i64().unwrap();
    read_sse(&format!("{}/api/builds/{id}/log/stream", server.url), None, |e| {
        e.data.contains("started")
    })
    .await;

    // The daemon goes away mid-build: the one make test started, by its pid.
    let pid =
        std::env::var("SICURO_TEST_DOCKERD_PID").expect("SICURO_TEST_DOCKERD_PID: the dockerd this test may stop");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    until_docker(false).await;
    let end = read_sse(&format!("{}/api/builds/{id}/log/stream", server.url), None, |e| {
        e.event == "end"
    })
    .await;
    assert!(end.last().unwrap().data.contains("\"error\""), "{:?}", end.last());
    let (_, detail) = server.get(&format!("/api/builds/{id}")).await;
    let message = detail["error"].as_str().unwrap().to_string();
    assert!(message.contains("Docker"), "the message names Docker: {message}");

    let health = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["docker"]["ok"], false);
    assert_eq!(body["database"]["ok"], true);
    let page = reqwest::Client::new()
        .get(format!("{}/repos/local/outage", server.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "pages are still served");

    // The daemon comes back (once the stopped one has exited); so do health and builds.
    // Exited: gone, or a zombie its parent (make test's shell) has not reaped yet.
    let exited = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
    };
    for _ in 0..240 {
        if exited() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(exited(), "dockerd {pid} did not exit within a minute of SIGTERM");
    Command::new("sh")
        .args([
            "-c",
            "rm -f /var/run/docker.pid; nohup dockerd >>/var/log/sicuro-dockerd.log 2>&1 &",
        ])
        .status()
        .unwrap();
    until_docker(true).await;
    let health = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    let (_, q) = server
        .post(
            "/api/repos/local/outage/builds",
            serde_json::json!({ "branch": "quick" }),
        )
        .await;
    let qid = q["id"].as_i64().unwrap();
    let end = read_sse(&format!("{}/api/builds/{qid}/log/stream", server.url), None, |e| {
        e.event == "end"
    })
    .await;
    assert!(end.last().unwrap().data.contains("\"success\""), "{:?}", end.last());
}
