package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointNotByTheWriter: a commit that takes the write-ahead log
// past SQLite's threshold does not copy it into the database itself (its
// caller would wait for the copy and its fsyncs); the checkpointer copies
// it soon after, and Close leaves no log.
func TestCheckpointNotByTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	db := open(t, path)
	ctx := t.Context()
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE ballast (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	before := size(t, path)
	const blob = 8 << 20
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO ballast SELECT randomblob(65536) FROM generate_series(1, ?)`, blob/65536); err != nil {
		// generate_series is an extension modernc's SQLite may lack: a
		// recursive CTE does the same.
		if _, err := db.SQL().ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
			INSERT INTO ballast SELECT randomblob(65536) FROM n`, blob/65536); err != nil {
			t.Fatal(err)
		}
	}
	if got := size(t, path); got-before >= blob/2 {
		t.Fatalf("the database grew by %d bytes with the commit: the writer copied the log itself", got-before)
	}
	if wal := size(t, path+"-wal"); wal < blob {
		t.Fatalf("the log holds %d bytes, want the %d written", wal, blob)
	}
	// The checkpointer looks every second: waiting on its goroutine,
	// whose only trace is the file it writes.
	deadline := time.Now().Add(15 * time.Second)
	for size(t, path)-before < blob {
		if time.Now().After(deadline) {
			t.Fatalf("the log was not copied into the database within 15 s (database %d bytes, log %d)", size(t, path), size(t, path+"-wal"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("a log is left after Close: %v", err)
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
