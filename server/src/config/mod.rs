//! Settings from environment variables (and an optional `.env` file), validated once at start-up.
//!
//! Every problem names the variable and the fix; all problems are reported together. One module
//! per concern: `web` (listen address, public URL), `storage` (data, database, key), `github`,
//! `engine`, its job `limits`, the `ceilings` no repository may go above, and the executor (`swarm`). This module is a leaf: it imports nothing else of Sicuro's.

mod access;
mod ceilings;
mod engine;
mod github;
mod limits;
mod problems;
mod retention;
mod storage;
mod swarm;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;

use url::Url;

pub use access::AccessPolicy;
pub use ceilings::Ceilings;
pub use engine::EngineConfig;
pub use github::{GithubConfig, GithubUrls};
pub use limits::JobLimits;
pub use problems::{ConfigError, ConfigProblem, Env, parse_size};
pub use retention::RetentionConfig;
pub use storage::SecretKeySource;
pub use swarm::{ExecutorChoice, RegistryAuth, SwarmConfig};

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Where cargo-leptos put the WASM bundle, CSS and public assets.
    pub site_root: PathBuf,
    pub secret_key: SecretKeySource,
    pub github: Option<GithubConfig>,
    /// The GitHub (or GitHub Enterprise) addresses; used even without OAuth settings so that
    /// repositories added by URL resolve the same way.
    pub github_urls: GithubUrls,
    /// Who may sign in (with GitHub configured).
    pub access: AccessPolicy,
    pub engine: EngineConfig,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut problems = problems::Problems::default();
        let web = web::from_env(env, &mut problems);
        let storage = storage::from_env(env, &mut problems);
        let github_urls = github::urls_from_env(env, &mut problems);
        let mut github = github::from_env(env, &mut problems);
        let access = access::from_env(env, &mut problems, github.is_some());
        if let Some(g) = github.as_mut()
            && access.needs_orgs()
            && !g.scopes.iter().any(|s| s == "read:org")
        {
            // Private organisation membership is visible to OAuth Apps only with read:org.
            g.scopes.push("read:org".into());
        }
        web::check_local_mode_listen(env, &mut problems, web.listen, github.is_none());
        let engine = engine::from_env(env, &mut problems);
        problems.into_result(Config {
            listen: web.listen,
            public_url: web.public_url,
            data_dir: storage.data_dir,
            database_url: storage.database_url,
            site_root: web.site_root,
            secret_key: storage.secret_key,
            github,
            github_urls,
            access,
            engine,
        })
    }

    /// Features that stay off until GitHub settings are given, for the log and the page.
    pub fn features_needing_github(&self) -> Vec<&'static str> {
        if self.github.is_some() {
            return Vec::new();
        }
        vec![
            "sign in with GitHub (SICURO_GITHUB_CLIENT_ID, SICURO_GITHUB_CLIENT_SECRET)",
            "subscribing GitHub repositories and receiving their webhooks (SICURO_GITHUB_WEBHOOK_SECRET)",
            "commit statuses on GitHub",
        ]
    }

    /// Without GitHub settings, Sicuro runs in local mode: no sign-in, for people at this machine.
    pub fn local_mode(&self) -> bool {
        self.github.is_none()
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// Hides the password of a database URL before it is printed.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::engine::extra_ca_certs;
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_need_no_settings() {
        let c = Config::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:3000/");
        assert_eq!(c.database_url, "sqlite://data/sicuro.db");
        assert!(c.local_mode());
        assert_eq!(c.github_urls.api.as_str(), "https://api.github.com/");
        assert!(!c.features_needing_github().is_empty());
    }

    #[test]
    fn every_problem_names_its_variable_and_fix() {
        let err = Config::from_env(&Env::from_pairs([
            ("SICURO_LISTEN", "nonsense"),
            ("SICURO_SECRET_KEY", "short"),
            ("SICURO_GITHUB_CLIENT_ID", "abc"),
            ("DATABASE_URL", "mysql://u:hunter2@h/db"),
            ("SICURO_JOB_MEMORY", "lots"),
        ]))
        .unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            [
                "SICURO_LISTEN",
                "DATABASE_URL",
                "SICURO_SECRET_KEY",
                "SICURO_GITHUB_CLIENT_SECRET",
                "SICURO_JOB_MEMORY"
            ]
        );
        let text = err.to_string();
        assert!(text.contains("openssl rand"), "{text}");
        assert!(!text.contains("hunter2"), "passwords are redacted: {text}");
    }

    #[test]
    fn github_enterprise_api_defaults_under_api_v3() {
        let c = Config::from_env(&Env::from_pairs([("SICURO_GITHUB_URL", "https://ghe.example.com")])).unwrap();
        assert_eq!(c.github_urls.web.as_str(), "https://ghe.example.com/");
        assert_eq!(c.github_urls.api.as_str(), "https://ghe.example.com/api/v3/");
    }

    #[test]
    fn github_needs_a_webhook_secret() {
        let err = Config::from_env(&Env::from_pairs([
            ("SICURO_GITHUB_CLIENT_ID", "id"),
            ("SICURO_GITHUB_CLIENT_SECRET", "secret"),
        ]))
        .unwrap_err();
        assert_eq!(err.0[0].var, "SICURO_GITHUB_WEBHOOK_SECRET");
    }

    #[test]
    fn extra_ca_certificates_come_from_a_file_or_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("a.crt"), cert).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(
            extra_ca_certs(Some(d))
                .unwrap()
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count(),
            1
        );
        assert_eq!(extra_ca_certs(Some("none")).unwrap(), None);
        let err = Config::from_env(&Env::from_pairs([("SICURO_EXTRA_CA_CERTS", "/nonexistent.pem")])).unwrap_err();
        assert_eq!(err.0[0].var, "SICURO_EXTRA_CA_CERTS");
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("64MiB"), Some(64 * 1024 * 1024));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("0"), None);
        let c = Config::from_env(&Env::from_pairs([("SICURO_BUILD_TIMEOUT", "1h30m")])).unwrap();
        assert_eq!(c.engine.default_timeout, Duration::from_secs(5400));
    }
}
