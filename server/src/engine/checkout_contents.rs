//! What a job's checkout holds beyond its commit's own files: the tags of its history, its git
//! submodules and its Git LFS files, all fetched here on the server (as `git clone
//! --recurse-submodules` and `git lfs pull` would), so no credential reaches the job.

use std::path::Path;

use super::checkout::{CheckoutError, Credentials, MIRROR_REACH, Mirrors, Reach, git, run_git};

/// The submodules of the checkout at `ws`, recursively, fetched here on the server (their
/// `.git` under `.git/modules`, their remotes without credentials, as `git clone
/// --recurse-submodules` leaves them). A submodule may be fetched from a path or `file://` only
/// when the repository itself is local (a repository's `.gitmodules` must not reach the server's
/// own files), and the token goes only to the repository's own host.
pub async fn submodules(ws: &Path, origin: &str, creds: &Credentials) -> Result<(), CheckoutError> {
    if !ws.join(".gitmodules").exists() {
        return Ok(());
    }
    let reach = reach(origin);
    run_git(
        ws,
        &["submodule", "update", "--init", "--recursive", "--quiet"],
        creds,
        &reach,
    )
    .await
    .map(|_| ())
}

/// Replaces the checkout's Git LFS pointer files with their objects, fetched from the
/// repository's LFS server (the token, as for submodules, only to its own host), when its
/// `.gitattributes` send any path through the `lfs` filter. Without `git-lfs` on the server the
/// build ends saying so rather than testing pointer files.
pub async fn lfs_objects(ws: &Path, origin: &str, creds: &Credentials) -> Result<(), CheckoutError> {
    let none = Credentials::default();
    let listed = git(ws, &["ls-files", "--", ".gitattributes", "*/.gitattributes"], &none).await?;
    let uses_lfs = String::from_utf8_lossy(&listed)
        .lines()
        .any(|file| std::fs::read_to_string(ws.join(file)).is_ok_and(|text| text.contains("filter=lfs")));
    if !uses_lfs {
        return Ok(());
    }
    if git(ws, &["lfs", "version"], &none).await.is_err() {
        return Err(CheckoutError::Git {
            command: "lfs pull".into(),
            stderr: "this repository keeps files in Git LFS, and git-lfs is not installed on the Sicuro server: \
                     install it there (Debian: apt-get install git-lfs) and build again"
                .into(),
        });
    }
    let reach = reach(origin);
    run_git(ws, &["lfs", "install", "--local", "--skip-repo"], &none, &reach).await?;
    run_git(ws, &["lfs", "pull"], creds, &reach).await.map(|_| ())
}

fn reach(origin: &str) -> Reach {
    let local = !origin.contains("://") && !origin.contains('@') || origin.starts_with("file://");
    let token_for = origin
        .split_once("://")
        .and_then(|(scheme, rest)| {
            let host = rest.split('/').next()?.rsplit('@').next()?;
            (!host.is_empty()).then(|| format!("{scheme}://{host}/"))
        })
        .filter(|p| p.starts_with("https://"));
    Reach {
        protocols: if local { MIRROR_REACH } else { "git:http:https:ssh" },
        token_for,
    }
}

/// Copies into the clone at `ws` the tags of `source` that point into the fetched history of
/// `sha` (its last `commits`, or all of it), as lightweight tags — versions from `git describe`
/// and setuptools-scm work as in a developer's clone. `skip` is a tag already there.
pub(crate) async fn copy_tags(
    source: &Path,
    ws: &Path,
    sha: &str,
    commits: Option<&str>,
    skip: Option<&str>,
) -> Result<(), CheckoutError> {
    let none = Credentials::default();
    let recent = match commits {
        Some(n) => git(source, &["rev-list", "-n", n, sha], &none).await?,
        None => git(source, &["rev-list", sha], &none).await?,
    };
    let recent: std::collections::HashSet<&str> = std::str::from_utf8(&recent).unwrap_or("").lines().collect();
    let tags = git(
        source,
        &[
            "for-each-ref",
            "refs/tags",
            "--format=%(*objectname) %(objectname) %(refname:strip=2)",
        ],
        &none,
    )
    .await?;
    for line in String::from_utf8_lossy(&tags).lines().take(10_000) {
        let mut f = line.split(' ');
        let (peeled, object, name) = (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let commit = if peeled.is_empty() { object } else { peeled };
        if recent.contains(commit) && !name.is_empty() && Some(name) != skip {
            git(ws, &["tag", "--", name, commit], &none).await?;
        }
    }
    Ok(())
}

/// What a job that fetches its commit itself (the swarm executor's) goes without, as notices
/// for the top of its log: its submodules and its Git LFS files are fetched only by the server's
/// own checkout, and a build that silently lacked them would fail in a way nobody could read.
pub async fn left_out_of_fetched_commits(
    mirrors: &Mirrors,
    repo_id: i64,
    sha: &str,
    root_files: &[String],
) -> Vec<String> {
    let mut notices = Vec::new();
    let how = "fetch them in the build's own commands, or build this repository on the Docker executor";
    if root_files.iter().any(|f| f == ".gitmodules") {
        notices.push(format!(
            "This commit's submodules are not checked out: jobs on the swarm fetch only the repository's own commit ({how})."
        ));
    }
    if let Ok(Some(attributes)) = mirrors.read_file(repo_id, sha, ".gitattributes").await
        && String::from_utf8_lossy(&attributes).contains("filter=lfs")
    {
        notices.push(format!(
            "This commit's Git LFS files are pointers, not their contents: jobs on the swarm fetch only the repository's own commit ({how})."
        ));
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submodules_of_a_remote_repository_reach_no_local_file_and_its_token_only_its_host() {
        let github = reach("https://github.com/alice/app.git");
        assert!(
            !github.protocols.split(':').any(|p| p == "file"),
            "{}",
            github.protocols
        );
        assert_eq!(github.token_for.as_deref(), Some("https://github.com/"));
        let with_user = reach("https://x-access-token:t@ghe.example.com/a/b.git");
        assert_eq!(with_user.token_for.as_deref(), Some("https://ghe.example.com/"));
        assert!(!reach("git@github.com:alice/app.git").protocols.contains("file"));
        for local in ["/srv/git/app", "file:///srv/git/app", "../app"] {
            let r = reach(local);
            assert!(r.protocols.split(':').any(|p| p == "file"), "{local}");
            assert_eq!(r.token_for, None, "{local}");
        }
    }
}
