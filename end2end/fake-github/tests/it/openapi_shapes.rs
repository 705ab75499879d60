//! The fake's answers and webhook payloads checked against GitHub's OpenAPI description (the
//! fixture cut from `@octokit/openapi`; set FAKE_GITHUB_OPENAPI to use the full file).

use std::path::Path;

use fake_github::openapi::OpenApi;
use fake_github::{CommitSpec, Permission, PullRequestSpec, RepoSpec};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Receiver, fake, get, send};

fn spec() -> OpenApi {
    let path = std::env::var("FAKE_GITHUB_OPENAPI")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openapi-subset.json").into());
    OpenApi::load(Path::new(&path)).unwrap()
}

fn check(spec: &OpenApi, operation: &str, status: u16, body: &Value) {
    if let Err(e) = spec.validate_response(operation, status, body) {
        panic!("{e}\n{}", serde_json::to_string_pretty(body).unwrap());
    }
}

#[tokio::test]
async fn api_answers_match_githubs_schemas() {
    let spec = spec();
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    fake.add_repo(
        RepoSpec::new("alice/app")
            .language("Go")
            .collaborator("bob", Permission::Push),
    )
    .await
    .unwrap();
    fake.add_repo(RepoSpec::new("bob/app").fork_of("alice/app"))
        .await
        .unwrap();
    let sha = fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "first").file("go.mod", "module x\n"),
        )
        .await
        .unwrap()
        .after;

    let (status, user) = get(&fake, Some(&alice), "user").await;
    check(&spec, "users/get-authenticated", status, &user);
    let (status, repos) = get(&fake, Some(&alice), "user/repos").await;
    check(&spec, "repos/list-for-authenticated-user", status, &repos);
    let (status, repo) = get(&fake, Some(&alice), "repos/alice/app").await;
    check(&spec, "repos/get", status, &repo);
    let (status, fork) = get(&fake, Some(&alice), "repos/bob/app").await;
    check(&spec, "repos/get", status, &fork);

    let hook = json!({"name": "web", "active": false, "events": ["push"], "config": {"url": "http://127.0.0.1:9/", "content_type": "json", "secret": "s"}});
    spec.validate_request("repos/create-webhook", &hook).unwrap();
    let (status, created) = send(&fake, Method::POST, &alice, "repos/alice/app/hooks", &hook).await;
    check(&spec, "repos/create-webhook", status, &created);
    let (status, hooks) = get(&fake, Some(&alice), "repos/alice/app/hooks").await;
    check(&spec, "repos/list-webhooks", status, &hooks);
    let (status, one) = get(&fake, Some(&alice), &format!("repos/alice/app/hooks/{}", created["id"])).await;
    check(&spec, "repos/get-webhook", status, &one);
    let patch = json!({"active": true, "events": ["push", "pull_request"]});
    spec.validate_request("repos/update-webhook", &patch).unwrap();
    let (status, patched) = send(
        &fake,
        Method::PATCH,
        &alice,
        &format!("repos/alice/app/hooks/{}", created["id"]),
        &patch,
    )
    .await;
    check(&spec, "repos/update-webhook", status, &patched);

    let body = json!({"state": "failure", "target_url": "http://ci/1", "description": "Failed", "context": "SicuroCI"});
    let (status, st) = send(
        &fake,
        Method::POST,
        &alice,
        &format!("repos/alice/app/statuses/{sha}"),
        &body,
    )
    .await;
    check(&spec, "repos/create-commit-status", status, &st);
    let (status, list) = get(&fake, Some(&alice), &format!("repos/alice/app/commits/{sha}/statuses")).await;
    check(&spec, "repos/list-commit-statuses-for-ref", status, &list);
    let (status, combined) = get(&fake, Some(&alice), "repos/alice/app/commits/main/status").await;
    check(&spec, "repos/get-combined-status-for-ref", status, &combined);
    let (status, commit) = get(&fake, Some(&alice), "repos/alice/app/commits/main").await;
    check(&spec, "repos/get-commit", status, &commit);
    let (status, limits) = get(&fake, Some(&alice), "rate_limit").await;
    check(&spec, "rate-limit/get", status, &limits);

    // What tests will do with Sicuro's requests: validate the recorded bodies.
    let recorded = fake
        .api_requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.contains("/statuses/"))
        .unwrap();
    spec.validate_request("repos/create-commit-status", recorded.body.as_ref().unwrap())
        .unwrap();
}

#[tokio::test]
async fn webhook_payloads_match_githubs_schemas() {
    let spec = spec();
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    let receiver = Receiver::start().await;
    fake.add_repo(RepoSpec::new("alice/app").private().language("Ruby"))
        .await
        .unwrap();
    fake.commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap();
    fake.add_repo(RepoSpec::new("bob/app").fork_of("alice/app"))
        .await
        .unwrap();
    let hook = json!({"events": ["*"], "config": {"url": receiver.url, "content_type": "json", "secret": "s"}});
    assert_eq!(
        send(&fake, Method::POST, &alice, "repos/alice/app/hooks", &hook)
            .await
            .0,
        201
    );
    fake.wait_for("the ping", |f| f.deliveries().into_iter().find(|d| d.event == "ping"))
        .await
        .unwrap();

    let push = fake
        .commit("alice/app", CommitSpec::new("main", "second").file("b", "2"))
        .await
        .unwrap();
    fake.deliver_push(&push).await.unwrap();
    let created = fake
        .commit("alice/app", CommitSpec::new("new", "branch").file("c", "3"))
        .await
        .unwrap();
    fake.deliver_push(&created).await.unwrap();
    fake.deliver_push(&fake.delete_branch("alice/app", "new").await.unwrap())
        .await
        .unwrap();
    fake.commit("bob/app", CommitSpec::new("fix", "fix").file("a", "2").author("bob"))
        .await
        .unwrap();
    let spec_pr = PullRequestSpec {
        repo: "alice/app".into(),
        base: "main".into(),
        head_repo: Some("bob/app".into()),
        head: "fix".into(),
        title: "Fix".into(),
        body: None,
        user: "bob".into(),
    };
    let n = fake.open_pull_request(spec_pr).await.unwrap();
    fake.deliver_pull_request("alice/app", n, "opened").await.unwrap();
    fake.commit("bob/app", CommitSpec::new("fix", "more").file("a", "3").author("bob"))
        .await
        .unwrap();
    fake.synchronize_pull_request("alice/app", n).await.unwrap();
    fake.deliver_pull_request("alice/app", n, "synchronize").await.unwrap();
    fake.edit_pull_request_title("alice/app", n, "Fix!").unwrap();
    fake.deliver_pull_request("alice/app", n, "edited").await.unwrap();
    fake.close_pull_request("alice/app", n).unwrap();
    fake.deliver_pull_request("alice/app", n, "closed").await.unwrap();
    fake.reopen_pull_request("alice/app", n).unwrap();
    fake.deliver_pull_request("alice/app", n, "reopened").await.unwrap();

    let names = [
        "ping",
        "push",
        "push",
        "push",
        "pull-request-opened",
        "pull-request-synchronize",
        "pull-request-edited",
        "pull-request-closed",
        "pull-request-reopened",
    ];
    let got = receiver.received();
    assert_eq!(got.len(), names.len());
    for (name, delivery) in names.iter().zip(&got) {
        if let Err(e) = spec.validate_webhook(name, &delivery.json()) {
            panic!("{e}\n{}", serde_json::to_string_pretty(&delivery.json()).unwrap());
        }
    }
}
