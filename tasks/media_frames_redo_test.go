package tasks_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/mediaframes"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/tasks"
)

// onEachOutputIndex runs fn on a SQLite media index and, when
// BUTLER_TEST_DATABASE_URL is set, on a PostgreSQL one.
func onEachOutputIndex(t *testing.T, fn func(t *testing.T, idx butler.OutputIndex)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, mediaIndex(t)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		pgtest.URL(t)
		db, err := postgres.Open(context.Background(), pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
}

// indexedFilm makes a 12 s film in a movies library ("Films"), scans and
// analyses it, makes its index files into a bundles root of its own, and
// returns the film's path, its item and the task that made them.
func indexedFilm(t *testing.T, idx butler.OutputIndex) (string, butler.MediaItem, *tasks.GenerateMediaIndexFiles) {
	t.Helper()
	needFFmpeg(t)
	lib := t.TempDir()
	film := filepath.Join(lib, "Film (2020).mkv")
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc2=duration=12:size=320x180:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", film)
	items := scanAndAnalyse(t, idx, lib, "")
	bundles := &tasks.BundleWriter{Bundles: butler.Bundles{Root: filepath.Join(t.TempDir(), "Media")}}
	act := &tasks.GenerateMediaIndexFiles{Index: idx, Bundles: bundles}
	if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	it := items[film]
	if bif := filepath.Join(bundles.Bundles.Dir(it.ID), "index-files", "320-10.bif"); !exists(t, bif) {
		t.Fatalf("no BIF made at %s", bif)
	}
	return film, it, act
}

// remade runs act and checks that it made item id's index files again as
// the BIF name (in the bundle), and that the index lists it.
func remade(t *testing.T, idx butler.OutputIndex, act *tasks.GenerateMediaIndexFiles, id int64, name string) {
	t.Helper()
	rep := newTestReporter(t)
	if err := act.Run(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(act.Bundles.Bundles.Dir(id), "index-files", name)
	if !exists(t, p) {
		t.Fatalf("GenerateMediaIndexFiles says %q; %s was not made again", rep.summary(), p)
	}
	if o := outputOf(t, idx, id, butler.OutputIndexFiles, nil); len(o.Files) == 0 || o.Files[0] != "index-files/"+name {
		t.Errorf("the index lists %v, want index-files/%s", o.Files, name)
	}
}

// TestMediaIndexFiles_BundleRemovedWhileGone: a film's disk is away for
// longer than the grace period; CleanOldBundles removes its bundle before
// GarbageCollectLibraryMedia forgets the item; the disk comes back and
// the scan finds the item as it was. Its index files, which the index
// recorded as made, are made again.
func TestMediaIndexFiles_BundleRemovedWhileGone(t *testing.T) {
	onEachOutputIndex(t, func(t *testing.T, idx butler.OutputIndex) {
		film, it, act := indexedFilm(t, idx)
		libs := []butler.Library{{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{filepath.Dir(film)}}}
		away := film + ".away"
		if err := os.Rename(film, away); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-8 * 24 * time.Hour)
		if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs, Now: func() time.Time { return past }}).Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatal(err)
		}
		if err := (&tasks.CleanOldBundles{Index: idx, Root: act.Bundles.Bundles.Root}).Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatal(err)
		}
		if exists(t, act.Bundles.Bundles.Dir(it.ID)) {
			t.Fatal("the bundle of the item gone past its grace was kept")
		}
		if err := os.Rename(away, film); err != nil {
			t.Fatal(err)
		}
		if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatal(err)
		}
		if got := libraryItems(t, idx, "Films")[film]; got.State != butler.ItemPresent || got.ID != it.ID {
			t.Fatalf("the film back: %+v, want item %d present", got, it.ID)
		}
		remade(t, idx, act, it.ID, "320-10.bif")
	})
}

// TestMediaIndexFiles_BundlesRootRemovedWhole: the bundles root removed
// whole, the files are made again.
func TestMediaIndexFiles_BundlesRootRemovedWhole(t *testing.T) {
	onEachOutputIndex(t, func(t *testing.T, idx butler.OutputIndex) {
		_, it, act := indexedFilm(t, idx)
		if err := os.RemoveAll(act.Bundles.Bundles.Root); err != nil {
			t.Fatal(err)
		}
		remade(t, idx, act, it.ID, "320-10.bif")
		// Then nothing is left to do.
		rep := newTestReporter(t)
		if err := act.Run(t.Context(), rep); err != nil {
			t.Fatal(err)
		}
		if s := rep.summary(); !strings.HasPrefix(s, "nothing to do") {
			t.Errorf("the run after: %q, want nothing to do", s)
		}
	})
}

// TestMediaIndexFiles_DamagedManifest: CleanOldBundles removes the bundle
// of a present item whose manifest is damaged; what it held is made
// again.
func TestMediaIndexFiles_DamagedManifest(t *testing.T) {
	onEachOutputIndex(t, func(t *testing.T, idx butler.OutputIndex) {
		_, it, act := indexedFilm(t, idx)
		dir := act.Bundles.Bundles.Dir(it.ID)
		if err := os.WriteFile(filepath.Join(dir, butler.BundleManifestName), []byte(`{"format": 1, "item"`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := (&tasks.CleanOldBundles{Index: idx, Root: act.Bundles.Bundles.Root}).Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatal(err)
		}
		if exists(t, dir) {
			t.Fatal("the bundle with a damaged manifest was kept")
		}
		remade(t, idx, act, it.ID, "320-10.bif")
	})
}

// TestMediaIndexFiles_CommitInterrupted: a server killed between the two
// renames of a bundle's commit leaves the kind's folder moved aside as
// "index-files.old" while the manifest and the index list its files; the
// next run makes them again.
func TestMediaIndexFiles_CommitInterrupted(t *testing.T) {
	onEachOutputIndex(t, func(t *testing.T, idx butler.OutputIndex) {
		_, it, act := indexedFilm(t, idx)
		final := filepath.Join(act.Bundles.Bundles.Dir(it.ID), "index-files")
		if err := os.Rename(final, final+".old"); err != nil {
			t.Fatal(err)
		}
		remade(t, idx, act, it.ID, "320-10.bif")
	})
}

// TestMediaIndexFiles_SettingsChanged: a change of media.index_width,
// media.index_interval, media.trickplay or media.index_beside_media
// reaches the items already done: their index files are made again with
// the new settings, and a BIF written beside the video under the old ones
// goes unless the new one has its name.
func TestMediaIndexFiles_SettingsChanged(t *testing.T) {
	onEachOutputIndex(t, func(t *testing.T, idx butler.OutputIndex) {
		film, it, act := indexedFilm(t, idx)
		stem := strings.TrimSuffix(film, filepath.Ext(film))
		var d tasks.IndexFilesData

		// Beside the media on: the BIF is written next to the video.
		act.BesideMedia = true
		remade(t, idx, act, it.ID, "320-10.bif")
		if outputOf(t, idx, it.ID, butler.OutputIndexFiles, &d); d.BesideMedia != stem+"-320-10.bif" || !exists(t, d.BesideMedia) {
			t.Fatalf("beside the media on: the BIF beside is %q (there: %v)", d.BesideMedia, d.BesideMedia != "" && exists(t, d.BesideMedia))
		}

		// Width and interval: a new BIF in the bundle and beside the
		// video; the old one beside it goes.
		act.Extractor = &mediaframes.Extractor{Width: 240, Interval: 5 * time.Second}
		remade(t, idx, act, it.ID, "240-5.bif")
		if exists(t, filepath.Join(act.Bundles.Bundles.Dir(it.ID), "index-files", "320-10.bif")) {
			t.Error("the bundle's old 320-10.bif is still there")
		}
		d = tasks.IndexFilesData{}
		if outputOf(t, idx, it.ID, butler.OutputIndexFiles, &d); d.Width != 240 || d.IntervalMs != 5000 || d.BesideMedia != stem+"-240-5.bif" || !exists(t, d.BesideMedia) {
			t.Errorf("after 240 pixels every 5 s: %+v", d)
		}
		if exists(t, stem+"-320-10.bif") {
			t.Error("the BIF beside the video made with the old settings is still there")
		}

		// Trickplay on: the tiles are made.
		act.Trickplay = true
		remade(t, idx, act, it.ID, "240-5.bif")
		if o := outputOf(t, idx, it.ID, butler.OutputIndexFiles, nil); !strings.HasPrefix(o.Files[len(o.Files)-1], "index-files/trickplay/") {
			t.Errorf("trickplay on: the files are %v, want the tiles among them", o.Files)
		}
		if !exists(t, stem+"-240-5.bif") {
			t.Error("the BIF beside the video of the same name went")
		}

		// Beside the media off: the BIF beside the video goes.
		act.BesideMedia = false
		remade(t, idx, act, it.ID, "240-5.bif")
		if exists(t, stem+"-240-5.bif") {
			t.Error("beside the media off: the BIF beside the video is still there")
		}
		d = tasks.IndexFilesData{}
		if outputOf(t, idx, it.ID, butler.OutputIndexFiles, &d); d.BesideMedia != "" {
			t.Errorf("beside the media off: the output still names %q", d.BesideMedia)
		}
		rep := newTestReporter(t)
		if err := act.Run(t.Context(), rep); err != nil {
			t.Fatal(err)
		}
		if s := rep.summary(); !strings.HasPrefix(s, "nothing to do") {
			t.Errorf("with the settings unchanged: %q, want nothing to do", s)
		}
	})
}

// TestMediaIndexFiles_FileCutPastTheAnalysis: a Matroska film cut to a
// third, past what ffprobe reads, is analysed as whole; the index files,
// read through to the end, find the cut and fail that item alone.
func TestMediaIndexFiles_FileCutPastTheAnalysis(t *testing.T) {
	needFFmpeg(t)
	lib := t.TempDir()
	whole := filepath.Join(t.TempDir(), "whole.mkv")
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc2=duration=20:size=320x180:rate=25", "-f", "lavfi", "-i", "sine=duration=20",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", whole)
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	film := filepath.Join(lib, "Film (2020).mkv")
	if err := os.WriteFile(film, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	idx := mediaIndex(t)
	it := scanAndAnalyse(t, idx, lib, "")[film]
	if it.AnalysisVersion == 0 {
		t.Fatalf("the cut film was not analysed: %+v (the analysis reads its headers only)", it)
	}
	act := &tasks.GenerateMediaIndexFiles{Index: idx, Bundles: &tasks.BundleWriter{Bundles: butler.Bundles{Root: t.TempDir()}}}
	if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if o := outputOf(t, idx, it.ID, butler.OutputIndexFiles, nil); o.Failures != 1 || o.Version != 0 {
		t.Errorf("index files of the cut film: %+v, want one failure and none made", o)
	} else {
		t.Logf("the cut film failed: %s", o.Error)
	}
}
