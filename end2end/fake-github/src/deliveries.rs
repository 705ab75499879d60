//! Sending webhooks the way GitHub does: one POST per subscribed hook, signed with the hook's
//! secret over the exact body bytes (`X-Hub-Signature` sha1 and `X-Hub-Signature-256`), each with
//! its own delivery id; every attempt recorded with the receiver's answer. A redelivery sends the
//! same bytes with the same delivery id.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::state::{Delivery, Shared};
use crate::{Error, clock, events};

const USER_AGENT: &str = "GitHub-Hookshot/fake";
const MAX_RESPONSE_BODY: usize = 64 * 1024;

pub(crate) fn ping_in_background(shared: Arc<Shared>, hook_id: u64) {
    tokio::spawn(async move {
        // The outcome is recorded with the delivery; nobody waits for it here.
        let _ = ping(&shared, hook_id).await;
    });
}

pub(crate) async fn ping(shared: &Shared, hook_id: u64) -> Result<Delivery, Error> {
    let payload = shared.read(|w| {
        let hook = w.hook(hook_id).ok_or(Error::UnknownHook(hook_id))?;
        let repo = w.repo_by_id(hook.repo_id).ok_or(Error::UnknownHook(hook_id))?;
        Ok::<_, Error>(events::ping(&shared.urls, w, repo, hook))
    })?;
    deliver(shared, hook_id, "ping", None, &payload).await
}

/// Sends `payload` to every active hook of the repository that subscribed to `event`.
pub(crate) async fn to_subscribers(
    shared: &Shared,
    repo_id: u64,
    event: &str,
    action: Option<&str>,
    payload: &Value,
) -> Result<Vec<Delivery>, Error> {
    let hooks: Vec<u64> = shared.read(|w| {
        w.hooks
            .iter()
            .filter(|h| h.repo_id == repo_id && h.wants(event))
            .map(|h| h.id)
            .collect()
    });
    let mut sent = Vec::with_capacity(hooks.len());
    for hook_id in hooks {
        sent.push(deliver(shared, hook_id, event, action, payload).await?);
    }
    Ok(sent)
}

pub(crate) async fn deliver(
    shared: &Shared,
    hook_id: u64,
    event: &str,
    action: Option<&str>,
    payload: &Value,
) -> Result<Delivery, Error> {
    let (hook, repo) = shared.read(|w| {
        let hook = w.hook(hook_id).cloned().ok_or(Error::UnknownHook(hook_id))?;
        let repo = w.repo_by_id(hook.repo_id).cloned().ok_or(Error::UnknownHook(hook_id))?;
        Ok::<_, Error>((hook, repo))
    })?;
    let json = serde_json::to_string(payload).expect("JSON values serialize");
    let (body, content_type) = if hook.config.content_type == "form" {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &json)
            .finish();
        (form, "application/x-www-form-urlencoded")
    } else {
        (json, "application/json")
    };
    let guid = uuid::Uuid::new_v4().to_string();
    let mut headers = BTreeMap::from([
        ("Accept".to_string(), "*/*".to_string()),
        ("Content-Type".into(), content_type.into()),
        ("User-Agent".into(), USER_AGENT.into()),
        ("X-GitHub-Delivery".into(), guid.clone()),
        ("X-GitHub-Event".into(), event.into()),
        ("X-GitHub-Hook-ID".into(), hook.id.to_string()),
        ("X-GitHub-Hook-Installation-Target-ID".into(), repo.id.to_string()),
        ("X-GitHub-Hook-Installation-Target-Type".into(), "repository".into()),
    ]);
    if let Some(secret) = &hook.config.secret {
        headers.insert("X-Hub-Signature".into(), format!("sha1={}", sign_sha1(secret, &body)));
        headers.insert(
            "X-Hub-Signature-256".into(),
            format!("sha256={}", sign_sha256(secret, &body)),
        );
    }
    let delivery = Delivery {
        guid,
        hook_id,
        repo: repo.full_name(),
        event: event.into(),
        action: action.map(String::from),
        url: hook.config.url.clone(),
        body,
        headers,
        status: None,
        error: None,
        response_body: String::new(),
        redelivery: false,
        delivered_at: 0,
    };
    Ok(send(shared, delivery).await)
}

/// Sends a recorded delivery again: same id, same bytes, same headers, to the hook's current URL.
pub(crate) async fn redeliver(shared: &Shared, guid: &str) -> Result<Delivery, Error> {
    let mut delivery = shared
        .read(|w| w.deliveries.iter().rev().find(|d| d.guid == guid).cloned())
        .ok_or_else(|| Error::UnknownDelivery(guid.to_string()))?;
    if let Some(url) = shared.read(|w| w.hook(delivery.hook_id).map(|h| h.config.url.clone())) {
        delivery.url = url;
    }
    delivery.redelivery = true;
    Ok(send(shared, delivery).await)
}

/// Hex HMAC-SHA1 of `body`, for `X-Hub-Signature`.
pub fn sign_sha1(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Hex HMAC-SHA256 of `body`, for `X-Hub-Signature-256`.
pub fn sign_sha256(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn send(shared: &Shared, mut delivery: Delivery) -> Delivery {
    let mut request = shared.http.post(&delivery.url).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    delivery.delivered_at = clock::now();
    match request.send().await {
        Ok(response) => {
            delivery.status = Some(response.status().as_u16());
            let text = response.text().await.unwrap_or_default();
            delivery.response_body = text.chars().take(MAX_RESPONSE_BODY).collect();
        }
        Err(e) => delivery.error = Some(error_chain(&e)),
    }
    shared.write(|w| {
        if let Some(hook) = w.hooks.iter_mut().find(|h| h.id == delivery.hook_id) {
            hook.delivered = true;
            hook.last_response_code = delivery.status;
        }
        w.deliveries.push(delivery.clone());
    });
    delivery
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
