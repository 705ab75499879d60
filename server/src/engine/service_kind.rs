//! The services a build may ask for, as plain data (no Docker here, so the parsers that name
//! them stay light — the fuzz targets include this file).

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    Postgres,
    Redis,
}

impl ServiceKind {
    pub const NAMES: &[&str] = &["postgres", "redis"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "postgres" => Some(Self::Postgres),
            "redis" => Some(Self::Redis),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        }
    }

    pub fn image(self) -> &'static str {
        match self {
            Self::Postgres => "sicuro/postgres",
            Self::Redis => "sicuro/redis",
        }
    }

    /// The variable the job gets, pointing at the service by its network alias.
    pub fn env(self) -> (&'static str, &'static str) {
        match self {
            Self::Postgres => ("DATABASE_URL", "postgres://postgres@postgres:5432/postgres"),
            Self::Redis => ("REDIS_URL", "redis://redis:6379/0"),
        }
    }

    /// A command, run inside the service container, that succeeds once it accepts connections.
    pub fn ready_check(self) -> Vec<&'static str> {
        match self {
            Self::Postgres => vec!["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"],
            Self::Redis => vec!["redis-cli", "-h", "127.0.0.1", "ping"],
        }
    }
}
