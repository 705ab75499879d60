//! Retention's soak test: a server's worth of history — 5,000 builds of four repositories over
//! 400 days with their logs (branches, pull requests, tags), 20,000 webhook deliveries, a thousand sessions — and one pass
//! leaves the database and the log directory within the configured bounds, keeping every
//! active build, every branch's newest build and everything recent; a second pass finds nothing
//! more. No jobs run: the rows and files are written as the engine writes them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::common::{TestEngine, engine_config};
use sicuro::db::{Db, now_ms, repos};

const DAY: i64 = 86_400_000;
const KEEP: u64 = 300;
const KEEP_DAYS: i64 = 60;

struct Row {
    id: i64,
    repo_id: i64,
    branch: Option<String>,
    pr: Option<i64>,
    is_tag: bool,
    status: String,
    created_at: i64,
}

async fn rows(db: &Db) -> Vec<Row> {
    let all: Vec<(i64, i64, Option<String>, Option<i64>, i64, String, i64)> =
        sqlx::query_as("SELECT id, repo_id, branch, pr_number, is_tag, status, created_at FROM builds ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    all.into_iter()
        .map(|(id, repo_id, branch, pr, is_tag, status, created_at)| Row {
            id,
            repo_id,
            branch,
            pr,
            is_tag: is_tag != 0,
            status,
            created_at,
        })
        .collect()
}

/// 5,000 builds: per repository, oldest first, over 400 days; a few branches, pull requests and
/// tags; some old builds still queued or running (a stuck queue must not lose them).
async fn history(db: &Db, repo_ids: &[i64], logs: &std::path::Path) {
    let now = now_ms();
    let mut values = Vec::new();
    for i in 0..5_000i64 {
        let repo_id = repo_ids[(i % repo_ids.len() as i64) as usize];
        let number = i / repo_ids.len() as i64 + 1;
        // Half a step off the grid, so that no build sits exactly on the age cut-off.
        let step = 400 * DAY / 5_000;
        let created = now - 400 * DAY + i * step + step / 2;
        let (branch, pr, tag) = match i % 10 {
            // Branches whose only builds are old: their newest stays whatever its age.
            _ if i < 40 => (format!("'old-{i}'"), "NULL".to_string(), 0),
            0..=5 => ("'main'".to_string(), "NULL".to_string(), 0),
            6 | 7 => (format!("'feature-{}'", i % 37), "NULL".into(), 0),
            8 => (format!("'pr-head-{}'", i % 11), (i % 11).to_string(), 0),
            _ => (format!("'v{i}'"), "NULL".into(), 1),
        };
        let status = match i {
            _ if i % 997 == 0 => "running",
            _ if i % 1_009 == 0 => "queued",
            _ if i % 3 == 0 => "failure",
            _ => "success",
        };
        values.push(format!(
            "({repo_id}, {number}, 'push', {branch}, {tag}, {pr}, '{sha:040x}', '{status}', {created})",
            sha = i
        ));
        std::fs::write(logs.join(format!("{}.log", i + 1)), b"a log\n").unwrap();
    }
    for chunk in values.chunks(500) {
        sqlx::query(&format!(
            "INSERT INTO builds (repo_id, number, event, branch, is_tag, pr_number, commit_sha, status, created_at) VALUES {}",
            chunk.join(",")
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retention_pass_keeps_the_database_and_the_logs_within_bounds() {
    let mut config = engine_config();
    config.retention.keep_builds = KEEP;
    config.retention.keep_builds_for = Duration::from_millis((KEEP_DAYS * DAY) as u64);
    let t = TestEngine::start_with(config, false).await;
    let db = &t.db;
    let mut repo_ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let r = repos::upsert(
            db,
            &repos::NewRepo {
                kind: sicuro_types::RepoKind::Local,
                owner: "local".into(),
                name: name.into(),
                clone_url: format!("/nonexistent/{name}"),
                html_url: None,
                github_id: None,
                private: false,
                default_branch: "main".into(),
                language: None,
                watched: true,
            },
        )
        .await
        .unwrap();
        repo_ids.push(r.id);
    }
    let logs = t.dir.path().join("logs");
    history(db, &repo_ids, &logs).await;
    let before = rows(db).await;
    assert_eq!(before.len(), 5_000);
    assert_eq!(before.first().unwrap().id, 1, "log files are named by these ids");

    // 20,000 deliveries over 20 days, and a thousand sessions of which ten are still valid.
    let now = now_ms();
    let deliveries: Vec<String> = (0..20_000i64)
        .map(|i| format!("('d-{i}', 'push', {})", now - i * (20 * DAY / 20_000)))
        .collect();
    for chunk in deliveries.chunks(1_000) {
        sqlx::query(&format!(
            "INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES {}",
            chunk.join(",")
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO users (github_id, login, created_at, updated_at) VALUES (1, 'alice', 0, 0)")
        .execute(&db.pool)
        .await
        .unwrap();
    let sessions: Vec<String> = (0..1_000i64)
        .map(|i| format!("('s-{i}', 1, 0, {})", if i < 10 { now + DAY } else { now - i }))
        .collect();
    sqlx::query(&format!(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES {}",
        sessions.join(",")
    ))
    .execute(&db.pool)
    .await
    .unwrap();

    let report = sicuro::retention::pass(db, &t.engine).await.unwrap();
    let after = rows(db).await;
    let kept: HashSet<i64> = after.iter().map(|r| r.id).collect();

    // What must stay: every active build, each branch's (and pull request's) newest, and the
    // newest KEEP of each repository that are younger than KEEP_DAYS.
    let mut newest_of_branch: BTreeMap<(i64, Option<String>, Option<i64>), i64> = BTreeMap::new();
    for r in before.iter().filter(|r| !r.is_tag) {
        newest_of_branch.insert((r.repo_id, r.branch.clone(), r.pr), r.id);
    }
    let cutoff = now - KEEP_DAYS * DAY;
    for repo_id in &repo_ids {
        let of_repo: Vec<&Row> = before.iter().filter(|r| r.repo_id == *repo_id).collect();
        for (rank, r) in of_repo.iter().rev().enumerate() {
            let active = r.status == "running" || r.status == "queued";
            // A tag's build is not a branch's: it ages like the rest.
            let newest = newest_of_branch.get(&(r.repo_id, r.branch.clone(), r.pr)) == Some(&r.id);
            let within = (rank as u64) < KEEP && r.created_at >= cutoff;
            assert_eq!(
                kept.contains(&r.id),
                active || newest || within,
                "build {} (rank {rank}, {}, {:?}): active {active}, newest of its branch {newest}, within bounds {within}",
                r.id,
                r.status,
                r.branch
            );
        }
        let count = after.iter().filter(|r| r.repo_id == *repo_id).count() as u64;
        assert!(count <= KEEP + 60, "repository {repo_id} keeps {count} builds");
    }
    assert_eq!(report.engine.builds as usize, before.len() - after.len());

    // The log directory holds exactly the kept builds' logs.
    let files: HashSet<i64> = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    assert_eq!(files, kept, "a log for each kept build, none for a removed one");

    // Deliveries within GitHub's redelivery window (kept 7 days) stay; sessions only while valid.
    let (_, deliveries, sessions) = sicuro::db::pruning::counts(db).await.unwrap();
    assert_eq!(deliveries, 7_000, "the last 7 of 20 days");
    assert_eq!(report.deliveries, 13_000);
    assert_eq!(sessions, 10);

    // A second pass finds nothing more to do.
    let again = sicuro::retention::pass(db, &t.engine).await.unwrap();
    assert_eq!(again, sicuro::retention::Report::default());
}
