//! Repository secrets through the whole server (fake GitHub, fake executor): who may list and
//! set them, who gets them (pushes yes, forks only when marked), `sicuro.json`'s list, rotation,
//! and that a printed secret — plainly, split across two writes, base64- and URL-encoded —
//! is in no log (file, SSE, download, JSON), not in the database or data directory in clear,
//! not in the pages' hydration data, and not in the server's own tracing output.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use fake_github::{CommitSpec, Permission, PullRequestSpec, RepoSpec};
use reqwest::Method;
use serde_json::json;
use sicuro::db::builds::Build;
use sicuro_types::BuildStatus;

use crate::common::random_suffix;
use crate::common::web_app::{Browser, TestApp};

/// Prints the secret every way the masker must catch.
const LEAKY_JSON: &str = r#"{"test": {"custom": [
  "echo plain=$DEPLOY_TOKEN",
  "printf 'split=%s' \"${DEPLOY_TOKEN:0:7}\"; sleep 0.2; printf '%s\\n' \"${DEPLOY_TOKEN:7}\"",
  "printf '%s' \"$DEPLOY_TOKEN\" | base64 -w0; echo",
  "printf 'deploy:%s' \"$DEPLOY_TOKEN\" | base64 -w0; echo",
  "python3 -c 'import os, urllib.parse; print(\"url=\" + urllib.parse.quote(os.environ.get(\"DEPLOY_TOKEN\", \"\"), safe=\"\"))'",
  "echo fork=${FORK_TOKEN:-none}"
]}}"#;

/// Everything the server traces, from the first test that asks on (all tests of this binary
/// share one process, so tests only look for values of their own).
fn traced() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in the tests");
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// alice's repository with `sicuro_json`, subscribed, its ping build done.
async fn subscribed(sicuro_json: &str) -> (TestApp, Browser) {
    subscribed_on(TestApp::start().await, sicuro_json).await
}

async fn subscribed_on(app: TestApp, sicuro_json: &str) -> (TestApp, Browser) {
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(
            RepoSpec::new("alice/app")
                .collaborator("alice", Permission::Admin)
                .default_branch("main"),
        )
        .await
        .unwrap();
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", sicuro_json),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    app.wait_builds("alice/app", "the ping build", |b| {
        b.iter().find(|b| b.status().is_finished()).cloned()
    })
    .await;
    (app, alice)
}

async fn push_and_build(app: &TestApp, message: &str) -> Build {
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", message))
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    app.wait_builds("alice/app", "the push build", |b| {
        b.iter()
            .find(|b| b.commit_sha == push.after && b.status().is_finished())
            .cloned()
    })
    .await
}

fn env_of(app: &TestApp, build: &Build) -> Vec<(String, String)> {
    let job = app
        .executor
        .jobs()
        .into_iter()
        .find(|j| j.key == build.id.to_string())
        .expect("the build's job");
    assert!(job.services.is_empty());
    job.main.env
}

fn var<'e>(env: &'e [(String, String)], name: &str) -> Option<&'e str> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_printed_secret_is_in_no_log_no_answer_and_not_in_the_database_in_clear() {
    let traced = traced();
    let (app, alice) = subscribed(LEAKY_JSON).await;
    let value = format!("dt_{}/{}+x", random_suffix(), random_suffix());
    let (code, body) = alice
        .send(
            Method::PUT,
            "/api/repos/alice/app/secrets/DEPLOY_TOKEN",
            Some(json!({ "value": value })),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["name"], "DEPLOY_TOKEN");
    assert!(!body.to_string().contains(&value), "the answer has no value: {body}");

    let build = push_and_build(&app, "Print the token").await;
    assert_eq!(build.status(), BuildStatus::Success, "{:?}", build.error);
    assert_eq!(var(&env_of(&app, &build), "DEPLOY_TOKEN"), Some(value.as_str()));

    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        value.clone(),
        b64.encode(&value),
        b64.encode(format!("deploy:{value}")),
        // What Python's `quote(safe="")` prints for it.
        value.replace('/', "%2F").replace('+', "%2B"),
        // The halves of the split write, as they would appear unmasked.
        value[7..].to_string(),
    ];
    let id = build.id;
    let (_, text) = alice.get_text(&format!("/api/builds/{id}/log.txt")).await;
    for want in ["plain=***", "split=***", "url=***", "fork=none"] {
        assert!(text.lines().any(|l| l == want), "{want} in\n{text}");
    }
    assert!(text.lines().any(|l| l == "***"), "the base64 line: {text}");
    assert!(text.contains("Secrets: DEPLOY_TOKEN"), "{text}");
    let (_, json_log) = alice.get_text(&format!("/api/builds/{id}/log")).await;
    let (_, sse) = alice.get_text(&format!("/api/builds/{id}/log/stream")).await;
    assert!(sse.contains("plain=***"), "{sse}");
    let (_, detail) = alice.get_json(&format!("/api/builds/{id}")).await;
    assert_eq!(detail["secrets"], json!(["DEPLOY_TOKEN"]), "names recorded: {detail}");
    let (_, page) = alice
        .get_text(&format!("/repos/alice/app/builds/{}", build.number))
        .await;
    let (_, settings) = alice.get_text("/repos/alice/app/settings").await;
    assert!(settings.contains("DEPLOY_TOKEN"), "the settings page lists the name");
    let (_, listed) = alice.get_text("/api/repos/alice/app/secrets").await;
    assert!(listed.contains("DEPLOY_TOKEN"));
    let log_file = std::fs::read_to_string(app.dir.path().join("logs").join(format!("{id}.log"))).unwrap();
    let server_log = String::from_utf8_lossy(&traced.lock().unwrap()).into_owned();
    assert!(server_log.contains("secret set"), "the capture works");

    for form in &forms {
        for (what, text) in [
            ("log file", &log_file),
            ("log.txt", &text),
            ("JSON log", &json_log),
            ("SSE stream", &sse),
            ("build page", &page),
            ("settings page", &settings),
            ("secrets list", &listed),
            ("server log", &server_log),
        ] {
            assert!(!text.contains(form.as_str()), "{form} in the {what}:\n{text}");
        }
        assert_eq!(
            files_containing(app.dir.path(), form.as_bytes()),
            Vec::<String>::new(),
            "{form} in clear in the data directory (database, WAL, logs)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fork_gets_only_the_secrets_marked_for_forks() {
    let (app, alice) = subscribed(LEAKY_JSON).await;
    for (name, value, forks) in [
        ("DEPLOY_TOKEN", "deploy-value-1234", false),
        ("FORK_TOKEN", "fork-value-5678", true),
    ] {
        let (code, body) = alice
            .send(
                Method::PUT,
                &format!("/api/repos/alice/app/secrets/{name}"),
                Some(json!({ "value": value, "forks": forks })),
            )
            .await;
        assert_eq!(code, 201, "{body}");
    }
    let (number, _) = app.fork_pull_request("Try to read secrets").await;
    // A fork's build waits for someone with write access; approved, it runs with the fork's share.
    let waiting = app
        .wait_builds("alice/app", "the fork's build waiting for approval", |b| {
            b.iter()
                .find(|b| b.pr_number == Some(number as i64) && b.status() == BuildStatus::Waiting)
                .cloned()
        })
        .await;
    let (code, body) = alice.post(&format!("/api/builds/{}/approve", waiting.id), None).await;
    assert_eq!(code, 200, "{body}");
    let pr = app
        .wait_builds("alice/app", "the fork's build", |b| {
            b.iter()
                .find(|b| b.pr_number == Some(number as i64) && b.status().is_finished())
                .cloned()
        })
        .await;
    assert!(pr.from_fork());
    let env = env_of(&app, &pr);
    assert_eq!(var(&env, "DEPLOY_TOKEN"), None, "not for forks: {env:?}");
    assert_eq!(var(&env, "FORK_TOKEN"), Some("fork-value-5678"), "marked for forks");
    let (_, log) = alice.get_text(&format!("/api/builds/{}/log.txt", pr.id)).await;
    assert!(log.contains("fork=***"), "{log}");
    assert!(
        log.contains("Secrets withheld from this pull request from a fork: DEPLOY_TOKEN"),
        "{log}"
    );
    let (_, detail) = alice.get_json(&format!("/api/builds/{}", pr.id)).await;
    assert_eq!(detail["secrets"], json!(["FORK_TOKEN"]));

    // A rebuild of the fork's pull request (by someone with push access) is still the fork's code.
    let (code, rebuilt) = alice.post(&format!("/api/builds/{}/rebuild", pr.id), None).await;
    assert_eq!(code, 201, "{rebuilt}");
    let again = app
        .wait_builds("alice/app", "the rebuild", |b| {
            b.iter()
                .find(|b| b.rebuild_of == Some(pr.id) && b.status().is_finished())
                .cloned()
        })
        .await;
    assert_eq!(var(&env_of(&app, &again), "DEPLOY_TOKEN"), None);

    // The repository's own push gets both, and so does a pull request from its own branch.
    let push = push_and_build(&app, "Trusted").await;
    let env = env_of(&app, &push);
    assert_eq!(var(&env, "DEPLOY_TOKEN"), Some("deploy-value-1234"));
    assert_eq!(var(&env, "FORK_TOKEN"), Some("fork-value-5678"));
    app.fake
        .commit("alice/app", CommitSpec::new("topic", "Own branch").from("main"))
        .await
        .unwrap();
    let own = app
        .fake
        .open_pull_request(PullRequestSpec {
            repo: "alice/app".into(),
            base: "main".into(),
            head_repo: None,
            head: "topic".into(),
            title: "Own branch".into(),
            body: None,
            user: "alice".into(),
        })
        .await
        .unwrap();
    app.fake.deliver_pull_request("alice/app", own, "opened").await.unwrap();
    let own_pr = app
        .wait_builds("alice/app", "the same-repository pull request's build", |b| {
            b.iter()
                .find(|b| b.pr_number == Some(own as i64) && b.status().is_finished())
                .cloned()
        })
        .await;
    assert!(!own_pr.from_fork());
    assert_eq!(var(&env_of(&app, &own_pr), "DEPLOY_TOKEN"), Some("deploy-value-1234"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_admins_list_set_and_delete_secrets_and_every_change_is_audited() {
    let (app, mut alice) = subscribed(LEAKY_JSON).await;
    app.fake.add_user("carol").unwrap();
    app.fake.add_user("dave").unwrap();
    app.fake
        .set_collaborator("alice/app", "carol", Permission::Push)
        .unwrap();
    let carol = app.signed_in("carol").await;
    let dave = app.signed_in("dave").await;
    let anon = app.browser();
    let path = "/api/repos/alice/app/secrets/NPM_TOKEN";
    let body = json!({ "value": "npm_abcdefgh" });

    for (who, b) in [("push", &carol), ("read", &dave), ("anonymous", &anon)] {
        let (code, e) = b.get_json("/api/repos/alice/app/secrets").await;
        assert!(code == 403 || code == 401, "{who} lists: {code} {e}");
        let (code, e) = b.send(Method::PUT, path, Some(body.clone())).await;
        assert!(code == 403 || code == 401, "{who} sets: {code} {e}");
        let (code, _) = b.send(Method::DELETE, path, None).await;
        assert!(code == 403 || code == 401, "{who} deletes");
        let (code, _) = b.get_json("/api/repos/alice/app/secrets-audit").await;
        assert!(code == 403 || code == 401, "{who} reads the audit trail");
    }
    let (code, e) = carol.get_json("/api/repos/alice/app/secrets").await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("admin rights on the repository are needed"))
    );
    let (_, settings) = carol.get_text("/repos/alice/app/settings").await;
    assert!(!settings.contains("NPM_TOKEN"));

    let (code, created) = alice.send(Method::PUT, path, Some(body.clone())).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        (created["updated_by"].as_str(), created["forks"].as_bool()),
        (Some("alice"), Some(false))
    );
    let (code, _) = alice
        .send(
            Method::PUT,
            path,
            Some(json!({ "value": "npm_replaced", "forks": true })),
        )
        .await;
    assert_eq!(code, 200, "replaced");
    let (_, list) = alice.get_json("/api/repos/alice/app/secrets").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "NPM_TOKEN");
    assert_eq!(list[0]["forks"], true);
    assert!(!list.to_string().contains("npm_"), "no values: {list}");

    // Bad input says what is wrong and how to fix it.
    for (name, value, want) in [
        ("NPM-TOKEN", json!({ "value": "abcdefgh" }), "not a secret's name"),
        ("SHORT", json!({ "value": "abc" }), "shorter than 4 characters"),
        (
            "BIG",
            json!({ "value": "x".repeat(64 * 1024 + 1) }),
            "at most 65536 bytes",
        ),
        ("SICURO_X", json!({ "value": "abcdefgh" }), "Sicuro sets itself"),
        ("NOVALUE", json!({ "forks": true }), "must be JSON like"),
    ] {
        let (code, e) = alice
            .send(
                Method::PUT,
                &format!("/api/repos/alice/app/secrets/{name}"),
                Some(value),
            )
            .await;
        assert_eq!(code, 400, "{name}: {e}");
        assert!(e["error"].as_str().unwrap().contains(want), "{name}: {e}");
    }

    // PUT and DELETE are CSRF-checked like POST.
    let token = std::mem::take(&mut alice.csrf);
    let (code, _) = alice.send(Method::PUT, path, Some(body.clone())).await;
    assert_eq!(code, 403, "PUT without the CSRF token");
    let (code, _) = alice.send(Method::DELETE, path, None).await;
    assert_eq!(code, 403, "DELETE without the CSRF token");
    alice.csrf = token;

    let (code, _) = alice.send(Method::DELETE, path, None).await;
    assert_eq!(code, 204);
    let (code, _) = alice.send(Method::DELETE, path, None).await;
    assert_eq!(code, 404, "already gone");
    let (_, audit) = alice.get_json("/api/repos/alice/app/secrets-audit").await;
    let trail: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |a: &str| ("NPM_TOKEN".to_string(), a.to_string(), "alice".to_string());
    assert_eq!(trail, [row("deleted"), row("updated"), row("created")], "newest first");

    // Secrets go with their repository.
    alice.send(Method::PUT, path, Some(body.clone())).await;
    let repo = sicuro::db::repos::by_slug(&app.state.db, "alice", "app")
        .await
        .unwrap()
        .unwrap();
    sqlx::query("DELETE FROM repos WHERE id = $1")
        .bind(repo.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM repo_secrets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM secret_events")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!((left, events), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sicuro_json_picks_secrets_a_missing_one_ends_the_build_and_a_new_value_applies_next() {
    let json = r#"{"secrets": ["API_KEY"], "test": {"custom": ["echo key=$API_KEY other=${OTHER_KEY:-none}"]}}"#;
    let (app, alice) = subscribed(json).await;
    let ping = app.builds_of("alice/app").await.pop().unwrap();
    assert_eq!(ping.status(), BuildStatus::Error);
    let error = ping.error.unwrap_or_default();
    assert!(
        error.contains("sicuro.json lists the secret API_KEY, which alice/app does not have")
            && error.contains("settings page"),
        "{error}"
    );

    for (name, value) in [("API_KEY", "first-value"), ("OTHER_KEY", "other-value")] {
        let (code, _) = alice
            .send(
                Method::PUT,
                &format!("/api/repos/alice/app/secrets/{name}"),
                Some(json!({ "value": value })),
            )
            .await;
        assert_eq!(code, 201);
    }
    let first = push_and_build(&app, "First").await;
    assert_eq!(first.status(), BuildStatus::Success, "{:?}", first.error);
    let env = env_of(&app, &first);
    assert_eq!(var(&env, "API_KEY"), Some("first-value"));
    assert_eq!(var(&env, "OTHER_KEY"), None, "only the listed secret");

    alice
        .send(
            Method::PUT,
            "/api/repos/alice/app/secrets/API_KEY",
            Some(json!({ "value": "second-value" })),
        )
        .await;
    let second = push_and_build(&app, "Second").await;
    assert_eq!(var(&env_of(&app, &second), "API_KEY"), Some("second-value"), "rotated");
    let (_, log) = alice.get_text(&format!("/api/builds/{}/log.txt", second.id)).await;
    assert!(log.contains("key=*** other=none"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_work_the_same_on_postgresql() {
    if !crate::common::postgres_available() {
        eprintln!("SICURO_TEST_DATABASE_URL is not set; `make test` sets it");
        return;
    }
    let (app, alice) = subscribed_on(TestApp::start_with(true, &[]).await, LEAKY_JSON).await;
    let path = "/api/repos/alice/app/secrets/DEPLOY_TOKEN";
    let (code, body) = alice
        .send(Method::PUT, path, Some(json!({ "value": "pg-secret-value-0123" })))
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, _) = alice
        .send(
            Method::PUT,
            path,
            Some(json!({ "value": "pg-secret-value-4567", "forks": true })),
        )
        .await;
    assert_eq!(code, 200);
    let build = push_and_build(&app, "On PostgreSQL").await;
    assert_eq!(var(&env_of(&app, &build), "DEPLOY_TOKEN"), Some("pg-secret-value-4567"));
    let (_, text) = alice.get_text(&format!("/api/builds/{}/log.txt", build.id)).await;
    assert!(
        text.contains("plain=***") && !text.contains("pg-secret-value"),
        "{text}"
    );
    let sealed: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT ciphertext FROM repo_secrets")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(!sealed[0].0.windows(15).any(|w| w == b"pg-secret-value"), "sealed");
    let (_, detail) = alice.get_json(&format!("/api/builds/{}", build.id)).await;
    assert_eq!(detail["secrets"], json!(["DEPLOY_TOKEN"]));
    let (code, _) = alice.send(Method::DELETE, path, None).await;
    assert_eq!(code, 204);
    let (_, audit) = alice.get_json("/api/repos/alice/app/secrets-audit").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "updated", "created"]);
}
