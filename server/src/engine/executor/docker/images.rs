//! Job and service images, built locally from the recipes in `images/` (embedded in the binary)
//! when they are missing or their recipe changed. There is no registry to pull from, so the
//! root image is bootstrapped from Debian's packages by `images/base/bootstrap.sh`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptions,
};
use futures::StreamExt;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use super::client::{DockerHandle, DockerUnavailable};

static RECIPES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../images");

/// The image every recipe ultimately starts from, made by `base/bootstrap.sh`.
pub const ROOT_IMAGE: &str = "sicuro/debian:trixie";
pub const LABEL_RECIPE: &str = "org.sicuro.recipe";
const PREFIX: &str = "sicuro/";

/// Receives progress lines (image build output).
pub type ProgressFn<'a> = dyn FnMut(&str) + Send + 'a;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Docker(#[from] DockerUnavailable),
    #[error("building image {image} failed: {message}")]
    BuildFailed { image: String, message: String },
    #[error(
        "image {0} is not on this Docker engine and cannot be pulled; build or load it there first (`docker build -t {0} …`)"
    )]
    Missing(String),
    #[error("the root image {ROOT_IMAGE} could not be bootstrapped: {0}")]
    Bootstrap(String),
}

/// One recipe: a directory of `images/` with a Dockerfile.
#[derive(Clone, Debug)]
pub struct Recipe {
    pub name: String,
    dir: &'static Dir<'static>,
    /// The image the final stage starts from (the last `FROM`).
    pub from: String,
    /// Every image a `FROM` names (stages of a multi-stage build included), in order.
    parents: Vec<String>,
}

impl Recipe {
    /// The image's name as plans and `sicuro.json` say it: `sicuro/node`.
    pub fn image(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }

    /// The tag of one version of the recipe. Each version has its own, so that engines and
    /// binaries with different recipes can share one Docker engine without rebuilding each
    /// other's images or running each other's.
    pub fn tag(&self, hash: &str) -> String {
        format!("{PREFIX}{}:{hash}", self.name)
    }

    fn dockerfile(&self) -> &'static str {
        self.dir
            .get_file(self.dir.path().join("Dockerfile"))
            .and_then(|f| f.contents_utf8())
            .unwrap_or_default()
    }

    /// The recipe's own files, as (path inside the context, contents).
    fn files(&self) -> Vec<(String, &'static [u8])> {
        let mut out = Vec::new();
        collect_files(self.dir, self.dir.path(), &mut out);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn collect_files(dir: &'static Dir<'static>, root: &std::path::Path, out: &mut Vec<(String, &'static [u8])>) {
    for f in dir.files() {
        let rel = f.path().strip_prefix(root).unwrap_or(f.path());
        out.push((rel.to_string_lossy().into_owned(), f.contents()));
    }
    for d in dir.dirs() {
        collect_files(d, root, out);
    }
}

/// Every recipe in `images/`.
pub fn recipes() -> Vec<Recipe> {
    let mut out: Vec<Recipe> = RECIPES
        .dirs()
        .filter_map(|d| {
            let name = d.path().file_name()?.to_str()?.to_string();
            let text = d.get_file(d.path().join("Dockerfile"))?.contents_utf8()?;
            let parents = from_images(text);
            let from = parents.last()?.clone();
            Some(Recipe {
                name,
                dir: d,
                from,
                parents,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One `FROM` line's parts: the image and what follows it (`AS name`), or `None` for other lines.
fn parse_from(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start();
    let keyword = rest.get(..5)?;
    if !keyword.eq_ignore_ascii_case("from ") {
        return None;
    }
    // Skip flags such as `--platform=linux/amd64`.
    let mut rest = rest[5..].trim_start();
    while rest.starts_with("--") {
        rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r).trim_start();
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// Whether `tag` names a version of one of our recipes other than the current ones.
fn is_older_version(tag: &str, current: &std::collections::HashSet<String>) -> bool {
    let Some((image, _version)) = tag.rsplit_once(':') else {
        return false;
    };
    recipe_for(image).is_some() && !current.contains(tag)
}

/// The images the Dockerfile's `FROM` lines start from, leaving out earlier stages (`FROM a AS b`
/// then `FROM b`).
fn from_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for (image, rest) in dockerfile.lines().filter_map(parse_from) {
        if !stages.iter().any(|s| s.eq_ignore_ascii_case(image)) {
            images.push(image.to_string());
        }
        let mut words = rest.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("as"))
            && let Some(stage) = words.next()
        {
            stages.push(stage.to_string());
        }
    }
    images
}

/// The Dockerfile with each `FROM` image that `resolve` knows replaced by what it returns (the
/// parent's tag of its current recipe), so the build starts from exactly that version.
fn rewrite_from(dockerfile: &str, resolve: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(dockerfile.len() + 64);
    for line in dockerfile.split_inclusive('\n') {
        match parse_from(line).and_then(|(image, _)| Some((image, resolve(image)?))) {
            Some((image, resolved)) => {
                // `image` borrows from `line`: its offset is exact, whatever else the line holds.
                let at = image.as_ptr() as usize - line.as_ptr() as usize;
                out.push_str(&line[..at]);
                out.push_str(&resolved);
                out.push_str(&line[at + image.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The recipe that makes `image` (`sicuro/node`, `sicuro/node:latest`), if it is one of ours.
pub fn recipe_for(image: &str) -> Option<Recipe> {
    let name = image.strip_prefix(PREFIX)?;
    let name = name.strip_suffix(":latest").unwrap_or(name);
    recipes().into_iter().find(|r| r.name == name)
}

/// The recipe's hash, which changes when its files, its build arguments or any ancestor's change.
pub fn recipe_hash(recipe: &Recipe, args: &BuildArgs) -> String {
    let mut h = Sha256::new();
    for parent in &recipe.parents {
        match recipe_for(parent) {
            Some(parent) => h.update(recipe_hash(&parent, args).as_bytes()),
            None => h.update(parent.as_bytes()),
        }
    }
    for (k, v) in args.for_recipe(recipe) {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    for (path, contents) in recipe.files() {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((contents.len() as u64).to_le_bytes());
        h.update(contents);
    }
    hex::encode(&h.finalize()[..12])
}

/// Build arguments given to the recipes that declare them (`ARG NAME` in the Dockerfile).
#[derive(Clone, Debug, Default)]
pub struct BuildArgs(pub Vec<(String, String)>);

impl BuildArgs {
    /// `EXTRA_CA_CERTS`: certificates the host trusts beyond the public roots (a TLS-inspecting
    /// proxy's, a company CA), so that jobs can reach package registries through it.
    pub fn with_extra_ca_certs(pem: Option<String>) -> Self {
        Self(
            pem.filter(|p| !p.trim().is_empty())
                .map(|p| ("EXTRA_CA_CERTS".to_string(), p))
                .into_iter()
                .collect(),
        )
    }

    fn for_recipe<'a>(&'a self, recipe: &Recipe) -> impl Iterator<Item = (&'a str, &'a str)> {
        let dockerfile = recipe.dockerfile();
        let declared: Vec<String> = dockerfile
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ARG "))
            .map(|a| a.split('=').next().unwrap_or_default().trim().to_string())
            .collect();
        self.0
            .iter()
            .filter(move |(k, _)| declared.iter().any(|d| d == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Builds images on demand; one build of each image at a time.
pub struct Images {
    docker: Arc<DockerHandle>,
    args: BuildArgs,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Images {
    pub fn new(docker: Arc<DockerHandle>, args: BuildArgs) -> Self {
        Self {
            docker,
            args,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn hash(&self, recipe: &Recipe) -> String {
        recipe_hash(recipe, &self.args)
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("image locks")
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Makes sure `image` exists: builds our recipes when missing or changed, pulls others.
    /// Returns the reference to run: for one of our recipes the tag of its current version
    /// (`sicuro/node:<hash>`), otherwise `image` itself.
    pub async fn ensure(&self, image: &str, progress: &mut ProgressFn<'_>) -> Result<String, ImageError> {
        match recipe_for(image) {
            Some(recipe) => self.ensure_recipe(&recipe, progress).await,
            None if image == ROOT_IMAGE => self.ensure_root(progress).await.map(|_| image.to_string()),
            None => self.ensure_foreign(image, progress).await.map(|_| image.to_string()),
        }
    }

    /// Whether `image` is present and current, without building anything.
    pub async fn is_current(&self, image: &str) -> Result<bool, ImageError> {
        let docker = self.docker.get().await?;
        let Some(recipe) = recipe_for(image) else {
            return Ok(docker.inspect_image(image).await.is_ok());
        };
        let hash = self.hash(&recipe);
        Ok(self.current_hash(&docker, &recipe.tag(&hash)).await.as_deref() == Some(hash.as_str()))
    }

    /// Removes the tags of older versions of our recipes' images (`sicuro/node:<hash>` whose
    /// hash is not the current one) made over `grace` ago that no container uses; returns how
    /// many went. Layers nothing else holds go with them. Another server of another version on
    /// the same engine rebuilds what it still wants once it is used again.
    pub async fn remove_old_versions(&self, grace: std::time::Duration) -> Result<usize, String> {
        let docker = self.docker.get().await.map_err(|e| e.to_string())?;
        let current: std::collections::HashSet<String> = recipes().iter().map(|r| r.tag(&self.hash(r))).collect();
        let filters = HashMap::from([("label".to_string(), vec![LABEL_RECIPE.to_string()])]);
        let images = docker
            .list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build()))
            .await
            .map_err(|e| e.to_string())?;
        let made_before = crate::db::now_ms() / 1000 - i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let mut removed = 0;
        for image in images.into_iter().filter(|i| i.created <= made_before) {
            for tag in image.repo_tags.iter().filter(|t| is_older_version(t, &current)) {
                match docker.remove_image(tag, None::<RemoveImageOptions>, None).await {
                    Ok(_) => removed += 1,
                    // A container (of any state) still uses it.
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
                    Err(e) => return Err(format!("image {tag} could not be removed: {e}")),
                }
            }
        }
        Ok(removed)
    }

    async fn current_hash(&self, docker: &bollard::Docker, tag: &str) -> Option<String> {
        let inspect = docker.inspect_image(tag).await.ok()?;
        inspect.config?.labels?.get(LABEL_RECIPE).cloned()
    }

    fn ensure_recipe<'a>(
        &'a self,
        recipe: &'a Recipe,
        progress: &'a mut ProgressFn<'_>,
    ) -> futures::future::BoxFuture<'a, Result<String, ImageError>> {
        Box::pin(async move {
            let lock = self.lock_for(&recipe.name);
            let _guard = lock.lock().await;
            let docker = self.docker.get().await?;
            let hash = self.hash(recipe);
            let tag = recipe.tag(&hash);
            if self.current_hash(&docker, &tag).await.as_deref() == Some(hash.as_str()) {
                return Ok(tag);
            }
            // Each parent at its current version; the Dockerfile is rewritten to start from it.
            let mut resolved: HashMap<String, String> = HashMap::new();
            for parent in &recipe.parents {
                if resolved.contains_key(parent) {
                    continue;
                }
                let reference = match recipe_for(parent) {
                    Some(p) => self.ensure_recipe(&p, progress).await?,
                    None if parent == ROOT_IMAGE => self.ensure_root(progress).await.map(|_| parent.clone())?,
                    None => self.ensure_foreign(parent, progress).await.map(|_| parent.clone())?,
                };
                resolved.insert(parent.clone(), reference);
            }
            progress(&format!("Building image {tag}; this happens once per recipe change."));
            let context = context_tar(recipe, &resolved).map_err(|e| ImageError::BuildFailed {
                image: tag.clone(),
                message: e.to_string(),
            })?;
            let build_args: HashMap<&str, &str> = self.args.for_recipe(recipe).collect();
            let options = BuildImageOptionsBuilder::default()
                .dockerfile("Dockerfile")
                .t(&tag)
                .rm(true)
                .forcerm(true)
                .buildargs(&build_args)
                .labels(&HashMap::from([(LABEL_RECIPE, hash.as_str())]))
                .build();
            let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
            let mut tail: Vec<String> = Vec::new();
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| ImageError::BuildFailed {
                    image: tag.clone(),
                    message: e.to_string(),
                })?;
                if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        progress(line);
                        tail.push(line.to_string());
                        if tail.len() > 5 {
                            tail.remove(0);
                        }
                    }
                }
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    progress(&err);
                    return Err(ImageError::BuildFailed {
                        image: tag.clone(),
                        message: err,
                    });
                }
            }
            if self.current_hash(&docker, &tag).await.as_deref() != Some(hash.as_str()) {
                return Err(ImageError::BuildFailed {
                    image: tag,
                    message: format!(
                        "the build ended without producing the image; last output: {}",
                        tail.join(" | ")
                    ),
                });
            }
            progress(&format!("Image {tag} is ready."));
            Ok(tag)
        })
    }

    /// The root image: `docker pull debian:trixie-slim` where a registry answers, otherwise
    /// bootstrapped from Debian's packages on this machine.
    async fn ensure_root(&self, progress: &mut ProgressFn<'_>) -> Result<(), ImageError> {
        let lock = self.lock_for(ROOT_IMAGE);
        let _guard = lock.lock().await;
        let docker = self.docker.get().await?;
        if docker.inspect_image(ROOT_IMAGE).await.is_ok() {
            return Ok(());
        }
        let script = RECIPES
            .get_file("base/bootstrap.sh")
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| ImageError::Bootstrap("images/base/bootstrap.sh is missing from this build".into()))?;
        progress(&format!(
            "Bootstrapping the root image {ROOT_IMAGE} (once per Docker engine)…"
        ));
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ImageError::Bootstrap(format!("cannot run sh: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let mut lines = futures::stream::select(
            tokio_stream::wrappers::LinesStream::new(tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
                stdout,
            ))),
            tokio_stream::wrappers::LinesStream::new(tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
                stderr,
            ))),
        );
        let mut last = String::new();
        while let Some(Ok(line)) = lines.next().await {
            progress(&line);
            last = line;
        }
        let status = child.wait().await.map_err(|e| ImageError::Bootstrap(e.to_string()))?;
        if !status.success() || docker.inspect_image(ROOT_IMAGE).await.is_err() {
            return Err(ImageError::Bootstrap(format!(
                "bootstrap.sh ended with {status}: {last}"
            )));
        }
        Ok(())
    }

    async fn ensure_foreign(&self, image: &str, progress: &mut ProgressFn<'_>) -> Result<(), ImageError> {
        let docker = self.docker.get().await?;
        if docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        progress(&format!("Pulling image {image}…"));
        let options = CreateImageOptionsBuilder::default().from_image(image).build();
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.status {
                        progress(&s);
                    }
                }
                Err(e) => {
                    progress(&format!("pull failed: {e}"));
                    return Err(ImageError::Missing(image.to_string()));
                }
            }
        }
        if docker.inspect_image(image).await.is_err() {
            return Err(ImageError::Missing(image.to_string()));
        }
        Ok(())
    }
}

/// The build context of a recipe as a tar archive, its Dockerfile starting from the `resolved`
/// references of its parents.
fn context_tar(recipe: &Recipe, resolved: &HashMap<String, String>) -> std::io::Result<Vec<u8>> {
    let dockerfile = rewrite_from(recipe.dockerfile(), |image| resolved.get(image).cloned());
    let mut tar = tar::Builder::new(Vec::new());
    for (path, contents) in recipe.files() {
        let contents = if path == "Dockerfile" {
            dockerfile.as_bytes()
        } else {
            contents
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(if path.ends_with(".sh") { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, &path, contents)?;
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_and_service_has_a_recipe_rooted_in_base() {
        let names: Vec<String> = recipes().into_iter().map(|r| r.name).collect();
        for n in ["base", "ruby", "node", "python", "go", "rust", "postgres", "redis"] {
            assert!(names.contains(&n.to_string()), "missing recipe {n}: {names:?}");
        }
        let base = recipe_for("sicuro/base").unwrap();
        assert_eq!(base.from, ROOT_IMAGE);
        for lang in ["ruby", "node", "python", "go", "rust"] {
            assert_eq!(
                recipe_for(&format!("sicuro/{lang}:latest")).unwrap().from,
                "sicuro/base"
            );
        }
        assert!(recipe_for("node:22").is_none());
    }

    #[test]
    fn a_child_hash_depends_on_its_parent() {
        let base = recipe_for("sicuro/base").unwrap();
        let node = recipe_for("sicuro/node").unwrap();
        let none = BuildArgs::default();
        let h1 = recipe_hash(&node, &none);
        assert_eq!(h1, recipe_hash(&node, &none), "stable");
        assert_ne!(h1, recipe_hash(&base, &none));
        assert_eq!(h1.len(), 24);
        // A build argument the base declares changes the base and everything built on it.
        let ca = BuildArgs::with_extra_ca_certs(Some("-----BEGIN CERTIFICATE-----".into()));
        assert_ne!(recipe_hash(&base, &ca), recipe_hash(&base, &none));
        assert_ne!(recipe_hash(&node, &ca), h1);
        assert_eq!(ca.for_recipe(&node).count(), 0, "node does not declare EXTRA_CA_CERTS");
        // Each version has its own tag, so two recipes of one image coexist on an engine.
        assert_eq!(node.tag(&h1), format!("sicuro/node:{h1}"));
        assert_ne!(node.tag(&h1), node.tag(&recipe_hash(&node, &ca)));
    }

    #[test]
    fn only_other_versions_of_our_recipes_count_as_older() {
        let node = recipe_for("sicuro/node").unwrap();
        let current = std::collections::HashSet::from([node.tag("new")]);
        assert!(is_older_version(&node.tag("old"), &current));
        assert!(!is_older_version(&node.tag("new"), &current));
        assert!(!is_older_version(ROOT_IMAGE, &current), "the root image is no recipe's");
        assert!(
            !is_older_version("sicuro/mine:1", &current),
            "a project's own image is kept"
        );
        assert!(!is_older_version("node:22", &current));
    }

    #[test]
    fn from_lines_name_parents_but_not_earlier_stages() {
        let dockerfile = "# FROM in a comment is no instruction\n\
                          FROM --platform=linux/amd64 sicuro/base AS fetch\n\
                          RUN echo from sicuro/base\n\
                          from sicuro/base\n\
                          COPY --from=fetch /opt /opt\n\
                          FROM fetch\n";
        assert_eq!(from_images(dockerfile), ["sicuro/base", "sicuro/base"]);
        assert_eq!(from_images("FROM a AS b\nFROM b AS c\nFROM c\n"), ["a"]);
    }

    #[test]
    fn the_dockerfile_starts_from_the_parents_current_version() {
        let dockerfile = "# FROM sicuro/base\nFROM --platform=linux/amd64 sicuro/base AS fetch\nRUN true\n\
                          from sicuro/base\nFROM fetch\nFROM other/image:1\n";
        let rewritten = rewrite_from(dockerfile, |image| {
            (image == "sicuro/base").then(|| "sicuro/base:0123abcd".to_string())
        });
        assert_eq!(
            rewritten,
            "# FROM sicuro/base\nFROM --platform=linux/amd64 sicuro/base:0123abcd AS fetch\nRUN true\n\
             from sicuro/base:0123abcd\nFROM fetch\nFROM other/image:1\n"
        );
        // The context sent to Docker carries the rewritten file; the hash covers the original.
        let node = recipe_for("sicuro/node").unwrap();
        let resolved = HashMap::from([("sicuro/base".to_string(), "sicuro/base:feed".to_string())]);
        let mut archive = tar::Archive::new(std::io::Cursor::new(context_tar(&node, &resolved).unwrap()));
        let mut sent = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some("Dockerfile") {
                std::io::Read::read_to_string(&mut entry, &mut sent).unwrap();
            }
        }
        assert!(sent.lines().any(|l| l.starts_with("FROM sicuro/base:feed")), "{sent}");
        assert!(!sent.lines().any(|l| l.trim_end() == "FROM sicuro/base"), "{sent}");
    }
}
