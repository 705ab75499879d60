//! What a webhook delivery asks for: the typed parts of GitHub's payloads Sicuro reads, and the
//! decision — a build (which commit, branch or pull request) or nothing (and why).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub id: i64,
    pub full_name: String,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub private: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct AnyEvent {
    repository: Option<Repository>,
}

/// The repository any event is about, as GitHub describes it now (its name, its visibility):
/// every delivery is news about renames, transfers and visibility.
pub fn repository_seen(body: &[u8]) -> Option<Repository> {
    serde_json::from_slice::<AnyEvent>(body).ok()?.repository
}

#[derive(Debug, Deserialize)]
struct Ping {
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    head_commit: Option<Commit>,
    repository: Repository,
    #[serde(default)]
    pusher: Option<Pusher>,
}

#[derive(Debug, Deserialize)]
struct Commit {
    #[serde(default)]
    message: String,
    #[serde(default)]
    author: Option<CommitAuthor>,
}

#[derive(Debug, Deserialize)]
struct CommitAuthor {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Pusher {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: String,
    number: i64,
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    #[serde(default)]
    title: Option<String>,
    user: Option<User>,
    head: Head,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    /// Null when the fork was deleted.
    repo: Option<Repository>,
}

/// The build a delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A first build of the default branch, when a hook is created.
    Ping { default_branch: Option<String> },
    Push {
        branch: String,
        is_tag: bool,
        sha: String,
        author: Option<String>,
        message: Option<String>,
    },
    PullRequest {
        number: i64,
        sha: String,
        /// Set for a pull request from another repository: fetch from there, trust nothing.
        fork_clone_url: Option<String>,
        head_ref: String,
        author: Option<String>,
        title: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Build {
        repo_github_id: i64,
        repo_full_name: String,
        trigger: Trigger,
    },
    Ignore(String),
}

#[derive(Debug, thiserror::Error)]
#[error("the {event} payload could not be read: {source}")]
pub struct PayloadError {
    pub event: String,
    pub source: serde_json::Error,
}

/// Decides what to do with a delivery of `event` whose body is `body`.
pub fn decide(event: &str, body: &[u8]) -> Result<Decision, PayloadError> {
    let err = |source| PayloadError {
        event: event.to_string(),
        source,
    };
    match event {
        "ping" => {
            let p: Ping = serde_json::from_slice(body).map_err(err)?;
            Ok(match p.repository {
                Some(r) => Decision::Build {
                    repo_github_id: r.id,
                    repo_full_name: r.full_name,
                    trigger: Trigger::Ping {
                        default_branch: r.default_branch,
                    },
                },
                None => Decision::Ignore("a ping for an organization or app hook, not a repository".into()),
            })
        }
        "push" => {
            let p: Push = serde_json::from_slice(body).map_err(err)?;
            if p.deleted || p.after.bytes().all(|b| b == b'0') {
                return Ok(Decision::Ignore(format!("{} was deleted", p.git_ref)));
            }
            let message = p.head_commit.as_ref().map(|c| c.message.clone());
            if let Some(m) = &message
                && (m.contains("[skip ci]") || m.contains("[ci skip]"))
            {
                return Ok(Decision::Ignore("the head commit asks to skip CI".into()));
            }
            let (branch, is_tag) = if let Some(b) = p.git_ref.strip_prefix("refs/heads/") {
                (b.to_string(), false)
            } else if let Some(t) = p.git_ref.strip_prefix("refs/tags/") {
                (t.to_string(), true)
            } else {
                return Ok(Decision::Ignore(format!("{} is neither a branch nor a tag", p.git_ref)));
            };
            let author = p
                .head_commit
                .as_ref()
                .and_then(|c| c.author.as_ref())
                .and_then(|a| a.username.clone().or_else(|| a.name.clone()))
                .or_else(|| p.pusher.and_then(|u| u.name));
            Ok(Decision::Build {
                repo_github_id: p.repository.id,
                repo_full_name: p.repository.full_name,
                trigger: Trigger::Push {
                    branch,
                    is_tag,
                    sha: p.after,
                    author,
                    message,
                },
            })
        }
        "pull_request" => {
            let p: PullRequestEvent = serde_json::from_slice(body).map_err(err)?;
            if !matches!(p.action.as_str(), "opened" | "synchronize" | "reopened") {
                return Ok(Decision::Ignore(format!(
                    "pull request action `{}` needs no build",
                    p.action
                )));
            }
            let fork_clone_url = p
                .pull_request
                .head
                .repo
                .as_ref()
                .filter(|head| head.id != p.repository.id)
                .and_then(|head| head.clone_url.clone());
            let title = p.pull_request.title.clone();
            Ok(Decision::Build {
                repo_github_id: p.repository.id,
                repo_full_name: p.repository.full_name,
                trigger: Trigger::PullRequest {
                    number: p.number,
                    sha: p.pull_request.head.sha,
                    fork_clone_url,
                    head_ref: p.pull_request.head.git_ref,
                    author: p.pull_request.user.map(|u| u.login),
                    title,
                },
            })
        }
        other => Ok(Decision::Ignore(format!("Sicuro does not build on `{other}` events"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo() -> serde_json::Value {
        json!({"id": 1, "full_name": "o/r", "default_branch": "main", "clone_url": "https://github.com/o/r.git"})
    }

    fn decide_json(event: &str, v: serde_json::Value) -> Decision {
        decide(event, v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn ping_builds_the_default_branch() {
        let d = decide_json("ping", json!({"zen": "z", "hook_id": 5, "repository": repo()}));
        assert_eq!(
            d,
            Decision::Build {
                repo_github_id: 1,
                repo_full_name: "o/r".into(),
                trigger: Trigger::Ping {
                    default_branch: Some("main".into())
                }
            }
        );
        assert!(matches!(
            decide_json("ping", json!({"zen": "z", "hook_id": 5})),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn pushes_build_after_unless_deleted_or_skipped() {
        let push = |r: &str, deleted: bool, msg: &str| {
            json!({"ref": r, "before": "a", "after": if deleted { "0".repeat(40) } else { "b".repeat(40) }, "deleted": deleted,
                   "head_commit": if deleted { serde_json::Value::Null } else { json!({"id": "b", "message": msg, "author": {"name": "Ann", "username": "ann"}}) },
                   "repository": repo(), "pusher": {"name": "ann"}})
        };
        match decide_json("push", push("refs/heads/feature/x", false, "Fix it")) {
            Decision::Build {
                trigger:
                    Trigger::Push {
                        branch,
                        is_tag,
                        sha,
                        author,
                        ..
                    },
                ..
            } => {
                assert_eq!(
                    (branch.as_str(), is_tag, sha.len(), author.as_deref()),
                    ("feature/x", false, 40, Some("ann"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide_json("push", push("refs/tags/v1.0", false, "Release")),
            Decision::Build {
                trigger: Trigger::Push { is_tag: true, .. },
                ..
            }
        ));
        assert!(matches!(
            decide_json("push", push("refs/heads/x", true, "")),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            decide_json("push", push("refs/heads/x", false, "Docs [skip ci]")),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            decide_json("push", push("refs/heads/x", false, "Docs\n\n[ci skip]")),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn pull_requests_build_the_head_and_know_forks() {
        let pr = |action: &str, head_repo: serde_json::Value| {
            json!({"action": action, "number": 7, "repository": repo(),
                   "pull_request": {"number": 7, "title": "Add", "user": {"login": "bob"},
                                    "head": {"ref": "add", "sha": "c".repeat(40), "repo": head_repo},
                                    "base": {"ref": "main", "sha": "d".repeat(40), "repo": repo()}}})
        };
        match decide_json("pull_request", pr("opened", repo())) {
            Decision::Build {
                trigger: Trigger::PullRequest {
                    number, fork_clone_url, ..
                },
                ..
            } => {
                assert_eq!((number, fork_clone_url), (7, None));
            }
            other => panic!("{other:?}"),
        }
        let fork = json!({"id": 2, "full_name": "bob/r", "clone_url": "https://github.com/bob/r.git"});
        match decide_json("pull_request", pr("synchronize", fork)) {
            Decision::Build {
                trigger: Trigger::PullRequest { fork_clone_url, .. },
                ..
            } => {
                assert_eq!(fork_clone_url.as_deref(), Some("https://github.com/bob/r.git"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide_json("pull_request", pr("closed", repo())),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            decide_json("pull_request", pr("labeled", repo())),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn other_events_and_broken_payloads() {
        assert!(matches!(decide_json("issues", json!({})), Decision::Ignore(_)));
        assert!(decide("push", b"{not json").is_err());
    }
}
