//! The swarm executor on the test swarm (`scripts/swarm.sh`, brought up by bench.sh): a trivial
//! build against a bare `docker service create --mode replicated-job` of the same image, log
//! latency, cancel, and twelve builds at once on one node against three. The nodes are three
//! daemons on this one machine, sharing its cores: the last row shows the swarm's overhead,
//! not a speed-up.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Row;
use crate::probes::{sse_lines, sse_until};
use crate::server::Server;
use crate::stats::*;

/// `scripts/swarm.sh env`, read from the swarm's env file.
fn swarm_env() -> HashMap<String, String> {
    let dir = std::env::var("SICURO_SWARM_DIR").unwrap_or_else(|_| "/var/lib/sicuro-swarm".into());
    let text = std::fs::read_to_string(Path::new(&dir).join("env"))
        .expect("the test swarm is up (bench.sh runs scripts/swarm.sh up)");
    text.lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn server_env(sw: &HashMap<String, String>, constraints: &str) -> Vec<(String, String)> {
    let nodes: Vec<String> = sw["SICURO_SWARM_NODES"]
        .split_whitespace()
        .map(|n| format!("{n}={}", sw[&format!("SICURO_SWARM_{}_DOCKER_HOST", n.to_uppercase())]))
        .collect();
    [
        ("SICURO_EXECUTOR", "swarm".to_string()),
        ("DOCKER_HOST", sw["SICURO_SWARM_DOCKER_HOST"].clone()),
        (
            "SICURO_SWARM_BUILD_HOST",
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        ),
        ("SICURO_REGISTRY", sw["SICURO_SWARM_REGISTRY"].clone()),
        ("SICURO_REGISTRY_PUSH", sw["SICURO_SWARM_REGISTRY_PUSH"].clone()),
        ("SICURO_SWARM_CONSTRAINTS", constraints.to_string()),
        (
            "SICURO_SWARM_SOURCE_LISTEN",
            format!("{}:0", sw["SICURO_SWARM_HOST_ADDR"]),
        ),
        ("SICURO_SWARM_NODE_HOSTS", nodes.join(",")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn start(bin: &Path, root: &Path, work: &Path, name: &str, env: &[(String, String)]) -> Server {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start(bin, root, work, name, &pairs).await
}

fn docker(host: &str, args: &[&str]) -> std::process::Output {
    Command::new("docker").arg("-H").arg(host).args(args).output().unwrap()
}

/// The registry's reference of `sicuro/base` by digest, as the executor pinned it.
fn pinned_base(sw: &HashMap<String, String>) -> String {
    let push = &sw["SICURO_SWARM_REGISTRY_PUSH"];
    let tags: serde_json::Value = serde_json::from_slice(
        &Command::new("curl")
            .args(["-s", &format!("http://{push}/v2/sicuro/base/tags/list")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let tag = tags["tags"][0]
        .as_str()
        .expect("sicuro/base is in the registry")
        .to_string();
    let head = Command::new("curl")
        .args([
            "-sI",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            &format!("http://{push}/v2/sicuro/base/manifests/{tag}"),
        ])
        .output()
        .unwrap();
    let digest = String::from_utf8_lossy(&head.stdout)
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest: ")
                .map(|d| d.trim().to_string())
        })
        .expect("a digest");
    format!("{}/sicuro/base@{digest}", sw["SICURO_SWARM_REGISTRY"])
}

/// Services of this server's instance still on the manager.
fn services_of(manager: &str, instance: &str, id: i64) -> usize {
    let out = docker(
        manager,
        &[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label=org.sicuro.instance={instance}"),
            "--filter",
            &format!("label=org.sicuro.build={id}"),
        ],
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

pub(crate) async fn rows(bin: &Path, root: &Path, work: &Path, quick: bool) -> Vec<Row> {
    let sw = swarm_env();
    let manager = sw["SICURO_SWARM_DOCKER_HOST"].clone();
    let n = if quick { 5 } else { 20 };
    let mut rows = Vec::new();

    // Trivial builds on the workers, against a bare replicated job of the same image.
    let s = start(bin, root, work, "swarm-trivial", &server_env(&sw, "node.role==worker")).await;
    let repo = s
        .add_repo(work, "swarm-trivial", r#"{"test": {"custom": ["true"]}}"#)
        .await;
    // Warm: the push, and the image pulled on both workers.
    for _ in 0..4 {
        s.build_and_wait(&repo).await;
    }
    let mut ours = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        s.build_and_wait(&repo).await;
        ours.push(t.elapsed().as_secs_f64());
    }
    let image = pinned_base(&sw);
    let mut bare = Vec::new();
    for i in 0..n {
        let name = format!("sicuro-bench-ref-{i}");
        let t = Instant::now();
        let out = docker(
            &manager,
            &[
                "service",
                "create",
                "--quiet",
                "--name",
                &name,
                "--mode",
                "replicated-job",
                "--restart-condition",
                "none",
                "--constraint",
                "node.role==worker",
                "--container-label",
                "org.sicuro.bench=1",
                &image,
                "true",
            ],
        );
        bare.push(t.elapsed().as_secs_f64());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        docker(&manager, &["service", "rm", &name]);
    }
    // Deleted replicated jobs leave their exited containers on 20.10 (moby#42789).
    for node in sw["SICURO_SWARM_NODES"].split_whitespace() {
        let host = &sw[&format!("SICURO_SWARM_{}_DOCKER_HOST", node.to_uppercase())];
        docker(
            host,
            &["container", "prune", "-f", "--filter", "label=org.sicuro.bench=1"],
        );
    }
    rows.push(Row {
        what: format!("swarm: trivial build, trigger → verdict (median of {n})"),
        figure: secs(median(&ours)),
        reference: format!(
            "docker service create --mode replicated-job … true, to completion: {}",
            secs(median(&bare))
        ),
        ratio: format!("{:.2}× (goal ≤ 1.3×)", median(&ours) / median(&bare)),
    });

    // Log latency: each line carries the time it was printed in the job.
    let lines = if quick { 2_000 } else { 10_000 };
    let repo = s
        .add_repo(
            work,
            "swarm-latency",
            &json!({"test": {"custom": [format!("for i in $(seq 1 {lines}); do echo \"t $EPOCHREALTIME\"; if [ $((i % 100)) -eq 0 ]; then sleep 0.01; fi; done")]}}).to_string(),
        )
        .await;
    let id = s.trigger(&repo).await;
    let mut seen = Vec::new();
    let opened = sse_lines(&format!("{}/api/builds/{id}/log/stream", s.url), |text| {
        if let Some(t) = text.strip_prefix("t ").and_then(|t| t.parse::<f64>().ok()) {
            seen.push((t, now_secs() - t));
        }
    })
    .await;
    let lat: Vec<f64> = seen.iter().filter(|(t, _)| *t >= opened).map(|(_, l)| *l).collect();
    rows.push(Row {
        what: format!("swarm: log latency, job line → SSE client, p50 / p99 of {}", lat.len()),
        figure: format!("{} / {}", ms(pct(&lat, 50.0)), ms(pct(&lat, 99.0))),
        reference: "goal p50 ≤ 100 ms, p99 ≤ 500 ms".into(),
        ratio: String::new(),
    });

    // Cancel: request → the job's service gone from the manager.
    let repo = s
        .add_repo(
            work,
            "swarm-cancel",
            r#"{"test": {"custom": ["echo started", "sleep 600"]}}"#,
        )
        .await;
    let instance = s.instance().await;
    let mut cancel = Vec::new();
    for _ in 0..(if quick { 3 } else { 5 }) {
        let id = s.trigger(&repo).await;
        sse_until(&format!("{}/api/builds/{id}/log/stream", s.url), "started").await;
        let t = Instant::now();
        let r = reqwest::Client::new()
            .post(format!("{}/api/builds/{id}/cancel", s.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        while services_of(&manager, &instance, id) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.push(t.elapsed().as_secs_f64());
        s.wait_end(id).await;
    }
    rows.push(Row {
        what: format!("swarm: cancel, request → job service gone (median of {})", cancel.len()),
        figure: ms(median(&cancel)),
        reference: "goal ≤ 2 s".into(),
        ratio: String::new(),
    });
    drop(s);

    // Twelve builds at once, on one worker and on all three nodes.
    for node in sw["SICURO_SWARM_NODES"].split_whitespace() {
        let host = &sw[&format!("SICURO_SWARM_{}_DOCKER_HOST", node.to_uppercase())];
        docker(host, &["pull", "-q", &image]);
    }
    let mut walls = Vec::new();
    for (name, constraints) in [("one", "node.hostname==swn2"), ("three", "")] {
        let mut env = server_env(&sw, constraints);
        env.push(("SICURO_MAX_CONCURRENT_BUILDS".into(), "12".into()));
        let s = start(bin, root, work, &format!("swarm-twelve-{name}"), &env).await;
        let mut repos = Vec::new();
        for i in 0..12 {
            // About a second of one core's work, the same in every build.
            let job = r#"{"test": {"custom": ["i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]}}"#;
            repos.push(s.add_repo(work, &format!("swarm-{name}-{i}"), job).await);
        }
        s.build_and_wait(&repos[0]).await; // warm
        let t = Instant::now();
        let mut ids = Vec::new();
        for r in &repos {
            ids.push(s.trigger(r).await);
        }
        for id in ids {
            let d = s.wait_end(id).await;
            assert_eq!(d["summary"]["status"], "success", "{d}");
        }
        walls.push(t.elapsed().as_secs_f64());
    }
    rows.push(Row {
        what: "swarm: twelve CPU-bound builds at once, first trigger → last verdict, on three nodes".into(),
        figure: secs(walls[1]),
        reference: format!(
            "on one node: {} (the nodes share this machine's cores: overhead, not speed-up)",
            secs(walls[0])
        ),
        ratio: format!("{:.2}×", walls[1] / walls[0]),
    });
    rows
}
