-- The pace of each item task's newest run that worked items: how many it
-- worked (done or failed) and in how long (nanoseconds of wall time, from
-- its first item queued to its last worked item's end). The plan
-- estimates the items left from it, without reading River's jobs.
ALTER TABLE butler_task ADD COLUMN item_pace_items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE butler_task ADD COLUMN item_pace_wall BIGINT NOT NULL DEFAULT 0;
