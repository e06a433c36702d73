package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

var _ butler.SidecarIndex = (*Store)(nil)

// maxSidecarIDs bounds the ids of one MediaSidecars call.
const maxSidecarIDs = 1000

// The sidecars' statements (migration 007 on SQLite, 006 on PostgreSQL;
// the set's version, 011 and 013): each reads or writes through the
// primary key (item_id, path), and the item's row through its own.
const (
	sqlMediaSidecars = `SELECT item_id, path, kind, language, flags, size, mtime FROM butler_media_sidecar
		WHERE item_id IN (%s) ORDER BY item_id, path`
	// One statement: the set and its version are read together.
	sqlMediaSidecarSet = `SELECT sidecars_version, path, kind, language, flags, size, mtime
		FROM (SELECT id, sidecars_version FROM butler_media_item WHERE id = ?) i
		LEFT JOIN (SELECT item_id, path, kind, language, flags, size, mtime FROM butler_media_sidecar WHERE item_id = ?) s ON s.item_id = i.id
		ORDER BY path`
	// The item's set gets a new version; no row when the item is gone.
	// On PostgreSQL the row stays locked until the set is replaced: a
	// save of BlurHashes (sqlSaveOutput) waits for it, then sees the new
	// version.
	sqlSidecarItem  = `UPDATE butler_media_item SET sidecars_version = sidecars_version + 1 WHERE id = ?`
	sqlDropSidecars = `DELETE FROM butler_media_sidecar WHERE item_id = ?`
	// The BlurHashes are made from an item's images: a new set of
	// sidecars has them made again.
	sqlDropBlurHashes = `DELETE FROM butler_media_output WHERE item_id = ? AND kind = 'blurhashes'`
	sqlInsertSidecars = `INSERT INTO butler_media_sidecar (item_id, path, kind, language, flags, size, mtime)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// MediaSidecars returns the sidecars of the items ids, in one query.
func (d *Store) MediaSidecars(ctx context.Context, ids []int64) (map[int64][]butler.MediaSidecar, error) {
	out := map[int64][]butler.MediaSidecar{}
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > maxSidecarIDs {
		return nil, butler.Errorf(butler.EINVALID, "media sidecars: %d item ids asked for; ask for at most %d at a time", len(ids), maxSidecarIDs)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	rows, err := d.query(ctx, fmt.Sprintf(sqlMediaSidecars, marks), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, mtime int64
		var s butler.MediaSidecar
		var kind, flags string
		if err := rows.Scan(&id, &s.Path, &kind, &s.Language, &flags, &s.Size, &mtime); err != nil {
			return nil, d.wrap(err)
		}
		s.Kind, s.ModTime = butler.SidecarKind(kind), time.Unix(0, mtime)
		if flags != "" {
			s.Flags = strings.Split(flags, ",")
		}
		out[id] = append(out[id], s)
	}
	return out, d.wrap(rows.Err())
}

// MediaSidecarSet returns an item's sidecars and their set's version.
func (d *Store) MediaSidecarSet(ctx context.Context, id int64) (butler.SidecarSet, error) {
	var set butler.SidecarSet
	rows, err := d.query(ctx, sqlMediaSidecarSet, id, id)
	if err != nil {
		return set, err
	}
	defer rows.Close()
	for rows.Next() {
		var path, kind, language, flags sql.NullString
		var size, mtime sql.NullInt64
		if err := rows.Scan(&set.Version, &path, &kind, &language, &flags, &size, &mtime); err != nil {
			return set, d.wrap(err)
		}
		if !path.Valid {
			continue // the item has none
		}
		s := butler.MediaSidecar{Path: path.String, Kind: butler.SidecarKind(kind.String), Language: language.String,
			Size: size.Int64, ModTime: time.Unix(0, mtime.Int64)}
		if flags.String != "" {
			s.Flags = strings.Split(flags.String, ",")
		}
		set.Sidecars = append(set.Sidecars, s)
	}
	return set, d.wrap(rows.Err())
}

// checkSidecars reports what is wrong with an item's set, as EINVALID.
func checkSidecars(id int64, set []butler.MediaSidecar) error {
	seen := map[string]bool{}
	for _, s := range set {
		switch {
		case s.Path == "":
			return butler.Errorf(butler.EINVALID, "sidecars of media item %d: a sidecar has no path", id)
		case seen[s.Path]:
			return butler.Errorf(butler.EINVALID, "sidecars of media item %d: %s is listed twice", id, s.Path)
		case !slices.Contains([]butler.SidecarKind{butler.SidecarSubtitle, butler.SidecarPoster, butler.SidecarArt, butler.SidecarNFO}, s.Kind):
			return butler.Errorf(butler.EINVALID, "sidecar %s: kind %q is not one of subtitle, poster, art, nfo", s.Path, s.Kind)
		}
		for _, f := range s.Flags {
			if f == "" || strings.Contains(f, ",") {
				return butler.Errorf(butler.EINVALID, "sidecar %s: flag %q is empty or holds a comma", s.Path, f)
			}
		}
		seen[s.Path] = true
	}
	return nil
}

// ReplaceMediaSidecars replaces the sets of the items of sets, in one
// transaction, item by item in id order.
func (d *Store) ReplaceMediaSidecars(ctx context.Context, sets map[int64][]butler.MediaSidecar) (int, error) {
	if len(sets) == 0 {
		return 0, nil
	}
	ids := slices.Sorted(maps.Keys(sets))
	for _, id := range ids {
		if err := checkSidecars(id, sets[id]); err != nil {
			return 0, err
		}
	}
	tx, ctx, end, err := d.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer end()
	insert, err := tx.PrepareContext(ctx, d.bind(sqlInsertSidecars))
	if err != nil {
		return 0, d.wrap(err)
	}
	defer insert.Close()
	replaced := 0
	for _, id := range ids {
		res, err := d.txExec(ctx, tx.Tx, sqlSidecarItem, id)
		if err != nil {
			return 0, fmt.Errorf("count a new sidecar set of media item %d: %w", id, d.wrap(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, d.wrap(err)
		}
		if n == 0 {
			continue // deleted since it was read
		}
		if _, err := d.txExec(ctx, tx.Tx, sqlDropSidecars, id); err != nil {
			return 0, fmt.Errorf("drop the sidecars of media item %d: %w", id, d.wrap(err))
		}
		if _, err := d.txExec(ctx, tx.Tx, sqlDropBlurHashes, id); err != nil {
			return 0, fmt.Errorf("drop the BlurHashes of media item %d: %w", id, d.wrap(err))
		}
		for _, s := range sets[id] {
			_, err := insert.ExecContext(ctx, id, s.Path, string(s.Kind), s.Language, strings.Join(s.Flags, ","), s.Size, s.ModTime.UnixNano())
			if err != nil {
				return 0, fmt.Errorf("record sidecar %s of media item %d: %w", s.Path, id, d.wrap(err))
			}
		}
		replaced++
	}
	if err := tx.Commit(); err != nil {
		return 0, d.wrap(err)
	}
	return replaced, nil
}

// SidecarQueries returns the statements of the sidecars as this store
// sends them to its database, with the arguments of a typical call: the
// sidecars of n items from id first (an IN list of n), and the
// replacement of item first's set. A store's test EXPLAINs them on a
// large index: each must read butler_media_sidecar through its primary
// key.
func (d *Store) SidecarQueries(first int64, n int) []HotQuery {
	ids := make([]any, n)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	qs := []HotQuery{
		{"MediaSidecars", fmt.Sprintf(sqlMediaSidecars, marks), ids},
		{"MediaSidecarSet", sqlMediaSidecarSet, []any{first, first}},
		{"ReplaceMediaSidecars (the item)", sqlSidecarItem, []any{first}},
		{"ReplaceMediaSidecars (drop)", sqlDropSidecars, []any{first}},
		{"ReplaceMediaSidecars (drop the BlurHashes)", sqlDropBlurHashes, []any{first}},
	}
	for i := range qs {
		qs[i].SQL = d.bind(qs[i].SQL)
	}
	return qs
}
