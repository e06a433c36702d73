-- The media library's index: one row per media file of a library. Times are
-- Unix nanoseconds, as in the other tables. Paths are COLLATE "C": they
-- compare byte by byte, the order in which the scanner walks (and the order
-- of the SQLite store).
CREATE TABLE butler_media_item (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    library           TEXT   NOT NULL COLLATE "C",
    path              TEXT   NOT NULL COLLATE "C",
    kind              TEXT   NOT NULL,
    size              BIGINT NOT NULL,
    mtime             BIGINT NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('present', 'gone')),
    added_at          BIGINT NOT NULL,
    changed_at        BIGINT NOT NULL,
    gone_at           BIGINT NOT NULL DEFAULT 0,
    analysis_version  INT    NOT NULL DEFAULT 0,
    analysed_at       BIGINT NOT NULL DEFAULT 0,
    analysis_failures INT    NOT NULL DEFAULT 0,
    analysis_error    TEXT   NOT NULL DEFAULT '',
    analysis_retry_at BIGINT NOT NULL DEFAULT 0
);

-- A library's items in path order, with what the scanner compares, so
-- that a rescan reads the index alone (an index-only scan): the scanner's
-- merge, the API's pages.
CREATE UNIQUE INDEX butler_media_item_path ON butler_media_item (library, path) INCLUDE (size, mtime, kind, state);
-- A library's items in one state, in path order.
CREATE INDEX butler_media_item_state ON butler_media_item (library, state, path);
-- The present items never analysed, in id order: what is left to analyse.
-- Small once the library is analysed, so that both planners choose it.
CREATE INDEX butler_media_item_unanalysed ON butler_media_item (id) WHERE state = 'present' AND analysis_version = 0;
-- The present items by analysis version, in id order: what is left to
-- upgrade.
CREATE INDEX butler_media_item_analysis ON butler_media_item (analysis_version, id) WHERE state = 'present';
-- The gone items by when they went: the garbage collection's batches.
CREATE INDEX butler_media_item_gone ON butler_media_item (gone_at, id) WHERE state = 'gone';

-- The analysis of an item (JSON), apart from the item so that the scans
-- read narrow rows.
CREATE TABLE butler_media_analysis (
    item_id BIGINT PRIMARY KEY REFERENCES butler_media_item (id) ON DELETE CASCADE,
    body    TEXT   NOT NULL
);
