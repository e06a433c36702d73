-- The version of each item's sidecar set: ReplaceMediaSidecars counts one
-- more each time it replaces the set. GenerateBlurHashes reads it with the
-- set, and its output is recorded only while the set is still that one: a
-- set replaced while its images were being hashed has them hashed again.
ALTER TABLE butler_media_item ADD COLUMN sidecars_version INTEGER NOT NULL DEFAULT 0;
