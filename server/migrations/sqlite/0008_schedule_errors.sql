-- Why a repository's last scheduled build could not start (its branch is gone, the repository
-- cannot be reached), shown on its settings page until a scheduled build starts again or the
-- settings are saved. NULL: the last one started.
ALTER TABLE repos ADD COLUMN schedule_error TEXT;
