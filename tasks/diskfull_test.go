package tasks_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

// smallFS mounts a tmpfs of size bytes (root only); it skips the test where
// that is not possible.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

// TestBackupDatabase_DiskFull: a backup that does not fit fails, leaves no
// partial file, and the backups already there stay whole.
func TestBackupDatabase_DiskFull(t *testing.T) {
	backups := smallFS(t, "1m")
	src := filepath.Join(t.TempDir(), "app.db")
	createDB(t, src, "wal", 100, 4000) // ~0.5 MB: fits
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	b := &tasks.BackupDatabase{Source: src, Dir: func() string { return backups }, Now: func() time.Time { return now }}
	if err := b.Run(context.Background(), newTestReporter(t)); err != nil {
		t.Fatalf("first backup: %v", err)
	}
	first, _ := filepath.Glob(filepath.Join(backups, "app-*.db"))
	if len(first) != 1 {
		t.Fatalf("backups %v, want one", first)
	}
	good, err := os.ReadFile(first[0])
	if err != nil {
		t.Fatal(err)
	}
	// Grow the source past what is left on the small file system.
	db := openDB(t, src, "wal")
	insertRows(t, db, 100, 300, 4000) // now ~1.7 MB
	db.Close()
	now = now.Add(time.Hour)
	err = b.Run(context.Background(), newTestReporter(t))
	if err == nil {
		t.Fatal("a backup larger than the free space succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "no space") && !strings.Contains(strings.ToLower(err.Error()), "full") {
		t.Errorf("error %q does not say the disk is full", err)
	}
	entries, _ := os.ReadDir(backups)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != filepath.Base(first[0]) {
		t.Fatalf("backup directory holds %v after the failed backup, want only %s", names, filepath.Base(first[0]))
	}
	after, err := os.ReadFile(first[0])
	if err != nil || !bytes.Equal(after, good) {
		t.Fatalf("the old backup changed (%v)", err)
	}
}
