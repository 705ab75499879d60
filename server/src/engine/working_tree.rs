//! A developer's working tree (for `sicuro run`): its files as the job's archive, or committed
//! into a scratch repository for an executor whose jobs fetch a commit. The tree's own
//! repository is never touched.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::checkout::{CHECKOUT_DEPTH, CheckoutError, Credentials, commits_since_tag, git, without_credentials};
use super::checkout_contents::copy_tags;

/// The files of a working tree as a tar archive under `workspace/`, uncommitted changes
/// included: in a git repository the tracked and untracked-but-not-ignored files with a
/// shallow `.git` of its HEAD (see [`shallow_git_dir`]), otherwise every file.
pub async fn working_tree_tar(path: &Path) -> Result<Vec<u8>, CheckoutError> {
    let files: Option<Vec<PathBuf>> = match git(
        path,
        &["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        &Credentials::default(),
    )
    .await
    {
        Ok(out) => Some(
            out.split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
                .collect(),
        ),
        Err(_) => None,
    };
    let git_dir = match files {
        Some(_) => Some(shallow_git_dir(path).await?),
        None => None,
    };
    let root = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        let prefix = Path::new("workspace");
        tar.append_dir(prefix, &root)?;
        match files {
            Some(files) => {
                for f in files {
                    let full = root.join(&f);
                    // Deleted but still tracked: the working tree wins. A symbolic link (to a
                    // directory too) goes as the link it is; a submodule's directory is left out.
                    if full.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                        tar.append_path_with_name(&full, prefix.join(&f))?;
                    }
                }
            }
            None => tar.append_dir_all(prefix, &root)?,
        }
        if let Some(dir) = &git_dir {
            tar.append_dir_all(prefix.join(".git"), dir.path().join(".git"))?;
        }
        tar.into_inner()
    })
    .await
    .map_err(|e| CheckoutError::Io(std::io::Error::other(e)))?
    .map_err(CheckoutError::Io)
}

/// A `.git` for the job that matches the working tree's own: its HEAD commit with the last
/// [`CHECKOUT_DEPTH`] commits and the tags among them, on the same branch (or detached), the
/// index at HEAD — so `git status` and `git diff` in the job show the uncommitted changes — and
/// `origin` the tree's own origin without credentials. Made in a temporary directory from the
/// tree's repository, which is only read. An unborn HEAD (no commit yet) gets an empty repository.
pub async fn shallow_git_dir(path: &Path) -> Result<tempfile::TempDir, CheckoutError> {
    let none = Credentials::default();
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path();
    git(ws, &["init", "--quiet", "."], &none).await?;
    let Ok(head) = git(path, &["rev-parse", "--verify", "--quiet", "HEAD"], &none).await else {
        return Ok(tmp);
    };
    let sha = String::from_utf8_lossy(&head).trim().to_string();
    // Deep enough to reach the nearest tag, as the server's checkout (versions from tags).
    let depth = CHECKOUT_DEPTH
        .max(commits_since_tag(path, &sha).await.map_or(0, |n| n + 1))
        .to_string();
    let source = format!("file://{}", path.canonicalize()?.display());
    git(
        ws,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            &format!("--depth={depth}"),
            &source,
            &sha,
        ],
        &none,
    )
    .await?;
    match git(path, &["symbolic-ref", "--quiet", "--short", "HEAD"], &none).await {
        Ok(branch) => {
            let branch = String::from_utf8_lossy(&branch).trim().to_string();
            git(ws, &["update-ref", &format!("refs/heads/{branch}"), &sha], &none).await?;
            git(ws, &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")], &none).await?;
        }
        Err(_) => {
            git(ws, &["update-ref", "--no-deref", "HEAD", &sha], &none).await?;
        }
    }
    // The index at HEAD; the files are the working tree's own.
    git(ws, &["read-tree", "HEAD"], &none).await?;
    if let Ok(origin) = git(path, &["remote", "get-url", "origin"], &none).await {
        let origin = without_credentials(String::from_utf8_lossy(&origin).trim());
        git(ws, &["remote", "add", "origin", &origin], &none).await?;
    }
    copy_tags(path, ws, &sha, Some(&depth), None).await?;
    Ok(tmp)
}

/// The files of a working tree (as `working_tree_tar` chooses them) committed into a new bare
/// repository at `into`, for an executor whose jobs fetch a commit; returns the commit's id.
/// The working tree's own repository is not touched.
pub async fn working_tree_commit(path: &Path, into: &Path) -> Result<String, CheckoutError> {
    let none = Credentials::default();
    git(path, &["init", "--bare", "--quiet", &into.to_string_lossy()], &none).await?;
    let index = into.join("sicuro-index");
    let at = |args: &[&str]| {
        let mut cmd = vec!["--git-dir".to_string(), into.to_string_lossy().into_owned()];
        cmd.extend(["--work-tree".to_string(), path.to_string_lossy().into_owned()]);
        cmd.extend(args.iter().map(|a| a.to_string()));
        cmd
    };
    let index_var = ("GIT_INDEX_FILE", index.as_os_str());
    // Untracked files too, and the tree's .gitignore files say what is left out.
    git_env(path, &at(&["add", "-A", "."]), &[index_var]).await?;
    let tree = git_env(path, &at(&["write-tree"]), &[index_var]).await?;
    let tree = String::from_utf8_lossy(&tree).trim().to_string();
    let commit = git_env(
        path,
        &at(&[
            "-c",
            "user.name=sicuro run",
            "-c",
            "user.email=sicuro@localhost",
            "commit-tree",
            &tree,
            "-m",
            "sicuro run: the working tree",
        ]),
        &[],
    )
    .await?;
    Ok(String::from_utf8_lossy(&commit).trim().to_string())
}

async fn git_env(dir: &Path, args: &[String], env: &[(&str, &std::ffi::OsStr)]) -> Result<Vec<u8>, CheckoutError> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(CheckoutError::NoGit)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(CheckoutError::Git {
            command: args.iter().skip(4).take(2).cloned().collect::<Vec<_>>().join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
