-- Scheduled builds (a repository's settings): a cron expression, the branch it builds (NULL:
-- the default branch), and the time the schedule last fired or was set, from which the next
-- occurrence is found (a server that was down fires once for what it missed, not once for each).
ALTER TABLE repos ADD COLUMN schedule TEXT;
ALTER TABLE repos ADD COLUMN schedule_branch TEXT;
ALTER TABLE repos ADD COLUMN scheduled_at BIGINT;
