//! What a job's checkout holds on one Docker host beyond the commit's files: its submodules
//! (recursively, at their recorded commits), its Git LFS files, and a pull request's
//! `refs/pull/N/head`. The swarm's jobs fetch their commit themselves and get none of these
//! (README, Limits and known gaps), so the swarm suite does not run this file.

use crate::common::{GitRepo, TestEngine};
use sicuro_types::BuildStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submodules_are_checked_out_recursively_at_their_recorded_commits() {
    let t = TestEngine::start().await;
    // A library with a submodule of its own, and two commits (the app records the first).
    let inner_src = t.dir.path().join("inner-src");
    std::fs::create_dir_all(&inner_src).unwrap();
    std::fs::write(inner_src.join("inner.txt"), "from the inner submodule").unwrap();
    let inner = GitRepo::from_dir(t.dir.path().join("inner"), &inner_src);
    let lib_src = t.dir.path().join("lib-src");
    std::fs::create_dir_all(&lib_src).unwrap();
    std::fs::write(lib_src.join("hello.txt"), "from the library").unwrap();
    let lib = GitRepo::from_dir(t.dir.path().join("lib"), &lib_src);
    let inner_path = inner.path.display().to_string();
    lib.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &inner_path,
        "inner",
    ]);
    let recorded = lib.commit_all("with the inner submodule");
    lib.write("hello.txt", "a later version");
    lib.commit_all("later");

    let job = r#"{"test": {"custom": ["cat vendor/lib/hello.txt", "echo", "cat vendor/lib/inner/inner.txt", "echo", "echo \"lib at $(git -C vendor/lib rev-parse HEAD)\""]}}"#;
    let (repo, app) = t.script_repo("with-submodules", job, &[]).await;
    let lib_path = lib.path.display().to_string();
    app.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &lib_path,
        "vendor/lib",
    ]);
    app.git(&["-C", "vendor/lib", "checkout", "-q", &recorded]);
    let sha = app.commit_all("the library, at its first version");

    let b = t.build(&repo, &sha).await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{log}");
    assert!(
        log.contains("from the library"),
        "the submodule's files at the recorded commit:\n{log}"
    );
    assert!(!log.contains("a later version"), "{log}");
    assert!(log.contains("from the inner submodule"), "recursively:\n{log}");
    assert!(
        log.contains(&format!("lib at {recorded}")),
        "a git checkout of it:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_lfs_files_reach_the_job_as_their_contents_not_pointers() {
    let t = TestEngine::start().await;
    let (repo, app) = t
        .script_repo("with-lfs", r#"{"test": {"custom": ["cat assets/data.bin"]}}"#, &[])
        .await;
    app.git(&["lfs", "install", "--local"]);
    app.git(&["lfs", "track", "assets/*.bin"]);
    std::fs::create_dir_all(app.path.join("assets")).unwrap();
    app.write("assets/data.bin", "the real contents of an LFS file\n");
    let sha = app.commit_all("a file in LFS");
    let stored = app.git(&["show", &format!("{sha}:assets/data.bin")]);
    assert!(
        stored.contains("git-lfs.github.com/spec"),
        "git itself holds a pointer: {stored}"
    );

    let b = t.build(&repo, &sha).await;
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{log}");
    assert!(log.contains("the real contents of an LFS file"), "{log}");
    assert!(!log.contains("git-lfs.github.com/spec"), "no pointer file:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_requests_job_is_on_its_head_detached_with_refs_pull_n_head() {
    use sicuro::engine::BuildRequest;
    let t = TestEngine::start().await;
    let job = r#"{"test": {"custom": ["echo \"pull ref $(git rev-parse refs/pull/7/head)\"", "git symbolic-ref -q HEAD || echo detached head"]}}"#;
    let (repo, git) = t.script_repo("pulls", job, &[]).await;
    git.git(&["checkout", "-q", "-b", "feature"]);
    git.write("f.txt", "a feature");
    let head = git.commit_all("a feature");
    // What GitHub keeps for a pull request, and Sicuro fetches.
    git.git(&["update-ref", "refs/pull/7/head", &head]);
    let created = t
        .engine
        .request(
            repo.id,
            BuildRequest::PullRequest {
                number: 7,
                sha: head.clone(),
                head_ref: "feature".into(),
                fork_clone_url: None,
                author: None,
                title: Some("A feature".into()),
            },
        )
        .await
        .unwrap();
    let b = created.build().clone();
    let done = t.finished(b.id).await;
    let log = t.log_text(b.id).await;
    assert_eq!(done.status(), BuildStatus::Success, "{log}");
    assert!(log.contains(&format!("pull ref {head}")), "{log}");
    assert!(log.contains("detached head"), "{log}");
}
