//! The engine's intake: what the web app asks for, in its own words — a push, a tag, a pull
//! request, a ping, a manual build of a branch or commit, a rebuild, a scheduled build — turned
//! into a build row. Here the engine resolves refs (fetching a branch's head when it must),
//! decides trust (a fork's code is not the repository's), and checks what it was given.

use sicuro_types::{ForkPolicy, TriggerEvent};

use super::{Engine, EngineError};
use crate::db::builds::{self, NewBuild};
use crate::db::repos::Repo;

/// A request for a build of one repository.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildRequest {
    /// A branch moved to `sha`.
    Push {
        branch: String,
        sha: String,
        author: Option<String>,
        message: Option<String>,
    },
    /// A tag was pushed.
    Tag {
        tag: String,
        sha: String,
        author: Option<String>,
        message: Option<String>,
    },
    /// A pull request was opened or got new commits; its head is `sha` on `head_ref`.
    PullRequest {
        number: i64,
        sha: String,
        head_ref: String,
        /// Where the head lives when it is another repository's (a fork): fetched from there,
        /// with no credentials, and trusted with nothing.
        fork_clone_url: Option<String>,
        author: Option<String>,
        title: Option<String>,
    },
    /// A new webhook was pinged: the first build, of the default branch (or the one named).
    Ping { branch: Option<String> },
    /// "Build now": a branch's current head (the default branch unless one is named).
    Branch { branch: Option<String> },
    /// "Build now" for one commit, optionally shown under a branch.
    Commit { sha: String, branch: Option<String> },
    /// The same commit again, as the same kind of event.
    Rebuild { build_id: i64 },
    /// A scheduled build of a branch's head.
    Schedule { branch: String },
}

impl Engine {
    /// Queues the build a request asks for, or returns the queued or running build of the same
    /// repository, commit and event.
    pub async fn request(&self, repo_id: i64, request: BuildRequest) -> Result<builds::Created, EngineError> {
        if !self.accepting() {
            return Err(EngineError::ShuttingDown);
        }
        let repo = crate::db::repos::get(&self.0.db, repo_id)
            .await?
            .ok_or(EngineError::UnknownRepo(repo_id))?;
        let new = self.resolve(&repo, request).await?;
        self.enqueue(std::sync::Arc::new(repo), new).await
    }

    /// Why a push is not to be built, when `sicuro.json` at its commit leaves its branch out
    /// (`"branches"`); `None` for everything else, and whenever the file cannot be read —
    /// the build then says what is wrong.
    pub async fn not_built(&self, repo_id: i64, request: &BuildRequest) -> Option<String> {
        let BuildRequest::Push { branch, sha, .. } = request else {
            return None;
        };
        let repo = crate::db::repos::get(&self.0.db, repo_id).await.ok()??;
        let creds = self.0.credentials.for_repo(&repo).await;
        let fetch_ref = format!("refs/heads/{branch}");
        let mirrors = &self.0.mirrors;
        mirrors
            .ensure_commit(repo.id, &repo.clone_url, Some(&fetch_ref), sha, &creds, false)
            .await
            .ok()?;
        let text = mirrors
            .read_file(repo.id, sha, super::sicuro_json::FILE_NAME)
            .await
            .ok()??;
        let json = super::sicuro_json::SicuroJson::parse(&String::from_utf8_lossy(&text)).ok()?;
        (!json.builds_branch(branch)).then(|| format!("sicuro.json's `branches` does not include `{branch}`"))
    }

    async fn resolve(&self, repo: &Repo, request: BuildRequest) -> Result<NewBuild, EngineError> {
        let base = NewBuild {
            repo_id: repo.id,
            ..Default::default()
        };
        Ok(match request {
            BuildRequest::Push {
                branch,
                sha,
                author,
                message,
            } => NewBuild {
                event: Some(TriggerEvent::Push),
                fetch_ref: Some(format!("refs/heads/{branch}")),
                branch: Some(branch),
                commit_sha: sha,
                author,
                message,
                ..base
            },
            BuildRequest::Tag {
                tag,
                sha,
                author,
                message,
            } => NewBuild {
                event: Some(TriggerEvent::Push),
                fetch_ref: Some(format!("refs/tags/{tag}")),
                branch: Some(tag),
                is_tag: true,
                commit_sha: sha,
                author,
                message,
                ..base
            },
            BuildRequest::PullRequest {
                number,
                sha,
                head_ref,
                fork_clone_url,
                author,
                title,
            } => {
                let from_fork = fork_clone_url.is_some();
                // A fork's branch is fetched from the fork itself; GitHub's own pull ref only
                // for pull requests between branches of the repository.
                let fetch_ref = if from_fork {
                    format!("refs/heads/{head_ref}")
                } else {
                    format!("refs/pull/{number}/head")
                };
                NewBuild {
                    event: Some(TriggerEvent::PullRequest),
                    branch: Some(head_ref),
                    pr_number: Some(number),
                    commit_sha: sha,
                    fetch_url: fork_clone_url,
                    fetch_ref: Some(fetch_ref),
                    from_fork,
                    author,
                    message: title,
                    // `never` waits too, so it can never be claimed before it is refused.
                    needs_approval: from_fork && repo.fork_policy() != ForkPolicy::Run,
                    ..base
                }
            }
            BuildRequest::Ping { branch } => self.branch_head(repo, branch, TriggerEvent::Ping).await?,
            BuildRequest::Branch { branch } => self.branch_head(repo, branch, TriggerEvent::Manual).await?,
            BuildRequest::Schedule { branch } => self.branch_head(repo, Some(branch), TriggerEvent::Schedule).await?,
            BuildRequest::Commit { sha, branch } => self.commit(repo, &sha, branch).await?,
            BuildRequest::Rebuild { build_id } => {
                let b = builds::get(&self.0.db, build_id)
                    .await?
                    .filter(|b| b.repo_id == repo.id)
                    .ok_or(EngineError::UnknownBuild(build_id))?;
                NewBuild {
                    event: Some(b.event()),
                    branch: b.branch.clone(),
                    is_tag: b.is_tag != 0,
                    pr_number: b.pr_number,
                    commit_sha: b.commit_sha.clone(),
                    fetch_url: b.fetch_url.clone(),
                    fetch_ref: b.fetch_ref.clone(),
                    from_fork: b.from_fork(),
                    author: b.author.clone(),
                    message: b.message.clone(),
                    rebuild_of: Some(b.rebuild_of.unwrap_or(b.id)),
                    // Someone with push access asked for it: that is the approval.
                    needs_approval: false,
                    ..base
                }
            }
        })
    }

    /// A build of a branch's current head, fetched from the repository now.
    async fn branch_head(
        &self,
        repo: &Repo,
        branch: Option<String>,
        event: TriggerEvent,
    ) -> Result<NewBuild, EngineError> {
        let branch = branch.unwrap_or_else(|| repo.default_branch.clone());
        check_branch_name(&branch)?;
        let creds = self.0.credentials.for_repo(repo).await;
        let head = self
            .0
            .mirrors
            .resolve_branch(repo.id, &repo.clone_url, &branch, &creds)
            .await?;
        Ok(NewBuild {
            repo_id: repo.id,
            event: Some(event),
            fetch_ref: Some(format!("refs/heads/{branch}")),
            branch: Some(branch),
            commit_sha: head.sha,
            author: Some(head.author),
            message: Some(head.message),
            ..Default::default()
        })
    }

    /// A build of one commit of the repository, fetched now so that a wrong id is refused.
    async fn commit(&self, repo: &Repo, sha: &str, branch: Option<String>) -> Result<NewBuild, EngineError> {
        let sha = sha.trim();
        if !sha.chars().all(|c| c.is_ascii_hexdigit()) || sha.len() < 7 || sha.len() > 40 {
            return Err(EngineError::InvalidRequest(
                "commit must be a hexadecimal commit id".into(),
            ));
        }
        if let Some(b) = &branch {
            check_branch_name(b)?;
        }
        let creds = self.0.credentials.for_repo(repo).await;
        let mirrors = &self.0.mirrors;
        mirrors
            .ensure_commit(repo.id, &repo.clone_url, None, sha, &creds, false)
            .await?;
        let info = mirrors.commit_info(repo.id, sha).await?;
        Ok(NewBuild {
            repo_id: repo.id,
            event: Some(TriggerEvent::Manual),
            branch,
            commit_sha: info.sha,
            author: Some(info.author),
            message: Some(info.message),
            ..Default::default()
        })
    }
}

/// Refuses what git could take for an option or a range, or what no branch can be called.
fn check_branch_name(b: &str) -> Result<(), EngineError> {
    if b.is_empty()
        || b.starts_with('-')
        || b.contains("..")
        || b.chars().any(|c| c.is_control() || c == ' ' || c == ':')
    {
        return Err(EngineError::InvalidRequest(format!("`{b}` is not a branch name")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_git_could_misread_are_refused() {
        for bad in ["-x", "a..b", "a b", "a:b", "", "a\u{7}"] {
            assert!(check_branch_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["main", "feature/x-1", "v1.2"] {
            assert!(check_branch_name(ok).is_ok(), "{ok}");
        }
    }
}
