package tasks

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	butler "github.com/plexbutler/butler"
)

// oneItemIndex is a media index that holds item it alone.
type oneItemIndex struct {
	butler.MediaIndex
	it butler.MediaItem
}

func (x oneItemIndex) MediaItem(ctx context.Context, id int64) (butler.MediaItem, error) {
	if id != x.it.ID {
		return butler.MediaItem{}, butler.Errorf(butler.ENOTFOUND, "media item %d not found", id)
	}
	return x.it, nil
}

// dateTree sets the modification time of everything under root to now:
// in a synctest bubble, the bubble's clock rather than the system's,
// which the file system uses when it makes a file.
func dateTree(t *testing.T, root string) {
	t.Helper()
	now := time.Now()
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, now, now)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stagingOfALongMake stages item it's index files, writes one of them at
// once (as ffmpeg writes a chapter's picture or a tile as it goes) and
// lets two hours pass, twice DefaultBlobAge, the clean-up working
// meanwhile. It then checks that the staged file is still there and that
// the output goes in place.
func stagingOfALongMake(t *testing.T, b *BundleWriter, it butler.MediaItem, clean butler.Action) {
	t.Helper()
	dir, commit, cleanup, err := b.stage(t.Context(), it, butler.OutputIndexFiles)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	early := filepath.Join(dir, "320-10.bif")
	if err := os.WriteFile(early, []byte("bif"), 0o644); err != nil {
		t.Fatal(err)
	}
	dateTree(t, b.Bundles.Root)
	time.Sleep(2 * time.Hour)
	if err := clean.Run(t.Context(), itemsReporter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(early); err != nil {
		t.Fatalf("after two hours of making the item's output, with the clean-up run meanwhile: %v; want its staging folder kept", err)
	}
	files, err := commit()
	if err != nil || !slices.Equal(files, []string{"index-files/320-10.bif"}) {
		t.Fatalf("commit = %v, %v; want the staged file in place", files, err)
	}
}

// TestCleanOldBundles_KeepsTheStagingOfALongMake: an item's first output
// takes longer than DefaultBlobAge to make (an hour of 4K video decoded
// frame by frame). Its bundle has no manifest yet, only the staging
// folder; CleanOldBundles, running meanwhile, keeps it (BundleWriter keeps
// the staging folder fresh), and removes the bundle of a write that
// stopped two hours ago (its staging folder left by a crash).
func TestCleanOldBundles_KeepsTheStagingOfALongMake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		b := &BundleWriter{Bundles: butler.Bundles{Root: root}}
		it := butler.MediaItem{ID: 1, Path: "/m/Film (2020).mkv"}
		crashed := filepath.Join(b.Bundles.Dir(2), ".index-files.tmp-123")
		if err := os.MkdirAll(crashed, 0o755); err != nil {
			t.Fatal(err)
		}
		stagingOfALongMake(t, b, it, &CleanOldBundles{Index: oneItemIndex{it: it}, Root: root})
		if _, err := os.Lstat(b.Bundles.Dir(2)); !os.IsNotExist(err) {
			t.Errorf("the bundle of a write that stopped two hours ago: %v; want it removed", err)
		}
	})
}

// TestGarbageCollectBlobs_KeepsTheStagingOfALongMake: the same with
// GarbageCollectBlobs, in a bundle with a manifest already (the item's
// chapter pictures were made): the file staged at the start of the make,
// listed nowhere and two hours old, stays with its staging folder; the
// staging folder a crash left, two hours untouched, goes.
func TestGarbageCollectBlobs_KeepsTheStagingOfALongMake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		b := &BundleWriter{Bundles: butler.Bundles{Root: root}}
		it := butler.MediaItem{ID: 1, Path: "/m/Film (2020).mkv"}
		if err := b.Bundles.WriteManifest(butler.BundleManifest{Item: it.ID, Path: it.Path}); err != nil {
			t.Fatal(err)
		}
		crashed := filepath.Join(b.Bundles.Dir(it.ID), ".chapter-thumbs.tmp-123")
		if err := os.MkdirAll(crashed, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, "0001.jpg"), []byte("jpg"), 0o644); err != nil {
			t.Fatal(err)
		}
		stagingOfALongMake(t, b, it, &GarbageCollectBlobs{Root: root})
		if _, err := os.Lstat(crashed); !os.IsNotExist(err) {
			t.Errorf("the staging folder of a write that stopped two hours ago: %v; want it removed", err)
		}
	})
}
