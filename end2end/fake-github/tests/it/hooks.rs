use fake_github::{Permission, RepoSpec};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Receiver, client, fake, get, send};

fn hook_body(url: &str) -> Value {
    json!({"name": "web", "active": true, "events": ["push", "pull_request"],
           "config": {"url": url, "content_type": "json", "secret": "s3cret", "insecure_ssl": "0"}})
}

#[tokio::test]
async fn creating_a_hook_pings_it_and_the_hook_can_be_read_changed_and_deleted() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let receiver = Receiver::start().await;

    let (status, hook) = send(
        &fake,
        Method::POST,
        &alice,
        "repos/alice/app/hooks",
        &hook_body(&receiver.url),
    )
    .await;
    assert_eq!(status, 201);
    let id = hook["id"].as_u64().unwrap();
    assert_eq!(hook["config"]["secret"], "********", "secrets are never shown");
    assert_eq!(hook["config"]["url"], receiver.url);
    assert_eq!(hook["events"], json!(["push", "pull_request"]));
    assert_eq!(hook["last_response"]["status"], "unused");

    let ping = fake
        .wait_for("the ping", |f| f.deliveries().into_iter().find(|d| d.event == "ping"))
        .await
        .unwrap();
    assert_eq!(ping.status, Some(202));
    assert_eq!(ping.hook_id, id);
    let got = &receiver.received()[0];
    assert_eq!(got.header("x-github-event"), "ping");
    assert_eq!(got.json()["hook_id"], id);
    assert_eq!(fake.hooks("alice/app")[0].config.secret.as_deref(), Some("s3cret"));

    let (status, listed) = get(&fake, Some(&alice), "repos/alice/app/hooks").await;
    assert_eq!((status, listed.as_array().unwrap().len()), (200, 1));
    let (_, read) = get(&fake, Some(&alice), &format!("repos/alice/app/hooks/{id}")).await;
    assert_eq!(
        read["last_response"],
        json!({"code": 202, "status": "active", "message": "OK"})
    );

    let patch = json!({"active": false, "add_events": ["status"], "remove_events": ["push"]});
    let (status, changed) = send(
        &fake,
        Method::PATCH,
        &alice,
        &format!("repos/alice/app/hooks/{id}"),
        &patch,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(changed["events"], json!(["pull_request", "status"]));
    assert_eq!(changed["active"], false);
    assert!(!fake.hooks("alice/app")[0].active);

    let (status, _) = send(
        &fake,
        Method::DELETE,
        &alice,
        &format!("repos/alice/app/hooks/{id}"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 204);
    assert!(fake.hooks("alice/app").is_empty());
    assert_eq!(
        get(&fake, Some(&alice), &format!("repos/alice/app/hooks/{id}")).await.0,
        404
    );
}

#[tokio::test]
async fn hooks_need_admin_rights() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    let bob = fake.add_user("bob").unwrap();
    fake.add_repo(RepoSpec::new("alice/app").collaborator("bob", Permission::Push))
        .await
        .unwrap();
    let (status, body) = send(
        &fake,
        Method::POST,
        &bob,
        "repos/alice/app/hooks",
        &hook_body("http://127.0.0.1:9/"),
    )
    .await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
    assert_eq!(get(&fake, Some(&bob), "repos/alice/app/hooks").await.0, 404);
    assert!(fake.hooks("alice/app").is_empty());
}

#[tokio::test]
async fn a_repository_takes_at_most_twenty_hooks_and_no_duplicates() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    for i in 0..fake_github::MAX_HOOKS {
        let mut body = hook_body(&format!("http://127.0.0.1:9/{i}"));
        body["active"] = json!(false);
        assert_eq!(
            send(&fake, Method::POST, &alice, "repos/alice/app/hooks", &body)
                .await
                .0,
            201
        );
    }
    let (status, body) = send(
        &fake,
        Method::POST,
        &alice,
        "repos/alice/app/hooks",
        &hook_body("http://127.0.0.1:9/21"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"],
        json!([{"resource": "Hook", "code": "custom", "message": "The \"push\" event cannot have more than 20 hooks"}])
    );
    let (status, body) = send(
        &fake,
        Method::POST,
        &alice,
        "repos/alice/app/hooks",
        &hook_body("http://127.0.0.1:9/3"),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["message"].as_str()),
        (422, Some("Hook already exists on this repository"))
    );
    assert_eq!(fake.hooks("alice/app").len(), 20);
}

#[tokio::test]
async fn bad_hook_requests_are_refused() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let resp = client()
        .post(format!("{}repos/alice/app/hooks", fake.api_url()))
        .bearer_auth(&alice)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let no_url = json!({"name": "web", "config": {"content_type": "json"}});
    assert_eq!(
        send(&fake, Method::POST, &alice, "repos/alice/app/hooks", &no_url)
            .await
            .0,
        422
    );
    let bad_event = json!({"config": {"url": "http://127.0.0.1:9/"}, "events": ["pushh"]});
    let (status, body) = send(&fake, Method::POST, &alice, "repos/alice/app/hooks", &bad_event).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("events")));
    assert!(fake.hooks("alice/app").is_empty());
}
