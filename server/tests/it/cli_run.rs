//! `sicuro run [PATH]`: the pipeline on a local working tree, uncommitted changes included, the
//! log on the terminal and the build's result as the exit code.

use std::process::Command;

fn sicuro_run(dir: &std::path::Path) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sicuro"));
    cmd.arg("run")
        .arg(dir)
        .env("SICURO_DATA_DIR", dir.join(".sicuro-unused"));
    // SICURO_TEST_EXECUTOR=swarm: the same runs through the test swarm.
    if crate::common::swarm::requested() {
        cmd.envs(crate::common::swarm::server_env());
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn runs_the_working_tree_and_exits_with_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("sicuro.json"),
        r#"{"test": {"custom": ["cat committed.txt uncommitted.txt", "test ! -e ignored.txt"]}}"#,
    )
    .unwrap();
    std::fs::write(p.join("committed.txt"), "from the last commit\n").unwrap();
    std::fs::write(p.join(".gitignore"), "ignored.txt\n").unwrap();
    let git = |args: &[&str]| {
        assert!(
            Command::new("git")
                .args(args)
                .current_dir(p)
                .status()
                .unwrap()
                .success()
        )
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "one"]);
    // Changes nobody committed yet, and a file git ignores.
    std::fs::write(p.join("uncommitted.txt"), "not committed yet\n").unwrap();
    std::fs::write(p.join("ignored.txt"), "ignored\n").unwrap();

    let (code, out) = sicuro_run(p);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("from the last commit") && out.contains("not committed yet"),
        "{out}"
    );
    assert!(
        out.contains("$ cat committed.txt uncommitted.txt"),
        "commands are echoed: {out}"
    );
    assert!(out.contains("Result: passed"), "{out}");

    std::fs::write(
        p.join("sicuro.json"),
        r#"{"test": {"custom": ["echo about to fail", "exit 3"]}}"#,
    )
    .unwrap();
    let (code, out) = sicuro_run(p);
    assert_eq!(code, 3, "the job's exit code: {out}");
    assert!(out.contains("about to fail"));

    std::fs::write(p.join("sicuro.json"), r#"{"tset": {}}"#).unwrap();
    let (code, out) = sicuro_run(p);
    assert_eq!(code, 2, "a broken sicuro.json is an error, not a failure: {out}");
    assert!(out.contains("unknown key `tset`"), "{out}");
}

#[test]
fn a_plain_directory_without_git_works_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sicuro.json"),
        r#"{"test": {"custom": ["ls sicuro.json"]}}"#,
    )
    .unwrap();
    let (code, out) = sicuro_run(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn secrets_from_the_environment_and_a_file_reach_the_job_masked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("sicuro.json"),
        r#"{"test": {"custom": ["echo env=$FROM_ENV file=$FROM_FILE", "printf '%s' \"$FROM_FILE\" | base64 -w0; echo"]}}"#,
    )
    .unwrap();
    let secrets = dir.path().join("secrets.env");
    std::fs::write(&secrets, "# for the test\nFROM_FILE=file-value-0123=with=equals\n\n").unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sicuro"))
            .arg("run")
            .arg(p)
            .args(extra)
            .env("SICURO_DATA_DIR", p.join(".sicuro-unused"))
            .env("FROM_ENV", "env-value-4567")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, out) = run(&["--secret", "FROM_ENV", "--secrets-file", secrets.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("env=*** file=***"), "{out}");
    assert!(out.contains("Secrets: FROM_ENV, FROM_FILE"), "{out}");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode("file-value-0123=with=equals");
    for leak in ["env-value-4567", "file-value-0123", b64.as_str()] {
        assert!(!out.contains(leak), "{leak} in\n{out}");
    }

    let (code, out) = run(&["--secret", "NOT_SET_ANYWHERE"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--secret NOT_SET_ANYWHERE: the environment has no NOT_SET_ANYWHERE"),
        "{out}"
    );

    std::fs::write(
        p.join("sicuro.json"),
        r#"{"secrets": ["DEPLOY_KEY"], "test": {"custom": ["true"]}}"#,
    )
    .unwrap();
    let (code, out) = run(&["--secret", "FROM_ENV"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("sicuro.json lists the secret DEPLOY_KEY, which was not given"),
        "{out}"
    );
}

#[test]
fn the_job_gets_the_trees_git_and_its_symbolic_links() {
    if crate::common::swarm::requested() {
        // On a swarm the job fetches a scratch commit of the tree (README, Limits).
        eprintln!("skipped on the swarm executor");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::write(
        p.join("sicuro.json"),
        serde_json::json!({"test": {"custom": [
            "echo \"branch=$(git rev-parse --abbrev-ref HEAD) version=$(git describe --tags)\"",
            "echo \"origin=$(git remote get-url origin)\"",
            "git status --porcelain | grep -x '?? uncommitted.txt' && git diff --stat | grep -q committed.txt",
            "cat linked/inside.txt",
        ]}})
        .to_string(),
    )
    .unwrap();
    std::fs::create_dir(p.join("real")).unwrap();
    std::fs::write(p.join("real/inside.txt"), "through a link to a directory\n").unwrap();
    std::os::unix::fs::symlink("real", p.join("linked")).unwrap();
    std::fs::write(p.join("committed.txt"), "one\n").unwrap();
    git(&["init", "-q", "-b", "feature"]);
    git(&["remote", "add", "origin", "https://user:secret@example.com/o/r.git"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "one"]);
    git(&["tag", "v1.0"]);
    // The tag further back than the checkout's 50 commits: the job's history reaches it.
    for n in 0..60 {
        let message = format!("after the tag {n}");
        git(&[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &message,
        ]);
    }
    // Changed and new, not committed.
    std::fs::write(p.join("committed.txt"), "two\n").unwrap();
    std::fs::write(p.join("uncommitted.txt"), "new\n").unwrap();
    std::fs::write(p.join(".gitignore"), ".sicuro-unused/\n").unwrap();
    git(&["add", ".gitignore"]);

    let (code, out) = sicuro_run(p);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("branch=feature version=v1.0-60-g"), "{out}");
    assert!(
        out.contains("origin=https://example.com/o/r.git"),
        "no credentials: {out}"
    );
    assert!(out.contains("through a link to a directory"), "{out}");
}
