package sqlite_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/plexbutler/butler/store/sqlite"
)

// reopen opens the database at path, says how Open checked it, and closes
// it again.
func reopen(t *testing.T, path string) string {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	checked := db.Checked()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return checked
}

func needIdentity(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("files have no inode and change time here: every start checks in full")
	}
}

// TestOpen_CleanCloseSkipsFullCheck: a file Butler closed cleanly and that
// nothing touched since is not read whole again; any write to it, a write
// that damages it, a log left beside it, or a week since the last full
// check, and it is.
func TestOpen_CleanCloseSkipsFullCheck(t *testing.T) {
	needIdentity(t)
	path := filepath.Join(t.TempDir(), "butler.db")
	if got := reopen(t, path); got != sqlite.CheckedNone {
		t.Fatalf("new database: checked %q, want %q", got, sqlite.CheckedNone)
	}
	if _, err := os.Stat(path + "-closed"); err != nil {
		t.Fatalf("no mark after a clean close: %v", err)
	}
	for i := range 2 {
		if got := reopen(t, path); got != sqlite.CheckedClean {
			t.Fatalf("reopen %d of a cleanly closed database: checked %q, want %q", i+1, got, sqlite.CheckedClean)
		}
	}

	// A write by anything else: the same bytes written again.
	touch(t, path)
	if got := reopen(t, path); got != sqlite.CheckedFull {
		t.Fatalf("after another program wrote to it: checked %q, want %q", got, sqlite.CheckedFull)
	}

	// A log beside it with something in it.
	if err := os.WriteFile(path+"-wal", []byte("not a log"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := reopen(t, path); got != sqlite.CheckedFull {
		t.Fatalf("with a -wal file beside it: checked %q, want %q", got, sqlite.CheckedFull)
	}

	// A mark whose full check is more than a week old.
	if got := reopen(t, path); got != sqlite.CheckedClean {
		t.Fatalf("checked %q, want %q", got, sqlite.CheckedClean)
	}
	var mark map[string]any
	data, err := os.ReadFile(path + "-closed")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &mark); err != nil {
		t.Fatal(err)
	}
	mark["checked_at"] = time.Now().Add(-8 * 24 * time.Hour)
	data, _ = json.Marshal(mark)
	if err := os.WriteFile(path+"-closed", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := reopen(t, path); got != sqlite.CheckedFull {
		t.Fatalf("a week after its last full check: checked %q, want %q", got, sqlite.CheckedFull)
	}
	if got := reopen(t, path); got != sqlite.CheckedClean {
		t.Fatalf("after the full check: checked %q, want %q", got, sqlite.CheckedClean)
	}
}

// TestOpen_CleanCloseKeepsLastFullCheck: reopening a cleanly closed file
// does not count as a full check; the week runs from the last real one.
func TestOpen_CleanCloseKeepsLastFullCheck(t *testing.T) {
	needIdentity(t)
	path := filepath.Join(t.TempDir(), "butler.db")
	reopen(t, path)
	first := markCheckedAt(t, path)
	if got := reopen(t, path); got != sqlite.CheckedClean {
		t.Fatalf("checked %q, want %q", got, sqlite.CheckedClean)
	}
	if again := markCheckedAt(t, path); !again.Equal(first) {
		t.Fatalf("the mark says the last full check was at %s after a clean reopen, want %s as before", again, first)
	}
}

// TestOpen_DamagedAfterCleanCloseRefused: damage done to a cleanly closed
// file is found.
func TestOpen_DamagedAfterCleanCloseRefused(t *testing.T) {
	needIdentity(t)
	path := filepath.Join(t.TempDir(), "butler.db")
	db := open(t, path)
	root := addBallast(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-closed"); err != nil {
		t.Fatalf("no mark after a clean close: %v", err)
	}
	breakPage(t, path, root)
	d, err := sqlite.Open(t.Context(), path)
	var de *sqlite.DamagedError
	if !errors.As(err, &de) {
		if err == nil {
			d.Close()
		}
		t.Fatalf("Open of a cleanly closed database damaged since: %v, want a *DamagedError", err)
	}
}

// TestOpen_RunningServerLeavesNoMark: while a database is open its mark is
// gone, so that a server killed while it runs is checked in full at its
// next start.
func TestOpen_RunningServerLeavesNoMark(t *testing.T) {
	needIdentity(t)
	path := filepath.Join(t.TempDir(), "butler.db")
	reopen(t, path)
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path + "-closed"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the mark is still there while the database is open: %v", err)
	}
	// What a second start finds while the first still runs (or after it
	// was killed): no mark.
	if got := reopen(t, path); got != sqlite.CheckedFull {
		t.Fatalf("open while another holds it: checked %q, want %q", got, sqlite.CheckedFull)
	}
}

// touch writes the file's first byte again, as another program would.
func touch(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}

func markCheckedAt(t *testing.T, path string) time.Time {
	t.Helper()
	data, err := os.ReadFile(path + "-closed")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		CheckedAt time.Time `json:"checked_at"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m.CheckedAt
}
