//! Faults on the real test swarm: a worker's dockerd killed mid-build (the build ends `error`
//! naming the node; nothing is rerun), Sicuro SIGKILLed mid-build and restarted (the build ends
//! as today, the reaper empties the swarm of it), and the manager gone (`/healthz` 503, builds
//! wait saying why, then run). The tests that stop a swarm daemon have the swarm to themselves,
//! and bring the daemon back (`swarm.sh up`) before they end.

use std::time::Duration;

use serde_json::json;
use sicuro_types::BuildStatus;

use crate::common::process::{ServerProcess, read_sse};
use crate::common::swarm::{self, Leftovers};
use crate::common::{TestEngine, data_and_repo, engine_config, leftovers};
use crate::swarm::node_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_a_worker_that_dies_ends_its_build_with_an_error_naming_it() {
    let _alone = swarm::SWARM.write().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo(
            "doomed",
            &json!({"timeout": "2m", "test": {"custom": ["echo started", "sleep 600"]}}).to_string(),
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    t.until_log_contains(b.id, "started").await;
    let node = node_of(&t.log_so_far(b.id).await);
    let _bring_back = swarm::BringBackOnDrop;
    let killed = std::time::Instant::now();
    swarm::kill_node(&node, "KILL");
    let done = t.finished(b.id).await;
    println!("a worker's dockerd killed → the build ended: {:?}", killed.elapsed());
    let error = done.error.clone().unwrap_or_default();
    swarm::restore().await;
    assert_eq!(done.status(), BuildStatus::Error, "{error}");
    assert!(
        error.contains(&format!("swarm node {node}")) && error.contains("stopped answering"),
        "the error names the node: {error}"
    );
    assert!(error.contains("rebuild it"), "and says what to do: {error}");
    // The dead node's container goes once the node is back; nothing was rerun elsewhere.
    swarm::until(
        Duration::from_secs(120),
        "the lost build's objects to be gone",
        || async { leftovers(&t.engine, b.id).await == (0, 0) },
    )
    .await;
}

const SLOW: &str = r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#;
const QUICK: &str = r#"{"test": {"custom": ["echo quick"]}}"#;

fn server_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = swarm::server_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn start(data: &std::path::Path, extra: &[(&str, &str)]) -> ServerProcess {
    let env = server_env(extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(data, &pairs).await
}

async fn instance_id(server: &ServerProcess) -> String {
    sicuro::db::meta::get(&server.db().await, "instance_id")
        .await
        .unwrap()
        .unwrap()
}

async fn trigger(server: &ServerProcess, slug: &str, branch: &str) -> i64 {
    let (code, body) = server
        .post(&format!("/api/repos/{slug}/builds"), json!({ "branch": branch }))
        .await;
    assert!(code == 201 || code == 200, "{code} {body}");
    body["id"].as_i64().unwrap()
}

async fn until_end(server: &ServerProcess, id: i64) -> String {
    let end = read_sse(&format!("{}/api/builds/{id}/log/stream", server.url), None, |e| {
        e.event == "end"
    })
    .await;
    end.last().map(|e| e.data.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_sicuro_killed_mid_build_recovers_and_leaves_nothing_on_the_swarm() {
    let _shared = swarm::SWARM.read().await;
    let (_dir, data, git) = data_and_repo(SLOW);
    git.git(&["checkout", "-q", "-b", "quick"]);
    git.write("sicuro.json", QUICK);
    git.commit_all("quick");
    git.git(&["checkout", "-q", "main"]);
    let server = start(&data, &[("SICURO_MAX_CONCURRENT_BUILDS", "1")]).await;
    let (code, body) = server
        .post(
            "/api/repos",
            json!({ "url": git.path.display().to_string(), "slug": "local/crashy" }),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let instance = instance_id(&server).await;
    let slow = trigger(&server, "local/crashy", "main").await;
    let quick = trigger(&server, "local/crashy", "quick").await;
    read_sse(&format!("{}/api/builds/{slow}/log/stream", server.url), None, |e| {
        e.data.contains("started")
    })
    .await;
    let mut server = server;
    server.kill();
    assert!(
        swarm::objects(&[(sicuro::engine::executor::docker::client::LABEL_INSTANCE, &instance)])
            .await
            .services
            > 0,
        "the killed server's job goes on on the swarm"
    );
    let server = server.restart().await;

    let (_, b) = server.get(&format!("/api/builds/{slow}")).await;
    assert_eq!(b["summary"]["status"], "error", "{b}");
    assert_eq!(b["error"], "the server restarted during the build");
    assert!(
        until_end(&server, quick).await.contains("\"success\""),
        "the queued build ran"
    );
    let label = [(
        sicuro::engine::executor::docker::client::LABEL_INSTANCE,
        instance.as_str(),
    )];
    swarm::until(
        Duration::from_secs(90),
        "the swarm to hold nothing of this server",
        || async { swarm::objects(&label).await == Leftovers::default() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_an_unreachable_manager_holds_builds_back_saying_why_then_they_run() {
    let _alone = swarm::SWARM.write().await;
    let (_dir, data, git) = data_and_repo(QUICK);
    let server = start(&data, &[]).await;
    let (code, body) = server
        .post(
            "/api/repos",
            json!({ "url": git.path.display().to_string(), "slug": "local/patient" }),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    // SIGTERM: the manager's dockerd shuts down and removes its socket.
    let _bring_back = swarm::BringBackOnDrop;
    swarm::kill_node("swn1", "TERM");
    swarm::until(Duration::from_secs(60), "/healthz to answer 503", || async {
        reqwest::get(format!("{}/healthz", server.url))
            .await
            .is_ok_and(|r| r.status() == 503)
    })
    .await;
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = health["docker"]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("Docker Swarm manager"), "{health}");

    let id = trigger(&server, "local/patient", "main").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let b: serde_json::Value = reqwest::get(format!("{}/api/builds/{id}", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if b["summary"]["status"] == "queued"
            && b["error"].as_str().is_some_and(|e| e.contains("waiting for the swarm"))
        {
            break b.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queued build never said why it waits: {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(shown.contains("cannot be reached"), "{shown}");

    swarm::restore().await;
    assert!(
        until_end(&server, id).await.contains("\"success\""),
        "the build ran once the manager was back"
    );
    let health = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_a_build_goes_on_while_the_manager_is_away_and_its_log_resumes_exactly() {
    let _alone = swarm::SWARM.write().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo(
            "outlasts",
            &json!({"test": {"custom": [
                "echo before-the-outage",
                "sleep 10",
                "seq 1 500 | sed 's/^/line /'",
                "exit 3"
            ]}})
            .to_string(),
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    t.until_log_contains(b.id, "before-the-outage").await;
    let _bring_back = swarm::BringBackOnDrop;
    swarm::kill_node("swn1", "TERM");
    let manager = swarm::node_host("swn1");
    swarm::until(Duration::from_secs(60), "the manager to stop answering", || async {
        match bollard::Docker::connect_with_host(&manager) {
            Ok(d) => d.version().await.is_err(),
            Err(_) => true,
        }
    })
    .await;
    swarm::restore().await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Failure, "{:?}\n{log}", done.error);
    assert_eq!(
        done.exit_code,
        Some(3),
        "the exit code reached while the manager was away: {log}"
    );
    assert!(log.contains("Lost the swarm manager"), "{log}");
    assert!(log.contains("The swarm manager answers again"), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("line ")).collect();
    let expected: Vec<String> = (1..=500).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected, "every line once, in order, across the reconnect");
    assert_eq!(leftovers(&t.engine, b.id).await, (0, 0));
}
