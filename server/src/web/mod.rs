//! The web app: people (sign-in, pages, live streams) and the forge (webhooks in). It turns
//! requests into build requests for the engine and the engine's changes into pages and streams.
//! The route table is `routes`; handlers return `error::WebResult`.

pub mod access;
pub mod admission;
pub mod api;
pub mod auth;
pub mod badge;
pub mod csrf;
pub mod error;
pub mod events;
pub mod extract;
pub mod healthz;
pub mod host_check;
pub mod log_feed;
pub mod logs;
pub mod pages;
pub mod routes;
pub mod session;
pub mod test_reports;
pub mod webhook;

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::config::Config;
use crate::crypto::Keys;
use crate::db::Db;
use crate::engine::Engine;
use crate::github::Github;
pub use routes::router;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub engine: Engine,
    pub keys: Arc<Keys>,
    /// `None` in local mode (no GitHub settings).
    pub github: Option<Arc<Github>>,
    pub access: Arc<access::PermissionCache>,
    pub leptos: LeptosOptions,
    /// One reading and encoding of each live log for all its viewers.
    pub log_feeds: Arc<log_feed::LogFeeds>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

impl FromRef<AppState> for axum_extra::extract::cookie::Key {
    fn from_ref(s: &AppState) -> Self {
        s.keys.cookie_key()
    }
}
