//! The fake's world: accounts, tokens, repositories, hooks, statuses, pull requests, and the
//! records of everything that happened. One mutex guards it; every change bumps a watch channel
//! so tests can wait for a condition instead of sleeping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::faults::Fault;

/// What a user may do in a repository, weakest first (the order GitHub's roles nest in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Pull,
    Triage,
    Push,
    Maintain,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    User,
    Organization,
}

/// A user or an organization (an owner that is not a known user becomes an organization).
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub kind: AccountKind,
    pub created_at: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Token {
    pub token: String,
    pub login: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct OAuthCode {
    pub code: String,
    pub login: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub used: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
    pub language: Option<String>,
    pub description: Option<String>,
    pub collaborators: BTreeMap<String, Permission>,
    /// Id of the repository this one was forked from.
    pub fork_of: Option<u64>,
    pub created_at: u64,
    pub pushed_at: u64,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HookConfig {
    pub url: String,
    pub content_type: String,
    pub secret: Option<String>,
    pub insecure_ssl: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hook {
    pub id: u64,
    pub repo_id: u64,
    pub name: String,
    pub active: bool,
    pub events: Vec<String>,
    pub config: HookConfig,
    /// Login of whoever created it: the `sender` of its ping.
    pub creator: String,
    pub created_at: u64,
    pub updated_at: u64,
    /// HTTP status of the latest delivery (`None` when none yet, or it failed to connect).
    pub last_response_code: Option<u16>,
    pub delivered: bool,
}

impl Hook {
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == event || e == "*")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CommitStatus {
    pub id: u64,
    pub repo_id: u64,
    pub sha: String,
    pub state: String,
    pub target_url: Option<String>,
    pub description: Option<String>,
    pub context: String,
    pub creator: String,
    pub created_at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    Open,
    Closed,
}

#[derive(Clone, Debug, Serialize)]
pub struct PullRequest {
    pub id: u64,
    pub number: u64,
    pub base_repo_id: u64,
    pub base_ref: String,
    pub base_sha: String,
    pub head_repo_id: u64,
    pub head_ref: String,
    pub head_sha: String,
    /// Head before the latest `synchronize`, for that event's `before`.
    pub previous_head_sha: Option<String>,
    /// Title before the latest edit, for the `edited` event's `changes`.
    pub previous_title: Option<String>,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub state: PullState,
    pub created_at: u64,
    pub updated_at: u64,
    pub closed_at: Option<u64>,
}

/// One request to the REST API, as it arrived, with the status the fake answered.
#[derive(Clone, Debug, Serialize)]
pub struct ApiRequest {
    pub method: String,
    /// Path as sent, `/api/v3/...`, without the query.
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names: authorization, accept, content-type, user-agent, x-github-api-version.
    pub headers: BTreeMap<String, String>,
    pub body: Option<serde_json::Value>,
    /// Login the token belongs to, if it was a valid token.
    pub user: Option<String>,
    pub status: u16,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Basic,
    Bearer,
}

/// One request of git's dumb HTTP protocol.
#[derive(Clone, Debug, Serialize)]
pub struct GitRequest {
    pub method: String,
    /// `owner/name` as requested (without `.git`).
    pub repo: String,
    /// Path inside the repository, e.g. `info/refs`.
    pub path: String,
    pub credentials: Option<CredentialKind>,
    /// Login of a valid token, if one was sent.
    pub user: Option<String>,
    pub status: u16,
}

/// One webhook delivery attempt (a redelivery is a new record with the same `guid` and body).
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub guid: String,
    pub hook_id: u64,
    pub repo: String,
    pub event: String,
    pub action: Option<String>,
    pub url: String,
    /// The exact bytes sent (JSON is UTF-8).
    pub body: String,
    pub headers: BTreeMap<String, String>,
    /// HTTP status the receiver answered; `None` when no answer came (see `error`).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub response_body: String,
    pub redelivery: bool,
    pub delivered_at: u64,
}

impl Delivery {
    pub fn payload(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("deliveries are JSON")
    }
}

#[derive(Default)]
pub struct World {
    pub(crate) accounts: Vec<Account>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) codes: Vec<OAuthCode>,
    pub(crate) repos: Vec<Repo>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) statuses: Vec<CommitStatus>,
    pub(crate) pulls: Vec<PullRequest>,
    pub(crate) api_requests: Vec<ApiRequest>,
    pub(crate) git_requests: Vec<GitRequest>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) memberships: Vec<crate::identity::Membership>,
    next_id: u64,
}

impl World {
    /// Ids are unique across kinds, which GitHub's are not, but nothing can tell.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    pub fn account(&self, login: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.login.eq_ignore_ascii_case(login))
    }

    pub fn user(&self, login: &str) -> Option<&Account> {
        self.account(login).filter(|a| a.kind == AccountKind::User)
    }

    /// The account of a live token.
    pub fn token(&self, token: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.token == token && !t.revoked)
    }

    /// Owner and name match without regard to case, as on GitHub.
    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    pub fn repo_by_full_name(&self, full_name: &str) -> Option<&Repo> {
        let (owner, name) = full_name.split_once('/')?;
        self.repo(owner, name)
    }

    pub fn repo_by_id(&self, id: u64) -> Option<&Repo> {
        self.repos.iter().find(|r| r.id == id)
    }

    /// The role `login` holds in `repo`; read access to public repositories for everyone.
    pub fn permission(&self, repo: &Repo, login: Option<&str>) -> Option<Permission> {
        let granted = login.and_then(|login| {
            if repo.owner.eq_ignore_ascii_case(login) {
                return Some(Permission::Admin);
            }
            repo.collaborators
                .iter()
                .find(|(who, _)| who.eq_ignore_ascii_case(login))
                .map(|(_, p)| *p)
        });
        granted.or((!repo.private).then_some(Permission::Pull))
    }

    pub fn hook(&self, id: u64) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.id == id)
    }

    pub fn pull(&self, repo_id: u64, number: u64) -> Option<&PullRequest> {
        self.pulls
            .iter()
            .find(|p| p.base_repo_id == repo_id && p.number == number)
    }
}

/// Everything the handlers share: the world, where the bare repositories live, the addresses.
pub struct Shared {
    world: Mutex<World>,
    changed: watch::Sender<u64>,
    pub(crate) urls: Urls,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) repos_dir: PathBuf,
    pub(crate) work_dir: PathBuf,
    pub(crate) http: reqwest::Client,
}

/// Bases for the URLs the fake hands out, without trailing slashes (`http://127.0.0.1:N`,
/// `http://127.0.0.1:N/api/v3`), the way GitHub Enterprise spells them in its JSON.
#[derive(Clone, Debug)]
pub struct Urls {
    pub web: String,
    pub api: String,
    pub host: String,
}

impl Urls {
    pub fn new(host_port: &str) -> Self {
        let web = format!("http://{host_port}");
        Urls {
            api: format!("{web}/api/v3"),
            web,
            host: host_port.split(':').next().unwrap_or(host_port).to_string(),
        }
    }
}

impl Shared {
    pub(crate) fn new(
        urls: Urls,
        client_id: String,
        client_secret: String,
        state_dir: PathBuf,
        http: reqwest::Client,
    ) -> Self {
        Shared {
            world: Mutex::new(World::default()),
            changed: watch::channel(0).0,
            urls,
            client_id,
            client_secret,
            repos_dir: state_dir.join("repos"),
            work_dir: state_dir.join("work"),
            http,
        }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic elsewhere must not hide the state from the test that is reporting it.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        f(&self.lock())
    }

    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|n| *n += 1);
        out
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn bare_path(&self, repo: &Repo) -> PathBuf {
        // By id: a repository keeps its code when it is renamed or transferred.
        self.repos_dir.join(format!("{}.git", repo.id))
    }
}
