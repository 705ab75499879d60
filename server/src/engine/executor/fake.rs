//! An executor for tests of everything around the engine (webhooks, statuses, pages, streams)
//! where Docker adds nothing: it runs the job's script with the host's bash in a directory of
//! its own, with the job's environment only, and remembers every job it was given so tests can
//! check what a build received (its environment, its caches). No isolation at all: never for
//! real builds, which is why no setting selects it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{Executor, JobEnd, JobOutput, JobSpec, Reaped, Source};

pub struct FakeExecutor {
    root: PathBuf,
    jobs: Mutex<Vec<JobSpec>>,
}

impl FakeExecutor {
    /// Jobs run in directories under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            jobs: Mutex::new(Vec::new()),
        }
    }

    /// Every job started so far, in order.
    pub fn jobs(&self) -> Vec<JobSpec> {
        self.jobs.lock().expect("fake jobs").clone()
    }

    fn cache_dir(&self, repo_id: i64, name: &str) -> PathBuf {
        self.root.join("caches").join(format!("r{repo_id}-{name}"))
    }

    async fn run_job(
        &self,
        job: &JobSpec,
        out: &mut dyn JobOutput,
        stop: &CancellationToken,
    ) -> Result<JobEnd, String> {
        if !job.services.is_empty() {
            return Err("the fake executor runs no services".into());
        }
        let dir = self.root.join("jobs").join(&job.key);
        let _ = std::fs::remove_dir_all(&dir);
        let Source::Archive(source) = &job.main.source else {
            return Err("the fake executor takes the source as an archive".into());
        };
        unpack(source, &dir).map_err(|e| format!("the source could not be unpacked: {e}"))?;
        for cache in &job.caches {
            std::fs::create_dir_all(self.cache_dir(cache.repo_id, &cache.name)).map_err(|e| e.to_string())?;
        }
        let script = dir.join("run.sh");
        std::fs::write(&script, &job.main.script).map_err(|e| e.to_string())?;
        let mut child = Command::new("bash")
            .arg(&script)
            .current_dir(dir.join("workspace"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .envs(job.main.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("bash could not be started: {e}"))?;
        let pid = child.id().map(|p| p as i32);
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let copy = async {
            let (mut a, mut b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                tokio::select! {
                    n = stdout.read(&mut a), if out_open => match n {
                        Ok(0) | Err(_) => out_open = false,
                        Ok(n) => out.output(&a[..n], false),
                    },
                    n = stderr.read(&mut b), if err_open => match n {
                        Ok(0) | Err(_) => err_open = false,
                        Ok(n) => out.output(&b[..n], true),
                    },
                }
                out.flush();
            }
            child.wait().await
        };
        let end = tokio::select! {
            status = tokio::time::timeout(job.timeout, copy) => match status {
                Ok(Ok(s)) => JobEnd::Exited {
                    code: exit_code(s),
                    oom_killed: false,
                    hit_pids_limit: false,
                },
                Ok(Err(e)) => return Err(format!("waiting for bash failed: {e}")),
                Err(_) => JobEnd::TimedOut { hit_pids_limit: false },
            },
            _ = stop.cancelled() => JobEnd::Stopped,
        };
        if let Some(pid) = pid {
            // The whole process group: the script's children too.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(end)
    }
}

fn exit_code(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
        .unwrap_or(-1)
}

fn unpack(tar_bytes: &[u8], dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("workspace"))?;
    tar::Archive::new(tar_bytes).unpack(dir)
}

#[async_trait::async_trait]
impl Executor for FakeExecutor {
    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn run(&self, job: JobSpec, out: &mut dyn JobOutput, stop: CancellationToken) -> JobEnd {
        self.jobs.lock().expect("fake jobs").push(job.clone());
        let end = self.run_job(&job, out, &stop).await.unwrap_or_else(JobEnd::Failed);
        out.flush();
        end
    }

    async fn health(&self) -> Result<String, String> {
        Ok("fake executor".into())
    }

    async fn reap(&self, _keep: &(dyn Fn() -> HashSet<String> + Send + Sync)) -> Result<Reaped, String> {
        Ok(Reaped::default())
    }

    async fn clear_caches(&self, repo_id: i64) -> Result<usize, String> {
        let prefix = format!("r{repo_id}-");
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("caches"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_dir_all(entry.path()).map_err(|e| e.to_string())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn cache_sizes(&self) -> Result<Vec<super::CacheSize>, String> {
        let mut sizes = Vec::new();
        for entry in std::fs::read_dir(self.root.join("caches"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = entry.file_name().to_string_lossy().into_owned();
            let Some((repo, name)) = dir.strip_prefix('r').and_then(|d| d.split_once('-')) else {
                continue;
            };
            let Ok(repo_id) = repo.parse() else { continue };
            sizes.push(super::CacheSize {
                repo_id,
                name: name.to_string(),
                bytes: dir_size(&entry.path()),
            });
        }
        Ok(sizes)
    }

    async fn remove_cache(&self, repo_id: i64, name: &str) -> Result<bool, String> {
        match std::fs::remove_dir_all(self.cache_dir(repo_id, name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(true),
        }
    }
}

/// The bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
