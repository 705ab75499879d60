//! A stateful stand-in for GitHub (or GitHub Enterprise) on one local port, for Sicuro's tests:
//! the OAuth App web flow, the REST API calls Sicuro makes, git's dumb HTTP protocol for clones,
//! and webhook deliveries to the hooks Sicuro creates. Tests drive it through [`FakeGithub`]'s
//! methods; the `fake-github` binary exposes the same operations under `/_admin/`.

#![recursion_limit = "256"]

mod admin;
mod api;
mod clock;
mod control;
pub mod deliveries;
mod events;
mod faults;
mod git_http;
mod git_repo;
mod hooks;
mod identity;
mod oauth;
pub mod openapi;
mod recording;
mod shapes;
mod specs;
mod state;
mod statuses;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use events::Push;
pub use faults::{Fault, FaultKind};
pub use git_repo::ZERO_SHA;
pub use hooks::MAX_HOOKS;
pub use specs::{CommitSpec, PullRequestSpec, RepoSpec};
pub use state::{
    Account, AccountKind, ApiRequest, CommitStatus, CredentialKind, Delivery, GitRequest, Hook, HookConfig, Permission,
    PullRequest, PullState, Repo,
};

use state::{Shared, Urls};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown user `{0}`: add it with add_user first")]
    UnknownUser(String),
    #[error("unknown repository `{0}`: add it with add_repo first (names are `owner/name`)")]
    UnknownRepo(String),
    #[error("`{0}` already exists")]
    Exists(String),
    #[error("`{0}` is not a usable name: use letters, digits, `.`, `-` and `_`")]
    InvalidName(String),
    #[error("nothing named `{0}` in the repository (no such branch, tag or commit)")]
    UnknownRef(String),
    #[error("no pull request #{1} in {0}")]
    UnknownPullRequest(String, u64),
    #[error("no hook with id {0}")]
    UnknownHook(u64),
    #[error("no delivery with id {0}")]
    UnknownDelivery(String),
    #[error("`{0}` is not a pull_request action this fake sends (opened, synchronize, reopened, closed, edited)")]
    UnknownAction(String),
    #[error("git {command} failed: {stderr}")]
    Git { command: String, stderr: String },
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct FakeGithubOptions {
    /// The one OAuth App the fake knows.
    pub client_id: String,
    pub client_secret: String,
    /// Where the bare repositories go; a temporary directory (removed on drop) when `None`.
    pub state_dir: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

impl Default for FakeGithubOptions {
    fn default() -> Self {
        FakeGithubOptions {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            state_dir: None,
            port: 0,
        }
    }
}

/// A running fake. Cheap to clone; the server stops when the last clone made by
/// [`FakeGithub::start`] is dropped.
#[derive(Clone)]
pub struct FakeGithub {
    shared: Arc<Shared>,
    /// `None` in the handle the admin routes hold, so they do not keep the server alive.
    _server: Option<Arc<Server>>,
}

struct Server {
    task: JoinHandle<()>,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGithub {
    /// Binds 127.0.0.1 and serves in the background on the current tokio runtime.
    pub async fn start(options: FakeGithubOptions) -> Result<FakeGithub, Error> {
        let (state_dir, temp_dir) = match options.state_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new().prefix("fake-github-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        std::fs::create_dir_all(&state_dir)?;
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared::new(
            Urls::new(&addr.to_string()),
            options.client_id,
            options.client_secret,
            state_dir,
            http,
        ));
        let detached = FakeGithub {
            shared: shared.clone(),
            _server: None,
        };
        let app = router(shared.clone()).merge(admin::router(detached));
        let task = tokio::spawn(async move {
            // Ends only when the task is aborted.
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeGithub {
            shared,
            _server: Some(Arc::new(Server {
                task,
                _temp_dir: temp_dir,
            })),
        })
    }

    /// `http://127.0.0.1:PORT/`: Sicuro's GitHub web base URL.
    pub fn web_url(&self) -> String {
        format!("{}/", self.shared.urls.web)
    }

    /// `http://127.0.0.1:PORT/api/v3/`: Sicuro's GitHub API base URL.
    pub fn api_url(&self) -> String {
        format!("{}/", self.shared.urls.api)
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }
}

async fn avatar() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 20"><circle cx="10" cy="10" r="10" fill="#8250df"/></svg>"##,
    )
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", axum::routing::get(|| async { "fake-github\n" }))
        // Avatars, like avatars.githubusercontent.com: a small picture for every account.
        .route("/avatars/u/{id}", axum::routing::get(avatar))
        .merge(oauth::router())
        .merge(git_http::router())
        // A service, not a nested router: its fallback answers every other `/api/v3/...` path,
        // which would otherwise reach the git route (`/{owner}/{repo}/...`).
        .nest_service("/api/v3", api::router(shared.clone()).with_state(shared.clone()))
        .with_state(shared)
}
