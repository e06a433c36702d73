package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

var (
	_ butler.MediaIndex         = (*Store)(nil)
	_ butler.MediaChangeCounter = (*Store)(nil)
)

// MediaChangeCount counts the calls of ApplyMediaChanges and
// DeleteGoneMediaItems that have returned, whatever they wrote.
func (d *Store) MediaChangeCount() uint64 { return d.mediaChanges.Load() }

// defaultMediaPage is a page's size when the caller sets none.
const defaultMediaPage = 1000

// The index's statements. Each reads or writes through the primary key or
// one of the indexes of migration 006 (SQLite) / 005 (PostgreSQL), a page
// at a time; MediaQueries lists them for the stores' tests, which EXPLAIN
// them on a large index. LibraryCounts alone reads the whole table.
const (
	sqlMediaItems = `SELECT ` + mediaItemColumns + ` FROM butler_media_item
		WHERE library = ? AND path > ? ORDER BY path LIMIT ?`
	sqlMediaItemsByState = `SELECT ` + mediaItemColumns + ` FROM butler_media_item
		WHERE library = ? AND state = ? AND path > ? ORDER BY path LIMIT ?`
	// The scanner's pages: on SQLite from butler_media_item_scan, which
	// covers them; on PostgreSQL from butler_media_item_path, which
	// includes the columns.
	sqlMediaEntries = `SELECT id, path, kind, size, mtime, state FROM butler_media_item%s
		WHERE library = ? AND path > ? ORDER BY path LIMIT ?`
	sqlMediaItem = `SELECT ` + mediaItemColumns + ` FROM butler_media_item WHERE id = ?`
	// The items to analyse, in id order. Those never analysed are read
	// from the partial index butler_media_item_unanalysed, which holds
	// them alone: the version is written in the statement, as the index's
	// condition, so that PostgreSQL's generic plans can use it too. The
	// items of an older version are read from butler_media_item_analysis
	// (analysis_version, id). SQLite, with statistics, would read the
	// table in id order instead, from the first id, and filter, which
	// costs the whole table once every item is analysed: on SQLite the
	// index is named (toAnalyseSQL).
	sqlToAnalyseNew = `SELECT ` + mediaItemColumns + ` FROM butler_media_item%s
		WHERE state = 'present' AND analysis_version = 0 AND id > ? AND analysis_retry_at <= ?%s
		ORDER BY id LIMIT ?`
	sqlToAnalyseOld = `SELECT ` + mediaItemColumns + ` FROM butler_media_item%s
		WHERE state = 'present' AND analysis_version = ? AND id > ? AND analysis_retry_at <= ?%s
		ORDER BY id LIMIT ?`
	// Their count, from the same indexes: its cost is the number of items
	// without an analysis (or of that older version), not the library's.
	// It counts after id 0, as sqlCountForOutput does: the same rows, but
	// SQLite then plans a search of the index rather than a scan of it,
	// which the stores' plan tests take for a full scan.
	sqlCountToAnalyseNew = `SELECT COUNT(*) FROM butler_media_item%s
		WHERE state = 'present' AND analysis_version = 0 AND id > ? AND analysis_retry_at <= ?%s`
	sqlCountToAnalyseOld = `SELECT COUNT(*) FROM butler_media_item%s
		WHERE state = 'present' AND analysis_version = ? AND id > ? AND analysis_retry_at <= ?%s`
	// The insert of new items, mediaPerInsert to a statement at most
	// (addMediaSQL): a row's statement costs more than its row's writes.
	sqlAddMediaHead = `INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at) VALUES `
	sqlAddMediaRow  = `(?, ?, ?, ?, ?, 'present', ?, ?)`
	sqlAddMediaTail = `
		ON CONFLICT (library, path) DO UPDATE SET kind = excluded.kind, size = excluded.size,
			mtime = excluded.mtime, state = 'present', changed_at = excluded.changed_at, gone_at = 0,
			analysis_version = 0, analysed_at = 0, analysis_failures = 0, analysis_error = '', analysis_retry_at = 0`
	sqlAddMedia    = sqlAddMediaHead + sqlAddMediaRow + sqlAddMediaTail
	sqlChangeMedia = `UPDATE butler_media_item SET kind = ?, size = ?, mtime = ?, state = 'present', changed_at = ?, gone_at = 0,
			analysis_version = 0, analysed_at = 0, analysis_failures = 0, analysis_error = '', analysis_retry_at = 0
		WHERE id = ? AND library = ?`
	sqlDropAnalysis     = `DELETE FROM butler_media_analysis WHERE item_id = ?`
	sqlReviveMedia      = `UPDATE butler_media_item SET state = 'present', gone_at = 0 WHERE id = ? AND library = ? AND state = 'gone'`
	sqlGoneMedia        = `UPDATE butler_media_item SET state = 'gone', gone_at = ? WHERE id = ? AND library = ? AND state = 'present'`
	sqlSaveAnalysisItem = `UPDATE butler_media_item SET analysis_version = ?, analysed_at = ?,
			analysis_failures = 0, analysis_error = '', analysis_retry_at = 0
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ?`
	sqlSaveAnalysisBody = `INSERT INTO butler_media_analysis (item_id, body) VALUES (?, ?)
		ON CONFLICT (item_id) DO UPDATE SET body = excluded.body`
	sqlAnalysisFailure = `UPDATE butler_media_item SET analysis_failures = analysis_failures + 1,
			analysis_error = ?, analysis_retry_at = ?
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ?`
	sqlMediaAnalysis = `SELECT a.body, i.analysis_version FROM butler_media_item i
		JOIN butler_media_analysis a ON a.item_id = i.id WHERE i.id = ? AND i.analysis_version > 0`
	sqlLibraryCounts = `SELECT library,
		CAST(COALESCE(SUM(CASE WHEN state = 'present' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'gone' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' THEN size ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' AND analysis_version > 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' AND analysis_version = 0 AND analysis_failures > 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM butler_media_item GROUP BY library`
	// The garbage collection's batch: the ids from butler_media_item_gone,
	// then a delete by primary key (PostgreSQL plans "id IN (SELECT ...)"
	// as a hash join over the whole table).
	sqlGoneBefore = `SELECT id FROM butler_media_item WHERE state = 'gone' AND gone_at < ? ORDER BY gone_at, id LIMIT ?`
	// The item is deleted only if it is still gone since before the
	// limit: a scan may have found its file again since it was listed.
	sqlDeleteItem = `DELETE FROM butler_media_item WHERE id = ? AND state = 'gone' AND gone_at < ?`
)

const mediaItemColumns = `id, library, path, kind, size, mtime, state, added_at, changed_at, gone_at,
	analysis_version, analysed_at, analysis_failures, analysis_error, analysis_retry_at`

func scanMediaItem(s scanner) (butler.MediaItem, error) {
	var it butler.MediaItem
	var kind, state string
	var mtime, added, changed, gone, analysed, retry int64
	err := s.Scan(&it.ID, &it.Library, &it.Path, &kind, &it.Size, &mtime, &state, &added, &changed, &gone,
		&it.AnalysisVersion, &analysed, &it.AnalysisFailures, &it.AnalysisError, &retry)
	if err != nil {
		return it, err
	}
	it.Kind, it.State = butler.MediaKind(kind), butler.ItemState(state)
	// A modification time is kept exactly, the epoch included.
	it.ModTime = time.Unix(0, mtime)
	it.AddedAt, it.ChangedAt, it.GoneAt = fromNanos(added), fromNanos(changed), fromNanos(gone)
	it.AnalysedAt, it.AnalysisRetryAt = fromNanos(analysed), fromNanos(retry)
	return it, nil
}

func (d *Store) mediaItems(ctx context.Context, q string, args ...any) ([]butler.MediaItem, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []butler.MediaItem
	for rows.Next() {
		it, err := scanMediaItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, d.wrap(rows.Err())
}

func pageSize(n int) int {
	if n <= 0 {
		return defaultMediaPage
	}
	return n
}

// MediaItems returns a page of a library's items in path order, read from
// butler_media_item_path (or _state with a state).
func (d *Store) MediaItems(ctx context.Context, f butler.MediaItemFilter) ([]butler.MediaItem, error) {
	if f.Library == "" {
		return nil, butler.Errorf(butler.EINVALID, "media items: name the library")
	}
	if f.State != "" && f.State != butler.ItemPresent && f.State != butler.ItemGone {
		return nil, butler.Errorf(butler.EINVALID, "media items: state %q is neither %q nor %q", f.State, butler.ItemPresent, butler.ItemGone)
	}
	if f.State != "" {
		return d.mediaItems(ctx, sqlMediaItemsByState,
			f.Library, string(f.State), f.AfterPath, pageSize(f.Limit))
	}
	return d.mediaItems(ctx, sqlMediaItems,
		f.Library, f.AfterPath, pageSize(f.Limit))
}

// MediaEntries returns a page of a library's items as the scanner
// compares them, from an index that covers them.
func (d *Store) MediaEntries(ctx context.Context, library, afterPath string, limit int) ([]butler.MediaEntry, error) {
	if library == "" {
		return nil, butler.Errorf(butler.EINVALID, "media entries: name the library")
	}
	rows, err := d.query(ctx, d.mediaEntriesSQL(), library, afterPath, pageSize(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []butler.MediaEntry
	for rows.Next() {
		var e butler.MediaEntry
		var kind, state string
		var mtime int64
		if err := rows.Scan(&e.ID, &e.Path, &kind, &e.Size, &mtime, &state); err != nil {
			return nil, err
		}
		e.Kind, e.State, e.ModTime = butler.MediaKind(kind), butler.ItemState(state), time.Unix(0, mtime)
		out = append(out, e)
	}
	return out, d.wrap(rows.Err())
}

// mediaEntriesSQL is MediaEntries' statement; on SQLite (the dialect
// without $n placeholders) it names the covering index, which SQLite
// would otherwise pass over for the unique one.
func (d *Store) mediaEntriesSQL() string {
	if d.Dialect.Dollar {
		return fmt.Sprintf(sqlMediaEntries, "")
	}
	return fmt.Sprintf(sqlMediaEntries, " INDEXED BY butler_media_item_scan")
}

// MediaItem returns one item by id.
func (d *Store) MediaItem(ctx context.Context, id int64) (butler.MediaItem, error) {
	it, err := scanMediaItem(d.queryRow(ctx, sqlMediaItem, id))
	if errors.Is(err, sql.ErrNoRows) {
		return it, butler.Errorf(butler.ENOTFOUND, "no media item %d", id)
	}
	return it, d.wrap(err)
}

// ApplyMediaChanges applies a scan's batch in one transaction, with one
// prepared statement per kind of change.
func (d *Store) ApplyMediaChanges(ctx context.Context, library string, c butler.MediaChanges) error {
	defer d.mediaChanges.Add(1) // once committed, or not
	if library == "" {
		return butler.Errorf(butler.EINVALID, "media changes: name the library")
	}
	if c.Len() == 0 {
		return nil
	}
	at := nanos(c.At)
	if at == 0 {
		at = time.Now().UnixNano()
	}
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	run := func(q string, n int, each func(st *sql.Stmt, i int) error) error {
		if n == 0 {
			return nil
		}
		st, err := tx.PrepareContext(ctx, d.bind(q))
		if err != nil {
			return d.wrap(err)
		}
		defer st.Close()
		for i := range n {
			if err := each(st, i); err != nil {
				return d.wrap(err)
			}
		}
		return nil
	}
	// Up to mediaPerInsert items to a statement; a path given twice is
	// added once, as the later (PostgreSQL refuses a statement that would
	// update a row twice, and one upsert after the other would leave the
	// later's values).
	add := lastOfEachPath(c.Add)
	for len(add) > 0 {
		chunk := add[:min(len(add), mediaPerInsert)]
		add = add[len(chunk):]
		args := make([]any, 0, 7*len(chunk))
		for _, f := range chunk {
			args = append(args, library, f.Path, string(f.Kind), f.Size, f.ModTime.UnixNano(), at, at)
		}
		if _, err := tx.ExecContext(ctx, d.bind(addMediaSQL(len(chunk))), args...); err != nil {
			return fmt.Errorf("add media items: %w", d.wrap(err))
		}
	}
	changed := slices.Sorted(maps.Keys(c.Change))
	if err := d.lockMediaItems(ctx, tx.Tx, changed, c.Revive, c.Gone); err != nil {
		return fmt.Errorf("lock the changed media items: %w", err)
	}
	err = run(sqlChangeMedia,
		len(changed), func(st *sql.Stmt, i int) error {
			f := c.Change[changed[i]]
			_, err := st.ExecContext(ctx, string(f.Kind), f.Size, f.ModTime.UnixNano(), at, changed[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("update changed media items: %w", err)
	}
	err = run(sqlDropAnalysis, len(changed), func(st *sql.Stmt, i int) error {
		_, err := st.ExecContext(ctx, changed[i])
		return err
	})
	if err != nil {
		return fmt.Errorf("drop the analyses of changed media items: %w", err)
	}
	err = run(sqlReviveMedia,
		len(c.Revive), func(st *sql.Stmt, i int) error {
			_, err := st.ExecContext(ctx, c.Revive[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark media items present again: %w", err)
	}
	err = run(sqlGoneMedia,
		len(c.Gone), func(st *sql.Stmt, i int) error {
			_, err := st.ExecContext(ctx, at, c.Gone[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark media items gone: %w", err)
	}
	return d.wrap(tx.Commit())
}

// lockMediaItems takes the rows of the items of ids on PostgreSQL, in id
// order, before ApplyMediaChanges writes them kind by kind: the other
// transactions that write several items (ReplaceMediaSidecars) take them in
// id order too, and two that took the same rows in opposite orders would
// deadlock (PostgreSQL aborting one). SQLite has one writer at a time.
func (d *Store) lockMediaItems(ctx context.Context, tx *sql.Tx, ids ...[]int64) error {
	if !d.Dialect.Dollar {
		return nil
	}
	var all []int64
	for _, l := range ids {
		all = append(all, l...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for len(all) > 0 {
		chunk := all[:min(len(all), mediaPerLock)]
		all = all[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := d.txExec(ctx, tx, fmt.Sprintf(sqlLockMediaItems, marks(len(chunk))), args...); err != nil {
			return d.wrap(err)
		}
	}
	return nil
}

// mediaPerLock is how many items lockMediaItems locks by one statement.
const mediaPerLock = 1000

// sqlLockMediaItems takes item rows in id order (PostgreSQL locks the rows
// as the sort gives them).
const sqlLockMediaItems = `SELECT id FROM butler_media_item WHERE id IN (%s) ORDER BY id FOR UPDATE`

// MediaItemsToAnalyse returns a page of present items with analysis
// version f.Version, in id order, read from butler_media_item_analysis.
func (d *Store) MediaItemsToAnalyse(ctx context.Context, f butler.AnalysisFilter) ([]butler.MediaItem, error) {
	return d.mediaItems(ctx, d.toAnalyseSQL(f.Version, f.Library), append(toAnalyseArgs(f), pageSize(f.Limit))...)
}

// CountMediaItemsToAnalyse counts the items MediaItemsToAnalyse would
// return for f, over all its pages.
func (d *Store) CountMediaItemsToAnalyse(ctx context.Context, f butler.AnalysisFilter) (int, error) {
	f.AfterID = 0
	var n int
	err := d.queryRow(ctx, d.countToAnalyseSQL(f.Version, f.Library), toAnalyseArgs(f)...).Scan(&n)
	return n, d.wrap(err)
}

// toAnalyseArgs are the arguments of toAnalyseSQL's and
// countToAnalyseSQL's statements for f, up to the limit.
func toAnalyseArgs(f butler.AnalysisFilter) []any {
	now := nanos(f.Now)
	if now == 0 {
		now = time.Now().UnixNano()
	}
	var args []any
	if f.Version != 0 {
		args = append(args, f.Version)
	}
	args = append(args, f.AfterID, now)
	if f.Library != "" {
		args = append(args, f.Library)
	}
	return args
}

// toAnalyseSQL returns MediaItemsToAnalyse's statement for version and
// library (with or without a library). On SQLite (the dialect without $n
// placeholders) it names the index to read.
func (d *Store) toAnalyseSQL(version int, library string) string {
	return d.analyseSQL(sqlToAnalyseNew, sqlToAnalyseOld, version, library)
}

// countToAnalyseSQL returns CountMediaItemsToAnalyse's statement, as
// toAnalyseSQL does.
func (d *Store) countToAnalyseSQL(version int, library string) string {
	return d.analyseSQL(sqlCountToAnalyseNew, sqlCountToAnalyseOld, version, library)
}

// analyseSQL returns the statement newQ (never analysed) or oldQ (an
// older version) for version and library, the index named on SQLite.
func (d *Store) analyseSQL(newQ, oldQ string, version int, library string) string {
	q, index := oldQ, "butler_media_item_analysis"
	if version == 0 {
		q, index = newQ, "butler_media_item_unanalysed"
	}
	hint, lib := "", ""
	if !d.Dialect.Dollar {
		hint = " INDEXED BY " + index
	}
	if library != "" {
		lib = " AND library = ?"
	}
	return fmt.Sprintf(q, hint, lib)
}

// SaveMediaAnalysis stores an item's analysis if its file is unchanged.
func (d *Store) SaveMediaAnalysis(ctx context.Context, id int64, file butler.MediaFile, version int, at time.Time, a butler.MediaAnalysis) (bool, error) {
	if version <= 0 {
		return false, butler.Errorf(butler.EINVALID, "media analysis of item %d: version %d is not a positive number", id, version)
	}
	body, err := encodeAnalysis(a)
	if err != nil {
		return false, err
	}
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	res, err := d.txExec(ctx, tx.Tx, sqlSaveAnalysisItem,
		version, nanos(at), id, file.Size, file.ModTime.UnixNano())
	if err != nil {
		return false, d.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, d.wrap(err)
	}
	if _, err := d.txExec(ctx, tx.Tx, sqlSaveAnalysisBody, id, body); err != nil {
		return false, d.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return false, d.wrap(err)
	}
	return true, nil
}

// RecordMediaAnalysisFailure counts a failed analysis of an unchanged file.
func (d *Store) RecordMediaAnalysisFailure(ctx context.Context, id int64, file butler.MediaFile, reason string, retryAt time.Time) (bool, error) {
	res, err := d.exec(ctx, sqlAnalysisFailure,
		reason, nanos(retryAt), id, file.Size, file.ModTime.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, d.wrap(err)
}

// MediaAnalysis returns an item's stored analysis and its version.
func (d *Store) MediaAnalysis(ctx context.Context, id int64) (butler.MediaAnalysis, int, error) {
	var body string
	var version int
	err := d.queryRow(ctx, sqlMediaAnalysis, id).Scan(&body, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return butler.MediaAnalysis{}, 0, butler.Errorf(butler.ENOTFOUND, "media item %d has no analysis", id)
	}
	if err != nil {
		return butler.MediaAnalysis{}, 0, d.wrap(err)
	}
	a, err := decodeAnalysis(body)
	if err != nil {
		return a, 0, fmt.Errorf("media item %d: %w", id, err)
	}
	return a, version, nil
}

// LibraryCounts counts every library's items, in one pass over the
// table: it costs what the index holds, and is for the API, not for a
// control path.
func (d *Store) LibraryCounts(ctx context.Context) ([]butler.LibraryCounts, error) {
	rows, err := d.query(ctx, sqlLibraryCounts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []butler.LibraryCounts
	for rows.Next() {
		var c butler.LibraryCounts
		if err := rows.Scan(&c.Library, &c.Present, &c.Gone, &c.Bytes, &c.Analysed, &c.Failing); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// Sorted here, byte by byte, whatever the database's collation.
	slices.SortFunc(out, func(a, b butler.LibraryCounts) int { return cmp.Compare(a.Library, b.Library) })
	return out, d.wrap(rows.Err())
}

// DeleteGoneMediaItems deletes one batch of the items gone before t, in
// one transaction: their ids from butler_media_item_gone, then each by
// primary key; their analyses go with them (ON DELETE CASCADE).
func (d *Store) DeleteGoneMediaItems(ctx context.Context, before time.Time, limit int) (int, error) {
	defer d.mediaChanges.Add(1) // once committed, or not
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer end()
	rows, err := tx.QueryContext(ctx, d.bind(sqlGoneBefore), nanos(before), pageSize(limit))
	if err != nil {
		return 0, d.wrap(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, d.wrap(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, d.wrap(err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	st, err := tx.PrepareContext(ctx, d.bind(sqlDeleteItem))
	if err != nil {
		return 0, d.wrap(err)
	}
	defer st.Close()
	// In id order, as every transaction that writes several items takes
	// them (lockMediaItems).
	slices.Sort(ids)
	deleted := 0
	for _, id := range ids {
		res, err := st.ExecContext(ctx, id, nanos(before))
		if err != nil {
			return 0, d.wrap(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, d.wrap(err)
		}
		deleted += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, d.wrap(err)
	}
	return deleted, nil
}

// MediaQueries returns every statement of the media index but
// LibraryCounts, as this store sends them to its database, with the
// arguments of a typical call made at now on library: item ids 1 and 2, a
// path in the middle of the library. A store's test fills the index with a
// large library and EXPLAINs each one: none may read the whole of
// butler_media_item, nor sort what it reads.
func (d *Store) MediaQueries(now time.Time, library string) []HotQuery {
	n := nanos(now)
	toAnalyse := d.toAnalyseSQL
	qs := []HotQuery{
		{"MediaItems", sqlMediaItems, []any{library, "/media/m/05000/", 1000}},
		{"MediaItems (a state)", sqlMediaItemsByState, []any{library, "gone", "/media/m/05000/", 1000}},
		{"MediaEntries", d.mediaEntriesSQL(), []any{library, "/media/m/05000/", 1000}},
		{"MediaItem", sqlMediaItem, []any{int64(1)}},
		{"MediaItemsToAnalyse", toAnalyse(0, ""), []any{int64(2), n, 1000}},
		{"MediaItemsToAnalyse (an older version)", toAnalyse(1, ""), []any{1, int64(2), n, 1000}},
		{"MediaItemsToAnalyse (a library)", toAnalyse(0, library), []any{int64(2), n, library, 1000}},
		{"MediaItemsToAnalyse (a library, an older version)", toAnalyse(1, library), []any{1, int64(2), n, library, 1000}},
		{"CountMediaItemsToAnalyse", d.countToAnalyseSQL(0, ""), []any{int64(0), n}},
		{"CountMediaItemsToAnalyse (an older version)", d.countToAnalyseSQL(1, ""), []any{1, int64(0), n}},
		{"CountMediaItemsToAnalyse (a library)", d.countToAnalyseSQL(0, library), []any{int64(0), n, library}},
		{"ApplyMediaChanges (add)", sqlAddMedia, []any{library, "/media/new.mkv", "video", int64(1), n, n, n}},
		{"ApplyMediaChanges (add, several)", addMediaSQL(2), []any{library, "/media/new.mkv", "video", int64(1), n, n, n,
			library, "/media/new2.mkv", "video", int64(1), n, n, n}},
		{"ApplyMediaChanges (change)", sqlChangeMedia, []any{"video", int64(2), n, n, int64(1), library}},
		{"ApplyMediaChanges (change: the analysis)", sqlDropAnalysis, []any{int64(1)}},
		{"ApplyMediaChanges (revive)", sqlReviveMedia, []any{int64(1), library}},
		{"ApplyMediaChanges (gone)", sqlGoneMedia, []any{n, int64(1), library}},
		{"SaveMediaAnalysis", sqlSaveAnalysisItem, []any{1, n, int64(1), int64(1), n}},
		{"SaveMediaAnalysis (the analysis)", sqlSaveAnalysisBody, []any{int64(1), "{}"}},
		{"RecordMediaAnalysisFailure", sqlAnalysisFailure, []any{"bad", n, int64(1), int64(1), n}},
		{"MediaAnalysis", sqlMediaAnalysis, []any{int64(1)}},
		{"DeleteGoneMediaItems", sqlGoneBefore, []any{n, 1000}},
		{"DeleteGoneMediaItems (each)", sqlDeleteItem, []any{int64(1), n}},
	}
	for i := range qs {
		qs[i].SQL = d.bind(qs[i].SQL)
	}
	return qs
}

// mediaPerInsert is how many new items ApplyMediaChanges inserts with one
// statement (7 arguments each, far below either database's limit).
const mediaPerInsert = 100

// addMediaSQL is the insert of n new items in one statement.
func addMediaSQL(n int) string {
	return sqlAddMediaHead + strings.Repeat(sqlAddMediaRow+", ", n-1) + sqlAddMediaRow + sqlAddMediaTail
}

// lastOfEachPath returns files without the earlier of any two with the
// same path, in their order; files itself when no path repeats.
func lastOfEachPath(files []butler.MediaFile) []butler.MediaFile {
	last := make(map[string]int, len(files))
	for i, f := range files {
		last[f.Path] = i
	}
	if len(last) == len(files) {
		return files
	}
	out := make([]butler.MediaFile, 0, len(last))
	for i, f := range files {
		if last[f.Path] == i {
			out = append(out, f)
		}
	}
	return out
}
