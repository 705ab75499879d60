//! What a build can reach and do, on the real Docker engine: a network of its own (another
//! build is out of reach), no route to link-local metadata addresses, the capabilities package
//! managers need and no others — and package managers still work.

use sicuro_types::BuildStatus;

use crate::common::{TestEngine, leftovers};

/// The last line of the log that starts with `prefix`, without it.
fn value_of(log: &str, prefix: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_reaches_neither_metadata_addresses_nor_another_build() {
    let t = TestEngine::start().await;
    // Build A serves HTTP on its own address and waits.
    let (serve, git) = t
        .script_repo(
            "serve",
            r#"{"image": "sicuro/python", "test": {"custom": [
                "python3 -m http.server 8000 >/dev/null 2>&1 &",
                "for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null && break; sleep 0.2; done",
                "echo address=$(hostname -I)",
                "sleep 300"]}}"#,
            &[],
        )
        .await;
    let a = t.build(&serve, &git.head()).await;
    t.until_log_contains(a.id, "address=1").await;
    let address = value_of(&t.log_so_far(a.id).await, "address=").expect("A printed its address");
    let address = address.split_whitespace().next().unwrap().to_string();

    // Build B tries A, and a link-local metadata address. A blackholed route fails at once
    // (status 1); a dropped packet would hang until `timeout` (124).
    let probe = format!(
        r#"{{"test": {{"custom": [
            "timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/8000'; echo other-build=$?",
            "timeout 10 bash -c 'exec 3<>/dev/tcp/169.254.169.254/80'; echo metadata=$?",
            "grep CapEff /proc/self/status | sed 's/^CapEff:\\s*/caps=/'"]}}}}"#
    );
    let (probe_repo, git) = t.script_repo("probe", &probe, &[]).await;
    let b = t.build(&probe_repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{:?}", done.error);
    let log = t.log_text(b.id).await;
    assert_ne!(
        value_of(&log, "other-build=").as_deref(),
        Some("0"),
        "B reached A:\n{log}"
    );
    assert_eq!(
        value_of(&log, "metadata=").as_deref(),
        Some("1"),
        "no route at all:\n{log}"
    );

    // Capabilities: what package managers need, nothing that administers the host's network.
    let caps = u64::from_str_radix(&value_of(&log, "caps=").expect("caps printed"), 16).unwrap();
    let has = |bit: u32| caps & (1 << bit) != 0;
    for (name, bit) in [
        ("CHOWN", 0),
        ("DAC_OVERRIDE", 1),
        ("FOWNER", 3),
        ("SETGID", 6),
        ("SETUID", 7),
    ] {
        assert!(has(bit), "{name} kept: {caps:#x}");
    }
    for (name, bit) in [
        ("NET_ADMIN", 12),
        ("NET_RAW", 13),
        ("SYS_CHROOT", 18),
        ("SYS_ADMIN", 21),
        ("MKNOD", 27),
    ] {
        assert!(!has(bit), "{name} dropped: {caps:#x}");
    }

    t.engine.cancel(a.id, "the test").await.unwrap();
    t.finished(a.id).await;
    for id in [a.id, b.id] {
        assert_eq!(
            leftovers(&t.engine, id).await,
            (0, 0),
            "build {id}'s sandbox and network are gone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn package_managers_work_with_the_capabilities_a_job_keeps() {
    let t = TestEngine::start().await;
    // npm, pip and cargo have their own tests (the sample projects); apt is the one that
    // changes owners and users, so it shows what dropping capabilities would break.
    let (repo, git) = t
        .script_repo(
            "apt",
            r#"{"test": {"custom": [
                "apt-get update -qq",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cowsay >/dev/null",
                "/usr/games/cowsay installed"]}}"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(
        done.status(),
        BuildStatus::Success,
        "{:?}\n{}",
        done.error,
        t.log_text(b.id).await
    );
    assert!(t.log_text(b.id).await.contains("< installed >"));
}
