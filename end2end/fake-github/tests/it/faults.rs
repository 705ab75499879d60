use fake_github::{CommitSpec, FaultKind, RepoSpec};
use reqwest::Method;
use serde_json::json;

use crate::support::{client, fake, get, send};

#[tokio::test]
async fn server_errors_hit_only_matching_paths_and_only_n_times() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let sha = fake
        .commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap()
        .after;
    fake.inject_fault(FaultKind::ServerError, 2, Some("/statuses/"));

    assert_eq!(
        get(&fake, Some(&alice), "repos/alice/app").await.0,
        200,
        "other paths are untouched"
    );
    let path = format!("repos/alice/app/statuses/{sha}");
    let body = json!({"state": "pending", "context": "SicuroCI"});
    let codes = [
        send(&fake, Method::POST, &alice, &path, &body).await.0,
        send(&fake, Method::POST, &alice, &path, &body).await.0,
        send(&fake, Method::POST, &alice, &path, &body).await.0,
    ];
    assert_eq!(codes, [500, 500, 201]);
    assert_eq!(fake.statuses("alice/app").len(), 1, "failed requests change nothing");

    let recorded: Vec<_> = fake
        .api_requests()
        .into_iter()
        .filter(|r| r.path.contains("/statuses/"))
        .collect();
    let statuses: Vec<u16> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 201]);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, format!("/api/v3/repos/alice/app/statuses/{sha}"));
    assert_eq!(recorded[0].body, Some(body));
    assert_eq!(
        recorded[0].header("authorization"),
        Some(format!("token {alice}").as_str())
    );
    assert_eq!(recorded[0].header("content-type"), Some("application/json"));
    assert_eq!(recorded[0].user.as_deref(), Some("alice"));
}

#[tokio::test]
async fn rate_limits_look_like_githubs() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.inject_fault(FaultKind::RateLimit, 1, None);
    fake.inject_fault(FaultKind::SecondaryRateLimit, 1, None);
    let url = format!("{}user", fake.api_url());

    let limited = client().get(&url).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(limited.status(), 403);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = limited.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset > now && reset <= now + 3,
        "reset {reset} is a moment ahead of {now}"
    );
    let body: serde_json::Value = limited.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("API rate limit exceeded"));

    let secondary = client().get(&url).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(secondary.status(), 429);
    assert_eq!(secondary.headers()["retry-after"], "1");

    assert_eq!(get(&fake, Some(&alice), "user").await.0, 200, "faults are used up");
    fake.inject_fault(FaultKind::ServerError, 5, None);
    fake.clear_faults();
    assert_eq!(get(&fake, Some(&alice), "user").await.0, 200);
}
