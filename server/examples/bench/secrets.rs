//! What masking secrets costs: the 200,000-line job (no secret in its output, so every byte is
//! scanned and none is replaced) with no secret, then on the same server with 20 secrets set.
//! The wall time is the build's own (`started_at` → `finished_at`), median of `runs`.

use std::path::Path;

use serde_json::json;

use crate::Row;
use crate::server::Server;
use crate::stats::{median, secs};

pub(crate) async fn masking_cost(bin: &Path, root: &Path, work: &Path, lines: usize, runs: usize) -> Vec<Row> {
    let s = Server::start(bin, root, work, "secrets", &[]).await;
    let cmd = format!("seq -f 'line %.0f' 1 {lines}");
    let repo = s
        .add_repo(work, "masked", &json!({"test": {"custom": [cmd]}}).to_string())
        .await;
    s.build_and_wait(&repo).await; // warm: mirror and image
    let without = wall_times(&s, &repo, runs).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let r = client
            .put(format!("{}/api/repos/{repo}/secrets/BENCH_SECRET_{i}", s.url))
            .json(&json!({ "value": format!("bench-secret-value-{i:02}-0123456789abcdef") }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let with = wall_times(&s, &repo, runs).await;
    let (with, without) = (median(&with), median(&without));
    vec![Row {
        what: format!("{lines} lines, 20 secrets masked: build wall time (median of {runs})"),
        figure: secs(with),
        reference: format!("no secrets: {}", secs(without)),
        ratio: format!("{:.2}×", with / without),
    }]
}

async fn wall_times(s: &Server, repo: &str, runs: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let d = s.build_and_wait(repo).await;
        let ms = d["summary"]["finished_at"].as_i64().unwrap() - d["summary"]["started_at"].as_i64().unwrap();
        out.push(ms as f64 / 1000.0);
    }
    out
}
