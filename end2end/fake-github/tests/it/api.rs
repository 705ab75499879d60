use fake_github::{CommitSpec, Permission, RepoSpec};
use reqwest::Method;
use serde_json::json;

use crate::support::{client, fake, get, send};

#[tokio::test]
async fn user_needs_a_live_token() {
    let fake = fake().await;
    let token = fake.add_user("alice").unwrap();
    let (status, user) = get(&fake, Some(&token), "user").await;
    assert_eq!(status, 200);
    assert_eq!(user["login"], "alice");
    assert_eq!(user["type"], "User");
    assert!(user["id"].as_u64().is_some());
    assert_eq!(user["html_url"], format!("{}alice", fake.web_url()));
    assert!(user["avatar_url"].is_string() && user["name"].is_string());

    let (status, body) = get(&fake, Some("gho_nope"), "user").await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Bad credentials")));
    let (status, body) = get(&fake, None, "user").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Requires authentication"))
    );

    assert!(fake.revoke_token(&token));
    let (status, body) = get(&fake, Some(&token), "user").await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Bad credentials")));
}

#[tokio::test]
async fn user_repos_are_paginated_with_link_headers() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    for name in ["e", "d", "c", "b", "a"] {
        fake.add_repo(RepoSpec::new(&format!("alice/{name}"))).await.unwrap();
    }
    fake.add_repo(RepoSpec::new("bob/secret").private()).await.unwrap();
    fake.add_repo(
        RepoSpec::new("bob/shared")
            .private()
            .collaborator("alice", Permission::Push),
    )
    .await
    .unwrap();
    fake.add_repo(RepoSpec::new("bob/public")).await.unwrap();

    let url = format!("{}user/repos?per_page=3&sort=full_name", fake.api_url());
    let first = client().get(&url).bearer_auth(&alice).send().await.unwrap();
    let link = first.headers()["link"].to_str().unwrap().to_string();
    let names: Vec<String> = first
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice/a", "alice/b", "alice/c"]);
    let api = fake.api_url();
    assert_eq!(
        link,
        format!(
            "<{api}user/repos?sort=full_name&per_page=3&page=2>; rel=\"next\", <{api}user/repos?sort=full_name&per_page=3&page=2>; rel=\"last\""
        )
    );

    let second = client()
        .get(format!("{api}user/repos?sort=full_name&per_page=3&page=2"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let link = second.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("rel=\"prev\"") && link.contains("rel=\"first\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let repos: Vec<serde_json::Value> = second.json().await.unwrap();
    let names: Vec<&str> = repos.iter().map(|r| r["full_name"].as_str().unwrap()).collect();
    // Alice's own and the one she collaborates on; not bob's private or public ones.
    assert_eq!(names, ["alice/d", "alice/e", "bob/shared"]);
    assert_eq!(
        repos[2]["permissions"],
        json!({"admin": false, "maintain": false, "push": true, "triage": true, "pull": true})
    );
    assert_eq!(repos[2]["private"], true);
    assert_eq!(repos[0]["permissions"]["admin"], true);
    assert_eq!(repos[0]["clone_url"], format!("{}alice/d.git", fake.web_url()));

    let (_, owned) = get(&fake, Some(&alice), "user/repos?affiliation=owner&per_page=100").await;
    assert_eq!(owned.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_repository_shows_the_callers_permissions_and_hides_private_ones() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    let bob = fake.add_user("bob").unwrap();
    let carol = fake.add_user("carol").unwrap();
    fake.add_repo(
        RepoSpec::new("alice/app")
            .private()
            .language("Rust")
            .description("CI me")
            .collaborator("bob", Permission::Push),
    )
    .await
    .unwrap();

    let (status, repo) = get(&fake, Some(&alice), "repos/alice/app").await;
    assert_eq!(status, 200);
    assert_eq!(repo["full_name"], "alice/app");
    assert_eq!(repo["owner"]["login"], "alice");
    assert_eq!(repo["language"], "Rust");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["permissions"]["admin"], true);
    let (_, repo) = get(&fake, Some(&bob), "repos/ALICE/App").await;
    assert_eq!(
        (
            repo["permissions"]["push"].as_bool(),
            repo["permissions"]["admin"].as_bool()
        ),
        (Some(true), Some(false))
    );

    let (status, body) = get(&fake, Some(&carol), "repos/alice/app").await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
    let (status, _) = get(&fake, None, "repos/alice/app").await;
    assert_eq!(status, 404);
    // A token without the `repo` scope cannot see private repositories.
    let narrow = fake.issue_token("alice", &["read:user"]).unwrap();
    assert_eq!(get(&fake, Some(&narrow), "repos/alice/app").await.0, 404);

    fake.add_repo(RepoSpec::new("alice/open")).await.unwrap();
    let (status, open) = get(&fake, None, "repos/alice/open").await;
    assert_eq!(status, 200);
    assert!(
        open.get("permissions").is_none(),
        "anonymous callers get no permissions"
    );
}

#[tokio::test]
async fn statuses_need_push_and_an_existing_commit() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    let reader = fake.add_user("reader").unwrap();
    fake.add_repo(RepoSpec::new("alice/app").collaborator("reader", Permission::Pull))
        .await
        .unwrap();
    let sha = fake
        .commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap()
        .after;
    let path = format!("repos/alice/app/statuses/{sha}");

    let pending =
        json!({"state": "pending", "target_url": "http://ci/1", "description": "Running", "context": "SicuroCI"});
    let (status, body) = send(&fake, Method::POST, &alice, &path, &pending).await;
    assert_eq!(status, 201);
    assert_eq!(body["state"], "pending");
    assert_eq!(body["context"], "SicuroCI");
    assert_eq!(body["creator"]["login"], "alice");
    let success =
        json!({"state": "success", "target_url": "http://ci/1", "description": "Passed", "context": "SicuroCI"});
    assert_eq!(send(&fake, Method::POST, &alice, &path, &success).await.0, 201);

    assert_eq!(
        send(&fake, Method::POST, &reader, &path, &success).await.0,
        404,
        "read access is not enough"
    );
    let (status, body) = send(&fake, Method::POST, &alice, &path, &json!({"state": "passed"})).await;
    assert_eq!((status, body["message"].as_str()), (422, Some("Validation Failed")));
    assert_eq!(body["errors"][0]["field"], "state");
    let missing = format!("repos/alice/app/statuses/{}", "1".repeat(40));
    let (status, body) = send(&fake, Method::POST, &alice, &missing, &success).await;
    assert_eq!(status, 422);
    assert!(body["message"].as_str().unwrap().starts_with("No commit found for SHA"));

    let states: Vec<String> = fake.statuses("alice/app").iter().map(|s| s.state.clone()).collect();
    assert_eq!(states, ["pending", "success"]);
    let (status, listed) = get(&fake, Some(&alice), "repos/alice/app/commits/main/statuses").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["success", "pending"], "newest first");
    let (_, combined) = get(&fake, Some(&alice), &format!("repos/alice/app/commits/{sha}/status")).await;
    assert_eq!(
        (combined["state"].as_str(), combined["total_count"].as_u64()),
        (Some("success"), Some(1))
    );
}

#[tokio::test]
async fn a_commit_resolves_from_a_branch() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let first = fake
        .commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap();
    let second = fake
        .commit(
            "alice/app",
            CommitSpec::new("feature/x", "Second commit\n\nWith a body").file("b", "2"),
        )
        .await
        .unwrap();
    assert_eq!(second.before, fake_github::ZERO_SHA);

    let (status, commit) = get(&fake, Some(&alice), "repos/alice/app/commits/feature/x").await;
    assert_eq!(status, 200);
    assert_eq!(commit["sha"], second.after);
    assert_eq!(commit["commit"]["message"], "Second commit\n\nWith a body");
    assert_eq!(commit["commit"]["author"]["name"], "Alice");
    assert!(commit["commit"]["author"]["date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(commit["author"]["login"], "alice");
    assert_eq!(commit["parents"][0]["sha"], first.after);
    assert_eq!(commit["files"][0]["filename"], "b");

    let (status, body) = get(&fake, Some(&alice), "repos/alice/app/commits/no-such-branch").await;
    assert_eq!(status, 422);
    assert!(body["message"].as_str().unwrap().contains("no-such-branch"));
}

#[tokio::test]
async fn rate_limit_and_unknown_routes() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    let resp = client()
        .get(format!("{}rate_limit", fake.api_url()))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-oauth-scopes"], "repo");
    assert_eq!(resp.headers()["x-ratelimit-limit"], "5000");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["resources"]["core"]["limit"], 5000);
    assert_eq!(
        body["rate"]["remaining"].as_u64().unwrap() + body["rate"]["used"].as_u64().unwrap(),
        5000
    );
    let (status, body) = get(&fake, Some(&alice), "no/such/route").await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
}
