-- The sidecar files of the media items: subtitles, posters, art and .nfo
-- files found next to an item's file (the RefreshLocalMedia task). A row
-- per file of an item; a file shared by the items of a folder (poster.jpg)
-- has a row for each. Flags are a subtitle's, comma-separated and sorted.
-- Paths are COLLATE "C", as the items' are.
CREATE TABLE butler_media_sidecar (
    item_id  BIGINT NOT NULL REFERENCES butler_media_item (id) ON DELETE CASCADE,
    path     TEXT   NOT NULL COLLATE "C",
    kind     TEXT   NOT NULL CHECK (kind IN ('subtitle', 'poster', 'art', 'nfo')),
    language TEXT   NOT NULL DEFAULT '',
    flags    TEXT   NOT NULL DEFAULT '',
    size     BIGINT NOT NULL,
    mtime    BIGINT NOT NULL,
    PRIMARY KEY (item_id, path)
);
