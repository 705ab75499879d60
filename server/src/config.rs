//! Settings from environment variables (and an optional `.env` file), validated once at start-up.
//!
//! Every problem names the variable and the fix; all problems are reported together.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::engine::limits::JobLimits;

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
    pub engine: EngineConfig,
}

#[derive(Clone, Debug)]
pub struct GithubUrls {
    /// Web address: OAuth pages and clone URLs (`https://github.com` or `https://ghe.example.com`).
    pub web: Url,
    /// REST API base (`https://api.github.com` or `https://ghe.example.com/api/v3`).
    pub api: Url,
}

#[derive(Clone, Debug)]
pub struct GithubConfig {
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    pub scopes: Vec<String>,
}

/// The key that signs and encrypts cookies and stored tokens.
#[derive(Clone)]
pub enum SecretKeySource {
    /// Given by `SICURO_SECRET_KEY`.
    Given(Vec<u8>),
    /// Not given: generated once and kept in `<data dir>/secret.key`.
    File(PathBuf),
}

impl fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// Defaults for builds; each repository may override them.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub max_concurrent_builds: usize,
    pub default_timeout: Duration,
    pub limits: JobLimits,
    pub log_limit_bytes: u64,
    /// How long running builds may go on after SIGTERM before they are canceled.
    pub shutdown_grace: Duration,
    /// Extra CA certificates (PEM) built into the job images, for egress through a
    /// TLS-inspecting proxy or a company CA.
    pub extra_ca_certs: Option<String>,
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub var: &'static str,
    pub problem: String,
    pub fix: String,
}

#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  {}: {}. Fix: {}", p.var, p.problem, p.fix)?;
        }
        Ok(())
    }
}

/// The variables, read from a map so tests need not touch the process environment.
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment, after loading `.env` from the working directory if there is one.
    pub fn from_process() -> Self {
        // A missing .env is normal; a broken one is worth a warning.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            eprintln!("warning: .env could not be read: {e}");
        }
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |var: &'static str, problem: String, fix: &str| {
            problems.push(ConfigProblem {
                var,
                problem,
                fix: fix.to_string(),
            })
        };

        // cargo-leptos passes its site address and root through LEPTOS_*; ours win when both are set.
        let listen_var = if env.get("SICURO_LISTEN").is_some() {
            "SICURO_LISTEN"
        } else {
            "LEPTOS_SITE_ADDR"
        };
        let listen = match env.get(listen_var).unwrap_or("127.0.0.1:3000").parse() {
            Ok(a) => a,
            Err(_) => {
                problem(
                    "SICURO_LISTEN",
                    format!("`{}` is not an address and port", env.get(listen_var).unwrap_or("")),
                    "use the form 127.0.0.1:3000 (or 0.0.0.0:3000 to listen on every interface)",
                );
                SocketAddr::from(([127, 0, 0, 1], 3000))
            }
        };

        let public_url = match env.get("SICURO_PUBLIC_URL") {
            None => Url::parse(&format!("http://{listen}")).expect("a socket address makes a URL"),
            Some(raw) => match Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
                _ => {
                    problem(
                        "SICURO_PUBLIC_URL",
                        format!("`{raw}` is not an http(s) URL"),
                        "set the address people and GitHub use to reach Sicuro, e.g. https://ci.example.com",
                    );
                    Url::parse("http://127.0.0.1:3000").expect("valid")
                }
            },
        };

        let data_dir = PathBuf::from(env.get("SICURO_DATA_DIR").unwrap_or("data"));
        let database_url = match env.get("DATABASE_URL") {
            None => format!("sqlite://{}/sicuro.db", data_dir.display()),
            Some(u) if u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                u.to_string()
            }
            Some(u) => {
                problem(
                    "DATABASE_URL",
                    format!("`{}` is neither a SQLite nor a PostgreSQL URL", redact_url(u)),
                    "leave it unset for SQLite under SICURO_DATA_DIR, or use postgres://user:password@host/db",
                );
                String::new()
            }
        };

        let site_root = PathBuf::from(
            env.get("SICURO_SITE_ROOT")
                .or(env.get("LEPTOS_SITE_ROOT"))
                .unwrap_or("target/site"),
        );

        let secret_key = match env.get("SICURO_SECRET_KEY") {
            None => SecretKeySource::File(data_dir.join("secret.key")),
            Some(k) if k.len() < 32 => {
                problem(
                    "SICURO_SECRET_KEY",
                    format!("the key is {} characters long; at least 32 are needed", k.len()),
                    "generate one with `openssl rand -hex 32`",
                );
                SecretKeySource::Given(Vec::new())
            }
            Some(k) => SecretKeySource::Given(k.as_bytes().to_vec()),
        };

        let github_urls = github_urls(env, &mut problem);

        let github = match (
            env.get("SICURO_GITHUB_CLIENT_ID"),
            env.get("SICURO_GITHUB_CLIENT_SECRET"),
        ) {
            (None, None) => None,
            (Some(id), Some(secret)) => {
                let webhook_secret = match env.get("SICURO_GITHUB_WEBHOOK_SECRET") {
                    Some(s) if s.len() >= 16 => s.to_string(),
                    Some(_) => {
                        problem(
                            "SICURO_GITHUB_WEBHOOK_SECRET",
                            "the secret is shorter than 16 characters".into(),
                            "generate one with `openssl rand -hex 20`",
                        );
                        String::new()
                    }
                    None => {
                        problem(
                            "SICURO_GITHUB_WEBHOOK_SECRET",
                            "it is required when GitHub sign-in is configured".into(),
                            "generate one with `openssl rand -hex 20`; Sicuro gives it to every webhook it creates",
                        );
                        String::new()
                    }
                };
                let scopes = env
                    .get("SICURO_GITHUB_SCOPES")
                    .unwrap_or("repo")
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                Some(GithubConfig {
                    client_id: id.to_string(),
                    client_secret: secret.to_string(),
                    webhook_secret,
                    scopes,
                })
            }
            (Some(_), None) => {
                problem(
                    "SICURO_GITHUB_CLIENT_SECRET",
                    "SICURO_GITHUB_CLIENT_ID is set but the secret is not".into(),
                    "copy the client secret from the OAuth App's settings page on GitHub",
                );
                None
            }
            (None, Some(_)) => {
                problem(
                    "SICURO_GITHUB_CLIENT_ID",
                    "SICURO_GITHUB_CLIENT_SECRET is set but the client id is not".into(),
                    "copy the client id from the OAuth App's settings page on GitHub",
                );
                None
            }
        };

        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max_concurrent_builds = parse_or(
            env,
            "SICURO_MAX_CONCURRENT_BUILDS",
            cpus,
            &mut problem,
            "a whole number ≥ 1, e.g. 2",
            |s| s.parse::<usize>().ok().filter(|n| *n >= 1),
        );
        let default_timeout = parse_or(
            env,
            "SICURO_BUILD_TIMEOUT",
            Duration::from_secs(3600),
            &mut problem,
            "a duration such as 60m or 1h30m",
            |s| humantime::parse_duration(s).ok().filter(|d| !d.is_zero()),
        );
        let shutdown_grace = parse_or(
            env,
            "SICURO_SHUTDOWN_GRACE",
            Duration::from_secs(30),
            &mut problem,
            "a duration such as 30s",
            |s| humantime::parse_duration(s).ok(),
        );
        let log_limit_bytes = parse_or(
            env,
            "SICURO_LOG_LIMIT",
            64 * 1024 * 1024,
            &mut problem,
            "a size such as 64MiB",
            parse_size,
        );
        let limits = JobLimits {
            memory_bytes: parse_or(
                env,
                "SICURO_JOB_MEMORY",
                JobLimits::DEFAULT.memory_bytes,
                &mut problem,
                "a size such as 4GiB",
                parse_size,
            ),
            cpus: parse_or(
                env,
                "SICURO_JOB_CPUS",
                cpus as f64,
                &mut problem,
                "a number of CPUs such as 2 or 0.5",
                |s| s.parse::<f64>().ok().filter(|c| *c > 0.0),
            ),
            pids: parse_or(
                env,
                "SICURO_JOB_PIDS",
                JobLimits::DEFAULT.pids,
                &mut problem,
                "a whole number such as 1024",
                |s| s.parse::<i64>().ok().filter(|n| *n >= 16),
            ),
        };

        let extra_ca_certs = match extra_ca_certs(env.get("SICURO_EXTRA_CA_CERTS")) {
            Ok(pem) => pem,
            Err(why) => {
                problem(
                    "SICURO_EXTRA_CA_CERTS",
                    why,
                    "give a PEM file or a directory of .crt files, or `none`",
                );
                None
            }
        };

        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Config {
            listen,
            public_url,
            data_dir,
            database_url,
            site_root,
            secret_key,
            github,
            github_urls,
            engine: EngineConfig {
                max_concurrent_builds,
                default_timeout,
                limits,
                log_limit_bytes,
                shutdown_grace,
                extra_ca_certs,
            },
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

fn github_urls(env: &Env, problem: &mut impl FnMut(&'static str, String, &str)) -> GithubUrls {
    let web = match env.get("SICURO_GITHUB_URL") {
        None => Url::parse("https://github.com/").expect("valid"),
        Some(raw) => match Url::parse(&with_trailing_slash(raw)) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                problem(
                    "SICURO_GITHUB_URL",
                    format!("`{raw}` is not an http(s) URL"),
                    "use https://github.com, or your GitHub Enterprise address such as https://ghe.example.com",
                );
                Url::parse("https://github.com/").expect("valid")
            }
        },
    };
    let api = match env.get("SICURO_GITHUB_API_URL") {
        Some(raw) => match Url::parse(&with_trailing_slash(raw)) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                problem(
                    "SICURO_GITHUB_API_URL",
                    format!("`{raw}` is not an http(s) URL"),
                    "use https://api.github.com, or https://ghe.example.com/api/v3 for GitHub Enterprise",
                );
                Url::parse("https://api.github.com/").expect("valid")
            }
        },
        // GitHub Enterprise serves its API under /api/v3 of the web address.
        None if web.host_str() == Some("github.com") => Url::parse("https://api.github.com/").expect("valid"),
        None => web.join("api/v3/").expect("a relative path joins"),
    };
    GithubUrls { web, api }
}

/// Where Debian keeps the CA certificates an administrator added to this machine.
const LOCAL_CA_DIR: &str = "/usr/local/share/ca-certificates";

/// Reads the extra CA certificates: the file or directory given, or by default the ones added to
/// this machine (what the host trusts, its jobs trust too).
fn extra_ca_certs(setting: Option<&str>) -> Result<Option<String>, String> {
    let (path, explicit) = match setting {
        Some("none") => return Ok(None),
        Some(p) => (std::path::PathBuf::from(p), true),
        None => (std::path::PathBuf::from(LOCAL_CA_DIR), false),
    };
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut f: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| format!("{} cannot be read: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt" || x == "pem"))
            .collect();
        f.sort();
        f
    } else if path.is_file() {
        vec![path.clone()]
    } else if explicit {
        return Err(format!("{} does not exist", path.display()));
    } else {
        return Ok(None);
    };
    let mut pem = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{} cannot be read: {e}", f.display()))?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            if explicit {
                return Err(format!("{} holds no PEM certificate", f.display()));
            }
            continue;
        }
        pem.push_str(text.trim());
        pem.push('\n');
    }
    Ok((!pem.is_empty()).then_some(pem))
}

fn with_trailing_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

fn parse_or<T>(
    env: &Env,
    var: &'static str,
    default: T,
    problem: &mut impl FnMut(&'static str, String, &str),
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> T {
    match env.get(var) {
        None => default,
        Some(raw) => parse(raw).unwrap_or_else(|| {
            problem(var, format!("`{raw}` is not valid"), &format!("use {expected}"));
            default
        }),
    }
}

/// `64MiB`, `4g`, `512m`, `1000000` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    s.parse::<bytesize::ByteSize>()
        .ok()
        .map(|b| b.as_u64())
        .filter(|b| *b > 0)
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
    use super::*;

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
