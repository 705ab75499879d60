//! The local Docker engine as an executor: one job is a private bridge network (when it has
//! services), service containers on it, cache volumes, and the main container, whose output is
//! read from its attach stream. Each step returns early with the job's end when it fails;
//! whatever the end, everything but the caches is removed.

pub mod caches;
pub mod client;
pub mod container;
pub mod images;
pub mod network;
pub mod reaper;
pub mod sandbox;
pub mod services;
pub mod stream;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use super::{Executor, JobEnd, JobOutput, JobSpec, Reaped};
use client::{DockerHandle, LABEL_BUILD, LABEL_INSTANCE, LABEL_ROLE, is_connection_error};
use images::{BuildArgs, Images};

pub struct DockerExecutor {
    docker: Arc<DockerHandle>,
    images: Arc<Images>,
    /// Labels every object with this installation's id, so clean-up only touches our own.
    instance: String,
}

impl DockerExecutor {
    pub fn new(instance: &str, build_args: BuildArgs) -> Self {
        let docker = Arc::new(DockerHandle::new());
        Self {
            images: Arc::new(Images::new(docker.clone(), build_args)),
            docker,
            instance: instance.to_string(),
        }
    }

    pub fn images(&self) -> &Arc<Images> {
        &self.images
    }

    pub fn docker(&self) -> &Arc<DockerHandle> {
        &self.docker
    }

    /// `created`: containers made while `res` is lent to another step, recorded at once (the
    /// caller removes them too, even when a cancel drops this future half way).
    async fn run_steps(
        &self,
        job: &JobSpec,
        out: &mut dyn JobOutput,
        res: &mut Resources,
        created: &std::sync::Mutex<Vec<String>>,
    ) -> Result<JobEnd, JobEnd> {
        let docker = self.docker.get().await.map_err(|e| JobEnd::Failed(e.to_string()))?;
        let objects = Objects {
            instance: &self.instance,
            key: &job.key,
        };
        let images = self.ensure_images(job, out).await?;
        let network = network::create(&docker, &objects, res).await?;
        let sandbox = sandbox::create(&docker, &objects, job, &images[sandbox::IMAGE], &network, res).await?;
        // While the sandbox starts (and then the services), the job's container is created
        // and given its files: a container start is the slowest step of a short build.
        let image = &images[&job.main.image];
        let prepare = async {
            let mounts = caches::mounts(&docker, &self.instance, &job.caches).await?;
            let container = container::create(&docker, &objects, job, image, &sandbox, mounts).await?;
            created.lock().expect("created containers").push(container.clone());
            let uploaded = container::upload(&docker, &container, job).await;
            Ok::<_, JobEnd>((container, uploaded))
        };
        let ready = async {
            sandbox::start(&docker, &sandbox).await?;
            services::start_all(&docker, &objects, &job.services, &images, &sandbox, out, res).await
        };
        let (ready, prepared) = tokio::join!(ready, prepare);
        let (container, uploaded) = prepared?;
        ready?;
        uploaded?;
        let output = container::attach_and_start(&docker, &container, "the job container").await?;
        stream::run_to_end(&docker, &container, output, job, out).await
    }

    /// The sandbox's, the job's and its services' images, built or pulled when missing; each
    /// name (`sicuro/node`) maps to the reference to run (its recipe version's tag).
    async fn ensure_images(&self, job: &JobSpec, out: &mut dyn JobOutput) -> Result<HashMap<String, String>, JobEnd> {
        let mut wanted = vec![sandbox::IMAGE.to_string(), job.main.image.clone()];
        wanted.extend(job.services.iter().map(|s| s.kind.image().to_string()));
        let mut references = HashMap::new();
        for image in wanted {
            let mut progress = |line: &str| {
                out.progress(line);
                out.flush();
            };
            match self.images.ensure(&image, &mut progress).await {
                Ok(reference) => references.insert(image, reference),
                Err(e) => {
                    let message = e.to_string();
                    out.notice(&message);
                    return Err(JobEnd::Failed(message));
                }
            };
        }
        Ok(references)
    }
}

#[async_trait::async_trait]
impl Executor for DockerExecutor {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn run(&self, job: JobSpec, out: &mut dyn JobOutput, stop: CancellationToken) -> JobEnd {
        let mut resources = Resources::default();
        let created = std::sync::Mutex::new(Vec::new());
        let end = tokio::select! {
            end = self.run_steps(&job, out, &mut resources, &created) => end.unwrap_or_else(|e| e),
            _ = stop.cancelled() => JobEnd::Stopped,
        };
        resources
            .containers
            .extend(created.into_inner().expect("created containers"));
        if let Ok(docker) = self.docker.get().await {
            resources.remove(&docker).await;
        }
        out.flush();
        end
    }

    async fn health(&self) -> Result<String, String> {
        self.docker.version().await.map_err(|e| e.to_string())
    }

    async fn reap(&self, keep: &(dyn Fn() -> HashSet<String> + Send + Sync)) -> Result<Reaped, String> {
        let docker = self.docker.get().await.map_err(|e| e.to_string())?;
        reaper::reap(&docker, &self.instance, keep)
            .await
            .map_err(|e| e.to_string())
    }

    fn creations(&self) -> BoxStream<'static, String> {
        let docker = self.docker.clone();
        let instance = self.instance.clone();
        futures::stream::once(async move { docker.get().await })
            .filter_map(|d| async move { d.ok() })
            .flat_map(move |docker| reaper::creations(&docker, &instance))
            .boxed()
    }

    async fn clear_caches(&self, repo_id: i64) -> Result<usize, String> {
        let docker = self.docker.get().await.map_err(|e| e.to_string())?;
        caches::clear(&docker, &self.instance, repo_id).await
    }

    async fn cache_sizes(&self) -> Result<Vec<super::CacheSize>, String> {
        let docker = self.docker.get().await.map_err(|e| e.to_string())?;
        let volumes = caches::list(&docker, &self.instance).await?;
        if volumes.is_empty() {
            return Ok(Vec::new());
        }
        // The sandbox's image is small, has `du`, and is there wherever a job has run.
        let image = self
            .images
            .ensure(sandbox::IMAGE, &mut |_| {})
            .await
            .map_err(|e| e.to_string())?;
        caches::sizes(&docker, &self.instance, volumes, &image).await
    }

    async fn remove_cache(&self, repo_id: i64, name: &str) -> Result<bool, String> {
        let docker = self.docker.get().await.map_err(|e| e.to_string())?;
        caches::remove(&docker, &self.instance, repo_id, name).await
    }

    async fn remove_old_images(&self, grace: std::time::Duration) -> Result<usize, String> {
        self.images.remove_old_versions(grace).await
    }
}

/// Names and labels of one job's objects.
pub struct Objects<'a> {
    pub instance: &'a str,
    pub key: &'a str,
}

impl Objects<'_> {
    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_INSTANCE.to_string(), self.instance.to_string()),
            (LABEL_BUILD.to_string(), self.key.to_string()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ])
    }

    /// Joins a container to the build's network namespace (the sandbox's).
    pub fn in_sandbox(sandbox: &str) -> String {
        format!("container:{sandbox}")
    }

    pub fn name(&self, what: &str) -> String {
        let inst: String = self.instance.chars().take(8).collect();
        format!("sicuro-{inst}-{}-{what}", self.key)
    }
}

/// What a job created, removed whatever the outcome.
#[derive(Default)]
pub struct Resources {
    pub containers: Vec<String>,
    pub network: Option<String>,
}

impl Resources {
    async fn remove(&mut self, docker: &Docker) {
        let removals = self.containers.drain(..).map(|c| async move {
            let _ = docker.remove_container(&c, Some(force_remove())).await;
        });
        futures::future::join_all(removals).await;
        if let Some(n) = self.network.take() {
            let _ = docker.remove_network(&n).await;
        }
    }
}

/// The capabilities a job (and a service) keeps: what package managers and test suites need —
/// files' owners and modes, users and groups, signals, low ports, file capabilities (dpkg), audit
/// messages (su, sudo). Not raw sockets, device nodes, chroot, or network administration.
pub const JOB_CAPABILITIES: [&str; 10] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "NET_BIND_SERVICE",
    "AUDIT_WRITE",
];

pub fn force_remove() -> bollard::query_parameters::RemoveContainerOptions {
    RemoveContainerOptionsBuilder::default().force(true).v(true).build()
}

/// Removes a container a previous attempt of the same job may have left under this name.
pub async fn remove_stale(docker: &Docker, name: &str) {
    let _ = docker.remove_container(name, Some(force_remove())).await;
}

/// What a Docker error means for the job: the daemon gone, or a refused request.
pub fn failed(context: &str, e: bollard::errors::Error) -> JobEnd {
    if is_connection_error(&e) {
        JobEnd::Failed(format!(
            "lost the Docker engine while {context}: {e}. Check that dockerd is running; rebuild when it is back"
        ))
    } else {
        JobEnd::Failed(format!("Docker refused {context}: {e}"))
    }
}
