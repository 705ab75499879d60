//! Builds: their life cycle, what starts them, and how pages and the API show them.

use serde::{Deserialize, Serialize};

/// Where a build is in its life. Stored as lower-case text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// A pull request from a fork, waiting until someone with push access lets it run.
    Waiting,
    Queued,
    Running,
    Success,
    Failure,
    Error,
    Canceled,
}

impl BuildStatus {
    pub const ALL: [BuildStatus; 7] = [
        Self::Waiting,
        Self::Queued,
        Self::Running,
        Self::Success,
        Self::Failure,
        Self::Error,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Waiting | Self::Queued | Self::Running)
    }

    /// What a person reads: "passed", "failed", …
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting for approval",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Success => "passed",
            Self::Failure => "failed",
            Self::Error => "errored",
            Self::Canceled => "canceled",
        }
    }
}

/// What started a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    Ping,
    Push,
    PullRequest,
    Manual,
    Schedule,
}

impl TriggerEvent {
    pub const ALL: [TriggerEvent; 5] = [Self::Ping, Self::Push, Self::PullRequest, Self::Manual, Self::Schedule];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Push => "push",
            Self::PullRequest => "pull_request",
            Self::Manual => "manual",
            Self::Schedule => "schedule",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A build as listed in a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildSummary {
    pub id: i64,
    pub repo: String,
    pub number: i64,
    pub status: BuildStatus,
    pub event: TriggerEvent,
    pub branch: Option<String>,
    pub is_tag: bool,
    pub pr_number: Option<i64>,
    pub commit_sha: String,
    /// Link to the commit on GitHub, when the repository lives there.
    pub commit_url: Option<String>,
    pub author: Option<String>,
    /// First line of the commit message.
    pub title: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl BuildSummary {
    pub fn short_sha(&self) -> &str {
        self.commit_sha.get(..7).unwrap_or(&self.commit_sha)
    }

    /// Milliseconds from start to finish (or to `now` while running).
    pub fn duration_ms(&self, now: i64) -> Option<i64> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now).saturating_sub(start).max(0))
    }

    /// "main", "tag v1.2", "PR #7".
    pub fn ref_label(&self) -> String {
        match (self.pr_number, &self.branch) {
            (Some(pr), _) => format!("PR #{pr}"),
            (None, Some(b)) if self.is_tag => format!("tag {b}"),
            (None, Some(b)) => b.clone(),
            (None, None) => self.short_sha().to_string(),
        }
    }
}

/// Everything the build page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildDetail {
    pub summary: BuildSummary,
    pub message: Option<String>,
    pub exit_code: Option<i64>,
    /// Why the build ended `error`, or the reason a failure was not the tests' (e.g. a timeout).
    pub error: Option<String>,
    /// Mean duration of the repository's recent successful builds, for the progress bar.
    pub estimate_ms: Option<i64>,
    pub log_lines: i64,
    pub can_cancel: bool,
    pub can_rebuild: bool,
    /// The viewer may approve or decline it (it waits for approval and they have push access).
    #[serde(default)]
    pub can_approve: bool,
    /// Who let it run, when it waited for approval.
    #[serde(default)]
    pub approved_by: Option<String>,
    pub rebuild_of: Option<i64>,
    /// Names of the repository secrets the build was given (never their values).
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// One event on a repository's (or the dashboard's) live stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildEvent {
    pub build: BuildSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_text() {
        for s in BuildStatus::ALL {
            assert_eq!(BuildStatus::parse(s.as_str()), Some(s));
        }
        assert!(BuildStatus::Canceled.is_finished());
        assert!(!BuildStatus::Running.is_finished());
    }

    #[test]
    fn events_round_trip_as_text() {
        for e in TriggerEvent::ALL {
            assert_eq!(TriggerEvent::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{}\"", e.as_str()));
        }
    }
}
