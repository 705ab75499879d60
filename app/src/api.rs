//! The types that cross the wire between the server and the browser (and the JSON API).

use serde::{Deserialize, Serialize};

/// Where a build is in its life. Stored as lower-case text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Queued,
    Running,
    Success,
    Failure,
    Error,
    Canceled,
}

impl BuildStatus {
    pub const ALL: [BuildStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Success,
        Self::Failure,
        Self::Error,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
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
        !matches!(self, Self::Queued | Self::Running)
    }

    /// What a person reads: "passed", "failed", …
    pub fn label(self) -> &'static str {
        match self {
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
}

impl TriggerEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Push => "push",
            Self::PullRequest => "pull_request",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ping, Self::Push, Self::PullRequest, Self::Manual]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Where a repository's code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoKind {
    Github,
    Git,
    Local,
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
    /// `Ok(version)` of the Docker engine, or why it cannot be reached.
    pub docker: Result<String, String>,
    pub database: String,
    pub github_configured: bool,
    /// Human-readable features that stay off until GitHub settings are given.
    pub features_needing_github: Vec<String>,
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
    pub rebuild_of: Option<i64>,
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
}

/// The kinds of stored log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineKind {
    /// Output of the job.
    #[serde(rename = "o")]
    Output,
    /// A phase begins; the text is its name.
    #[serde(rename = "s")]
    Section,
    /// A command is about to run; the text is the command.
    #[serde(rename = "c")]
    Command,
    /// A message from Sicuro itself (image builds, limits, the verdict).
    #[serde(rename = "n")]
    Notice,
}

impl LineKind {
    pub fn code(self) -> char {
        match self {
            Self::Output => 'o',
            Self::Section => 's',
            Self::Command => 'c',
            Self::Notice => 'n',
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            b'o' => Some(Self::Output),
            b's' => Some(Self::Section),
            b'c' => Some(Self::Command),
            b'n' => Some(Self::Notice),
            _ => None,
        }
    }
}

/// One numbered log line, as stored and as streamed: `[n, ts_ms, kind, text]` on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine(pub u64, pub i64, pub LineKind, pub String);

impl LogLine {
    pub fn number(&self) -> u64 {
        self.0
    }
    pub fn ts(&self) -> i64 {
        self.1
    }
    pub fn kind(&self) -> LineKind {
        self.2
    }
    pub fn text(&self) -> &str {
        &self.3
    }
}

/// The `end` event of a log stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEnd {
    pub status: BuildStatus,
    pub lines: u64,
}

/// One event on a repository's (or the dashboard's) live stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildEvent {
    pub build: BuildSummary,
}

/// `{"error": "..."}` bodies of the JSON API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// Formats a duration the way people read it: "850ms", "42s", "1m 03s", "2h 05m".
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    if s < 60 {
        return format!("{s}s");
    }
    let (m, s) = (s / 60, s % 60);
    if m < 60 {
        return format!("{m}m {s:02}s");
    }
    format!("{}h {:02}m", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(850), "850ms");
        assert_eq!(format_duration(42_400), "42s");
        assert_eq!(format_duration(63_000), "1m 03s");
        assert_eq!(format_duration(7_500_000), "2h 05m");
    }

    #[test]
    fn statuses_round_trip_as_text() {
        for s in BuildStatus::ALL {
            assert_eq!(BuildStatus::parse(s.as_str()), Some(s));
        }
        assert!(BuildStatus::Canceled.is_finished());
        assert!(!BuildStatus::Running.is_finished());
    }

    #[test]
    fn log_lines_are_compact_on_the_wire() {
        let l = LogLine(3, 1700, LineKind::Output, "a\r\"b".into());
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"[3,1700,"o","a\r\"b"]"#);
    }
}
