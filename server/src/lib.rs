//! Sicuro, a self-hosted CI server: the CI engine (`engine`) and the web app (`web`, `github`),
//! over one database (`db`).

pub mod config;
pub mod db;
pub mod engine;
