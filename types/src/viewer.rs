//! Who is looking, what the server is, and how the API says no.

use serde::{Deserialize, Serialize};

/// The person looking at the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Viewer {
    /// GitHub login when signed in.
    pub login: Option<String>,
    pub avatar_url: Option<String>,
    /// No GitHub settings: everyone at this machine may do everything.
    pub local_mode: bool,
    /// Sent back in the `X-CSRF-Token` header of every state-changing request.
    pub csrf_token: String,
}

impl Viewer {
    pub fn signed_in(&self) -> bool {
        self.login.is_some()
    }
}

/// The server's identity and health, shown in the page header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    /// `Ok(version)` of the engine that runs the jobs (Docker), or why it cannot be reached.
    pub docker: Result<String, String>,
    pub database: String,
    pub github_configured: bool,
    /// Human-readable features that stay off until GitHub settings are given.
    pub features_needing_github: Vec<String>,
}

/// `{"error": "..."}` bodies of the JSON API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
