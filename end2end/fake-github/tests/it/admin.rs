//! The admin API, through the `fake-github` binary itself.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Receiver, client};

struct Binary {
    child: tokio::process::Child,
    base: String,
    _state: tempfile::TempDir,
}

async fn start_binary() -> Binary {
    let state = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-github"))
        .args([
            "--port",
            "0",
            "--client-id",
            "cid",
            "--client-secret",
            "csecret",
            "--state-dir",
        ])
        .arg(state.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let base = line
        .strip_prefix("fake-github listening on ")
        .expect("the ready line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Binary {
        child,
        base,
        _state: state,
    }
}

impl Binary {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = client().request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_binary_serves_the_admin_routes() {
    use reqwest::Method;
    let mut fake = start_binary().await;
    let receiver = Receiver::start().await;

    let (status, alice) = fake
        .call(Method::POST, "/_admin/users", Some(json!({"login": "alice"})))
        .await;
    assert_eq!(status, 200);
    let token = alice["token"].as_str().unwrap().to_string();
    fake.call(Method::POST, "/_admin/users", Some(json!({"login": "bob"})))
        .await;
    let (status, repo) = fake
        .call(
            Method::POST,
            "/_admin/repos",
            Some(json!({"full_name": "alice/app", "private": true, "language": "Ruby"})),
        )
        .await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["clone_url"], format!("{}/alice/app.git", fake.base));
    let (status, _) = fake
        .call(Method::POST, "/_admin/repos", Some(json!({"full_name": "alice/app"})))
        .await;
    assert_eq!(status, 409);

    let hook = json!({"config": {"url": receiver.url, "content_type": "json", "secret": "s", "insecure_ssl": "0"}, "events": ["push", "pull_request"]});
    let (status, hook) = fake
        .call(Method::POST, "/_admin/repos/alice/app/hooks", Some(hook))
        .await;
    assert_eq!(status, 200);
    let (_, hooks) = fake.call(Method::GET, "/_admin/repos/alice/app/hooks", None).await;
    assert_eq!(hooks[0]["config"]["secret"], "s");

    let commit = json!({"branch": "main", "message": "first", "files": {"Gemfile": "source 'https://rubygems.org'\n"}});
    let (status, push) = fake
        .call(Method::POST, "/_admin/repos/alice/app/commits", Some(commit))
        .await;
    assert_eq!(status, 200, "{push}");
    assert_eq!(push["deliveries"][0]["status"], 202);
    assert_eq!(push["ref"], "refs/heads/main");
    let sha = push["after"].as_str().unwrap().to_string();

    let branch = json!({"branch": "topic", "message": "topic", "files": {"a": "1"}, "deliver": false});
    fake.call(Method::POST, "/_admin/repos/alice/app/commits", Some(branch))
        .await;
    let pull = json!({"base": "main", "head": "topic", "title": "Topic", "user": "alice"});
    let (status, opened) = fake
        .call(Method::POST, "/_admin/repos/alice/app/pulls", Some(pull))
        .await;
    assert_eq!((status, opened["number"].as_u64()), (200, Some(1)));
    assert_eq!(opened["deliveries"][0]["action"], "opened");
    let (status, closed) = fake
        .call(Method::POST, "/_admin/repos/alice/app/pulls/1/close", None)
        .await;
    assert_eq!(
        (status, closed["pull_request"]["state"].as_str()),
        (200, Some("closed"))
    );

    let (status, ping) = fake
        .call(Method::POST, &format!("/_admin/hooks/{}/pings", hook["id"]), None)
        .await;
    assert_eq!((status, ping["event"].as_str()), (200, Some("ping")));
    let guid = ping["guid"].as_str().unwrap();
    let (status, again) = fake
        .call(Method::POST, &format!("/_admin/deliveries/{guid}/redeliver"), None)
        .await;
    assert_eq!((status, again["redelivery"].as_bool()), (200, Some(true)));
    let (_, deliveries) = fake.call(Method::GET, "/_admin/deliveries", None).await;
    assert_eq!(deliveries.as_array().unwrap().len(), 5);
    assert_eq!(receiver.received().len(), 5);

    let fault = json!({"kind": "server_error", "count": 1, "path_contains": "/statuses/"});
    assert_eq!(fake.call(Method::POST, "/_admin/faults", Some(fault)).await.0, 204);
    let status_path = format!("/api/v3/repos/alice/app/statuses/{sha}");
    let resp = client()
        .post(format!("{}{status_path}", fake.base))
        .bearer_auth(&token)
        .json(&json!({"state": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = client()
        .post(format!("{}{status_path}", fake.base))
        .bearer_auth(&token)
        .json(&json!({"state": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (_, statuses) = fake.call(Method::GET, "/_admin/repos/alice/app/statuses", None).await;
    assert_eq!(statuses.as_array().unwrap().len(), 1);
    let (_, requests) = fake
        .call(Method::GET, "/_admin/requests?path_contains=/statuses/", None)
        .await;
    let codes: Vec<u64> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 201]);

    let (status, revoked) = fake
        .call(Method::DELETE, &format!("/_admin/tokens/{token}"), None)
        .await;
    assert_eq!((status, revoked["revoked"].as_bool()), (200, Some(true)));
    let resp = client()
        .get(format!("{}/api/v3/user", fake.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, git) = fake.call(Method::GET, "/_admin/git-requests", None).await;
    assert_eq!((status, git.as_array().map(Vec::len)), (200, Some(0)));
    let (status, err) = fake.call(Method::GET, "/_admin/repos/alice/nope", None).await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("alice/nope"));

    fake.child.kill().await.unwrap();
}
