//! Docker Swarm as the executor: one job is, on the swarm's manager, an overlay network private
//! to it (when it has services), its sidecar services on that network, its script as a swarm
//! config, and its own one-replica service, whose task fetches the commit from this process
//! (`source`), runs the script and is followed through its task log. Images reach the nodes
//! through a registry, by digest (`registry`). Each step returns early with the job's end when
//! it fails; whatever the end, everything but the caches is removed, by label.
//!
//! Limits: memory, CPUs and processes are the service's resource limits; the task's exit code
//! is the verdict, and what hit a limit is told by the job itself (`wrapper`), because a task
//! does not report it.

pub mod caches;
pub mod job;
pub mod logs;
pub mod manager;
pub mod network;
pub mod nodes;
pub mod objects;
pub mod placement;
pub mod reaper;
pub mod registry;
pub mod services;
pub mod source;
pub mod tasks;
pub mod watch;
pub mod wrapper;

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use super::docker::images::BuildArgs;
use super::{Executor, JobEnd, JobOutput, JobSpec, Reaped, Source, SourceKind};
use crate::config::SwarmConfig;
use manager::Manager;
use nodes::NodeHosts;
use objects::Objects;
use placement::Placement;
use registry::Registry;
use source::SourceServer;

pub struct SwarmExecutor {
    manager: Arc<Manager>,
    registry: Registry,
    source: SourceServer,
    placement: Placement,
    nodes: NodeHosts,
    config: SwarmConfig,
    /// Labels every object with this installation's id, so clean-up only touches our own.
    instance: String,
}

impl SwarmExecutor {
    /// Starts serving jobs their source (the listener is bound here) and connects lazily to the
    /// manager, so a manager that is away delays builds instead of the server's start.
    pub async fn start(instance: &str, config: SwarmConfig, args: BuildArgs) -> Result<SwarmExecutor, String> {
        let source = SourceServer::bind(config.source_listen, config.source_url.clone())
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on {} for the swarm jobs' source (SICURO_SWARM_SOURCE_LISTEN): {e}",
                    config.source_listen
                )
            })?;
        Ok(SwarmExecutor {
            manager: Arc::new(Manager::new(config.manager.clone())),
            registry: Registry::new(
                config.build_host.clone().or(config.manager.clone()),
                args,
                config.registry.clone(),
                config.registry_push.clone(),
                config.registry_auth.as_ref(),
            ),
            source,
            placement: Placement::default(),
            nodes: NodeHosts(config.node_hosts.clone()),
            config,
            instance: instance.to_string(),
        })
    }

    pub fn source(&self) -> &SourceServer {
        &self.source
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    async fn run_steps(&self, job: &JobSpec, objects: &Objects<'_>, out: &mut dyn JobOutput) -> Result<JobEnd, JobEnd> {
        let Source::Commit { repo, sha, depth } = &job.main.source else {
            return Err(JobEnd::Failed(
                "the swarm executor's jobs fetch a commit; they cannot be handed an archive".into(),
            ));
        };
        let docker = self.manager.get().await.map_err(JobEnd::Failed)?;
        let (image, service_images) = self.pin_images(job, out).await?;
        // Revoked when this function returns, however it ends.
        let grant = self
            .source
            .grant(repo, sha)
            .map_err(|e| JobEnd::Failed(format!("the commit cannot be served to the job: {e}")))?;
        let network = match job.services.is_empty() {
            true => None,
            false => Some(network::create(&docker, &self.manager, objects).await?),
        };
        if let Some(net) = &network {
            let sidecars = services::Sidecars {
                docker: &docker,
                manager: &self.manager,
                registry: &self.registry,
                objects,
                network: net,
                constraints: &self.config.constraints,
                start_timeout: self.config.start_timeout,
            };
            sidecars.start_all(&job.services, &service_images, out).await?;
        }
        let config = job::script_config(&docker, &self.manager, objects, &job.main.script).await?;
        let choice = self
            .placement
            .choose(&docker, &self.config.constraints, &job.caches)
            .await;
        if let Some(n) = &choice.notice {
            out.notice(n);
        }
        let nonce = random_nonce();
        let service = job::JobService {
            job,
            image: &image,
            network: network.as_deref(),
            mounts: caches::mounts(&self.instance, &job.caches),
            constraints: choice.constraints,
            grant: &grant,
            sha,
            depth: *depth,
            nonce: &nonce,
            run_as: self.registry.user_of(&job.main.image).await,
        };
        let service_id = job::create(&docker, &self.manager, &self.registry, objects, config, service).await?;
        let watch = watch::Watch {
            docker: &docker,
            manager: &self.manager,
            placement: &self.placement,
            service_id: &service_id,
            job,
            nonce: &nonce,
            sha,
            depth: *depth,
            start_timeout: self.config.start_timeout,
        };
        watch.run_to_end(out).await
    }

    /// The job's image and its services', pushed to the registry if need be, by digest.
    async fn pin_images(&self, job: &JobSpec, out: &mut dyn JobOutput) -> Result<(String, Vec<String>), JobEnd> {
        let mut pinned = Vec::new();
        let wanted = std::iter::once(job.main.image.as_str()).chain(job.services.iter().map(|s| s.kind.image()));
        for image in wanted {
            let mut progress = |line: &str| {
                out.progress(line);
                out.flush();
            };
            match self.registry.pin(&self.manager, image, &mut progress).await {
                Ok(p) => pinned.push(p),
                Err(message) => {
                    out.notice(&message);
                    return Err(JobEnd::Failed(message));
                }
            }
        }
        let image = pinned.remove(0);
        Ok((image, pinned))
    }
}

#[async_trait::async_trait]
impl Executor for SwarmExecutor {
    fn kind(&self) -> &'static str {
        "swarm"
    }

    async fn run(&self, job: JobSpec, out: &mut dyn JobOutput, stop: CancellationToken) -> JobEnd {
        let objects = Objects::new(&self.instance, &job.key);
        let end = tokio::select! {
            end = self.run_steps(&job, &objects, out) => end.unwrap_or_else(|e| e),
            _ = stop.cancelled() => JobEnd::Stopped,
        };
        if let Ok(docker) = self.manager.get().await {
            objects.remove(&docker, &self.nodes).await;
        }
        self.placement.finished(&job.key);
        out.flush();
        end
    }

    async fn health(&self) -> Result<String, String> {
        self.manager.check().await
    }

    async fn available(&self) -> Result<(), String> {
        self.manager
            .available()
            .await
            .map_err(|why| format!("waiting for the swarm: {why}"))
    }

    fn source_kind(&self) -> SourceKind {
        SourceKind::Commit
    }

    async fn reap(&self, keep: &(dyn Fn() -> HashSet<String> + Send + Sync)) -> Result<Reaped, String> {
        let docker = self.manager.get().await?;
        reaper::reap(&docker, &self.nodes, &self.instance, keep)
            .await
            .map_err(|e| e.to_string())
    }

    fn creations(&self) -> BoxStream<'static, String> {
        let manager = self.manager.clone();
        let instance = self.instance.clone();
        futures::stream::once(async move { manager.get().await })
            .filter_map(|d| async move { d.ok() })
            .flat_map(move |docker| reaper::creations(&docker, &instance))
            .boxed()
    }

    async fn clear_caches(&self, repo_id: i64) -> Result<usize, String> {
        self.placement.forget(repo_id);
        caches::clear(&self.nodes, &self.instance, repo_id).await
    }

    async fn cache_sizes(&self) -> Result<Vec<super::CacheSize>, String> {
        caches::sizes(&self.nodes, &self.instance).await
    }

    async fn remove_cache(&self, repo_id: i64, name: &str) -> Result<bool, String> {
        let removed = caches::remove(&self.nodes, &self.instance, repo_id, name).await?;
        if removed {
            // The node that had it is no better a choice for the next build than another.
            self.placement.forget(repo_id);
        }
        Ok(removed)
    }
}

fn random_nonce() -> String {
    use rand::Rng;
    hex::encode(rand::thread_rng().r#gen::<[u8; 12]>())
}
