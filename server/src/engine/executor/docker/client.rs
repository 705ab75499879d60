//! The connection to the Docker engine: negotiated on first use (never pinned to an API
//! version), re-established when the daemon comes back, and labels that mark what Sicuro creates.

use std::collections::HashMap;

use bollard::Docker;
use tokio::sync::RwLock;

/// Labels on every container, network and volume Sicuro creates.
pub const LABEL_INSTANCE: &str = "org.sicuro.instance";
pub const LABEL_BUILD: &str = "org.sicuro.build";
pub const LABEL_ROLE: &str = "org.sicuro.role";
pub const LABEL_REPO: &str = "org.sicuro.repo";
pub const LABEL_CACHE: &str = "org.sicuro.cache";

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the Docker engine cannot be reached ({0}). Check that dockerd is running and that Sicuro may use its socket \
     (DOCKER_HOST, or /var/run/docker.sock)"
)]
pub struct DockerUnavailable(pub String);

/// A shared, lazily negotiated Docker client.
pub struct DockerHandle {
    client: RwLock<Option<Docker>>,
    /// The engine's address (`unix:///…`, `tcp://…`); `None`: `DOCKER_HOST` or the default socket.
    host: Option<String>,
}

impl Default for DockerHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl DockerHandle {
    pub fn new() -> Self {
        Self::with_host(None)
    }

    /// A client of the engine at `host` (`unix:///…`, `tcp://…`), or the default one.
    pub fn with_host(host: Option<String>) -> Self {
        Self {
            client: RwLock::new(None),
            host,
        }
    }

    /// The client, connecting and negotiating the API version first if needed.
    pub async fn get(&self) -> Result<Docker, DockerUnavailable> {
        if let Some(c) = self.client.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.client.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let connected = match &self.host {
            Some(h) => Docker::connect_with_host(h),
            None => Docker::connect_with_defaults(),
        };
        let docker = connected
            .map_err(|e| DockerUnavailable(e.to_string()))?
            .negotiate_version()
            .await
            .map_err(|e| DockerUnavailable(e.to_string()))?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// Forgets the connection after the daemon went away, so the next use negotiates afresh.
    pub async fn reset(&self) {
        *self.client.write().await = None;
    }

    /// The engine's version, for `/healthz` and the page header.
    pub async fn version(&self) -> Result<String, DockerUnavailable> {
        let docker = self.get().await?;
        match docker.version().await {
            Ok(v) => Ok(format!(
                "{} (API {})",
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default()
            )),
            Err(e) => {
                self.reset().await;
                Err(DockerUnavailable(e.to_string()))
            }
        }
    }
}

/// Whether a bollard error means the daemon itself is gone (as opposed to a refused request).
pub fn is_connection_error(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError { .. }
        | E::DockerContainerWaitError { .. }
        | E::JsonDataError { .. }
        | E::JsonSerdeError { .. } => false,
        // A unix socket that is not there (the daemon stopped and removed it) is a lost engine too.
        E::IOError { .. }
        | E::HyperResponseError { .. }
        | E::HyperLegacyError { .. }
        | E::RequestTimeoutError
        | E::SocketNotFoundError(_) => true,
        other => {
            let s = other.to_string();
            s.contains("connect") || s.contains("socket") || s.contains("Connection")
        }
    }
}

/// `label=key=value` filters for list calls.
pub fn label_filter(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

#[cfg(test)]
mod tests {
    use super::is_connection_error;
    use bollard::errors::Error;

    #[test]
    fn a_missing_socket_is_a_lost_engine_and_a_refusal_is_not() {
        assert!(is_connection_error(&Error::SocketNotFoundError(
            "/var/lib/sicuro-swarm/swn1.sock".into()
        )));
        assert!(is_connection_error(&Error::RequestTimeoutError));
        assert!(!is_connection_error(&Error::DockerResponseServerError {
            status_code: 404,
            message: "no such service".into()
        }));
    }
}
