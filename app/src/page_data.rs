//! What the pages need from the server, implemented by the `server` crate (`web::pages`). The `#[server]`
//! functions are thin adapters over it, so all server logic lives beside the engine and the
//! database, and this crate stays free of them.

use sicuro_types::{BuildDetail, BuildPage, RepoSummary, ServerInfo, SettingsPage, Viewer};

pub use http::request::Parts;

/// A failure the page can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageError {
    /// Missing, or hidden from this viewer (the two are not told apart).
    NotFound(String),
    SignInRequired,
    Forbidden(String),
    /// GitHub, Docker or the database could not answer; the message says which and why.
    Unavailable(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(what) => write!(f, "{what} was not found"),
            Self::SignInRequired => f.write_str("sign in to see this"),
            Self::Forbidden(why) | Self::Unavailable(why) => f.write_str(why),
        }
    }
}

#[async_trait::async_trait]
pub trait PageData: Send + Sync + 'static {
    async fn server_info(&self) -> ServerInfo;
    async fn viewer(&self, req: &Parts) -> Viewer;
    async fn repos(&self, req: &Parts) -> Result<Vec<RepoSummary>, PageError>;
    async fn builds(&self, req: &Parts, owner: &str, name: &str, page: i64) -> Result<BuildPage, PageError>;
    async fn build(&self, req: &Parts, owner: &str, name: &str, number: i64) -> Result<BuildDetail, PageError>;
    /// The repository's settings; its secrets (names only) for admins.
    async fn settings(&self, req: &Parts, owner: &str, name: &str) -> Result<SettingsPage, PageError>;
}

/// The page data source as kept in Leptos' context.
pub type SharedPageData = std::sync::Arc<dyn PageData>;
