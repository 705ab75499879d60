//! What Sicuro keeps, and for how long: the retention pass (`crate::retention`) runs hourly and
//! prunes what these settings leave out. Deliveries and expired sessions go always.

use std::time::Duration;

use super::problems::{Env, Problems, parse_duration, parse_size};

#[derive(Clone, Debug, PartialEq)]
pub struct RetentionConfig {
    /// The newest builds kept per repository (`SICURO_KEEP_BUILDS`).
    pub keep_builds: u64,
    /// Builds older than this go (`SICURO_KEEP_BUILDS_FOR`).
    pub keep_builds_for: Duration,
    /// The job caches' total size; the least recently used go first (`SICURO_CACHE_LIMIT`).
    pub cache_limit_bytes: u64,
    /// How long a webhook delivery's id is remembered to refuse its replay: GitHub lets a
    /// delivery be redelivered for 3 days.
    pub keep_deliveries_for: Duration,
    /// Job images of older recipe versions that nothing uses go once they are this old (a day:
    /// another server of another version on the same Docker engine may still use them).
    pub keep_old_images_for: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            keep_builds: 1000,
            keep_builds_for: Duration::from_secs(180 * 86_400),
            cache_limit_bytes: 20 * 1024 * 1024 * 1024,
            keep_deliveries_for: Duration::from_secs(7 * 86_400),
            keep_old_images_for: Duration::from_secs(86_400),
        }
    }
}

pub(super) fn from_env(env: &Env, p: &mut Problems) -> RetentionConfig {
    let d = RetentionConfig::default();
    RetentionConfig {
        keep_builds: p.parse_or(
            env,
            "SICURO_KEEP_BUILDS",
            d.keep_builds,
            "a whole number ≥ 1 of builds per repository, e.g. 1000",
            |s| s.parse::<u64>().ok().filter(|n| *n >= 1),
        ),
        keep_builds_for: p.parse_or(
            env,
            "SICURO_KEEP_BUILDS_FOR",
            d.keep_builds_for,
            "a duration such as 180days or 26weeks",
            parse_duration,
        ),
        cache_limit_bytes: p.parse_or(
            env,
            "SICURO_CACHE_LIMIT",
            d.cache_limit_bytes,
            "a size such as 20GiB",
            parse_size,
        ),
        keep_deliveries_for: d.keep_deliveries_for,
        keep_old_images_for: d.keep_old_images_for,
    }
}
