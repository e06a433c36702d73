-- A run that was asked to stop is "stopping" until its work has stopped, and
-- a run that started a process group records it (so that a server that died
-- can kill what it left behind at its next start). SQLite cannot change a
-- CHECK constraint in place: the table is rebuilt.
CREATE TABLE butler_run_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task         TEXT    NOT NULL,
    trigger      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('scheduled', 'queued', 'running', 'stopping', 'finished')),
    outcome      TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    summary      TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    window_day   TEXT    NOT NULL DEFAULT '',
    day          TEXT    NOT NULL DEFAULT '',
    queue        TEXT    NOT NULL DEFAULT '',
    node         TEXT    NOT NULL DEFAULT '',
    job_id       INTEGER NOT NULL DEFAULT 0,
    progress     INTEGER NOT NULL DEFAULT -1,
    step         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL,
    started_at   INTEGER NOT NULL DEFAULT 0,
    ended_at     INTEGER NOT NULL DEFAULT 0,
    uuid         TEXT    NOT NULL DEFAULT '',
    log          TEXT    NOT NULL DEFAULT '',
    proc_group   INTEGER NOT NULL DEFAULT 0,
    proc_start   INTEGER NOT NULL DEFAULT 0,
    proc_boot    TEXT    NOT NULL DEFAULT ''
);
INSERT INTO butler_run_new (id, task, trigger, state, outcome, reason, summary, error, window_day, day, queue, node, job_id,
    progress, step, created_at, scheduled_at, started_at, ended_at, uuid, log)
SELECT id, task, trigger, state, outcome, reason, summary, error, window_day, day, queue, node, job_id,
    progress, step, created_at, scheduled_at, started_at, ended_at, uuid, log FROM butler_run;
DROP TABLE butler_run;
ALTER TABLE butler_run_new RENAME TO butler_run;

-- At most one scheduled, queued, running or stopping run per task.
CREATE UNIQUE INDEX butler_run_active ON butler_run (task) WHERE state <> 'finished';
CREATE UNIQUE INDEX butler_run_uuid ON butler_run (uuid);
CREATE INDEX butler_run_task ON butler_run (task, id);
CREATE INDEX butler_run_created ON butler_run (created_at);
CREATE INDEX butler_run_ended ON butler_run (ended_at) WHERE state = 'finished';

-- One row, written now and then to learn whether the database can write
-- (the server's health).
CREATE TABLE butler_health (
    id         INTEGER PRIMARY KEY,
    checked_at INTEGER NOT NULL
);
