//! What masking secrets costs: the 200,000-line job (no secret in its output, so every byte is
//! scanned and none is replaced) with no secret, then on the same server with 20 secrets set;
//! and a job printing one of the secrets on each of its 200,000 lines (every line replaced).
//! The wall time is the build's own (`started_at` → `finished_at`), median of `runs`.

use std::path::Path;

use serde_json::json;

use crate::Row;
use crate::server::Server;
use crate::stats::{median, secs};

pub(crate) async fn masking_cost(bin: &Path, root: &Path, work: &Path, lines: usize, runs: usize) -> Vec<Row> {
    let mut rows = vec![masker_alone(lines, runs)];
    let s = Server::start(bin, root, work, "secrets", &[]).await;
    let plain = format!("seq -f 'line %.0f' 1 {lines}");
    // Without the secrets set the variable is empty, so both runs print the same text but for it.
    let leaky = format!("seq -f \"line $BENCH_SECRET_7 %.0f\" 1 {lines}");
    let mut repos = Vec::new();
    for (name, cmd) in [("masked", plain), ("leaky", leaky)] {
        let repo = s
            .add_repo(work, name, &json!({"test": {"custom": [cmd]}}).to_string())
            .await;
        s.build_and_wait(&repo).await; // warm: mirror and image
        let (without, _) = wall_times(&s, &repo, runs).await;
        repos.push((repo, without));
    }
    let client = reqwest::Client::new();
    for (repo, _) in &repos {
        for i in 0..20 {
            let r = client
                .put(format!("{}/api/repos/{repo}/secrets/BENCH_SECRET_{i}", s.url))
                .json(&json!({ "value": format!("bench-secret-value-{i:02}-0123456789abcdef") }))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    }
    for ((repo, without), what) in repos.iter().zip(["20 secrets masked", "20 secrets, one on every line"]) {
        let (with, last) = wall_times(&s, repo, runs).await;
        let log = reqwest::get(format!("{}/api/builds/{last}/log.txt", s.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!log.contains("bench-secret-value"), "masked");
        let (with, without) = (median(&with), median(without));
        rows.push(Row {
            what: format!("{lines} lines, {what}: build wall time (median of {runs})"),
            figure: secs(with),
            reference: format!("no secrets: {}", secs(without)),
            ratio: format!("{:.2}×", with / without),
        });
    }
    rows
}

/// The masker alone, in this process: `lines` lines in 32 KiB chunks through 20 secrets' masks
/// (CPU time per run, best of `runs`), against splitting the same bytes into lines.
pub(crate) fn masker_alone(lines: usize, runs: usize) -> Row {
    let values: Vec<String> = (0..20)
        .map(|i| format!("bench-secret-value-{i:02}-0123456789abcdef"))
        .collect();
    let masker = sicuro::engine::mask::Masker::new(&values, &["##sicuro:0123456789abcdef01234567:"]);
    let text: Vec<u8> = (1..=lines).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    let time = |f: &mut dyn FnMut() -> usize| {
        (0..runs)
            .map(|_| {
                let t = std::time::Instant::now();
                assert_eq!(std::hint::black_box(f()), text.len());
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let masked = time(&mut || {
        let mut stream = masker.stream();
        let mut n = 0;
        for chunk in text.chunks(32 * 1024) {
            stream.push(chunk, &mut |b| n += b.len());
        }
        stream.finish(&mut |b| n += b.len());
        n
    });
    let assembled = time(&mut || {
        let mut lines = sicuro::engine::output::LineAssembler::new("0123456789abcdef01234567");
        let mut n = 0;
        for chunk in text.chunks(32 * 1024) {
            lines.push(chunk, &mut |p| {
                if let sicuro::engine::output::Piece::Line(l) = p {
                    n += l.len() + 1;
                }
            });
        }
        n
    });
    Row {
        what: format!(
            "masker alone: {lines} lines ({:.1} MB) through 20 secrets (best of {runs})",
            text.len() as f64 / 1e6
        ),
        figure: format!("{:.2} ms", masked * 1000.0),
        reference: format!("splitting them into lines: {:.2} ms", assembled * 1000.0),
        ratio: format!("{:.2}×", masked / assembled),
    }
}

/// The builds' wall times, and the last build's id.
async fn wall_times(s: &Server, repo: &str, runs: usize) -> (Vec<f64>, i64) {
    let (mut out, mut last) = (Vec::new(), 0);
    for _ in 0..runs {
        let d = s.build_and_wait(repo).await;
        let ms = d["summary"]["finished_at"].as_i64().unwrap() - d["summary"]["started_at"].as_i64().unwrap();
        out.push(ms as f64 / 1000.0);
        last = d["summary"]["id"].as_i64().unwrap();
    }
    (out, last)
}
