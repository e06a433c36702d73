package tasks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

// TestLockTimeout checks that BackupDatabase and OptimizeDatabase wait for
// a lock as long as their LockTimeout says, not the 5 s default, fail
// naming the lock, and change nothing.
func TestLockTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	dir := t.TempDir()
	src := filepath.Join(dir, "app.db")
	createDB(t, src, "delete", 50, 100)
	before, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	holdExclusiveLock(t, src)
	backups := filepath.Join(dir, "backups")

	for _, c := range []struct {
		name   string
		run    func() error
		reason string
	}{
		{"BackupDatabase", func() error {
			b := &tasks.BackupDatabase{Source: src, Dir: func() string { return backups }, LockTimeout: timeout}
			return b.Run(t.Context(), newTestReporter(t))
		}, "locked by another connection (waited 300ms)"},
		{"OptimizeDatabase", func() error {
			return (&tasks.OptimizeDatabase{Path: src, LockTimeout: timeout}).Run(t.Context(), newTestReporter(t))
		}, "database is locked"},
	} {
		start := time.Now()
		err := c.run()
		elapsed := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s on a locked database: err = %v, want one that says %q", c.name, err, c.reason)
		}
		if elapsed < timeout-50*time.Millisecond || elapsed >= tasks.DefaultLockTimeout {
			t.Errorf("%s gave up after %s, want about its LockTimeout of %s", c.name, elapsed, timeout)
		}
	}
	if _, err := os.Stat(backups); err == nil {
		entries, _ := os.ReadDir(backups)
		if len(entries) > 0 {
			t.Errorf("the backup directory has %d entries after the failed backup, want none", len(entries))
		}
	}
	after, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("the locked database changed")
	}
}
