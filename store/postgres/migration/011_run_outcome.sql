-- The history filtered by outcome, and by task and outcome (GET
-- /butler/runs?outcome=, the dashboard's Outcome filter), newest first, as
-- on SQLite: each index gives the matching runs in id order, so a page
-- reads its limit's worth of rows instead of the whole of butler_run (a
-- rare outcome) or the task's whole history.
CREATE INDEX butler_run_outcome ON butler_run (outcome, id);
CREATE INDEX butler_run_task_outcome ON butler_run (task, outcome, id);
