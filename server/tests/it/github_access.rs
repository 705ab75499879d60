//! Who may do what, and what people see when GitHub says no: a revoked token, permissions for
//! subscribe / rebuild / cancel, failed subscriptions, failed sign-ins.

use crate::common::web_app::{TestApp, location};
use crate::github_flow::app_with_repo;
use fake_github::{CommitSpec, FaultKind, Permission};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_is_noticed_and_the_repository_says_to_sign_in_again() {
    let (app, _) = app_with_repo(false).await;
    let mut alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    app.wait_builds("alice/app", "the ping build", |b| {
        b.iter().find(|b| b.status().is_finished()).cloned()
    })
    .await;

    let user = sicuro::db::users::get(&app.state.db, 1).await.unwrap().unwrap();
    let token = app.state.keys.open(user.token_ciphertext.as_deref().unwrap()).unwrap();
    assert!(app.fake.revoke_token(&token));
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "After revocation"))
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    app.wait_builds("alice/app", "the push build", |b| {
        b.iter()
            .find(|b| b.commit_sha == push.after && b.status().is_finished())
            .cloned()
    })
    .await;
    let problem = loop {
        let repo = sicuro::db::repos::by_slug(&app.state.db, "alice", "app")
            .await
            .unwrap()
            .unwrap();
        if let Some(p) = repo.token_problem {
            break p;
        }
        // The status poster notices the 401 right after the build; wait for its change.
        app.wait_github("a status request", |f| {
            f.api_requests()
                .iter()
                .any(|r| r.path.contains("/statuses/") && r.status == 401)
                .then_some(())
        })
        .await
        .unwrap();
    };
    assert!(problem.contains("sign in to Sicuro again"), "{problem}");
    let anon = app.browser();
    let (_, body) = anon.get_json("/api/repos/alice/app").await;
    assert!(body["token_problem"].as_str().unwrap().contains("sign in"), "{body}");

    // Signing in again clears the problem.
    alice.sign_in("alice").await.unwrap();
    let repo = sicuro::db::repos::by_slug(&app.state.db, "alice", "app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repo.token_problem, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permissions_decide_who_may_subscribe_rebuild_and_cancel() {
    let (app, _) = app_with_repo(false).await;
    app.fake.add_user("carol").unwrap();
    app.fake.add_user("dave").unwrap();
    app.fake
        .set_collaborator("alice/app", "carol", Permission::Push)
        .unwrap();
    let alice = app.signed_in("alice").await;
    let carol = app.signed_in("carol").await;
    let dave = app.signed_in("dave").await;

    let (code, body) = carol.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 403, "push is not enough to subscribe: {body}");
    assert!(body["error"].as_str().unwrap().contains("admin rights"));
    alice.post("/api/repos/alice/app/subscribe", None).await;
    let b = app
        .wait_builds("alice/app", "the ping build", |b| {
            b.iter().find(|b| b.status().is_finished()).cloned()
        })
        .await;

    let (code, _) = dave.post(&format!("/api/builds/{}/rebuild", b.id), None).await;
    assert_eq!(code, 403, "a reader may not rebuild");
    let (code, _) = dave.get_json(&format!("/api/builds/{}", b.id)).await;
    assert_eq!(code, 200, "but may read a public repository's build");
    let (code, body) = carol.post(&format!("/api/builds/{}/rebuild", b.id), None).await;
    assert_eq!(code, 201, "push permission may rebuild: {body}");

    // Without the CSRF token, a browser's state change is refused.
    let (code, _) = {
        let r = carol
            .client
            .post(carol.url(&format!("/api/builds/{}/rebuild", b.id)))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(code, 403);
    // From another origin, too.
    let r = carol
        .client
        .post(carol.url(&format!("/api/builds/{}/rebuild", b.id)))
        .header("x-csrf-token", &carol.csrf)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribe_failures_say_why_and_leave_the_repository_unwatched() {
    let (app, _) = app_with_repo(false).await;
    for i in 0..fake_github::MAX_HOOKS {
        app.fake
            .add_hook(
                "alice/app",
                fake_github::HookConfig {
                    url: format!("https://elsewhere.example/{i}"),
                    content_type: "json".into(),
                    secret: None,
                    insecure_ssl: "0".into(),
                },
                &["push"],
            )
            .unwrap();
    }
    let alice = app.signed_in("alice").await;
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot have more than 20 hooks"),
        "{body}"
    );
    let repo = sicuro::db::repos::by_slug(&app.state.db, "alice", "app")
        .await
        .unwrap()
        .unwrap();
    assert!(!repo.is_watched());

    // GitHub down: the reason is shown.
    app.fake.inject_fault(FaultKind::ServerError, 5, None);
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("GitHub could not be reached or failed"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sign_ins_end_on_a_page_that_says_why() {
    let app = TestApp::start().await;
    app.fake.add_user("alice").unwrap();
    let b = app.browser();
    b.page("/").await;
    // Denied on GitHub.
    let state = sign_in_state(&b).await;
    let denied = b
        .client
        .get(b.url(&format!("/auth/github/callback?error=access_denied&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(location(denied.headers()).as_deref(), Some("/auth/error?reason=denied"));
    // A state that is not ours.
    let forged = b
        .client
        .get(b.url("/auth/github/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(forged.headers()).as_deref(), Some("/auth/error?reason=state"));
    // A code GitHub does not accept.
    let state = sign_in_state(&b).await;
    let bad = b
        .client
        .get(b.url(&format!("/auth/github/callback?code=not-a-real-code&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(location(bad.headers()).as_deref(), Some("/auth/error?reason=exchange"));
    // The error page explains.
    let page = b.page("/auth/error?reason=exchange").await.text().await.unwrap();
    assert!(page.contains("GitHub did not accept the sign-in code"), "{page}");
    // Sign-out is a POST with the session's token.
    let mut alice = app.signed_in("alice").await;
    let r = alice
        .client
        .post(alice.url("/auth/signout"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = alice
        .client
        .post(alice.url("/auth/signout"))
        .form(&[("csrf", alice.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(r.headers()).as_deref(), Some("/"));
    assert_eq!(alice.refresh_csrf().await.login, None, "signed out");
}

/// Starts a sign-in and returns the `state` Sicuro sent to GitHub's authorize page.
async fn sign_in_state(b: &crate::common::web_app::Browser) -> String {
    let start = b.client.get(b.url("/auth/github")).send().await.unwrap();
    let authorize = location(start.headers()).unwrap();
    url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string()
}
