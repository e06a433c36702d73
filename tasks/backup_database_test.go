package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// fixedDir returns a BackupDatabase.Dir that always returns dir.
func fixedDir(dir string) func() string { return func() string { return dir } }

// clock returns a Now that returns start, start+step, start+2*step, ...
func clock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(step)
		return t
	}
}

func TestBackupDatabase(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			tmp := t.TempDir()
			src := filepath.Join(tmp, "butler.db")
			createDB(t, src, mode, 500, 300)
			wantRows, wantDigest := digest(t, src)

			dir := filepath.Join(tmp, "backups", "db") // does not exist yet
			// Names use UTC whatever the zone of Now.
			now := time.Date(2026, 11, 28, 4, 15, 0, 0, time.FixedZone("CET", 3600))
			a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir), Now: func() time.Time { return now }}
			r := newTestReporter(t)
			if err := a.Run(t.Context(), r); err != nil {
				t.Fatalf("Run: %v", err)
			}

			const name = "butler-20261128-031500.db"
			if got := names(t, dir); !slices.Equal(got, []string{name}) {
				t.Fatalf("backup directory holds %q, want only %s", got, name)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o700 {
				t.Errorf("backup directory permissions = %o, want 700", perm)
			}
			backup := filepath.Join(dir, name)
			if got := integrity(t, backup); got != "ok" {
				t.Errorf("integrity check of the backup = %q, want ok", got)
			}
			gotRows, gotDigest := digest(t, backup)
			if gotRows != wantRows || gotDigest != wantDigest {
				t.Errorf("backup holds %d rows (digest %s), want %d rows (digest %s)", gotRows, gotDigest, wantRows, wantDigest)
			}
			if jm := pragmaString(t, backup, "journal_mode"); jm != "delete" {
				t.Errorf("journal mode of the backup = %q, want delete", jm)
			}
			// Reading the backup must not have left side files.
			if got := names(t, dir); !slices.Equal(got, []string{name}) {
				t.Errorf("backup directory holds %q after reading the backup, want only %s", got, name)
			}

			sum := r.summary()
			if !strings.HasPrefix(sum, "backup "+name+", ") || !strings.HasSuffix(sum, ", 0 old backups removed") {
				t.Errorf("summary = %q, want \"backup %s, <size>, 0 old backups removed\"", sum, name)
			}
			var copying []progressEvent
			for _, e := range r.progress() {
				if strings.HasPrefix(e.Step, "copying pages ") {
					copying = append(copying, e)
				}
			}
			if len(copying) == 0 {
				t.Fatal("no \"copying pages\" progress reported")
			}
			last := copying[len(copying)-1]
			pages := pragmaInt(t, src, "page_count")
			if want := fmt.Sprintf("copying pages %d/%d", pages, pages); last.Percent != 100 || last.Step != want {
				t.Errorf("last copying progress = %+v, want 100 %q", last, want)
			}
		})
	}
}

func TestBackupDatabaseKeepsNewest(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 50, 100)
	dir := filepath.Join(tmp, "backups")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Files that are not backups of this source stay; stale temporary files
	// of this source go.
	keepers := []string{
		"other-20200101-000000.db",        // another source's backup
		"butler-extra-20200101-000000.db", // another source's backup
		"butler-notes.txt",
		"butler-2020.db",
		".other-20200101-000000-123.tmp",
	}
	stale := []string{
		".butler-20200101-000000-123.tmp",
		".butler-20200101-000000-123.tmp-journal",
	}
	for _, n := range append(slices.Clone(keepers), stale...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	a := &tasks.BackupDatabase{
		Source: src,
		Dir:    fixedDir(dir),
		Now:    clock(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC), time.Hour),
	}
	var summaries []string
	for range 5 {
		r := newTestReporter(t)
		if err := a.Run(t.Context(), r); err != nil {
			t.Fatalf("Run: %v", err)
		}
		summaries = append(summaries, r.summary())
	}
	want := append(slices.Clone(keepers),
		"butler-20261128-050000.db", "butler-20261128-060000.db", "butler-20261128-070000.db")
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("backup directory holds\n%q\nwant\n%q", got, want)
	}
	if !strings.HasSuffix(summaries[0], ", 0 old backups removed, 2 stale temporary files removed") {
		t.Errorf("first summary = %q, want it to count 2 stale temporary files", summaries[0])
	}
	if !strings.HasSuffix(summaries[3], ", 1 old backup removed") {
		t.Errorf("fourth summary = %q, want \"..., 1 old backup removed\"", summaries[3])
	}
}

func TestBackupDatabaseKeepsTheNewBackup(t *testing.T) {
	// Backups dated after Now (a clock that went back) do not push out the
	// one just written.
	tmp := t.TempDir()
	src := filepath.Join(tmp, "library.sqlite3")
	createDB(t, src, "wal", 10, 10)
	dir := filepath.Join(tmp, "backups")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"library-20300101-000000.db", "library-20300102-000000.db", "library-20300103-000000.db"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := &tasks.BackupDatabase{
		Source: src,
		Dir:    fixedDir(dir),
		Keep:   2,
		Now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	r := newTestReporter(t)
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"library-20260102-030405.db", "library-20300103-000000.db"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("backup directory holds %q, want %q", got, want)
	}
	if s := r.summary(); !strings.HasSuffix(s, ", 2 old backups removed") {
		t.Errorf("summary = %q, want \"..., 2 old backups removed\"", s)
	}
}

func TestBackupDatabaseReadsDirAtEachRun(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 10, 10)
	dirs := []string{filepath.Join(tmp, "a"), filepath.Join(tmp, "b")}
	i := 0
	a := &tasks.BackupDatabase{
		Source: src,
		Dir:    func() string { d := dirs[i]; i++; return d },
		Now:    clock(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC), time.Second),
	}
	for range 2 {
		if err := a.Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if got := names(t, dirs[0]); !slices.Equal(got, []string{"butler-20261128-030000.db"}) {
		t.Errorf("first directory holds %q", got)
	}
	if got := names(t, dirs[1]); !slices.Equal(got, []string{"butler-20261128-030001.db"}) {
		t.Errorf("second directory holds %q", got)
	}
}

func TestBackupDatabaseOddPath(t *testing.T) {
	// Characters that mean something in a URI must not confuse the DSN.
	tmp := filepath.Join(t.TempDir(), "dir with ?#% chars")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(tmp, "my db?x=1#frag%20.db")
	createDB(t, src, "wal", 20, 20)
	dir := filepath.Join(tmp, "back ups?")
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	if err := a.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "my db?x=1#frag%20-20260101-000000.db"
	if got := names(t, dir); !slices.Equal(got, []string{want}) {
		t.Fatalf("backup directory holds %q, want %q", got, want)
	}
	if n, _ := digest(t, filepath.Join(dir, want)); n != 20 {
		t.Errorf("backup holds %d rows, want 20", n)
	}
}

func TestBackupDatabaseCancelledBeforeRun(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 10, 10)
	dir := filepath.Join(tmp, "backups")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
	err := a.Run(ctx, newTestReporter(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("backup directory exists after a cancelled run (stat error %v)", err)
	}
}

func TestBackupDatabaseCancelledMidway(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			tmp := t.TempDir()
			src := filepath.Join(tmp, "butler.db")
			createDB(t, src, mode, 2500, 3500)
			if pages := pragmaInt(t, src, "page_count"); pages < 2000 {
				t.Fatalf("source has %d pages, want 2000 or more", pages)
			}
			dir := filepath.Join(tmp, "backups")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := newTestReporter(t)
			r.setOnProgress(func(int, string) { cancel() })
			a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
			err := a.Run(ctx, r)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
			}
			if ev := r.progress(); len(ev) != 1 || ev[0].Percent >= 100 {
				t.Errorf("progress = %+v, want a single report part-way", ev)
			}
			if got := names(t, dir); len(got) != 0 {
				t.Errorf("backup directory holds %q after a cancelled run, want nothing", got)
			}
			if r.summary() != "" {
				t.Errorf("summary = %q after a cancelled run, want none", r.summary())
			}
		})
	}
}

func TestBackupDatabaseNotSQLite(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	if err := os.WriteFile(src, []byte(strings.Repeat("this is not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "backups")
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
	err := a.Run(t.Context(), newTestReporter(t))
	if err == nil || !strings.Contains(err.Error(), "is not a readable SQLite database") || !strings.Contains(err.Error(), src) {
		t.Fatalf("Run = %v, want an error saying %s is not a readable SQLite database", err, src)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("backup directory exists after a failed run (stat error %v)", err)
	}
	if got := names(t, tmp); !slices.Equal(got, []string{"butler.db"}) {
		t.Errorf("source directory holds %q, want only butler.db", got)
	}
}

func TestBackupDatabaseMissingSource(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "missing.db")
	dir := filepath.Join(tmp, "backups")
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
	if err := a.Run(t.Context(), newTestReporter(t)); err == nil || !strings.Contains(err.Error(), src) {
		t.Fatalf("Run = %v, want an error naming %s", err, src)
	}
	if got := names(t, tmp); len(got) != 0 {
		t.Errorf("directory holds %q after a failed run, want nothing", got)
	}
}

func TestBackupDatabaseBadDir(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 10, 10)
	blocker := filepath.Join(tmp, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", filepath.Join(blocker, "backups")} {
		a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
		err := a.Run(t.Context(), newTestReporter(t))
		if err == nil || !strings.Contains(err.Error(), "backup directory") {
			t.Errorf("Run with directory %q = %v, want an error about the backup directory", dir, err)
		}
	}
	if err := (&tasks.BackupDatabase{Source: src}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("Run without Dir succeeded")
	}
}

func TestBackupDatabaseConcurrentWriter(t *testing.T) {
	// In WAL mode the writer inserts rows as fast as it can for the whole
	// run. Outside WAL mode a writer that never pauses would keep the
	// database locked nearly all the time (as no real server does), so
	// there it writes once between every two steps instead, which makes the
	// copy start over until the backup copies the rest in one step.
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			freeRunning := mode == "wal"
			tmp := t.TempDir()
			src := filepath.Join(tmp, "butler.db")
			const initial = 3000
			createDB(t, src, mode, initial, 1000)
			writer := openDB(t, src, mode)
			ins, err := writer.Prepare(`INSERT INTO items (id, name, payload) VALUES (?, ?, ?)`)
			if err != nil {
				t.Fatal(err)
			}
			defer ins.Close()

			stop := make(chan struct{})
			writeNow := make(chan chan error)
			done := make(chan error, 1)
			exited := make(chan struct{})
			inserted := 0 // read only after done
			go func() {
				id := initial
				insert := func() error {
					_, err := ins.Exec(id, fmt.Sprintf("item %d", id), payload(id, 1000))
					id++
					return err
				}
				loop := func() error {
					for {
						if freeRunning {
							select {
							case <-stop:
								return nil
							case ack := <-writeNow:
								err := insert()
								ack <- err
								if err != nil {
									return err
								}
							default:
								if err := insert(); err != nil {
									return err
								}
							}
							continue
						}
						select {
						case <-stop:
							return nil
						case ack := <-writeNow:
							err := insert()
							ack <- err
							if err != nil {
								return err
							}
						}
					}
				}
				err := loop()
				inserted = id - initial
				done <- err
				close(exited)
			}()
			write := func() {
				ack := make(chan error, 1)
				select {
				case writeNow <- ack:
					if err := <-ack; err != nil {
						t.Errorf("write during the backup: %v", err)
					}
				case <-exited:
					t.Error("the writer stopped early")
				}
			}
			write() // the writer is running before the backup starts

			r := newTestReporter(t)
			var once sync.Once
			r.setOnProgress(func(percent int, step string) {
				if !strings.HasPrefix(step, "copying pages") {
					return
				}
				if freeRunning {
					once.Do(write) // at least one write lands between two steps
				} else {
					write()
				}
			})
			dir := filepath.Join(tmp, "backups")
			a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir)}
			runErr := a.Run(t.Context(), r)
			close(stop)
			if err := <-done; err != nil {
				t.Fatalf("writer: %v", err)
			}
			if runErr != nil {
				t.Fatalf("Run: %v", runErr)
			}
			got := names(t, dir)
			if len(got) != 1 {
				t.Fatalf("backup directory holds %q, want one backup", got)
			}
			backup := filepath.Join(dir, got[0])
			if s := integrity(t, backup); s != "ok" {
				t.Errorf("integrity check of the backup = %q", s)
			}
			n, _ := digest(t, backup)
			if n < initial+1 || n > initial+inserted {
				t.Errorf("backup holds %d rows, want between %d and %d", n, initial+1, initial+inserted)
			}
			t.Logf("backup holds %d rows; the writer inserted %d", n, inserted)

			// In WAL mode the copy comes from one snapshot and never starts
			// over; otherwise the writes between steps restarted it.
			restarted := false
			prev := -1
			for _, e := range r.progress() {
				if !strings.HasPrefix(e.Step, "copying pages") {
					continue
				}
				if e.Percent <= prev {
					restarted = true
				}
				prev = e.Percent
			}
			if restarted != (mode == "delete") {
				t.Errorf("copy restarted = %v in %s mode; progress %+v", restarted, mode, r.progress())
			}
		})
	}
}

func TestBackupDatabase_RecoverRemovesPartialFiles(t *testing.T) {
	dir := t.TempDir()
	backups := filepath.Join(dir, "Backups")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	left := []string{".butler-20261128-031500-123.tmp", ".butler-20261128-031500-123.tmp-journal"}
	kept := []string{"butler-20261127-031500.db", ".other-20261128-031500-1.tmp", "notes.txt"}
	for _, name := range append(append([]string{}, left...), kept...) {
		if err := os.WriteFile(filepath.Join(backups, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := &tasks.BackupDatabase{Source: filepath.Join(dir, "butler.db"), Dir: func() string { return backups }}
	if err := b.Recover(context.Background(), butler.Settings{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(backups, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there after Recover", name)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(backups, name)); err != nil {
			t.Errorf("%s removed by Recover: %v", name, err)
		}
	}
	missing := &tasks.BackupDatabase{Source: "x.db", Dir: func() string { return filepath.Join(dir, "none") }}
	if err := missing.Recover(context.Background(), butler.Settings{}); err != nil {
		t.Fatalf("missing directory: %v", err)
	}
}

// completingReporter records Completed.
type completingReporter struct {
	*testReporter
	completed atomic.Bool
}

func (r *completingReporter) Completed() { r.completed.Store(true) }

// TestBackupDatabaseCompletedOnceInPlace: once the backup is renamed into
// place the work is done, and the run says so (a stop that comes while old
// backups are removed must not make the run "stopped": the task would stay
// due with its backup made).
func TestBackupDatabaseCompletedOnceInPlace(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 50, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &completingReporter{testReporter: newTestReporter(t)}
	var atPrune atomic.Bool
	r.onProgress = func(_ int, step string) {
		if step == "removing old backups" {
			atPrune.Store(r.completed.Load())
			cancel() // a stop
		}
	}
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(filepath.Join(tmp, "backups"))}
	if err := a.Run(ctx, r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !atPrune.Load() {
		t.Error("the backup was in place, and the run had not said its work was done")
	}
}

// With SharedDir (a cluster's backup directory, which other servers may
// write), Recover leaves a partial file written within the hour alone: it
// may be another server's backup under way, and it succeeds; one left
// longer ago goes.
func TestBackupDatabase_RecoverInASharedDirSparesLiveBackups(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "butler.db")
	createDB(t, src, "wal", 2500, 3500)
	dir := filepath.Join(tmp, "backups")
	a := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir), SharedDir: true}
	other := &tasks.BackupDatabase{Source: src, Dir: fixedDir(dir), SharedDir: true} // another server's
	r := newTestReporter(t)
	var once sync.Once
	r.setOnProgress(func(int, string) {
		once.Do(func() {
			if err := other.Recover(context.Background(), butler.Settings{}); err != nil {
				t.Errorf("Recover: %v", err)
			}
		})
	})
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("a backup during which another server's Recover ran failed: %v; the backup directory: %q", err, names(t, dir))
	}
	stale := filepath.Join(dir, ".butler-20261128-031500-9.tmp")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(stale, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := other.Recover(context.Background(), butler.Settings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a partial file two hours old is still there after Recover: %v", err)
	}
}
