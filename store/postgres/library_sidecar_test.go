package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
)

// TestSaveBlurHashes_WaitsForTheSidecarSetBeingReplaced: a save of an
// item's BlurHashes that comes while a transaction replacing the item's
// sidecars (as ReplaceMediaSidecars does: the set's version raised, the
// BlurHashes dropped) is still open waits for it, then records nothing:
// the hashes are of the old set. Read without a lock, the item's row would
// still show the old version and the save would record them.
func TestSaveBlurHashes_WaitsForTheSidecarSetBeingReplaced(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	ctx := t.Context()
	file := butler.MediaFile{Path: "/m/a.mkv", Kind: butler.MediaVideo, Size: 1, ModTime: time.Unix(1, 0)}
	if err := db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Add: []butler.MediaFile{file}, At: time.Unix(2, 0)}); err != nil {
		t.Fatal(err)
	}
	items, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil || len(items) != 1 {
		t.Fatalf("items: %+v, %v", items, err)
	}
	id := items[0].ID
	set, err := db.MediaSidecarSet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var replacer int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&replacer); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE butler_media_item SET sidecars_version = sidecars_version + 1 WHERE id = $1`,
		`DELETE FROM butler_media_output WHERE item_id = $1 AND kind = 'blurhashes'`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	type saved struct {
		ok  bool
		err error
	}
	done := make(chan saved, 1)
	go func() {
		ok, err := db.SaveMediaOutput(ctx, file, butler.MediaOutput{Item: id, Kind: butler.OutputBlurHashes, Version: 1,
			MadeAt: time.Unix(3, 0), Data: json.RawMessage(`{"images":[]}`), SidecarsVersion: set.Version})
		done <- saved{ok, err}
	}()
	// The save waits for the replacement: PostgreSQL says whom it waits
	// for.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		select {
		case r := <-done:
			t.Fatalf("the save returned %+v with the replacement still open; want it to wait for it", r)
		default:
		}
		var waiting int
		if err := db.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, replacer).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the save neither returned nor waited for the replacement")
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.ok {
		t.Errorf("the save of BlurHashes of the set replaced meanwhile = %+v; want false, nothing recorded", r)
	}
	if outs, err := db.MediaOutputs(ctx, id); err != nil || len(outs) != 0 {
		t.Errorf("outputs: %+v, %v; want none", outs, err)
	}
}
