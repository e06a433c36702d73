package main

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// linkCalls calls every method of the SidecarIndex interface (MediaIndex
// and its own) on ix, each returning its error.
func linkCalls(ctx context.Context, ix butler.SidecarIndex) map[string]func() error {
	file := butler.MediaFile{Path: "/m/a.mkv", Kind: butler.MediaVideo, Size: 1, ModTime: time.Unix(1, 0)}
	return map[string]func() error{
		"MediaItems": func() error {
			_, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
			return err
		},
		"MediaEntries": func() error { _, err := ix.MediaEntries(ctx, "Movies", "", 0); return err },
		"MediaItem":    func() error { _, err := ix.MediaItem(ctx, 1); return err },
		"ApplyMediaChanges": func() error {
			return ix.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Add: []butler.MediaFile{file}, At: time.Unix(2, 0)})
		},
		"MediaItemsToAnalyse": func() error {
			_, err := ix.MediaItemsToAnalyse(ctx, butler.AnalysisFilter{Now: time.Unix(3, 0)})
			return err
		},
		"CountMediaItemsToAnalyse": func() error {
			_, err := ix.CountMediaItemsToAnalyse(ctx, butler.AnalysisFilter{Now: time.Unix(3, 0)})
			return err
		},
		"SaveMediaAnalysis": func() error {
			_, err := ix.SaveMediaAnalysis(ctx, 1, file, 1, time.Unix(3, 0), butler.MediaAnalysis{Container: "matroska,webm"})
			return err
		},
		"RecordMediaAnalysisFailure": func() error {
			_, err := ix.RecordMediaAnalysisFailure(ctx, 1, file, "bad", time.Unix(4, 0))
			return err
		},
		"MediaAnalysis":        func() error { _, _, err := ix.MediaAnalysis(ctx, 1); return err },
		"LibraryCounts":        func() error { _, err := ix.LibraryCounts(ctx); return err },
		"DeleteGoneMediaItems": func() error { _, err := ix.DeleteGoneMediaItems(ctx, time.Unix(0, 0), 0); return err },
		"MediaSidecars":        func() error { _, err := ix.MediaSidecars(ctx, []int64{1}); return err },
		"MediaSidecarSet":      func() error { _, err := ix.MediaSidecarSet(ctx, 1); return err },
		"ReplaceMediaSidecars": func() error {
			_, err := ix.ReplaceMediaSidecars(ctx, map[int64][]butler.MediaSidecar{1: {{Path: "/m/a.srt", Kind: butler.SidecarSubtitle, Size: 1, ModTime: time.Unix(1, 0)}}})
			return err
		},
	}
}

// TestMediaIndexLinkBeforeSet checks that every call before the store is
// handed over is a clear EUNAVAILABLE error, not a nil dereference.
func TestMediaIndexLinkBeforeSet(t *testing.T) {
	link := &mediaIndexLink{}
	calls := linkCalls(context.Background(), link)
	if n := reflect.TypeFor[butler.SidecarIndex]().NumMethod(); len(calls) != n {
		t.Fatalf("%d calls, want one per method of SidecarIndex (%d)", len(calls), n)
	}
	for name, call := range calls {
		err := call()
		if butler.ErrorCode(err) != butler.EUNAVAILABLE || !strings.Contains(butler.ErrorMessage(err), "media index is not open yet") {
			t.Errorf("%s before set = %v, want EUNAVAILABLE saying the index is not open yet", name, err)
		}
	}
	// A nil index handed over is no index either.
	link.set(nil)
	if err := calls["LibraryCounts"](); butler.ErrorCode(err) != butler.EUNAVAILABLE {
		t.Errorf("LibraryCounts after set(nil) = %v, want EUNAVAILABLE", err)
	}
}

// TestMediaIndexLinkForwards checks that once set, the link reads and
// writes the store's index: what goes in through it is in the store.
func TestMediaIndexLinkForwards(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	link := &mediaIndexLink{}
	link.set(db)
	for name, call := range linkCalls(ctx, link) {
		// Each call reaches the store: none fails for want of an index
		// (MediaItem and MediaAnalysis of an id that may not exist answer
		// ENOTFOUND from the store itself).
		if err := call(); err != nil && butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Errorf("%s through the link: %v", name, err)
		}
	}
	// The file ApplyMediaChanges added through the link is in the store.
	items, err := db.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Path != "/m/a.mkv" {
		t.Fatalf("store's items = %+v, want /m/a.mkv added through the link", items)
	}
	counts, err := link.LibraryCounts(ctx)
	if err != nil || len(counts) != 1 || counts[0].Library != "Movies" || counts[0].Present != 1 {
		t.Errorf("LibraryCounts through the link = %+v, %v; want Movies with 1 present item", counts, err)
	}
	it, err := link.MediaItem(ctx, items[0].ID)
	if err != nil || it.Path != "/m/a.mkv" {
		t.Errorf("MediaItem through the link = %+v, %v", it, err)
	}
	// Sidecars written through the link are the store's.
	sub := butler.MediaSidecar{Path: "/m/a.en.srt", Kind: butler.SidecarSubtitle, Language: "en", Size: 3, ModTime: time.Unix(5, 0).UTC()}
	if n, err := link.ReplaceMediaSidecars(ctx, map[int64][]butler.MediaSidecar{it.ID: {sub}}); err != nil || n != 1 {
		t.Fatalf("ReplaceMediaSidecars through the link = %d, %v", n, err)
	}
	got, err := db.MediaSidecars(ctx, []int64{it.ID})
	if err != nil || len(got[it.ID]) != 1 || !got[it.ID][0].Equal(sub) {
		t.Errorf("store's sidecars = %+v, %v; want %+v", got, err, sub)
	}
}

// TestMediaIndexLinkWithoutSidecars: an index that keeps no sidecars
// answers the sidecar calls with a clear error.
func TestMediaIndexLinkWithoutSidecars(t *testing.T) {
	link := &mediaIndexLink{}
	link.set(struct{ butler.MediaIndex }{})
	if _, err := link.MediaSidecars(context.Background(), []int64{1}); err == nil || !strings.Contains(err.Error(), "keeps no sidecar files") {
		t.Errorf("MediaSidecars = %v, want an error saying the index keeps no sidecars", err)
	}
}
