-- Repository secrets (write-only values, sealed with the secrets' own key: crypto::SecretBox),
-- their audit trail, and which secrets each build received (names only). All go with their
-- repository (or build).

CREATE TABLE repo_secrets (
    repo_id    BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    forks      BIGINT NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, name)
);

-- action: 'created', 'updated' or 'deleted'; forks as it was set (NULL when deleted).
CREATE TABLE secret_events (
    id      INTEGER PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    action  TEXT NOT NULL,
    forks   BIGINT,
    actor   TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX secret_events_by_repo ON secret_events (repo_id, id);

CREATE TABLE build_secrets (
    build_id BIGINT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    PRIMARY KEY (build_id, name)
);
