//! The database goes away while a build runs (a PostgreSQL server of the test's own, stopped
//! with `-m immediate`, then started again): the job's verdict waits for the database instead
//! of being dropped, the build ends with its real verdict, and its commit can be built again.

use std::time::Duration;

use crate::common::postgres::PrivatePostgres;
use crate::common::{TestEngine, job_containers, postgres_available, swarm};
use sicuro::db::Db;
use sicuro_types::BuildStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verdict_waits_out_a_database_outage_and_the_commit_builds_again() {
    let Some(pg) = PrivatePostgres::start() else {
        assert!(
            !postgres_available(),
            "make test installed PostgreSQL, yet initdb is not found"
        );
        eprintln!("skipped: PostgreSQL is not installed here");
        return;
    };
    let t = TestEngine::start_on_db(Db::connect(&pg.url()).await.unwrap()).await;
    let (repo, git) = t
        .script_repo(
            "outage",
            r#"{"test": {"custom": ["echo started", "sleep 2", "echo job-done"]}}"#,
            &[],
        )
        .await;
    let b = t.build(&repo, &git.head()).await;
    t.until_log_contains(b.id, "started").await;

    pg.stop();
    // The job ends while the database is away: its container goes, and the verdict must wait.
    t.until_log_contains(b.id, "job-done").await;
    swarm::until(
        Duration::from_secs(120),
        "the job's container to be removed",
        || async { job_containers(&t.engine, b.id).await == 0 },
    )
    .await;
    pg.start_again();

    let done = t.finished(b.id).await;
    assert_eq!(
        (done.status(), done.error.as_deref()),
        (BuildStatus::Success, None),
        "the real verdict, recorded once the database answered"
    );
    // Nothing is left active: building the commit again makes a new build, which runs.
    let again = t.build(&repo, &git.head()).await;
    assert_ne!(again.id, b.id, "a new build, not the old one still counted as active");
    assert_eq!(t.finished(again.id).await.status(), BuildStatus::Success);
}
