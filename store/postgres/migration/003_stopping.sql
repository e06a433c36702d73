-- A run that was asked to stop is "stopping" until its work has stopped, and
-- a run that started a process group records it (so that a server that died
-- can kill what it left behind at its next start).
ALTER TABLE butler_run DROP CONSTRAINT butler_run_state_check;
ALTER TABLE butler_run ADD CONSTRAINT butler_run_state_check
    CHECK (state IN ('scheduled', 'queued', 'running', 'stopping', 'finished'));
ALTER TABLE butler_run ADD COLUMN proc_group BIGINT NOT NULL DEFAULT 0;
ALTER TABLE butler_run ADD COLUMN proc_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE butler_run ADD COLUMN proc_boot  TEXT   NOT NULL DEFAULT '';
DROP INDEX butler_run_node;
CREATE INDEX butler_run_node ON butler_run (node) WHERE state IN ('running', 'stopping');

-- One row, written now and then to learn whether the database can write
-- (the server's health).
CREATE TABLE butler_health (
    id         INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
