//! The pipeline's semantics on the real Docker engine: sicuro.json override / custom / export,
//! the first failing command stops everything, bad sicuro.json ends `error` with a position,
//! checkout of local paths and file:// URLs at a given commit, and the log of a chatty job.

use crate::common::{TestEngine, leftovers};
use sicuro::db::repos;
use sicuro_types::{BuildStatus, LineKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_commands_share_one_shell_and_the_first_failure_stops_the_build() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "semantics",
            r#"{
              "dependencies": { "custom": ["export GREETING=hello-from-dependencies", "cd /tmp && echo in-$(pwd)"] },
              "setup": { "override": true, "custom": ["echo \"setup sees $GREETING\""] },
              "test": { "custom": ["echo test-ran", "false", "echo never-printed"] }
            }"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Failure);
    assert_eq!(done.exit_code, Some(1));
    assert!(
        done.error.as_deref().unwrap().starts_with("`false` exited with code 1"),
        "{:?}",
        done.error
    );
    let log = t.log(b.id).await;
    let text = |k: LineKind| {
        log.iter()
            .filter(|l| l.kind() == k)
            .map(|l| l.text().to_string())
            .collect::<Vec<_>>()
    };
    let output = text(LineKind::Output);
    assert!(output.contains(&"in-/tmp".to_string()), "{output:?}");
    assert!(
        output.contains(&"setup sees hello-from-dependencies".to_string()),
        "an export carries into later phases: {output:?}"
    );
    assert!(output.contains(&"test-ran".to_string()));
    assert!(
        !output.iter().any(|l| l.contains("never-printed")),
        "nothing runs after the failing command"
    );
    assert_eq!(
        text(LineKind::Command),
        [
            "export GREETING=hello-from-dependencies",
            "cd /tmp && echo in-$(pwd)",
            "echo \"setup sees $GREETING\"",
            "echo test-ran",
            "false"
        ],
        "every command is echoed before it runs, and the failed one is the last"
    );
    assert_eq!(leftovers(&t.engine, b.id).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn language_defaults_run_before_custom_commands_unless_overridden() {
    let t = TestEngine::start().await;
    let src = t.dir.path().join("node-custom");
    std::fs::create_dir_all(&src).unwrap();
    crate::common::copy_dir(&crate::common::fixtures().join("node-pass"), &src);
    std::fs::write(
        src.join("sicuro.json"),
        r#"{"setup": {"custom": ["echo after-npm-install-NODE_ENV=$NODE_ENV FROM_ENV=$FROM_ENV"]}, "test": {"override": true, "custom": ["echo custom-test"]}, "env": {"FROM_ENV": "42"}}"#,
    )
    .unwrap();
    let (repo, git) = t.repo_from("node-custom", &src).await;
    let b = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    let cmds: Vec<String> = t
        .log(b.id)
        .await
        .iter()
        .filter(|l| l.kind() == LineKind::Command)
        .map(|l| l.text().to_string())
        .collect();
    assert_eq!(cmds[0], "export NODE_ENV=test");
    assert!(cmds[1].starts_with("npm "), "{cmds:?}");
    assert_eq!(cmds[2], "echo after-npm-install-NODE_ENV=$NODE_ENV FROM_ENV=$FROM_ENV");
    assert_eq!(cmds[3], "echo custom-test", "npm test was overridden: {cmds:?}");
    assert_eq!(cmds.len(), 4);
    // Both the image's defaults and sicuro.json's `env` reach the commands. (The `timeout` key
    // is checked where it ends a build: engine_runtime.)
    let text = t.log_text(b.id).await;
    assert!(text.contains("after-npm-install-NODE_ENV=test FROM_ENV=42"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_sicuro_json_ends_error_with_where_and_what_is_allowed() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "typo",
            "{\n  \"test\": {\"custom\": [\"true\"]},\n  \"tset\": {}\n}\n",
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Error);
    let msg = done.error.unwrap();
    assert!(
        msg.contains("sicuro.json line 3, column 8: unknown key `tset`"),
        "{msg}"
    );
    assert!(msg.contains("allowed keys: dependencies, setup, test"), "{msg}");
    assert!(
        t.log_text(b.id).await.contains("unknown key `tset`"),
        "the log says it too"
    );

    git.write("sicuro.json", "{ \"test\": { \"custom\": [\"true\",] } }");
    let sha = git.commit_all("trailing comma");
    let b = t.build(&repo, &sha).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Error);
    assert!(done.error.unwrap().contains("invalid JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_language_and_no_sicuro_json_says_how_to_add_one() {
    let t = TestEngine::start().await;
    let src = t.dir.path().join("plain");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("README.md"), "# nothing to detect").unwrap();
    let (repo, git) = t.repo_from("plain", &src).await;
    let b = t.build(&repo, &git.head()).await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Error);
    assert!(done.error.unwrap().contains("Add a sicuro.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_places_the_exact_commit_from_a_path_or_a_file_url() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "versions",
            // A real checkout: git knows the commit, and the tree is exactly it.
            r#"{"test": {"custom": ["cat version.txt", "test \"$(git rev-parse HEAD)\" = \"$SICURO_COMMIT\"", "test -z \"$(git status --porcelain)\"", "echo \"history: $(git log --oneline | wc -l) commit(s)\""]}}"#,
            &[("version.txt", "first")],
        )
        .await;
    let first = git.head();
    git.write("version.txt", "second");
    let second = git.commit_all("second");

    // The older commit, from the path, although the branch has moved on.
    let b = t.build(&repo, &first).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    let out = t.log_text(b.id).await;
    assert!(out.contains("\nfirst\n") || out.contains("\nfirst"), "{out}");
    assert!(!out.contains("second"));

    // The same repository through a file:// URL.
    let url_repo = repos::upsert(
        &t.db,
        &repos::NewRepo {
            kind: sicuro_types::RepoKind::Local,
            owner: "local".into(),
            name: "versions-url".into(),
            clone_url: format!("file://{}", git.path.display()),
            html_url: None,
            github_id: None,
            private: false,
            default_branch: "main".into(),
            language: None,
            watched: true,
        },
    )
    .await
    .unwrap();
    let b = t.build(&url_repo, &second).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    assert!(t.log_text(b.id).await.contains("second"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_commit_is_an_error_that_names_it() {
    let t = TestEngine::start().await;
    let (repo, _git) = t.script_repo("gone", r#"{"test": {"custom": ["true"]}}"#, &[]).await;
    let b = t.build(&repo, "0123456789abcdef0123456789abcdef01234567").await;
    let done = t.finished(b.id).await;
    assert_eq!(done.status(), BuildStatus::Error);
    assert!(
        done.error
            .unwrap()
            .contains("checkout failed: commit 0123456789abcdef0123456789abcdef01234567 is not in")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_lines_arrive_complete_in_order_and_late_readers_miss_none() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "chatty",
            // stdout and stderr interleaved, as a real test runner does.
            r#"{"test": {"custom": ["for i in $(seq 1 100000); do if [ $((i % 10)) -eq 0 ]; then echo \"line $i\" >&2; else echo \"line $i\"; fi; done"]}}"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    // A reader that joins while the job is printing.
    t.until_log_contains(b.id, "line 5000").await;
    let late = {
        let engine = t.engine.clone();
        tokio::spawn(async move { crate::common::read_whole_log(&engine, b.id).await })
    };
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    let whole = t.log(b.id).await;
    for lines in [whole, late.await.unwrap()] {
        let numbers: Vec<u64> = lines.iter().map(|l| l.number()).collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "line numbers are consecutive"
        );
        let printed: Vec<&str> = lines
            .iter()
            .filter(|l| l.kind() == LineKind::Output)
            .map(|l| l.text())
            .collect();
        assert_eq!(printed.len(), 100_000);
        for (i, text) in printed.iter().enumerate() {
            assert_eq!(*text, format!("line {}", i + 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_without_a_final_newline_and_hostile_text_is_kept_as_is() {
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo("hostile", r#"{"test": {"custom": ["printf '<script>alert(1)</script>\\n\\033[31mred\\033[0m\\n##sicuro:forged:c:0\\nno newline'"]}}"#, &[])
        .await;
    let b = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    let out: Vec<String> = t
        .log(b.id)
        .await
        .iter()
        .filter(|l| l.kind() == LineKind::Output)
        .map(|l| l.text().to_string())
        .collect();
    assert_eq!(
        out,
        [
            "<script>alert(1)</script>",
            "\u{1b}[31mred\u{1b}[0m",
            "##sicuro:forged:c:0",
            "no newline"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sicuro_json_clone_depth_sets_the_history_the_job_gets() {
    let t = TestEngine::start().await;
    let history = r#""test": {"custom": ["echo \"history=$(git log --oneline | wc -l)\""]}"#;
    let (repo, git) = t
        .script_repo("deep", &format!(r#"{{"clone": {{"depth": 3}}, {history}}}"#), &[])
        .await;
    for n in 0..6 {
        git.write("n.txt", &n.to_string());
        git.commit_all(&format!("commit {n}"));
    }
    let b = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    assert!(
        t.log_text(b.id).await.contains("history=3"),
        "{}",
        t.log_text(b.id).await
    );

    // 0: the whole history (the first commit and the six above).
    git.write("sicuro.json", &format!(r#"{{"clone": {{"depth": 0}}, {history}}}"#));
    git.commit_all("the whole history");
    let b = t.build(&repo, &git.head()).await;
    assert_eq!(t.finished(b.id).await.status(), BuildStatus::Success);
    assert!(
        t.log_text(b.id).await.contains("history=8"),
        "{}",
        t.log_text(b.id).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sicuro_json_branches_decides_which_pushes_build() {
    use sicuro::engine::BuildRequest;
    let t = TestEngine::start().await;
    let (repo, git) = t
        .script_repo(
            "filtered",
            r#"{"branches": ["main", "release/*", "!release/old-*"], "test": {"custom": ["true"]}}"#,
            &[],
        )
        .await;
    let sha = git.head();
    for b in ["release/1.0", "release/old-0.9", "feature/x"] {
        git.git(&["branch", b]);
    }
    let push = |branch: &str| BuildRequest::Push {
        branch: branch.into(),
        sha: sha.clone(),
        author: None,
        message: None,
    };
    assert_eq!(t.engine.not_built(repo.id, &push("main")).await, None);
    assert_eq!(t.engine.not_built(repo.id, &push("release/1.0")).await, None);
    assert_eq!(
        t.engine.not_built(repo.id, &push("feature/x")).await.as_deref(),
        Some("sicuro.json's `branches` does not include `feature/x`")
    );
    assert!(t.engine.not_built(repo.id, &push("release/old-0.9")).await.is_some());
    // Tags and manual builds are not filtered.
    let tag = BuildRequest::Tag {
        tag: "v1".into(),
        sha: sha.clone(),
        author: None,
        message: None,
    };
    assert_eq!(t.engine.not_built(repo.id, &tag).await, None);
    let manual = BuildRequest::Branch {
        branch: Some("feature/x".into()),
    };
    assert_eq!(t.engine.not_built(repo.id, &manual).await, None);
}
