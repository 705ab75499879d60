//! `GET /api/builds/{id}/tests`: what a build's test reports say — counts, the failing tests with
//! their message and output, the slowest tests, and which of its tests are flaky (failed and
//! passed on the same commit) — for whoever may read the build.

use axum::Json;
use axum::extract::{Path, State};
use sicuro_types::{Permission, TestReport};

use super::AppState;
use super::error::{WebResult, not_found};
use super::extract::Session;
use super::pages;
use crate::db::test_reports;

const FAILING: i64 = 100;
const SLOWEST: i64 = 10;

pub async fn show(
    State(state): State<AppState>,
    Session(s): Session,
    Path(id): Path<i64>,
) -> WebResult<Json<TestReport>> {
    pages::find_build(&state, &s, id, Permission::Read).await?;
    let db = &state.db;
    let (counts, problems) = test_reports::counts(db, id)
        .await?
        .ok_or_else(|| not_found("a test report of this build"))?;
    let flaky_names = test_reports::flaky(db, id).await?;
    let is_flaky =
        |c: &sicuro_types::TestCaseResult| flaky_names.iter().any(|(k, n)| *k == c.classname && *n == c.name);
    let mark = |mut cases: Vec<sicuro_types::TestCaseResult>| {
        for c in &mut cases {
            c.flaky = is_flaky(c);
        }
        cases
    };
    let failing = mark(test_reports::failing(db, id, FAILING).await?);
    let slowest = mark(test_reports::slowest(db, id, SLOWEST).await?);
    let flaky = flaky_names
        .iter()
        .map(|(classname, name)| sicuro_types::TestCaseResult {
            suite: String::new(),
            classname: classname.clone(),
            name: name.clone(),
            outcome: sicuro_types::TestOutcome::Failed,
            duration_ms: 0,
            message: None,
            output: None,
            flaky: true,
        })
        .collect();
    Ok(Json(TestReport {
        counts,
        failing,
        slowest,
        flaky,
        problems,
    }))
}
