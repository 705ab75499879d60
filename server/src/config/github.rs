//! GitHub (or GitHub Enterprise): its addresses, and the OAuth App and webhook secret that turn
//! sign-in, subscriptions and commit statuses on.

use url::Url;

use super::problems::{Env, Problems};

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

pub(super) fn urls_from_env(env: &Env, p: &mut Problems) -> GithubUrls {
    let web = match env.get("SICURO_GITHUB_URL") {
        None => Url::parse("https://github.com/").expect("valid"),
        Some(raw) => match Url::parse(&with_trailing_slash(raw)) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                p.add(
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
                p.add(
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

/// The OAuth App and webhook secret; `None` (local mode) when neither client setting is given.
pub(super) fn from_env(env: &Env, p: &mut Problems) -> Option<GithubConfig> {
    match (
        env.get("SICURO_GITHUB_CLIENT_ID"),
        env.get("SICURO_GITHUB_CLIENT_SECRET"),
    ) {
        (None, None) => None,
        (Some(id), Some(secret)) => Some(GithubConfig {
            client_id: id.to_string(),
            client_secret: secret.to_string(),
            webhook_secret: webhook_secret(env, p),
            scopes: env
                .get("SICURO_GITHUB_SCOPES")
                .unwrap_or("repo")
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }),
        (Some(_), None) => {
            p.add(
                "SICURO_GITHUB_CLIENT_SECRET",
                "SICURO_GITHUB_CLIENT_ID is set but the secret is not",
                "copy the client secret from the OAuth App's settings page on GitHub",
            );
            None
        }
        (None, Some(_)) => {
            p.add(
                "SICURO_GITHUB_CLIENT_ID",
                "SICURO_GITHUB_CLIENT_SECRET is set but the client id is not",
                "copy the client id from the OAuth App's settings page on GitHub",
            );
            None
        }
    }
}

fn webhook_secret(env: &Env, p: &mut Problems) -> String {
    match env.get("SICURO_GITHUB_WEBHOOK_SECRET") {
        Some(s) if s.len() >= 16 => s.to_string(),
        Some(_) => {
            p.add(
                "SICURO_GITHUB_WEBHOOK_SECRET",
                "the secret is shorter than 16 characters",
                "generate one with `openssl rand -hex 20`",
            );
            String::new()
        }
        None => {
            p.add(
                "SICURO_GITHUB_WEBHOOK_SECRET",
                "it is required when GitHub sign-in is configured",
                "generate one with `openssl rand -hex 20`; Sicuro gives it to every webhook it creates",
            );
            String::new()
        }
    }
}

fn with_trailing_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}
