-- The outputs of the media items: what each media task made for an item
-- (preview images, chapter thumbnails, loudness, BlurHashes), for which
-- version of its file (size, mtime), and how the attempts went. A row per
-- item and kind. files is a JSON array of the files written in the item's
-- bundle, data the output's values (JSON), '' when none.
CREATE TABLE butler_media_output (
    item_id  INTEGER NOT NULL REFERENCES butler_media_item (id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL,
    version  INTEGER NOT NULL DEFAULT 0,
    made_at  INTEGER NOT NULL DEFAULT 0,
    size     INTEGER NOT NULL,
    mtime    INTEGER NOT NULL,
    files    TEXT    NOT NULL DEFAULT '[]',
    data     TEXT    NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    error    TEXT    NOT NULL DEFAULT '',
    retry_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (item_id, kind)
);

-- The present, analysed items in id order: what the output tasks read.
CREATE INDEX butler_media_item_analysed ON butler_media_item (id) WHERE state = 'present' AND analysis_version > 0;
