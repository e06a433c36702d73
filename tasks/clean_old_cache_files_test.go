package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/tasks"
)

// writeFile creates path (and its directory) with size bytes and the
// modification time mtime.
func writeFile(t *testing.T, path string, size int, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// tree returns the slash paths of everything under dir, directories with a
// trailing slash, symbolic links with " -> target".
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rel += " -> " + filepath.ToSlash(target)
		case d.IsDir():
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cacheFixture is a cache directory with old and new files, empty and
// soon-emptied directories and symbolic links to old things outside it.
type cacheFixture struct {
	cache, outside string
	oldBytes       int64 // total size of the old regular files in cache
}

// newCacheFixture builds the fixture. Old files are 10 days older than now,
// new ones an hour older; the files outside the cache are all old. The
// symbolic links get the real current time as their modification time.
func newCacheFixture(t *testing.T, now time.Time) cacheFixture {
	t.Helper()
	tmp := t.TempDir()
	f := cacheFixture{cache: filepath.Join(tmp, "cache"), outside: filepath.Join(tmp, "outside")}
	old, fresh := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
	ancient := now.Add(-100 * 24 * time.Hour)

	writeFile(t, filepath.Join(f.outside, "old.txt"), 7, ancient)
	writeFile(t, filepath.Join(f.outside, "dir", "old-in-linked-dir"), 9, ancient)

	olds := map[string]int{
		"old1.bin":          100,
		"sub/old2":          50,
		"sub2/deeper/old3":  30,
		"mixed/old4":        20,
		"mixed/inner/old5":  10,
		"a/b/c/d/old6":      5,
		"a/b/c/d/e/old7":    1,
		"a/b/new-too/old8":  2,
		"weird name ?#%.x":  3,
		"mixed/inner2/old9": 4,
	}
	for p, n := range olds {
		writeFile(t, filepath.Join(f.cache, filepath.FromSlash(p)), n, old)
		f.oldBytes += int64(n)
	}
	for _, p := range []string{"new1.bin", "mixed/new2", "a/b/new-too/new3"} {
		writeFile(t, filepath.Join(f.cache, filepath.FromSlash(p)), 1000, fresh)
	}
	if err := os.MkdirAll(filepath.Join(f.cache, "empty-already"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.cache, "mixed", "inner2", "empty-child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.outside, "old.txt"), filepath.Join(f.cache, "link-to-outside-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.cache, "sub3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.outside, "dir"), filepath.Join(f.cache, "sub3", "link-to-outside-dir")); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkOutside fails the test unless the files outside the cache are all
// still there.
func (f cacheFixture) checkOutside(t *testing.T) {
	t.Helper()
	want := []string{"dir/", "dir/old-in-linked-dir", "old.txt"}
	if got := tree(t, f.outside); !slices.Equal(got, want) {
		t.Errorf("outside the cache: %q, want %q", got, want)
	}
}

func TestCleanOldCacheFilesOldLinks(t *testing.T) {
	// Now is 30 days ahead, so the links made just now are old: they are
	// removed, their targets are not.
	now := time.Now().Add(30 * 24 * time.Hour)
	f := newCacheFixture(t, now)
	r := newTestReporter(t)
	a := &tasks.CleanOldCacheFiles{Dir: f.cache, Now: func() time.Time { return now }}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"a/", "a/b/", "a/b/new-too/", "a/b/new-too/new3",
		"empty-already/",
		"mixed/", "mixed/inner2/", "mixed/inner2/empty-child/", "mixed/new2",
		"new1.bin",
	}
	if got := tree(t, f.cache); !slices.Equal(got, want) {
		t.Errorf("cache holds\n%q\nwant\n%q", got, want)
	}
	f.checkOutside(t)
	// 10 old files and 2 links; sub, sub2/deeper, sub2, mixed/inner,
	// a/b/c/d/e, a/b/c/d, a/b/c and sub3 emptied.
	wantSum := fmt.Sprintf("removed 12 files (%d B), 8 empty directories", f.oldBytes)
	if got := r.summary(); got != wantSum {
		t.Errorf("summary = %q, want %q", got, wantSum)
	}
	ev := r.progress()
	if len(ev) == 0 || ev[len(ev)-1] != (progressEvent{-1, "scanned 15 files"}) {
		t.Errorf("progress = %+v, want it to end with -1 \"scanned 15 files\"", ev)
	}
}

func TestCleanOldCacheFilesNewLinks(t *testing.T) {
	// With the real time the links are new: they stay, and the directory
	// one points to is not descended into.
	now := time.Now()
	f := newCacheFixture(t, now)
	r := newTestReporter(t)
	a := &tasks.CleanOldCacheFiles{Dir: f.cache, MaxAge: 7 * 24 * time.Hour}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"a/", "a/b/", "a/b/new-too/", "a/b/new-too/new3",
		"empty-already/",
		"link-to-outside-file -> " + filepath.ToSlash(filepath.Join(f.outside, "old.txt")),
		"mixed/", "mixed/inner2/", "mixed/inner2/empty-child/", "mixed/new2",
		"new1.bin",
		"sub3/", "sub3/link-to-outside-dir -> " + filepath.ToSlash(filepath.Join(f.outside, "dir")),
	}
	if got := tree(t, f.cache); !slices.Equal(got, want) {
		t.Errorf("cache holds\n%q\nwant\n%q", got, want)
	}
	f.checkOutside(t)
	wantSum := fmt.Sprintf("removed 10 files (%d B), 7 empty directories", f.oldBytes)
	if got := r.summary(); got != wantSum {
		t.Errorf("summary = %q, want %q", got, wantSum)
	}
}

func TestCleanOldCacheFilesKeepsDir(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "cache")
	writeFile(t, filepath.Join(dir, "x", "y", "old"), 2048, now.Add(-8*24*time.Hour))
	writeFile(t, filepath.Join(dir, "old"), 1024*1024+512*1024, now.Add(-8*24*time.Hour))
	r := newTestReporter(t)
	a := &tasks.CleanOldCacheFiles{Dir: dir, Now: func() time.Time { return now }}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := tree(t, dir); len(got) != 0 {
		t.Errorf("cache holds %q, want nothing", got)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("cache directory itself removed: %v", err)
	}
	if got, want := r.summary(), "removed 2 files (1.5 MiB), 2 empty directories"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestCleanOldCacheFilesMaxAge(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "2h"), 1, now.Add(-2*time.Hour))
	writeFile(t, filepath.Join(dir, "30m"), 1, now.Add(-30*time.Minute))
	writeFile(t, filepath.Join(dir, "exactly-1h"), 1, now.Add(-time.Hour))
	a := &tasks.CleanOldCacheFiles{Dir: dir, MaxAge: time.Hour, Now: func() time.Time { return now }}
	if err := a.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := tree(t, dir), []string{"30m", "exactly-1h"}; !slices.Equal(got, want) {
		t.Errorf("cache holds %q, want %q", got, want)
	}
}

func TestCleanOldCacheFilesMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	r := newTestReporter(t)
	if err := (&tasks.CleanOldCacheFiles{Dir: dir}).Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := r.summary(), "cache directory does not exist"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("missing cache directory created (stat error %v)", err)
	}
}

func TestCleanOldCacheFilesNotADir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := (&tasks.CleanOldCacheFiles{Dir: path}).Run(t.Context(), newTestReporter(t))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run = %v, want an error naming %s", err, path)
	}
	if err := (&tasks.CleanOldCacheFiles{}).Run(t.Context(), newTestReporter(t)); err == nil {
		t.Error("Run without a directory succeeded")
	}
}

func TestCleanOldCacheFilesDirIsLink(t *testing.T) {
	// Dir itself may be a link to the cache directory.
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	tmp := t.TempDir()
	real := filepath.Join(tmp, "real")
	writeFile(t, filepath.Join(real, "old"), 1, now.Add(-30*24*time.Hour))
	link := filepath.Join(tmp, "cache")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	a := &tasks.CleanOldCacheFiles{Dir: link, Now: func() time.Time { return now }}
	if err := a.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := tree(t, real); len(got) != 0 {
		t.Errorf("cache holds %q, want nothing", got)
	}
}

func TestCleanOldCacheFilesCancelled(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	const n = 1000
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%04d", i)), 1, now.Add(-30*24*time.Hour))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := &tasks.CleanOldCacheFiles{Dir: dir, Now: func() time.Time { return now }}
	if err := a.Run(ctx, newTestReporter(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, want an error wrapping context.Canceled", err)
	}
	if got := len(tree(t, dir)); got != n+10 {
		t.Fatalf("cache holds %d entries after a run cancelled before it started, want %d", got, n+10)
	}

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(int, string) { cancel() })
	err := a.Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
	}
	left := len(tree(t, dir))
	if left == 0 || left >= n+10 {
		t.Errorf("cache holds %d entries after a run cancelled part-way, want some but not all of %d", left, n+10)
	}
	if r.summary() != "" {
		t.Errorf("summary = %q after a cancelled run, want none", r.summary())
	}
}
