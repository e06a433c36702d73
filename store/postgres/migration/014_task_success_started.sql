-- When the task's last successful run started (Unix nanoseconds; 0 for a
-- success recorded before this column): the scheduler counts that instant's
-- butler day with the window's hours in force when it decides, so that a
-- change of the hours moves the last success with them.
ALTER TABLE butler_task ADD COLUMN last_success_started BIGINT NOT NULL DEFAULT 0;
