//! GitHub (or GitHub Enterprise) through its REST API, with octocrab pointed at the configured
//! API base URL. Every call names the token it acts with; answers are mapped to errors a person
//! can act on (revoked token, no permission, rate limit, GitHub down).

pub mod credentials;
pub mod hooks;
pub mod oauth;
pub mod statuses;
pub mod types;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{GithubConfig, GithubUrls};
use types::{GhOwner, GhRepo, GhUser};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GhError {
    #[error("GitHub no longer accepts the stored token (it was revoked or expired); sign in again")]
    Unauthorized,
    #[error("GitHub says it does not exist or this account cannot see it")]
    NotFound,
    #[error("GitHub refused: {0}")]
    Forbidden(String),
    #[error("GitHub's rate limit was reached; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("GitHub rejected the request: {0}")]
    Invalid(String),
    #[error("GitHub could not be reached or failed ({0}); try again later")]
    Unavailable(String),
}

pub struct Github {
    pub urls: GithubUrls,
    pub config: GithubConfig,
    pub public_url: Url,
    base: Octocrab,
}

impl Github {
    pub fn new(urls: GithubUrls, config: GithubConfig, public_url: Url) -> anyhow::Result<Self> {
        let base = Octocrab::builder()
            .base_uri(urls.api.as_str())?
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()?;
        Ok(Self {
            urls,
            config,
            public_url,
            base,
        })
    }

    /// Where GitHub sends webhooks.
    pub fn hook_url(&self) -> String {
        self.public_url
            .join("hooks/github")
            .expect("a relative path joins")
            .to_string()
    }

    /// Sends one request with `token` and returns the JSON body, or the error it means.
    pub async fn request<R: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(R, HeaderMap), GhError> {
        let client = self
            .base
            .user_access_token(token.to_string())
            .map_err(|e| GhError::Unavailable(e.to_string()))?;
        let uri = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.urls.api.path().trim_end_matches('/'), path)
        };
        let response = match method {
            Method::GET => client._get(uri.as_str()).await,
            Method::POST => client._post(uri.as_str(), body).await,
            Method::PATCH => client._patch(uri.as_str(), body).await,
            Method::DELETE => client._delete(uri.as_str(), body).await,
            other => return Err(GhError::Invalid(format!("unsupported method {other}"))),
        }
        .map_err(|e| GhError::Unavailable(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = client
            .body_to_string(response)
            .await
            .map_err(|e| GhError::Unavailable(e.to_string()))?;
        if status.is_success() {
            let body = if text.trim().is_empty() { "null" } else { &text };
            let parsed = serde_json::from_str(body)
                .map_err(|e| GhError::Unavailable(format!("unexpected answer from GitHub: {e}")))?;
            return Ok((parsed, headers));
        }
        Err(error_for(status, &headers, &text))
    }

    pub async fn user(&self, token: &str) -> Result<GhUser, GhError> {
        Ok(self.request::<GhUser, ()>(token, Method::GET, "/user", None).await?.0)
    }

    /// Every repository the token's user can see, following all pages.
    pub async fn user_repos(&self, token: &str) -> Result<Vec<GhRepo>, GhError> {
        let mut next = Some("/user/repos?per_page=100&sort=pushed".to_string());
        let mut all = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            let (page, headers): (Vec<GhRepo>, _) = self.request::<_, ()>(token, Method::GET, &path, None).await?;
            all.extend(page);
            pages += 1;
            if pages >= 50 {
                break; // 5,000 repositories is plenty for one dashboard
            }
            next = next_link(&headers);
        }
        Ok(all)
    }

    /// One repository, with the token user's permissions on it.
    pub async fn repo(&self, token: &str, owner: &str, name: &str) -> Result<GhRepo, GhError> {
        let path = format!("/repos/{}/{}", enc(owner), enc(name));
        Ok(self.request::<GhRepo, ()>(token, Method::GET, &path, None).await?.0)
    }

    /// One repository by its id — whatever it is called now — with the token user's permissions.
    pub async fn repo_by_id(&self, token: &str, id: i64) -> Result<GhRepo, GhError> {
        let path = format!("/repositories/{id}");
        Ok(self.request::<GhRepo, ()>(token, Method::GET, &path, None).await?.0)
    }

    /// The organisations the token's user belongs to (private memberships need `read:org`),
    /// lower case.
    pub async fn user_orgs(&self, token: &str) -> Result<Vec<String>, GhError> {
        let mut next = Some("/user/orgs?per_page=100".to_string());
        let mut all = Vec::new();
        while let Some(path) = next.take() {
            let (page, headers): (Vec<GhOwner>, _) = self.request::<_, ()>(token, Method::GET, &path, None).await?;
            all.extend(page.into_iter().map(|o| o.login.to_ascii_lowercase()));
            if all.len() >= 10_000 {
                break;
            }
            next = next_link(&headers);
        }
        Ok(all)
    }

    /// The URL of a commit on GitHub's web pages.
    pub fn commit_url(&self, html_url: &str, sha: &str) -> String {
        format!("{}/commit/{sha}", html_url.trim_end_matches('/'))
    }
}

/// Escapes one path segment.
pub fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Maps an error answer to what it means, including GitHub's two kinds of rate limit replies.
fn error_for(status: StatusCode, headers: &HeaderMap, body: &str) -> GhError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let m = v.get("message")?.as_str()?.to_string();
            let details: Vec<String> = v
                .get("errors")
                .and_then(|e| e.as_array())
                .map(|errs| {
                    errs.iter()
                        .filter_map(|e| e.get("message").and_then(|m| m.as_str()).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some(if details.is_empty() {
                m
            } else {
                format!("{m}: {}", details.join("; "))
            })
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    if let Some(retry_after) = rate_limit_wait(status, headers) {
        return GhError::RateLimited { retry_after };
    }
    match status {
        StatusCode::UNAUTHORIZED => GhError::Unauthorized,
        StatusCode::NOT_FOUND => GhError::NotFound,
        StatusCode::FORBIDDEN => GhError::Forbidden(message),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => GhError::Invalid(message),
        s if s.is_server_error() => GhError::Unavailable(format!("HTTP {s}: {message}")),
        _ => GhError::Invalid(message),
    }
}

/// How long GitHub asks us to wait: `Retry-After`, or `X-RateLimit-Reset` when no requests remain.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = header("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some(0) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let reset = header("x-ratelimit-reset").unwrap_or(now + 60);
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| Duration::from_secs(60))
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let h = headers(&[(
            "link",
            r#"<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=5>; rel="last""#,
        )]);
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/user/repos?page=2")
        );
        assert_eq!(next_link(&headers(&[("link", r#"<x?page=1>; rel="prev""#)])), None);
    }

    #[test]
    fn both_rate_limit_replies_are_recognised() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &(now + 30).to_string()),
        ]);
        match error_for(
            StatusCode::FORBIDDEN,
            &primary,
            r#"{"message":"API rate limit exceeded"}"#,
        ) {
            GhError::RateLimited { retry_after } => assert!((29..=31).contains(&retry_after.as_secs())),
            other => panic!("{other:?}"),
        }
        let secondary = headers(&[("retry-after", "7")]);
        assert_eq!(
            error_for(StatusCode::TOO_MANY_REQUESTS, &secondary, ""),
            GhError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        // A plain 403 is a refusal, not a rate limit.
        assert_eq!(
            error_for(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                r#"{"message":"Must have admin rights"}"#
            ),
            GhError::Forbidden("Must have admin rights".into())
        );
    }

    #[test]
    fn validation_errors_carry_githubs_details() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"Hook","code":"custom","message":"The \"push\" event cannot have more than 20 hooks"}]}"#;
        assert_eq!(
            error_for(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), body),
            GhError::Invalid("Validation Failed: The \"push\" event cannot have more than 20 hooks".into())
        );
        assert_eq!(
            error_for(StatusCode::UNAUTHORIZED, &HeaderMap::new(), ""),
            GhError::Unauthorized
        );
        assert!(matches!(
            error_for(StatusCode::BAD_GATEWAY, &HeaderMap::new(), ""),
            GhError::Unavailable(_)
        ));
    }
}
