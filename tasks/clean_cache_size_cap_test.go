package tasks_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

func TestCleanCacheSizeCap(t *testing.T) {
	now := time.Now()
	tmp := t.TempDir()
	cache, outside := filepath.Join(tmp, "cache"), filepath.Join(tmp, "outside")
	// Ten files of 100 bytes, f0 the oldest; f0..f2 in a directory of
	// their own, which is emptied.
	for i := range 10 {
		name := filepath.Join(cache, "f"+string(rune('0'+i)))
		if i < 3 {
			name = filepath.Join(cache, "sub", "deeper", "f"+string(rune('0'+i)))
		}
		writeFile(t, name, 100, now.Add(-time.Duration(100-i)*time.Hour))
	}
	// Things the cap must neither count nor follow nor remove.
	writeFile(t, filepath.Join(outside, "big"), 5000, now.Add(-1000*time.Hour))
	writeFile(t, filepath.Join(outside, "dir", "big"), 5000, now.Add(-1000*time.Hour))
	if err := os.Symlink(filepath.Join(outside, "big"), filepath.Join(cache, "link-to-big")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "dir"), filepath.Join(cache, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(cache, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	r := newTestReporter(t)
	a := &tasks.CleanCacheSizeCap{Dir: cache, MaxBytes: 450}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"empty/", "f6", "f7", "f8", "f9", "link-to-big -> " + filepath.ToSlash(filepath.Join(outside, "big")),
		"link-to-dir -> " + filepath.ToSlash(filepath.Join(outside, "dir"))}
	if got := tree(t, cache); !slices.Equal(got, want) {
		t.Errorf("cache holds %q, want %q", got, want)
	}
	if got := tree(t, outside); !slices.Equal(got, []string{"big", "dir/", "dir/big"}) {
		t.Errorf("outside holds %q: something outside the cache was touched", got)
	}
	if sum := r.summary(); sum != "removed 6 files (600 B), 2 empty directories; the cache now holds 400 B (cap 450 B)" {
		t.Errorf("summary = %q", sum)
	}

	// Under the cap: nothing to do.
	r = newTestReporter(t)
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if sum := r.summary(); sum != "cache holds 400 B, within its cap of 450 B" {
		t.Errorf("summary = %q", sum)
	}
	if got := tree(t, cache); !slices.Equal(got, want) {
		t.Errorf("a second run changed the cache: %q", got)
	}
}

func TestCleanCacheSizeCapEdges(t *testing.T) {
	dir := t.TempDir()
	r := newTestReporter(t)
	if err := (&tasks.CleanCacheSizeCap{Dir: filepath.Join(dir, "missing"), MaxBytes: 1}).Run(t.Context(), r); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
	if err := (&tasks.CleanCacheSizeCap{Dir: dir}).Run(t.Context(), r); err == nil || !strings.Contains(err.Error(), "no cap set") {
		t.Errorf("no cap: %v", err)
	}
	if err := (&tasks.CleanCacheSizeCap{MaxBytes: 1}).Run(t.Context(), r); err == nil {
		t.Error("no directory: succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (&tasks.CleanCacheSizeCap{Dir: dir, MaxBytes: 1}).Run(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestCleanCacheSizeCapDirIsLink caps a cache directory reached through a
// symbolic link, as CleanOldCacheFiles allows.
func TestCleanCacheSizeCapDirIsLink(t *testing.T) {
	tmp := t.TempDir()
	real := filepath.Join(tmp, "real")
	now := time.Now()
	writeFile(t, filepath.Join(real, "old"), 100, now.Add(-2*time.Hour))
	writeFile(t, filepath.Join(real, "new"), 100, now.Add(-time.Hour))
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := (&tasks.CleanCacheSizeCap{Dir: link, MaxBytes: 150}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, real); !slices.Equal(got, []string{"new"}) {
		t.Errorf("cache holds %q, want only new", got)
	}
}
