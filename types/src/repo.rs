//! Repositories: where their code comes from, what a viewer may do with them, their settings.

use serde::{Deserialize, Serialize};

use crate::build::BuildSummary;

/// Where a repository's code comes from. Stored as lower-case text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoKind {
    Github,
    Git,
    Local,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Git => "git",
            Self::Local => "local",
        }
    }

    /// Unknown text reads as a plain git URL, the kind with the fewest assumptions.
    pub fn parse(s: &str) -> Self {
        match s {
            "github" => Self::Github,
            "local" => Self::Local,
            _ => Self::Git,
        }
    }
}

/// What the viewer may do with a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    #[default]
    None,
    Read,
    Push,
    Admin,
}

/// A repository as listed on the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepoSummary {
    /// Our id, when the repository is known to Sicuro.
    pub id: Option<i64>,
    /// `owner/name`.
    pub slug: String,
    pub kind: RepoKind,
    pub private: bool,
    pub description: Option<String>,
    pub default_branch: String,
    pub watched: bool,
    pub permission: Permission,
    pub last_build: Option<BuildSummary>,
    /// Set when webhook builds cannot reach GitHub with the stored token.
    pub token_problem: Option<String>,
}

/// A page of a repository's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildPage {
    pub repo: RepoSummary,
    pub builds: Vec<BuildSummary>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub can_build: bool,
}

/// What happens to a pull request from a fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ForkPolicy {
    /// It waits until someone with push access approves it (each new push again).
    #[default]
    Approve,
    /// It runs at once.
    Run,
    /// It is not built: it ends with a final status that says so.
    Never,
}

impl ForkPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Run => "run",
            Self::Never => "never",
        }
    }

    /// Unknown text reads as the safe default.
    pub fn parse(s: &str) -> Self {
        match s {
            "run" => Self::Run,
            "never" => Self::Never,
            _ => Self::Approve,
        }
    }
}

/// Per-repository settings, readable and changeable through the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepoSettings {
    /// How many of this repository's builds may run at once.
    pub max_concurrent: i64,
    /// A newer push to a branch (or commit on a PR) cancels older builds of it.
    pub supersede: bool,
    /// Seconds; `None` uses the server's default.
    pub timeout_secs: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    /// Pull requests from forks: approve (the default), run, never.
    #[serde(default)]
    pub fork_policy: ForkPolicy,
    /// Scheduled builds: a cron expression (five fields, UTC, `@daily` and the like), or none.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The branch a scheduled build builds; `None`: the default branch.
    #[serde(default)]
    pub schedule_branch: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_as_text() {
        for k in [RepoKind::Github, RepoKind::Git, RepoKind::Local] {
            assert_eq!(RepoKind::parse(k.as_str()), k);
        }
    }
}
