//! Repository webhooks: Sicuro's one hook per repository, created on subscribe (or found and
//! reused), removed on unsubscribe.

use http::Method;
use serde_json::json;

use super::types::GhHook;
use super::{GhError, Github, enc};

/// The events Sicuro builds on.
pub const EVENTS: &[&str] = &["push", "pull_request"];

impl Github {
    /// Creates Sicuro's webhook on the repository, or updates and reuses one that already points
    /// at this server, so subscribing twice never makes two hooks. Returns the hook id.
    pub async fn ensure_hook(&self, token: &str, owner: &str, name: &str) -> Result<(i64, bool), GhError> {
        let url = self.hook_url();
        let base = format!("/repos/{}/{}/hooks", enc(owner), enc(name));
        let config = json!({
            "url": url,
            "content_type": "json",
            "secret": self.config.webhook_secret,
            "insecure_ssl": "0",
        });
        let (existing, _): (Vec<GhHook>, _) = self
            .request::<_, ()>(token, Method::GET, &format!("{base}?per_page=100"), None)
            .await?;
        if let Some(hook) = existing
            .into_iter()
            .find(|h| h.config.as_ref().and_then(|c| c.url.as_deref()) == Some(url.as_str()))
        {
            let body = json!({ "active": true, "events": EVENTS, "config": config });
            self.request::<GhHook, _>(token, Method::PATCH, &format!("{base}/{}", hook.id), Some(&body))
                .await?;
            return Ok((hook.id, true));
        }
        let body = json!({ "name": "web", "active": true, "events": EVENTS, "config": config });
        let (hook, _): (GhHook, _) = self.request(token, Method::POST, &base, Some(&body)).await?;
        Ok((hook.id, false))
    }

    /// Asks GitHub to send the hook a `ping` (which starts a first build).
    pub async fn ping_hook(&self, token: &str, owner: &str, name: &str, hook_id: i64) -> Result<(), GhError> {
        let path = format!("/repos/{}/{}/hooks/{hook_id}/pings", enc(owner), enc(name));
        self.request::<serde_json::Value, _>(token, Method::POST, &path, Some(&json!({})))
            .await?;
        Ok(())
    }

    /// Removes the hook; one that is already gone counts as removed.
    pub async fn delete_hook(&self, token: &str, owner: &str, name: &str, hook_id: i64) -> Result<(), GhError> {
        let path = format!("/repos/{}/{}/hooks/{hook_id}", enc(owner), enc(name));
        match self
            .request::<serde_json::Value, ()>(token, Method::DELETE, &path, None)
            .await
        {
            Ok(_) | Err(GhError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
