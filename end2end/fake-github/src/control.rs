//! What tests do to the fake directly: add users, repositories and commits, open pull requests,
//! send webhooks, inject faults, and read back what happened.

use std::time::Duration;

use crate::events::{self, Push};
use crate::faults::{Fault, FaultKind};
use crate::git_repo::{self, NewCommit, ZERO_SHA};
use crate::oauth::new_token;
use crate::specs::{CommitSpec, PullRequestSpec, RepoSpec};
use crate::state::{
    Account, AccountKind, ApiRequest, CommitStatus, Delivery, GitRequest, Hook, HookConfig, Permission, PullRequest,
    PullState, Repo, Token,
};
use crate::{Error, FakeGithub, clock, deliveries};

const WAIT: Duration = Duration::from_secs(20);

impl FakeGithub {
    /// Adds a user and returns a personal token for it with the `repo` scope.
    pub fn add_user(&self, login: &str) -> Result<String, Error> {
        check_name(login)?;
        let account = self.shared.write(|w| {
            if w.account(login).is_some() {
                return Err(Error::Exists(login.into()));
            }
            let a = Account {
                id: w.next_id(),
                login: login.into(),
                name: capitalize(login),
                email: format!("{login}@users.noreply.fake-github.test"),
                kind: AccountKind::User,
                created_at: clock::now(),
            };
            w.accounts.push(a.clone());
            Ok(a)
        })?;
        self.issue_token(&account.login, &["repo"])
    }

    /// Another token for `login` with these scopes.
    pub fn issue_token(&self, login: &str, scopes: &[&str]) -> Result<String, Error> {
        self.shared.write(|w| {
            let user = w
                .user(login)
                .ok_or_else(|| Error::UnknownUser(login.into()))?
                .login
                .clone();
            let token = Token {
                token: new_token("ghp"),
                login: user,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                revoked: false,
            };
            w.tokens.push(token.clone());
            Ok(token.token)
        })
    }

    /// Revokes a token (as when the user revokes the app); false if it was unknown.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.shared.write(|w| {
            let found = w.tokens.iter_mut().find(|t| t.token == token);
            found.map(|t| t.revoked = true).is_some()
        })
    }

    /// Creates a repository (an empty bare one, or a copy of `fork_of`).
    pub async fn add_repo(&self, spec: RepoSpec) -> Result<Repo, Error> {
        let (owner, name) = spec
            .full_name
            .split_once('/')
            .ok_or_else(|| Error::InvalidName(spec.full_name.clone()))?;
        check_name(owner)?;
        check_name(name)?;
        for login in spec.collaborators.keys() {
            self.shared
                .read(|w| w.user(login).map(drop))
                .ok_or_else(|| Error::UnknownUser(login.clone()))?;
        }
        let parent = match &spec.fork_of {
            Some(p) => Some(self.repo_named(p)?),
            None => None,
        };
        let repo = self.shared.write(|w| {
            if w.repo(owner, name).is_some() {
                return Err(Error::Exists(spec.full_name.clone()));
            }
            if w.account(owner).is_none() {
                let org = Account {
                    id: w.next_id(),
                    login: owner.into(),
                    name: owner.into(),
                    email: format!("{owner}@orgs.fake-github.test"),
                    kind: AccountKind::Organization,
                    created_at: clock::now(),
                };
                w.accounts.push(org);
            }
            let now = clock::now();
            let repo = Repo {
                id: w.next_id(),
                owner: w.account(owner).expect("just ensured").login.clone(),
                name: name.into(),
                private: spec.private,
                default_branch: parent
                    .as_ref()
                    .map_or(spec.default_branch.clone(), |p| p.default_branch.clone()),
                language: spec
                    .language
                    .clone()
                    .or_else(|| parent.as_ref().and_then(|p| p.language.clone())),
                description: spec.description.clone(),
                collaborators: spec.collaborators.clone(),
                fork_of: parent.as_ref().map(|p| p.id),
                created_at: now,
                pushed_at: now,
            };
            w.repos.push(repo.clone());
            Ok(repo)
        })?;
        let bare = self.shared.bare_path(&repo);
        let made = match &parent {
            Some(p) => git_repo::clone_bare(&self.shared.bare_path(p), &bare).await,
            None => git_repo::init_bare(&bare, &repo.default_branch).await,
        };
        if let Err(e) = made {
            self.shared.write(|w| w.repos.retain(|r| r.id != repo.id));
            return Err(e);
        }
        Ok(repo)
    }

    /// Gives `login` a role in a repository (or changes it).
    pub fn set_collaborator(&self, repo: &str, login: &str, permission: Permission) -> Result<(), Error> {
        let id = self.repo_named(repo)?.id;
        self.shared.write(|w| {
            let login = w
                .user(login)
                .ok_or_else(|| Error::UnknownUser(login.into()))?
                .login
                .clone();
            let repo = w.repos.iter_mut().find(|r| r.id == id).expect("looked up above");
            repo.collaborators.insert(login, permission);
            Ok(())
        })
    }

    /// Commits on a branch and pushes it to the repository; no webhook is sent (see
    /// [`FakeGithub::deliver_push`]).
    pub async fn commit(&self, repo: &str, spec: CommitSpec) -> Result<Push, Error> {
        let repo = self.repo_named(repo)?;
        let pusher = spec.author.clone().unwrap_or_else(|| repo.owner.clone());
        let author = self
            .shared
            .read(|w| w.account(&pusher).cloned())
            .ok_or_else(|| Error::UnknownUser(pusher.clone()))?;
        let bare = self.shared.bare_path(&repo);
        let before = git_repo::branch_sha(&bare, &spec.branch).await;
        let start = match &spec.from {
            Some(from) => Some(from.clone()),
            None => git_repo::branch_sha(&bare, &repo.default_branch).await,
        };
        let files: Vec<(String, String)> = spec.files.clone().into_iter().collect();
        let change = NewCommit {
            branch: &spec.branch,
            start_from: start.as_deref(),
            message: &spec.message,
            author_name: &author.name,
            author_email: &author.email,
            dir: spec.dir.as_deref(),
            files: &files,
            delete: &spec.delete,
        };
        let after = git_repo::commit(&bare, &self.shared.work_dir, &change).await?;
        self.touch(repo.id);
        Ok(Push {
            repo: repo.full_name(),
            ref_name: format!("refs/heads/{}", spec.branch),
            before: before.unwrap_or_else(|| ZERO_SHA.into()),
            after,
            pusher: author.login,
            forced: false,
        })
    }

    /// Creates a lightweight tag at `target` (a branch, tag or sha).
    pub async fn tag(&self, repo: &str, tag: &str, target: &str) -> Result<Push, Error> {
        let repo = self.repo_named(repo)?;
        let bare = self.shared.bare_path(&repo);
        let sha = git_repo::resolve(&bare, target)
            .await
            .ok_or_else(|| Error::UnknownRef(target.into()))?;
        git_repo::tag(&bare, tag, &sha).await?;
        self.touch(repo.id);
        Ok(Push {
            repo: repo.full_name(),
            ref_name: format!("refs/tags/{tag}"),
            before: ZERO_SHA.into(),
            after: sha,
            pusher: repo.owner.clone(),
            forced: false,
        })
    }

    pub async fn delete_branch(&self, repo: &str, branch: &str) -> Result<Push, Error> {
        let repo = self.repo_named(repo)?;
        let bare = self.shared.bare_path(&repo);
        let before = git_repo::branch_sha(&bare, branch)
            .await
            .ok_or_else(|| Error::UnknownRef(branch.into()))?;
        git_repo::delete_ref(&bare, &format!("refs/heads/{branch}")).await?;
        self.touch(repo.id);
        Ok(Push {
            repo: repo.full_name(),
            ref_name: format!("refs/heads/{branch}"),
            before,
            after: ZERO_SHA.into(),
            pusher: repo.owner.clone(),
            forced: false,
        })
    }

    /// The sha a branch points at.
    pub async fn branch_sha(&self, repo: &str, branch: &str) -> Result<String, Error> {
        let repo = self.repo_named(repo)?;
        git_repo::branch_sha(&self.shared.bare_path(&repo), branch)
            .await
            .ok_or_else(|| Error::UnknownRef(branch.into()))
    }

    /// Opens a pull request (and sets `refs/pull/<n>/head`); returns its number. No webhook is
    /// sent (see [`FakeGithub::deliver_pull_request`]).
    pub async fn open_pull_request(&self, spec: PullRequestSpec) -> Result<u64, Error> {
        let base = self.repo_named(&spec.repo)?;
        let head = match &spec.head_repo {
            Some(h) => self.repo_named(h)?,
            None => base.clone(),
        };
        let user = self
            .shared
            .read(|w| w.user(&spec.user).cloned())
            .ok_or_else(|| Error::UnknownUser(spec.user.clone()))?;
        let (base_bare, head_bare) = (self.shared.bare_path(&base), self.shared.bare_path(&head));
        let base_sha = git_repo::branch_sha(&base_bare, &spec.base)
            .await
            .ok_or_else(|| Error::UnknownRef(spec.base.clone()))?;
        let head_sha = git_repo::branch_sha(&head_bare, &spec.head)
            .await
            .ok_or_else(|| Error::UnknownRef(spec.head.clone()))?;
        let number = self.shared.write(|w| {
            let number = w.pulls.iter().filter(|p| p.base_repo_id == base.id).count() as u64 + 1;
            let now = clock::now();
            let pr = PullRequest {
                id: w.next_id(),
                number,
                base_repo_id: base.id,
                base_ref: spec.base.clone(),
                base_sha,
                head_repo_id: head.id,
                head_ref: spec.head.clone(),
                head_sha: head_sha.clone(),
                previous_head_sha: None,
                previous_title: None,
                title: spec.title.clone(),
                body: spec.body.clone(),
                user: user.login.clone(),
                state: PullState::Open,
                created_at: now,
                updated_at: now,
                closed_at: None,
            };
            w.pulls.push(pr);
            number
        });
        let refname = format!("refs/pull/{number}/head");
        git_repo::set_ref(&base_bare, &head_bare, &refname, &head_sha).await?;
        Ok(number)
    }

    /// Moves a pull request to its head branch's current commit (after new commits there), as
    /// GitHub does before sending `synchronize`.
    pub async fn synchronize_pull_request(&self, repo: &str, number: u64) -> Result<(), Error> {
        let pr = self.pull_request(repo, number)?;
        let (base, head) = self.shared.read(|w| {
            (
                w.repo_by_id(pr.base_repo_id).cloned(),
                w.repo_by_id(pr.head_repo_id).cloned(),
            )
        });
        let (base, head) = (base.expect("base exists"), head.expect("head exists"));
        let (base_bare, head_bare) = (self.shared.bare_path(&base), self.shared.bare_path(&head));
        let sha = git_repo::branch_sha(&head_bare, &pr.head_ref)
            .await
            .ok_or_else(|| Error::UnknownRef(pr.head_ref.clone()))?;
        git_repo::set_ref(&base_bare, &head_bare, &format!("refs/pull/{number}/head"), &sha).await?;
        self.update_pull(&pr, |p| {
            p.previous_head_sha = Some(std::mem::replace(&mut p.head_sha, sha));
        });
        Ok(())
    }

    pub fn close_pull_request(&self, repo: &str, number: u64) -> Result<(), Error> {
        let pr = self.pull_request(repo, number)?;
        self.update_pull(&pr, |p| {
            p.state = PullState::Closed;
            p.closed_at = Some(clock::now());
        });
        Ok(())
    }

    pub fn reopen_pull_request(&self, repo: &str, number: u64) -> Result<(), Error> {
        let pr = self.pull_request(repo, number)?;
        self.update_pull(&pr, |p| {
            p.state = PullState::Open;
            p.closed_at = None;
        });
        Ok(())
    }

    pub fn edit_pull_request_title(&self, repo: &str, number: u64, title: &str) -> Result<(), Error> {
        let pr = self.pull_request(repo, number)?;
        self.update_pull(&pr, |p| {
            p.previous_title = Some(std::mem::replace(&mut p.title, title.into()))
        });
        Ok(())
    }

    pub fn pull_request(&self, repo: &str, number: u64) -> Result<PullRequest, Error> {
        let id = self.repo_named(repo)?.id;
        self.shared
            .read(|w| w.pull(id, number).cloned())
            .ok_or_else(|| Error::UnknownPullRequest(repo.into(), number))
    }

    /// Sends `ping` to one hook now and returns the recorded delivery.
    pub async fn deliver_ping(&self, hook_id: u64) -> Result<Delivery, Error> {
        deliveries::ping(&self.shared, hook_id).await
    }

    /// Sends `push` for this change to every subscribed hook of its repository.
    pub async fn deliver_push(&self, push: &Push) -> Result<Vec<Delivery>, Error> {
        let repo = self.repo_named(&push.repo)?;
        let bare = self.shared.bare_path(&repo);
        let shas = if push.deleted() || push.ref_name.starts_with("refs/tags/") {
            vec![]
        } else {
            git_repo::pushed_commits(&bare, &push.ref_name, &push.before, &push.after, 20).await?
        };
        let mut commits = Vec::with_capacity(shas.len());
        for sha in &shas {
            commits.push(git_repo::commit_info(&bare, sha).await?);
        }
        let head = match push.deleted() {
            true => None,
            false => Some(git_repo::commit_info(&bare, &push.after).await?),
        };
        let payload = self
            .shared
            .read(|w| events::push(&self.shared.urls, w, &repo, push, &commits, head.as_ref()));
        deliveries::to_subscribers(&self.shared, repo.id, "push", None, &payload).await
    }

    /// Sends `pull_request` with `action` (opened, synchronize, reopened, closed, edited) for
    /// the pull request as it is now; the sender is its author.
    pub async fn deliver_pull_request(&self, repo: &str, number: u64, action: &str) -> Result<Vec<Delivery>, Error> {
        if !["opened", "synchronize", "reopened", "closed", "edited"].contains(&action) {
            return Err(Error::UnknownAction(action.into()));
        }
        let pr = self.pull_request(repo, number)?;
        let payload = self
            .shared
            .read(|w| events::pull_request(&self.shared.urls, w, &pr, action, &pr.user));
        deliveries::to_subscribers(&self.shared, pr.base_repo_id, "pull_request", Some(action), &payload).await
    }

    /// Sends a recorded delivery again with the same id and bytes (GitHub's "Redeliver").
    pub async fn redeliver(&self, guid: &str) -> Result<Delivery, Error> {
        deliveries::redeliver(&self.shared, guid).await
    }

    /// Adds a hook directly, as if made earlier through the API; no ping is sent.
    pub fn add_hook(&self, repo: &str, config: HookConfig, events: &[&str]) -> Result<Hook, Error> {
        let repo = self.repo_named(repo)?;
        Ok(self.shared.write(|w| {
            let now = clock::now();
            let hook = Hook {
                id: w.next_id(),
                repo_id: repo.id,
                name: "web".into(),
                active: true,
                events: events.iter().map(|e| e.to_string()).collect(),
                config,
                creator: repo.owner.clone(),
                created_at: now,
                updated_at: now,
                last_response_code: None,
                delivered: false,
            };
            w.hooks.push(hook.clone());
            hook
        }))
    }

    /// The next `count` API requests (those whose path contains `path_contains`, if given) fail.
    pub fn inject_fault(&self, kind: FaultKind, count: u32, path_contains: Option<&str>) {
        let fault = Fault {
            kind,
            remaining: count,
            path_contains: path_contains.map(String::from),
        };
        self.shared.write(|w| w.faults.push(fault));
    }

    pub fn clear_faults(&self) {
        self.shared.write(|w| w.faults.clear());
    }

    pub fn repo(&self, full_name: &str) -> Option<Repo> {
        self.shared.read(|w| w.repo_by_full_name(full_name).cloned())
    }

    /// Hooks of a repository, with their secrets.
    pub fn hooks(&self, repo: &str) -> Vec<Hook> {
        let Ok(repo) = self.repo_named(repo) else {
            return vec![];
        };
        self.shared
            .read(|w| w.hooks.iter().filter(|h| h.repo_id == repo.id).cloned().collect())
    }

    /// Commit statuses of a repository in the order they were created.
    pub fn statuses(&self, repo: &str) -> Vec<CommitStatus> {
        let Ok(repo) = self.repo_named(repo) else {
            return vec![];
        };
        self.shared
            .read(|w| w.statuses.iter().filter(|s| s.repo_id == repo.id).cloned().collect())
    }

    pub fn api_requests(&self) -> Vec<ApiRequest> {
        self.shared.read(|w| w.api_requests.clone())
    }

    pub fn git_requests(&self) -> Vec<GitRequest> {
        self.shared.read(|w| w.git_requests.clone())
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.read(|w| w.deliveries.clone())
    }

    pub fn clone_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git", self.shared.urls.web)
    }

    /// Waits until `check` returns `Some`, re-checking after every change of the fake's state
    /// (no polling, no sleeps); fails after 20 s naming `what`.
    pub async fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&FakeGithub) -> Option<T>) -> Result<T, Error> {
        let mut changes = self.shared.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            changes.borrow_and_update();
            if let Some(found) = check(self) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Err(Error::Timeout {
                        what: what.into(),
                        secs: WAIT.as_secs(),
                    });
                }
            }
        }
    }

    pub(crate) fn repo_named(&self, full_name: &str) -> Result<Repo, Error> {
        self.repo(full_name).ok_or_else(|| Error::UnknownRepo(full_name.into()))
    }

    fn touch(&self, repo_id: u64) {
        self.shared.write(|w| {
            if let Some(r) = w.repos.iter_mut().find(|r| r.id == repo_id) {
                r.pushed_at = clock::now();
            }
        });
    }

    fn update_pull(&self, pr: &PullRequest, change: impl FnOnce(&mut PullRequest)) {
        self.shared.write(|w| {
            if let Some(p) = w.pulls.iter_mut().find(|p| p.id == pr.id) {
                change(p);
                p.updated_at = clock::now();
            }
        });
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.into()))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
