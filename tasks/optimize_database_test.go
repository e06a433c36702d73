package tasks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

func TestOptimizeDatabaseReclaims(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "butler.db")
			createDB(t, path, mode, 3000, 500)
			db := openDB(t, path, mode)
			if _, err := db.Exec(`DELETE FROM items WHERE id % 10 != 0`); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			wantRows, wantDigest := digest(t, path)
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}

			r := newTestReporter(t)
			if err := (&tasks.OptimizeDatabase{Path: path}).Run(t.Context(), r); err != nil {
				t.Fatalf("Run: %v", err)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if after.Size() >= before.Size() {
				t.Errorf("file size %d after optimizing, want less than %d", after.Size(), before.Size())
			}
			if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() != 0 {
				t.Errorf("WAL file holds %d bytes after optimizing, want 0", wal.Size())
			}
			sum := r.summary()
			if !strings.HasPrefix(sum, "reclaimed ") || strings.HasPrefix(sum, "reclaimed 0 B") || !strings.Contains(sum, " (from ") {
				t.Errorf("summary = %q, want \"reclaimed N (from A to B)\" with N > 0", sum)
			}
			gotRows, gotDigest := digest(t, path)
			if gotRows != wantRows || gotDigest != wantDigest {
				t.Errorf("database holds %d rows after optimizing, want %d with the same content", gotRows, wantRows)
			}
			if s := integrity(t, path); s != "ok" {
				t.Errorf("integrity check after optimizing = %q", s)
			}
			var steps []string
			prev := -1
			for _, e := range r.progress() {
				steps = append(steps, e.Step)
				if e.Percent < prev {
					t.Errorf("progress went back: %+v", r.progress())
				}
				prev = e.Percent
			}
			for _, want := range []string{"checking integrity", "running PRAGMA optimize", "analyzing", "vacuuming"} {
				if !slices.Contains(steps, want) {
					t.Errorf("progress steps %q lack %q", steps, want)
				}
			}
			if prev != 100 {
				t.Errorf("last progress = %d, want 100", prev)
			}
		})
	}
}

func TestOptimizeDatabaseCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	createDB(t, path, "delete", 400, 200)
	pageSize := pragmaInt(t, path, "page_size")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) < 3*pageSize {
		t.Fatalf("database is %d bytes, too small to damage page 2", len(data))
	}
	for i := pageSize; i < 2*pageSize; i++ {
		data[i] = byte(i*13 + 7)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	r := newTestReporter(t)
	err = (&tasks.OptimizeDatabase{Path: path}).Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), "integrity check") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run = %v, want an integrity check error naming %s", err, path)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("the damaged database was changed")
	}
	if n := names(t, filepath.Dir(path)); !slices.Equal(n, []string{"butler.db"}) {
		t.Errorf("directory holds %q, want only butler.db", n)
	}
	for _, e := range r.progress() {
		if e.Step != "checking integrity" {
			t.Errorf("went on to %q after a failed integrity check", e.Step)
		}
	}
}

func TestOptimizeDatabaseCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	createDB(t, path, "wal", 100, 100)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := (&tasks.OptimizeDatabase{Path: path}).Run(ctx, newTestReporter(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
	}
}

func TestOptimizeDatabaseCancelledDuringVacuum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	createDB(t, path, "wal", 1000, 500)
	db := openDB(t, path, "wal")
	if _, err := db.Exec(`DELETE FROM items WHERE id <= 300`); err != nil { // enough free pages to vacuum
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wantRows, wantDigest := digest(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(_ int, step string) {
		if step == "vacuuming" {
			cancel()
		}
	})
	err := (&tasks.OptimizeDatabase{Path: path}).Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
	}
	if r.summary() != "" {
		t.Errorf("summary = %q after a cancelled run, want none", r.summary())
	}
	if s := integrity(t, path); s != "ok" {
		t.Errorf("integrity check after a cancelled run = %q", s)
	}
	if gotRows, gotDigest := digest(t, path); gotRows != wantRows || gotDigest != wantDigest {
		t.Errorf("database holds %d rows after a cancelled run, want %d with the same content", gotRows, wantRows)
	}
}

func TestOptimizeDatabaseMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.db")
	err := (&tasks.OptimizeDatabase{Path: path}).Run(t.Context(), newTestReporter(t))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run = %v, want an error naming %s", err, path)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %q, want nothing: a missing database must not be created", n)
	}
	if err := (&tasks.OptimizeDatabase{}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("Run without a path succeeded")
	}
}

// TestOptimizeDatabase_WhileWritten: a writer keeps inserting while the
// database is optimised; both succeed and no row is lost. (It found that
// PRAGMA optimize failed at once with SQLITE_BUSY_SNAPSHOT when a write
// landed between its read and its write; steps are now tried again.)
func TestOptimizeDatabase_WhileWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	createDB(t, path, "wal", 3000, 500)
	db := openDB(t, path, "wal")
	if _, err := db.Exec(`DELETE FROM items WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wrote := make(chan int)
	firstWrite := make(chan struct{})
	go func() {
		n := 0
		for id := 100000; ; id++ {
			select {
			case <-stop:
				wrote <- n
				return
			default:
			}
			if _, err := db.Exec(`INSERT INTO items (id, name, payload) VALUES (?, 'w', x'00')`, id); err != nil {
				t.Errorf("writer: %v", err)
				wrote <- n
				return
			}
			n++
			if n == 1 {
				close(firstWrite)
			}
			// A busy application: 500 writes a second. (A writer that
			// never pauses can starve any other writer: SQLite's lock is
			// not fair.)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	<-firstWrite
	err := (&tasks.OptimizeDatabase{Path: path}).Run(t.Context(), newTestReporter(t))
	close(stop)
	n := <-wrote
	if err != nil {
		t.Fatalf("optimize while written: %v", err)
	}
	var got int
	if err := db.QueryRow(`SELECT count(*) FROM items WHERE name = 'w'`).Scan(&got); err != nil || got != n {
		t.Fatalf("writer inserted %d rows, %d are there (%v)", n, got, err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity after: %q %v", ok, err)
	}
	t.Logf("the writer inserted %d rows during the optimisation", n)
}

// A database with little free space (under a tenth of its pages) is checked
// and analysed but not vacuumed: VACUUM would hold every writer back for a
// rewrite of the whole file to reclaim next to nothing. The summary says
// so; the file is unchanged in size.
func TestOptimizeDatabase_LittleFreeIsNotVacuumed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "butler.db")
	createDB(t, path, "wal", 3000, 500)
	db := openDB(t, path, "wal")
	if _, err := db.Exec(`DELETE FROM items WHERE id <= 150`); err != nil { // 5% of the rows, whole pages of them
		t.Fatal(err)
	}
	var free, pages int64
	db.QueryRow(`PRAGMA freelist_count`).Scan(&free)
	db.QueryRow(`PRAGMA page_count`).Scan(&pages)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if free == 0 || free*tasks.VacuumFree >= pages {
		t.Fatalf("%d free pages of %d; the test wants some, under a tenth", free, pages)
	}
	r := newTestReporter(t)
	if err := (&tasks.OptimizeDatabase{Path: path}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	for _, e := range r.progress() {
		if e.Step == "vacuuming" {
			t.Errorf("progress %+v: vacuumed a database with %d free pages of %d", r.progress(), free, pages)
		}
	}
	// ANALYZE takes a few of the free pages for its statistics.
	want := regexp.MustCompile(`^checked and analysed [0-9.]+ [KM]iB; not vacuumed: ([0-9]+) of its ` + fmt.Sprint(pages) + ` pages free, under a tenth$`)
	if m := want.FindStringSubmatch(r.summary()); m == nil || m[1] == "0" {
		t.Errorf("summary %q; want it to match %s with some pages free", r.summary(), want)
	}
	db = openDB(t, path, "wal")
	var after int64
	db.QueryRow(`PRAGMA page_count`).Scan(&after)
	db.Close()
	if after != pages {
		t.Errorf("%d pages after; want %d, as before (no VACUUM)", after, pages)
	}
}
