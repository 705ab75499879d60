//! The queue's claim cost with many builds waiting: the in-memory index (find the next build,
//! claim it in the database) against what the queue did before it, reading every queued build
//! on each claim — both on the same SQLite database state.

use std::path::Path;
use std::time::Instant;

use sicuro::db::builds::COLUMNS;
use sicuro::db::repos::{self, NewRepo};
use sicuro::db::{Db, builds};
use sicuro::engine::queue::QueueIndex;
use sicuro_types::RepoKind;

/// Per-claim milliseconds: (with the index, reading every queued build), `queued` builds over
/// `repos` repositories that may run one build each.
pub async fn claim_ms(work: &Path, queued: usize, repos: usize) -> (f64, f64) {
    let indexed = {
        let db = filled(work, "indexed", queued, repos).await;
        let mut index = QueueIndex::default();
        for q in builds::queued_with_limits(&db).await.unwrap() {
            index.queued(q.repo_id, q.build_id, q.max_concurrent);
        }
        let started = Instant::now();
        let mut claims = 0;
        while let Some((id, repo)) = index.next(1) {
            builds::claim(&db, id).await.unwrap().expect("queued");
            finish(&db, id).await;
            index.finished(repo);
            claims += 1;
        }
        assert_eq!(claims, queued);
        started.elapsed().as_secs_f64() * 1000.0 / claims as f64
    };
    let scanning = {
        let db = filled(work, "scanning", queued, repos).await;
        // Reading everything queued on each claim costs the same whatever is claimed; a few
        // hundred claims show it (all of them would take minutes).
        let sample = 300.min(queued);
        let started = Instant::now();
        for _ in 0..sample {
            let all: Vec<builds::Build> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM builds WHERE status = 'queued' ORDER BY id"
            ))
            .fetch_all(&db.pool)
            .await
            .unwrap();
            let first = all.first().expect("queued builds left");
            let _limit = repos::get(&db, first.repo_id).await.unwrap();
            builds::claim(&db, first.id).await.unwrap().expect("queued");
            finish(&db, first.id).await;
        }
        started.elapsed().as_secs_f64() * 1000.0 / sample as f64
    };
    (indexed, scanning)
}

async fn finish(db: &Db, id: i64) {
    sqlx::query("UPDATE builds SET status = 'success', finished_at = 1 WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// A fresh database with `queued` builds spread over `repos` repositories.
async fn filled(work: &Path, name: &str, queued: usize, repos: usize) -> Db {
    let dir = work.join(format!("queue-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Db::connect(&format!("sqlite://{}/sicuro.db", dir.display()))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for r in 0..repos {
        let repo = repos::upsert(
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
        ids.push(repo.id);
    }
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..queued {
        sqlx::query(
            "INSERT INTO builds (repo_id, number, event, branch, commit_sha, status, created_at) \
             VALUES ($1, $2, 'push', 'main', $3, 'queued', 0)",
        )
        .bind(ids[i % repos])
        .bind(i as i64 + 1)
        .bind(format!("{i:040x}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    db
}
