//! The API's paths and the names of its server-sent events, defined once for the server's route
//! table and the browser's requests.
//!
//! A path is a pattern with `{name}` parameters, as axum's router reads it; [`fill`] puts values
//! in, in order.

/// Paths of the JSON API, the streams, the webhook receiver and the badge.
pub mod path {
    pub const ME: &str = "/api/me";
    pub const REPOS: &str = "/api/repos";
    pub const REPO: &str = "/api/repos/{owner}/{name}";
    pub const REPO_BUILDS: &str = "/api/repos/{owner}/{name}/builds";
    pub const REPO_SUBSCRIBE: &str = "/api/repos/{owner}/{name}/subscribe";
    pub const REPO_UNSUBSCRIBE: &str = "/api/repos/{owner}/{name}/unsubscribe";
    pub const REPO_SETTINGS: &str = "/api/repos/{owner}/{name}/settings";
    pub const REPO_SECRETS: &str = "/api/repos/{owner}/{name}/secrets";
    pub const REPO_SECRET: &str = "/api/repos/{owner}/{name}/secrets/{secret}";
    pub const REPO_SECRETS_AUDIT: &str = "/api/repos/{owner}/{name}/secrets-audit";
    pub const REPO_CACHES_CLEAR: &str = "/api/repos/{owner}/{name}/caches/clear";
    pub const REPO_EVENTS: &str = "/api/repos/{owner}/{name}/events";
    pub const EVENTS: &str = "/api/events";
    pub const BUILD: &str = "/api/builds/{id}";
    pub const BUILD_LOG: &str = "/api/builds/{id}/log";
    pub const BUILD_LOG_TEXT: &str = "/api/builds/{id}/log.txt";
    pub const BUILD_LOG_STREAM: &str = "/api/builds/{id}/log/stream";
    /// `?q=…&regex=1&case=1&after=N`: a search of the whole log, streamed (`hits`, then `end`).
    pub const BUILD_LOG_SEARCH: &str = "/api/builds/{id}/log/search";
    /// What the build's JUnit reports say (404 when it had none).
    pub const BUILD_TESTS: &str = "/api/builds/{id}/tests";
    pub const BUILD_CANCEL: &str = "/api/builds/{id}/cancel";
    pub const BUILD_REBUILD: &str = "/api/builds/{id}/rebuild";
    pub const BUILD_APPROVE: &str = "/api/builds/{id}/approve";
    pub const BUILD_DECLINE: &str = "/api/builds/{id}/decline";
    /// The pages' `#[server]` functions live under this prefix.
    pub const SERVER_FNS: &str = "/api/fn";
    pub const GITHUB_WEBHOOK: &str = "/hooks/github";
    pub const BADGE: &str = "/badge/{owner}/{file}";
    pub const HEALTHZ: &str = "/healthz";
    pub const SIGN_IN: &str = "/auth/github";
    pub const SIGN_IN_CALLBACK: &str = "/auth/github/callback";
    pub const SIGN_OUT: &str = "/auth/signout";
    pub const SIGN_IN_ERROR: &str = "/auth/error";
}

/// Event names of the server-sent-event streams.
pub mod event {
    /// A batch of log lines; the event id is the last line's number.
    pub const LINES: &str = "lines";
    /// The log is complete; data is a `LogEnd` (for a search: the final `SearchHits`).
    pub const END: &str = "end";
    /// Search hits; data is a `SearchHits`.
    pub const HITS: &str = "hits";
    /// A build changed; data is a `BuildEvent`.
    pub const BUILD: &str = "build";
    /// The reader fell behind; re-read the page's data.
    pub const RESYNC: &str = "resync";
}

/// `pattern` with its `{…}` parameters replaced by `values`, in order.
pub fn fill(pattern: &str, values: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut values = values.iter();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(&rest[..open]);
        match values.next() {
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[open..close]),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// A repository path (`{owner}/{name}` patterns) for an `owner/name` slug.
pub fn fill_repo(pattern: &str, slug: &str) -> String {
    let (owner, name) = slug.split_once('/').unwrap_or((slug, ""));
    fill(pattern, &[&owner, &name])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_filled_in_order() {
        assert_eq!(fill(path::BUILD_LOG_STREAM, &[&42]), "/api/builds/42/log/stream");
        assert_eq!(fill(path::REPO_EVENTS, &[&"o", &"r"]), "/api/repos/o/r/events");
        assert_eq!(fill(path::EVENTS, &[]), "/api/events");
        assert_eq!(fill_repo(path::REPO_SUBSCRIBE, "o/r"), "/api/repos/o/r/subscribe");
    }
}
