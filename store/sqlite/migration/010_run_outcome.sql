-- The history filtered by outcome, and by task and outcome (GET
-- /butler/runs?outcome=, the dashboard's Outcome filter), newest first:
-- each index gives the matching runs in id order, so a page reads its
-- limit's worth of rows. Without them SQLite reads the whole of butler_run
-- for a rare outcome (interrupted, timed_out), or the task's whole history.
-- Runs names them (INDEXED BY).
CREATE INDEX butler_run_outcome ON butler_run (outcome, id);
CREATE INDEX butler_run_task_outcome ON butler_run (task, outcome, id);
