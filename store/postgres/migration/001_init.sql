-- Butler's own tables. River keeps its tables (river_*) in the same database.

CREATE TABLE butler_setting (
    id         TEXT PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Times are Unix nanoseconds, as in the SQLite store.
CREATE TABLE butler_run (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         TEXT   NOT NULL,
    task         TEXT   NOT NULL,
    trigger      TEXT   NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('scheduled', 'queued', 'running', 'finished')),
    outcome      TEXT   NOT NULL DEFAULT '',
    reason       TEXT   NOT NULL DEFAULT '',
    summary      TEXT   NOT NULL DEFAULT '',
    error        TEXT   NOT NULL DEFAULT '',
    window_day   TEXT   NOT NULL DEFAULT '',
    day          TEXT   NOT NULL DEFAULT '',
    queue        TEXT   NOT NULL DEFAULT '',
    node         TEXT   NOT NULL DEFAULT '',
    job_id       BIGINT NOT NULL DEFAULT 0,
    progress     INT    NOT NULL DEFAULT -1,
    step         TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    started_at   BIGINT NOT NULL DEFAULT 0,
    ended_at     BIGINT NOT NULL DEFAULT 0
);

-- At most one scheduled, queued or running run per task, cluster-wide.
CREATE UNIQUE INDEX butler_run_active ON butler_run (task) WHERE state <> 'finished';
CREATE UNIQUE INDEX butler_run_uuid ON butler_run (uuid);
CREATE INDEX butler_run_task ON butler_run (task, id);
CREATE INDEX butler_run_created ON butler_run (created_at);
CREATE INDEX butler_run_ended ON butler_run (ended_at) WHERE state = 'finished';
CREATE INDEX butler_run_node ON butler_run (node) WHERE state = 'running';

CREATE TABLE butler_task (
    task             TEXT PRIMARY KEY,
    last_success_day TEXT   NOT NULL DEFAULT '',
    last_success_at  BIGINT NOT NULL DEFAULT 0,
    suppressed_day   TEXT   NOT NULL DEFAULT ''
);

-- Every server of the cluster writes a heartbeat here every few seconds.
CREATE TABLE butler_node (
    name         TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- The planner's lease: one row, held by the server that plans the windows.
CREATE TABLE butler_leader (
    id         INT PRIMARY KEY CHECK (id = 1),
    node       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
