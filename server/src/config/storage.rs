//! Where Sicuro keeps its state: the data directory, the database, the secret key.

use std::fmt;
use std::path::PathBuf;

use super::problems::{Env, Problems};
use super::redact_url;

/// The key that signs and encrypts cookies and stored tokens.
#[derive(Clone)]
pub enum SecretKeySource {
    /// Given by `SICURO_SECRET_KEY`.
    Given(Vec<u8>),
    /// Not given: generated once and kept in `<data dir>/secret.key`.
    File(PathBuf),
}

impl fmt::Debug for SecretKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

pub(super) struct StorageSettings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub secret_key: SecretKeySource,
}

pub(super) fn from_env(env: &Env, p: &mut Problems) -> StorageSettings {
    let data_dir = PathBuf::from(env.get("SICURO_DATA_DIR").unwrap_or("data"));
    let database_url = match env.get("DATABASE_URL") {
        None => format!("sqlite://{}/sicuro.db", data_dir.display()),
        Some(u) if u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            u.to_string()
        }
        Some(u) => {
            p.add(
                "DATABASE_URL",
                format!("`{}` is neither a SQLite nor a PostgreSQL URL", redact_url(u)),
                "leave it unset for SQLite under SICURO_DATA_DIR, or use postgres://user:password@host/db",
            );
            String::new()
        }
    };
    let secret_key = match env.get("SICURO_SECRET_KEY") {
        None => SecretKeySource::File(data_dir.join("secret.key")),
        Some(k) if k.len() < 32 => {
            p.add(
                "SICURO_SECRET_KEY",
                format!("the key is {} characters long; at least 32 are needed", k.len()),
                "generate one with `openssl rand -hex 32`",
            );
            SecretKeySource::Given(Vec::new())
        }
        Some(k) => SecretKeySource::Given(k.as_bytes().to_vec()),
    };
    StorageSettings {
        data_dir,
        database_url,
        secret_key,
    }
}
