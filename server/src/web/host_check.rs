//! Every request must name this server: the public URL's host, the listen address, and in local
//! mode `localhost`, `127.0.0.1` or `[::1]` on any port (an SSH tunnel or a local proxy forwards
//! another port to ours). Anything else gets 421: a page whose DNS name was rebound to
//! 127.0.0.1 sends its own name, so it never reaches a handler.
//!
//! A request is *local* (local mode lets it do everything) only when it comes from a loopback
//! address, names a loopback host, and carries no `Forwarded` or `X-Forwarded-For` header: a
//! reverse proxy on the same host makes its visitors' requests come from loopback too.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::config::Config;

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Orchestrators' health probes name the container or pod address; the answer is harmless.
    if req.uri().path() == sicuro_types::routes::path::HEALTHZ {
        return next.run(req).await;
    }
    let host = request_host(&req);
    if !names_this_server(&state.config, host.as_deref()) {
        let named = host.as_deref().unwrap_or("no host");
        tracing::warn!(host = named, "request refused: it does not name this server");
        let why = format!(
            "this server answers to {}, not to {named}; use that address (SICURO_PUBLIC_URL)",
            authority(&state.config.public_url)
        );
        return (
            StatusCode::MISDIRECTED_REQUEST,
            axum::Json(sicuro_types::ApiError { error: why }),
        )
            .into_response();
    }
    next.run(req).await
}

/// The host the request names: `Host`, or the URI's authority (HTTP/2).
fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .map(|h| h.to_ascii_lowercase())
}

/// `host[:port]` as browsers send it (no port when it is the scheme's default).
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Every `Host` this server answers to.
pub fn allowed_hosts(config: &Config) -> Vec<String> {
    let port = config.listen.port();
    let mut hosts = vec![authority(&config.public_url), config.listen.to_string()];
    if config.local_mode() {
        hosts.extend(LOOPBACK_NAMES.iter().map(|n| format!("{n}:{port}")));
        if port == 80 {
            hosts.extend(LOOPBACK_NAMES.iter().map(|n| n.to_string()));
        }
    }
    hosts
}

/// Whether `host` (a `Host` header) names this server.
pub fn names_this_server(config: &Config, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    allowed_hosts(config).iter().any(|h| h == host)
        || (config.local_mode() && LOOPBACK_NAMES.contains(&host_name(host)))
}

/// The name part of `host[:port]` (`[::1]` keeps its brackets).
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with('[') => name,
        _ => host,
    }
}

/// Whether a request is a person at this machine: from loopback, naming a loopback host, not
/// forwarded by a proxy.
pub fn is_local_request(peer_is_loopback: bool, headers: &HeaderMap) -> bool {
    let forwarded = headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
    let host_is_loopback = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.to_ascii_lowercase())
        .is_some_and(|h| LOOPBACK_NAMES.contains(&host_name(&h)));
    peer_is_loopback && host_is_loopback && !forwarded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn local_means_loopback_peer_loopback_host_and_no_proxy() {
        assert!(is_local_request(true, &headers(&[("host", "127.0.0.1:3000")])));
        assert!(is_local_request(true, &headers(&[("host", "localhost:3000")])));
        assert!(is_local_request(true, &headers(&[("host", "[::1]:3000")])));
        // A rebound DNS name, a proxy on the same host, a request from elsewhere.
        assert!(!is_local_request(true, &headers(&[("host", "evil.example:3000")])));
        assert!(!is_local_request(
            true,
            &headers(&[("host", "127.0.0.1:3000"), ("x-forwarded-for", "203.0.113.9")])
        ));
        assert!(!is_local_request(
            true,
            &headers(&[("host", "127.0.0.1:3000"), ("forwarded", "for=203.0.113.9")])
        ));
        assert!(!is_local_request(false, &headers(&[("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn the_server_answers_to_its_public_name_and_listen_address() {
        let local = Config::from_env(&Env::from_pairs([])).unwrap();
        let hosts = allowed_hosts(&local);
        for h in ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"] {
            assert!(hosts.contains(&h.to_string()), "{hosts:?}");
        }
        let public = Config::from_env(&Env::from_pairs([
            ("SICURO_PUBLIC_URL", "https://CI.example.com"),
            ("SICURO_GITHUB_CLIENT_ID", "id"),
            ("SICURO_GITHUB_CLIENT_SECRET", "secret"),
            ("SICURO_GITHUB_WEBHOOK_SECRET", "0123456789abcdef"),
            ("SICURO_OPEN", "true"),
        ]))
        .unwrap();
        let hosts = allowed_hosts(&public);
        assert!(hosts.contains(&"ci.example.com".to_string()), "{hosts:?}");
        assert!(!hosts.contains(&"localhost:3000".to_string()), "{hosts:?}");
        // Loopback names on another port (a tunnel, a local proxy) in local mode only.
        assert!(names_this_server(&local, Some("localhost:8080")));
        assert!(names_this_server(&local, Some("[::1]:9")));
        assert!(!names_this_server(&local, Some("evil.example:3000")));
        assert!(!names_this_server(&local, Some("localhost.evil.example:3000")));
        assert!(!names_this_server(&public, Some("localhost:8080")));
        assert!(names_this_server(&public, Some("ci.example.com")));
    }
}
