//! Sicuro against artefacts GitHub published, not ones we wrote: every `ping`, `push` and
//! `pull_request` example of `@octokit/webhooks-examples` leads to the right decision and is
//! accepted with a valid signature (and refused, with no side effect, with a wrong, truncated
//! or SHA-1-only one); the requests Sicuro sends to create hooks and statuses match GitHub's
//! OpenAPI description in `@octokit/openapi`.

use std::path::PathBuf;

use crate::common::web_app::{TestApp, WEBHOOK_SECRET};
use fake_github::openapi::OpenApi;
use fake_github::{CommitSpec, Permission, RepoSpec};
use serde_json::Value;
use sicuro::web::webhook::decide::{Decision, Trigger, decide};
use sicuro::web::webhook::signature::sign;

/// `end2end/node_modules/@octokit`, installed by `make test` (npm ci in end2end/).
fn octokit() -> PathBuf {
    let dir = std::env::var("SICURO_OCTOKIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end/node_modules/@octokit"));
    assert!(
        dir.join("webhooks-examples").exists(),
        "{} is missing: run `npm ci --prefix end2end` (make test does)",
        dir.display()
    );
    dir
}

fn examples(event: &str) -> Vec<Value> {
    let path = octokit().join("webhooks-examples/api.github.com/index.json");
    let all: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let e = all
        .into_iter()
        .find(|e| e["name"] == event)
        .unwrap_or_else(|| panic!("no {event} examples"));
    e["examples"].as_array().unwrap().clone()
}

/// What GitHub's documentation says each payload means, read straight from the JSON.
fn expected(event: &str, p: &Value) -> Option<(String, Option<String>, Option<i64>)> {
    match event {
        "ping" => p.get("repository").map(|r| {
            (
                "default branch".into(),
                r["default_branch"].as_str().map(str::to_string),
                None,
            )
        }),
        "push" => {
            if p["deleted"] == true {
                return None;
            }
            let r = p["ref"].as_str().unwrap();
            let name = r
                .strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))
                .unwrap();
            Some((p["after"].as_str().unwrap().into(), Some(name.into()), None))
        }
        "pull_request" => {
            if !["opened", "synchronize", "reopened"].contains(&p["action"].as_str().unwrap()) {
                return None;
            }
            Some((
                p["pull_request"]["head"]["sha"].as_str().unwrap().into(),
                None,
                p["number"].as_i64(),
            ))
        }
        _ => unreachable!(),
    }
}

#[test]
fn every_recorded_payload_leads_to_the_right_decision() {
    let mut seen = 0;
    for event in ["ping", "push", "pull_request"] {
        for payload in examples(event) {
            let body = serde_json::to_vec(&payload).unwrap();
            let decision = decide(event, &body).unwrap_or_else(|e| panic!("{event} example not readable: {e}"));
            match (expected(event, &payload), decision) {
                (None, Decision::Ignore(_)) => {}
                (
                    Some((_, branch, _)),
                    Decision::Build {
                        trigger: Trigger::Ping { default_branch },
                        repo_github_id,
                        ..
                    },
                ) => {
                    assert_eq!(default_branch, branch);
                    assert_eq!(repo_github_id, payload["repository"]["id"].as_i64().unwrap());
                }
                (
                    Some((sha, name, _)),
                    Decision::Build {
                        trigger:
                            Trigger::Push {
                                sha: s, branch, is_tag, ..
                            },
                        ..
                    },
                ) => {
                    assert_eq!((s, Some(branch)), (sha, name));
                    assert_eq!(is_tag, payload["ref"].as_str().unwrap().starts_with("refs/tags/"));
                }
                (
                    Some((sha, _, number)),
                    Decision::Build {
                        trigger:
                            Trigger::PullRequest {
                                sha: s,
                                number: n,
                                fork_clone_url,
                                ..
                            },
                        ..
                    },
                ) => {
                    assert_eq!((s, Some(n)), (sha, number));
                    let same_repo = payload["pull_request"]["head"]["repo"]["id"] == payload["repository"]["id"];
                    assert_eq!(fork_clone_url.is_none(), same_repo);
                }
                (want, got) => panic!(
                    "{event} {:?}: expected {want:?}, decided {got:?}",
                    payload.get("action")
                ),
            }
            seen += 1;
        }
    }
    assert!(seen >= 40, "only {seen} examples");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_payload_is_accepted_signed_and_refused_forged() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let mut n = 0;
    for event in ["ping", "push", "pull_request"] {
        for payload in examples(event) {
            let body = serde_json::to_vec(&payload).unwrap();
            let good = sign(WEBHOOK_SECRET.as_bytes(), &body);
            let sha1_only = format!("sha1={}", &good[7..47]);
            let forged = [
                ("x-hub-signature-256", sign(b"wrong secret", &body)),
                ("x-hub-signature-256", good[..good.len() - 6].to_string()),
                ("x-hub-signature", sha1_only),
            ];
            for (header, value) in forged {
                n += 1;
                let r = client
                    .post(format!("{}/hooks/github", app.url))
                    .header("x-github-event", event)
                    .header("x-github-delivery", format!("forged-{n}"))
                    .header(header, value)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401, "{event} with a bad {header}");
            }
            n += 1;
            let r = client
                .post(format!("{}/hooks/github", app.url))
                .header("x-github-event", event)
                .header("x-github-delivery", format!("real-{n}"))
                .header("x-hub-signature-256", good)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{event} example with a valid signature");
        }
    }
    let (forged,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE delivery_id LIKE 'forged-%'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(forged, 0, "refused deliveries leave no trace");
    assert!(
        app.builds_of("Codertocat/Hello-World").await.is_empty(),
        "an unwatched repository builds nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hook_and_status_requests_match_githubs_openapi_description() {
    let spec = OpenApi::load(&octokit().join("openapi/generated/api.github.com.json")).unwrap();
    let app = TestApp::start().await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", r#"{"test": {"custom": ["true"]}}"#),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let (code, _) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200);
    // The request log, not the fake's statuses: the fake stores a status before it logs the
    // request that created it.
    let is_verdict = |r: &fake_github::ApiRequest| {
        r.method == "POST" && r.path.contains("/statuses/") && r.body.as_ref().is_some_and(|b| b["state"] == "success")
    };
    app.wait_github("the success status request", |f| {
        f.api_requests().iter().any(is_verdict).then_some(())
    })
    .await
    .unwrap();
    let requests = app.fake.api_requests();
    let hook = requests
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/hooks"))
        .expect("a hook was created");
    spec.validate_request("repos/create-webhook", hook.body.as_ref().unwrap())
        .unwrap();
    let statuses: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/statuses/"))
        .collect();
    // Pending statuses still waiting when a newer one of the same build arrives are replaced
    // by it (the outbox posts the latest), so only the verdict is certain to be among them.
    assert!(statuses.iter().any(|r| is_verdict(r)), "{statuses:?}");
    for s in statuses {
        spec.validate_request("repos/create-commit-status", s.body.as_ref().unwrap())
            .unwrap();
    }
}
