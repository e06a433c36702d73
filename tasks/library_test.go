package tasks_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

func mediaIndex(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// touch writes size bytes at root/rel.
func touch(t testing.TB, root, rel string, size int) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func libraryItems(t *testing.T, idx butler.MediaIndex, library string) map[string]butler.MediaItem {
	t.Helper()
	items, err := idx.MediaItems(t.Context(), butler.MediaItemFilter{Library: library, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]butler.MediaItem{}
	for _, it := range items {
		out[it.Path] = it
	}
	return out
}

func TestRefreshLibraries(t *testing.T) {
	root := t.TempDir()
	movies, music := filepath.Join(root, "movies"), filepath.Join(root, "music")
	a := touch(t, movies, "A (2001)/A.mkv", 10)
	touch(t, movies, "B (2002)/B.mp4", 20)
	touch(t, music, "Artist/Album/01.flac", 5)
	idx := mediaIndex(t)
	libs := []butler.Library{
		{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{movies}},
		{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{music}},
	}
	act := &tasks.RefreshLibraries{Index: idx, Libraries: libs}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.Contains(s, "Movies: 2 files: 2 added") || !strings.Contains(s, "Music: 1 files: 1 added") {
		t.Errorf("summary %q", s)
	}
	if got := libraryItems(t, idx, "Movies"); len(got) != 2 {
		t.Errorf("Movies has %d items, want 2", len(got))
	}
	if p := r.progress(); len(p) == 0 || p[len(p)-1].Percent != 100 {
		t.Errorf("progress %v; want it to end at 100", p)
	}

	// A file removed; Music no longer configured.
	os.Remove(a)
	act.Libraries = libs[:1]
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.Contains(s, "Music (no longer configured): 1 gone") || !strings.Contains(s, "1 gone, 1 unchanged") {
		t.Errorf("summary %q", s)
	}
	if it := libraryItems(t, idx, "Movies")[a]; it.State != butler.ItemGone {
		t.Errorf("removed file: %s, want gone", it.State)
	}
	for p, it := range libraryItems(t, idx, "Music") {
		if it.State != butler.ItemGone {
			t.Errorf("%s of the library no longer configured: %s, want gone", p, it.State)
		}
	}
	// Progress against the files of the last scan.
	for _, e := range r.progress() {
		if e.Percent < -1 || e.Percent > 100 {
			t.Errorf("progress %d", e.Percent)
		}
	}
}

func TestRefreshLibraries_NoLibrary(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.RefreshLibraries{Index: mediaIndex(t)}).Run(t.Context(), r); !errors.As(err, new(*butler.NothingYet)) {
		t.Fatalf("Run with no library: %v; want NothingYet (a success that leaves the task due)", err)
	}
	if s := r.summary(); s != "no library configured" {
		t.Errorf("summary %q, want %q", s, "no library configured")
	}
}

func TestRefreshLibraries_Invalid(t *testing.T) {
	dir := t.TempDir()
	for _, libs := range [][]butler.Library{
		{{Name: "A", Kind: butler.LibraryMovies, Folders: []string{dir}}, {Name: "A", Kind: butler.LibraryMusic, Folders: []string{dir}}},
		{{Name: "A", Kind: "films", Folders: []string{dir}}},
	} {
		err := (&tasks.RefreshLibraries{Index: mediaIndex(t), Libraries: libs}).Run(t.Context(), newTestReporter(t))
		if butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("libraries %+v: err = %v, want EINVALID", libs, err)
		}
	}
}

func TestRefreshLibraries_FolderMissing(t *testing.T) {
	root := t.TempDir()
	touch(t, root, "ok/a.mkv", 1)
	missing := filepath.Join(root, "unmounted")
	idx := mediaIndex(t)
	act := &tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{
		{Name: "Away", Kind: butler.LibraryMovies, Folders: []string{missing}},
		{Name: "Here", Kind: butler.LibraryMovies, Folders: []string{filepath.Join(root, "ok")}},
	}}
	r := newTestReporter(t)
	err := act.Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Run with a folder missing: %v; want an error naming %s", err, missing)
	}
	if got := libraryItems(t, idx, "Here"); len(got) != 1 {
		t.Errorf("the other library was not scanned: %v", got)
	}
}

func TestRefreshLibraries_Stop(t *testing.T) {
	root := t.TempDir()
	for i := range 600 {
		touch(t, root, filepath.Join("d", strings.Repeat("x", i%7+1), time.Duration(i).String()+".mkv"), 1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(int, string) { cancel() })
	act := &tasks.RefreshLibraries{Index: mediaIndex(t), BatchSize: 50,
		Libraries: []butler.Library{{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}}}
	err := act.Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run stopped: %v; want context.Canceled", err)
	}
	if !strings.Contains(r.summary(), "not finished") {
		t.Errorf("summary %q; want it to say the scan did not finish", r.summary())
	}
}

// needFFmpeg skips the test without ffmpeg and ffprobe, unless
// BUTLER_TEST_REQUIRE_FFMPEG is set (as CI does).
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("BUTLER_TEST_REQUIRE_FFMPEG") != "" {
				t.Fatalf("%s not found and BUTLER_TEST_REQUIRE_FFMPEG is set: %v", p, err)
			}
			t.Skipf("%s not found (apt-get install ffmpeg): %v", p, err)
		}
	}
}

func TestDeepMediaAnalysis(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", filepath.Join(root, "good.mkv"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	touch(t, root, "empty.mkv", 0)
	os.WriteFile(filepath.Join(root, "text.mkv"), []byte("not a film\n"), 0o644)
	idx := mediaIndex(t)
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, time.May, 1, 2, 0, 0, 0, time.UTC)
	act := &tasks.DeepMediaAnalysis{Index: idx, Parallel: 2, Now: func() time.Time { return now }}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatalf("a run with broken files: %v; want success (each broken file fails alone)", err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "analysed 1 item, 2 failed, 0 skipped; the first failure: analyse ") {
		t.Errorf("summary %q", s)
	}
	items := libraryItems(t, idx, "L")
	good := items[filepath.Join(root, "good.mkv")]
	a, v, err := idx.MediaAnalysis(t.Context(), good.ID)
	if err != nil || v != mediaprobe.Version || len(a.Streams) != 2 || a.Streams[0].Codec != "h264" || a.Streams[1].Codec != "aac" {
		t.Errorf("analysis of the good file: version %d, %v, %+v", v, err, a)
	}
	for _, name := range []string{"empty.mkv", "text.mkv"} {
		it := items[filepath.Join(root, name)]
		if it.AnalysisVersion != 0 || it.AnalysisFailures != 1 || !strings.Contains(it.AnalysisError, "Invalid data") ||
			!it.AnalysisRetryAt.Equal(now.Add(24*time.Hour)) {
			t.Errorf("%s: version %d, %d failures, error %q, retry at %v; want one failure, retried a day later",
				name, it.AnalysisVersion, it.AnalysisFailures, it.AnalysisError, it.AnalysisRetryAt)
		}
	}

	// The same night again: nothing to do, the broken files wait.
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "analysed 0 items, 0 failed, 0 skipped" {
		t.Errorf("second run: summary %q", s)
	}
	// A day later: tried again, and the wait doubles.
	now = now.Add(25 * time.Hour)
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if it := libraryItems(t, idx, "L")[filepath.Join(root, "text.mkv")]; it.AnalysisFailures != 2 || !it.AnalysisRetryAt.Equal(now.Add(48*time.Hour)) {
		t.Errorf("after the second failure: %d failures, retry at %v; want 2, two days later", it.AnalysisFailures, it.AnalysisRetryAt)
	}
}

func TestDeepMediaAnalysis_NoFFprobe(t *testing.T) {
	root := t.TempDir()
	touch(t, root, "a.mkv", 1)
	idx := mediaIndex(t)
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	act := &tasks.DeepMediaAnalysis{Index: idx, Prober: &mediaprobe.Prober{FFprobe: filepath.Join(root, "no-ffprobe")}}
	err := act.Run(t.Context(), newTestReporter(t))
	if err == nil || !strings.Contains(err.Error(), "install FFmpeg") {
		t.Errorf("Run without ffprobe: %v; want an error saying to install FFmpeg", err)
	}
	for p, it := range libraryItems(t, idx, "L") {
		if it.AnalysisFailures != 0 {
			t.Errorf("%s counted as failed (%q) when ffprobe itself was missing", p, it.AnalysisError)
		}
	}
}

func TestDeepMediaAnalysis_EmptyIndex(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.DeepMediaAnalysis{Index: mediaIndex(t)}).Run(t.Context(), r); !errors.As(err, new(*butler.NothingYet)) {
		t.Fatalf("Run on an empty index: %v; want NothingYet (a success that leaves the task due)", err)
	}
	if !strings.Contains(r.summary(), "no library scanned") {
		t.Errorf("summary %q", r.summary())
	}
}

func TestDeepMediaAnalysis_Stop(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a.mkv", "b.mkv", "c.mkv"} {
		touch(t, root, n, 1)
	}
	idx := mediaIndex(t)
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(t.TempDir(), "started")
	fake := filepath.Join(t.TempDir(), "ffprobe")
	os.WriteFile(fake, []byte("#!/bin/sh\ntouch "+started+"\nexec sleep 300\n"), 0o755)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	act := &tasks.DeepMediaAnalysis{Index: idx, Prober: &mediaprobe.Prober{FFprobe: fake}}
	errc := make(chan error, 1)
	go func() { errc <- act.Run(ctx, newTestReporter(t)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake ffprobe did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run stopped: %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its stop")
	}
	for p, it := range libraryItems(t, idx, "L") {
		if it.AnalysisFailures != 0 || it.AnalysisVersion != 0 {
			t.Errorf("%s after a stop: %d failures, version %d; want untouched", p, it.AnalysisFailures, it.AnalysisVersion)
		}
	}
}

// TestDeepMediaAnalysis_UnreadableFileFailsAloneAndBacksOff: a file that
// is there but cannot be stat'ed (a loop of symbolic links put in its
// place after the scan; permission denied, an I/O error or a dead mount
// alike, which a test run as root cannot make) is a failure of that item
// alone: the run goes on to the items after it, the failure is recorded
// with its retry, the next run leaves the item to wait, and a day later
// it is tried again and waits twice as long.
func TestDeepMediaAnalysis_UnreadableFileFailsAloneAndBacksOff(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	sample := filepath.Join(t.TempDir(), "s.mka")
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", sample)
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.mka", "b.mka", "c.mka"} {
		if err := os.WriteFile(filepath.Join(root, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx := mediaIndex(t)
	lib := butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	b, c := filepath.Join(root, "b.mka"), filepath.Join(root, "c.mka")
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(b, b); err != nil { // stat: too many levels of symbolic links
		t.Fatal(err)
	}
	now := time.Date(2025, time.May, 1, 2, 0, 0, 0, time.UTC)
	act := &tasks.DeepMediaAnalysis{Index: idx, Parallel: 1, Now: func() time.Time { return now }}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatalf("a run with a file that cannot be stat'ed: %v; want success (the file fails alone)", err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "analysed 2 items, 1 failed, 0 skipped; the first failure: analyse "+b+": cannot stat it: ") {
		t.Errorf("summary %q", s)
	}
	items := libraryItems(t, idx, "Music")
	if it := items[c]; it.AnalysisVersion == 0 {
		t.Errorf("c.mka, after the unreadable b.mka: not analysed")
	}
	if it := items[b]; it.AnalysisVersion != 0 || it.AnalysisFailures != 1 || !strings.Contains(it.AnalysisError, "cannot stat it") ||
		!it.AnalysisRetryAt.Equal(now.Add(24*time.Hour)) {
		t.Errorf("b.mka: version %d, %d failures, error %q, retry at %v; want one failure, retried a day later",
			it.AnalysisVersion, it.AnalysisFailures, it.AnalysisError, it.AnalysisRetryAt)
	}

	// The same night again: nothing to do, the unreadable file waits.
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "analysed 0 items, 0 failed, 0 skipped" {
		t.Errorf("second run: summary %q", s)
	}
	// A day later: tried again, and the wait doubles.
	now = now.Add(25 * time.Hour)
	if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if it := libraryItems(t, idx, "Music")[b]; it.AnalysisFailures != 2 || !it.AnalysisRetryAt.Equal(now.Add(48*time.Hour)) {
		t.Errorf("after the second failure: %d failures, retry at %v; want 2, two days later", it.AnalysisFailures, it.AnalysisRetryAt)
	}
}

func TestUpgradeMediaAnalysis_NothingOlder(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.UpgradeMediaAnalysis{Index: mediaIndex(t)}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if mediaprobe.Version == 1 && r.summary() != "no older analysis version to upgrade from" {
		t.Errorf("summary %q", r.summary())
	}
}

// TestUpgradeMediaAnalysis_Backlog: the items analysed by version 1 are
// the upgrade's backlog once the version is higher, and none before.
func TestUpgradeMediaAnalysis_Backlog(t *testing.T) {
	idx := mediaIndex(t)
	at := time.Date(2025, time.June, 30, 3, 0, 0, 0, time.UTC)
	files := []butler.MediaFile{{Path: "/m/a.mkv", Kind: butler.MediaVideo, Size: 1, ModTime: at}, {Path: "/m/b.mkv", Kind: butler.MediaVideo, Size: 2, ModTime: at}}
	if err := idx.ApplyMediaChanges(t.Context(), "L", butler.MediaChanges{Add: files, At: at}); err != nil {
		t.Fatal(err)
	}
	for _, it := range libraryItems(t, idx, "L") {
		f := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
		if ok, err := idx.SaveMediaAnalysis(t.Context(), it.ID, f, 1, at, butler.MediaAnalysis{Container: "matroska"}); err != nil || !ok {
			t.Fatalf("save: %v %v", ok, err)
		}
	}
	want := 2
	if mediaprobe.Version == 1 {
		want = 0
	}
	if n, err := (&tasks.UpgradeMediaAnalysis{Index: idx}).Backlog(t.Context()); err != nil || n != want {
		t.Errorf("Backlog = %d, %v; want %d (analysis version %d)", n, err, want, mediaprobe.Version)
	}
}

// TestDeepMediaAnalysis_BacklogCountsFailuresDueForRetry: the backlog is
// what the next run analyses: the items never tried, and those whose
// analysis failed once their retry is due; a failure still waiting for
// its retry is not counted.
func TestDeepMediaAnalysis_BacklogCountsFailuresDueForRetry(t *testing.T) {
	idx := mediaIndex(t)
	now := time.Date(2025, time.June, 30, 3, 0, 0, 0, time.UTC)
	var files []butler.MediaFile
	for _, p := range []string{"/m/new.mkv", "/m/due.mkv", "/m/waiting.mkv"} {
		files = append(files, butler.MediaFile{Path: p, Kind: butler.MediaVideo, Size: 1, ModTime: now.Add(-72 * time.Hour)})
	}
	if err := idx.ApplyMediaChanges(t.Context(), "L", butler.MediaChanges{Add: files, At: now.Add(-72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	items := libraryItems(t, idx, "L")
	for p, retry := range map[string]time.Time{"/m/due.mkv": now.Add(-time.Hour), "/m/waiting.mkv": now.Add(time.Hour)} {
		it := items[p]
		f := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
		if ok, err := idx.RecordMediaAnalysisFailure(t.Context(), it.ID, f, "broken", retry); err != nil || !ok {
			t.Fatalf("record the failure of %s: %v %v", p, ok, err)
		}
	}
	toDo, err := idx.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Now: now})
	if err != nil || len(toDo) != 2 {
		t.Fatalf("items to analyse: %d, %v; want the new one and the one due", len(toDo), err)
	}
	act := &tasks.DeepMediaAnalysis{Index: idx, Now: func() time.Time { return now }}
	if n, err := act.Backlog(t.Context()); err != nil || n != 2 {
		t.Errorf("Backlog = %d, %v; want 2 (the new item and the failure due for retry, not the one waiting)", n, err)
	}
}

func TestGarbageCollectLibraryMedia(t *testing.T) {
	idx := mediaIndex(t)
	now := time.Date(2025, time.June, 30, 3, 0, 0, 0, time.UTC)
	var files []butler.MediaFile
	for _, p := range []string{"/m/old1.mkv", "/m/old2.mkv", "/m/recent.mkv", "/m/here.mkv"} {
		files = append(files, butler.MediaFile{Path: p, Kind: butler.MediaVideo, Size: 1, ModTime: now})
	}
	if err := idx.ApplyMediaChanges(t.Context(), "L", butler.MediaChanges{Add: files, At: now.AddDate(0, -1, 0)}); err != nil {
		t.Fatal(err)
	}
	items := libraryItems(t, idx, "L")
	gone := func(at time.Time, paths ...string) {
		var ids []int64
		for _, p := range paths {
			ids = append(ids, items[p].ID)
		}
		if err := idx.ApplyMediaChanges(t.Context(), "L", butler.MediaChanges{Gone: ids, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	gone(now.Add(-8*24*time.Hour), "/m/old1.mkv", "/m/old2.mkv")
	gone(now.Add(-6*24*time.Hour), "/m/recent.mkv")
	r := newTestReporter(t)
	act := &tasks.GarbageCollectLibraryMedia{Index: idx, Now: func() time.Time { return now }}
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "removed 2 items gone for more than 7 days" {
		t.Errorf("summary %q", s)
	}
	left := libraryItems(t, idx, "L")
	if _, ok := left["/m/old1.mkv"]; ok || len(left) != 2 {
		t.Errorf("left %v; want the recent gone one and the present one", left)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := act.Run(ctx, newTestReporter(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with its context done: %v", err)
	}
}

// An ffprobe killed from outside (SIGKILL: the kernel's out-of-memory
// killer, or the group guard of a server frozen past its lease, which
// kills the item's programs while its context is still live) is not taken
// for a file it cannot read: the item is skipped, no failure recorded, and
// a later run tries it again at once.
func TestDeepMediaAnalysis_KilledProbeIsNotTheFilesFault(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	p := touch(t, root, "A (2001)/A.mkv", 10)
	probe := filepath.Join(dir, "ffprobe")
	if err := os.WriteFile(probe, []byte("#!/bin/sh\nkill -9 $$\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	idx := mediaIndex(t)
	lib := butler.Library{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	it := libraryItems(t, idx, "Films")[p]
	act := &tasks.DeepMediaAnalysis{Index: idx, Prober: &mediaprobe.Prober{FFprobe: probe, Nice: -1}}
	res := act.RunItem(t.Context(), it.ID, newTestReporter(t).Logger())
	after := libraryItems(t, idx, "Films")[p]
	if res.Outcome != butler.ItemSkipped || !strings.Contains(res.Reason, "killed from outside") || after.AnalysisFailures != 0 || !after.AnalysisRetryAt.IsZero() {
		t.Errorf("ffprobe killed by SIGKILL: item %s (%s); recorded failures %d, retry at %s; want it skipped, nothing recorded against the file",
			res.Outcome, res.Reason, after.AnalysisFailures, after.AnalysisRetryAt)
	}
}
