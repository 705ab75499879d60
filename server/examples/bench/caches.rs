//! Measuring the dependency caches for `SICURO_CACHE_LIMIT`: the retention pass's
//! `Executor::cache_sizes` (one short container that mounts every cache read-only and runs
//! `du`) over caches of many small files, like `node_modules` or a cargo registry. The
//! reference, over the same volumes in the same run: Docker's own measure, `docker system df -v`.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sicuro::engine::executor::Executor;
use sicuro::engine::executor::docker::DockerExecutor;
use sicuro::engine::executor::docker::client::DockerHandle;
use sicuro::engine::executor::docker::images::{BuildArgs, Images};

pub struct Figures {
    pub ours: Duration,
    pub docker_df: Duration,
    pub bytes: u64,
}

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `caches` volumes of `files` files each, measured three times each way.
pub async fn sizes(caches: usize, files: usize) -> Figures {
    let instance = format!("bench{}", std::process::id());
    // The server's own image versions (its defaults: the host's extra CA certificates).
    let args = || {
        let config = sicuro::config::Config::from_env(&sicuro::config::Env::from_pairs([])).unwrap();
        BuildArgs::with_extra_ca_certs(config.engine.extra_ca_certs)
    };
    let image = Images::new(Arc::new(DockerHandle::new()), args())
        .ensure("sicuro/sandbox", &mut |_| {})
        .await
        .unwrap();
    let volumes: Vec<String> = (0..caches)
        .map(|r| format!("sicuro-cache-{}-r{r}-node", &instance[..8.min(instance.len())]))
        .collect();
    for (r, volume) in volumes.iter().enumerate() {
        let labels = HashMap::from([
            ("org.sicuro.instance", instance.clone()),
            ("org.sicuro.cache", "1".to_string()),
            ("org.sicuro.repo", r.to_string()),
        ]);
        let mut args = vec!["volume".to_string(), "create".to_string()];
        for (k, v) in &labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push(volume.clone());
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let fill = format!(
            "mkdir -p /c/pkg && cd /c/pkg && i=0; while [ $i -lt {files} ]; do echo \"module $i\" > m$i.js; i=$((i+1)); done"
        );
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{volume}:/c"),
            &image,
            "sh",
            "-c",
            &fill,
        ]);
    }
    let executor = DockerExecutor::new(&instance, args());
    let mut ours = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let sizes = executor.cache_sizes().await.unwrap();
        ours.push(started.elapsed());
        assert_eq!(sizes.len(), caches, "{sizes:?}");
        bytes = sizes.iter().map(|c| c.bytes).sum();
    }
    let mut docker_df = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        docker(&["system", "df", "-v"]);
        docker_df.push(started.elapsed());
    }
    for volume in &volumes {
        docker(&["volume", "rm", volume]);
    }
    Figures {
        ours: median(ours),
        docker_df: median(docker_df),
        bytes,
    }
}
