-- The active runs in id order (ActiveRuns: the planner, every start and
-- stop, the status and the plan), read from an index of the active runs
-- only. Without it SQLite reads the whole of butler_run in id order, finished
-- runs and all, rather than sort the few active ones.
CREATE INDEX butler_run_active_id ON butler_run (id) WHERE state <> 'finished';
