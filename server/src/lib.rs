//! Sicuro, a self-hosted CI server.
//!
//! - `engine`: the CI — queue, runner, images, pipeline plan, log store. No HTTP, no GitHub.
//! - `web` and `github`: the web app — sign-in, pages, streams, webhooks in, statuses out.
//! - `db`: the one database both use; `config` and `crypto` are shared set-up; `background`
//!   supervises both sides' long-lived tasks.
//!
//! Data flows one way: webhook → build request (db) → queue → runner → log lines and build
//! changes → SSE streams and commit statuses.

pub mod background;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod engine;
pub mod github;
pub mod retention;
pub mod schedules;
pub mod serve;
pub mod web;
