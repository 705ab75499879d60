//! The bare repositories on disk, changed with the `git` command line. Every change ends with
//! `git update-server-info`, which is all git's dumb HTTP protocol needs to serve them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::Error;

pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// What a commit looks like to the API and to push payloads.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    pub author_date: String,
    pub committer_name: String,
    pub committer_email: String,
    pub committer_date: String,
    pub message: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

/// The contents of a new commit and who makes it.
pub struct NewCommit<'a> {
    pub branch: &'a str,
    /// Where a new branch starts; an orphan branch when `None`.
    pub start_from: Option<&'a str>,
    pub message: &'a str,
    pub author_name: &'a str,
    pub author_email: &'a str,
    /// Replace the whole tree with this directory's contents.
    pub dir: Option<&'a Path>,
    pub files: &'a [(String, String)],
    pub delete: &'a [String],
}

/// Runs git with no user or system configuration (no signing, no hooks, no prompts).
async fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, Error> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Git {
            command: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

pub async fn init_bare(path: &Path, default_branch: &str) -> Result<(), Error> {
    tokio::fs::create_dir_all(path).await?;
    let branch = format!("--initial-branch={default_branch}");
    git(path, &["init", "--bare", "-q", &branch], &[]).await?;
    update_server_info(path).await
}

pub async fn clone_bare(from: &Path, to: &Path) -> Result<(), Error> {
    let parent = to.parent().expect("repository paths have a parent");
    tokio::fs::create_dir_all(parent).await?;
    let (from, to) = (path_str(from)?, path_str(to)?);
    git(parent, &["clone", "--bare", "-q", "--no-hardlinks", from, to], &[]).await?;
    update_server_info(Path::new(to)).await
}

pub async fn update_server_info(bare: &Path) -> Result<(), Error> {
    git(bare, &["update-server-info"], &[]).await.map(drop)
}

/// The commit a ref or sha names, if any.
pub async fn resolve(bare: &Path, rev: &str) -> Option<String> {
    if rev.starts_with('-') {
        return None;
    }
    let spec = format!("{rev}^{{commit}}");
    git(bare, &["rev-parse", "--verify", "-q", &spec], &[])
        .await
        .ok()
        .map(|s| s.trim().to_string())
}

pub async fn branch_sha(bare: &Path, branch: &str) -> Option<String> {
    resolve(bare, &format!("refs/heads/{branch}")).await
}

/// Commits `change` on top of its branch and pushes it; returns the new sha.
pub async fn commit(bare: &Path, work_root: &Path, change: &NewCommit<'_>) -> Result<String, Error> {
    tokio::fs::create_dir_all(work_root).await?;
    let work = tempfile::Builder::new().prefix("commit-").tempdir_in(work_root)?;
    let dir = work.path();
    git(dir, &["clone", "-q", "--no-checkout", path_str(bare)?, "."], &[]).await?;
    if branch_sha(bare, change.branch).await.is_some() {
        let remote = format!("origin/{}", change.branch);
        git(dir, &["checkout", "-q", "-B", change.branch, &remote], &[]).await?;
    } else if let Some(from) = change.start_from {
        let start = resolve(bare, from)
            .await
            .ok_or_else(|| Error::UnknownRef(from.to_string()))?;
        git(dir, &["checkout", "-q", "-b", change.branch, &start], &[]).await?;
    } else {
        git(dir, &["checkout", "-q", "--orphan", change.branch], &[]).await?;
    }
    if let Some(src) = change.dir {
        git(dir, &["rm", "-rqf", "--ignore-unmatch", "."], &[]).await?;
        copy_tree(src, dir)?;
    }
    for (path, contents) in change.files {
        let target = safe_join(dir, path)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, contents)?;
    }
    for path in change.delete {
        git(dir, &["rm", "-rqf", "--ignore-unmatch", "--", path], &[]).await?;
    }
    git(dir, &["add", "-A"], &[]).await?;
    let ident = [
        ("GIT_AUTHOR_NAME", change.author_name),
        ("GIT_AUTHOR_EMAIL", change.author_email),
        ("GIT_COMMITTER_NAME", change.author_name),
        ("GIT_COMMITTER_EMAIL", change.author_email),
    ];
    git(dir, &["commit", "-q", "--allow-empty", "-m", change.message], &ident).await?;
    let sha = git(dir, &["rev-parse", "HEAD"], &[]).await?.trim().to_string();
    let target = format!("HEAD:refs/heads/{}", change.branch);
    git(dir, &["push", "-q", "origin", &target], &[]).await?;
    update_server_info(bare).await?;
    Ok(sha)
}

/// Points `refname` at `sha`, fetching the objects from `source` (a fork) when they differ.
pub async fn set_ref(bare: &Path, source: &Path, refname: &str, sha: &str) -> Result<(), Error> {
    if source != bare {
        let refspec = format!("+{sha}:{refname}");
        git(bare, &["fetch", "-q", "--no-tags", path_str(source)?, &refspec], &[]).await?;
    } else {
        git(bare, &["update-ref", refname, sha], &[]).await?;
    }
    update_server_info(bare).await
}

pub async fn delete_ref(bare: &Path, refname: &str) -> Result<(), Error> {
    git(bare, &["update-ref", "-d", refname], &[]).await?;
    update_server_info(bare).await
}

pub async fn commit_info(bare: &Path, sha: &str) -> Result<CommitInfo, Error> {
    let format = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B";
    let out = git(bare, &["log", "-1", format, sha, "--"], &[]).await?;
    let f: Vec<&str> = out.splitn(10, '\0').collect();
    let [sha, tree, parents, an, ae, ad, cn, ce, cd, message] = f[..] else {
        return Err(Error::UnknownRef(sha.to_string()));
    };
    let changes = git(
        bare,
        &["diff-tree", "--no-commit-id", "--name-status", "-r", "--root", sha],
        &[],
    )
    .await?;
    let (mut added, mut removed, mut modified) = (vec![], vec![], vec![]);
    for line in changes.lines() {
        match line.split_once('\t') {
            Some(("A", path)) => added.push(path.to_string()),
            Some(("D", path)) => removed.push(path.to_string()),
            Some((_, path)) => modified.push(path.to_string()),
            None => {}
        }
    }
    Ok(CommitInfo {
        sha: sha.to_string(),
        tree: tree.to_string(),
        parents: parents.split_whitespace().map(String::from).collect(),
        author_name: an.to_string(),
        author_email: ae.to_string(),
        author_date: ad.to_string(),
        committer_name: cn.to_string(),
        committer_email: ce.to_string(),
        committer_date: cd.to_string(),
        message: message.trim_end().to_string(),
        added,
        removed,
        modified,
    })
}

/// The commits a push brought, oldest first: after ^before, or for a new ref everything not
/// already on another branch. At most the last `limit`, as GitHub caps push payloads.
pub async fn pushed_commits(
    bare: &Path,
    refname: &str,
    before: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let mut args = vec!["rev-list".to_string(), "--reverse".into(), after.into()];
    if before != ZERO_SHA {
        args.push(format!("^{before}"));
    } else {
        let refs = git(bare, &["for-each-ref", "--format=%(refname)", "refs/heads/"], &[]).await?;
        args.extend(refs.lines().filter(|r| *r != refname).map(|r| format!("^{r}")));
    }
    args.push("--".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git(bare, &args, &[]).await?;
    let all: Vec<String> = out.lines().map(String::from).collect();
    Ok(all[all.len().saturating_sub(limit)..].to_vec())
}

pub async fn tag(bare: &Path, name: &str, sha: &str) -> Result<(), Error> {
    git(bare, &["tag", name, sha], &[]).await?;
    update_server_info(bare).await
}

fn path_str(p: &Path) -> Result<&str, Error> {
    p.to_str().ok_or_else(|| Error::InvalidName(p.display().to_string()))
}

/// `root/rel`, refusing paths that climb out of `root`.
fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let rel = Path::new(rel);
    let plain = rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain || rel.as_os_str().is_empty() {
        return Err(Error::InvalidName(rel.display().to_string()));
    }
    Ok(root.join(rel))
}

/// Copies a directory tree (modes kept, `.git` skipped) into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
