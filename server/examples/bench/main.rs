//! The benchmark harness behind `make bench`: starts the real (release) server against the real
//! Docker engine, measures, and prints one table with each figure beside its reference measured
//! in the same run. Browser-side figures come from `end2end/bench/dom.mjs` (run by bench.sh).
//!
//! cargo run --release -p server --example bench -- [--quick] [--swarm] [--only PART]
//!
//! PART is one of idle, trivial, chatty, secrets, deps, github, logs, wasm, queue, retention,
//! caches, swarm.
//! `--swarm` adds the swarm executor's rows, on the test swarm of `scripts/swarm.sh` (bench.sh
//! brings it up); `--only swarm` measures only those.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fake_github::{CommitSpec, FakeGithub, FakeGithubOptions, Permission, RepoSpec};
use serde_json::{Value, json};

mod caches;
mod logs;
mod probes;
mod queue;
mod retention;
mod secrets;
mod server;
mod stats;
mod swarm;

use probes::*;
use server::Server;
use stats::*;

const SECRET: &str = "bench-webhook-secret-0123456789";

struct Row {
    what: String,
    figure: String,
    reference: String,
    ratio: String,
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let quick = std::env::args().any(|a| a == "--quick");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // SICURO_BENCH_BIN: another build of the server (e.g. a debug one, for a quick look).
    let bin = std::env::var_os("SICURO_BENCH_BIN").map_or_else(|| root.join("target/release/sicuro"), PathBuf::from);
    assert!(bin.exists(), "build first: cargo leptos build --release");
    // The references run the job image a build runs: its current version's tag.
    let base = base_image(&bin);
    let work = tempfile::tempdir().unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let n = if quick { 5 } else { 20 };
    // `--only logs` (or idle, trivial, chatty, secrets, deps, github, wasm, queue) runs one part.
    let args: Vec<String> = std::env::args().collect();
    let only = args.windows(2).find(|w| w[0] == "--only").map(|w| w[1].clone());
    let want = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let (chatty_lines, chatty_runs) = if quick { (50_000, 1) } else { (200_000, 5) };

    // Idle memory of a fresh server.
    if want("idle") {
        let s = Server::start(&bin, &root, work.path(), "idle", &[]).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rows.push(Row {
            what: "idle server memory (RSS)".into(),
            figure: mib(s.rss_kb()),
            reference: "—".into(),
            ratio: String::new(),
        });
    }

    // Trivial builds: trigger → verdict, against `docker run --rm` of the same image.
    if want("trivial") {
        let s = Server::start(&bin, &root, work.path(), "trivial", &[]).await;
        let repo = s
            .add_repo(work.path(), "trivial", r#"{"test": {"custom": ["true"]}}"#)
            .await;
        let _warm = s.build_and_wait(&repo).await;
        let mut ours = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            s.build_and_wait(&repo).await;
            ours.push(t.elapsed().as_secs_f64());
        }
        let mut docker = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            assert!(
                Command::new("docker")
                    .args(["run", "--rm", &base, "true"])
                    .output()
                    .unwrap()
                    .status
                    .success()
            );
            docker.push(t.elapsed().as_secs_f64());
        }
        rows.push(Row {
            what: format!("trivial build, trigger → verdict (median of {n})"),
            figure: secs(median(&ours)),
            reference: format!("docker run --rm: {}", secs(median(&docker))),
            ratio: format!("{:.2}×", median(&ours) / median(&docker)),
        });
        rows.push(Row {
            what: format!("trivial build, trigger → verdict (p95 of {n})"),
            figure: secs(pct(&ours, 95.0)),
            reference: format!("docker run --rm: {}", secs(pct(&docker, 95.0))),
            ratio: format!("{:.2}×", pct(&ours, 95.0) / pct(&docker, 95.0)),
        });

        // Log latency: each line carries the time it was printed in the container.
        let lines = if quick { 2_000 } else { 10_000 };
        let repo = s
            .add_repo(
                work.path(),
                "latency",
                &json!({"test": {"custom": [format!("for i in $(seq 1 {lines}); do echo \"t $EPOCHREALTIME\"; if [ $((i % 100)) -eq 0 ]; then sleep 0.01; fi; done")]}}).to_string(),
            )
            .await;
        let id = s.trigger(&repo).await;
        // (time printed, latency); lines printed before the stream was open are not counted: they
        // measure how fast this client connected, not how fast lines travel.
        let mut seen = Vec::new();
        let opened = sse_lines(&format!("{}/api/builds/{id}/log/stream", s.url), |text| {
            if let Some(t) = text.strip_prefix("t ").and_then(|t| t.parse::<f64>().ok()) {
                seen.push((t, now_secs() - t));
            }
        })
        .await;
        let lat: Vec<f64> = seen.iter().filter(|(t, _)| *t >= opened).map(|(_, l)| *l).collect();
        rows.push(Row {
            what: format!("log latency, container line → SSE client, p50 / p99 of {}", lat.len()),
            figure: format!("{} / {}", ms(pct(&lat, 50.0)), ms(pct(&lat, 99.0))),
            reference: "Woodpecker ≈ 1–1.5 s (REFERENCE §2)".into(),
            ratio: String::new(),
        });

        // Cancel: request → container gone.
        let repo = s
            .add_repo(
                work.path(),
                "cancel",
                r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#,
            )
            .await;
        let mut cancel = Vec::new();
        for _ in 0..(if quick { 3 } else { 10 }) {
            let id = s.trigger(&repo).await;
            sse_until(&format!("{}/api/builds/{id}/log/stream", s.url), "started").await;
            let t = Instant::now();
            let r = reqwest::Client::new()
                .post(format!("{}/api/builds/{id}/cancel", s.url))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            while containers_of_build(&s.instance().await, id).await > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cancel.push(t.elapsed().as_secs_f64());
        }
        rows.push(Row {
            what: format!("cancel, request → container gone (median of {})", cancel.len()),
            figure: ms(median(&cancel)),
            reference: "goal ≤ 2 s".into(),
            ratio: String::new(),
        });
    }

    // A chatty job, on fresh servers so that peak memory is the job's.
    let chatty = if want("chatty") { 2 } else { 0 };
    for (lines, watchers) in [
        (if quick { 50_000 } else { 200_000 }, 0usize),
        (if quick { 100_000 } else { 500_000 }, if quick { 10 } else { 50 }),
    ]
    .into_iter()
    .take(chatty)
    {
        let s = Server::start(&bin, &root, work.path(), &format!("chatty-{watchers}"), &[]).await;
        let cmd = format!("seq -f 'line %.0f' 1 {lines}");
        let repo = s
            .add_repo(
                work.path(),
                "chatty",
                &json!({"test": {"custom": [cmd.clone()]}}).to_string(),
            )
            .await;
        s.build_and_wait(&repo).await; // warm: mirror and image
        // Median of 5 where one run is short enough to be noisy.
        let runs = if watchers == 0 && !quick { 5 } else { 1 };
        let (mut ours_runs, mut reference_runs) = (Vec::new(), Vec::new());
        let (mut lost, mut disorder) = (0u64, 0usize);
        for _ in 0..runs {
            let id = s.trigger(&repo).await;
            let counts: Vec<_> = (0..watchers)
                .map(|_| {
                    let url = format!("{}/api/builds/{id}/log/stream", s.url);
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        let mut last = 0u64;
                        let mut in_order = true;
                        sse_lines(&url, |text| {
                            if let Some(k) = text.strip_prefix("line ").and_then(|k| k.parse::<u64>().ok()) {
                                in_order &= k == last + 1;
                                last = k;
                                n += 1;
                            }
                        })
                        .await;
                        (n, in_order)
                    })
                })
                .collect();
            let detail = s.wait_end(id).await;
            ours_runs.push(
                (detail["summary"]["finished_at"].as_i64().unwrap() - detail["summary"]["started_at"].as_i64().unwrap())
                    as f64
                    / 1000.0,
            );
            for c in counts {
                let (got, in_order) = c.await.unwrap();
                lost += lines as u64 - got.min(lines as u64);
                disorder += usize::from(!in_order);
            }
            let t = Instant::now();
            assert!(
                Command::new("docker")
                    .args(["run", "--rm", &base, "sh", "-c", &format!("{cmd} > /dev/null")])
                    .output()
                    .unwrap()
                    .status
                    .success()
            );
            reference_runs.push(t.elapsed().as_secs_f64());
        }
        let (ours, reference) = (median(&ours_runs), median(&reference_runs));
        let of = if runs > 1 {
            format!(" (median of {runs})")
        } else {
            String::new()
        };
        rows.push(Row {
            what: format!("{lines} lines, {watchers} SSE watchers: build wall time{of}"),
            figure: secs(ours),
            reference: format!("same container > /dev/null: {}", secs(reference)),
            ratio: format!("{:.2}×", ours / reference),
        });
        if watchers > 0 {
            rows.push(Row {
                what: format!("{lines} lines, {watchers} SSE watchers: lines lost / out of order"),
                figure: format!("{lost} / {disorder}"),
                reference: "must be 0".into(),
                ratio: String::new(),
            });
        }
        rows.push(Row {
            what: format!("{lines} lines, {watchers} SSE watchers: server peak memory"),
            figure: mib(s.peak_rss_kb()),
            reference: "goal ≤ 64 MiB (200k lines)".into(),
            ratio: String::new(),
        });
    }

    // Masking 20 secrets in the chatty job's output.
    if want("secrets") {
        rows.extend(secrets::masking_cost(&bin, &root, work.path(), chatty_lines, chatty_runs).await);
    }

    // Dependency caches: the same commit again, for a project with real dependencies.
    if want("deps") {
        let s = Server::start(&bin, &root, work.path(), "deps", &[]).await;
        let fixture = root.join("server/tests/fixtures/projects/rust-deps");
        let repo = s.add_repo_from(work.path(), "deps", &fixture).await;
        let t = Instant::now();
        s.build_and_wait(&repo).await;
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        s.build_and_wait(&repo).await;
        let second = t.elapsed().as_secs_f64();
        rows.push(Row {
            what: "rust project with crates.io dependencies: second build of the same commit".into(),
            figure: secs(second),
            reference: format!("first build: {}", secs(first)),
            ratio: format!("{:.2}×", second / first),
        });
    }

    // GitHub: webhook → container started, and signed-webhook throughput.
    if want("github") {
        let fake = FakeGithub::start(FakeGithubOptions {
            client_id: "bench".into(),
            client_secret: "bench-secret".into(),
            state_dir: None,
            port: 0,
        })
        .await
        .unwrap();
        let web = fake.web_url();
        let api = fake.api_url();
        let s = Server::start(
            &bin,
            &root,
            work.path(),
            "github",
            &[
                ("SICURO_GITHUB_URL", web.as_str()),
                ("SICURO_GITHUB_API_URL", api.as_str()),
                ("SICURO_GITHUB_CLIENT_ID", "bench"),
                ("SICURO_GITHUB_CLIENT_SECRET", "bench-secret"),
                ("SICURO_GITHUB_WEBHOOK_SECRET", SECRET),
                ("SICURO_OPEN", "true"),
            ],
        )
        .await;
        fake.add_user("alice").unwrap();
        fake.add_repo(RepoSpec::new("alice/app").collaborator("alice", Permission::Admin))
            .await
            .unwrap();
        fake.commit(
            "alice/app",
            CommitSpec::new("main", "Initial").file("sicuro.json", r#"{"test": {"custom": ["true"]}}"#),
        )
        .await
        .unwrap();
        let client = sign_in(&s.url, "alice").await;
        let csrf = client
            .get(format!("{}/api/me", s.url))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        let r = client
            .post(format!("{}/api/repos/alice/app/subscribe", s.url))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "subscribe: {}", r.text().await.unwrap());
        let instance = s.instance().await;
        let starts = container_starts(&instance);
        let mut lat = Vec::new();
        tokio::time::sleep(Duration::from_secs(2)).await; // let the ping's build go by
        for i in 0..n {
            let push = fake
                .commit(
                    "alice/app",
                    CommitSpec::new("main", &format!("change {i}")).file("n.txt", &i.to_string()),
                )
                .await
                .unwrap();
            let t = now_secs();
            fake.deliver_push(&push).await.unwrap();
            let started = starts.next_after(t).await;
            lat.push(started - t);
        }
        rows.push(Row {
            what: format!("webhook → job container started, p50 / p99 of {n}"),
            figure: format!("{} / {}", ms(pct(&lat, 50.0)), ms(pct(&lat, 99.0))),
            reference: "—".into(),
            ratio: String::new(),
        });
        let seconds = if quick { 2 } else { 5 };
        let repo_id = fake.repo("alice/app").unwrap().id;
        let hooks = throughput(seconds, {
            let url = format!("{}/hooks/github", s.url);
            let counter = Arc::new(AtomicU64::new(0));
            move |client: reqwest::Client| {
                let url = url.clone();
                let counter = counter.clone();
                async move {
                    let body = json!({"action": "opened", "issue": {"number": 1}, "repository": {"id": repo_id, "full_name": "alice/app"}}).to_string();
                    let id = counter.fetch_add(1, Ordering::Relaxed);
                    let sig = sicuro::web::webhook::signature::sign(SECRET.as_bytes(), body.as_bytes());
                    let r = client
                        .post(&url)
                        .header("x-github-event", "issues")
                        .header("x-github-delivery", format!("bench-{id}"))
                        .header("x-hub-signature-256", sig)
                        .body(body)
                        .send()
                        .await;
                    r.is_ok_and(|r| r.status().as_u16() == 202)
                }
            }
        })
        .await;
        let health = throughput(seconds, {
            let url = format!("{}/healthz", s.url);
            move |client: reqwest::Client| {
                let url = url.clone();
                async move { client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) }
            }
        })
        .await;
        rows.push(Row {
            what: "signed webhooks (ignored event), requests/s, 32 concurrent".into(),
            figure: format!("{hooks:.0}/s"),
            reference: format!("/healthz: {health:.0}/s"),
            ratio: format!("{:.2}×", hooks / health),
        });
    }

    // Logs: the fan-out's CPU, readers' memory and search, beside the build named by
    // SICURO_BENCH_BASELINE (an earlier commit's release binary) when given.
    if want("logs") {
        let baseline = std::env::var("SICURO_BENCH_BASELINE").ok().map(PathBuf::from);
        let label = std::env::var("SICURO_BENCH_BASELINE_LABEL").unwrap_or_else(|_| "before".into());
        let (lines, viewers) = if quick { (50_000, 10) } else { (200_000, 50) };
        let (ours, delivered) = logs::fanout_cpu(&bin, &root, work.path(), "new", lines, viewers).await;
        let before = match &baseline {
            Some(b) => Some(
                logs::fanout_cpu(b, &root, work.path(), "baseline", lines, viewers)
                    .await
                    .0,
            ),
            None => None,
        };
        rows.push(Row {
            what: format!(
                "server CPU per million lines delivered to {viewers} live SSE viewers ({} lines delivered)",
                delivered
            ),
            figure: format!("{ours:.2} s"),
            reference: before.map_or("—".into(), |b| format!("{label}: {b:.2} s")),
            ratio: before.map_or(String::new(), |b| format!("{:.2}×", ours / b)),
        });
        let ours = logs::readers_rss(&bin, &root, work.path(), "new").await;
        let before = match &baseline {
            Some(b) => Some(logs::readers_rss(b, &root, work.path(), "baseline").await),
            None => None,
        };
        rows.push(Row {
            what: "20 concurrent readers (JSON and SSE) of a 64 MiB log of 64 KiB lines: server peak memory".into(),
            figure: mib(ours),
            reference: before.map_or("goal ≤ 100 MiB".into(), |b| {
                format!("{label}: {}; goal ≤ 100 MiB", mib(b))
            }),
            ratio: before.map_or(String::new(), |b| format!("{:.2}×", ours as f64 / b as f64)),
        });
        logs::search(&bin, &root, work.path(), &mut rows).await;
    }

    // The WASM bundle: what the first page loads, and the chunks loaded by the pages that need
    // them (the build page's log viewer and reports, the settings page).
    if want("wasm") {
        let pkg = root.join("target/site/pkg");
        let size = |path: &std::path::Path| -> (u64, u64) {
            let raw = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let gz = Command::new("sh")
                .arg("-c")
                .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
                .output()
                .unwrap();
            (raw, String::from_utf8_lossy(&gz.stdout).trim().parse().unwrap_or(0))
        };
        let (raw, gz) = size(&pkg.join("sicuro.wasm"));
        let (mut chunks, mut chunks_raw, mut chunks_gz) = (0, 0, 0);
        for entry in std::fs::read_dir(&pkg).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.file_name() != Some("sicuro.wasm".as_ref()) {
                let (r, g) = size(&path);
                (chunks, chunks_raw, chunks_gz) = (chunks + 1, chunks_raw + r, chunks_gz + g);
            }
        }
        rows.push(Row {
            what: "release WASM the first page loads, raw / gzip".into(),
            figure: format!("{} / {}", kb(raw), kb(gz)),
            reference: format!(
                "goal ≤ 250 KB gzip; {chunks} lazily loaded chunks: {} / {}",
                kb(chunks_raw),
                kb(chunks_gz)
            ),
            ratio: String::new(),
        });
    }

    // The queue with many builds waiting.
    if want("queue") {
        let queued = if quick { 2_000 } else { 10_000 };
        let (indexed, scanning) = queue::claim_ms(work.path(), queued, 100).await;
        rows.push(Row {
            what: format!("queue: claim of the next build, {queued} queued over 100 repositories (per build)"),
            figure: format!("{indexed:.2} ms"),
            reference: format!("reading every queued build per claim (before): {scanning:.2} ms"),
            ratio: format!("{:.2}×", indexed / scanning),
        });
    }

    // Retention over a server's worth of history.
    if want("retention") {
        let (builds, repos) = (100_000, 10);
        let f = retention::pass(work.path(), builds, repos, 1_000).await;
        rows.push(Row {
            what: format!(
                "retention pass over {builds} builds with logs, {repos} repositories keeping 1,000 each ({} removed)",
                f.removed
            ),
            figure: format!(
                "{} (next pass: {})",
                secs(f.first_pass.as_secs_f64()),
                ms(f.second_pass.as_secs_f64())
            ),
            reference: format!(
                "one DELETE of the same rows, no logs: {}",
                secs(f.bare_delete.as_secs_f64())
            ),
            ratio: format!("{:.1}×", f.first_pass.as_secs_f64() / f.bare_delete.as_secs_f64()),
        });
    }

    if want("caches") {
        let (caches, files) = if quick { (5, 5_000) } else { (10, 20_000) };
        let f = caches::sizes(caches, files).await;
        rows.push(Row {
            what: format!(
                "measuring the caches for SICURO_CACHE_LIMIT: {caches} caches of {files} files ({})",
                mib(f.bytes / 1024)
            ),
            figure: ms(f.ours.as_secs_f64()),
            reference: format!("docker system df -v, same volumes: {}", ms(f.docker_df.as_secs_f64())),
            ratio: format!("{:.1}×", f.ours.as_secs_f64() / f.docker_df.as_secs_f64()),
        });
    }

    if only.as_deref() == Some("swarm") || (only.is_none() && args.iter().any(|a| a == "--swarm")) {
        rows.extend(swarm::rows(&bin, &root, work.path(), quick).await);
    }

    print_table(&rows);
}

fn print_table(rows: &[Row]) {
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0))
        })
        .unwrap_or(0);
    let docker = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "\nSicuro benchmarks — {date} — {cpus} CPUs, {} GiB RAM, Docker {docker}\n",
        mem / 1024 / 1024
    );
    println!("| measurement | Sicuro | reference (same run) | ratio |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r.what, r.figure, r.reference, r.ratio);
    }
}

/// `sicuro/base:<hash>`, the current version of the base image, as `sicuro images` names it
/// (building it when missing): images are tagged by their recipe's hash, not `latest`.
fn base_image(bin: &std::path::Path) -> String {
    let out = Command::new(bin).arg("images").output().expect("sicuro images");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .find(|w| w.starts_with("sicuro/base:"))
        .unwrap_or_else(|| panic!("sicuro images named no sicuro/base: {text}"))
        .to_string()
}
