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
// the checkpointer's RESTART it grows by all that is written. With a
// checkpointer that starts it over past 256 KiB, it stays small.
func TestCheckpoint_LogBoundedUnderReads(t *testing.T) {
	largest := writeUnderReads(t, 50*time.Millisecond, 256<<10, func(*DB) {})
	if largest > 2<<20 {
		t.Errorf("the log reached %d KiB with 8 MiB written under reads; want it started over past 256 KiB", largest>>10)
	}
}

// TestCheckpoint_SettleBetweenWrites: the same writes, each after a settle
// (as the pruning's batches), with a checkpointer that never looks by
// itself: the settles keep the log small, without holding writes back.
func TestCheckpoint_SettleBetweenWrites(t *testing.T) {
	largest := writeUnderReads(t, time.Hour, 512<<10, func(d *DB) { d.ckpt.settle(context.Background()) })
	if largest > 2<<20 {
		t.Errorf("the log reached %d KiB with 8 MiB written under reads, settled between writes; want it started over past 256 KiB", largest>>10)
	}
}

// writeUnderReads writes 8 MiB, 64 KiB at a time, calling between before
// each write, while two readers keep the log's snapshots read at every
// moment, with a checkpointer that looks every every and starts the log
// over past limit; it returns the largest the log's file was after a
// write.
func writeUnderReads(t *testing.T, every time.Duration, limit int64, between func(*DB)) int64 {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "butler.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	// The server's checkpointer, with small numbers.
	if err := d.ckpt.stop(); err != nil {
		t.Fatal(err)
	}
	if d.ckpt, err = startCheckpointer(path, every, 64<<10, limit); err != nil {
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
		between(d)
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
	return largest
}
