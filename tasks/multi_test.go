package tasks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// dbFixture is a directory with two good databases, a missing one and a
// file that is not a SQLite database.
type dbFixture struct {
	dir                        string
	good1, missing, bad, good2 string
	badContent                 []byte
}

func newDBFixture(t *testing.T) dbFixture {
	t.Helper()
	dir := t.TempDir()
	f := dbFixture{
		dir:     dir,
		good1:   filepath.Join(dir, "one.db"),
		missing: filepath.Join(dir, "missing.db"),
		bad:     filepath.Join(dir, "notes.db"),
		good2:   filepath.Join(dir, "two.db"),
	}
	createDB(t, f.good1, "delete", 300, 200)
	createDB(t, f.good2, "wal", 300, 200)
	f.badContent = bytes.Repeat([]byte("these are not the pages of a SQLite database\n"), 200)
	if err := os.WriteFile(f.bad, f.badContent, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkOverallProgress checks that progress never went back, ended at 100
// and that steps name the target they belong to, for the targets (counted
// from 1) named.
func checkOverallProgress(t *testing.T, r *testReporter, n int, named ...int) {
	t.Helper()
	prev := -1
	events := r.progress()
	for _, e := range events {
		if e.Percent < prev {
			t.Errorf("progress went back from %d to %d (%q)", prev, e.Percent, e.Step)
		}
		prev = e.Percent
	}
	if prev != 100 {
		t.Errorf("last progress = %d, want 100", prev)
	}
	for _, i := range named {
		want := fmt.Sprintf(" (%d of %d): ", i, n)
		if !slices.ContainsFunc(events, func(e progressEvent) bool { return strings.Contains(e.Step, want) }) {
			t.Errorf("no progress step names target %d with %q", i, want)
		}
	}
}

func TestBackupDatabasesGoesOnAfterFailures(t *testing.T) {
	f := newDBFixture(t)
	backups := t.TempDir()
	target := func(src string) tasks.BackupDatabase {
		return tasks.BackupDatabase{Source: src, Dir: fixedDir(filepath.Join(backups, filepath.Base(src)))}
	}
	a := &tasks.BackupDatabases{Targets: []tasks.BackupDatabase{target(f.good1), target(f.missing), target(f.bad), target(f.good2)}}
	r := newTestReporter(t)
	err := a.Run(t.Context(), r)

	var te *tasks.TargetsError
	if !errors.As(err, &te) {
		t.Fatalf("Run = %v, want a *tasks.TargetsError", err)
	}
	if !slices.Equal(te.Failed, []string{f.missing, f.bad}) || te.Total != 4 {
		t.Errorf("failed targets = %q of %d, want the missing and the bad one of 4", te.Failed, te.Total)
	}
	msg := err.Error()
	for _, want := range []string{"2 of 4 databases failed: ", f.missing + ": open source database", "no such file",
		f.bad + ": source " + f.bad + " is not a readable SQLite database"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q is not one line", msg)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Error("error does not wrap the missing database's fs.ErrNotExist")
	}
	for _, good := range []string{f.good1, f.good2} {
		if n := names(t, filepath.Join(backups, filepath.Base(good))); len(n) != 1 {
			t.Errorf("backups of %s: %q, want one", good, n)
		}
	}
	for _, failed := range []string{f.missing, f.bad} {
		if n := names(t, filepath.Join(backups, filepath.Base(failed))); len(n) != 0 {
			t.Errorf("a failed backup of %s left %q", failed, n)
		}
	}
	if got, _ := os.ReadFile(f.bad); !bytes.Equal(got, f.badContent) {
		t.Error("the file that is not a database was changed")
	}
	if _, err := os.Stat(f.missing); !errors.Is(err, os.ErrNotExist) {
		t.Error("the missing database was created")
	}
	sum := r.summary()
	for _, want := range []string{f.good1 + ": backup one-", f.missing + ": failed", f.bad + ": failed", f.good2 + ": backup two-"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	checkOverallProgress(t, r, 4, 1, 2, 3, 4)
}

func TestOptimizeDatabasesGoesOnAfterFailures(t *testing.T) {
	f := newDBFixture(t)
	a := &tasks.OptimizeDatabases{Targets: []tasks.OptimizeDatabase{{Path: f.good1}, {Path: f.missing}, {Path: f.bad}, {Path: f.good2}}}
	r := newTestReporter(t)
	err := a.Run(t.Context(), r)
	var te *tasks.TargetsError
	if !errors.As(err, &te) || !slices.Equal(te.Failed, []string{f.missing, f.bad}) {
		t.Fatalf("Run = %v, want the missing and the bad target failed", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "2 of 4 databases failed: "+f.missing+": open database: ") ||
		!strings.Contains(msg, "; "+f.bad+": optimize database "+f.bad+": integrity check: ") {
		t.Errorf("error = %q", msg)
	}
	if got, _ := os.ReadFile(f.bad); !bytes.Equal(got, f.badContent) {
		t.Error("the file that is not a database was changed")
	}
	if n := names(t, f.dir); !slices.Equal(n, []string{"notes.db", "one.db", "two.db", "two.db-shm", "two.db-wal"}) &&
		!slices.Equal(n, []string{"notes.db", "one.db", "two.db"}) {
		t.Errorf("directory holds %q: a database was created or a side file left", n)
	}
	sum := r.summary()
	for _, good := range []string{f.good1, f.good2} {
		if !strings.Contains(sum, good+": reclaimed ") && !strings.Contains(sum, good+": checked and analysed ") {
			t.Errorf("summary = %q; want what was done to %s", sum, good)
		}
	}
	checkOverallProgress(t, r, 4, 1, 2, 3, 4)
}

func TestDatabasesNoTargets(t *testing.T) {
	if err := (&tasks.BackupDatabases{}).Run(t.Context(), newTestReporter(t)); err == nil || !strings.Contains(err.Error(), "no databases set") {
		t.Errorf("BackupDatabases without targets = %v", err)
	}
	if err := (&tasks.OptimizeDatabases{}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("OptimizeDatabases without targets succeeded")
	}
	if err := (&tasks.CleanCaches{}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("CleanCaches without targets succeeded")
	}
}

// TestDatabasesLocked holds an exclusive lock on one database while the
// multi-database actions run: that target fails once the busy timeout
// (5 s, fixed in the tasks package) is over, unchanged, and the next
// target is still done.
func TestDatabasesLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5 s busy timeout")
	}
	const busyTimeout = 5 * time.Second
	fileBytes := func(t *testing.T, path string) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(t *testing.T, err error, elapsed time.Duration, locked string) {
		t.Helper()
		var te *tasks.TargetsError
		if !errors.As(err, &te) || !slices.Equal(te.Failed, []string{locked}) {
			t.Fatalf("Run = %v, want only the locked target failed", err)
		}
		if !strings.Contains(err.Error(), "database is locked") {
			t.Errorf("error %q does not say the database is locked", err)
		}
		if elapsed < busyTimeout-500*time.Millisecond || elapsed > 4*busyTimeout {
			t.Errorf("Run took %s, want about the busy timeout of %s", elapsed, busyTimeout)
		}
	}

	t.Run("optimize", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		locked, other := filepath.Join(dir, "locked.db"), filepath.Join(dir, "other.db")
		createDB(t, locked, "delete", 200, 200)
		createDB(t, other, "delete", 200, 200)
		before := fileBytes(t, locked)
		holdExclusiveLock(t, locked)
		r := newTestReporter(t)
		start := time.Now()
		err := (&tasks.OptimizeDatabases{Targets: []tasks.OptimizeDatabase{{Path: locked}, {Path: other}}}).Run(t.Context(), r)
		check(t, err, time.Since(start), locked)
		if !bytes.Equal(fileBytes(t, locked), before) {
			t.Error("the locked database was changed")
		}
		if sum := r.summary(); !strings.Contains(sum, other+": reclaimed ") && !strings.Contains(sum, other+": checked and analysed ") {
			t.Errorf("summary = %q, want the other database optimized", sum)
		}
	})
	t.Run("backup", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		locked, other := filepath.Join(dir, "locked.db"), filepath.Join(dir, "other.db")
		createDB(t, locked, "delete", 200, 200)
		createDB(t, other, "delete", 200, 200)
		holdExclusiveLock(t, locked)
		backups := filepath.Join(dir, "backups")
		r := newTestReporter(t)
		start := time.Now()
		err := (&tasks.BackupDatabases{Targets: []tasks.BackupDatabase{
			{Source: locked, Dir: fixedDir(filepath.Join(backups, "locked"))},
			{Source: other, Dir: fixedDir(filepath.Join(backups, "other"))},
		}}).Run(t.Context(), r)
		check(t, err, time.Since(start), locked)
		if n := names(t, filepath.Join(backups, "locked")); len(n) != 0 {
			t.Errorf("the failed backup left %q", n)
		}
		if n := names(t, filepath.Join(backups, "other")); len(n) != 1 {
			t.Errorf("backups of the other database: %q, want one", n)
		}
	})
}

// TestDatabasesStopped stops a run during its first target: the target
// stops, the others are not started.
func TestDatabasesStopped(t *testing.T) {
	f := newDBFixture(t)
	backups := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(_ int, step string) {
		if strings.Contains(step, "(1 of 2)") {
			cancel()
		}
	})
	a := &tasks.BackupDatabases{Targets: []tasks.BackupDatabase{
		{Source: f.good1, Dir: fixedDir(filepath.Join(backups, "1"))},
		{Source: f.good2, Dir: fixedDir(filepath.Join(backups, "2"))},
	}}
	err := a.Run(ctx, r)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), f.good1) {
		t.Fatalf("Run = %v, want a stop during %s wrapping context.Canceled", err, f.good1)
	}
	for _, d := range []string{"1", "2"} {
		if n := names(t, filepath.Join(backups, d)); len(n) != 0 {
			t.Errorf("backup directory %s holds %q after the stop", d, n)
		}
	}
	if r.summary() != "" {
		t.Errorf("summary = %q after a stop, want none", r.summary())
	}
}

func TestBackupDatabasesRecover(t *testing.T) {
	backups := t.TempDir()
	var targets []tasks.BackupDatabase
	for _, name := range []string{"a", "b"} {
		dir := filepath.Join(backups, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"." + name + "-20261128-031500-123.tmp", name + "-20261128-031500.db"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		targets = append(targets, tasks.BackupDatabase{Source: "/db/" + name + ".db", Dir: fixedDir(dir)})
	}
	if err := (&tasks.BackupDatabases{Targets: targets}).Recover(t.Context(), butler.Settings{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if n := names(t, filepath.Join(backups, name)); !slices.Equal(n, []string{name + "-20261128-031500.db"}) {
			t.Errorf("after Recover %s holds %q, want only the finished backup", name, n)
		}
	}
}

func TestCleanCaches(t *testing.T) {
	now := time.Now()
	old, fresh := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeFile(t, filepath.Join(a, "old"), 10, old)
	writeFile(t, filepath.Join(a, "new"), 10, fresh)
	writeFile(t, filepath.Join(b, "old"), 10, old)
	for i, n := range []string{"n1", "n2", "n3", "n4"} {
		writeFile(t, filepath.Join(b, n), 100, fresh.Add(time.Duration(i)*time.Minute))
	}
	c := &tasks.CleanCaches{
		Targets:  []tasks.CleanOldCacheFiles{{Dir: a}, {Dir: filepath.Join(root, "missing")}, {Dir: b}},
		SizeCaps: []tasks.CleanCacheSizeCap{{Dir: b, MaxBytes: 250}},
	}
	r := newTestReporter(t)
	if err := c.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := tree(t, a); !slices.Equal(got, []string{"new"}) {
		t.Errorf("a holds %q, want only new", got)
	}
	// The age rule removed b/old first, then the cap the two oldest of the
	// rest.
	if got := tree(t, b); !slices.Equal(got, []string{"n3", "n4"}) {
		t.Errorf("b holds %q, want n3 and n4", got)
	}
	sum := r.summary()
	for _, want := range []string{a + ": removed 1 file", root + "/missing: cache directory does not exist", b + " (size cap): removed 2 files"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	checkOverallProgress(t, r, 4, 1, 2, 3, 4)
}

// recoverAction is an action that counts its runs and recoveries.
type recoverAction struct {
	runs, recovers int
	err            error
}

func (a *recoverAction) Run(ctx context.Context, r butler.Reporter) error {
	a.runs++
	r.Progress(50, "half")
	if a.err == nil {
		r.Summary("ok")
	}
	return a.err
}

func (a *recoverAction) Recover(context.Context, butler.Settings) error { a.recovers++; return nil }

func TestSequence(t *testing.T) {
	boom := errors.New("boom")
	first, second, third := &recoverAction{}, &recoverAction{err: boom}, &recoverAction{}
	q := &tasks.Sequence{One: "database", Many: "databases", Op: "backup of databases", Steps: []tasks.Step{
		{Label: "Butler's database", Action: first},
		{Label: "/b.db", Action: second},
		{Label: "/c.db", Action: butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error { return third.Run(ctx, r) })},
	}}
	r := newTestReporter(t)
	err := q.Run(t.Context(), r)
	if !errors.Is(err, boom) || err.Error() != "1 of 3 databases failed: /b.db: boom" {
		t.Fatalf("Run = %v", err)
	}
	if first.runs != 1 || second.runs != 1 || third.runs != 1 {
		t.Errorf("runs = %d, %d, %d; want each once", first.runs, second.runs, third.runs)
	}
	if sum := r.summary(); sum != "Butler's database: ok; /b.db: failed; /c.db: ok" {
		t.Errorf("summary = %q", sum)
	}
	checkOverallProgress(t, r, 3, 1, 2, 3)
	if got := r.progress(); !slices.Contains(got, progressEvent{50, "/b.db (2 of 3): half"}) {
		t.Errorf("progress %+v lacks the second step's half way, scaled to 50", got)
	}
	if err := q.Recover(t.Context(), butler.Settings{}); err != nil || first.recovers != 1 || second.recovers != 1 {
		t.Errorf("Recover = %v; recoveries %d, %d", err, first.recovers, second.recovers)
	}
}
