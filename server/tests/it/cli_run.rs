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
