//! Images reach the nodes through a registry. Sicuro's own images are built as for the local
//! executor (on the build host), tagged with their recipe's hash and pushed when the registry
//! lacks that tag; jobs then name them by digest, so every node runs the same bytes and no task
//! asks the registry what a tag means. Other images (a project's `"image": "node:22"`) are left
//! for the nodes to pull from wherever they name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, RemoveImageOptions, TagImageOptions};
use futures::StreamExt;

use super::manager::Manager;
use crate::config::RegistryAuth;
use crate::engine::executor::docker::client::DockerHandle;
use crate::engine::executor::docker::images::{BuildArgs, Images, ProgressFn, recipe_for};

pub struct Registry {
    images: Images,
    build: Arc<DockerHandle>,
    /// The registry as the nodes pull from it, and as the build host pushes to it.
    pull: String,
    push: String,
    auth: Option<DockerCredentials>,
    /// `sicuro/base:<hash>` → `<registry>/sicuro/base@sha256:…`, once known.
    pinned: Mutex<HashMap<String, String>>,
}

/// One push of an image at a time in this process, whichever executor asks: a push tags the
/// image for the registry and removes the tag afterwards, which would cut another push of the
/// same image short.
fn push_lock(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = std::sync::OnceLock::new();
    LOCKS
        .get_or_init(Default::default)
        .lock()
        .expect("push locks")
        .entry(key.to_string())
        .or_default()
        .clone()
}

impl Registry {
    pub fn new(
        build_host: Option<String>,
        args: BuildArgs,
        pull: String,
        push: String,
        auth: Option<&RegistryAuth>,
    ) -> Self {
        let build = Arc::new(DockerHandle::with_host(build_host));
        Self {
            images: Images::new(build.clone(), args),
            build,
            auth: auth.map(|a| DockerCredentials {
                username: Some(a.username.clone()),
                password: Some(a.password.clone()),
                serveraddress: Some(pull.clone()),
                ..Default::default()
            }),
            pull,
            push,
            pinned: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials the manager passes to the nodes for pulling.
    pub fn credentials(&self) -> Option<DockerCredentials> {
        self.auth.clone()
    }

    /// The user an image's processes run as (its `USER`), when the build host has the image and
    /// it is not root.
    pub async fn user_of(&self, image: &str) -> Option<String> {
        let local = recipe_for(image).map_or(image.to_string(), |r| r.tag(&self.images.hash(&r)));
        let docker = self.build.get().await.ok()?;
        let user = docker.inspect_image(&local).await.ok()?.config?.user?;
        (!user.is_empty() && user != "root" && user != "0" && !user.starts_with("0:")).then_some(user)
    }

    /// The reference a node should run for `image`: ours by digest (built and pushed first if
    /// need be), others as given.
    pub async fn pin(&self, manager: &Manager, image: &str, progress: &mut ProgressFn<'_>) -> Result<String, String> {
        let Some(recipe) = recipe_for(image) else {
            return Ok(image.to_string());
        };
        self.images.ensure(image, progress).await.map_err(|e| e.to_string())?;
        let hash = self.images.hash(&recipe);
        let repo = format!("sicuro/{}", recipe.name);
        let key = format!("{repo}:{hash}");
        let lock = push_lock(&format!("{}/{key}", self.push));
        let _guard = lock.lock().await;
        if let Some(p) = self.pinned.lock().expect("pinned").get(&key) {
            return Ok(p.clone());
        }
        let digest = match self.in_registry(manager, &key).await? {
            Some(d) => d,
            None => match self.push_image(&recipe.tag(&hash), &repo, &hash, progress).await {
                Ok(d) => d,
                // Another process may have pushed the same image meanwhile.
                Err(e) => self.in_registry(manager, &key).await?.ok_or(e)?,
            },
        };
        let pinned = format!("{}/{repo}@{digest}", self.pull);
        self.pinned.lock().expect("pinned").insert(key, pinned.clone());
        Ok(pinned)
    }

    /// The digest of `<registry>/<key>`, if the registry has it. Asked through the manager, the
    /// registry is seen as the nodes see it.
    async fn in_registry(&self, manager: &Manager, key: &str) -> Result<Option<String>, String> {
        let docker = manager.get().await?;
        Ok(docker
            .inspect_registry_image(&format!("{}/{key}", self.pull), self.auth.clone())
            .await
            .ok()
            .and_then(|d| d.descriptor.digest)
            .filter(|d| d.starts_with("sha256:")))
    }

    /// Tags the build host's image as `<push>/<repo>:<tag>`, pushes it, and returns its digest.
    async fn push_image(
        &self,
        local: &str,
        repo: &str,
        tag: &str,
        progress: &mut ProgressFn<'_>,
    ) -> Result<String, String> {
        let docker = self.build.get().await.map_err(|e| e.to_string())?;
        let target = format!("{}/{repo}", self.push);
        let started = Instant::now();
        progress(&format!(
            "Pushing {repo}:{tag} to the registry {} (once per recipe change)…",
            self.push
        ));
        docker
            .tag_image(
                local,
                Some(TagImageOptions {
                    repo: Some(target.clone()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(|e| format!("could not tag {local} for the registry: {e}"))?;
        let pushed = self.push_stream(&docker, &target, tag).await;
        // The tag was only the push's handle; the image stays under its own name.
        let _ = docker
            .remove_image(
                &format!("{target}:{tag}"),
                Some(RemoveImageOptions {
                    noprune: true,
                    ..Default::default()
                }),
                None,
            )
            .await;
        let digest = pushed?;
        progress(&format!(
            "Pushed {repo}:{tag} in {:.1} s ({digest}).",
            started.elapsed().as_secs_f64()
        ));
        Ok(digest)
    }

    async fn push_stream(&self, docker: &bollard::Docker, target: &str, tag: &str) -> Result<String, String> {
        let failed = |why: String| {
            format!(
                "pushing {target}:{tag} failed: {why}. Check that the registry SICURO_REGISTRY_PUSH={} answers and \
                 accepts pushes from this Docker engine (TLS, or an insecure-registries entry for a plain HTTP registry)",
                self.push
            )
        };
        let mut stream = docker.push_image(
            target,
            Some(PushImageOptions {
                tag: Some(tag.to_string()),
                platform: None,
            }),
            self.auth.clone(),
        );
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(e.to_string()))?;
            // Errors come inside the stream, under HTTP 200.
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(message));
            }
            if let Some(d) = info.status.as_deref().and_then(digest_of) {
                digest = Some(d);
            }
        }
        digest.ok_or_else(|| failed("the registry reported no digest".into()))
    }
}

/// The digest in a push's last status, `<tag>: digest: sha256:… size: N`.
fn digest_of(status: &str) -> Option<String> {
    let d = status.split("digest: ").nth(1)?.split_whitespace().next()?;
    (d.starts_with("sha256:") && d.len() == 71).then(|| d.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_digest_is_read_from_the_push_status() {
        let s = format!("296bba: digest: sha256:{} size: 1573", "f".repeat(64));
        assert_eq!(super::digest_of(&s), Some(format!("sha256:{}", "f".repeat(64))));
        assert_eq!(super::digest_of("Pushed"), None);
    }
}
