//! Retention: once an hour (and at start-up) Sicuro forgets what it no longer needs, so that a
//! server left alone for years stays within bounds — webhook deliveries past GitHub's
//! redelivery window, expired sessions, finished builds and their logs beyond each
//! repository's count or age (never an active build, never a branch's newest), and the fork
//! refs of its mirrors, the least recently used dependency caches beyond their total size, and
//! job images of older recipe versions. The settings are `config::RetentionConfig`; README § Running it for real
//! lists them.

use std::time::Duration;

use crate::db::{self, Db};
use crate::engine::Engine;
use crate::engine::retention::Pruned;

/// How often the pass runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub deliveries: u64,
    pub sessions: u64,
    pub engine: Pruned,
}

/// One retention pass.
pub async fn pass(db: &Db, engine: &Engine) -> Result<Report, sqlx::Error> {
    let keep = engine.config().retention.keep_deliveries_for;
    Ok(Report {
        deliveries: db::deliveries::prune(db, keep.as_millis() as i64).await?,
        sessions: db::sessions::delete_expired(db).await?,
        engine: engine.prune().await?,
    })
}

/// A pass now and then every [`EVERY`], for as long as the server runs.
pub async fn run(db: Db, engine: Engine) {
    loop {
        match pass(&db, &engine).await {
            Ok(r) if r == Report::default() => {}
            Ok(r) => tracing::info!(
                deliveries = r.deliveries,
                sessions = r.sessions,
                builds = r.engine.builds,
                fork_refs = r.engine.fork_refs,
                caches = r.engine.caches,
                cache_bytes = r.engine.cache_bytes,
                images = r.engine.images,
                "retention pass"
            ),
            Err(e) => tracing::warn!("retention pass: the database could not be read: {e}"),
        }
        tokio::time::sleep(EVERY).await;
    }
}
