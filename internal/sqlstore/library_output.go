package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

var _ butler.OutputIndex = (*Store)(nil)

// The outputs' statements (migration 008 on SQLite, 007 on PostgreSQL).
// The items an output task has to do are read from the partial index
// butler_media_item_analysed (the present, analysed items in id order),
// each with a look at its output through the primary key (item_id, kind).
// Saves and failures are one statement each that writes only while the
// item's file is the one the output was made for; a save of BlurHashes
// only while the item's sidecar set is the one they were made of (its
// version, which ReplaceMediaSidecars raises as it drops them).
const (
	sqlForOutput = `SELECT ` + mediaItemColumns + ` FROM butler_media_item i%s
		WHERE i.state = 'present' AND i.analysis_version > 0 AND i.id > ? AND i.kind IN (%s)%s
		AND NOT EXISTS (SELECT 1 FROM butler_media_output o WHERE o.item_id = i.id AND o.kind = ?
			AND o.size = i.size AND o.mtime = i.mtime AND (o.version >= ? OR o.retry_at > ?))
		ORDER BY i.id LIMIT ?`
	sqlCountForOutput = `SELECT COUNT(*) FROM butler_media_item i%s
		WHERE i.state = 'present' AND i.analysis_version > 0 AND i.id > ? AND i.kind IN (%s)%s
		AND NOT EXISTS (SELECT 1 FROM butler_media_output o WHERE o.item_id = i.id AND o.kind = ?
			AND o.size = i.size AND o.mtime = i.mtime AND (o.version >= ? OR o.retry_at > ?))`
	sqlSaveOutput = `INSERT INTO butler_media_output (item_id, kind, version, made_at, size, mtime, files, data, failures, error, retry_at)
		SELECT id, ?, ?, ?, size, mtime, ?, ?, 0, '', 0 FROM butler_media_item
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ? AND (? <> 'blurhashes' OR sidecars_version = ?)%s
		ON CONFLICT (item_id, kind) DO UPDATE SET version = excluded.version, made_at = excluded.made_at,
			size = excluded.size, mtime = excluded.mtime, files = excluded.files, data = excluded.data,
			failures = 0, error = '', retry_at = 0`
	// A failure for the file the recorded output was made for counts one
	// more; for another file it starts afresh, the output dropped.
	sqlOutputFailure = `INSERT INTO butler_media_output (item_id, kind, size, mtime, failures, error, retry_at)
		SELECT id, ?, size, mtime, 1, ?, ? FROM butler_media_item
		WHERE id = ? AND state = 'present' AND size = ? AND mtime = ?
		ON CONFLICT (item_id, kind) DO UPDATE SET
			failures = CASE WHEN ` + sameOutputFile + ` THEN butler_media_output.failures + 1 ELSE 1 END,
			version  = CASE WHEN ` + sameOutputFile + ` THEN butler_media_output.version ELSE 0 END,
			made_at  = CASE WHEN ` + sameOutputFile + ` THEN butler_media_output.made_at ELSE 0 END,
			files    = CASE WHEN ` + sameOutputFile + ` THEN butler_media_output.files ELSE '[]' END,
			data     = CASE WHEN ` + sameOutputFile + ` THEN butler_media_output.data ELSE '' END,
			size = excluded.size, mtime = excluded.mtime, error = excluded.error, retry_at = excluded.retry_at`
	sameOutputFile  = `butler_media_output.size = excluded.size AND butler_media_output.mtime = excluded.mtime`
	sqlMediaOutputs = `SELECT ` + outputColumns + `
		FROM butler_media_output WHERE item_id = ?`
	// The outputs made, read as the items to do are: the items from
	// butler_media_item_analysed in id order, each with a look at its
	// output through the primary key. On PostgreSQL the look is a LATERAL
	// subquery that returns one row at most: as a join, the planner, which
	// takes an output for the file as the index has it for a rare match,
	// would join both tables whole for a page.
	sqlMadeOutputs = `SELECT ` + madeOutputColumns + ` FROM butler_media_item i%s
		JOIN butler_media_output o ON o.item_id = i.id AND o.kind = ?
			AND o.size = i.size AND o.mtime = i.mtime AND o.version >= ?
		WHERE i.state = 'present' AND i.analysis_version > 0 AND i.id > ? AND i.kind IN (%s)%s
		ORDER BY i.id LIMIT ?`
	sqlMadeOutputsLateral = `SELECT ` + madeOutputColumns + ` FROM butler_media_item i%s
		JOIN LATERAL (SELECT ` + outputColumns + ` FROM butler_media_output
			WHERE item_id = i.id AND kind = ? AND size = i.size AND mtime = i.mtime AND version >= ? LIMIT 1) o ON TRUE
		WHERE i.state = 'present' AND i.analysis_version > 0 AND i.id > ? AND i.kind IN (%s)%s
		ORDER BY i.id LIMIT ?`
	sqlForgetOutput = `DELETE FROM butler_media_output WHERE item_id = ? AND kind = ? AND made_at = ?`

	outputColumns     = `item_id, kind, version, made_at, size, mtime, files, data, failures, error, retry_at`
	madeOutputColumns = `o.item_id, o.kind, o.version, o.made_at, o.size, o.mtime, o.files, o.data, o.failures, o.error, o.retry_at`
)

// saveOutputSQL returns sqlSaveOutput. On PostgreSQL the item's row is
// read FOR SHARE: a save waits for a transaction replacing the item's
// sidecars (which holds the row) and then checks the row as it left it;
// without it, a save that began before that transaction committed would
// see the old version and record BlurHashes of the old set after the
// transaction dropped them. SQLite runs one writer at a time.
func (d *Store) saveOutputSQL() string {
	lock := ""
	if d.Dialect.Dollar {
		lock = "\n\t\tFOR SHARE"
	}
	return fmt.Sprintf(sqlSaveOutput, lock)
}

// forOutputSQL returns the statement q (sqlForOutput or
// sqlCountForOutput) for n media kinds and libs libraries (0: every
// library). On SQLite it names the index to read: with statistics SQLite
// would otherwise read the table by its primary key and filter. The
// libraries are a filter of the rows that index gives.
func (d *Store) forOutputSQL(q string, n, libs int) string {
	hint := ""
	if !d.Dialect.Dollar {
		hint = " INDEXED BY butler_media_item_analysed"
	}
	library := ""
	if libs > 0 {
		library = " AND i.library IN (" + marks(libs) + ")"
	}
	return fmt.Sprintf(q, hint, marks(n), library)
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// forOutputArgs are the arguments of sqlForOutput and sqlCountForOutput
// for f, up to the limit.
func forOutputArgs(f butler.OutputFilter) []any {
	now := nanos(f.Now)
	if now == 0 {
		now = time.Now().UnixNano()
	}
	args := []any{f.AfterID}
	for _, k := range f.MediaKinds {
		args = append(args, string(k))
	}
	for _, l := range f.Libraries {
		args = append(args, l)
	}
	return append(args, string(f.Kind), f.Version, now)
}

// MediaItemsForOutput returns a page of the items f selects, in id order.
func (d *Store) MediaItemsForOutput(ctx context.Context, f butler.OutputFilter) ([]butler.MediaItem, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return d.mediaItems(ctx, d.forOutputSQL(sqlForOutput, len(f.MediaKinds), len(f.Libraries)), append(forOutputArgs(f), pageSize(f.Limit))...)
}

// CountItemsForOutput counts the items f selects.
func (d *Store) CountItemsForOutput(ctx context.Context, f butler.OutputFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	f.AfterID = 0
	var n int
	err := d.queryRow(ctx, d.forOutputSQL(sqlCountForOutput, len(f.MediaKinds), len(f.Libraries)), forOutputArgs(f)...).Scan(&n)
	return n, d.wrap(err)
}

// SaveMediaOutput records an output made for an unchanged file.
func (d *Store) SaveMediaOutput(ctx context.Context, file butler.MediaFile, o butler.MediaOutput) (bool, error) {
	switch {
	case !o.Kind.Valid():
		return false, butler.Errorf(butler.EINVALID, "output of item %d: %q is not one of %v", o.Item, o.Kind, butler.OutputKinds())
	case o.Version <= 0:
		return false, butler.Errorf(butler.EINVALID, "output %s of item %d: version %d is not a positive number", o.Kind, o.Item, o.Version)
	case len(o.Data) > 0 && !json.Valid(o.Data):
		return false, butler.Errorf(butler.EINVALID, "output %s of item %d: its data is not JSON", o.Kind, o.Item)
	}
	files := o.Files
	if files == nil {
		files = []string{}
	}
	filesJSON, err := json.Marshal(files)
	if err != nil {
		return false, err
	}
	madeAt := nanos(o.MadeAt)
	if madeAt == 0 {
		madeAt = time.Now().UnixNano()
	}
	res, err := d.exec(ctx, d.saveOutputSQL(), string(o.Kind), o.Version, madeAt, string(filesJSON), string(o.Data),
		o.Item, file.Size, file.ModTime.UnixNano(), string(o.Kind), o.SidecarsVersion)
	if err != nil {
		return false, fmt.Errorf("record output %s of media item %d: %w", o.Kind, o.Item, err)
	}
	n, err := res.RowsAffected()
	return n > 0, d.wrap(err)
}

// RecordMediaOutputFailure counts a failed attempt for an unchanged file.
func (d *Store) RecordMediaOutputFailure(ctx context.Context, id int64, file butler.MediaFile, kind butler.OutputKind, reason string, retryAt time.Time) (bool, error) {
	if !kind.Valid() {
		return false, butler.Errorf(butler.EINVALID, "output failure of item %d: %q is not one of %v", id, kind, butler.OutputKinds())
	}
	res, err := d.exec(ctx, sqlOutputFailure, string(kind), reason, nanos(retryAt), id, file.Size, file.ModTime.UnixNano())
	if err != nil {
		return false, fmt.Errorf("record a failure of output %s of media item %d: %w", kind, id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, d.wrap(err)
}

// MediaOutputs returns an item's recorded outputs in kind order.
func (d *Store) MediaOutputs(ctx context.Context, id int64) ([]butler.MediaOutput, error) {
	out, err := d.outputs(ctx, sqlMediaOutputs, id)
	if err != nil {
		return nil, err
	}
	order := butler.OutputKinds()
	slices.SortFunc(out, func(a, b butler.MediaOutput) int {
		return slices.Index(order, a.Kind) - slices.Index(order, b.Kind)
	})
	return out, nil
}

// MadeMediaOutputs returns a page of the outputs made that f selects, in
// item id order.
func (d *Store) MadeMediaOutputs(ctx context.Context, f butler.OutputFilter) ([]butler.MediaOutput, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return d.outputs(ctx, d.madeOutputsSQL(len(f.MediaKinds), len(f.Libraries)), madeOutputArgs(f)...)
}

// madeOutputsSQL returns sqlMadeOutputs, or sqlMadeOutputsLateral on
// PostgreSQL, for n media kinds and libs libraries.
func (d *Store) madeOutputsSQL(n, libs int) string {
	if d.Dialect.Dollar {
		return d.forOutputSQL(sqlMadeOutputsLateral, n, libs)
	}
	return d.forOutputSQL(sqlMadeOutputs, n, libs)
}

// madeOutputArgs are the arguments of sqlMadeOutputs for f.
func madeOutputArgs(f butler.OutputFilter) []any {
	args := []any{string(f.Kind), f.Version, f.AfterID}
	for _, k := range f.MediaKinds {
		args = append(args, string(k))
	}
	for _, l := range f.Libraries {
		args = append(args, l)
	}
	return append(args, pageSize(f.Limit))
}

// ForgetMediaOutput drops the record of an output while it is the one
// made at o.MadeAt.
func (d *Store) ForgetMediaOutput(ctx context.Context, o butler.MediaOutput) (bool, error) {
	if !o.Kind.Valid() {
		return false, butler.Errorf(butler.EINVALID, "output of item %d: %q is not one of %v", o.Item, o.Kind, butler.OutputKinds())
	}
	res, err := d.exec(ctx, sqlForgetOutput, o.Item, string(o.Kind), nanos(o.MadeAt))
	if err != nil {
		return false, fmt.Errorf("forget output %s of media item %d: %w", o.Kind, o.Item, d.wrap(err))
	}
	n, err := res.RowsAffected()
	return n > 0, d.wrap(err)
}

// outputs reads the outputs query q returns (outputColumns).
func (d *Store) outputs(ctx context.Context, q string, args ...any) ([]butler.MediaOutput, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []butler.MediaOutput
	for rows.Next() {
		var o butler.MediaOutput
		var kind, files, data string
		var made, mtime, retry int64
		if err := rows.Scan(&o.Item, &kind, &o.Version, &made, &o.Size, &mtime, &files, &data, &o.Failures, &o.Error, &retry); err != nil {
			return nil, d.wrap(err)
		}
		o.Kind, o.MadeAt, o.ModTime, o.RetryAt = butler.OutputKind(kind), fromNanos(made), time.Unix(0, mtime), fromNanos(retry)
		if err := json.Unmarshal([]byte(files), &o.Files); err != nil {
			return nil, fmt.Errorf("output %s of media item %d: its files are not a JSON list: %w", kind, o.Item, err)
		}
		if data != "" {
			o.Data = json.RawMessage(data)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap(err)
	}
	return out, nil
}

// OutputQueries returns the outputs' statements as this store sends them
// to its database, with the arguments of a typical call made at now for
// video items. A store's test EXPLAINs them on a large index: the items
// must come from butler_media_item_analysed, the outputs through their
// primary key.
func (d *Store) OutputQueries(now time.Time) []HotQuery {
	f := butler.OutputFilter{Kind: butler.OutputIndexFiles, Version: 1, MediaKinds: []butler.MediaKind{"video"}, Now: now, AfterID: 2}
	shows := f
	shows.Libraries = []string{"Shows"}
	n := nanos(now)
	qs := []HotQuery{
		{"MediaItemsForOutput", d.forOutputSQL(sqlForOutput, 1, 0), append(forOutputArgs(f), 1000)},
		{"MediaItemsForOutput of libraries", d.forOutputSQL(sqlForOutput, 1, 1), append(forOutputArgs(shows), 1000)},
		{"SaveMediaOutput", d.saveOutputSQL(), []any{"index-files", 1, n, "[]", "", int64(1), int64(1), n, "index-files", int64(0)}},
		{"SaveMediaOutput of BlurHashes", d.saveOutputSQL(), []any{"blurhashes", 1, n, "[]", "", int64(1), int64(1), n, "blurhashes", int64(0)}},
		{"RecordMediaOutputFailure", sqlOutputFailure, []any{"index-files", "bad", n, int64(1), int64(1), n}},
		{"MediaOutputs", sqlMediaOutputs, []any{int64(1)}},
		{"MadeMediaOutputs", d.madeOutputsSQL(1, 0), madeOutputArgs(f)},
		{"MadeMediaOutputs of libraries", d.madeOutputsSQL(1, 1), madeOutputArgs(shows)},
		{"ForgetMediaOutput", sqlForgetOutput, []any{int64(1), "index-files", n}},
	}
	for i := range qs {
		qs[i].SQL = d.bind(qs[i].SQL)
	}
	return qs
}
