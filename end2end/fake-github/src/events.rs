//! Webhook payloads (`ping`, `push`, `pull_request`) built from the fake's state, in the shapes of
//! `@octokit/webhooks-examples`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::git_repo::{CommitInfo, ZERO_SHA};
use crate::shapes;
use crate::state::{Hook, PullRequest, Repo, Urls, World};

/// A change of one ref, as a `push` event reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Push {
    /// `owner/name`.
    pub repo: String,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// 40 zeros when the ref was created.
    pub before: String,
    /// 40 zeros when the ref was deleted.
    pub after: String,
    /// Login of who pushed.
    pub pusher: String,
    pub forced: bool,
}

impl Push {
    pub fn created(&self) -> bool {
        self.before == ZERO_SHA
    }

    pub fn deleted(&self) -> bool {
        self.after == ZERO_SHA
    }
}

const ZEN: [&str; 6] = [
    "Anything added dilutes everything else.",
    "Keep it logically awesome.",
    "Design for failure.",
    "Practicality beats purity.",
    "Speak like a human.",
    "Mind your words, they are important.",
];

pub fn ping(urls: &Urls, world: &World, repo: &Repo, hook: &Hook) -> Value {
    let sender = world.account(&hook.creator).or_else(|| world.account(&repo.owner));
    json!({
        "zen": ZEN[(hook.id % ZEN.len() as u64) as usize],
        "hook_id": hook.id,
        "hook": shapes::hook(urls, repo, hook),
        "repository": shapes::event_repository(urls, world, repo),
        "sender": sender.map(|s| shapes::simple_user(urls, s))
    })
}

pub fn push(
    urls: &Urls,
    world: &World,
    repo: &Repo,
    push: &Push,
    commits: &[CommitInfo],
    head: Option<&CommitInfo>,
) -> Value {
    let full = repo.full_name();
    let short_name = push.ref_name.rsplit('/').next().unwrap_or(&push.ref_name);
    let compare = if push.created() {
        format!("{}/{full}/compare/{short_name}", urls.web)
    } else if push.deleted() {
        format!(
            "{}/{full}/compare/{}...{}",
            urls.web,
            &push.before[..12],
            &ZERO_SHA[..12]
        )
    } else {
        format!(
            "{}/{full}/compare/{}...{}",
            urls.web,
            &push.before[..12],
            &push.after[..12]
        )
    };
    let pusher = world.account(&push.pusher);
    json!({
        "ref": push.ref_name,
        "before": push.before,
        "after": push.after,
        "created": push.created(),
        "deleted": push.deleted(),
        "forced": push.forced,
        "base_ref": null,
        "compare": compare,
        "commits": commits.iter().map(|c| shapes::push_commit(urls, world, repo, c)).collect::<Vec<_>>(),
        "head_commit": head.map(|c| shapes::push_commit(urls, world, repo, c)),
        "repository": shapes::push_repository(urls, world, repo),
        "pusher": {
            "name": push.pusher,
            "email": pusher.map(|p| p.email.clone())
        },
        "sender": pusher.map(|p| shapes::simple_user(urls, p))
    })
}

pub fn pull_request(urls: &Urls, world: &World, pr: &PullRequest, action: &str, sender: &str) -> Value {
    let base = world.repo_by_id(pr.base_repo_id).expect("a pull request's base exists");
    let mut v = json!({
        "action": action,
        "number": pr.number,
        "pull_request": shapes::pull_request(urls, world, pr),
        "repository": shapes::event_repository(urls, world, base),
        "sender": world.account(sender).map(|s| shapes::simple_user(urls, s))
    });
    match action {
        "synchronize" => {
            v["before"] = json!(pr.previous_head_sha.clone().unwrap_or_else(|| pr.head_sha.clone()));
            v["after"] = json!(pr.head_sha);
        }
        "edited" => {
            v["changes"] = match &pr.previous_title {
                Some(from) => json!({"title": {"from": from}}),
                None => json!({}),
            };
        }
        _ => {}
    }
    v
}
