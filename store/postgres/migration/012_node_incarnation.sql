-- The incarnation of the process that wrote a server's last heartbeat: a
-- server restarted under its name is a new incarnation, and the River jobs
-- its earlier process held (River's attempted_by names the process as
-- <node>#<incarnation>) are released at once. A heartbeat of an earlier
-- incarnation than the row's is refused: another server runs under the
-- same name.
ALTER TABLE butler_node ADD COLUMN incarnation BIGINT NOT NULL DEFAULT 0;
