//! The source of swarm jobs: a task on another machine cannot be handed an archive, so each job
//! fetches its commit from this process over git's smart HTTP protocol.
//!
//! Every job gets a [`Grant`]: a random id in the URL and a secret token the job sends as a
//! bearer header (so it is in no URL, no proxy log). A grant serves a *view* of the mirror with
//! one ref, the build's commit, so nothing else of the repository can be asked for. It is
//! consumed by the first complete fetch and revoked when the job ends (the grant is dropped),
//! so the token in the job's environment is worthless to the build's own code. The
//! subscriber's GitHub token never leaves the server: the mirror was fetched with it here.

mod http;
mod view;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use url::Url;

/// The job-facing git endpoint of this process.
pub struct SourceServer {
    grants: Arc<Grants>,
    url: Url,
}

impl SourceServer {
    /// Listens on `listen` (port 0: any free port) and serves grants there. `url` is how jobs
    /// reach it; by default `http://` and the bound address.
    pub async fn bind(listen: SocketAddr, url: Option<Url>) -> std::io::Result<SourceServer> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let bound = listener.local_addr()?;
        let url = match url {
            Some(u) => u,
            None => Url::parse(&format!("http://{bound}/")).map_err(std::io::Error::other)?,
        };
        let grants = Arc::new(Grants::default());
        let app = http::router(grants.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the swarm jobs' source endpoint on {bound} stopped: {e}");
            }
        });
        tracing::info!("swarm jobs fetch their source from {url} (listening on {bound})");
        Ok(SourceServer { grants, url })
    }

    /// Where jobs reach this endpoint.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Lets one job fetch `sha` from the repository at `repo` until the grant is dropped.
    pub fn grant(&self, repo: &Path, sha: &str) -> std::io::Result<Grant> {
        let view = view::View::create(repo, sha)?;
        let id = random_hex(12);
        let token = random_hex(32);
        self.grants.map.lock().expect("grants").insert(
            id.clone(),
            Entry {
                token_hash: Sha256::digest(token.as_bytes()).into(),
                view: view.path().to_path_buf(),
                consumed: false,
            },
        );
        let fetch_url = self
            .url
            .join(&format!("git/{id}/"))
            .map_err(std::io::Error::other)?
            .to_string();
        Ok(Grant {
            id,
            token,
            fetch_url,
            grants: self.grants.clone(),
            _view: view,
        })
    }

    /// How many grants are live (for tests: each is revoked when its job ends).
    pub fn live_grants(&self) -> usize {
        self.grants.map.lock().expect("grants").len()
    }
}

/// One job's right to fetch one commit. Dropping it revokes it.
pub struct Grant {
    id: String,
    token: String,
    fetch_url: String,
    grants: Arc<Grants>,
    _view: view::View,
}

impl Grant {
    /// The repository URL the job fetches from (no secret in it).
    pub fn fetch_url(&self) -> &str {
        &self.fetch_url
    }

    /// The bearer token the job sends.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grant({})", self.id)
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.grants.map.lock().expect("grants").remove(&self.id);
    }
}

#[derive(Default)]
struct Grants {
    map: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// SHA-256 of the token: compared in constant time, and the token itself is kept nowhere.
    token_hash: [u8; 32],
    view: PathBuf,
    /// A fetch completed: the grant serves nothing more.
    consumed: bool,
}

/// What a request may do with the grant it names.
enum Access {
    Serve(PathBuf),
    Unknown,
    WrongToken,
    Consumed,
}

impl Grants {
    fn check(&self, id: &str, token: Option<&str>) -> Access {
        use subtle::ConstantTimeEq;
        let map = self.map.lock().expect("grants");
        let Some(entry) = map.get(id) else {
            return Access::Unknown;
        };
        let presented: [u8; 32] = Sha256::digest(token.unwrap_or_default().as_bytes()).into();
        if !bool::from(presented.ct_eq(&entry.token_hash)) {
            return Access::WrongToken;
        }
        if entry.consumed {
            return Access::Consumed;
        }
        Access::Serve(entry.view.clone())
    }

    fn consume(&self, id: &str) {
        if let Some(e) = self.map.lock().expect("grants").get_mut(id) {
            e.consumed = true;
        }
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
