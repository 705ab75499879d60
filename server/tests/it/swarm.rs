//! The swarm executor on the real test swarm (`scripts/swarm.sh`: a manager and two workers,
//! each its own dockerd, and a registry): builds spread over both workers and run at once,
//! services on the build's overlay network, cancel, caches that follow their node, limits, and
//! a fork's pull request that gets no usable credential. `make test` runs these with
//! `-- --ignored` once the swarm is up; the faults are in `swarm_faults`.

use std::time::Instant;

use serde_json::json;
use sicuro::db::repos;
use sicuro::engine::BuildRequest;
use sicuro_types::BuildStatus;
use tokio::io::AsyncWriteExt;

use crate::common::{GitRepo, TestEngine, engine_config, leftovers, swarm};

/// The node a build ran on, from the executor's notice in its log.
pub fn node_of(log: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_prefix("Running on "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the log names no node:\n{log}"))
        .to_string()
}

fn script(commands: &[&str]) -> String {
    json!({ "test": { "custom": commands } }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_six_builds_run_at_once_on_both_workers() {
    let _shared = swarm::SWARM.read().await;
    let mut config = engine_config();
    config.max_concurrent_builds = 6;
    let t = TestEngine::start_swarm(config).await;
    // A barrier on this machine: it lets the jobs go only once all six are connected, so the
    // builds pass only if they all run at the same time.
    let host = swarm::env()["SICURO_SWARM_HOST_ADDR"].clone();
    let barrier = tokio::net::TcpListener::bind(format!("{host}:0")).await.unwrap();
    let port = barrier.local_addr().unwrap().port();
    let release = tokio::spawn(async move {
        let mut waiting = Vec::new();
        while waiting.len() < 6 {
            waiting.push(barrier.accept().await.unwrap().0);
        }
        for mut s in waiting {
            s.write_all(b"all-six\n").await.unwrap();
        }
    });
    let wait_for_all = format!("exec 3<>/dev/tcp/{host}/{port} && read -r word <&3 && echo \"released by $word\"");
    let mut ids = Vec::new();
    for i in 0..6 {
        let (repo, git) = t
            .script_repo(
                &format!("six-{i}"),
                &json!({"timeout": "5m", "test": {"custom": ["git rev-parse HEAD", wait_for_all]}}).to_string(),
                &[],
            )
            .await;
        ids.push((t.build(&repo, &git.head()).await.id, git.head()));
    }
    let mut nodes = Vec::new();
    for (id, sha) in ids {
        let done = t.finished(id).await;
        let log = t.log_text(id).await;
        assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{log}", done.error);
        assert!(log.contains("released by all-six"), "{log}");
        assert!(
            log.contains(&format!("\n{sha}")),
            "the job has a real checkout of its commit:\n{log}"
        );
        nodes.push(node_of(&log));
        assert_eq!(
            leftovers(&t.engine, id).await,
            (0, 0),
            "build {id} left objects on the swarm"
        );
    }
    release.await.unwrap();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes, ["swn2", "swn3"], "builds ran on both workers and nowhere else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_services_answer_by_name_on_the_builds_own_network() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo(
            "services",
            &json!({
                "image": "sicuro/postgres",
                "services": ["postgres", "redis"],
                "test": {"custom": [
                    "psql \"$DATABASE_URL\" -tAc 'select 41 + 1'",
                    "exec 3<>/dev/tcp/redis/6379 && printf 'PING\\r\\n' >&3 && read -r pong <&3 && echo \"redis says $pong\""
                ]}
            })
            .to_string(),
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{log}", done.error);
    assert!(log.contains("\n42"), "PostgreSQL answered the query: {log}");
    assert!(log.contains("redis says +PONG"), "Redis answered PING: {log}");
    assert!(log.contains("Service postgres is ready") && log.contains("Service redis is ready"));
    assert_eq!(
        leftovers(&t.engine, b.id).await,
        (0, 0),
        "the services, the network and the job are gone"
    );
}

/// A swarm job fetches only the repository's own commit: a commit with submodules or Git LFS
/// files says at the top of its log that the job goes without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_a_build_says_it_goes_without_submodules_and_lfs_files() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo(
            "submodules",
            &script(&["cat .gitmodules"]),
            &[
                (
                    ".gitmodules",
                    "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n",
                ),
                (".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n"),
            ],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{log}", done.error);
    assert!(
        log.contains("This commit's submodules are not checked out: jobs on the swarm fetch only"),
        "{log}"
    );
    assert!(log.contains("This commit's Git LFS files are pointers"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_cancel_removes_the_job_service() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo("cancel", &script(&["echo started", "sleep 600"]), &[])
        .await;
    let b = t.build(&repo, &git.head()).await;
    t.until_log_contains(b.id, "started").await;
    assert!(leftovers(&t.engine, b.id).await.0 > 0, "the job's service runs");
    let asked = Instant::now();
    t.engine.cancel(b.id, "alice").await.unwrap();
    t.engine.wait_finished(b.id).await;
    println!(
        "cancel on the swarm, request → build finished, objects removed: {:?}",
        asked.elapsed()
    );
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Canceled);
    assert_eq!(done.error.as_deref(), Some("canceled by alice"));
    assert_eq!(
        leftovers(&t.engine, b.id).await,
        (0, 0),
        "service, config and container are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_a_repeat_build_goes_to_the_node_with_its_cache_until_the_cache_is_cleared() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t
        .script_repo(
            "cached",
            &script(&[
                "echo \"cache holds: $(cat /cache/marker 2>/dev/null || echo nothing)\"",
                "echo \"$SICURO_BUILD_NUMBER\" > /cache/marker",
            ]),
            &[],
        )
        .await;
    let first = t.build(&repo, &git.head()).await;
    let done = t.finished(first.id).await;
    let first_log = t.log_text(first.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{first_log}", done.error);
    assert!(first_log.contains("cache holds: nothing"), "{first_log}");
    let node = node_of(&first_log);

    let rebuild = |id| BuildRequest::Rebuild { build_id: id };
    let second = t
        .engine
        .request(repo.id, rebuild(first.id))
        .await
        .unwrap()
        .build()
        .clone();
    assert_eq!(t.finished(second.id).await.status(), BuildStatus::Success);
    let second_log = t.log_text(second.id).await;
    assert!(
        second_log.contains(&format!("Placed on {node}")),
        "placed on the cache's node:\n{second_log}"
    );
    assert_eq!(node_of(&second_log), node);
    assert!(
        second_log.contains("cache holds: 1"),
        "the second build reads what the first wrote:\n{second_log}"
    );

    // The retention pass measures it where it is (through the node's own API).
    let sizes = t.engine.executor().cache_sizes().await.unwrap();
    assert!(
        sizes.iter().any(|c| c.repo_id == repo.id && c.bytes > 0),
        "the cache is measured on its node: {sizes:?}"
    );

    let removed = t.engine.clear_caches(repo.id).await.unwrap();
    assert!(removed >= 1, "the cache volume is removed on its node");
    let third = t
        .engine
        .request(repo.id, rebuild(second.id))
        .await
        .unwrap()
        .build()
        .clone();
    assert_eq!(t.finished(third.id).await.status(), BuildStatus::Success);
    let third_log = t.log_text(third.id).await;
    assert!(third_log.contains("cache holds: nothing"), "{third_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_a_fork_pull_request_gets_no_usable_credential() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let (repo, git) = t.script_repo("upstream", &script(&["true"]), &[]).await;
    // The fork's code tries the one credential its job ever had: the source token, which the
    // wrapper left readable in PID 1's environment.
    let fork = GitRepo::from_dir(t.dir.path().join("fork"), &git.path);
    fork.git(&["checkout", "-q", "-b", "feature"]);
    fork.write(
        "sicuro.json",
        &script(&[
            "test -z \"${SICURO_SOURCE_TOKEN:-}\" && echo 'no token in the environment'",
            "test \"$(git rev-parse HEAD)\" = \"$SICURO_COMMIT\" && echo 'a real checkout of the commit'",
            "tok=$(tr '\\0' '\\n' </proc/1/environ | sed -n 's/^SICURO_SOURCE_TOKEN=//p')",
            "test -n \"$tok\"",
            "url=$(tr '\\0' '\\n' </proc/1/cmdline | grep -o \"http://[^' ]*/git/[0-9a-f]*/\" | head -n 1)",
            "echo \"reuse answered $(curl -s -o /dev/null -w '%{http_code}' -H \"Authorization: Bearer $tok\" \"${url}info/refs?service=git-upload-pack\")\"",
        ]),
    );
    let sha = fork.commit_all("a contribution");
    let pr = BuildRequest::PullRequest {
        number: 7,
        sha,
        head_ref: "feature".into(),
        fork_clone_url: Some(fork.path.display().to_string()),
        author: Some("mallory".into()),
        title: None,
    };
    let b = t.engine.request(repo.id, pr).await.unwrap().build().clone();
    assert!(b.from_fork());
    // A fork's build waits for someone with push access; approved, it runs as a fork's.
    assert_eq!(b.status(), BuildStatus::Waiting);
    t.engine.approve(b.id, "maintainer").await.unwrap();
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{log}", done.error);
    assert!(log.contains("no token in the environment"), "{log}");
    assert!(log.contains("a real checkout of the commit"), "{log}");
    assert!(
        log.contains("reuse answered 410"),
        "the token was used up by the checkout: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the test swarm (sh scripts/swarm.sh up); make test runs it"]
async fn swarm_limits_and_timeouts_fail_their_builds_naming_what_was_hit() {
    let _shared = swarm::SWARM.read().await;
    let t = TestEngine::start_swarm(engine_config()).await;
    let limited = |r: &repos::Repo| {
        let mut s = r.settings();
        s.memory_bytes = Some(128 * 1024 * 1024);
        s.pids = Some(64);
        s
    };
    let (hog, hog_git) = t.script_repo("hog", &script(&["tail /dev/zero"]), &[]).await;
    repos::update_settings(&t.db, hog.id, &limited(&hog)).await.unwrap();
    let (bomb, bomb_git) = t
        .script_repo(
            "bomb",
            &json!({"timeout": "20s", "test": {"custom": ["bomb() { bomb | bomb; }; bomb"]}}).to_string(),
            &[],
        )
        .await;
    repos::update_settings(&t.db, bomb.id, &limited(&bomb)).await.unwrap();
    let (slow, slow_git) = t
        .script_repo(
            "slow",
            &json!({"timeout": "3s", "test": {"custom": ["sleep 120"]}}).to_string(),
            &[],
        )
        .await;
    let hog_b = t.build(&hog, &hog_git.head()).await;
    let bomb_b = t.build(&bomb, &bomb_git.head()).await;
    let slow_b = t.build(&slow, &slow_git.head()).await;
    let (hog_done, bomb_done, slow_done) =
        tokio::join!(t.finished(hog_b.id), t.finished(bomb_b.id), t.finished(slow_b.id));
    println!(
        "hog: {:?}\nbomb: {:?}\nslow: {:?}",
        hog_done.error, bomb_done.error, slow_done.error
    );
    assert_eq!(hog_done.status(), BuildStatus::Failure, "{:?}", hog_done.error);
    assert!(
        hog_done.error.as_deref().unwrap().contains("memory limit of 128 MiB"),
        "{:?}",
        hog_done.error
    );
    assert_eq!(bomb_done.status(), BuildStatus::Failure, "{:?}", bomb_done.error);
    assert!(
        bomb_done.error.as_deref().unwrap().contains("process limit of 64"),
        "{:?}",
        bomb_done.error
    );
    assert_eq!(slow_done.error.as_deref(), Some("timed out after 3s"));
    for id in [hog_b.id, bomb_b.id, slow_b.id] {
        assert_eq!(leftovers(&t.engine, id).await, (0, 0));
    }
}
