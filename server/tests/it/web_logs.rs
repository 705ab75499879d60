//! The log endpoints through the real router: windows of lines bounded in lines and bytes (the
//! tail without the rest), many viewers of a running log through the shared feed, server-side
//! search, the timed download, and the access check on each.

use crate::common::process::read_sse;
use crate::common::web_app::{Browser, TestApp};
use fake_github::{CommitSpec, Permission, RepoSpec};
use sicuro_types::{BuildStatus, LineKind, LogLine, LogWindow, SearchHits};

/// A repository whose build runs `command`, subscribed by alice; returns the build (running or
/// finished, as `finished` asks) and alice.
async fn build_of(app: &TestApp, repo: &str, command: &str, private: bool, finished: bool) -> (i64, Browser) {
    app.fake.add_user("alice").ok();
    let mut spec = RepoSpec::new(repo).collaborator("alice", Permission::Admin);
    if private {
        spec = spec.private();
    }
    app.fake.add_repo(spec).await.unwrap();
    let sicuro_json = serde_json::json!({"test": {"custom": [command]}}).to_string();
    app.fake
        .commit(
            repo,
            CommitSpec::new("main", "Initial").file("sicuro.json", &sicuro_json),
        )
        .await
        .unwrap();
    let alice = app.signed_in("alice").await;
    let (code, body) = alice.post(&format!("/api/repos/{repo}/subscribe"), None).await;
    assert_eq!(code, 200, "{body}");
    let build = app
        .wait_builds(repo, "the build", |b| {
            b.iter()
                .find(|b| {
                    if finished {
                        b.status().is_finished()
                    } else {
                        b.status() == BuildStatus::Running
                    }
                })
                .cloned()
        })
        .await;
    if finished {
        // The verdict is recorded before the log's last record is written: wait for that too.
        crate::common::read_whole_log(&app.state.engine, build.id).await;
    }
    (build.id, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_bounded_and_the_tail_comes_without_the_rest_of_the_log() {
    let app = TestApp::start().await;
    let (id, alice) = build_of(&app, "alice/big", "seq -f 'line %.0f' 1 20000", false, true).await;
    let r = alice
        .client
        .get(alice.url(&format!("/api/builds/{id}/log")))
        .send()
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert!(body.len() < 100_000, "{} bytes for the first window", body.len());
    let first: LogWindow = serde_json::from_slice(&body).unwrap();
    assert_eq!(first.lines.len(), 1000);
    assert_eq!(first.next, Some(1001));
    assert!(first.done);
    assert!(first.last > 20_000, "{}", first.last);

    let (_, tail) = alice.get_json(&format!("/api/builds/{id}/log?tail=5")).await;
    let tail: LogWindow = serde_json::from_value(tail).unwrap();
    let numbers: Vec<u64> = tail.lines.iter().map(LogLine::number).collect();
    assert_eq!(numbers, (first.last - 4..=first.last).collect::<Vec<_>>());
    assert_eq!(tail.next, None);

    // A window in the middle, by number: the output line that says its own number.
    let at = first
        .lines
        .iter()
        .find(|l| l.text() == "line 1")
        .map(LogLine::number)
        .expect("line 1 in the first window");
    let (_, mid) = alice
        .get_json(&format!("/api/builds/{id}/log?from={}&limit=2", at + 14_999))
        .await;
    let mid: LogWindow = serde_json::from_value(mid).unwrap();
    assert_eq!(
        mid.lines.iter().map(|l| l.text()).collect::<Vec<_>>(),
        ["line 15000", "line 15001"]
    );
    assert_eq!(
        mid.sections.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()[0],
        "checkout"
    );
    // More than the cap is never sent.
    let (_, capped) = alice.get_json(&format!("/api/builds/{id}/log?limit=100000")).await;
    let capped: LogWindow = serde_json::from_value(capped).unwrap();
    assert_eq!(capped.lines.len(), 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_viewers_of_a_running_log_each_get_every_line_once() {
    let app = TestApp::start().await;
    let (id, _) = build_of(
        &app,
        "alice/chatty",
        "for i in $(seq 1 4000); do echo \"line $i\"; if [ $((i % 50)) -eq 0 ]; then sleep 0.01; fi; done",
        false,
        false,
    )
    .await;
    let url = format!("{}/api/builds/{id}/log/stream", app.url);
    let read_all = |url: String, last_event_id: Option<String>| async move {
        let events = read_sse(&url, last_event_id.as_deref(), |e| e.event == "end").await;
        let mut lines = Vec::new();
        for e in events.iter().filter(|e| e.event == "lines") {
            lines.extend(serde_json::from_str::<Vec<LogLine>>(&e.data).unwrap());
        }
        (lines, events.last().map(|e| e.event.clone()))
    };
    let mut viewers: Vec<_> = (0..10).map(|_| tokio::spawn(read_all(url.clone(), None))).collect();
    // Later viewers join mid-log: from the start, and resuming after line 100.
    read_sse(&url, None, |e| e.data.contains("line 1500")).await;
    viewers.extend((0..5).map(|_| tokio::spawn(read_all(url.clone(), None))));
    let resumed = tokio::spawn(read_all(url.clone(), Some("100".into())));
    let stored = crate::common::read_whole_log(&app.state.engine, id).await;
    for v in viewers {
        let (lines, last) = v.await.unwrap();
        assert_eq!(last.as_deref(), Some("end"));
        assert_eq!(lines, stored, "no gap, no duplicate, nothing out of order");
    }
    let (lines, _) = resumed.await.unwrap();
    assert_eq!(lines.as_slice(), &stored[100..]);
    let printed = stored.iter().filter(|l| l.kind() == LineKind::Output).count();
    assert_eq!(printed, 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_covers_the_whole_log_and_says_how_many_lines_matched() {
    let app = TestApp::start().await;
    let (id, alice) = build_of(
        &app,
        "alice/search",
        "seq -f 'line %.0f' 1 30000; printf '\\033[31mRED\\033[0m alert\\n'",
        false,
        true,
    )
    .await;
    let stored = crate::common::read_whole_log(&app.state.engine, id).await;
    let number_of = |text: &str| stored.iter().find(|l| l.text() == text).map(LogLine::number).unwrap();
    let search = |q: &str| {
        let url = format!("{}/api/builds/{id}/log/search?{q}", app.url);
        async move {
            let events = read_sse(&url, None, |e| e.event == "end").await;
            let hits: Vec<u64> = events
                .iter()
                .filter(|e| e.event == "hits")
                .flat_map(|e| serde_json::from_str::<SearchHits>(&e.data).unwrap().lines)
                .collect();
            let end: SearchHits = serde_json::from_str(&events.last().unwrap().data).unwrap();
            (hits, end)
        }
    };
    let (hits, end) = search("q=LINE%20777").await;
    let expected: Vec<u64> = [
        "line 777",
        "line 7770",
        "line 7771",
        "line 7772",
        "line 7773",
        "line 7774",
        "line 7775",
        "line 7776",
        "line 7777",
        "line 7778",
        "line 7779",
    ]
    .iter()
    .map(|t| number_of(t))
    .collect();
    assert_eq!(hits, expected);
    assert_eq!(end.count, 11);
    assert_eq!(end.searched, stored.last().unwrap().number());
    let (hits, _) = search("q=%5Eline%202999%5Cd%24&regex=1").await;
    assert_eq!(hits.len(), 10, "{hits:?}");
    let (hits, _) = search("q=red%20alert").await;
    let texts: Vec<&str> = hits
        .iter()
        .map(|&n| stored.iter().find(|l| l.number() == n).unwrap().text())
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "colour codes are not part of the text searched: {texts:?}"
    );
    let (hits, _) = search("q=Red&case=1").await;
    assert_eq!(hits.len(), 0, "case is matched when asked");
    let (hits, _) = search("q=Red").await;
    assert_eq!(hits.len(), 2, "the command and its output");
    let (hits, _) = search("q=line%201&after=20000").await;
    assert!(hits.iter().all(|&n| n > 20000));

    let (code, body) = alice
        .get_json(&format!("/api/builds/{id}/log/search?q=(&regex=1"))
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("regular expression"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_can_carry_times_and_a_private_log_stays_private() {
    let app = TestApp::start().await;
    let (id, alice) = build_of(&app, "alice/secret", "echo hush", true, true).await;
    let text = alice
        .client
        .get(alice.url(&format!("/api/builds/{id}/log.txt?timestamps=1")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timed = regex::Regex::new(r"^\[\d\d:\d\d\.\d{3}\] ").unwrap();
    assert!(text.lines().all(|l| timed.is_match(l)), "{text}");
    assert!(text.lines().any(|l| l.ends_with("] hush")), "{text}");
    let anon = app.browser();
    for path in ["log", "log?tail=10", "log/search?q=hush", "log.txt", "log/stream"] {
        let (code, _) = anon.get_json(&format!("/api/builds/{id}/{path}")).await;
        assert!(
            code == 401 || code == 404,
            "{path} of a private repository, signed out: {code}"
        );
    }
}
