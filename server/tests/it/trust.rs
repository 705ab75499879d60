//! Safe to open to the internet, through the real router against the fake GitHub: who may sign
//! in, the ceilings of what a repository may ask for, fork pull requests waiting for approval,
//! the Host check and what "local" means, identity by GitHub id (renames, reuse, visibility),
//! and replayed webhooks. Each test failed before the rule it checks existed.

use std::time::Duration;

use fake_github::{CommitSpec, Permission, RepoSpec};
use sicuro::db::builds::Build;
use sicuro_types::BuildStatus;

use crate::common::web_app::{Browser, TestApp, WEBHOOK_SECRET};

const QUICK: &str = r#"{"test": {"custom": ["echo quick"]}}"#;

/// A server with `extra_env`, and `repo` (alice is its admin) holding `sicuro_json`.
async fn app_with(extra_env: &[(&str, &str)], repo: &str, sicuro_json: &str) -> TestApp {
    app_with_spec(extra_env, RepoSpec::new(repo), sicuro_json).await
}

async fn app_with_spec(extra_env: &[(&str, &str)], spec: RepoSpec, sicuro_json: &str) -> TestApp {
    let app = TestApp::start_with(false, extra_env).await;
    for login in ["alice", "bob", "eve"] {
        app.fake.add_user(login).unwrap();
    }
    let repo = spec.full_name.clone();
    let repo = repo.as_str();
    app.fake
        .add_repo(spec.collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            repo,
            CommitSpec::new("main", "Initial").file("sicuro.json", sicuro_json),
        )
        .await
        .unwrap();
    app
}

async fn subscribe(app: &TestApp, who: &Browser, slug: &str) -> Build {
    let (code, body) = who.post(&format!("/api/repos/{slug}/subscribe"), None).await;
    assert_eq!(code, 200, "{body}");
    app.wait_builds(slug, "the ping build", |b| {
        b.iter()
            .find(|b| b.event == "ping" && b.status().is_finished())
            .cloned()
    })
    .await
}

async fn finished_push(app: &TestApp, slug: &str, sha: &str) -> Build {
    app.wait_builds(slug, "the push build", |b| {
        b.iter()
            .find(|b| b.commit_sha == sha && b.event == "push" && b.status().is_finished())
            .cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_listed_people_and_organisation_members_get_in_and_stay_in() {
    let app = app_with(
        &[
            ("SICURO_OPEN", "false"),
            ("SICURO_ALLOWED_USERS", "alice"),
            ("SICURO_ALLOWED_ORGS", "acme"),
        ],
        "alice/app",
        QUICK,
    )
    .await;
    // A stranger's sign-in ends on a page that says why, and starts no session.
    let mut eve = app.browser();
    let end = eve.sign_in("eve").await.unwrap_err();
    assert_eq!(end, "/auth/error?reason=not_allowed&login=eve");
    assert_eq!(eve.refresh_csrf().await.login, None);
    let page = eve.page(&end).await.text().await.unwrap();
    assert!(page.contains("not allowed to use this Sicuro server"), "{page}");
    // A member of an allowed organisation gets in, private membership included (read:org).
    app.fake.add_org_member("acme", "bob", false).unwrap();
    let mut bob = app.browser();
    assert_eq!(bob.sign_in("bob").await, Ok("/".into()));
    assert_eq!(bob.refresh_csrf().await.login.as_deref(), Some("bob"));
    // Out of the organisation, out of Sicuro once the hourly re-check comes.
    app.fake.remove_org_member("acme", "bob");
    age_access_checks(&app).await;
    assert_eq!(bob.refresh_csrf().await.login, None, "the session ended");

    // Webhooks of a repository whose subscriber is no longer allowed build nothing.
    app.fake.add_org_member("acme", "bob", true).unwrap();
    app.fake
        .add_repo(RepoSpec::new("bob/tool").collaborator("bob", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit(
            "bob/tool",
            CommitSpec::new("main", "Initial").file("sicuro.json", QUICK),
        )
        .await
        .unwrap();
    let mut bob = app.browser();
    bob.sign_in("bob").await.unwrap();
    subscribe(&app, &bob, "bob/tool").await;
    app.fake.remove_org_member("acme", "bob");
    age_access_checks(&app).await;
    let push = app
        .fake
        .commit("bob/tool", CommitSpec::new("main", "After").file("a", "a"))
        .await
        .unwrap();
    let d = app.fake.deliver_push(&push).await.unwrap();
    assert_eq!(d[0].status, Some(202));
    // The delivery is handled in the background: a later one that builds shows it is done.
    let alice = app.signed_in("alice").await;
    subscribe(&app, &alice, "alice/app").await;
    assert!(
        app.builds_of("bob/tool")
            .await
            .iter()
            .all(|b| b.commit_sha != push.after),
        "no build for the push of a subscriber who is no longer allowed"
    );
}

/// As if every access check was made over an hour ago.
async fn age_access_checks(app: &TestApp) {
    sqlx::query("UPDATE users SET access_checked_at = 0")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_repository_may_ask_for_more_than_the_ceilings() {
    let app = app_with(
        &[
            ("SICURO_JOB_MEMORY", "512MiB"),
            ("SICURO_MAX_JOB_MEMORY", "1GiB"),
            ("SICURO_JOB_CPUS", "1"),
            ("SICURO_MAX_JOB_CPUS", "2"),
            ("SICURO_MAX_REPO_CONCURRENCY", "2"),
            ("SICURO_BUILD_TIMEOUT", "2s"),
            ("SICURO_MAX_BUILD_TIMEOUT", "3s"),
        ],
        "alice/app",
        r#"{"timeout": "1h", "test": {"custom": ["echo started", "sleep 60"]}}"#,
    )
    .await;
    let alice = app.signed_in("alice").await;
    let (code, settings) = alice.get_json("/api/repos/alice/app/settings").await;
    assert_eq!(code, 404, "not subscribed yet: {settings}");
    let ping = subscribe(&app, &alice, "alice/app").await;
    // sicuro.json asked for an hour: held to the ceiling, and the log says so.
    assert_eq!(ping.status(), BuildStatus::Failure);
    assert_eq!(ping.error.as_deref(), Some("timed out after 3s"));
    let log = crate::common::read_whole_log(&app.state.engine, ping.id).await;
    assert!(
        log.iter()
            .any(|l| l.text().contains("allows at most 3s (SICURO_MAX_BUILD_TIMEOUT)")),
        "{log:?}"
    );
    // Settings above a ceiling are refused, naming it.
    let (_, mut settings) = alice.get_json("/api/repos/alice/app/settings").await;
    for (key, value, var) in [
        ("memory_bytes", serde_json::json!(8u64 << 30), "SICURO_MAX_JOB_MEMORY"),
        ("cpus", serde_json::json!(1024.0), "SICURO_MAX_JOB_CPUS"),
        ("max_concurrent", serde_json::json!(64), "SICURO_MAX_REPO_CONCURRENCY"),
        (
            "timeout_secs",
            serde_json::json!(365 * 24 * 3600),
            "SICURO_MAX_BUILD_TIMEOUT",
        ),
    ] {
        let mut asked = settings.clone();
        asked[key] = value;
        let (code, body) = alice.post("/api/repos/alice/app/settings", Some(asked)).await;
        assert_eq!(code, 422, "{key}: {body}");
        assert!(body["error"].as_str().unwrap().contains(var), "{key}: {body}");
    }
    // Within the ceilings is fine.
    settings["memory_bytes"] = serde_json::json!(1u64 << 30);
    let (code, body) = alice.post("/api/repos/alice/app/settings", Some(settings)).await;
    assert_eq!(code, 200, "{body}");
}

async fn pr_build(app: &TestApp, sha: &str, what: &str, done: impl Fn(&Build) -> bool) -> Build {
    app.wait_builds("alice/app", what, |b| {
        b.iter().find(|b| b.commit_sha == sha && done(b)).cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forks_pull_request_waits_is_declined_with_a_final_status_and_follows_the_policy() {
    let app = app_with(&[], "alice/app", QUICK).await;
    let mut alice = app.signed_in("alice").await;
    alice.refresh_csrf().await;
    subscribe(&app, &alice, "alice/app").await;

    // Waiting, then declined: a final status on GitHub, never left pending.
    let (_, sha) = app.fork_pull_request("first try").await;
    let waiting = pr_build(&app, &sha, "the waiting build", |b| b.status() == BuildStatus::Waiting).await;
    let (code, detail) = alice.get_json(&format!("/api/builds/{}", waiting.id)).await;
    assert_eq!((code, detail["can_approve"].as_bool()), (200, Some(true)), "{detail}");
    let (code, body) = alice.post(&format!("/api/builds/{}/decline", waiting.id), None).await;
    assert_eq!(code, 200, "{body}");
    let declined = pr_build(&app, &sha, "the declined build", |b| b.status().is_finished()).await;
    assert_eq!(
        (declined.status(), declined.error.as_deref()),
        (BuildStatus::Canceled, Some("declined by alice"))
    );
    let target = format!("{}/repos/alice/app/builds/{}", app.url, declined.number);
    let last = app
        .wait_github("the declined build's final status", |f| {
            f.statuses("alice/app")
                .into_iter()
                .rev()
                .find(|s| s.target_url.as_deref() == Some(target.as_str()))
                .filter(|s| s.state != "pending")
        })
        .await
        .unwrap();
    assert_eq!(
        (last.state.as_str(), last.description.as_deref()),
        ("error", Some("declined by alice"))
    );
    let (code, _) = alice.post(&format!("/api/builds/{}/approve", waiting.id), None).await;
    assert_eq!(code, 409, "a declined build cannot be approved");

    // Each new push to the pull request waits again: approving one build approves only it.
    let (number, first) = app.fork_pull_request("second try").await;
    let w1 = pr_build(&app, &first, "the waiting build", |b| {
        b.status() == BuildStatus::Waiting
    })
    .await;
    alice.post(&format!("/api/builds/{}/approve", w1.id), None).await;
    assert_eq!(
        pr_build(&app, &first, "the approved build", |b| b.status().is_finished())
            .await
            .status(),
        BuildStatus::Success
    );
    let next = app
        .fake
        .commit(
            "bob/app",
            CommitSpec::new("second-try", "More").file("g.txt", "g").author("bob"),
        )
        .await
        .unwrap();
    app.fake.synchronize_pull_request("alice/app", number).await.unwrap();
    app.fake
        .deliver_pull_request("alice/app", number, "synchronize")
        .await
        .unwrap();
    pr_build(&app, &next.after, "the new push waiting", |b| {
        b.status() == BuildStatus::Waiting
    })
    .await;

    // `run`: at once; `never`: not built, with a final status that says so.
    for (policy, expect) in [("run", BuildStatus::Success), ("never", BuildStatus::Canceled)] {
        let (_, mut settings) = alice.get_json("/api/repos/alice/app/settings").await;
        settings["fork_policy"] = policy.into();
        let (code, body) = alice.post("/api/repos/alice/app/settings", Some(settings)).await;
        assert_eq!(code, 200, "{body}");
        let (_, sha) = app.fork_pull_request(&format!("with {policy}")).await;
        let b = pr_build(&app, &sha, policy, |b| b.status().is_finished()).await;
        assert_eq!(b.status(), expect, "{policy}: {:?}", b.error);
        if policy == "never" {
            assert!(b.error.unwrap().contains("not built"), "{policy}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_must_name_this_server_and_local_means_this_machine_only() {
    let app = TestApp::start_local(&[]).await;
    let port = app.url.rsplit(':').next().unwrap().to_string();
    let client = reqwest::Client::new();
    let add = |host: String, forwarded: Option<&'static str>| {
        let mut req = client
            .post(format!("{}/api/repos", app.url))
            .header(reqwest::header::HOST, host)
            .json(&serde_json::json!({"url": "/nonexistent/repo"}));
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        req.send()
    };
    // A page whose name was rebound to 127.0.0.1 sends its own name: refused before anything.
    let r = add(format!("evil.example:{port}"), None).await.unwrap();
    assert_eq!(r.status(), 421);
    // Behind a proxy on this machine, a visitor is not local.
    let r = add(format!("127.0.0.1:{port}"), Some("203.0.113.7")).await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    // A person at this machine may (the path does not exist, so it is refused for that).
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let r = add(host.clone(), None).await.unwrap();
        assert_eq!(r.status(), 422, "{host}: {}", r.text().await.unwrap());
    }
    // Health probes name whatever address they use.
    let r = client
        .get(format!("{}/healthz", app.url))
        .header(reqwest::header::HOST, "10.1.2.3:3000")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 421);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_made_private_is_private_at_once() {
    let app = app_with(&[], "alice/app", QUICK).await;
    let alice = app.signed_in("alice").await;
    let ping = subscribe(&app, &alice, "alice/app").await;
    let anon = app.browser();
    let (code, _) = anon.get_json(&format!("/api/builds/{}", ping.id)).await;
    assert_eq!(code, 200, "public: anyone may look");
    app.fake.set_private("alice/app", true).unwrap();
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "Now private").file("p", "p"))
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    finished_push(&app, "alice/app", &push.after).await;
    for path in [
        format!("/api/builds/{}", ping.id),
        format!("/api/builds/{}/log.txt", ping.id),
    ] {
        let (code, _) = anon.get_json(&path).await;
        assert_eq!(
            code, 404,
            "{path}: hidden from strangers once GitHub says it is private"
        );
    }
    let (code, _) = alice.get_json(&format!("/api/builds/{}", ping.id)).await;
    assert_eq!(code, 200, "still readable by alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renamed_repositorys_old_name_taken_again_inherits_nothing() {
    let app = app_with_spec(&[], RepoSpec::new("acme/app").private(), QUICK).await;
    let alice = app.signed_in("alice").await;
    let old = subscribe(&app, &alice, "acme/app").await;
    // Renamed on GitHub; someone else creates a repository under the old name.
    app.fake.rename_repo("acme/app", "acme/app-old").unwrap();
    app.fake
        .add_repo(RepoSpec::new("acme/app").collaborator("bob", Permission::Admin))
        .await
        .unwrap();
    app.fake
        .commit("acme/app", CommitSpec::new("main", "New").file("sicuro.json", QUICK))
        .await
        .unwrap();
    let bob = app.signed_in("bob").await;
    let (code, body) = bob.post("/api/repos/acme/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    let (code, page) = bob.get_json("/api/repos/acme/app/builds").await;
    assert_eq!(code, 200, "{page}");
    let commits: Vec<&str> = page["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["commit_sha"].as_str().unwrap())
        .collect();
    assert!(!commits.contains(&old.commit_sha.as_str()), "{commits:?}");
    let (code, _) = bob.get_json(&format!("/api/builds/{}", old.id)).await;
    assert_eq!(code, 404, "the old repository's builds stay its own");
    // Its next delivery brings the old repository its new name, history intact.
    let push = app
        .fake
        .commit(
            "acme/app-old",
            CommitSpec::new("main", "After the rename").file("r", "r"),
        )
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    finished_push(&app, "acme/app-old", &push.after).await;
    let numbers: Vec<i64> = app.builds_of("acme/app-old").await.iter().map(|b| b.number).collect();
    assert!(numbers.contains(&old.number), "{numbers:?}");
    let (code, _) = alice.get_json(&format!("/api/builds/{}", old.id)).await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_body_builds_nothing_and_an_older_commit_never_supersedes() {
    let app = app_with(
        &[],
        "alice/app",
        r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#,
    )
    .await;
    let alice = app.signed_in("alice").await;
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    // The ping's build would hold the repository's one build slot for ten minutes.
    let ping = app
        .wait_builds("alice/app", "the ping build", |b| {
            b.iter().find(|b| b.event == "ping").cloned()
        })
        .await;
    app.state.engine.cancel(ping.id, "the test").await.unwrap();
    let a = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "A").file("a", "a"))
        .await
        .unwrap();
    let delivered = app.fake.deliver_push(&a).await.unwrap();
    let build_a = app
        .wait_builds("alice/app", "A running", |b| {
            b.iter()
                .find(|b| b.commit_sha == a.after && b.status() == BuildStatus::Running)
                .cloned()
        })
        .await;
    // The same signed body under a new delivery id.
    let d = &delivered[0];
    let client = reqwest::Client::new();
    let replay = client
        .post(format!("{}/hooks/github", app.url))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "replayed-delivery-id")
        .header(
            "x-hub-signature-256",
            sicuro::web::webhook::signature::sign(WEBHOOK_SECRET.as_bytes(), d.body.as_bytes()),
        )
        .body(d.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.text().await.unwrap(), r#"{"message":"already handled"}"#);

    // B follows A; then a late (not replayed: re-sent, so its body differs) push of A arrives.
    let b = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "B").file("b", "b"))
        .await
        .unwrap();
    app.fake.deliver_push(&b).await.unwrap();
    let build_b = app
        .wait_builds("alice/app", "B running, A superseded", |all| {
            let b = all
                .iter()
                .find(|x| x.commit_sha == b.after && x.status() == BuildStatus::Running)?;
            let a = all.iter().find(|x| x.id == build_a.id)?;
            (a.status() == BuildStatus::Canceled).then(|| b.clone())
        })
        .await;
    let mut late = a.clone();
    late.forced = true;
    app.fake.deliver_push(&late).await.unwrap();
    let rebuilt_a = app
        .wait_builds("alice/app", "A's late push queued or running", |all| {
            all.iter()
                .find(|x| x.commit_sha == a.after && x.id != build_a.id && !x.status().is_finished())
                .cloned()
        })
        .await;
    let b_now = sicuro::db::builds::get(&app.state.db, build_b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b_now.status(),
        BuildStatus::Running,
        "B was not canceled in favour of its ancestor A"
    );
    for id in [rebuilt_a.id, build_b.id] {
        app.state.engine.cancel(id, "the test").await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        for id in [rebuilt_a.id, build_b.id] {
            app.state.engine.wait_finished(id).await;
        }
    })
    .await
    .expect("the builds end once canceled");
}
