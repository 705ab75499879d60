//! The server killed with SIGKILL in the middle of a build, at five different points: after a
//! restart no build stays `running`, none of Sicuro's containers or networks is left, the log
//! is intact up to the kill, and queued builds still run.

use crate::common::data_and_repo;
use crate::common::process::{ServerProcess, SseEvent, read_sse};
use sicuro_types::{BuildStatus, BuildSummary, LogLine};

const SLOW: &str = r#"{"test": {"custom": ["echo started", "for i in $(seq 1 50000); do echo line $i; done", "echo printed-all", "sleep 600"]}}"#;
const QUICK: &str = r#"{"test": {"custom": ["echo quick"]}}"#;

fn lines_of(events: &[SseEvent]) -> Vec<LogLine> {
    events
        .iter()
        .filter(|e| e.event == "lines")
        .flat_map(|e| serde_json::from_str::<Vec<LogLine>>(&e.data).unwrap())
        .collect()
}

async fn instance_id(server: &ServerProcess) -> String {
    sicuro::db::meta::get(&server.db().await, "instance_id")
        .await
        .unwrap()
        .unwrap()
}

/// Containers and networks carrying this instance's label.
async fn leftovers_of_instance(instance: &str) -> (usize, usize) {
    use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
    use sicuro::engine::executor::docker::client::{LABEL_INSTANCE, label_filter};
    let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
        .get()
        .await
        .unwrap();
    let f = label_filter(&[(LABEL_INSTANCE, instance)]);
    let c = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default().all(true).filters(&f).build(),
        ))
        .await
        .unwrap()
        .len();
    let n = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&f).build()))
        .await
        .unwrap()
        .len();
    (c, n)
}

async fn build_now(server: &ServerProcess, branch: &str) -> BuildSummary {
    let (code, body) = server
        .post(
            "/api/repos/local/crashy/builds",
            serde_json::json!({ "branch": branch }),
        )
        .await;
    assert!(code == 201 || code == 200, "{code} {body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_five_points_loses_no_build_and_leaks_no_container() {
    let (_dir, data, git) = data_and_repo(SLOW);
    let src = git.path.clone();
    git.git(&["checkout", "-q", "-b", "quick"]);
    git.write("sicuro.json", QUICK);
    git.commit_all("quick");
    git.git(&["checkout", "-q", "main"]);

    let mut server = ServerProcess::start(&data, &[("SICURO_MAX_CONCURRENT_BUILDS", "1")]).await;
    let (code, body) = server
        .post(
            "/api/repos",
            serde_json::json!({ "url": src.display().to_string(), "slug": "local/crashy" }),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let instance = instance_id(&server).await;

    // Where to kill: the first line that contains the needle.
    let points = [
        ("just after the build started", "checkout"),
        ("while the image and limits are announced", "Language:"),
        ("right after the first output", "started"),
        ("in the middle of 50,000 lines", "line 25000"),
        ("while the job sleeps", "printed-all"),
    ];
    for (what, needle) in points {
        let slow = build_now(&server, "main").await;
        let quick = build_now(&server, "quick").await;
        assert_ne!(slow.id, quick.id);
        let stream = format!("{}/api/builds/{}/log/stream", server.url, slow.id);
        let seen = read_sse(&stream, None, |e| e.event == "lines" && e.data.contains(needle)).await;
        let seen = lines_of(&seen);
        assert!(
            seen.iter().any(|l| l.text().contains(needle)),
            "{what}: {needle} never appeared"
        );

        server.kill();
        server = server.restart().await;

        let (_, b) = server.get(&format!("/api/builds/{}", slow.id)).await;
        assert_eq!(b["summary"]["status"], "error", "{what}: {b}");
        assert_eq!(b["error"], "the server restarted during the build", "{what}");
        // The log holds every line a reader saw before the kill, unchanged.
        // The JSON log comes in windows of at most 5,000 lines: page through it.
        let mut stored: Vec<LogLine> = Vec::new();
        let mut from = Some(1u64);
        while let Some(f) = from {
            let (_, window) = server
                .get(&format!("/api/builds/{}/log?from={f}&limit=5000", slow.id))
                .await;
            stored.extend(serde_json::from_value::<Vec<LogLine>>(window["lines"].clone()).unwrap());
            from = window["next"].as_u64();
        }
        assert!(
            stored.len() >= seen.len(),
            "{what}: {} stored < {} seen",
            stored.len(),
            seen.len()
        );
        assert_eq!(
            &stored[..seen.len()],
            &seen[..],
            "{what}: the log is intact up to the kill"
        );

        // The queued build runs after the restart.
        let end = read_sse(
            &format!("{}/api/builds/{}/log/stream", server.url, quick.id),
            None,
            |e| e.event == "end",
        )
        .await;
        assert!(
            end.last().unwrap().data.contains("\"success\""),
            "{what}: {:?}",
            end.last()
        );
        let (_, q) = server.get(&format!("/api/builds/{}", quick.id)).await;
        assert_eq!(q["summary"]["status"], "success", "{what}");

        // Nothing of the killed build is left on the Docker engine.
        assert_eq!(leftovers_of_instance(&instance).await, (0, 0), "{what}: leftovers");
    }
    let (_, page) = server.get("/api/repos/local/crashy/builds?page=0").await;
    assert!(
        page["builds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["status"] != "running" && b["status"] != "queued"),
        "no build stays running: {page}"
    );
    assert_eq!(
        page["builds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["status"] == BuildStatus::Success.as_str())
            .count(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_a_running_build_finish_then_exits() {
    let (_dir, data, git) =
        data_and_repo(r#"{"test": {"custom": ["echo started", "sleep 2", "echo finished-cleanly"]}}"#);
    let src = git.path.clone();
    let mut server = ServerProcess::start(&data, &[("SICURO_SHUTDOWN_GRACE", "60s")]).await;
    server
        .post(
            "/api/repos",
            serde_json::json!({ "url": src.display().to_string(), "slug": "local/graceful" }),
        )
        .await;
    let (_, b) = server
        .post("/api/repos/local/graceful/builds", serde_json::json!({}))
        .await;
    let id = b["id"].as_i64().unwrap();
    read_sse(&format!("{}/api/builds/{id}/log/stream", server.url), None, |e| {
        e.data.contains("started")
    })
    .await;
    // The grace is 60 s; a server still up 30 s after that is stuck.
    let status = server.terminate_within(std::time::Duration::from_secs(90));
    assert!(status.success(), "exits cleanly: {status:?}\n{}", server.log());
    let db = server.db().await;
    let b = sicuro::db::builds::get(&db, id).await.unwrap().unwrap();
    assert_eq!(
        b.status(),
        BuildStatus::Success,
        "the build finished within the grace period"
    );
}

/// A creation a killed process asked for can complete after the next process's start-up
/// reaping: Docker's `create` event for a container no running build owns removes it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_that_no_running_build_owns_is_removed_as_soon_as_it_appears() {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::EventsOptionsBuilder;
    use futures::StreamExt;
    use sicuro::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let server = ServerProcess::start(&data, &[]).await;
    let instance = instance_id(&server).await;
    let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
        .get()
        .await
        .unwrap();
    // The base image at its current recipe version (each version has its own tag).
    let images = sicuro::engine::executor::docker::images::Images::new(
        std::sync::Arc::new(sicuro::engine::executor::docker::client::DockerHandle::new()),
        sicuro::engine::executor::docker::images::BuildArgs::with_extra_ca_certs(
            crate::common::engine_config().extra_ca_certs,
        ),
    );
    let base = images.ensure("sicuro/base", &mut |_| {}).await.unwrap();

    let since = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1)
    .to_string();
    let filters = std::collections::HashMap::from([
        ("type", vec!["container".to_string()]),
        ("event", vec!["destroy".to_string()]),
        ("label", vec![format!("{LABEL_INSTANCE}={instance}")]),
    ]);
    let mut destroyed = docker.events(Some(
        EventsOptionsBuilder::default().since(&since).filters(&filters).build(),
    ));
    let labels = std::collections::HashMap::from([
        (LABEL_INSTANCE.to_string(), instance.clone()),
        (LABEL_BUILD.to_string(), "999999".to_string()),
    ]);
    let created = docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(base.clone()),
                cmd: Some(vec!["true".into()]),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let gone = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(Ok(e)) = destroyed.next().await {
            if e.actor.and_then(|a| a.id).as_deref() == Some(created.id.as_str()) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(gone, Ok(true), "the stray container was removed");
    assert_eq!(leftovers_of_instance(&instance).await, (0, 0));
}
