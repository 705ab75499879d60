use base64::Engine;
use fake_github::{CommitSpec, CredentialKind, PullRequestSpec, RepoSpec};

use crate::support::{client, fake, git};

fn basic(token: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("http.extraHeader=Authorization: Basic {creds}")
}

#[tokio::test]
async fn a_public_repository_clones_anonymously() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let sha = fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "first")
                .file("README.md", "hello\n")
                .file("src/lib.rs", "// lib\n"),
        )
        .await
        .unwrap()
        .after;
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["clone", "-q", &fake.clone_url("alice/app"), "app"])
        .await
        .unwrap();
    let work = dir.path().join("app");
    assert_eq!(std::fs::read_to_string(work.join("README.md")).unwrap(), "hello\n");
    assert_eq!(git(&work, &["rev-parse", "HEAD"]).await.unwrap(), sha);
    assert_eq!(
        git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]).await.unwrap(),
        "main"
    );

    let requests = fake.git_requests();
    assert!(requests.iter().any(|r| r.path == "info/refs" && r.status == 200));
    assert!(
        requests
            .iter()
            .all(|r| r.credentials.is_none() && r.repo == "alice/app")
    );
}

#[tokio::test]
async fn a_private_repository_needs_a_token_that_can_read_it() {
    let fake = fake().await;
    let alice = fake.add_user("alice").unwrap();
    let mallory = fake.add_user("mallory").unwrap();
    fake.add_repo(RepoSpec::new("alice/secret").private()).await.unwrap();
    fake.commit("alice/secret", CommitSpec::new("main", "first").file("key", "42"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = fake.clone_url("alice/secret");

    let anonymous = git(dir.path(), &["clone", "-q", &url, "a"]).await.unwrap_err();
    assert!(
        anonymous.contains("401")
            || anonymous.contains("Authentication failed")
            || anonymous.contains("could not read Username"),
        "{anonymous}"
    );
    let stranger = git(dir.path(), &["-c", &basic(&mallory), "clone", "-q", &url, "m"])
        .await
        .unwrap_err();
    assert!(stranger.contains("not found") || stranger.contains("404"), "{stranger}");

    git(dir.path(), &["-c", &basic(&alice), "clone", "-q", &url, "ok"])
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("ok/key")).unwrap(), "42");
    let requests = fake.git_requests();
    let served: Vec<_> = requests.iter().filter(|r| r.status == 200).collect();
    assert!(!served.is_empty());
    assert!(
        served
            .iter()
            .all(|r| r.credentials == Some(CredentialKind::Basic) && r.user.as_deref() == Some("alice"))
    );

    // Bearer works too; a wrong token is refused even where none is needed.
    let resp = client()
        .get(format!("{url}/info/refs"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    fake.add_repo(RepoSpec::new("alice/open")).await.unwrap();
    let resp = client()
        .get(format!("{}/info/refs", fake.clone_url("alice/open")))
        .bearer_auth("ghp_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"GitHub\"");
}

#[tokio::test]
async fn only_what_the_dumb_protocol_needs_is_served() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    let base = fake.clone_url("alice/app");
    for path in ["config", "hooks/pre-receive.sample", "objects/../config", "description"] {
        let resp = client().get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    assert_eq!(
        client()
            .get(format!("{base}/HEAD"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ref: refs/heads/main\n"
    );
}

#[tokio::test]
async fn a_pull_request_from_a_fork_is_fetchable_from_the_base() {
    let fake = fake().await;
    fake.add_user("alice").unwrap();
    fake.add_user("bob").unwrap();
    fake.add_repo(RepoSpec::new("alice/app")).await.unwrap();
    fake.commit("alice/app", CommitSpec::new("main", "first").file("a", "1"))
        .await
        .unwrap();
    fake.add_repo(RepoSpec::new("bob/app").fork_of("alice/app"))
        .await
        .unwrap();
    let head = fake
        .commit("bob/app", CommitSpec::new("fix", "fix it").file("a", "2").author("bob"))
        .await
        .unwrap();
    let spec = PullRequestSpec {
        repo: "alice/app".into(),
        base: "main".into(),
        head_repo: Some("bob/app".into()),
        head: "fix".into(),
        title: "Fix".into(),
        body: None,
        user: "bob".into(),
    };
    let number = fake.open_pull_request(spec).await.unwrap();
    assert_eq!(number, 1);

    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["clone", "-q", &fake.clone_url("alice/app"), "app"])
        .await
        .unwrap();
    let work = dir.path().join("app");
    git(&work, &["fetch", "-q", "origin", "refs/pull/1/head"])
        .await
        .unwrap();
    assert_eq!(git(&work, &["rev-parse", "FETCH_HEAD"]).await.unwrap(), head.after);
    // The fork itself is served too.
    git(
        dir.path(),
        &["clone", "-q", "--branch", "fix", &fake.clone_url("bob/app"), "fork"],
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("fork/a")).unwrap(), "2");
}
