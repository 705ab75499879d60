//! Log measurements: the server's CPU time per million lines delivered to 50 live viewers, the
//! memory of 20 concurrent readers of a 64 MiB log of 64 KiB lines, and a search over a million
//! lines. Each is measured for this build and, when `SICURO_BENCH_BASELINE` names the binary of
//! an earlier commit, for that one in the same run.

use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;

use crate::Row;
use crate::probes::sse_lines;
use crate::server::Server;
use crate::stats::*;

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The server's CPU seconds per million lines delivered to `viewers` viewers of a running log.
pub(crate) async fn fanout_cpu(
    bin: &Path,
    root: &Path,
    work: &Path,
    label: &str,
    lines: u64,
    viewers: usize,
) -> (f64, u64) {
    let s = Server::start(
        bin,
        root,
        work,
        &format!("fanout-{label}"),
        &[("SICURO_LOG_LIMIT", "1GiB")],
    )
    .await;
    // The job waits for its viewers, then prints.
    let cmd = format!("sleep 3; seq -f 'line %.0f' 1 {lines}");
    let repo = s
        .add_repo(work, "fanout", &json!({"test": {"custom": [cmd]}}).to_string())
        .await;
    s.build_and_wait(&repo).await; // warm: mirror and image
    let id = s.trigger(&repo).await;
    let before = cpu_secs(s.pid());
    let readers: Vec<_> = (0..viewers)
        .map(|_| {
            let url = format!("{}/api/builds/{id}/log/stream", s.url);
            tokio::spawn(async move {
                let mut n = 0u64;
                sse_lines(&url, |t| n += u64::from(t.starts_with("line "))).await;
                n
            })
        })
        .collect();
    let mut delivered = 0;
    for r in readers {
        delivered += r.await.unwrap();
    }
    let used = cpu_secs(s.pid()) - before;
    (used / (delivered as f64 / 1e6), delivered)
}

/// Peak server memory while 20 readers each read a finished 64 MiB log of 64 KiB lines in full
/// (as JSON and as the event stream).
pub(crate) async fn readers_rss(bin: &Path, root: &Path, work: &Path, label: &str) -> u64 {
    let s = Server::start(
        bin,
        root,
        work,
        &format!("readers-{label}"),
        &[("SICURO_LOG_LIMIT", "256MiB")],
    )
    .await;
    let cmd = "head -c 67108864 /dev/zero | tr '\\0' x | fold -w 65536";
    let repo = s
        .add_repo(work, "wide", &json!({"test": {"custom": [cmd]}}).to_string())
        .await;
    let d = s.build_and_wait(&repo).await;
    let id = d["summary"]["id"].as_i64().unwrap();
    let idle = s.rss_kb();
    let readers: Vec<_> = (0..20)
        .map(|i| {
            let base = s.url.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    // The JSON log, page by page where the server pages it.
                    let client = reqwest::Client::new();
                    let mut from = Some(1u64);
                    while let Some(f) = from {
                        let r = client
                            .get(format!("{base}/api/builds/{id}/log?from={f}"))
                            .send()
                            .await
                            .unwrap();
                        let mut body = r.bytes_stream();
                        let mut bytes = Vec::new();
                        while let Some(chunk) = body.next().await {
                            bytes.extend_from_slice(&chunk.unwrap());
                        }
                        from = serde_json::from_slice::<serde_json::Value>(&bytes)
                            .ok()
                            .and_then(|v| v["next"].as_u64());
                    }
                } else {
                    sse_lines(&format!("{base}/api/builds/{id}/log/stream"), |_| {}).await;
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    let _ = idle;
    s.peak_rss_kb()
}

/// Time to the first hit and to the whole count of a search of a finished million-line log;
/// and, for reference, `grep -c` over the same lines as a plain file.
pub(crate) async fn search(bin: &Path, root: &Path, work: &Path, rows: &mut Vec<Row>) {
    let lines = 1_000_000;
    let s = Server::start(bin, root, work, "search", &[("SICURO_LOG_LIMIT", "1GiB")]).await;
    let cmd = format!("seq -f 'line %.0f' 1 {lines}");
    let repo = s
        .add_repo(work, "search", &json!({"test": {"custom": [cmd]}}).to_string())
        .await;
    let d = s.build_and_wait(&repo).await;
    let id = d["summary"]["id"].as_i64().unwrap();
    let mut first_hit = Vec::new();
    let mut whole = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = reqwest::get(format!("{}/api/builds/{id}/log/search?q=LINE%2077777", s.url))
            .await
            .unwrap();
        let mut body = r.bytes_stream();
        let mut text = String::new();
        let mut first = None;
        'read: while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(i) = text.find("\n\n") {
                let block: String = text.drain(..i + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("{}");
                let hits: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                if block.starts_with("event: hits")
                    && first.is_none()
                    && hits["lines"].as_array().is_some_and(|l| !l.is_empty())
                {
                    first = Some(t.elapsed().as_secs_f64());
                }
                if block.starts_with("event: end") {
                    count = hits["count"].as_u64().unwrap_or(0);
                    break 'read;
                }
            }
        }
        first_hit.push(first.unwrap_or(f64::NAN));
        whole.push(t.elapsed().as_secs_f64());
    }
    // The same lines as a plain file, searched by grep.
    let plain = work.join("search-plain.txt");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("seq -f 'line %.0f' 1 {lines} > {}", plain.display()))
        .status()
        .unwrap();
    assert!(out.success());
    let mut grep = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let o = std::process::Command::new("grep")
            .args(["-ic", "line 77777"])
            .arg(&plain)
            .output()
            .unwrap();
        grep.push(t.elapsed().as_secs_f64());
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), count.to_string());
    }
    let _ = std::fs::remove_file(&plain);
    rows.push(Row {
        what: format!("search of a finished {lines}-line log (\"line 77777\", any case): first hit / whole count of {count} (median of 5)"),
        figure: format!("{} / {}", ms(median(&first_hit)), ms(median(&whole))),
        reference: format!("grep -ic over the same lines as a plain file: {}; goal ≤ 200 ms to the first hit", ms(median(&grep))),
        ratio: format!("{:.2}×", median(&whole) / median(&grep)),
    });
}
