-- When a job last mounted each dependency cache, so the retention pass removes the least
-- recently used caches first when their total outgrows SICURO_CACHE_LIMIT (the executor knows
-- their sizes, not their use). migrations/postgres has the same.
CREATE TABLE cache_uses (
    repo_id      BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, name)
);
