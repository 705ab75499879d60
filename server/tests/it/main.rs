//! Sicuro's integration tests, in one binary (one link instead of one per file): the engine on
//! the real Docker engine, the GitHub half against the fake GitHub, the real binary killed and
//! restarted, property tests. `cargo test -p server --test it <name>` runs a part.

mod common;

mod authorization;
mod cli_run;
mod crash_recovery;
mod crash_statuses;
mod csrf_matrix;
mod database_outage;
mod docker_outage;
mod engine_checkout;
mod engine_isolation;
mod engine_languages;
mod engine_pipeline;
mod engine_projects;
mod engine_runtime;
mod github_access;
mod github_artefacts;
mod github_flow;
mod github_schedules;
mod load_faults;
mod properties;
mod retention;
mod retention_docker;
mod secrets;
mod swarm;
mod swarm_faults;
mod swarm_source;
mod trust;
mod web_logs;
mod web_reports;
