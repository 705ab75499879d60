use fake_github::deliveries::{sign_sha1, sign_sha256};
use fake_github::{CommitSpec, FakeGithub, PullRequestSpec, RepoSpec, ZERO_SHA};

use crate::support::{Receiver, fake};

/// alice/app with one commit on main and a hook to `receiver` for push and pull_request.
async fn subscribed(receiver: &Receiver) -> (FakeGithub, String) {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    fake.add_repo(RepoSpec::new("alice/app").language("Rust"))
        .await
        .unwrap();
    let first = fake
        .commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap();
    fake.add_hook("alice/app", receiver.config("s3cret"), &["push", "pull_request"])
        .unwrap();
    (fake, first.after)
}

#[tokio::test]
async fn a_push_is_signed_and_shaped_like_githubs() {
    let receiver = Receiver::start().await;
    let (fake, first) = subscribed(&receiver).await;
    let push = fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "second").file("b", "2").delete("a"),
        )
        .await
        .unwrap();
    assert_eq!(push.before, first);

    let sent = fake.deliver_push(&push).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, Some(202));
    let got = &receiver.received()[0];
    let body = std::str::from_utf8(&got.body).unwrap();
    assert_eq!(
        got.header("x-hub-signature-256"),
        format!("sha256={}", sign_sha256("s3cret", body))
    );
    assert_eq!(
        got.header("x-hub-signature"),
        format!("sha1={}", sign_sha1("s3cret", body))
    );
    assert_eq!(got.header("x-github-event"), "push");
    assert_eq!(got.header("x-github-delivery"), sent[0].guid);
    assert_eq!(got.header("x-github-hook-id"), sent[0].hook_id.to_string());
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.header("user-agent"), "GitHub-Hookshot/fake");
    assert!(uuid::Uuid::parse_str(&sent[0].guid).is_ok());

    let p = got.json();
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(
        (p["before"].as_str(), p["after"].as_str()),
        (Some(first.as_str()), Some(push.after.as_str()))
    );
    assert_eq!(
        (p["created"].as_bool(), p["deleted"].as_bool(), p["forced"].as_bool()),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(p["commits"].as_array().unwrap().len(), 1);
    assert_eq!(p["head_commit"]["id"], push.after);
    assert_eq!(p["head_commit"]["message"], "second");
    assert_eq!(p["head_commit"]["author"]["username"], "alice");
    assert_eq!(p["head_commit"]["added"], serde_json::json!(["b"]));
    assert_eq!(p["head_commit"]["removed"], serde_json::json!(["a"]));
    assert_eq!(p["repository"]["full_name"], "alice/app");
    assert_eq!(p["repository"]["clone_url"], fake.clone_url("alice/app"));
    assert!(
        p["repository"]["created_at"].is_u64(),
        "push payloads carry unix timestamps"
    );
    assert_eq!(p["pusher"]["name"], "alice");
    assert_eq!(p["sender"]["login"], "alice");
    assert_eq!(fake.hooks("alice/app")[0].last_response_code, Some(202));
}

#[tokio::test]
async fn new_branches_tags_and_deletions_are_pushes_too() {
    let receiver = Receiver::start().await;
    let (fake, first) = subscribed(&receiver).await;
    let branch = fake
        .commit("alice/app", CommitSpec::new("feature", "feat").file("f", "1"))
        .await
        .unwrap();
    assert_eq!(branch.before, ZERO_SHA);
    fake.deliver_push(&branch).await.unwrap();
    let tag = fake.tag("alice/app", "v1.0", "main").await.unwrap();
    fake.deliver_push(&tag).await.unwrap();
    let gone = fake.delete_branch("alice/app", "feature").await.unwrap();
    fake.deliver_push(&gone).await.unwrap();

    let got: Vec<serde_json::Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(got[0]["created"], true);
    assert_eq!(
        got[0]["commits"].as_array().unwrap().len(),
        1,
        "only what main does not have"
    );
    assert_eq!(
        got[0]["compare"],
        format!("{}alice/app/compare/feature", fake.web_url())
    );
    assert_eq!(
        (got[1]["ref"].as_str(), got[1]["after"].as_str()),
        (Some("refs/tags/v1.0"), Some(first.as_str()))
    );
    assert_eq!(got[2]["deleted"], true);
    assert_eq!(got[2]["after"], ZERO_SHA);
    assert!(got[2]["head_commit"].is_null());
}

#[tokio::test]
async fn pull_requests_from_forks_and_their_lifecycle() {
    let receiver = Receiver::start().await;
    let (fake, base_sha) = subscribed(&receiver).await;
    fake.add_repo(RepoSpec::new("bob/app").fork_of("alice/app"))
        .await
        .unwrap();
    let first = fake
        .commit("bob/app", CommitSpec::new("fix", "fix").file("a", "2").author("bob"))
        .await
        .unwrap();
    let spec = PullRequestSpec {
        repo: "alice/app".into(),
        base: "main".into(),
        head_repo: Some("bob/app".into()),
        head: "fix".into(),
        title: "Fix a".into(),
        body: Some("Please".into()),
        user: "bob".into(),
    };
    let n = fake.open_pull_request(spec).await.unwrap();
    let opened = fake.deliver_pull_request("alice/app", n, "opened").await.unwrap();
    assert_eq!(opened[0].action.as_deref(), Some("opened"));

    let second = fake
        .commit(
            "bob/app",
            CommitSpec::new("fix", "fix more").file("a", "3").author("bob"),
        )
        .await
        .unwrap();
    fake.synchronize_pull_request("alice/app", n).await.unwrap();
    fake.deliver_pull_request("alice/app", n, "synchronize").await.unwrap();
    fake.edit_pull_request_title("alice/app", n, "Fix a properly").unwrap();
    fake.deliver_pull_request("alice/app", n, "edited").await.unwrap();
    fake.close_pull_request("alice/app", n).unwrap();
    fake.deliver_pull_request("alice/app", n, "closed").await.unwrap();
    fake.reopen_pull_request("alice/app", n).unwrap();
    fake.deliver_pull_request("alice/app", n, "reopened").await.unwrap();

    let got: Vec<serde_json::Value> = receiver.received().iter().map(|r| r.json()).collect();
    let actions: Vec<&str> = got.iter().map(|p| p["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["opened", "synchronize", "edited", "closed", "reopened"]);
    let pr = &got[0]["pull_request"];
    assert_eq!(got[0]["number"], n);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["user"]["login"], "bob");
    assert_eq!(pr["head"]["sha"], first.after);
    assert_eq!(pr["head"]["ref"], "fix");
    assert_eq!(pr["head"]["label"], "bob:fix");
    assert_eq!(pr["head"]["repo"]["full_name"], "bob/app");
    assert_eq!(pr["head"]["repo"]["fork"], true);
    assert_eq!(pr["head"]["repo"]["clone_url"], fake.clone_url("bob/app"));
    assert_eq!(
        (pr["base"]["ref"].as_str(), pr["base"]["sha"].as_str()),
        (Some("main"), Some(base_sha.as_str()))
    );
    assert_eq!(got[0]["repository"]["full_name"], "alice/app");
    assert_eq!(got[0]["sender"]["login"], "bob");
    assert_eq!(
        (got[1]["before"].as_str(), got[1]["after"].as_str()),
        (Some(first.after.as_str()), Some(second.after.as_str()))
    );
    assert_eq!(got[1]["pull_request"]["head"]["sha"], second.after);
    assert_eq!(got[2]["changes"]["title"]["from"], "Fix a");
    assert_eq!(got[3]["pull_request"]["state"], "closed");
    assert!(got[3]["pull_request"]["closed_at"].is_string());
    assert_eq!(got[4]["pull_request"]["state"], "open");
}

#[tokio::test]
async fn a_redelivery_repeats_the_id_and_the_bytes() {
    let receiver = Receiver::start().await;
    let (fake, _) = subscribed(&receiver).await;
    receiver.answer_with(500);
    let push = fake
        .commit("alice/app", CommitSpec::new("main", "again").file("c", "3"))
        .await
        .unwrap();
    let first = fake.deliver_push(&push).await.unwrap().remove(0);
    assert_eq!(first.status, Some(500));

    receiver.answer_with(202);
    let again = fake.redeliver(&first.guid).await.unwrap();
    assert!(again.redelivery);
    assert_eq!(again.status, Some(202));
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(got[0].header("x-github-delivery"), got[1].header("x-github-delivery"));
    assert_eq!(
        got[0].header("x-hub-signature-256"),
        got[1].header("x-hub-signature-256")
    );
    let recorded: Vec<Option<u16>> = fake.deliveries().iter().map(|d| d.status).collect();
    assert_eq!(recorded, [Some(500), Some(202)]);
}

#[tokio::test]
async fn only_active_subscribed_hooks_get_events_and_failures_are_recorded() {
    let receiver = Receiver::start().await;
    let (fake, _) = subscribed(&receiver).await;
    let mut dead = receiver.config("x");
    dead.url = "http://127.0.0.1:9/unreachable".into();
    fake.add_hook("alice/app", dead, &["push"]).unwrap();
    let push = fake
        .commit("alice/app", CommitSpec::new("main", "x").file("x", "x"))
        .await
        .unwrap();
    let sent = fake.deliver_push(&push).await.unwrap();
    assert_eq!(sent.len(), 2);
    let failed = sent.iter().find(|d| d.url.ends_with("/unreachable")).unwrap();
    assert_eq!(failed.status, None);
    assert!(failed.error.is_some());

    let spec = PullRequestSpec {
        repo: "alice/app".into(),
        base: "main".into(),
        head_repo: None,
        head: "main".into(),
        title: "t".into(),
        body: None,
        user: "alice".into(),
    };
    let n = fake.open_pull_request(spec).await.unwrap();
    let sent = fake.deliver_pull_request("alice/app", n, "opened").await.unwrap();
    assert_eq!(sent.len(), 1, "the push-only hook does not get pull_request");
    assert_eq!(sent[0].url, receiver.url);
}

#[tokio::test]
async fn form_hooks_get_the_payload_form_encoded() {
    let receiver = Receiver::start().await;
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let mut config = receiver.config("s3cret");
    config.content_type = "form".into();
    let hook = fake.add_hook("alice/app", config, &["push"]).unwrap();
    let ping = fake.deliver_ping(hook.id).await.unwrap();
    let got = &receiver.received()[0];
    assert_eq!(got.header("content-type"), "application/x-www-form-urlencoded");
    let body = std::str::from_utf8(&got.body).unwrap();
    assert_eq!(
        got.header("x-hub-signature-256"),
        format!("sha256={}", sign_sha256("s3cret", body))
    );
    let (key, json) = url::form_urlencoded::parse(body.as_bytes()).next().unwrap();
    assert_eq!(key, "payload");
    let payload: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(payload["hook_id"], hook.id);
    assert_eq!(ping.body, body);
}
