//! Retention on a real Docker engine: dependency caches held to `SICURO_CACHE_LIMIT`, least
//! recently used first, never one a running job uses; job images of older recipe versions
//! removed once nothing uses them, the current versions and a project's own images kept.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{TestEngine, engine_config, random_suffix};
use sicuro::engine::executor::docker::client::DockerHandle;
use sicuro::engine::executor::docker::images::{BuildArgs, Images};
use sicuro_types::BuildStatus;

const MIB: u64 = 1024 * 1024;

/// A build's job writes 2 MiB into its cache (then, when `wait`, stays running).
fn writes_two_mib(wait: bool) -> String {
    let then = if wait { r#", "sleep 600""# } else { "" };
    format!(r#"{{"test": {{"custom": ["head -c 2097152 /dev/urandom > /cache/blob", "echo written"{then}]}}}}"#)
}

async fn cache_repos(t: &TestEngine) -> BTreeSet<i64> {
    t.engine
        .executor()
        .cache_sizes()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.repo_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caches_over_the_limit_go_least_recently_used_first_but_never_one_in_use() {
    let mut config = engine_config();
    // Three caches of 2 MiB: one has to go.
    config.retention.cache_limit_bytes = 5 * MIB;
    let t = TestEngine::start_with(config, false).await;
    let (busy, busy_git) = t.script_repo("busy", &writes_two_mib(true), &[]).await;
    let (older, older_git) = t.script_repo("older", &writes_two_mib(false), &[]).await;
    let (newer, newer_git) = t.script_repo("newer", &writes_two_mib(false), &[]).await;

    // The busy build's cache is the least recently used (its job started first) but in use.
    let running = t.build(&busy, &busy_git.head()).await;
    t.until_log_contains(running.id, "written").await;
    for (repo, git) in [(&older, &older_git), (&newer, &newer_git)] {
        let b = t.build(repo, &git.head()).await;
        assert_eq!(
            t.finished(b.id).await.status(),
            BuildStatus::Success,
            "{}",
            t.log_text(b.id).await
        );
    }
    let sizes = t.engine.executor().cache_sizes().await.unwrap();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(
        sizes.iter().all(|c| c.bytes >= 2 * MIB && c.bytes < 3 * MIB),
        "each cache measures its 2 MiB: {sizes:?}"
    );

    let pruned = t.engine.prune().await.unwrap();
    assert_eq!(pruned.caches, 1, "{pruned:?}");
    assert!(pruned.cache_bytes >= 2 * MIB, "{pruned:?}");
    assert_eq!(
        cache_repos(&t).await,
        BTreeSet::from([busy.id, newer.id]),
        "the busy cache stays (a running job uses it) and the least recently used of the others goes"
    );

    // Within the limit now: the next pass removes nothing.
    t.engine.cancel(running.id, "the test").await.unwrap();
    t.finished(running.id).await;
    assert_eq!(t.engine.prune().await.unwrap().caches, 0);
    for repo in [busy.id, newer.id] {
        t.engine.clear_caches(repo).await.unwrap();
    }
    assert!(cache_repos(&t).await.is_empty());
}

/// Builds `tag` from `from` with one label of its own (a distinct image, made now).
fn build_image(tag: &str, from: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    write!(
        child.stdin.take().unwrap(),
        "FROM {from}\nLABEL org.sicuro.recipe={}\n",
        tag.rsplit(':').next().unwrap()
    )
    .unwrap();
    assert!(child.wait().unwrap().success(), "docker build {tag}");
}

fn docker(args: &[&str]) -> bool {
    std::process::Command::new("docker")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_images_of_older_recipe_versions_go_once_nothing_uses_them() {
    let mut config = engine_config();
    config.retention.keep_old_images_for = Duration::ZERO;
    let images = Images::new(
        std::sync::Arc::new(DockerHandle::new()),
        BuildArgs::with_extra_ca_certs(config.extra_ca_certs.clone()),
    );
    let current = images.ensure("sicuro/sandbox", &mut |_| {}).await.unwrap();
    let t = TestEngine::start_with(config, false).await;
    let suffix = random_suffix();
    let unused = format!("sicuro/sandbox:old-{suffix}");
    let used = format!("sicuro/sandbox:older-{suffix}");
    let own = format!("sicuro/own-{suffix}:1");
    for tag in [&unused, &used, &own] {
        build_image(tag, &current);
    }
    let container = format!("sicuro-test-uses-old-image-{suffix}");
    assert!(docker(&["create", "--name", &container, &used, "true"]));

    let pruned = t.engine.prune().await.unwrap();
    let present = |tag: &str| docker(&["image", "inspect", tag]);
    let (unused_gone, used_kept, own_kept, current_kept) =
        (!present(&unused), present(&used), present(&own), present(&current));
    docker(&["rm", "-f", &container]);
    docker(&["rmi", &used, &own, &unused]);
    assert!(unused_gone, "an older version nothing uses is removed");
    assert!(used_kept, "an older version a container uses stays");
    assert!(own_kept, "an image that is no recipe's stays");
    assert!(current_kept, "the current version stays");
    assert!(pruned.images >= 1, "{pruned:?}");
}
