-- The sidecar files of the media items: subtitles, posters, art and .nfo
-- files found next to an item's file (the RefreshLocalMedia task). A row
-- per file of an item; a file shared by the items of a folder (poster.jpg)
-- has a row for each. Flags are a subtitle's, comma-separated and sorted.
CREATE TABLE butler_media_sidecar (
    item_id  INTEGER NOT NULL REFERENCES butler_media_item (id) ON DELETE CASCADE,
    path     TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('subtitle', 'poster', 'art', 'nfo')),
    language TEXT    NOT NULL DEFAULT '',
    flags    TEXT    NOT NULL DEFAULT '',
    size     INTEGER NOT NULL,
    mtime    INTEGER NOT NULL,
    PRIMARY KEY (item_id, path)
);
