-- The status outbox is written in the transaction of the build's change (db::builds), which
-- knows the build's new status but not how GitHub words it: the poster words the status from
-- `build_status` when it posts. A row queued before this migration is worded from its build's
-- status now.
ALTER TABLE status_outbox ADD COLUMN build_status TEXT;
UPDATE status_outbox SET build_status = (SELECT status FROM builds WHERE builds.id = status_outbox.build_id);
