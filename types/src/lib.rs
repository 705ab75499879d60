//! The vocabulary every part of Sicuro shares — the engine, the database layer, the web app, the
//! browser and the fake GitHub: builds and their statuses, repositories and permissions, log lines
//! and the one definition of how they are stored, and the API's paths and event names.
//!
//! No Leptos, no database, no HTTP: plain data with serde, so every crate can depend on it.

pub mod build;
pub mod duration;
pub mod log;
pub mod repo;
pub mod routes;
pub mod secret;
pub mod test_report;
pub mod viewer;

pub use build::{BuildDetail, BuildEvent, BuildStatus, BuildSummary, TriggerEvent};
pub use duration::format_duration;
pub use log::{LineKind, LogEnd, LogFailure, LogGap, LogLine, LogSection, LogWindow, SearchHits};
pub use repo::{BuildPage, ForkPolicy, Permission, RepoKind, RepoSettings, RepoSummary};
pub use secret::{SecretChange, SecretInfo, SetSecret, SettingsPage};
pub use test_report::{TestCaseResult, TestCounts, TestOutcome, TestReport};
pub use viewer::{ApiError, ServerInfo, Viewer};
