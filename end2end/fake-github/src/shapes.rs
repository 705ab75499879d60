//! How GitHub spells its objects in JSON: users, repositories, hooks, statuses, commits and pull
//! requests, built from the fake's state. Field sets follow GitHub's OpenAPI description and the
//! payloads in `@octokit/webhooks-examples`.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::clock::iso8601;
use crate::git_repo::CommitInfo;
use crate::state::{Account, AccountKind, CommitStatus, Hook, Permission, PullRequest, PullState, Repo, Urls, World};

pub fn node_id(kind: &str, id: u64) -> String {
    let tag = match kind {
        "User" => "04",
        "Organization" => "12",
        "Repository" => "10",
        "PullRequest" => "11",
        _ => "00",
    };
    base64::engine::general_purpose::STANDARD.encode(format!("{tag}:{kind}{id}"))
}

fn kind_name(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::User => "User",
        AccountKind::Organization => "Organization",
    }
}

/// GitHub's `simple-user`.
pub fn simple_user(urls: &Urls, a: &Account) -> Value {
    let (api, login) = (&urls.api, &a.login);
    let u = format!("{api}/users/{login}");
    json!({
        "login": login,
        "id": a.id,
        "node_id": node_id(kind_name(a.kind), a.id),
        "avatar_url": format!("{}/avatars/u/{}?v=4", urls.web, a.id),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{}/{login}", urls.web),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind_name(a.kind),
        "user_view_type": "public",
        "site_admin": false
    })
}

/// `GET /user` for the token's own user (GitHub's `private-user`).
pub fn private_user(urls: &Urls, world: &World, a: &Account) -> Value {
    let owned: Vec<&Repo> = world.repos.iter().filter(|r| r.owner == a.login).collect();
    let private = owned.iter().filter(|r| r.private).count();
    let mut user = simple_user(urls, a);
    let extra = json!({
        "user_view_type": "private",
        "name": a.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": a.email,
        "notification_email": a.email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": owned.len() - private,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": iso8601(a.created_at),
        "updated_at": iso8601(a.created_at),
        "private_gists": 0,
        "total_private_repos": private,
        "owned_private_repos": private,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": false,
        "plan": {"name": "free", "space": 976_562_499, "collaborators": 0, "private_repos": 10_000}
    });
    merge(&mut user, extra);
    user
}

fn permissions(p: Permission) -> Value {
    json!({
        "admin": p >= Permission::Admin,
        "maintain": p >= Permission::Maintain,
        "push": p >= Permission::Push,
        "triage": p >= Permission::Triage,
        "pull": true
    })
}

/// The full repository object; `viewer` adds `permissions` as the API does for a signed-in caller.
pub fn repository(urls: &Urls, world: &World, repo: &Repo, viewer: Option<Permission>) -> Value {
    let full = repo.full_name();
    let (web, api) = (&urls.web, &urls.api);
    let r = format!("{api}/repos/{full}");
    let owner = world
        .account(&repo.owner)
        .expect("every repository has an owner account");
    let forks = world.repos.iter().filter(|f| f.fork_of == Some(repo.id)).count();
    let mut v = json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": repo.private,
        "owner": simple_user(urls, owner),
        "html_url": format!("{web}/{full}"),
        "description": repo.description,
        "fork": repo.fork_of.is_some(),
        "url": r,
        "forks_url": format!("{r}/forks"),
        "keys_url": format!("{r}/keys{{/key_id}}"),
        "collaborators_url": format!("{r}/collaborators{{/collaborator}}"),
        "teams_url": format!("{r}/teams"),
        "hooks_url": format!("{r}/hooks"),
        "issue_events_url": format!("{r}/issues/events{{/number}}"),
        "events_url": format!("{r}/events"),
        "assignees_url": format!("{r}/assignees{{/user}}"),
        "branches_url": format!("{r}/branches{{/branch}}"),
        "tags_url": format!("{r}/tags"),
        "blobs_url": format!("{r}/git/blobs{{/sha}}"),
        "git_tags_url": format!("{r}/git/tags{{/sha}}"),
        "git_refs_url": format!("{r}/git/refs{{/sha}}"),
        "trees_url": format!("{r}/git/trees{{/sha}}"),
        "statuses_url": format!("{r}/statuses/{{sha}}"),
        "languages_url": format!("{r}/languages"),
        "stargazers_url": format!("{r}/stargazers"),
        "contributors_url": format!("{r}/contributors"),
        "subscribers_url": format!("{r}/subscribers"),
        "subscription_url": format!("{r}/subscription"),
        "commits_url": format!("{r}/commits{{/sha}}"),
        "git_commits_url": format!("{r}/git/commits{{/sha}}"),
        "comments_url": format!("{r}/comments{{/number}}"),
        "issue_comment_url": format!("{r}/issues/comments{{/number}}"),
        "contents_url": format!("{r}/contents/{{+path}}"),
        "compare_url": format!("{r}/compare/{{base}}...{{head}}"),
        "merges_url": format!("{r}/merges"),
        "archive_url": format!("{r}/{{archive_format}}{{/ref}}"),
        "downloads_url": format!("{r}/downloads"),
        "issues_url": format!("{r}/issues{{/number}}"),
        "pulls_url": format!("{r}/pulls{{/number}}"),
        "milestones_url": format!("{r}/milestones{{/number}}"),
        "notifications_url": format!("{r}/notifications{{?since,all,participating}}"),
        "labels_url": format!("{r}/labels{{/name}}"),
        "releases_url": format!("{r}/releases{{/id}}"),
        "deployments_url": format!("{r}/deployments"),
        "created_at": iso8601(repo.created_at),
        "updated_at": iso8601(repo.pushed_at),
        "pushed_at": iso8601(repo.pushed_at),
        "git_url": format!("git://{}/{full}.git", urls.host),
        "ssh_url": format!("git@{}:{full}.git", urls.host),
        "clone_url": format!("{web}/{full}.git"),
        "svn_url": format!("{web}/{full}"),
        "homepage": null,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": repo.language,
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": true,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": forks,
        "mirror_url": null,
        "archived": false,
        "disabled": false,
        "open_issues_count": 0,
        "license": null,
        "allow_forking": true,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [],
        "visibility": if repo.private { "private" } else { "public" },
        "forks": forks,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": repo.default_branch,
        "network_count": forks,
        "subscribers_count": 0
    });
    if let Some(p) = viewer {
        v["permissions"] = permissions(p);
    }
    if let Some(parent) = repo.fork_of.and_then(|id| world.repo_by_id(id)) {
        v["parent"] = repository(urls, world, parent, None);
        v["source"] = v["parent"].clone();
    }
    v
}

/// The repository as push payloads spell it: timestamps as unix seconds, `url` the web page,
/// the owner with name and email.
pub fn push_repository(urls: &Urls, world: &World, repo: &Repo) -> Value {
    let mut v = repository(urls, world, repo, None);
    for key in ["parent", "source", "network_count", "subscribers_count"] {
        v.as_object_mut().expect("an object").remove(key);
    }
    let owner = world
        .account(&repo.owner)
        .expect("every repository has an owner account");
    v["owner"]["name"] = json!(owner.login);
    v["owner"]["email"] = json!(owner.email);
    v["created_at"] = json!(repo.created_at);
    v["pushed_at"] = json!(repo.pushed_at);
    v["url"] = v["html_url"].clone();
    v["stargazers"] = json!(0);
    v["master_branch"] = json!(repo.default_branch);
    v
}

/// The repository as other webhook payloads and pull requests embed it.
pub fn event_repository(urls: &Urls, world: &World, repo: &Repo) -> Value {
    let mut v = repository(urls, world, repo, None);
    for key in ["parent", "source", "network_count", "subscribers_count"] {
        v.as_object_mut().expect("an object").remove(key);
    }
    v
}

pub fn hook(urls: &Urls, repo: &Repo, h: &Hook) -> Value {
    let url = format!("{}/repos/{}/hooks/{}", urls.api, repo.full_name(), h.id);
    let mut config = json!({
        "content_type": h.config.content_type,
        "insecure_ssl": h.config.insecure_ssl,
        "url": h.config.url,
    });
    if h.config.secret.is_some() {
        config["secret"] = json!("********");
    }
    let last_response = match (h.delivered, h.last_response_code) {
        (false, _) => json!({"code": null, "status": "unused", "message": null}),
        (true, Some(code)) if (200..300).contains(&code) => {
            json!({"code": code, "status": "active", "message": "OK"})
        }
        (true, Some(code)) => {
            json!({"code": code, "status": "active", "message": format!("Invalid HTTP Response: {code}")})
        }
        (true, None) => {
            json!({"code": null, "status": "active", "message": "failed to connect to host"})
        }
    };
    json!({
        "type": "Repository",
        "id": h.id,
        "name": h.name,
        "active": h.active,
        "events": h.events,
        "config": config,
        "updated_at": iso8601(h.updated_at),
        "created_at": iso8601(h.created_at),
        "url": url,
        "test_url": format!("{url}/test"),
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
        "last_response": last_response
    })
}

pub fn status(urls: &Urls, world: &World, repo: &Repo, s: &CommitStatus) -> Value {
    let creator = world.account(&s.creator).map(|a| simple_user(urls, a));
    json!({
        "url": format!("{}/repos/{}/statuses/{}", urls.api, repo.full_name(), s.sha),
        "avatar_url": creator.as_ref().map(|c| c["avatar_url"].clone()),
        "id": s.id,
        "node_id": base64::engine::general_purpose::STANDARD.encode(format!("011:StatusContext{}", s.id)),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": iso8601(s.created_at),
        "updated_at": iso8601(s.created_at),
        "creator": creator
    })
}

/// A GitHub account whose email matches the commit's, as the API links authors.
fn account_for_email<'w>(world: &'w World, email: &str) -> Option<&'w Account> {
    world.accounts.iter().find(|a| a.email.eq_ignore_ascii_case(email))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`.
pub fn commit(urls: &Urls, world: &World, repo: &Repo, c: &CommitInfo) -> Value {
    let full = repo.full_name();
    let api = format!("{}/repos/{full}", urls.api);
    let author = account_for_email(world, &c.author_email).map(|a| simple_user(urls, a));
    let committer = account_for_email(world, &c.committer_email).map(|a| simple_user(urls, a));
    let web_tree = format!("{}/{full}", urls.web);
    let files: Vec<Value> = [("added", &c.added), ("removed", &c.removed), ("modified", &c.modified)]
        .into_iter()
        .flat_map(|(status, paths)| {
            let (web_tree, api, sha) = (&web_tree, &api, &c.sha);
            paths.iter().map(move |p| {
                let p_url = p
                    .replace('%', "%25")
                    .replace(' ', "%20")
                    .replace('#', "%23")
                    .replace('?', "%3F");
                json!({"sha": null, "filename": p, "status": status, "additions": 0, "deletions": 0, "changes": 0,
                       "blob_url": format!("{web_tree}/blob/{sha}/{p_url}"),
                       "raw_url": format!("{web_tree}/raw/{sha}/{p_url}"),
                       "contents_url": format!("{api}/contents/{p_url}?ref={sha}")})
            })
        })
        .collect();
    json!({
        "sha": c.sha,
        "node_id": base64::engine::general_purpose::STANDARD.encode(format!("06:Commit{}:{}", repo.id, c.sha)),
        "commit": {
            "author": {"name": c.author_name, "email": c.author_email, "date": utc(&c.author_date)},
            "committer": {"name": c.committer_name, "email": c.committer_email, "date": utc(&c.committer_date)},
            "message": c.message,
            "tree": {"sha": c.tree, "url": format!("{api}/git/trees/{}", c.tree)},
            "url": format!("{api}/git/commits/{}", c.sha),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
        },
        "url": format!("{api}/commits/{}", c.sha),
        "html_url": format!("{}/{full}/commit/{}", urls.web, c.sha),
        "comments_url": format!("{api}/commits/{}/comments", c.sha),
        "author": author,
        "committer": committer,
        "parents": c.parents.iter().map(|p| json!({
            "sha": p, "url": format!("{api}/commits/{p}"), "html_url": format!("{}/{full}/commit/{p}", urls.web)
        })).collect::<Vec<_>>(),
        "stats": {"additions": 0, "deletions": 0, "total": 0},
        "files": files
    })
}

/// A commit as push payloads list it.
pub fn push_commit(urls: &Urls, world: &World, repo: &Repo, c: &CommitInfo) -> Value {
    let person = |name: &str, email: &str| {
        let mut p = json!({"name": name, "email": email});
        if let Some(a) = account_for_email(world, email) {
            p["username"] = json!(a.login);
        }
        p
    };
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "distinct": true,
        "message": c.message,
        "timestamp": c.committer_date,
        "url": format!("{}/{}/commit/{}", urls.web, repo.full_name(), c.sha),
        "author": person(&c.author_name, &c.author_email),
        "committer": person(&c.committer_name, &c.committer_email),
        "added": c.added,
        "removed": c.removed,
        "modified": c.modified
    })
}

pub fn pull_request(urls: &Urls, world: &World, pr: &PullRequest) -> Value {
    let base = world.repo_by_id(pr.base_repo_id).expect("a pull request's base exists");
    let head = world.repo_by_id(pr.head_repo_id).expect("a pull request's head exists");
    let user = world.account(&pr.user).expect("a pull request's author exists");
    let full = base.full_name();
    let api = format!("{}/repos/{full}", urls.api);
    let n = pr.number;
    let html = format!("{}/{full}/pull/{n}", urls.web);
    let side = |repo: &Repo, r#ref: &str, sha: &str| {
        let owner = world
            .account(&repo.owner)
            .expect("every repository has an owner account");
        json!({
            "label": format!("{}:{}", repo.owner, r#ref),
            "ref": r#ref,
            "sha": sha,
            "user": simple_user(urls, owner),
            "repo": event_repository(urls, world, repo)
        })
    };
    let closed = pr.state == PullState::Closed;
    json!({
        "url": format!("{api}/pulls/{n}"),
        "id": pr.id,
        "node_id": node_id("PullRequest", pr.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{n}"),
        "number": n,
        "state": pr.state,
        "locked": false,
        "title": pr.title,
        "user": simple_user(urls, user),
        "body": pr.body,
        "created_at": iso8601(pr.created_at),
        "updated_at": iso8601(pr.updated_at),
        "closed_at": pr.closed_at.map(iso8601),
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": null,
        "draft": false,
        "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{}", pr.head_sha),
        "head": side(head, &pr.head_ref, &pr.head_sha),
        "base": side(base, &pr.base_ref, &pr.base_sha),
        "_links": {
            "self": {"href": format!("{api}/pulls/{n}")},
            "html": {"href": html},
            "issue": {"href": format!("{api}/issues/{n}")},
            "comments": {"href": format!("{api}/issues/{n}/comments")},
            "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
            "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{api}/pulls/{n}/commits")},
            "statuses": {"href": format!("{api}/statuses/{}", pr.head_sha)}
        },
        "author_association": if base.owner == pr.user { "OWNER" } else { "CONTRIBUTOR" },
        "auto_merge": null,
        "active_lock_reason": null,
        "merged": false,
        "mergeable": if closed { Value::Null } else { json!(true) },
        "rebaseable": if closed { Value::Null } else { json!(true) },
        "mergeable_state": if closed { "unknown" } else { "clean" },
        "merged_by": null,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0
    })
}

/// git prints `2024-01-02T03:04:05+01:00`; the API answers in UTC with `Z`. Offsets are kept
/// as git wrote them when they are not zero: both forms are valid date-times.
fn utc(date: &str) -> String {
    date.strip_suffix("+00:00")
        .map(|d| format!("{d}Z"))
        .unwrap_or_else(|| date.to_string())
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        let e: Map<String, Value> = e;
        t.extend(e);
    }
}
