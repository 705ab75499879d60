//! The real `sicuro` binary as a child process: started on a free port in local mode, killed
//! with SIGKILL, started again on the same data — for the crash and restart tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    pub port: u16,
    env: Vec<(String, String)>,
}

impl ServerProcess {
    pub async fn start(data: &Path, env: &[(&str, &str)]) -> ServerProcess {
        Self::start_at(data, free_port(), env).await
    }

    /// The same on a chosen port (a server whose public URL must be known before it starts).
    pub async fn start_at(data: &Path, port: u16, env: &[(&str, &str)]) -> ServerProcess {
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // On PostgreSQL (SICURO_TEST_DATABASE=postgres) a fresh database, kept across restarts.
        if super::all_on_postgres() && !env.iter().any(|(k, _)| k == "DATABASE_URL") {
            let url = super::database_url(data, true).await.expect("a PostgreSQL database");
            env.push(("DATABASE_URL".into(), url));
        }
        Self::start_on(data, port, env).await
    }

    /// The server's database, as the tests open it beside the server.
    pub fn database_url(&self) -> String {
        self.env.iter().find(|(k, _)| k == "DATABASE_URL").map_or_else(
            || format!("sqlite://{}/sicuro.db", self.data.display()),
            |(_, v)| v.clone(),
        )
    }

    pub async fn db(&self) -> sicuro::db::Db {
        sicuro::db::Db::connect(&self.database_url()).await.unwrap()
    }

    async fn start_on(data: &Path, port: u16, env: Vec<(String, String)>) -> ServerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sicuro"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("SICURO_DATA_DIR", data)
            .env("SICURO_LISTEN", format!("127.0.0.1:{port}"))
            .env("SICURO_SITE_ROOT", data.join("site"))
            .env("SICURO_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(h) = std::env::var("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", h);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the sicuro binary starts");
        // The server says when it listens; its output is copied to server.log meanwhile.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let log_path = data.join("server.log");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap(),
        ));
        let mut ready_tx = Some(ready_tx);
        let log_out = log.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(log_out.lock().unwrap(), "{line}");
                if line.contains("is listening on") {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log.lock().unwrap(), "{line}");
            }
        });
        let server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data: data.to_path_buf(),
            port,
            env,
        };
        if tokio::time::timeout(Duration::from_secs(120), ready_rx)
            .await
            .map(|r| r.is_ok())
            != Ok(true)
        {
            panic!(
                "the server did not start; log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL: no clean-up of any kind.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub async fn restart(mut self) -> ServerProcess {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Self::start_on(&self.data.clone(), self.port, std::mem::take(&mut self.env)).await
    }

    /// SIGTERM, then the exit status. A server still running `within` after it fails the test
    /// (killed, so the suite goes on) instead of hanging it.
    pub fn terminate_within(&mut self, within: std::time::Duration) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                self.kill();
                panic!(
                    "the server did not exit within {within:?} of SIGTERM; its log:\n{}",
                    self.log()
                );
            }
            // Polls the process table, not a guess at how long shutting down takes.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or_default())
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or_default())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Reads server-sent events from `url`, sending `last_event_id` if given, until `stop` says so
/// or the stream ends. Returns what was read.
pub async fn read_sse(
    url: &str,
    last_event_id: Option<&str>,
    mut stop: impl FnMut(&SseEvent) -> bool,
) -> Vec<SseEvent> {
    let client = reqwest::Client::new();
    let mut req = client.get(url).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let response = req.send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    let mut body = response.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let mut current = SseEvent {
        event: "message".into(),
        id: None,
        data: String::new(),
    };
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if line.is_empty() {
                if !current.data.is_empty() || current.event != "message" {
                    let e = std::mem::replace(
                        &mut current,
                        SseEvent {
                            event: "message".into(),
                            id: None,
                            data: String::new(),
                        },
                    );
                    let done = stop(&e);
                    out.push(e);
                    if done {
                        return out;
                    }
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line
                .split_once(':')
                .map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)))
                .unwrap_or((line, ""));
            match field {
                "event" => current.event = value.to_string(),
                "id" => current.id = Some(value.to_string()),
                "data" => {
                    if !current.data.is_empty() {
                        current.data.push('\n');
                    }
                    current.data.push_str(value);
                }
                _ => {}
            }
        }
    }
    out
}
