package mediascan_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

// countingIndex is a real index that counts the batches written and the
// pages read.
type countingIndex struct {
	butler.MediaIndex
	mu       sync.Mutex
	batches  []int // each batch's number of changes
	pages    int
	maxLimit int
}

func (c *countingIndex) ApplyMediaChanges(ctx context.Context, library string, ch butler.MediaChanges) error {
	c.mu.Lock()
	c.batches = append(c.batches, ch.Len())
	c.mu.Unlock()
	return c.MediaIndex.ApplyMediaChanges(ctx, library, ch)
}

func (c *countingIndex) MediaEntries(ctx context.Context, library, after string, limit int) ([]butler.MediaEntry, error) {
	c.mu.Lock()
	c.pages++
	c.maxLimit = max(c.maxLimit, limit)
	c.mu.Unlock()
	return c.MediaIndex.MediaEntries(ctx, library, after, limit)
}

func (c *countingIndex) reset() {
	c.mu.Lock()
	c.batches, c.pages, c.maxLimit = nil, 0, 0
	c.mu.Unlock()
}

func newIndex(t *testing.T) *countingIndex {
	t.Helper()
	db, err := sqlite.Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &countingIndex{MediaIndex: db}
}

// newPostgresIndex opens an index on PostgreSQL, in a schema of its own,
// or skips the test when BUTLER_TEST_DATABASE_URL is not set.
func newPostgresIndex(t *testing.T) *countingIndex {
	t.Helper()
	db, err := postgres.Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &countingIndex{MediaIndex: db}
}

// onBoth runs f on an index on SQLite and on one on PostgreSQL.
func onBoth(t *testing.T, f func(t *testing.T, newIndex func(t *testing.T) *countingIndex)) {
	t.Run("SQLite", func(t *testing.T) { f(t, newIndex) })
	t.Run("PostgreSQL", func(t *testing.T) {
		pgtest.URL(t)
		f(t, newPostgresIndex)
	})
}

// mtime is the modification time the tests give files, with nanoseconds.
var mtime = time.Date(2024, time.June, 1, 12, 0, 0, 123456789, time.UTC)

// write creates the file at root/rel with size bytes and mtime.
func write(t *testing.T, root, rel string, size int) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}

// items returns the library's items by path.
func items(t *testing.T, idx butler.MediaIndex, library string) map[string]butler.MediaItem {
	t.Helper()
	out := map[string]butler.MediaItem{}
	after := ""
	for {
		page, err := idx.MediaItems(t.Context(), butler.MediaItemFilter{Library: library, AfterPath: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, it := range page {
			out[it.Path] = it
		}
		after = page[len(page)-1].Path
	}
}

func scan(t *testing.T, s *mediascan.Scanner, lib butler.Library) mediascan.Stats {
	t.Helper()
	st, err := s.Scan(t.Context(), lib)
	if err != nil {
		t.Fatalf("Scan(%s): %v", lib.Name, err)
	}
	return st
}

func checkStats(t *testing.T, what string, got mediascan.Stats, want mediascan.Stats) {
	t.Helper()
	got.Problems, want.Problems = nil, nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: %v\nwant %v", what, got, want)
	}
}

func TestScanner_Scan(t *testing.T) { onBoth(t, testScan) }

func testScan(t *testing.T, newIndex func(t *testing.T) *countingIndex) {
	root := t.TempDir()
	a := write(t, root, "Alien (1979)/Alien.mkv", 10)
	b := write(t, root, "Brazil (1985)/Brazil.MP4", 20)
	c := write(t, root, "Cube (1997)/Cube.avi", 30)
	write(t, root, "Cube (1997)/Cube.srt", 5)            // not media
	write(t, root, "Cube (1997)/.hidden.mkv", 5)         // hidden
	write(t, root, ".Trash/old.mkv", 5)                  // hidden directory
	write(t, root, "@eaDir/Alien.mkv/SYNOVIDEO.mkv", 5)  // a NAS's thumbnails
	write(t, root, "Dune (2021)/Dune.mkv.part/x.txt", 5) // a directory named like a file
	idx := newIndex(t)
	now := time.Date(2025, time.January, 2, 3, 4, 5, 0, time.UTC)
	s := &mediascan.Scanner{Index: idx, Now: func() time.Time { return now }}
	lib := butler.Library{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{root}}

	st := scan(t, s, lib)
	checkStats(t, "first scan", st, mediascan.Stats{Files: 3, Bytes: 60, Added: 3})
	got := items(t, idx, "Movies")
	if len(got) != 3 {
		t.Fatalf("items after the first scan: %v", slices.Sorted(func(yield func(string) bool) {
			for p := range got {
				if !yield(p) {
					return
				}
			}
		}))
	}
	for p, size := range map[string]int64{a: 10, b: 20, c: 30} {
		it := got[p]
		if it.Size != size || !it.ModTime.Equal(mtime) || it.Kind != butler.MediaVideo || it.State != butler.ItemPresent || !it.AddedAt.Equal(now) {
			t.Errorf("item %s = %+v; want size %d, mtime %v, video, present, added at %v", p, it, size, mtime, now)
		}
	}

	// Nothing changed: nothing is written.
	idx.reset()
	st = scan(t, s, lib)
	checkStats(t, "scan of an unchanged tree", st, mediascan.Stats{Files: 3, Bytes: 60, Unchanged: 3})
	if len(idx.batches) != 0 {
		t.Errorf("a scan with nothing changed wrote %d batches", len(idx.batches))
	}

	// A new size, a new modification time, a removed file, a new file.
	if err := os.WriteFile(a, make([]byte, 11), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(a, mtime, mtime)
	later := mtime.Add(time.Nanosecond)
	if err := os.Chtimes(b, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	d := write(t, root, "Dune (2021)/Dune.mkv", 40)
	now = now.Add(time.Hour)
	st = scan(t, s, lib)
	checkStats(t, "scan after changes", st, mediascan.Stats{Files: 3, Bytes: 71, Added: 1, Changed: 2, Gone: 1})
	got = items(t, idx, "Movies")
	if it := got[a]; it.Size != 11 || !it.ChangedAt.Equal(now) {
		t.Errorf("resized file: %+v", it)
	}
	if it := got[b]; !it.ModTime.Equal(later) || !it.ChangedAt.Equal(now) {
		t.Errorf("touched file (1 ns later): %+v", it)
	}
	if it := got[c]; it.State != butler.ItemGone || !it.GoneAt.Equal(now) {
		t.Errorf("removed file: %+v; want gone at %v", it, now)
	}
	if it := got[d]; it.State != butler.ItemPresent || it.Size != 40 {
		t.Errorf("new file: %+v", it)
	}
}

func TestScanner_Revive(t *testing.T) {
	root := t.TempDir()
	a := write(t, root, "a.flac", 10)
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	lib := butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{root}}
	scan(t, s, lib)
	it := items(t, idx, "Music")[a]
	if it.Kind != butler.MediaAudio {
		t.Fatalf("kind %s, want audio", it.Kind)
	}
	f := butler.MediaFile{Path: a, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	if ok, err := idx.SaveMediaAnalysis(t.Context(), it.ID, f, 1, time.Now(), butler.MediaAnalysis{Container: "flac"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// The disk goes away and comes back with the same file.
	data, _ := os.ReadFile(a)
	os.Remove(a)
	checkStats(t, "scan without the file", scan(t, s, lib), mediascan.Stats{Gone: 1})
	os.WriteFile(a, data, 0o644)
	os.Chtimes(a, mtime, mtime)
	checkStats(t, "scan with the file back", scan(t, s, lib), mediascan.Stats{Files: 1, Bytes: 10, Revived: 1})
	back := items(t, idx, "Music")[a]
	if back.ID != it.ID || back.State != butler.ItemPresent || back.AnalysisVersion != 1 {
		t.Errorf("revived item: %+v; want the same id, present, with its analysis", back)
	}
}

// TestScanner_ByteOrder: names that sort differently by name and by path
// (' ' and '-' before '/', upper case before lower, multi-byte letters
// last), with small pages and batches: were the walk's order not the
// index's, the merge would mark items gone and add them again.
func TestScanner_ByteOrder(t *testing.T) { onBoth(t, testByteOrder) }

func testByteOrder(t *testing.T, newIndex func(t *testing.T) *countingIndex) {
	root := t.TempDir()
	names := []string{"a/x.mkv", "a b/y.mkv", "a-b.mkv", "a.mkv", "a/b/c.mkv", "a/b c.mkv", "B/z.mkv", "b.mkv",
		"é/1.mkv", "e/1.mkv", "_/1.mkv", "a0/1.mkv", "a/~.mkv", "a/b/~/x.mkv", "ab.mkv"}
	for i, n := range names {
		write(t, root, n, i+1)
	}
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx, PageSize: 2, BatchSize: 3}
	lib := butler.Library{Name: "L", Kind: butler.LibraryShows, Folders: []string{root}}
	n := len(names)
	checkStats(t, "first scan", scan(t, s, lib), mediascan.Stats{Files: n, Bytes: int64(n * (n + 1) / 2), Added: n})
	idx.reset()
	checkStats(t, "second scan", scan(t, s, lib), mediascan.Stats{Files: n, Bytes: int64(n * (n + 1) / 2), Unchanged: n})
	if len(idx.batches) != 0 {
		t.Errorf("second scan wrote %v", idx.batches)
	}
	if idx.maxLimit != 2 {
		t.Errorf("pages of up to %d items read, want 2", idx.maxLimit)
	}
}

func TestScanner_Batches(t *testing.T) {
	root := t.TempDir()
	for i := range 95 {
		write(t, root, fmt.Sprintf("d%d/%03d.mkv", i%7, i), 1)
	}
	idx := newIndex(t)
	var progress []mediascan.Stats
	s := &mediascan.Scanner{Index: idx, BatchSize: 10, Progress: func(st mediascan.Stats) { progress = append(progress, st) }}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	scan(t, s, lib)
	if want := []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 5}; !slices.Equal(idx.batches, want) {
		t.Errorf("batches = %v, want %v", idx.batches, want)
	}
	if len(progress) < 10 {
		t.Errorf("%d progress reports, want one per batch at least", len(progress))
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Files < progress[i-1].Files {
			t.Errorf("progress went back: %v then %v", progress[i-1], progress[i])
		}
	}
	if last := progress[len(progress)-1]; last.Added != 95 {
		t.Errorf("last progress: %v", last)
	}
}

func TestScanner_Stop(t *testing.T) {
	root := t.TempDir()
	for i := range 1000 {
		write(t, root, fmt.Sprintf("%04d.mkv", i), 1)
	}
	idx := newIndex(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := &mediascan.Scanner{Index: idx, BatchSize: 100, Progress: func(st mediascan.Stats) {
		if st.Added >= 300 {
			cancel()
		}
	}}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	st, err := s.Scan(ctx, lib)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with its context canceled: %v, want context.Canceled", err)
	}
	// It stops within one look at its context: a few hundred files.
	if st.Files > 300+256+100 {
		t.Errorf("the scan walked %d files after it was told to stop at 300", st.Files)
	}
	kept := len(items(t, idx, "L"))
	if kept == 0 || kept%100 != 0 {
		t.Errorf("%d items kept after the stop; want whole batches", kept)
	}
	// The next scan finishes the work.
	s.Progress = nil
	checkStats(t, "scan after the stop", scan(t, s, lib), mediascan.Stats{Files: 1000, Bytes: 1000, Added: 1000 - kept, Unchanged: kept})
}

func TestScanner_UnreadableFolder(t *testing.T) {
	root := t.TempDir()
	disk := filepath.Join(root, "disk")
	other := filepath.Join(root, "other")
	a := write(t, disk, "a.mkv", 1)
	write(t, other, "b.mkv", 2)
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{other, disk}}
	scan(t, s, lib)
	// The disk is unmounted: its folder is not there.
	if err := os.Rename(disk, disk+".away"); err != nil {
		t.Fatal(err)
	}
	st := scan(t, s, lib)
	if st.ProblemCount != 1 || !strings.Contains(st.Problems[0].Error(), disk) || !strings.Contains(st.Problems[0].Error(), "kept") {
		t.Errorf("problems = %v; want one naming %s", st.Problems, disk)
	}
	checkStats(t, "scan with a folder gone", st, mediascan.Stats{Files: 1, Bytes: 2, Unchanged: 1, Kept: 1, ProblemCount: 1})
	if it := items(t, idx, "L")[a]; it.State != butler.ItemPresent {
		t.Errorf("an item of the missing folder is %s, want present", it.State)
	}
}

func TestScanner_UnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	root := t.TempDir()
	a := write(t, root, "locked/a.mkv", 1)
	write(t, root, "open/b.mkv", 2)
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	scan(t, s, lib)
	locked := filepath.Join(root, "locked")
	os.Chmod(locked, 0)
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	st := scan(t, s, lib)
	checkStats(t, "scan with a locked directory", st, mediascan.Stats{Files: 1, Bytes: 2, Unchanged: 1, Kept: 1, ProblemCount: 1})
	if it := items(t, idx, "L")[a]; it.State != butler.ItemPresent {
		t.Errorf("an item of the locked directory is %s, want present", it.State)
	}
}

// TestScanner_InvalidUTF8: a name that is not UTF-8 (allowed by Linux,
// refused by PostgreSQL's text) is left out and reported; the rest of the
// scan goes on.
func TestScanner_InvalidUTF8(t *testing.T) { onBoth(t, testInvalidUTF8) }

func testInvalidUTF8(t *testing.T, newIndex func(t *testing.T) *countingIndex) {
	root := t.TempDir()
	write(t, root, "ok.mkv", 1)
	write(t, root, "bad\xff.mkv", 2)
	write(t, root, "dir\xfe/inside.mkv", 3)
	write(t, root, "notes\xff.txt", 4) // not media: not reported
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	st := scan(t, s, butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}})
	checkStats(t, "scan with names not in UTF-8", st, mediascan.Stats{Files: 1, Bytes: 1, Added: 1, ProblemCount: 2})
	for _, err := range st.Problems {
		if !strings.Contains(err.Error(), "not valid UTF-8") || !utf8.ValidString(err.Error()) {
			t.Errorf("problem %q", err)
		}
	}
}

func TestScanner_Symlinks(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	target := write(t, elsewhere, "real.mkv", 7)
	if err := os.Symlink(target, filepath.Join(root, "link.mkv")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(root, "missing.mkv"), filepath.Join(root, "dangling.mkv"))
	os.Symlink(root, filepath.Join(root, "loop")) // not followed
	os.Symlink(elsewhere, filepath.Join(root, "dir.mkv"))
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	st := scan(t, s, butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}})
	checkStats(t, "scan with links", st, mediascan.Stats{Files: 1, Bytes: 7, Added: 1})
	if _, ok := items(t, idx, "L")[filepath.Join(root, "link.mkv")]; !ok {
		t.Errorf("the link to a file is not an item")
	}
}

func TestScanner_FolderRemovedFromLibrary(t *testing.T) {
	root := t.TempDir()
	one, two := filepath.Join(root, "one"), filepath.Join(root, "two")
	write(t, one, "a.mkv", 1)
	b := write(t, two, "b.mkv", 2)
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	scan(t, s, butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{one, two}})
	st := scan(t, s, butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{one}})
	checkStats(t, "scan without folder two", st, mediascan.Stats{Files: 1, Bytes: 1, Unchanged: 1, Gone: 1})
	if it := items(t, idx, "L")[b]; it.State != butler.ItemGone {
		t.Errorf("item of the folder removed from the library: %s, want gone", it.State)
	}
}

func TestScanner_Forget(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.mkv", 1)
	write(t, root, "b.mkv", 1)
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx}
	scan(t, s, butler.Library{Name: "Old", Kind: butler.LibraryMovies, Folders: []string{root}})
	st, err := s.Forget(t.Context(), "Old")
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, "Forget", st, mediascan.Stats{Gone: 2})
	for p, it := range items(t, idx, "Old") {
		if it.State != butler.ItemGone {
			t.Errorf("%s is %s after Forget", p, it.State)
		}
	}
}

func TestScanner_InvalidLibrary(t *testing.T) {
	s := &mediascan.Scanner{Index: newIndex(t)}
	for _, lib := range []butler.Library{
		{Name: "", Kind: butler.LibraryMovies, Folders: []string{"/m"}},
		{Name: "L", Kind: "films", Folders: []string{"/m"}},
		{Name: "L", Kind: butler.LibraryMovies},
		{Name: "L", Kind: butler.LibraryMovies, Folders: []string{"m"}},
		{Name: "L", Kind: butler.LibraryMovies, Folders: []string{"/m/"}},
		{Name: "L", Kind: butler.LibraryMovies, Folders: []string{"/m", "/m/a"}},
	} {
		if _, err := s.Scan(t.Context(), lib); butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("Scan(%+v): err = %v, want EINVALID", lib, err)
		}
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		lib  butler.LibraryKind
		name string
		want butler.MediaKind
	}{
		{butler.LibraryMovies, "a.mkv", butler.MediaVideo},
		{butler.LibraryMovies, "A.MKV", butler.MediaVideo},
		{butler.LibraryShows, "s01e01.mp4", butler.MediaVideo},
		{butler.LibraryMovies, "a.mp3", ""},
		{butler.LibraryMovies, "a.srt", ""},
		{butler.LibraryMovies, "mkv", ""},
		{butler.LibraryMusic, "a.flac", butler.MediaAudio},
		{butler.LibraryMusic, "a.mkv", ""},
		{butler.LibraryPhotos, "a.JPG", butler.MediaPhoto},
		{butler.LibraryPhotos, "a.heic", butler.MediaPhoto},
		{butler.LibraryPhotos, "a.mov", butler.MediaVideo},
		{butler.LibraryPhotos, "a.mp3", ""},
		{"films", "a.mkv", ""},
	} {
		got, ok := mediascan.Kind(tc.lib, tc.name)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Kind(%s, %q) = %q, %v; want %q", tc.lib, tc.name, got, ok, tc.want)
		}
	}
}

// heldIndex is a real index whose first batch write is held until the
// test lets it go (hold) and that records, in order, when writes return.
type heldIndex struct {
	butler.MediaIndex
	hold    func(ctx context.Context) error // the first write waits for it
	mu      sync.Mutex
	writes  int
	events  []string
	failAll error // every write fails with it, once it is set
}

func (h *heldIndex) ApplyMediaChanges(ctx context.Context, library string, ch butler.MediaChanges) error {
	h.mu.Lock()
	h.writes++
	first := h.writes == 1
	h.mu.Unlock()
	err := h.failAll
	if first && h.hold != nil {
		err = h.hold(ctx)
	}
	if err == nil {
		err = h.MediaIndex.ApplyMediaChanges(ctx, library, ch)
	}
	h.event("write returned")
	return err
}

func (h *heldIndex) event(e string) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// TestScanner_WalksWhileWriting holds the first batch's write until the
// walk has gone past it: the scan writes a batch while it walks to make
// the next.
func TestScanner_WalksWhileWriting(t *testing.T) {
	root := t.TempDir()
	for i := range 700 {
		write(t, root, fmt.Sprintf("d%d/%03d.mkv", i/100, i), 1)
	}
	walkedOn := make(chan struct{})
	idx := &heldIndex{MediaIndex: newIndex(t), hold: func(ctx context.Context) error {
		select {
		case <-walkedOn:
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the walk did not go on while the first batch was written")
		}
	}}
	var once sync.Once
	s := &mediascan.Scanner{Index: idx, BatchSize: 300, Progress: func(st mediascan.Stats) {
		// Reported every 256 files walked: 512 is past the first batch.
		if st.Files > 300 {
			once.Do(func() { close(walkedOn) })
		}
	}}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	checkStats(t, "scan", scan(t, s, lib), mediascan.Stats{Files: 700, Bytes: 700, Added: 700})
	if n := len(items(t, idx, "L")); n != 700 {
		t.Errorf("%d items after the scan, want 700", n)
	}
}

// TestScanner_WaitsForItsWrite stops a scan while a batch is being
// written: the scan returns after the write, never before.
func TestScanner_WaitsForItsWrite(t *testing.T) {
	root := t.TempDir()
	for i := range 800 {
		write(t, root, fmt.Sprintf("%03d.mkv", i), 1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	scanReturned := make(chan struct{})
	idx := &heldIndex{MediaIndex: newIndex(t), hold: func(ctx context.Context) error {
		<-ctx.Done()
		// A scan that did not wait would return now: give it the time to.
		select {
		case <-scanReturned:
		case <-time.After(100 * time.Millisecond):
		}
		return ctx.Err()
	}}
	// Stopped at file 512 (a progress report), while the first batch is
	// written; it sees that at file 768, before its next batch.
	s := &mediascan.Scanner{Index: idx, BatchSize: 500, Progress: func(st mediascan.Stats) {
		if st.Files > 500 {
			cancel()
		}
	}}
	_, err := s.Scan(ctx, butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}})
	idx.event("scan returned")
	close(scanReturned)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan stopped during a write: %v, want context.Canceled", err)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if want := []string{"write returned", "scan returned"}; !slices.Equal(idx.events, want) {
		t.Errorf("events %q, want %q", idx.events, want)
	}
}

// TestScanner_WriteFails returns the error of a batch written in the
// background, and writes nothing after it.
func TestScanner_WriteFails(t *testing.T) {
	root := t.TempDir()
	for i := range 700 {
		write(t, root, fmt.Sprintf("%03d.mkv", i), 1)
	}
	disk := errors.New("disk full")
	idx := &heldIndex{MediaIndex: newIndex(t), failAll: disk}
	s := &mediascan.Scanner{Index: idx, BatchSize: 100}
	_, err := s.Scan(t.Context(), butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}})
	if !errors.Is(err, disk) || !strings.Contains(err.Error(), "write a batch of 100 changes of library L") {
		t.Errorf("Scan with failing writes: %v, want the first batch's error", err)
	}
	if idx.writes != 1 {
		t.Errorf("%d batches written, want 1: none after the one that failed", idx.writes)
	}
}

// TestScanner_AddsBetweenPages adds files between the items of every page
// with pages of two items and batches of one change: the batches are
// written while the walk goes on and the next page is read while the merge
// goes through this one, and no added file may be read back as an item the
// walk passed (which the scan would mark gone).
func TestScanner_AddsBetweenPages(t *testing.T) { onBoth(t, testAddsBetweenPages) }

func testAddsBetweenPages(t *testing.T, newIndex func(t *testing.T) *countingIndex) {
	root := t.TempDir()
	for i := 0; i < 40; i += 2 {
		write(t, root, fmt.Sprintf("d%d/%02d.mkv", i/10, i), 1)
	}
	idx := newIndex(t)
	s := &mediascan.Scanner{Index: idx, PageSize: 2, BatchSize: 1}
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	checkStats(t, "first scan", scan(t, s, lib), mediascan.Stats{Files: 20, Bytes: 20, Added: 20})
	for i := 1; i < 40; i += 2 {
		write(t, root, fmt.Sprintf("d%d/%02d.mkv", i/10, i), 1)
	}
	os.Remove(filepath.Join(root, "d2", "24.mkv"))
	checkStats(t, "scan with a file added after each item", scan(t, s, lib),
		mediascan.Stats{Files: 39, Bytes: 39, Added: 20, Gone: 1, Unchanged: 19})
	checkStats(t, "scan again", scan(t, s, lib), mediascan.Stats{Files: 39, Bytes: 39, Unchanged: 39})
	if got := len(items(t, idx, "L")); got != 40 {
		t.Errorf("%d items, want 40 (one of them gone)", got)
	}
}
