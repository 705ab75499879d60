//! A retention pass over a server's worth of history: 100,000 finished builds with their log
//! files over 10 repositories, of which the settings keep 1,000 each — the first pass removes
//! 90,000 builds and their logs, the next finds nothing. The reference, on an identical copy:
//! the database's own floor, one `DELETE` of the same rows by id (no logs, no rules).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sicuro::config::{Config, Env};
use sicuro::db::repos::{self, NewRepo};
use sicuro::db::{Db, now_ms};
use sicuro::engine::executor::fake::FakeExecutor;
use sicuro::engine::{Engine, EngineOptions, NoCredentials};
use sicuro_types::RepoKind;

pub struct Figures {
    pub first_pass: Duration,
    pub second_pass: Duration,
    pub bare_delete: Duration,
    pub removed: u64,
}

pub async fn pass(work: &Path, builds: usize, repos: usize, keep: u64) -> Figures {
    let (engine, _db) = filled(work, "pass", builds, repos, keep).await;
    let started = Instant::now();
    let removed = engine.prune().await.unwrap().builds;
    let first_pass = started.elapsed();
    let started = Instant::now();
    assert_eq!(engine.prune().await.unwrap().builds, 0);
    let second_pass = started.elapsed();

    let (_engine, db) = filled(work, "bare", builds, repos, keep).await;
    let started = Instant::now();
    let mut deleted = 0;
    for r in 1..=repos as i64 {
        let q = sqlx::query(
            "DELETE FROM builds WHERE repo_id = $1 AND id < (SELECT id FROM builds WHERE repo_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(r)
        .bind(keep as i64 - 1)
        .execute(&db.pool)
        .await
        .unwrap();
        deleted += q.rows_affected();
    }
    let bare_delete = started.elapsed();
    assert_eq!(deleted, removed, "the reference removes the same rows");
    Figures {
        first_pass,
        second_pass,
        bare_delete,
        removed,
    }
}

/// An engine (fake executor: no jobs run) on a database of `builds` finished builds, each
/// with a log file, spread over `repos` repositories on one branch, keeping `keep` each.
async fn filled(work: &Path, name: &str, builds: usize, repos: usize, keep: u64) -> (Engine, Db) {
    let dir = work.join(format!("retention-{name}"));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let db = Db::connect(&format!("sqlite://{}/sicuro.db", dir.display()))
        .await
        .unwrap();
    for r in 0..repos {
        repos::upsert(
            &db,
            &NewRepo {
                kind: RepoKind::Local,
                owner: "bench".into(),
                name: format!("r{r}"),
                clone_url: format!("/nonexistent/r{r}"),
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
    }
    let now = now_ms();
    let rows: Vec<String> = (0..builds)
        .map(|i| {
            let repo = i % repos + 1;
            format!(
                "({repo}, {}, 'push', 'main', '{i:040x}', 'success', {now})",
                i / repos + 1
            )
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        sqlx::query(&format!(
            "INSERT INTO builds (repo_id, number, event, branch, commit_sha, status, created_at) VALUES {}",
            chunk.join(",")
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    for id in 1..=builds {
        std::fs::write(dir.join("logs").join(format!("{id}.log")), b"a line\n").unwrap();
    }
    let mut config = Config::from_env(&Env::from_pairs([])).unwrap().engine;
    config.retention.keep_builds = keep;
    let engine = Engine::start(EngineOptions {
        db: db.clone(),
        config,
        data_dir: dir.clone(),
        credentials: Arc::new(NoCredentials),
        executor: Arc::new(FakeExecutor::new(dir.join("jobs"))),
        secrets: sicuro::crypto::Keys::derive(b"the retention benchmark's key, 32+ bytes").secret_box(),
    })
    .await
    .unwrap();
    (engine, db)
}
