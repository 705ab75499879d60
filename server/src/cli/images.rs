//! `sicuro images`: lists the image recipes and builds the missing or outdated ones ahead of
//! time (the server also builds them on first use).

use std::sync::Arc;

use crate::engine::executor::docker::client::DockerHandle;
use crate::engine::executor::docker::images::{self, BuildArgs, Images};

pub async fn build(names: &[String], args: BuildArgs) -> anyhow::Result<()> {
    let docker = Arc::new(DockerHandle::new());
    let images = Images::new(docker, args);
    let recipes = images::recipes();
    let wanted: Vec<_> = if names.is_empty() {
        recipes
    } else {
        let mut out = Vec::new();
        for n in names {
            let r = images::recipe_for(&format!("sicuro/{n}"))
                .ok_or_else(|| anyhow::anyhow!("no image recipe named {n}; see `sicuro images list`"))?;
            out.push(r);
        }
        out
    };
    for r in wanted {
        let started = std::time::Instant::now();
        let mut progress = |line: &str| println!("  {line}");
        let reference = images.ensure(&r.image(), &mut progress).await?;
        println!("{reference} ready ({:.1}s)", started.elapsed().as_secs_f64());
    }
    Ok(())
}

pub async fn list(args: BuildArgs) -> anyhow::Result<()> {
    let docker = Arc::new(DockerHandle::new());
    let images = Images::new(docker, args);
    for r in images::recipes() {
        let state = match images.is_current(&r.image()).await {
            Ok(true) => "ready",
            Ok(false) => "missing or outdated",
            Err(e) => return Err(e.into()),
        };
        println!("{:<42} from {:<24} {state}", r.tag(&images.hash(&r)), r.from);
    }
    Ok(())
}
