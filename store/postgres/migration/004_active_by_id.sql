-- The active runs in id order (ActiveRuns: the planner, every start and
-- stop, the status and the plan), read from an index of the active runs
-- only, as on SQLite.
CREATE INDEX butler_run_active_id ON butler_run (id) WHERE state <> 'finished';
