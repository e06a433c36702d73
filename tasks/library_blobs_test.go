package tasks_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

func TestGarbageCollectBlobs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Media")
	outside := t.TempDir()
	precious := filepath.Join(outside, "precious.jpg")
	if err := os.WriteFile(precious, []byte("not Butler's"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A bundle with a current manifest: what it lists stays.
	listed := manifestOf(t, root, butler.MediaItem{ID: 1, Path: "/m/a.mkv"}, "a.jpg", "thumbs/1.jpg")
	writeBundle(t, root, 1, "", map[string]string{
		"a.jpg": "a", "thumbs/1.jpg": "1", // listed
		"b.jpg": "bb", "thumbs/2.jpg": "22", ".manifest.json.123.tmp": "{", "deep/er/x": "xxx", // not listed
	})
	if err := os.MkdirAll(filepath.Join(listed, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(precious, filepath.Join(listed, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	// A bundle without a readable manifest: its temporary files alone go.
	broken := writeBundle(t, root, 2, `{"format":1,`, map[string]string{"x.jpg": "x", ".x.jpg.99.tmp": "tmp"})
	// Strays in the root and a shard, a stray folder, an empty shard, a
	// shard that is a link out of the root.
	for _, p := range []string{"stray.txt", "0b/junk", "tmpdir/f"} {
		touch(t, root, p, 4)
	}
	if err := os.MkdirAll(filepath.Join(root, "0a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "cd")); err != nil {
		t.Fatal(err)
	}
	// Two hours later, everything is old enough.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	r := newTestReporter(t)
	if err := (&tasks.GarbageCollectBlobs{Root: root, Now: later}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"a.jpg", "thumbs/1.jpg", butler.BundleManifestName,
	} {
		if !exists(t, filepath.Join(listed, p)) {
			t.Errorf("listed file %s was removed", p)
		}
	}
	for _, p := range []string{"b.jpg", "thumbs/2.jpg", ".manifest.json.123.tmp", "deep", "empty", "link.jpg"} {
		if exists(t, filepath.Join(listed, p)) {
			t.Errorf("unlisted %s is still there", p)
		}
	}
	if !exists(t, filepath.Join(broken, "x.jpg")) || !exists(t, filepath.Join(broken, butler.BundleManifestName)) ||
		exists(t, filepath.Join(broken, ".x.jpg.99.tmp")) {
		t.Errorf("the bundle without a readable manifest: want its temporary file alone removed")
	}
	for _, p := range []string{"stray.txt", "0b", "tmpdir", "0a", "cd"} {
		if exists(t, filepath.Join(root, p)) {
			t.Errorf("stray %s is still there", p)
		}
	}
	if !exists(t, precious) || !exists(t, outside) {
		t.Errorf("a file outside the root was removed through a link")
	}
	// Files: b.jpg, thumbs/2.jpg, the .tmp, deep/er/x, link.jpg, the other
	// .tmp, stray.txt, 0b/junk, tmpdir/f, the link cd. Folders: deep/er,
	// deep, empty, 0b, tmpdir, 0a.
	if s := r.summary(); !strings.HasPrefix(s, "removed 10 unlisted files (") || !strings.HasSuffix(s, ") and 6 empty folders; kept 3 listed files") {
		t.Errorf("summary %q", s)
	}

	// Files written within the hour stay, listed or not.
	writeBundle(t, root, 1, "", map[string]string{"new.jpg": "n"})
	r = newTestReporter(t)
	if err := (&tasks.GarbageCollectBlobs{Root: root}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if !exists(t, filepath.Join(listed, "new.jpg")) {
		t.Error("a file written within the hour was removed")
	}
	if s := r.summary(); !strings.HasPrefix(s, "removed 0 unlisted files") {
		t.Errorf("summary %q", s)
	}
	// An hour later it goes.
	r = newTestReporter(t)
	if err := (&tasks.GarbageCollectBlobs{Root: root, Now: later}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if exists(t, filepath.Join(listed, "new.jpg")) {
		t.Error("an unlisted file older than an hour is still there")
	}
}

func TestGarbageCollectBlobs_NoRoot(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.GarbageCollectBlobs{}).Run(t.Context(), r); err != nil || r.summary() != "no bundles root configured" {
		t.Errorf("no root: %v, summary %q", err, r.summary())
	}
	r = newTestReporter(t)
	if err := (&tasks.GarbageCollectBlobs{Root: filepath.Join(t.TempDir(), "Media")}).Run(t.Context(), r); err != nil ||
		!strings.HasPrefix(r.summary(), "no bundles yet") {
		t.Errorf("a root not made yet: %v, summary %q", err, r.summary())
	}
}

func TestGarbageCollectBlobs_Stop(t *testing.T) {
	root := t.TempDir()
	for id := range int64(20) {
		writeBundle(t, root, id+1, "", map[string]string{".a.tmp": "x"})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(int, string) { cancel() })
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	err := (&tasks.GarbageCollectBlobs{Root: root, Now: later}).Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped: %v; want context.Canceled", err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "removed 0 unlisted files") || !strings.HasSuffix(s, "(stopped)") {
		t.Errorf("summary %q; want nothing removed and the stop said", s)
	}
}
