//! The GitHub half through the real router, the real engine and Docker, against the fake
//! GitHub: sign in → repositories → subscribe (hook on the fake) → ping → first build → push →
//! build → statuses in order; redelivery; forged webhooks; pull requests from forks; statuses
//! through GitHub's errors; unsubscribe; the same on PostgreSQL. Who may do what: `github_access`.

use crate::common::web_app::{TestApp, WEBHOOK_SECRET};
use fake_github::{CommitSpec, FaultKind, Permission, RepoSpec};
use serde_json::json;
use sicuro_types::{BuildStatus, Permission as P, RepoSummary};

const SICURO_JSON: &str = r#"{"test": {"custom": ["echo hello from $SICURO_REPO at $SICURO_COMMIT"]}}"#;

pub(crate) async fn app_with_repo(private: bool) -> (TestApp, String) {
    let app = TestApp::start().await;
    app.fake.add_user("alice").unwrap();
    let mut spec = RepoSpec::new("alice/app")
        .collaborator("alice", Permission::Admin)
        .default_branch("main");
    if private {
        spec = spec.private();
    }
    app.fake.add_repo(spec).await.unwrap();
    let push = app
        .fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial commit").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    (app, push.after)
}

fn statuses_for(app: &TestApp, sha: &str) -> Vec<(String, String, String, String)> {
    app.fake
        .statuses("alice/app")
        .into_iter()
        .filter(|s| s.sha == sha)
        .map(|s| {
            (
                s.state,
                s.context,
                s.description.unwrap_or_default(),
                s.target_url.unwrap_or_default(),
            )
        })
        .collect()
}

fn target_of(app: &TestApp, number: i64) -> String {
    format!("{}/repos/alice/app/builds/{number}", app.url)
}

/// The statuses of one build (told apart by their target URL) once its verdict is posted.
async fn build_statuses(app: &TestApp, sha: &str, number: i64) -> Vec<(String, String, String, String)> {
    let (sha, target) = (sha.to_string(), target_of(app, number));
    app.wait_github("the build's verdict status", |f| {
        let s: Vec<_> = f.statuses("alice/app").into_iter().filter(|s| s.sha == sha).collect();
        let last = s
            .iter()
            .rev()
            .find(|s| s.target_url.as_deref() == Some(target.as_str()));
        last.is_some_and(|l| l.state != "pending").then_some(())
    })
    .await
    .unwrap();
    statuses_for(app, &sha).into_iter().filter(|s| s.3 == target).collect()
}

/// "queued", "running", then the verdict, in that order and each at most once. The outbox
/// replaces a pending status still waiting when a newer one of the same build arrives, so a
/// fast build may skip a pending one; nothing else may differ.
fn assert_in_order(s: &[(String, String, String, String)], number: i64) {
    let (verdict, pending) = s.split_last().expect("statuses");
    assert_ne!(verdict.0, "pending", "{s:?}");
    // The outbox may replace a pending status still waiting, never all of them: GitHub answers.
    assert!(
        !pending.is_empty(),
        "at least one pending status before the verdict: {s:?}"
    );
    let steps = [format!("Build #{number} queued"), format!("Build #{number} running")];
    let mut next = 0;
    for p in pending {
        assert_eq!(p.0, "pending", "{s:?}");
        let at = steps[next..]
            .iter()
            .position(|d| *d == p.2)
            .expect("pending statuses in order, once each");
        next += at + 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_subscribe_ping_push_and_statuses() {
    let (app, first_sha) = app_with_repo(true).await;
    let mut alice = app.signed_in("alice").await;
    let me = alice.refresh_csrf().await;
    assert_eq!(me.login.as_deref(), Some("alice"));

    // The dashboard lists the repository with alice's permission, not yet watched.
    let (code, repos) = alice.get_json("/api/repos").await;
    assert_eq!(code, 200, "{repos}");
    let repos: Vec<RepoSummary> = serde_json::from_value(repos).unwrap();
    let r = repos.iter().find(|r| r.slug == "alice/app").expect("listed");
    assert_eq!((r.permission, r.watched, r.private), (P::Admin, false, true));

    // Subscribe: one hook on GitHub, pointing at us, with our secret.
    let (code, body) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["watched"], true);
    let hooks = app.fake.hooks("alice/app");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].config.url, format!("{}/hooks/github", app.url));
    assert_eq!(hooks[0].events, ["push", "pull_request"]);
    // Subscribing again reuses the hook.
    let (code, _) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200);
    assert_eq!(app.fake.hooks("alice/app").len(), 1, "no second hook");

    // GitHub's ping starts a first build of the default branch.
    let first = app
        .wait_builds("alice/app", "the first build", |b| {
            b.iter()
                .find(|b| b.event == "ping" && b.status().is_finished())
                .cloned()
        })
        .await;
    assert_eq!(
        (first.status(), first.commit_sha.as_str(), first.branch.as_deref()),
        (BuildStatus::Success, first_sha.as_str(), Some("main"))
    );
    let s = build_statuses(&app, &first_sha, first.number).await;
    let target = target_of(&app, first.number);
    assert_in_order(&s, first.number);
    assert_eq!(s.last().unwrap().0, "success");
    assert!(
        s.last()
            .unwrap()
            .2
            .starts_with(&format!("Build #{} passed in ", first.number)),
        "{s:?}"
    );
    assert!(s.iter().all(|x| x.3 == target && x.1 == "sicuro/push"));

    // A push builds `after` on its branch.
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "Second commit").file("a.txt", "a"))
        .await
        .unwrap();
    let deliveries = app.fake.deliver_push(&push).await.unwrap();
    assert_eq!(deliveries[0].status, Some(202));
    let second = app
        .wait_builds("alice/app", "the push build", |b| {
            b.iter()
                .find(|b| b.commit_sha == push.after && b.status().is_finished())
                .cloned()
        })
        .await;
    assert_eq!(
        (second.status(), second.event.as_str(), second.message.as_deref()),
        (BuildStatus::Success, "push", Some("Second commit"))
    );
    let s = build_statuses(&app, &push.after, second.number).await;
    assert_in_order(&s, second.number);
    assert_eq!(s.last().unwrap().0, "success");
    // The job saw which repository and commit it builds (sicuro.json echoes them).
    let printed: Vec<String> = crate::common::read_whole_log(&app.state.engine, second.id)
        .await
        .iter()
        .map(|l| l.text().to_string())
        .collect();
    let echoed = format!("hello from alice/app at {}", push.after);
    assert!(printed.contains(&echoed), "{echoed:?} not in {printed:?}");

    // A redelivery creates nothing new. (The second subscribe above pinged its reused hook: a
    // second ping build when the first had already ended, none when it had not.)
    let before = app.builds_of("alice/app").await.len();
    let again = app.fake.redeliver(&deliveries[0].guid).await.unwrap();
    assert_eq!(again.status, Some(202));
    let all = app.builds_of("alice/app").await;
    assert_eq!(all.len(), before, "{all:#?}");

    // Rebuild posts statuses again for the same commit.
    let (code, rebuilt) = alice.post(&format!("/api/builds/{}/rebuild", second.id), None).await;
    assert_eq!(code, 201, "{rebuilt}");
    let rebuild = app
        .wait_builds("alice/app", "the rebuild", |b| {
            b.iter()
                .find(|b| b.rebuild_of == Some(second.id) && b.status().is_finished())
                .cloned()
        })
        .await;
    let s = build_statuses(&app, &push.after, rebuild.number).await;
    assert_in_order(&s, rebuild.number);
    assert_eq!(s.last().unwrap().0, "success", "the rebuild's own statuses: {s:?}");

    // The build's log is readable by alice, not by an anonymous visitor of the private repository.
    let (code, _) = alice.get_json(&format!("/api/builds/{}/log", second.id)).await;
    assert_eq!(code, 200);
    let anon = app.browser();
    let (code, _) = anon.get_json(&format!("/api/builds/{}/log", second.id)).await;
    assert_eq!(code, 404, "a private repository's logs are not there for a stranger");
    let (code, _) = anon.get_json("/api/repos/alice/app/builds").await;
    assert_eq!(
        code, 404,
        "an existing private repository answers as a missing one does"
    );
    let (code, _) = anon.get_json("/api/repos/alice/no-such-repo/builds").await;
    assert_eq!(code, 404);

    // Unsubscribe removes the hook and keeps the history.
    let (code, body) = alice.post("/api/repos/alice/app/unsubscribe", None).await;
    assert_eq!(code, 200, "{body}");
    assert!(app.fake.hooks("alice/app").is_empty());
    assert_eq!(app.builds_of("alice/app").await.len(), before + 1, "the history stays");
    // Pushes to an unwatched repository are acknowledged and ignored.
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "Third"))
        .await
        .unwrap();
    let d = app.fake.deliver_push(&push).await.unwrap();
    assert!(d.is_empty(), "no hook, no delivery");
    // A signed push for it that still reaches Sicuro (sent before the hook went, or by hand) is
    // handled and builds nothing: the earlier push's payload, now for the new commit.
    let earlier = app
        .fake
        .deliveries()
        .into_iter()
        .rfind(|d| d.repo == "alice/app" && d.event == "push")
        .expect("an earlier push delivery");
    let mut payload: serde_json::Value = serde_json::from_str(&earlier.body).unwrap();
    payload["after"] = json!(push.after);
    payload["head_commit"]["id"] = json!(push.after);
    payload["head_commit"]["message"] = json!("Third");
    let body = serde_json::to_vec(&payload).unwrap();
    sicuro::web::webhook::handle(&app.state, "push", "late-delivery", &body)
        .await
        .unwrap();
    let builds = app.builds_of("alice/app").await;
    assert_eq!(builds.len(), before + 1, "an unwatched repository builds nothing");
    assert!(!builds.iter().any(|b| b.commit_sha == push.after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_webhooks_are_refused_and_change_nothing() {
    let (app, _) = app_with_repo(false).await;
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    app.wait_builds("alice/app", "the ping build", |b| {
        b.iter().find(|b| b.status().is_finished()).cloned()
    })
    .await;
    let before = app.builds_of("alice/app").await.len();

    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "Forged"))
        .await
        .unwrap();
    let real = app.fake.deliver_push(&push).await.unwrap().remove(0);
    let client = reqwest::Client::new();
    let send = |sig: Option<String>, sha1: bool, delivery: &str| {
        let mut r = client
            .post(format!("{}/hooks/github", app.url))
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header("content-type", "application/json")
            .body(real.body.clone());
        if let Some(s) = sig {
            r = r.header(if sha1 { "x-hub-signature" } else { "x-hub-signature-256" }, s);
        }
        r.send()
    };
    let good = sicuro::web::webhook::signature::sign(WEBHOOK_SECRET.as_bytes(), real.body.as_bytes());
    let wrong = sicuro::web::webhook::signature::sign(b"not the secret", real.body.as_bytes());
    for (sig, sha1) in [
        (None, false),
        (Some(wrong), false),
        (Some(good[..good.len() - 4].to_string()), false),
        (Some("sha1=0123456789abcdef0123456789abcdef01234567".into()), true),
        (Some("sha256=".into()), false),
    ] {
        let r = send(sig, sha1, &uuid()).await.unwrap();
        assert_eq!(r.status(), 401);
    }
    // The real delivery built once; nothing was recorded for the forged ones.
    app.wait_builds("alice/app", "the push build", |b| {
        b.iter()
            .find(|b| b.commit_sha == push.after && b.status().is_finished())
            .cloned()
    })
    .await;
    assert_eq!(app.builds_of("alice/app").await.len(), before + 1);
    let recorded: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(
        recorded.0 as usize,
        app.fake.deliveries().iter().filter(|d| !d.redelivery).count()
    );
}

fn uuid() -> String {
    format!("forged-{}", crate::common::random_suffix())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_request_from_a_fork_builds_the_head_from_the_fork_with_its_own_context() {
    let (app, _) = app_with_repo(false).await;
    app.fake.add_user("bob").unwrap();
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    app.wait_builds("alice/app", "the ping build", |b| {
        b.iter().find(|b| b.status().is_finished()).cloned()
    })
    .await;

    let (number, head_sha) = app.fork_pull_request("Add a feature").await;
    // A fork's code waits until someone with push access lets it run.
    let waiting = app
        .wait_builds("alice/app", "the pull request build waiting for approval", |b| {
            b.iter()
                .find(|b| b.pr_number == Some(number as i64) && b.status() == BuildStatus::Waiting)
                .cloned()
        })
        .await;
    let target = target_of(&app, waiting.number);
    app.wait_github("a pending status saying it waits for approval", |f| {
        f.statuses("alice/app").into_iter().find(|s| {
            s.target_url.as_deref() == Some(target.as_str())
                && s.state == "pending"
                && s.description
                    .as_deref()
                    .is_some_and(|d| d.contains("waiting for approval"))
        })
    })
    .await
    .unwrap();
    let mut bob = app.signed_in("bob").await;
    bob.refresh_csrf().await;
    let (code, _) = bob.post(&format!("/api/builds/{}/approve", waiting.id), None).await;
    assert_eq!(code, 403, "the fork's author cannot approve their own build");
    let (code, approved) = alice.post(&format!("/api/builds/{}/approve", waiting.id), None).await;
    assert_eq!(code, 200, "{approved}");
    let pr = app
        .wait_builds("alice/app", "the approved pull request build", |b| {
            b.iter()
                .find(|b| b.pr_number == Some(number as i64) && b.status().is_finished())
                .cloned()
        })
        .await;
    assert_eq!(pr.status(), BuildStatus::Success, "{:?}", pr.error);
    assert_eq!(pr.approved_by.as_deref(), Some("alice"));
    assert_eq!(pr.commit_sha, head_sha);
    assert!(pr.from_fork(), "marked as a fork build");
    assert_eq!(pr.fetch_url.as_deref(), Some(app.fake.clone_url("bob/app").as_str()));
    // The fork's code was fetched without a credential, and its job has caches of its own.
    let from_fork: Vec<_> = app
        .fake
        .git_requests()
        .into_iter()
        .filter(|r| r.repo == "bob/app")
        .collect();
    assert!(!from_fork.is_empty(), "the head was fetched from the fork");
    assert!(
        from_fork.iter().all(|r| r.credentials.is_none() && r.user.is_none()),
        "no token goes to a fork's fetch: {from_fork:?}"
    );
    let caches_of = |id: i64| -> Vec<String> {
        let job = app
            .executor
            .jobs()
            .into_iter()
            .find(|j| j.key == id.to_string())
            .expect("the build's job");
        job.caches.iter().map(|c| c.name.clone()).collect()
    };
    let fork_caches = caches_of(pr.id);
    let own = app
        .builds_of("alice/app")
        .await
        .into_iter()
        .find(|b| !b.from_fork())
        .expect("the ping build");
    let own_caches = caches_of(own.id);
    assert!(
        !fork_caches.is_empty() && !own_caches.is_empty(),
        "{fork_caches:?} {own_caches:?}"
    );
    assert!(
        fork_caches.iter().all(|c| !own_caches.contains(c)),
        "a fork never shares a cache with the repository's own builds: {fork_caches:?} vs {own_caches:?}"
    );
    let s = build_statuses(&app, &head_sha, pr.number).await;
    let after_approval: Vec<_> = s
        .iter()
        .filter(|x| !x.2.contains("waiting for approval"))
        .cloned()
        .collect();
    assert_in_order(&after_approval, pr.number);
    assert!(s.iter().all(|x| x.1 == "sicuro/pr"), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_survive_github_errors_and_rate_limits() {
    let (app, _) = app_with_repo(false).await;
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    app.wait_builds("alice/app", "the ping build", |b| {
        b.iter().find(|b| b.status().is_finished()).cloned()
    })
    .await;

    app.fake.inject_fault(FaultKind::ServerError, 2, Some("/statuses/"));
    app.fake.inject_fault(FaultKind::RateLimit, 1, Some("/statuses/"));
    app.fake
        .inject_fault(FaultKind::SecondaryRateLimit, 1, Some("/statuses/"));
    let push = app
        .fake
        .commit("alice/app", CommitSpec::new("main", "Flaky GitHub"))
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    let build = app
        .wait_builds("alice/app", "the push build", |b| {
            b.iter()
                .find(|b| b.commit_sha == push.after && b.status().is_finished())
                .cloned()
        })
        .await;
    assert_eq!(
        build.status(),
        BuildStatus::Success,
        "GitHub's trouble does not change the verdict"
    );
    let sha = push.after.clone();
    app.wait_github("the final status after GitHub recovered", |f| {
        f.statuses("alice/app")
            .iter()
            .any(|s| s.sha == sha && s.state == "success")
            .then_some(())
    })
    .await
    .unwrap();
    let s = statuses_for(&app, &push.after);
    assert_eq!(s.last().unwrap().0, "success", "never left pending: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_flow_works_on_postgresql() {
    if !crate::common::postgres_available() {
        eprintln!("SICURO_TEST_DATABASE_URL is not set; `make test` sets it");
        return;
    }
    let app = TestApp::start_with(true, &[]).await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    let first = app
        .fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let (code, _) = alice.post("/api/repos/alice/app/subscribe", None).await;
    assert_eq!(code, 200);
    let b = app
        .wait_builds("alice/app", "the ping build", |b| {
            b.iter().find(|b| b.status().is_finished()).cloned()
        })
        .await;
    assert_eq!(b.status(), BuildStatus::Success);
    let s = build_statuses(&app, &first.after, b.number).await;
    assert_eq!(s.last().unwrap().0, "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_builds_pending_status_says_which_build_holds_it() {
    let app = TestApp::start().await;
    app.fake.add_user("alice").unwrap();
    app.fake
        .add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
        .await
        .unwrap();
    // The first build holds the repository's one slot until the test opens the gate (the fake
    // executor runs jobs with the host's shell).
    let gate = app.dir.path().join("gate");
    let held = json!({"test": {"custom": [format!("until [ -e {} ]; do sleep 0.01; done", gate.display())]}});
    app.fake
        .commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", &held.to_string()),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    alice.post("/api/repos/alice/app/subscribe", None).await;
    let first = app
        .wait_builds("alice/app", "the ping build to run", |b| {
            b.iter().find(|b| b.status() == BuildStatus::Running).cloned()
        })
        .await;
    let first_target = target_of(&app, first.number);
    app.wait_github("the first build's running status", |f| {
        f.statuses("alice/app")
            .iter()
            .any(|s| {
                s.target_url.as_deref() == Some(first_target.as_str())
                    && s.description.as_deref() == Some(&format!("Build #{} running", first.number))
            })
            .then_some(())
    })
    .await
    .unwrap();

    let push = app
        .fake
        .commit(
            "alice/app",
            CommitSpec::new("other", "Second").file("sicuro.json", SICURO_JSON),
        )
        .await
        .unwrap();
    app.fake.deliver_push(&push).await.unwrap();
    let second = app
        .wait_builds("alice/app", "the push build, queued", |b| {
            b.iter()
                .find(|b| b.commit_sha == push.after && b.status() == BuildStatus::Queued)
                .cloned()
        })
        .await;
    let why = format!(
        "waiting: this repository runs at most 1 build at once (its settings) and #{} is running",
        first.number
    );
    // On its page and in the API …
    let (code, b) = alice.get_json(&format!("/api/builds/{}", second.id)).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["error"].as_str(), Some(why.as_str()), "{b}");
    // … and in the pending commit status GitHub shows on the commit.
    let target = target_of(&app, second.number);
    let pending = app
        .wait_github("the queued build's pending status", |f| {
            f.statuses("alice/app")
                .into_iter()
                .find(|s| s.target_url.as_deref() == Some(target.as_str()) && s.state == "pending")
        })
        .await
        .unwrap();
    assert_eq!(
        pending.description.as_deref(),
        Some(format!("Build #{} queued, {why}", second.number).as_str())
    );

    std::fs::write(&gate, "").unwrap();
    let s = build_statuses(&app, &push.after, second.number).await;
    assert_eq!(s.last().unwrap().0, "success", "{s:?}");
}
