package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpoint_LogBoundedUnderReads writes 8 MiB while two readers
// keep the log's snapshots read at every moment (each read transaction
// overlaps the other's): the log cannot start over by itself, and without
// the checkpointer's RESTART it grows by all that is written. The writes
// come every 2 ms, so that a check seldom finds a quiet moment: with a
// checkpointer that starts the log over past 256 KiB, at the latest at the
// check after one that could not (patient 1), it stays small.
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

// openSmall opens a database in a new directory, with the server's
// checkpointer replaced by one with small numbers: it looks every every
// and starts the log over past limit.
func openSmall(t *testing.T, every time.Duration, limit int64) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "butler.db")
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.ckpt.stop(); err != nil {
		t.Fatal(err)
	}
	if d.ckpt, err = startCheckpointer(path, d.db, every, 64<<10, limit); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// insertBallast writes 16 pages of random bytes into the table ballast.
const insertBallast = `INSERT INTO ballast SELECT randomblob(4096) FROM (
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 16) SELECT i FROM n)`

// writeUnderReads writes 8 MiB, 64 KiB at a time, calling between before
// each write, while two readers keep the log's snapshots read at every
// moment, with a checkpointer that looks every every and starts the log
// over past limit; it returns the largest the log's file was after a
// write.
func writeUnderReads(t *testing.T, every time.Duration, limit int64, between func(*DB)) int64 {
	t.Helper()
	ctx := context.Background()
	d, path := openSmall(t, every, limit)
	d.ckpt.busy.Lock()
	d.ckpt.patient = 1
	d.ckpt.busy.Unlock()
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
		if _, err := d.SQL().ExecContext(ctx, insertBallast); err != nil {
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

// TestCheckpoint_RestartsOnlyWithNothingToCopy: restartIdle starts the log
// over when nothing was committed since its copy, and not when another
// connection committed while it waited for the writer: a RESTART then would
// copy that commit, and sync the database, with every write waiting.
func TestCheckpoint_RestartsOnlyWithNothingToCopy(t *testing.T) {
	ctx := context.Background()
	d, path := openSmall(t, time.Hour, 256<<10)
	c := d.ckpt
	other, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	write := func(db *sql.DB) {
		t.Helper()
		if _, err := db.ExecContext(ctx, insertBallast); err != nil {
			t.Fatal(err)
		}
	}
	// frames is how many frames the log holds since it last started over.
	frames := func() int {
		t.Helper()
		n, _, err := c.passive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := d.SQL().ExecContext(ctx, `CREATE TABLE ballast (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		write(d.SQL())
	}
	if before := frames(); before < 60 {
		t.Fatalf("the log holds %d frames: too few to tell", before)
	}

	// Another connection commits while restartIdle holds the writer.
	c.held = func() { write(other) }
	if c.restartIdle(ctx, 0) {
		t.Errorf("restartIdle started the log over with a commit left to copy")
	}

	// Nothing committed meanwhile: it starts over.
	c.held = nil
	if !c.restartIdle(ctx, 0) {
		t.Errorf("restartIdle did not start the log over with nothing to copy")
	}
	write(d.SQL())
	if n := frames(); n > 40 {
		t.Errorf("the log holds %d frames after one write of 16 pages: it did not start over", n)
	}

}
