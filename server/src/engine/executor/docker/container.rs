//! The job's main container: created with its limits and mounts, given the source and the
//! script, attached to before it starts so that not one byte of output is missed.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::Stream;

use super::{JOB_CAPABILITIES, Objects, failed, remove_stale};
use crate::engine::executor::{JobEnd, JobSpec, Source};

/// Where the script goes inside the container.
const SCRIPT_PATH: &str = "/sicuro/run.sh";
pub const WORKSPACE: &str = "/workspace";

pub type Output = std::pin::Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

pub async fn create(
    docker: &Docker,
    objects: &Objects<'_>,
    job: &JobSpec,
    image: &str,
    sandbox: &str,
    mounts: Vec<Mount>,
) -> Result<String, JobEnd> {
    let name = objects.name("job");
    remove_stale(docker, &name).await;
    let limits = job.main.limits;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["bash".into()]),
        cmd: Some(vec![SCRIPT_PATH.into()]),
        working_dir: Some(WORKSPACE.into()),
        env: Some(job.main.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(objects.labels("job")),
        host_config: Some(HostConfig {
            memory: Some(limits.memory_bytes as i64),
            memory_swap: Some(limits.memory_bytes as i64),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids_limit: Some(limits.pids),
            network_mode: Some(Objects::in_sandbox(sandbox)),
            mounts: Some(mounts),
            security_opt: Some(vec!["no-new-privileges".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(JOB_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
            // The output is read through the attach stream and kept in Sicuro's log store; the
            // daemon's own json-file copy of every line would cost as much again (200,000 lines:
            // 0.70 s instead of 0.41 s with `docker run`) and fill the host's disk.
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
        .map(|c| c.id)
        .map_err(|e| failed("creating the job container", e))
}

/// Copies the source tree and the script into the container.
pub async fn upload(docker: &Docker, container: &str, job: &JobSpec) -> Result<(), JobEnd> {
    let Source::Archive(source) = &job.main.source else {
        return Err(JobEnd::Failed(
            "the Docker executor takes the source as an archive, not as a commit to fetch".into(),
        ));
    };
    // One upload of the source with the script added: each upload is a round of the daemon's
    // (mount, extract, unmount).
    let files = with_script(source, &job.main.script)
        .map_err(|e| JobEnd::Failed(format!("could not package the build script: {e}")))?;
    let upload = UploadToContainerOptionsBuilder::default().path("/").build();
    docker
        .upload_to_container(container, Some(upload), bollard::body_full(files.into()))
        .await
        .map_err(|e| failed("copying the source and the build script into the container", e))
}

/// The source archive with the build script's entries appended (before its end-of-archive).
fn with_script(source: &[u8], script: &str) -> std::io::Result<Vec<u8>> {
    let end = archive_end(source)?;
    let script = script_tar(script)?;
    let mut files = Vec::with_capacity(end + script.len());
    files.extend_from_slice(&source[..end]);
    files.extend_from_slice(&script);
    Ok(files)
}

/// Where the archive's last entry's data (padded to a block) ends: what follows is the
/// end-of-archive blocks and the record padding.
fn archive_end(tar_bytes: &[u8]) -> std::io::Result<usize> {
    let mut end = 0u64;
    for entry in tar::Archive::new(tar_bytes).entries()? {
        let entry = entry?;
        let size = entry.header().entry_size()?;
        end = entry.raw_file_position() + size.div_ceil(512) * 512;
    }
    Ok(end as usize)
}

/// Attaches to the container's output, then starts it; `what` names it in errors ("the job
/// container").
pub async fn attach_and_start(docker: &Docker, container: &str, what: &str) -> Result<Output, JobEnd> {
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .build();
    let output = docker
        .attach_container(container, Some(attach))
        .await
        .map_err(|e| failed(&format!("attaching to {what}"), e))?
        .output;
    docker
        .start_container(container, None)
        .await
        .map_err(|e| failed(&format!("starting {what}"), e))?;
    Ok(output)
}

fn script_tar(script: &str) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    tar.append_data(&mut dir, "sicuro/", std::io::empty())?;
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(script.len() as u64);
    file.set_cksum();
    tar.append_data(&mut file, SCRIPT_PATH.trim_start_matches('/'), script.as_bytes())?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn the_script_joins_the_source_in_one_archive_and_nothing_is_cut() {
        // A last file whose data ends in zero blocks, and a name long enough for an extension
        // header: neither may be mistaken for the end of the archive.
        let long = format!("workspace/{}/f.txt", "d".repeat(150));
        let zeros = [b"data".to_vec(), vec![0u8; 2048]].concat();
        let source = archive(&[(long.as_str(), b"x".to_vec()), ("workspace/zeros.bin", zeros.clone())]);
        let joined = with_script(&source, "echo hi").unwrap();
        let mut seen = Vec::new();
        for e in tar::Archive::new(joined.as_slice()).entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            seen.push((e.path().unwrap().display().to_string(), data));
        }
        assert_eq!(seen[0], (long, b"x".to_vec()));
        assert_eq!(seen[1], ("workspace/zeros.bin".to_string(), zeros));
        assert_eq!(
            seen.last().unwrap(),
            &(SCRIPT_PATH.trim_start_matches('/').to_string(), b"echo hi".to_vec())
        );
    }
}
