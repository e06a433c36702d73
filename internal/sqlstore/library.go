package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/plexbutler/butler"
)

var _ butler.MediaIndex = (*Store)(nil)

// defaultMediaPage is a page's size when the caller sets none.
const defaultMediaPage = 1000

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
	if f.State != "" {
		return d.mediaItems(ctx, `SELECT `+mediaItemColumns+` FROM butler_media_item
			WHERE library = ? AND state = ? AND path > ? ORDER BY path LIMIT ?`,
			f.Library, string(f.State), f.AfterPath, pageSize(f.Limit))
	}
	return d.mediaItems(ctx, `SELECT `+mediaItemColumns+` FROM butler_media_item
		WHERE library = ? AND path > ? ORDER BY path LIMIT ?`,
		f.Library, f.AfterPath, pageSize(f.Limit))
}

// MediaItem returns one item by id.
func (d *Store) MediaItem(ctx context.Context, id int64) (butler.MediaItem, error) {
	it, err := scanMediaItem(d.queryRow(ctx, `SELECT `+mediaItemColumns+` FROM butler_media_item WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return it, butler.Errorf(butler.ENOTFOUND, "no media item %d", id)
	}
	return it, d.wrap(err)
}

// ApplyMediaChanges applies a scan's batch in one transaction, with one
// prepared statement per kind of change.
func (d *Store) ApplyMediaChanges(ctx context.Context, library string, c butler.MediaChanges) error {
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
	tx, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
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
	err = run(`INSERT INTO butler_media_item (library, path, kind, size, mtime, state, added_at, changed_at)
		VALUES (?, ?, ?, ?, ?, 'present', ?, ?)
		ON CONFLICT (library, path) DO UPDATE SET kind = excluded.kind, size = excluded.size,
			mtime = excluded.mtime, state = 'present', changed_at = excluded.changed_at, gone_at = 0,
			analysis_version = 0, analysed_at = 0, analysis_failures = 0, analysis_error = '', analysis_retry_at = 0`,
		len(c.Add), func(st *sql.Stmt, i int) error {
			f := c.Add[i]
			_, err := st.ExecContext(ctx, library, f.Path, string(f.Kind), f.Size, f.ModTime.UnixNano(), at, at)
			return err
		})
	if err != nil {
		return fmt.Errorf("add media items: %w", err)
	}
	changed := slices.Sorted(maps.Keys(c.Change))
	err = run(`UPDATE butler_media_item SET kind = ?, size = ?, mtime = ?, state = 'present', changed_at = ?, gone_at = 0,
			analysis_version = 0, analysed_at = 0, analysis_failures = 0, analysis_error = '', analysis_retry_at = 0
		WHERE id = ? AND library = ?`,
		len(changed), func(st *sql.Stmt, i int) error {
			f := c.Change[changed[i]]
			_, err := st.ExecContext(ctx, string(f.Kind), f.Size, f.ModTime.UnixNano(), at, changed[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("update changed media items: %w", err)
	}
	err = run(`DELETE FROM butler_media_analysis WHERE item_id = ?`, len(changed), func(st *sql.Stmt, i int) error {
		_, err := st.ExecContext(ctx, changed[i])
		return err
	})
	if err != nil {
		return fmt.Errorf("drop the analyses of changed media items: %w", err)
	}
	err = run(`UPDATE butler_media_item SET state = 'present', gone_at = 0 WHERE id = ? AND library = ? AND state = 'gone'`,
		len(c.Revive), func(st *sql.Stmt, i int) error {
			_, err := st.ExecContext(ctx, c.Revive[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark media items present again: %w", err)
	}
	err = run(`UPDATE butler_media_item SET state = 'gone', gone_at = ? WHERE id = ? AND library = ? AND state = 'present'`,
		len(c.Gone), func(st *sql.Stmt, i int) error {
			_, err := st.ExecContext(ctx, at, c.Gone[i], library)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark media items gone: %w", err)
	}
	return d.wrap(tx.Commit())
}

// MediaItemsToAnalyse returns a page of present items with analysis
// version f.Version, in id order, read from butler_media_item_analysis.
func (d *Store) MediaItemsToAnalyse(ctx context.Context, f butler.AnalysisFilter) ([]butler.MediaItem, error) {
	now := nanos(f.Now)
	if now == 0 {
		now = time.Now().UnixNano()
	}
	if f.Library != "" {
		return d.mediaItems(ctx, `SELECT `+mediaItemColumns+` FROM butler_media_item
			WHERE state = 'present' AND analysis_version = ? AND id > ? AND analysis_retry_at <= ? AND library = ?
			ORDER BY id LIMIT ?`, f.Version, f.AfterID, now, f.Library, pageSize(f.Limit))
	}
	return d.mediaItems(ctx, `SELECT `+mediaItemColumns+` FROM butler_media_item
		WHERE state = 'present' AND analysis_version = ? AND id > ? AND analysis_retry_at <= ?
		ORDER BY id LIMIT ?`, f.Version, f.AfterID, now, pageSize(f.Limit))
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
	tx, err := d.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := d.txExec(ctx, tx, `UPDATE butler_media_item SET analysis_version = ?, analysed_at = ?,
			analysis_failures = 0, analysis_error = '', analysis_retry_at = 0
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ?`,
		version, nanos(at), id, file.Size, file.ModTime.UnixNano())
	if err != nil {
		return false, d.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, d.wrap(err)
	}
	if _, err := d.txExec(ctx, tx, `INSERT INTO butler_media_analysis (item_id, body) VALUES (?, ?)
		ON CONFLICT (item_id) DO UPDATE SET body = excluded.body`, id, body); err != nil {
		return false, d.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return false, d.wrap(err)
	}
	return true, nil
}

// RecordMediaAnalysisFailure counts a failed analysis of an unchanged file.
func (d *Store) RecordMediaAnalysisFailure(ctx context.Context, id int64, file butler.MediaFile, reason string, retryAt time.Time) (bool, error) {
	res, err := d.exec(ctx, `UPDATE butler_media_item SET analysis_failures = analysis_failures + 1,
			analysis_error = ?, analysis_retry_at = ?
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ?`,
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
	err := d.queryRow(ctx, `SELECT a.body, i.analysis_version FROM butler_media_item i
		JOIN butler_media_analysis a ON a.item_id = i.id WHERE i.id = ? AND i.analysis_version > 0`, id).Scan(&body, &version)
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
	rows, err := d.query(ctx, `SELECT library,
		CAST(COALESCE(SUM(CASE WHEN state = 'present' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'gone' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' THEN size ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' AND analysis_version > 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state = 'present' AND analysis_version = 0 AND analysis_failures > 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM butler_media_item GROUP BY library`)
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

// DeleteGoneMediaItems deletes one batch of the items gone before t, read
// from butler_media_item_gone; their analyses go with them (ON DELETE
// CASCADE).
func (d *Store) DeleteGoneMediaItems(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := d.exec(ctx, `DELETE FROM butler_media_item WHERE id IN (
		SELECT id FROM butler_media_item WHERE state = 'gone' AND gone_at < ? ORDER BY gone_at, id LIMIT ?)`,
		nanos(before), pageSize(limit))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), d.wrap(err)
}
