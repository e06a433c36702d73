package tasks_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// writeBundle makes item id's bundle under root with the files (name:
// content) and a manifest of the given body ("" for none).
func writeBundle(t *testing.T, root string, id int64, manifest string, files map[string]string) string {
	t.Helper()
	dir := butler.Bundles{Root: root}.Dir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if manifest != "" {
		if err := os.WriteFile(filepath.Join(dir, butler.BundleManifestName), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// manifestOf writes a current manifest of it, listing files.
func manifestOf(t *testing.T, root string, it butler.MediaItem, files ...string) string {
	t.Helper()
	b := butler.Bundles{Root: root}
	if err := b.WriteManifest(butler.BundleManifest{Item: it.ID, Path: it.Path, Files: files}); err != nil {
		t.Fatal(err)
	}
	return b.Dir(it.ID)
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCleanOldBundles(t *testing.T) {
	lib := t.TempDir()
	keep := touch(t, lib, "keep.mkv", 1)
	gone := touch(t, lib, "gone.mkv", 1)
	moved := touch(t, lib, "moved.mkv", 1)
	libs := []butler.Library{{Name: "L", Kind: butler.LibraryMovies, Folders: []string{lib}}}
	idx := scanned(t, libs...)
	os.Remove(gone)
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	items := libraryItems(t, idx, "L")
	if items[gone].State != butler.ItemGone {
		t.Fatalf("the removed file is %s, want gone", items[gone].State)
	}

	root := filepath.Join(t.TempDir(), "Media")
	outside := t.TempDir()
	precious := filepath.Join(outside, "precious.jpg")
	if err := os.WriteFile(precious, []byte("not Butler's"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := manifestOf(t, root, items[keep], "thumb.jpg")
	writeBundle(t, root, items[keep].ID, "", map[string]string{"thumb.jpg": "x"})
	goneDir := manifestOf(t, root, items[gone])
	// The path of another item: the index was made again.
	other := items[moved]
	other.Path = "/elsewhere/moved.mkv"
	movedDir := manifestOf(t, root, other)
	// An item the index never had, with a link out of the root inside.
	unknownDir := manifestOf(t, root, butler.MediaItem{ID: 999, Path: "/m/x.mkv"})
	writeBundle(t, root, 999, "", map[string]string{"big.bif": strings.Repeat("x", 1000)})
	if err := os.Symlink(outside, filepath.Join(unknownDir, "out")); err != nil {
		t.Fatal(err)
	}
	// A manifest that is a link to a file out of the root, which would
	// keep the bundle if it were read.
	linkedManifest := writeBundle(t, root, 1010, "", nil)
	outsideManifest := filepath.Join(outside, "manifest.json")
	data, err := os.ReadFile(filepath.Join(kept, butler.BundleManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outsideManifest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideManifest, filepath.Join(linkedManifest, butler.BundleManifestName)); err != nil {
		t.Fatal(err)
	}
	oldDir := writeBundle(t, root, 1001, `{"item":1001,"path":"/m/old.mkv"}`, nil)
	corruptDir := writeBundle(t, root, 1002, `{"format":1,"item":`, nil)
	otherItemDir := writeBundle(t, root, 1003, `{"format":1,"item":1004,"path":"/m/a.mkv","files":[]}`, nil)
	noManifestDir := writeBundle(t, root, 1005, "", map[string]string{"thumb.jpg": "x"})
	newerDir := writeBundle(t, root, 1006, `{"format":99,"item":1006,"whatever":true}`, nil)
	// A bundle's name that is a link out of the root, and a shard that is.
	linked := filepath.Join(root, butler.BundleDir(1007))
	if err := os.MkdirAll(filepath.Dir(linked), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, linked); err != nil {
		t.Fatal(err)
	}
	outsideBundle := writeBundle(t, outside, 1008, "", nil) // outside/f0/...
	if err := os.Symlink(filepath.Join(outside, "f0"), filepath.Join(root, "f0")); err != nil {
		t.Fatal(err)
	}

	act := &tasks.CleanOldBundles{Index: idx, Root: root, Grace: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{goneDir, movedDir, unknownDir, oldDir, corruptDir, otherItemDir, noManifestDir, linkedManifest} {
		if exists(t, d) {
			t.Errorf("bundle %s is still there", d)
		}
	}
	for _, p := range []string{kept, filepath.Join(kept, "thumb.jpg"), newerDir, linked, precious, outsideBundle, filepath.Join(root, "f0"), outsideManifest} {
		if !exists(t, p) {
			t.Errorf("%s was removed", p)
		}
	}
	// The bytes: the big file, the manifests and the link (their paths'
	// lengths vary with the temporary folder's name).
	want := regexp.MustCompile(`^removed 8 bundles \(1\.[0-9] KiB\): 2 no longer indexed, 1 of items gone, 1 of an older format, 4 with no readable manifest; kept 2$`)
	if s := r.summary(); !want.MatchString(s) {
		t.Errorf("summary\n  %q\nwant\n  %s", s, want)
	}

	// Within the grace period the gone item's bundle stays, and a bundle
	// without a manifest, just made, may be being written.
	goneDir = manifestOf(t, root, items[gone])
	fresh := writeBundle(t, root, 1009, "", nil)
	act.Now = nil
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if !exists(t, goneDir) || !exists(t, fresh) {
		t.Errorf("within the grace: gone item's bundle there %v, new bundle there %v; want both", exists(t, goneDir), exists(t, fresh))
	}
	if s := r.summary(); !strings.HasPrefix(s, "removed 0 bundles") {
		t.Errorf("summary %q", s)
	}
}

func TestCleanOldBundles_NoRoot(t *testing.T) {
	idx := mediaIndex(t)
	r := newTestReporter(t)
	if err := (&tasks.CleanOldBundles{Index: idx}).Run(t.Context(), r); err != nil || r.summary() != "no bundles root configured" {
		t.Errorf("no root: %v, summary %q", err, r.summary())
	}
	missing := filepath.Join(t.TempDir(), "Media")
	r = newTestReporter(t)
	if err := (&tasks.CleanOldBundles{Index: idx, Root: missing}).Run(t.Context(), r); err != nil || !strings.HasPrefix(r.summary(), "no bundles yet") {
		t.Errorf("a root not made yet: %v, summary %q", err, r.summary())
	}
	if exists(t, missing) {
		t.Errorf("the run made the root %s", missing)
	}
}

func TestCleanOldBundles_Stop(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	for id := range int64(40) {
		dirs = append(dirs, manifestOf(t, root, butler.MediaItem{ID: id + 1, Path: "/m/x.mkv"}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(int, string) { cancel() })
	err := (&tasks.CleanOldBundles{Index: mediaIndex(t), Root: root}).Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped: %v; want context.Canceled", err)
	}
	if s := r.summary(); !strings.HasSuffix(s, "(stopped)") {
		t.Errorf("summary %q; want it to say the run stopped", s)
	}
	left := 0
	for _, d := range dirs {
		if exists(t, d) {
			left++
		}
	}
	if left != len(dirs) {
		t.Errorf("%d of %d bundles left after a stop at the first progress; want all", left, len(dirs))
	}
}
