//! What every test needs: a running fake, an HTTP client that does not follow redirects, and a
//! webhook receiver that records what it got and answers with a chosen status.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use fake_github::{FakeGithub, FakeGithubOptions, HookConfig};
use serde_json::Value;

pub async fn fake() -> FakeGithub {
    FakeGithub::start(FakeGithubOptions::default())
        .await
        .expect("the fake starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("fake-github-tests")
        .build()
        .expect("a client builds")
}

/// GET an API path (relative to the API base) with a token; returns status and JSON.
pub async fn get(fake: &FakeGithub, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = client().get(format!("{}{path}", fake.api_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the fake answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Sends JSON to an API path with a token; returns status and JSON.
pub async fn send(fake: &FakeGithub, method: reqwest::Method, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .request(method, format!("{}{path}", fake.api_url()))
        .header("authorization", format!("token {token}"))
        .json(body)
        .send()
        .await
        .expect("the fake answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON delivery")
    }
}

/// A webhook endpoint on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(202));
        let (r, s) = (received.clone(), status.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| async move {
                r.lock().unwrap().push(Received { headers, body });
                StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received, status }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn config(&self, secret: &str) -> HookConfig {
        HookConfig {
            url: self.url.clone(),
            content_type: "json".into(),
            secret: Some(secret.into()),
            insecure_ssl: "0".into(),
        }
    }
}

/// Runs git with no user configuration; returns stdout, or stderr as the error.
pub async fn git(dir: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}
