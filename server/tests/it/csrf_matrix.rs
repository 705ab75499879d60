//! State changes only by POST with the session's CSRF token, from this origin: sign-out, every
//! state-changing route asked cross-site, from another origin or without the token, and local
//! mode refusing a foreign Host. The people and repositories are the authorization matrix's.

use reqwest::Method;
use serde_json::json;
use sicuro_types::routes::path;

use crate::authorization::{Role, world};
use crate::common::web_app::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_out_needs_the_sessions_own_token() {
    let w = world().await;
    let mut stranger = w.app.signed_in("sam").await;
    let viewer = stranger.refresh_csrf().await;
    assert_eq!(viewer.login.as_deref(), Some("sam"));
    // Without the token the session stays.
    let resp = stranger
        .client
        .post(stranger.url(path::SIGN_OUT))
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        stranger.refresh_csrf().await.login.as_deref(),
        Some("sam"),
        "still signed in"
    );
    // With it, signed out.
    let resp = stranger
        .client
        .post(stranger.url(path::SIGN_OUT))
        .form(&[("csrf", stranger.csrf.clone())])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(stranger.refresh_csrf().await.login, None, "signed out");
}

/// Every state-changing route (whatever the method), asked by the repository's owner with a
/// valid session: refused by the CSRF check when the request is cross-site, from a foreign
/// origin, or without the session's token — before any handler runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_state_change_is_refused_cross_site_from_another_origin_or_without_the_token() {
    let w = world().await;
    let owner = w.owner();
    let changes: Vec<(&'static str, &'static str)> = sicuro::web::routes::listed()
        .into_iter()
        .flat_map(|l| l.methods.iter().map(move |m| (l.path, *m)))
        .filter(|(p, m)| *m != "GET" && *p != path::GITHUB_WEBHOOK)
        .collect();
    assert!(changes.len() >= 13, "{changes:?}");
    let mut problems = Vec::new();
    for (pattern, method) in &changes {
        let url = owner.url(&w.fill(pattern, true));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let sign_out = *pattern == path::SIGN_OUT;
        let attempts: [(&str, Vec<(&str, &str)>, bool, &str); 4] = [
            (
                "cross-site",
                vec![("sec-fetch-site", "cross-site")],
                true,
                "cross-site request refused",
            ),
            (
                "from another origin",
                vec![("origin", "https://evil.example")],
                true,
                "request from another origin refused",
            ),
            ("without the token", vec![], false, "CSRF token"),
            ("with another session's token", vec![], true, "CSRF token"),
        ];
        for (what, headers, with_token, says) in attempts {
            let token = if what == "with another session's token" {
                w.people
                    .iter()
                    .find(|(r, _)| *r == Role::Reader)
                    .unwrap()
                    .1
                    .csrf
                    .clone()
            } else {
                owner.csrf.clone()
            };
            let mut req = owner
                .client
                .request(method.clone(), &url)
                .header("accept", "application/json");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if sign_out {
                // Sign-out carries its token in its form (it is a plain form post).
                req = req.form(&[("csrf", if with_token { token.as_str() } else { "" })]);
            } else {
                if with_token {
                    req = req.header("x-csrf-token", &token);
                }
                req = req.json(&json!({}));
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if status != 403 || !text.contains(says) {
                problems.push(format!("{method} {pattern} {what}: {status} {text}"));
            }
        }
    }
    // A cross-origin request without any cookie is refused too (no session to ride on, but a
    // browser on another site must not act even anonymously).
    for (pattern, method) in &changes {
        let resp = reqwest::Client::new()
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                w.app.url.clone() + &w.fill(pattern, false),
            )
            .header("origin", "https://evil.example")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status != 403 {
            problems.push(format!("{method} {pattern} cross-origin without a cookie: {status}"));
        }
    }
    // The owner is still signed in and the repository still watched: nothing went through.
    let (code, repo) = owner.get_json(&format!("/api/repos/{}", w.repos[1].0)).await;
    assert_eq!((code, repo["watched"].as_bool()), (200, Some(true)), "{repo}");
    assert!(
        problems.is_empty(),
        "{} refusals missing:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// In local mode people at this machine may do everything; a request naming another host (a
/// page whose DNS name was rebound to 127.0.0.1) is refused before anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_local_mode_every_route_refuses_a_foreign_host() {
    let app = TestApp::start_local(&[]).await;
    let client = reqwest::Client::new();
    let mut problems = Vec::new();
    for l in sicuro::web::routes::listed() {
        if l.path == path::HEALTHZ {
            continue; // load balancers ask it by address
        }
        for m in l.methods {
            let url = format!(
                "{}{}",
                app.url,
                l.path
                    .replace("{owner}", "local")
                    .replace("{name}", "x")
                    .replace("{id}", "1")
                    .replace("{secret}", "S")
                    .replace("{file}", "x.svg")
            );
            let resp = client
                .request(Method::from_bytes(m.as_bytes()).unwrap(), &url)
                .header("host", "attacker.example:80")
                .send()
                .await
                .unwrap();
            if resp.status().as_u16() != 421 {
                problems.push(format!("{m} {}: {}", l.path, resp.status()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
