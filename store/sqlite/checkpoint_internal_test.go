package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpoint_LogBoundedUnderReads writes 8 MiB while two readers
// keep the log's snapshots read at every moment (each read transaction
// overlaps the other's): the log cannot start over by itself, and without
// the checkpointer's TRUNCATE it grows by all that is written. With a
// checkpointer that empties it past 1 MiB, it stays small.
func TestCheckpoint_LogBoundedUnderReads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "butler.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The server's checkpointer, with small numbers.
	if err := d.ckpt.stop(); err != nil {
		t.Fatal(err)
	}
	if d.ckpt, err = startCheckpointer(path, 50*time.Millisecond, 64<<10, 256<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL().ExecContext(ctx, `CREATE TABLE ballast (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	readCtx, stopReads := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			if r == 1 {
				time.Sleep(4 * time.Millisecond) // the two overlap, staggered
			}
			for readCtx.Err() == nil {
				tx, err := d.read.BeginTx(readCtx, nil)
				if err != nil {
					return
				}
				var n int
				tx.QueryRowContext(readCtx, `SELECT count(*) FROM butler_setting`).Scan(&n)
				time.Sleep(8 * time.Millisecond) // a read that takes a while
				tx.Rollback()
			}
		})
	}
	var largest int64
	for range 128 {
		if _, err := d.SQL().ExecContext(ctx, `INSERT INTO ballast SELECT randomblob(4096) FROM (
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 16) SELECT i FROM n)`); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
		time.Sleep(2 * time.Millisecond) // the writes come at a pace, as a prune's
	}
	stopReads()
	readers.Wait()
	if largest > 2<<20 {
		t.Errorf("the log reached %d KiB with 8 MiB written under reads; want it started over past 256 KiB", largest>>10)
	}
}
