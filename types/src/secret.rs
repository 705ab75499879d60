//! Repository secrets as the API and the pages see them: names and who changed them when,
//! never values (those are write-only), and the settings page that lists them.

use serde::{Deserialize, Serialize};

use crate::repo::{RepoSettings, RepoSummary};

/// The largest value a secret may have, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A secret, without its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    pub name: String,
    /// Also given to builds of pull requests from forks.
    pub forks: bool,
    /// Who set the current value (a GitHub login, or "a local user").
    pub updated_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// What `PUT /api/repos/{owner}/{name}/secrets/{NAME}` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSecret {
    pub value: String,
    #[serde(default)]
    pub forks: bool,
}

/// One entry of a repository's audit trail of secret changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretChange {
    pub name: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// Whether it was set for forks (`None` when deleted).
    pub forks: Option<bool>,
    pub actor: String,
    pub at: i64,
}

/// The repository's settings page: its settings, and for admins its secrets and their history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsPage {
    pub repo: RepoSummary,
    pub settings: RepoSettings,
    /// Admins may change settings and secrets; others see the settings only.
    pub can_edit: bool,
    pub secrets: Vec<SecretInfo>,
    pub audit: Vec<SecretChange>,
    /// Why the last scheduled build could not start (its branch is gone…); `None` when it did.
    #[serde(default)]
    pub schedule_error: Option<String>,
}
