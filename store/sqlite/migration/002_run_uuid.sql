-- Every run has a UUID: its activity's id (DELETE /activities/{uuid}).
ALTER TABLE butler_run ADD COLUMN uuid TEXT NOT NULL DEFAULT '';
UPDATE butler_run SET uuid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
    substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));
CREATE UNIQUE INDEX butler_run_uuid ON butler_run (uuid);
