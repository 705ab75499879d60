//! The whole server (real router, engine, database) on a local port, configured for a fake
//! GitHub through the same base-URL settings a GitHub Enterprise user sets, and a browser-like
//! HTTP client with a cookie jar. Jobs run on the fake executor (the host's bash, no Docker):
//! these tests are about everything around the engine, whose own tests use the real Docker.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fake_github::{CommitSpec, FakeGithub, FakeGithubOptions, Permission, PullRequestSpec, RepoSpec};
use reqwest::header::{ACCEPT, HeaderMap, LOCATION};
use sicuro::config::{Config, Env};
use sicuro::engine::executor::fake::FakeExecutor;
use sicuro::web::{self, AppState};
use sicuro_types::Viewer;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";
pub const CLIENT_ID: &str = "sicuro-test-client";
pub const CLIENT_SECRET: &str = "sicuro-test-client-secret";

pub struct TestApp {
    pub fake: FakeGithub,
    pub url: String,
    pub state: AppState,
    /// Runs the jobs; knows every job it was given.
    pub executor: Arc<FakeExecutor>,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(false, &[]).await
    }

    /// `postgres`: use a fresh PostgreSQL database (needs SICURO_TEST_DATABASE_URL).
    pub async fn start_with(postgres: bool, extra_env: &[(&str, &str)]) -> TestApp {
        Self::start_as(postgres, false, extra_env).await
    }

    /// Without GitHub settings: local mode, where people at this machine may do everything.
    pub async fn start_local(extra_env: &[(&str, &str)]) -> TestApp {
        Self::start_as(false, true, extra_env).await
    }

    async fn start_as(postgres: bool, local: bool, extra_env: &[(&str, &str)]) -> TestApp {
        let fake = FakeGithub::start(FakeGithubOptions {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            state_dir: None,
            port: 0,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let data = dir.path().display().to_string();
        let database_url = super::database_url(dir.path(), postgres)
            .await
            .expect("SICURO_TEST_DATABASE_URL");
        let web = fake.web_url();
        let api = fake.api_url();
        let listen = addr.to_string();
        let mut pairs = vec![
            ("SICURO_LISTEN", listen.as_str()),
            ("SICURO_DATA_DIR", data.as_str()),
            ("DATABASE_URL", database_url.as_str()),
            ("SICURO_PUBLIC_URL", url.as_str()),
            ("SICURO_GITHUB_URL", web.as_str()),
            ("SICURO_GITHUB_API_URL", api.as_str()),
            ("SICURO_SECRET_KEY", "an-integration-test-secret-key-of-enough-length"),
            ("SICURO_MAX_CONCURRENT_BUILDS", "3"),
        ];
        if !local {
            pairs.extend_from_slice(&[
                ("SICURO_GITHUB_CLIENT_ID", CLIENT_ID),
                ("SICURO_GITHUB_CLIENT_SECRET", CLIENT_SECRET),
                ("SICURO_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
                // Tests sign in as many made-up people; the allow-lists have tests of their own.
                ("SICURO_OPEN", "true"),
            ]);
        }
        pairs.extend_from_slice(extra_env);
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
        let executor = Arc::new(FakeExecutor::new(dir.path().join("jobs")));
        let state = sicuro::serve::app_state_with(config, Some(executor.clone()))
            .await
            .unwrap();
        let router = web::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        TestApp {
            fake,
            url,
            state,
            executor,
            dir,
            server,
        }
    }

    /// A browser: cookies kept, redirects not followed (tests follow them on purpose).
    pub fn browser(&self) -> Browser {
        Browser::at(&self.url)
    }

    /// A browser signed in as `login` through the whole OAuth flow.
    pub async fn signed_in(&self, login: &str) -> Browser {
        let mut b = self.browser();
        b.sign_in(login).await.expect("sign-in succeeds");
        b
    }

    /// bob (made a user if need be) forks alice/app and opens a pull request from it, delivered
    /// to Sicuro; returns its number and head commit.
    pub async fn fork_pull_request(&self, title: &str) -> (u64, String) {
        if self.fake.repo("bob/app").is_none() {
            let _ = self.fake.add_user("bob");
            self.fake
                .add_repo(
                    RepoSpec::new("bob/app")
                        .fork_of("alice/app")
                        .collaborator("bob", Permission::Admin),
                )
                .await
                .unwrap();
        }
        let branch = title.replace(' ', "-");
        let head = self
            .fake
            .commit(
                "bob/app",
                CommitSpec::new(&branch, title)
                    .from("main")
                    .file("f.txt", title)
                    .author("bob"),
            )
            .await
            .unwrap();
        let number = self
            .fake
            .open_pull_request(PullRequestSpec {
                repo: "alice/app".into(),
                base: "main".into(),
                head_repo: Some("bob/app".into()),
                head: branch,
                title: title.into(),
                body: None,
                user: "bob".into(),
            })
            .await
            .unwrap();
        let d = self
            .fake
            .deliver_pull_request("alice/app", number, "opened")
            .await
            .unwrap();
        assert_eq!(d[0].status, Some(202));
        (number, head.after)
    }

    pub async fn builds_of(&self, slug: &str) -> Vec<sicuro::db::builds::Build> {
        let (owner, name) = slug.split_once('/').unwrap();
        let Some(repo) = sicuro::db::repos::by_slug(&self.state.db, owner, name).await.unwrap() else {
            return Vec::new();
        };
        sicuro::db::builds::page(&self.state.db, repo.id, 0, 1000)
            .await
            .unwrap()
            .0
    }

    /// Waits (on the engine's announcements, not a timer) until `check` holds for the builds.
    pub async fn wait_builds<T>(
        &self,
        slug: &str,
        what: &str,
        check: impl Fn(&[sicuro::db::builds::Build]) -> Option<T>,
    ) -> T {
        let mut changes = self.state.engine.changes();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            if let Some(t) = check(&self.builds_of(slug).await) {
                return t;
            }
            let change = super::or_fault(&self.state.engine, tokio::time::timeout_at(deadline, changes.recv()));
            if change.await.is_err() {
                panic!("timed out waiting for {what}: {:#?}", self.builds_of(slug).await);
            }
        }
    }

    /// Waits for the fake GitHub's state (statuses, requests) to satisfy `check`; a background
    /// task's panic (the status poster's, say) fails the wait at once with its message.
    pub async fn wait_github<T>(
        &self,
        what: &str,
        check: impl FnMut(&FakeGithub) -> Option<T>,
    ) -> Result<T, fake_github::Error> {
        super::or_fault(&self.state.engine, self.fake.wait_for(what, check)).await
    }
}

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl Browser {
    /// A browser for the server at `base` (this app's, or a server process's).
    pub fn at(base: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: base.to_string(),
            csrf: String::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Loads a page the way a browser does (this also gives the browser its session cookie).
    pub async fn page(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(self.url(path))
            .header(ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A state change as the pages make it: POST with the session's CSRF token.
    pub async fn post(&self, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let mut req = self.client.post(self.url(path)).header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Any state change (PUT, DELETE, …) as the pages make it, with the CSRF token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A GET whose body is text (a log download, an event stream, a page).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    pub async fn refresh_csrf(&mut self) -> Viewer {
        let (_, v) = self.get_json("/api/me").await;
        let viewer: Viewer = serde_json::from_value(v).unwrap();
        self.csrf = viewer.csrf_token.clone();
        viewer
    }

    /// Sign in with GitHub: Sicuro → the fake's authorize page (approving as `login`) → the
    /// callback → signed in. Returns where the flow ended.
    pub async fn sign_in(&mut self, login: &str) -> Result<String, String> {
        self.page("/").await;
        let start = self.client.get(self.url("/auth/github")).send().await.unwrap();
        let authorize = location(start.headers()).ok_or("no redirect to GitHub")?;
        let approved = self
            .client
            .get(format!("{authorize}&login={login}"))
            .send()
            .await
            .unwrap();
        let callback = location(approved.headers()).ok_or("the fake did not redirect back")?;
        let done = self.client.get(callback).send().await.unwrap();
        let end = location(done.headers()).unwrap_or_default();
        self.refresh_csrf().await;
        if end == "/" { Ok(end) } else { Err(end) }
    }
}

pub fn location(h: &HeaderMap) -> Option<String> {
    h.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}
