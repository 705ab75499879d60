//! Running many builds safely, on the real Docker engine: exactly-once queueing, supersede,
//! cancel, timeouts, resource limits, services, dependency caches and graceful shutdown.

use std::time::{Duration, Instant};

use crate::common::{TestEngine, job_containers, leftovers, postgres_available};
use sicuro::db::builds::Created;
use sicuro::db::repos;
use sicuro::engine::BuildRequest;
use sicuro_types::{BuildStatus, RepoSettings};

async fn exactly_once_under_concurrency(postgres: bool) {
    let t = TestEngine::start_with(crate::common::engine_config(), postgres).await;
    let (repo, git) = t
        .script_repo("dedup", r#"{"test": {"custom": ["sleep 30"]}}"#, &[])
        .await;
    let sha = git.head();
    let requests = (0..20).map(|_| {
        let engine = t.engine.clone();
        let sha = sha.clone();
        let repo_id = repo.id;
        tokio::spawn(async move { engine.request(repo_id, crate::common::push_of(&sha)).await.unwrap() })
    });
    let results: Vec<Created> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let new: Vec<_> = results.iter().filter(|c| matches!(c, Created::New(_))).collect();
    assert_eq!(new.len(), 1, "exactly one request creates the build");
    let id = new[0].build().id;
    assert!(
        results.iter().all(|c| c.build().id == id),
        "the others get the same build"
    );
    let (_, total) = sicuro::db::builds::page(&t.db, repo.id, 0, 100).await.unwrap();
    assert_eq!(total, 1);
    t.engine.cancel(id, "the test").await.unwrap();
    t.finished(id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_identical_requests_make_one_build_on_sqlite() {
    exactly_once_under_concurrency(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_identical_requests_make_one_build_on_postgres() {
    if !postgres_available() {
        eprintln!("SICURO_TEST_DATABASE_URL is not set; `make test` sets it");
        return;
    }
    exactly_once_under_concurrency(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_push_to_the_branch_supersedes_the_running_build() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "supersede",
            r#"{"test": {"custom": ["echo started", "sleep 120"]}}"#,
            &[],
        )
        .await;
    let old = t.build(&repo, &git.head()).await;
    t.until_log_contains(old.id, "started").await;
    git.write("next.txt", "x");
    let newer = t.build(&repo, &git.commit_all("next")).await;
    let old = t.finished(old.id).await;
    assert_eq!(old.status(), BuildStatus::Canceled);
    assert_eq!(
        old.error.as_deref(),
        Some(format!("superseded by build #{}", newer.number).as_str())
    );
    assert_eq!(leftovers(&t.engine, old.id).await, (0, 0));
    t.engine.cancel(newer.id, "the test").await.unwrap();
    t.finished(newer.id).await;

    // With supersede off, both builds of the branch run.
    let mut s = repo.settings();
    s.supersede = false;
    s.max_concurrent = 2;
    repos::update_settings(&t.db, repo.id, &s).await.unwrap();
    git.write("a.txt", "a");
    let a = t.build(&repo, &git.commit_all("a")).await;
    git.write("b.txt", "b");
    let b = t.build(&repo, &git.commit_all("b")).await;
    t.until_log_contains(b.id, "started").await;
    assert_eq!(
        t.until_status(a.id, BuildStatus::Running).await.status(),
        BuildStatus::Running
    );
    for id in [a.id, b.id] {
        t.engine.cancel(id, "the test").await.unwrap();
        assert_eq!(t.finished(id).await.status(), BuildStatus::Canceled);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_removes_the_container_at_once_and_queued_builds_cancel_too() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo("cancel", r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#, &[])
        .await;
    let mut s = repo.settings();
    s.max_concurrent = 1;
    s.supersede = false;
    repos::update_settings(&t.db, repo.id, &s).await.unwrap();
    let running = t.build(&repo, &git.head()).await;
    git.write("q.txt", "q");
    let queued = t.build(&repo, &git.commit_all("queued")).await;
    t.until_log_contains(running.id, "started").await;
    assert_eq!(job_containers(&t.engine, running.id).await, 1, "the job container runs");
    assert_eq!(
        sicuro::db::builds::get(&t.db, queued.id)
            .await
            .unwrap()
            .unwrap()
            .status(),
        BuildStatus::Queued,
        "one at a time for this repository"
    );
    // And it says so, to the page and the API.
    let why = t.engine.queued_reason(repo.id, queued.id).unwrap_or_default();
    assert!(why.contains("runs at most 1 build at once"), "{why}");

    let asked = Instant::now();
    t.engine.cancel(running.id, "alice").await.unwrap();
    t.engine.wait_finished(running.id).await;
    let gone_after = asked.elapsed();
    assert_eq!(leftovers(&t.engine, running.id).await, (0, 0));
    let done = t.finished(running.id).await;
    assert_eq!(done.status(), BuildStatus::Canceled);
    assert_eq!(done.error.as_deref(), Some("canceled by alice"));
    // How fast is `make bench`'s to say (cancel, request → container gone), not a test's.
    println!("cancel latency (request → container gone): {gone_after:?}");

    // The queued build then starts; canceling it while queued never starts a container.
    t.until_status(queued.id, BuildStatus::Running).await;
    t.engine.cancel(queued.id, "alice").await.unwrap();
    assert_eq!(t.finished(queued.id).await.status(), BuildStatus::Canceled);
    git.write("r.txt", "r");
    let third = t.build(&repo, &git.commit_all("third")).await;
    git.write("s.txt", "s");
    let fourth = t.build(&repo, &git.commit_all("fourth")).await;
    t.engine.cancel(fourth.id, "bob").await.unwrap();
    let f = t.finished(fourth.id).await;
    assert_eq!(
        (f.status(), f.started_at),
        (BuildStatus::Canceled, None),
        "a queued build ends without running"
    );
    t.engine.cancel(third.id, "bob").await.unwrap();
    t.finished(third.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_that_runs_too_long_fails_with_timed_out() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo("slow", r#"{"timeout": "3s", "test": {"custom": ["sleep 120"]}}"#, &[])
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Failure);
    assert_eq!(done.error.as_deref(), Some("timed out after 3s"));
    assert_eq!(leftovers(&t.engine, b.id).await, (0, 0));

    // The repository's own timeout applies when sicuro.json sets none.
    let (repo, git) = t
        .script_repo("slow2", r#"{"test": {"custom": ["sleep 120"]}}"#, &[])
        .await;
    let mut s: RepoSettings = repo.settings();
    s.timeout_secs = Some(2);
    repos::update_settings(&t.db, repo.id, &s).await.unwrap();
    let b = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(b.id).await.error.as_deref(), Some("timed out after 2s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_memory_hog_and_a_fork_bomb_fail_their_own_builds_while_another_passes() {
    let t = TestEngine::start().await;
    let limits = |r: &sicuro::db::repos::Repo| {
        let mut s = r.settings();
        s.memory_bytes = Some(128 * 1024 * 1024);
        s.pids = Some(64);
        s
    };
    let (hog, hog_git) = t
        .script_repo("hog", r#"{"test": {"custom": ["tail /dev/zero"]}}"#, &[])
        .await;
    repos::update_settings(&t.db, hog.id, &limits(&hog)).await.unwrap();
    let (bomb, bomb_git) = t
        .script_repo(
            "bomb",
            r#"{"timeout": "15s", "test": {"custom": ["bomb() { bomb | bomb; }; bomb"]}}"#,
            &[],
        )
        .await;
    repos::update_settings(&t.db, bomb.id, &limits(&bomb)).await.unwrap();
    let (fine, fine_git) = t
        .script_repo(
            "fine",
            r#"{"test": {"custom": ["for i in 1 2 3; do echo still fine $i; sleep 1; done"]}}"#,
            &[],
        )
        .await;

    let hog_b = t.build(&hog, &hog_git.head()).await;
    let bomb_b = t.build(&bomb, &bomb_git.head()).await;
    let fine_b = t.build(&fine, &fine_git.head()).await;
    let (hog_done, bomb_done, fine_done) =
        tokio::join!(t.finished(hog_b.id), t.finished(bomb_b.id), t.finished(fine_b.id));

    assert_eq!(fine_done.status(), BuildStatus::Success, "{:?}", fine_done.error);
    assert_eq!(hog_done.status(), BuildStatus::Failure);
    assert!(
        hog_done.error.as_deref().unwrap().contains("memory limit of 128 MiB"),
        "{:?}",
        hog_done.error
    );
    assert_eq!(bomb_done.status(), BuildStatus::Failure);
    assert!(
        bomb_done.error.as_deref().unwrap().contains("process limit of 64"),
        "{:?}",
        bomb_done.error
    );
    for id in [hog_b.id, bomb_b.id, fine_b.id] {
        assert_eq!(leftovers(&t.engine, id).await, (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_answer_on_a_private_network_and_vanish_with_the_build() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "services",
            r#"{
              "image": "sicuro/postgres",
              "services": ["postgres", "redis"],
              "test": {"custom": [
                "psql \"$DATABASE_URL\" -tAc 'select 41 + 1'",
                "exec 3<>/dev/tcp/redis/6379 && printf 'PING\\r\\n' >&3 && read -r pong <&3 && echo \"redis says $pong\""
              ]}
            }"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}\n{log}", done.error);
    assert!(log.contains("\n42"), "PostgreSQL answered the query: {log}");
    assert!(log.contains("redis says +PONG"), "Redis answered PING: {log}");
    assert!(log.contains("Service postgres is ready"));
    assert_eq!(
        leftovers(&t.engine, b.id).await,
        (0, 0),
        "service containers and the network are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeat_build_downloads_no_dependencies_and_caches_can_be_cleared() {
    let t = TestEngine::start().await;
    let (repo, git) = t.fixture_repo("rust-deps").await;
    let first = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(first.id).await.status(), BuildStatus::Success);
    let first_log = t.log_text(first.id).await;
    assert!(
        first_log.contains("Downloaded"),
        "the first build downloads its crates:\n{first_log}"
    );

    let second = t
        .engine
        .request(repo.id, BuildRequest::Rebuild { build_id: first.id })
        .await
        .unwrap()
        .build()
        .clone();
    assert_eq!(t.finished(second.id).await.status(), BuildStatus::Success);
    let second_log = t.log_text(second.id).await;
    assert!(
        !second_log.contains("Downloaded") && !second_log.contains("Downloading"),
        "the repeat build downloads nothing:\n{second_log}"
    );

    let removed = t.engine.clear_caches(repo.id).await.unwrap();
    assert!(removed >= 1, "the repository's cache volume is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_lets_builds_finish_within_the_grace_period_then_cancels_them() {
    let mut config = crate::common::engine_config();
    config.shutdown_grace = Duration::from_secs(1);
    let t = TestEngine::start_with(config, false).await;
    let (repo, git) = t
        .script_repo("long", r#"{"test": {"custom": ["echo started", "sleep 300"]}}"#, &[])
        .await;
    let b = t.build(&repo, &git.head()).await;
    t.until_log_contains(b.id, "started").await;
    t.engine.shutdown(Duration::from_secs(1)).await;
    let done = sicuro::db::builds::get(&t.db, b.id).await.unwrap().unwrap();
    assert_eq!(done.status(), BuildStatus::Canceled);
    assert!(done.error.unwrap().contains("server shut down"));
    assert_eq!(leftovers(&t.engine, b.id).await, (0, 0));
    assert!(
        t.engine
            .request(
                repo.id,
                BuildRequest::Commit {
                    sha: git.head(),
                    branch: None
                }
            )
            .await
            .is_err(),
        "no new builds after shutdown"
    );
}

/// The job's workspace is a real clone: on the pushed branch, with recent history and its tags
/// (so `git describe` and setuptools-scm-like versioning work), `origin` set and no credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_job_gets_a_real_checkout_on_its_branch_with_history_tags_and_origin() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "history",
            r#"{"test": {"custom": [
                "echo \"branch=$(git rev-parse --abbrev-ref HEAD)\"",
                "echo \"origin=$(git remote get-url origin)\"",
                "echo \"commits=$(git log --oneline | wc -l)\"",
                "echo \"described=$(git describe --tags)\"",
                "echo \"clean=$(git status --porcelain | wc -l)\""
            ]}}"#,
            &[],
        )
        .await;
    git.git(&["tag", "v1.2.3"]);
    // More commits since the tag than the checkout's usual depth (50): it deepens to the tag.
    for i in 0..60 {
        git.git(&["commit", "-q", "--allow-empty", "-m", &format!("step {i}")]);
    }
    git.write("x.txt", "x");
    let sha = git.commit_all("last");
    // "Build now" of the branch: the head is fetched with the repository's tags.
    let b = t
        .engine
        .request(
            repo.id,
            sicuro::engine::BuildRequest::Branch {
                branch: Some("main".into()),
            },
        )
        .await
        .unwrap()
        .build()
        .clone();
    assert_eq!(b.commit_sha, sha);
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{log}");
    for want in [
        "branch=main".to_string(),
        format!("origin={}", repo.clone_url),
        "commits=62".to_string(),
        format!("described=v1.2.3-61-g{}", &sha[..7]),
        "clean=0".to_string(),
    ] {
        assert!(log.lines().any(|l| l == want), "{want} in:\n{log}");
    }
}
