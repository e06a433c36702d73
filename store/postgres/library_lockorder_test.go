package postgres_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
)

// TestApplyMediaChanges_TakesItsItemsInIDOrder: a scan's batch and a
// replacement of sidecars (which takes its items in id order) write the
// same item rows at once without deadlocking. The batch used to take its
// rows kind by kind (changed, then revived, then gone), so that a batch
// holding a changed item of a high id, waiting for a gone item of a low id
// that a replacement held while it waited for the high one, made
// PostgreSQL abort one of the two.
func TestApplyMediaChanges_TakesItsItemsInIDOrder(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	ctx := t.Context()
	file := func(name string, size int64) butler.MediaFile {
		return butler.MediaFile{Path: "/m/" + name, Kind: butler.MediaVideo, Size: size, ModTime: time.Unix(1, 0)}
	}
	if err := db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{
		Add: []butler.MediaFile{file("a.mkv", 1), file("b.mkv", 1), file("c.mkv", 1)}, At: time.Unix(2, 0),
	}); err != nil {
		t.Fatal(err)
	}
	items, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil || len(items) != 3 {
		t.Fatalf("items: %+v, %v", items, err)
	}
	// By id: low is to go, mid (gone now) to come back, high changed.
	low, mid, high := items[0].ID, items[1].ID, items[2].ID
	if !(low < mid && mid < high) {
		t.Fatalf("ids %d %d %d not in path order", low, mid, high)
	}
	if err := db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Gone: []int64{mid}, At: time.Unix(3, 0)}); err != nil {
		t.Fatal(err)
	}

	// A transaction of the test holds mid, so that the batch stops there.
	holder, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	holderPID := backendPID(t, holder)
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM butler_media_item WHERE id = $1 FOR UPDATE`, mid); err != nil {
		t.Fatal(err)
	}

	batch := make(chan error, 1)
	go func() {
		batch <- db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{
			Change: map[int64]butler.MediaFile{high: file("c.mkv", 2)},
			Revive: []int64{mid},
			Gone:   []int64{low},
			At:     time.Unix(4, 0),
		})
	}()
	batchPID := waitBlockedBy(t, db, holderPID, batch)

	replace := make(chan error, 1)
	go func() {
		set := []butler.MediaSidecar{{Path: "/m/x.srt", Kind: butler.SidecarSubtitle, Size: 1, ModTime: time.Unix(1, 0)}}
		_, err := db.ReplaceMediaSidecars(ctx, map[int64][]butler.MediaSidecar{low: set, high: set})
		replace <- err
	}()
	waitBlockedBy(t, db, batchPID, replace)

	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-batch; err != nil {
		t.Errorf("the scan's batch: %v", err)
	}
	if err := <-replace; err != nil {
		t.Errorf("the replacement of sidecars: %v", err)
	}
	got, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]butler.ItemState{low: butler.ItemGone, mid: butler.ItemPresent, high: butler.ItemPresent}
	for _, it := range got {
		if it.State != want[it.ID] {
			t.Errorf("item %d (%s): %s, want %s", it.ID, it.Path, it.State, want[it.ID])
		}
	}
}

func backendPID(t *testing.T, tx *sql.Tx) int {
	t.Helper()
	var pid int
	if err := tx.QueryRowContext(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitBlockedBy waits until a backend waits for a lock that backend pid
// holds, and returns the waiter's pid; done returning first fails the
// test.
func waitBlockedBy(t *testing.T, db *postgres.DB, pid int, done <-chan error) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("returned (%v) without waiting for backend %d", err, pid)
		default:
		}
		var waiter int
		err := db.DB.QueryRowContext(t.Context(), `SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1`, pid).Scan(&waiter)
		if err == nil {
			return waiter
		}
		if err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing waited for backend %d", pid)
		}
	}
}

// TestDeleteGoneMediaItems_SparesAnItemFoundAgain: an item listed as gone
// for long enough, but whose file a scan found again before the delete
// reached it, stays. The delete used to go by id alone, and removed the
// item (its analysis with it) that the scan had just revived.
func TestDeleteGoneMediaItems_SparesAnItemFoundAgain(t *testing.T) {
	pgtest.URL(t)
	db := open(t)
	ctx := t.Context()
	f := butler.MediaFile{Path: "/m/a.mkv", Kind: butler.MediaVideo, Size: 1, ModTime: time.Unix(1, 0)}
	if err := db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Add: []butler.MediaFile{f}, At: time.Unix(2, 0)}); err != nil {
		t.Fatal(err)
	}
	items, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil || len(items) != 1 {
		t.Fatalf("items: %+v, %v", items, err)
	}
	id := items[0].ID
	if err := db.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Gone: []int64{id}, At: time.Unix(3, 0)}); err != nil {
		t.Fatal(err)
	}

	// The scan that finds the file again holds the row while the
	// garbage collection lists the item and comes to delete it.
	scan, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer scan.Rollback()
	scanPID := backendPID(t, scan)
	if _, err := scan.ExecContext(ctx, `UPDATE butler_media_item SET state = 'present', gone_at = 0 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	gc := make(chan result, 1)
	go func() {
		n, err := db.DeleteGoneMediaItems(ctx, time.Unix(100, 0), 0)
		gc <- result{n, err}
	}()
	waitBlockedBy(t, db, scanPID, nil)
	if err := scan.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-gc; r.err != nil || r.n != 0 {
		t.Errorf("DeleteGoneMediaItems = %d, %v; want 0 deleted", r.n, r.err)
	}
	it, err := db.MediaItem(ctx, id)
	if err != nil {
		t.Fatalf("the item found again was deleted: %v", err)
	}
	if it.State != butler.ItemPresent {
		t.Errorf("item: %s, want present", it.State)
	}
}
