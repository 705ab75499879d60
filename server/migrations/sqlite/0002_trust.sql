-- Safe to open to the internet: who may sign in, fork approval, webhook replays.

-- The organisations a user belonged to when access was last checked (comma-separated, lower
-- case), and when: access is re-checked at least hourly.
ALTER TABLE users ADD COLUMN orgs TEXT;
ALTER TABLE users ADD COLUMN access_checked_at BIGINT;

-- Pull requests from forks: `approve` (wait for someone with push access), `run`, `never`.
ALTER TABLE repos ADD COLUMN fork_policy TEXT NOT NULL DEFAULT 'approve';

-- A build waiting for approval is active too: one per repository, commit and event.
DROP INDEX builds_active_signature;
CREATE UNIQUE INDEX builds_active_signature ON builds (repo_id, commit_sha, event)
    WHERE status IN ('waiting', 'queued', 'running');
-- Who let a fork's build run.
ALTER TABLE builds ADD COLUMN approved_by TEXT;

-- A signed body seen before is a replay, whatever its delivery id.
ALTER TABLE webhook_deliveries ADD COLUMN body_digest TEXT;
CREATE UNIQUE INDEX webhook_deliveries_digest ON webhook_deliveries (body_digest);
