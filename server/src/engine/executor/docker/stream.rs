//! The running job: its output copied to the job's sink until the container's streams close
//! (flushed whenever nothing more is ready — no timer, no fixed batch), its process count
//! watched, its timeout kept, and its exit read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::StatsOptionsBuilder;
use futures::{FutureExt, StreamExt};

use super::container::Output;
use super::failed;
use crate::engine::executor::{JobEnd, JobOutput, JobSpec};

/// Chunks handled before the sink is flushed even if more are ready.
const FLUSH_EVERY: usize = 256;

pub async fn run_to_end(
    docker: &Docker,
    container: &str,
    mut output: Output,
    job: &JobSpec,
    out: &mut dyn JobOutput,
) -> Result<JobEnd, JobEnd> {
    let peak_pids = Arc::new(AtomicU64::new(0));
    let watcher = tokio::spawn(watch_pids(docker.clone(), container.to_string(), peak_pids.clone()));
    let streamed = tokio::time::timeout(job.timeout, copy_output(&mut output, out)).await;
    watcher.abort();
    let hit_pids_limit = peak_pids.load(Ordering::Relaxed) >= job.main.limits.pids as u64;
    match streamed {
        Err(_) => return Ok(JobEnd::TimedOut { hit_pids_limit }),
        Ok(Err(e)) => return Err(failed("reading the job's output", e)),
        Ok(Ok(())) => {}
    }
    let state = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| failed("reading the job's exit code", e))?
        .state
        .unwrap_or_default();
    Ok(JobEnd::Exited {
        code: state.exit_code.unwrap_or(-1),
        oom_killed: state.oom_killed == Some(true),
        hit_pids_limit,
    })
}

async fn copy_output(output: &mut Output, out: &mut dyn JobOutput) -> Result<(), bollard::errors::Error> {
    while let Some(first) = output.next().await {
        let mut item = Some(first);
        let mut budget = FLUSH_EVERY;
        while let Some(chunk) = item.take() {
            match chunk? {
                LogOutput::StdErr { message } => out.output(&message, true),
                other => out.output(other.as_ref(), false),
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
            item = output.next().now_or_never().flatten();
        }
        out.flush();
    }
    Ok(())
}

/// Records the highest process count the job reached, from Docker's stats stream.
async fn watch_pids(docker: Docker, container: String, peak: Arc<AtomicU64>) {
    let options = StatsOptionsBuilder::default().stream(true).build();
    let mut stats = docker.stats(&container, Some(options));
    while let Some(Ok(s)) = stats.next().await {
        if let Some(current) = s.pids_stats.and_then(|p| p.current) {
            peak.fetch_max(current, Ordering::Relaxed);
        }
    }
}
