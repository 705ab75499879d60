//! One release server process per measurement, with its own data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::probes::sse_lines;

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) async fn start(bin: &Path, root: &Path, work: &Path, name: &str, env: &[(&str, &str)]) -> Server {
        let data = work.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("SICURO_DATA_DIR", &data)
            .env("SICURO_LISTEN", format!("127.0.0.1:{port}"))
            .env("SICURO_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("SICURO_SITE_ROOT", root.join("target/site"))
            .env("SICURO_MAX_CONCURRENT_BUILDS", "2")
            .env("SICURO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client.get(format!("{url}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, url, data }
    }

    pub(crate) fn status_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    pub(crate) fn peak_rss_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    pub(crate) async fn instance(&self) -> String {
        let db = sicuro::db::Db::connect(&format!("sqlite://{}/sicuro.db", self.data.display()))
            .await
            .unwrap();
        sicuro::db::meta::get(&db, "instance_id").await.unwrap().unwrap()
    }

    pub(crate) async fn add_repo(&self, work: &Path, name: &str, sicuro_json: &str) -> String {
        let tree = work.join(format!("tree-{name}-{}", self.child.id()));
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("sicuro.json"), sicuro_json).unwrap();
        self.add_repo_from(work, name, &tree).await
    }

    pub(crate) async fn add_repo_from(&self, work: &Path, name: &str, source: &Path) -> String {
        let path = work.join(format!("git-{name}-{}", self.child.id()));
        std::fs::create_dir_all(&path).unwrap();
        let copy = Command::new("cp")
            .arg("-r")
            .arg(format!("{}/.", source.display()))
            .arg(&path)
            .status()
            .unwrap();
        assert!(copy.success());
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["add", "-A"],
            vec!["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
        ] {
            assert!(
                Command::new("git")
                    .args(&args)
                    .current_dir(&path)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let slug = format!("local/{name}");
        let r = reqwest::Client::new()
            .post(format!("{}/api/repos", self.url))
            .json(&json!({"url": path.display().to_string(), "slug": slug}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        slug
    }

    pub(crate) async fn trigger(&self, slug: &str) -> i64 {
        let r: Value = reqwest::Client::new()
            .post(format!("{}/api/repos/{slug}/builds", self.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["id"].as_i64().unwrap_or_else(|| panic!("{r}"))
    }

    pub(crate) async fn wait_end(&self, id: i64) -> Value {
        sse_lines(&format!("{}/api/builds/{id}/log/stream", self.url), |_| {}).await;
        reqwest::get(format!("{}/api/builds/{id}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn build_and_wait(&self, slug: &str) -> Value {
        let id = self.trigger(slug).await;
        let d = self.wait_end(id).await;
        assert_eq!(d["summary"]["status"], "success", "{d}");
        d
    }
}
