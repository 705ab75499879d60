-- Sicuro's schema for SQLite. migrations/postgres holds the same schema for PostgreSQL;
-- db::tests::schemas_match checks that both define the same tables and columns.
-- Times are milliseconds since the Unix epoch; flags are 0/1 integers.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    github_id        BIGINT NOT NULL UNIQUE,
    login            TEXT NOT NULL,
    name             TEXT,
    avatar_url       TEXT,
    token_ciphertext BLOB,
    token_scopes     TEXT,
    token_revoked_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE repos (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    owner          TEXT NOT NULL,
    name           TEXT NOT NULL,
    clone_url      TEXT NOT NULL,
    html_url       TEXT,
    github_id      BIGINT UNIQUE,
    private        BIGINT NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL,
    language       TEXT,
    watched        BIGINT NOT NULL DEFAULT 0,
    hook_id        BIGINT,
    subscriber_id  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    token_problem  TEXT,
    build_counter  BIGINT NOT NULL DEFAULT 0,
    max_concurrent BIGINT NOT NULL DEFAULT 1,
    supersede      BIGINT NOT NULL DEFAULT 1,
    timeout_secs   BIGINT,
    memory_bytes   BIGINT,
    cpus           DOUBLE PRECISION,
    pids           BIGINT,
    created_at     BIGINT NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE builds (
    id               INTEGER PRIMARY KEY,
    repo_id          BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    number           BIGINT NOT NULL,
    event            TEXT NOT NULL,
    branch           TEXT,
    is_tag           BIGINT NOT NULL DEFAULT 0,
    pr_number        BIGINT,
    commit_sha       TEXT NOT NULL,
    fetch_url        TEXT,
    fetch_ref        TEXT,
    from_fork        BIGINT NOT NULL DEFAULT 0,
    author           TEXT,
    message          TEXT,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    exit_code        BIGINT,
    error            TEXT,
    log_lines        BIGINT NOT NULL DEFAULT 0,
    log_bytes        BIGINT NOT NULL DEFAULT 0,
    rebuild_of       BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repo_id, number)
);

-- Exactly once: one queued or running build per repository, commit and event kind.
CREATE UNIQUE INDEX builds_active_signature ON builds (repo_id, commit_sha, event)
    WHERE status IN ('queued', 'running');
CREATE INDEX builds_by_status ON builds (status, id);
CREATE INDEX builds_by_branch ON builds (repo_id, branch, id);

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Commit statuses waiting to be posted to GitHub; rows go when GitHub has them.
CREATE TABLE status_outbox (
    id              INTEGER PRIMARY KEY,
    build_id        BIGINT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    description     TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX status_outbox_due ON status_outbox (next_attempt_at);

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
