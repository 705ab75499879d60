//! Server-side checkout: a bare mirror per repository, fetched incrementally, from which the
//! exact commit is exported as a tar archive. Credentials are given to `git` here, on the
//! server, through its environment; they never reach the job container.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::process::Command;

const GIT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("git could not be started ({0}); install git on the Sicuro server")]
    NoGit(std::io::Error),
    #[error("`git {command}` failed: {stderr}")]
    Git { command: String, stderr: String },
    #[error("`git {0}` took longer than {GIT_TIMEOUT:?} and was stopped")]
    Timeout(String),
    #[error("commit {sha} is not in {url} (was it force-pushed away?)")]
    MissingCommit { sha: String, url: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How to authenticate to a remote: an OAuth token for HTTPS, sent only to that host.
#[derive(Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.token.is_some() {
            "Credentials(token)"
        } else {
            "Credentials(none)"
        })
    }
}

/// The author and message of a commit.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitInfo {
    pub sha: String,
    pub author: String,
    pub message: String,
}

pub struct Mirrors {
    dir: PathBuf,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Mirrors {
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            locks: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self, repo_id: i64) -> PathBuf {
        self.dir.join(format!("{repo_id}.git"))
    }

    pub(super) fn lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("mirror locks")
            .entry(repo_id)
            .or_default()
            .clone()
    }

    /// Fetches `refspecs` from `url` into the repository's mirror, creating it on first use.
    pub async fn fetch(
        &self,
        repo_id: i64,
        url: &str,
        refspecs: &[String],
        creds: &Credentials,
    ) -> Result<(), CheckoutError> {
        let lock = self.lock(repo_id);
        let _guard = lock.lock().await;
        let mirror = self.path(repo_id);
        if !mirror.join("HEAD").exists() {
            git(
                &self.dir,
                &["init", "--bare", "--quiet", &mirror.to_string_lossy()],
                &Credentials::default(),
            )
            .await?;
        }
        let mut args = vec!["fetch", "--quiet", "--prune", "--no-tags", "--force", "--", url];
        args.extend(refspecs.iter().map(String::as_str));
        git(&mirror, &args, creds).await?;
        Ok(())
    }

    /// Makes sure `sha` is in the mirror: fetches `fetch_ref` (or all branches and tags), and as a
    /// last resort the commit itself (servers such as GitHub allow fetching a reachable commit).
    /// Refs of a `foreign` remote (a fork) are kept under `refs/forks/` so they never replace
    /// the repository's own branches.
    pub async fn ensure_commit(
        &self,
        repo_id: i64,
        url: &str,
        fetch_ref: Option<&str>,
        sha: &str,
        creds: &Credentials,
        foreign: bool,
    ) -> Result<(), CheckoutError> {
        if self.has_commit(repo_id, sha).await {
            return Ok(());
        }
        let refspecs = match fetch_ref {
            Some(r) if foreign => vec![format!("+{r}:refs/forks/{}", r.trim_start_matches("refs/"))],
            // The repository's tags too: the job's checkout carries those on its history.
            Some(r) => vec![format!("+{r}:{r}"), "+refs/tags/*:refs/tags/*".into()],
            None if foreign => vec![format!("+refs/heads/*:refs/forks/heads/*")],
            None => default_refspecs(),
        };
        self.fetch(repo_id, url, &refspecs, creds).await?;
        if self.has_commit(repo_id, sha).await {
            return Ok(());
        }
        if is_full_sha(sha) {
            let _ = self.fetch(repo_id, url, &[sha.to_string()], creds).await;
        }
        if self.has_commit(repo_id, sha).await {
            Ok(())
        } else {
            Err(CheckoutError::MissingCommit {
                sha: sha.to_string(),
                url: redact(url),
            })
        }
    }

    /// Fetches a branch and says which commit it points at.
    pub async fn resolve_branch(
        &self,
        repo_id: i64,
        url: &str,
        branch: &str,
        creds: &Credentials,
    ) -> Result<CommitInfo, CheckoutError> {
        let r = format!("refs/heads/{branch}");
        // The tags too: the job's checkout carries those on its history.
        self.fetch(
            repo_id,
            url,
            &[format!("+{r}:{r}"), "+refs/tags/*:refs/tags/*".into()],
            creds,
        )
        .await?;
        self.commit_info(repo_id, &r).await
    }

    /// Author and message of a revision in the mirror.
    pub async fn commit_info(&self, repo_id: i64, rev: &str) -> Result<CommitInfo, CheckoutError> {
        let out = git(
            &self.path(repo_id),
            &["log", "-1", "--format=%H%x00%an%x00%B", rev, "--"],
            &Credentials::default(),
        )
        .await?;
        let text = String::from_utf8_lossy(&out);
        let mut parts = text.splitn(3, '\0');
        Ok(CommitInfo {
            sha: parts.next().unwrap_or_default().trim().to_string(),
            author: parts.next().unwrap_or_default().to_string(),
            message: parts.next().unwrap_or_default().trim_end().to_string(),
        })
    }

    pub async fn has_commit(&self, repo_id: i64, sha: &str) -> bool {
        let mirror = self.path(repo_id);
        mirror.join("HEAD").exists()
            && git(
                &mirror,
                &["cat-file", "-e", &format!("{sha}^{{commit}}")],
                &Credentials::default(),
            )
            .await
            .is_ok()
    }

    /// Whether `ancestor` is an ancestor of (or the same as) `descendant`; `None` when the mirror
    /// cannot tell (a commit is missing).
    pub async fn is_ancestor(&self, repo_id: i64, ancestor: &str, descendant: &str) -> Option<bool> {
        let mirror = self.path(repo_id);
        let out = Command::new("git")
            .args(["merge-base", "--is-ancestor", ancestor, descendant])
            .current_dir(&mirror)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .ok()?;
        match out.code() {
            Some(0) => Some(true),
            Some(1) => Some(false),
            _ => None,
        }
    }

    /// Names of the files and directories at the commit's root.
    pub async fn root_files(&self, repo_id: i64, sha: &str) -> Result<Vec<String>, CheckoutError> {
        let out = git(
            &self.path(repo_id),
            &["ls-tree", "--name-only", "-z", sha],
            &Credentials::default(),
        )
        .await?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    /// A file at the commit, if it exists.
    pub async fn read_file(&self, repo_id: i64, sha: &str, path: &str) -> Result<Option<Vec<u8>>, CheckoutError> {
        match git(
            &self.path(repo_id),
            &["show", &format!("{sha}:{path}")],
            &Credentials::default(),
        )
        .await
        {
            Ok(bytes) => Ok(Some(bytes)),
            Err(CheckoutError::Git { stderr, .. })
                if stderr.contains("does not exist") || stderr.contains("exists on disk, but not in") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The commit as a real git checkout under `workspace/`: its files and a shallow `.git` of
    /// `depth` commits (0: the whole history), on `at` (a branch, a tag, or detached), with `origin` — credentials
    /// removed — as its remote, so that tools which ask git (versions from tags, changed files)
    /// work as in a developer's clone, and its submodules checked out (`submodule_creds`: the
    /// build's credentials, none for a fork's code). Nothing of the server's mirror or its
    /// credentials is in it.
    pub async fn checkout_tar(
        &self,
        repo_id: i64,
        sha: &str,
        at: &CheckoutRef,
        origin: &str,
        depth: u32,
        submodule_creds: &Credentials,
    ) -> Result<Vec<u8>, CheckoutError> {
        let tmp = tempfile::tempdir()?;
        let ws = tmp.path().join("workspace");
        let none = Credentials::default();
        let ws_arg = ws.to_string_lossy().into_owned();
        git(tmp.path(), &["init", "--quiet", &ws_arg], &none).await?;
        let mirror = format!("file://{}", self.path(repo_id).display());
        // Deep enough to reach the nearest tag (versions from `git describe`, setuptools-scm),
        // within a bound; 0 is the whole history.
        let commits = match depth {
            0 => None,
            d => Some(
                d.max(commits_since_tag(&self.path(repo_id), sha).await.map_or(0, |n| n + 1))
                    .to_string(),
            ),
        };
        match &commits {
            Some(n) => {
                let depth = format!("--depth={n}");
                git(&ws, &["fetch", "--quiet", "--no-tags", &depth, &mirror, sha], &none).await?
            }
            None => git(&ws, &["fetch", "--quiet", "--no-tags", &mirror, sha], &none).await?,
        };
        match at {
            CheckoutRef::Branch(b) => git(&ws, &["checkout", "--quiet", "-B", b, sha], &none).await?,
            CheckoutRef::Tag(t) => {
                git(&ws, &["checkout", "--quiet", "--detach", sha], &none).await?;
                git(&ws, &["tag", "--", t, sha], &none).await?
            }
            CheckoutRef::PullRequest(n) => {
                git(&ws, &["checkout", "--quiet", "--detach", sha], &none).await?;
                git(&ws, &["update-ref", &format!("refs/pull/{n}/head"), sha], &none).await?
            }
            CheckoutRef::Detached => git(&ws, &["checkout", "--quiet", "--detach", sha], &none).await?,
        };
        git(&ws, &["remote", "add", "origin", &without_credentials(origin)], &none).await?;
        let skip = match at {
            CheckoutRef::Tag(t) => Some(t.as_str()),
            _ => None,
        };
        super::checkout_contents::copy_tags(&self.path(repo_id), &ws, sha, commits.as_deref(), skip).await?;
        super::checkout_contents::submodules(&ws, origin, submodule_creds).await?;
        super::checkout_contents::lfs_objects(&ws, origin, submodule_creds).await?;
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut tar = tar::Builder::new(Vec::new());
            tar.follow_symlinks(false);
            tar.append_dir_all("workspace", &ws)?;
            tar.into_inner()
        })
        .await
        .map_err(|e| CheckoutError::Io(std::io::Error::other(e)))?
        .map_err(CheckoutError::Io)
    }

    pub async fn archive(&self, repo_id: i64, sha: &str) -> Result<Vec<u8>, CheckoutError> {
        git(
            &self.path(repo_id),
            &["archive", "--format=tar", "--prefix=workspace/", sha],
            &Credentials::default(),
        )
        .await
    }
}

/// The branch a remote's HEAD points at (its default branch).
pub async fn remote_default_branch(url: &str, creds: &Credentials) -> Result<String, CheckoutError> {
    let dir = std::env::temp_dir();
    let out = git(&dir, &["ls-remote", "--symref", "--", url, "HEAD"], creds).await?;
    let text = String::from_utf8_lossy(&out);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("ref: refs/heads/")?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .ok_or_else(|| CheckoutError::Git {
            command: "ls-remote".into(),
            stderr: format!("{} has no default branch (is it empty?)", redact(url)),
        })
}

/// Accepts the repository addresses Sicuro fetches from: local paths, `file://`, `http(s)://`,
/// `ssh://` and scp-like `user@host:path`. Anything git could read as an option or a remote
/// helper (`ext::…`) is refused.
pub fn validate_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
        return Err("give a repository URL or an absolute path".into());
    }
    if url.starts_with('/') {
        return Ok(());
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return if matches!(scheme, "https" | "http" | "ssh" | "git" | "file") {
            Ok(())
        } else {
            Err(format!(
                "the {scheme}:// scheme is not supported; use https://, ssh://, git://, file:// or a path"
            ))
        };
    }
    if url.contains("::") {
        return Err("git remote helpers are not allowed".into());
    }
    // scp-like: [user@]host:path
    match url.split_once(':') {
        Some((host, path)) if !host.is_empty() && !path.is_empty() && !host.contains('/') => Ok(()),
        _ => Err("give a repository URL (https://…, ssh://…, git@host:owner/repo.git) or an absolute path".into()),
    }
}

pub fn default_refspecs() -> Vec<String> {
    vec!["+refs/heads/*:refs/heads/*".into(), "+refs/tags/*:refs/tags/*".into()]
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where git may fetch from, and which remotes get the token.
pub(crate) struct Reach {
    pub protocols: &'static str,
    /// A URL prefix (`https://github.com/`) the token is sent to; `None`: any HTTPS remote
    /// (the mirror's fetches, which name only the repository's own address).
    pub token_for: Option<String>,
}

pub(crate) const MIRROR_REACH: &str = "file:git:http:https:ssh";

/// Runs git with no prompts and, when given, the token as an HTTP header for HTTPS remotes.
/// The header goes through `GIT_CONFIG_*` variables, so it is in neither argv nor any file.
pub(crate) async fn git(dir: &Path, args: &[&str], creds: &Credentials) -> Result<Vec<u8>, CheckoutError> {
    let reach = Reach {
        protocols: MIRROR_REACH,
        token_for: None,
    };
    run_git(dir, args, creds, &reach).await
}

pub(crate) async fn run_git(
    dir: &Path,
    args: &[&str],
    creds: &Credentials,
    reach: &Reach,
) -> Result<Vec<u8>, CheckoutError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env(
            "GIT_SSH_COMMAND",
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        )
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_ALLOW_PROTOCOL", reach.protocols)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = &creds.token {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        let key = match &reach.token_for {
            Some(prefix) => format!("http.{prefix}.extraHeader"),
            None => "http.extraHeader".to_string(),
        };
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", key)
            .env("GIT_CONFIG_VALUE_0", format!("Authorization: Basic {basic}"));
    }
    let command = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    let output = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| CheckoutError::Timeout(command.clone()))?
        .map_err(CheckoutError::NoGit)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(CheckoutError::Git {
            command,
            stderr: redact(stderr.trim()),
        })
    }
}

/// What a checkout's HEAD is: the build's branch, its tag, or the commit alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckoutRef {
    Branch(String),
    Tag(String),
    /// A pull request's head, detached, with `refs/pull/N/head` pointing at it (as a fetch of
    /// GitHub's pull request refs leaves it).
    PullRequest(i64),
    Detached,
}

/// How many commits of history a job's checkout has at least (like a CI clone: recent diffs,
/// not the whole history); more to reach the nearest tag.
pub const CHECKOUT_DEPTH: u32 = 50;

/// How far a checkout deepens to reach the nearest tag.
pub const MAX_DEPTH_TO_TAG: u32 = 2_000;

/// How many commits `sha` is past its nearest tag in the repository at `dir`, when that is at
/// most [`MAX_DEPTH_TO_TAG`].
pub(super) async fn commits_since_tag(dir: &Path, sha: &str) -> Option<u32> {
    let none = Credentials::default();
    let tag = git(dir, &["describe", "--tags", "--abbrev=0", sha], &none).await.ok()?;
    let tag = String::from_utf8_lossy(&tag).trim().to_string();
    let range = format!("refs/tags/{tag}..{sha}");
    let n = git(dir, &["rev-list", "--count", &range], &none).await.ok()?;
    let n: u32 = String::from_utf8_lossy(&n).trim().parse().ok()?;
    (n <= MAX_DEPTH_TO_TAG).then_some(n)
}

/// A remote address without `user:password@` (a job's `origin` carries no credential).
pub fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme && !url[scheme + 3..at].contains('/') => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Removes `user:password@` from URLs in messages.
fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_inclusive(char::is_whitespace) {
        match (word.find("://"), word.find('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                out.push_str(&word[..scheme + 3]);
                out.push_str("***@");
                out.push_str(&word[at + 1..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_origin_carries_no_credential() {
        assert_eq!(
            without_credentials("https://x-access-token:ghs_secret@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            without_credentials("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(without_credentials("/srv/git/r"), "/srv/git/r");
        assert_eq!(without_credentials("git@github.com:o/r.git"), "git@github.com:o/r.git");
        // An @ in the path is not a user.
        assert_eq!(without_credentials("https://host/a/b@c"), "https://host/a/b@c");
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact("fatal: unable to access 'https://x-access-token:ghp_secret@github.com/o/r/': 403"),
            "fatal: unable to access 'https://***@github.com/o/r/': 403"
        );
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn urls_that_git_could_misread_are_refused() {
        for ok in [
            "/srv/repo",
            "file:///srv/repo",
            "https://github.com/o/r.git",
            "ssh://git@h/o/r",
            "git@github.com:o/r.git",
        ] {
            assert_eq!(validate_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "--upload-pack=touch /tmp/x",
            "ext::sh -c touch% /tmp/pwned",
            "fd::17",
            "ftp://h/r",
            "relative/path",
            "",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_tokens() {
        let c = Credentials {
            token: Some("ghp_secret".into()),
        };
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }
}
