//! What the measurements observe from outside: SSE streams, Docker's containers and events,
//! signed-in clients, request throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;

/// Reads an SSE log stream to its `end`, calling `each` with every line's text.
/// Returns when the stream was open (response headers received), in seconds since the epoch.
pub(crate) async fn sse_lines(url: &str, mut each: impl FnMut(&str)) -> f64 {
    let response = reqwest::get(url).await.unwrap();
    let opened = crate::stats::now_secs();
    let mut body = response.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.unwrap());
        while let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..i + 2).collect();
            let block = String::from_utf8_lossy(&block);
            if block.contains("event: end") || block.starts_with("event:end") {
                return opened;
            }
            if let Some(data) = block
                .lines()
                .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                && block.contains("event: lines")
                && let Ok(lines) = serde_json::from_str::<Vec<sicuro_types::LogLine>>(data)
            {
                for l in &lines {
                    each(l.text());
                }
            }
        }
    }
    opened
}

pub(crate) async fn sse_until(url: &str, needle: &str) {
    let response = reqwest::get(url).await.unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if text.contains(needle) {
            return;
        }
    }
}

pub(crate) async fn containers_of_build(instance: &str, id: i64) -> usize {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    use sicuro::engine::executor::docker::client::{LABEL_BUILD, LABEL_INSTANCE, label_filter};
    let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
        .get()
        .await
        .unwrap();
    let key = id.to_string();
    let f = label_filter(&[(LABEL_INSTANCE, instance), (LABEL_BUILD, &key)]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default().all(true).filters(&f).build(),
        ))
        .await
        .unwrap()
        .len()
}

/// Start times of this instance's job containers, from Docker's event stream.
pub(crate) struct Starts(tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<f64>>);

pub(crate) fn container_starts(instance: &str) -> Starts {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let instance = instance.to_string();
    tokio::spawn(async move {
        use bollard::query_parameters::EventsOptionsBuilder;
        let docker = sicuro::engine::executor::docker::client::DockerHandle::new()
            .get()
            .await
            .unwrap();
        let filters = std::collections::HashMap::from([
            ("type", vec!["container".to_string()]),
            ("event", vec!["start".to_string()]),
            (
                "label",
                vec![
                    format!("org.sicuro.instance={instance}"),
                    "org.sicuro.role=job".to_string(),
                ],
            ),
        ]);
        let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
        while let Some(Ok(e)) = events.next().await {
            if let Some(ns) = e.time_nano {
                let _ = tx.send(ns as f64 / 1e9);
            }
        }
    });
    Starts(tokio::sync::Mutex::new(rx))
}

impl Starts {
    pub(crate) async fn next_after(&self, t: f64) -> f64 {
        let mut rx = self.0.lock().await;
        loop {
            let s = rx.recv().await.unwrap();
            if s >= t {
                return s;
            }
        }
    }
}

pub(crate) async fn sign_in(base: &str, login: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .get(format!("{base}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let r = client.get(format!("{base}/auth/github")).send().await.unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = client.get(format!("{authorize}&login={login}")).send().await.unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    client.get(callback).send().await.unwrap();
    client
}

/// Requests per second over `seconds`, 32 at a time.
pub(crate) async fn throughput<F, Fut>(seconds: u64, make: F) -> f64
where
    F: Fn(reqwest::Client) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let make = make.clone();
            let client = client.clone();
            let done = done.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if make(client.clone()).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}
