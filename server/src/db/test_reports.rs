//! Test reports: a build's counts and test cases, and the flaky tests of a commit (failed in one
//! build of it and passed in another).

use sicuro_types::{TestCaseResult, TestCounts, TestOutcome};

use super::Db;

/// Records what a build's reports say (once: a build has one report).
pub async fn record(
    db: &Db,
    build_id: i64,
    counts: TestCounts,
    cases: &[TestCaseResult],
    problems: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM test_cases WHERE build_id = $1")
        .bind(build_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM test_reports WHERE build_id = $1")
        .bind(build_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO test_reports (build_id, passed, failed, skipped, problems) VALUES ($1, $2, $3, $4, $5)")
        .bind(build_id)
        .bind(counts.passed as i64)
        .bind(counts.failed as i64)
        .bind(counts.skipped as i64)
        .bind((!problems.is_empty()).then(|| problems.join("\n")))
        .execute(&mut *tx)
        .await?;
    for c in cases {
        sqlx::query(
            "INSERT INTO test_cases (build_id, suite, classname, name, outcome, duration_ms, message, output) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(build_id)
        .bind(&c.suite)
        .bind(&c.classname)
        .bind(&c.name)
        .bind(c.outcome.as_str())
        .bind(c.duration_ms)
        .bind(&c.message)
        .bind(&c.output)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A build's counts and report problems, if it had reports.
pub async fn counts(db: &Db, build_id: i64) -> Result<Option<(TestCounts, Vec<String>)>, sqlx::Error> {
    let row: Option<(i64, i64, i64, Option<String>)> =
        sqlx::query_as("SELECT passed, failed, skipped, problems FROM test_reports WHERE build_id = $1")
            .bind(build_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(p, f, s, problems)| {
        (
            TestCounts {
                passed: p as u64,
                failed: f as u64,
                skipped: s as u64,
            },
            problems
                .map(|p| p.lines().map(str::to_string).collect())
                .unwrap_or_default(),
        )
    }))
}

type CaseRow = (String, String, String, String, i64, Option<String>, Option<String>);

fn case_of(r: CaseRow) -> TestCaseResult {
    TestCaseResult {
        suite: r.0,
        classname: r.1,
        name: r.2,
        outcome: TestOutcome::parse(&r.3).unwrap_or(TestOutcome::Error),
        duration_ms: r.4,
        message: r.5,
        output: r.6,
        flaky: false,
    }
}

const CASE_COLUMNS: &str = "suite, classname, name, outcome, duration_ms, message, output";

/// The build's failing tests, in report order (at most `limit`).
pub async fn failing(db: &Db, build_id: i64, limit: i64) -> Result<Vec<TestCaseResult>, sqlx::Error> {
    let rows: Vec<CaseRow> = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM test_cases WHERE build_id = $1 AND outcome IN ('failed', 'error') ORDER BY id LIMIT $2"
    ))
    .bind(build_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(case_of).collect())
}

/// The build's slowest tests.
pub async fn slowest(db: &Db, build_id: i64, limit: i64) -> Result<Vec<TestCaseResult>, sqlx::Error> {
    let rows: Vec<CaseRow> = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM test_cases WHERE build_id = $1 ORDER BY duration_ms DESC, id LIMIT $2"
    ))
    .bind(build_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(case_of).collect())
}

/// Tests of `build_id` that, across the builds of its repository's commit, both failed and
/// passed: `(classname, name)` pairs.
pub async fn flaky(db: &Db, build_id: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.classname, c.name FROM test_cases c \
         JOIN builds b ON b.id = c.build_id \
         JOIN builds this ON this.id = $1 AND b.repo_id = this.repo_id AND b.commit_sha = this.commit_sha \
         WHERE EXISTS (SELECT 1 FROM test_cases mine WHERE mine.build_id = $1 AND mine.classname = c.classname AND mine.name = c.name) \
         GROUP BY c.classname, c.name \
         HAVING SUM(CASE WHEN c.outcome IN ('failed', 'error') THEN 1 ELSE 0 END) > 0 \
            AND SUM(CASE WHEN c.outcome = 'passed' THEN 1 ELSE 0 END) > 0 \
         ORDER BY c.classname, c.name",
    )
    .bind(build_id)
    .fetch_all(&db.pool)
    .await
}
