-- Butler's own tables. River keeps its tables (river_*) in the same database.

CREATE TABLE butler_setting (
    id         TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE butler_run (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task         TEXT    NOT NULL,
    trigger      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('scheduled', 'queued', 'running', 'finished')),
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
    ended_at     INTEGER NOT NULL DEFAULT 0
);

-- At most one scheduled, queued or running run per task.
CREATE UNIQUE INDEX butler_run_active ON butler_run (task) WHERE state <> 'finished';
CREATE INDEX butler_run_task ON butler_run (task, id);
CREATE INDEX butler_run_created ON butler_run (created_at);
CREATE INDEX butler_run_ended ON butler_run (ended_at) WHERE state = 'finished';

CREATE TABLE butler_task (
    task             TEXT PRIMARY KEY,
    last_success_day TEXT    NOT NULL DEFAULT '',
    last_success_at  INTEGER NOT NULL DEFAULT 0,
    suppressed_day   TEXT    NOT NULL DEFAULT ''
);
