-- Each server says, with every heartbeat, how long it must have been
-- silent before the others may end its runs: its commands may take that
-- long to be gone (its tasks' graces, its group guard's lease). The leader
-- waits for the longer of that and its own limit.
ALTER TABLE butler_node ADD COLUMN dead_after BIGINT NOT NULL DEFAULT 0;
