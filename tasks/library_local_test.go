package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// scanned scans libs into a new index and returns it.
func scanned(t *testing.T, libs ...butler.Library) butler.SidecarIndex {
	t.Helper()
	idx := mediaIndex(t)
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	return idx
}

// recordedSidecars returns the sidecars recorded for the item at path,
// as "name kind language flags" strings.
func recordedSidecars(t *testing.T, idx butler.SidecarIndex, library, path string) []string {
	t.Helper()
	it, ok := libraryItems(t, idx, library)[path]
	if !ok {
		t.Fatalf("no item %s in %s", path, library)
	}
	got, err := idx.MediaSidecars(t.Context(), []int64{it.ID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range got[it.ID] {
		info, err := os.Stat(s.Path)
		if err != nil || info.Size() != s.Size || !info.ModTime().Equal(s.ModTime) {
			t.Errorf("sidecar %s recorded with size %d, time %v; the file: %v, %v", s.Path, s.Size, s.ModTime, info, err)
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", filepath.Base(s.Path), s.Kind, s.Language, strings.Join(s.Flags, ","))))
	}
	return out
}

func TestRefreshLocalMedia(t *testing.T) {
	root := t.TempDir()
	movies, music := filepath.Join(root, "movies"), filepath.Join(root, "music")
	alien := touch(t, movies, "Alien (1979)/Alien (1979).mkv", 10)
	touch(t, movies, "Alien (1979)/Alien (1979).en.srt", 3)
	touch(t, movies, "Alien (1979)/Alien (1979).en.forced.srt", 4)
	touch(t, movies, "Alien (1979)/Alien (1979).eng.sdh.srt", 5)
	touch(t, movies, "Alien (1979)/poster.jpg", 6)
	touch(t, movies, "Alien (1979)/Alien (1979).nfo", 7)
	brazil := touch(t, movies, "Brazil (1985)/Brazil (1985).mp4", 10)
	touch(t, movies, "Brazil (1985)/fanart.png", 8)
	bare := touch(t, movies, "Cube (1997)/Cube (1997).avi", 10)
	song := touch(t, music, "Artist/Album/01 Song.flac", 5)
	touch(t, music, "Artist/Album/02 Other.flac", 5)
	cover := touch(t, music, "Artist/Album/cover.jpg", 9)
	libs := []butler.Library{
		{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{movies}},
		{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{music}},
	}
	idx := scanned(t, libs...)
	act := &tasks.RefreshLocalMedia{Index: idx, Libraries: libs}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	want := "Movies: 3 items, 2 with sidecars (3 subtitles, 1 poster, 1 art file, 1 .nfo), 2 updated; " +
		"Music: 2 items, 2 with sidecars (0 subtitles, 2 posters, 0 art files, 0 .nfo files), 2 updated"
	if s := r.summary(); s != want {
		t.Errorf("summary\n  %q\nwant\n  %q", s, want)
	}
	if got := recordedSidecars(t, idx, "Movies", alien); !slices.Equal(got, []string{
		"Alien (1979).en.forced.srt subtitle en forced", "Alien (1979).en.srt subtitle en",
		"Alien (1979).eng.sdh.srt subtitle eng sdh", "Alien (1979).nfo nfo", "poster.jpg poster",
	}) {
		t.Errorf("Alien's sidecars: %q", got)
	}
	if got := recordedSidecars(t, idx, "Movies", brazil); !slices.Equal(got, []string{"fanart.png art"}) {
		t.Errorf("Brazil's sidecars: %q", got)
	}
	if got := recordedSidecars(t, idx, "Movies", bare); len(got) != 0 {
		t.Errorf("Cube's sidecars: %q; want none", got)
	}
	if got := recordedSidecars(t, idx, "Music", song); !slices.Equal(got, []string{"cover.jpg poster"}) {
		t.Errorf("the track's sidecars: %q", got)
	}
	if p := r.progress(); len(p) == 0 || p[len(p)-1].Percent != 100 {
		t.Errorf("progress %v; want it to end at 100", p)
	}

	// A rerun with nothing changed writes nothing.
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.Contains(s, "(3 subtitles, 1 poster, 1 art file, 1 .nfo), 0 updated") ||
		!strings.HasSuffix(s, "0 updated") {
		t.Errorf("rerun: summary %q; want nothing updated", s)
	}

	// A subtitle rewritten, the album's cover removed, a poster added.
	touch(t, movies, "Alien (1979)/Alien (1979).en.srt", 30)
	os.Remove(cover)
	touch(t, movies, "Cube (1997)/Cube (1997)-poster.png", 2)
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.Contains(s, "Movies: 3 items, 3 with sidecars (3 subtitles, 2 posters, 1 art file, 1 .nfo), 2 updated") ||
		!strings.Contains(s, "Music: 2 items, 0 with sidecars (0 subtitles, 0 posters, 0 art files, 0 .nfo files), 2 updated") {
		t.Errorf("after changes: summary %q", s)
	}
	if got := recordedSidecars(t, idx, "Music", song); len(got) != 0 {
		t.Errorf("the track's sidecars after the cover went: %q; want none", got)
	}
	if got := recordedSidecars(t, idx, "Movies", bare); !slices.Equal(got, []string{"Cube (1997)-poster.png poster"}) {
		t.Errorf("Cube's sidecars: %q", got)
	}
	recordedSidecars(t, idx, "Movies", alien) // checks the rewritten subtitle's size
}

func TestRefreshLocalMedia_NoLibrary(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.RefreshLocalMedia{Index: mediaIndex(t)}).Run(t.Context(), r); !errors.As(err, new(*butler.NothingYet)) {
		t.Fatalf("Run with no library: %v; want NothingYet (a success that leaves the task due)", err)
	}
	if s := r.summary(); s != "no library configured" {
		t.Errorf("summary %q, want %q", s, "no library configured")
	}
	if err := (&tasks.RefreshLocalMedia{}).Run(t.Context(), r); err == nil || !strings.Contains(err.Error(), "no media index") {
		t.Errorf("Run without an index: %v", err)
	}
}

func TestRefreshLocalMedia_FolderUnreadable(t *testing.T) {
	root := t.TempDir()
	a := touch(t, root, "lib/A/A.mkv", 1)
	touch(t, root, "lib/A/A.srt", 1)
	b := touch(t, root, "lib/B/B.mkv", 1)
	touch(t, root, "lib/B/B.srt", 1)
	libs := []butler.Library{{Name: "L", Kind: butler.LibraryMovies, Folders: []string{filepath.Join(root, "lib")}}}
	idx := scanned(t, libs...)
	act := &tasks.RefreshLocalMedia{Index: idx, Libraries: libs}
	if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	// A's folder goes away (a disk unmounted) before the next scan.
	away := filepath.Join(root, "lib", "A")
	if err := os.Rename(away, filepath.Join(root, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	touch(t, root, "lib/B/B.en.srt", 1)
	r := newTestReporter(t)
	err := act.Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), away) {
		t.Fatalf("Run with a folder gone: %v; want an error naming %s", err, away)
	}
	if s := r.summary(); !strings.Contains(s, "1 folder unreadable") {
		t.Errorf("summary %q", s)
	}
	// Back, to compare the recorded sidecars with the files.
	if err := os.Rename(filepath.Join(root, "elsewhere"), away); err != nil {
		t.Fatal(err)
	}
	if got := recordedSidecars(t, idx, "L", a); !slices.Equal(got, []string{"A.srt subtitle"}) {
		t.Errorf("the unreadable folder's item lost its sidecars: %q", got)
	}
	if got := recordedSidecars(t, idx, "L", b); len(got) != 2 {
		t.Errorf("the other item was not refreshed: %q", got)
	}
}

func TestRefreshLocalMedia_Stop(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		touch(t, root, fmt.Sprintf("m%03d/m%03d.mkv", i, i), 1)
		touch(t, root, fmt.Sprintf("m%03d/m%03d.en.srt", i, i), 1)
	}
	libs := []butler.Library{{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}}
	idx := scanned(t, libs...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newTestReporter(t)
	r.setOnProgress(func(int, string) { cancel() })
	err := (&tasks.RefreshLocalMedia{Index: idx, Libraries: libs, PageSize: 50}).Run(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped: %v; want context.Canceled", err)
	}
	if s := r.summary(); !strings.Contains(s, "L (not finished): 50 items, 50 with sidecars") {
		t.Errorf("summary %q; want it to say the run stopped after the first page", s)
	}
	// The first page stays recorded, and nothing after it.
	with := 0
	for path := range libraryItems(t, idx, "L") {
		if len(recordedSidecars(t, idx, "L", path)) > 0 {
			with++
		}
	}
	if with != 50 {
		t.Errorf("%d items have sidecars recorded after a stop after the first page; want 50", with)
	}
	// Stopped before it starts.
	err = (&tasks.RefreshLocalMedia{Index: idx, Libraries: libs}).Run(ctx, newTestReporter(t))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a stopped context: %v", err)
	}
}

// TestRefreshLocalMedia_ReadsEachFolderOnce: a folder is read once a
// run, however many pages its items take, and when the items of its
// subfolders come between its own (path order).
func TestRefreshLocalMedia_ReadsEachFolderOnce(t *testing.T) {
	root := t.TempDir()
	flat := filepath.Join(root, "Movies")
	for i := range 240 {
		touch(t, flat, fmt.Sprintf("m%03d.mkv", i), 1)
		touch(t, flat, fmt.Sprintf("m%03d.en.srt", i), 1)
	}
	// Subfolders that sort among the flat folder's files, one in another.
	touch(t, flat, "m100/m100.mkv", 1)
	touch(t, flat, "m100/m100.fr.srt", 1)
	touch(t, flat, "m100/Extras/m100.mkv", 1)
	touch(t, flat, "m200/m200.mkv", 1)
	libs := []butler.Library{{Name: "L", Kind: butler.LibraryMovies, Folders: []string{flat}}}
	idx := scanned(t, libs...)
	reads := tasks.CountFolderReads(t)
	r := newTestReporter(t)
	if err := (&tasks.RefreshLocalMedia{Index: idx, Libraries: libs, PageSize: 50}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{flat: 1, filepath.Join(flat, "m100"): 1, filepath.Join(flat, "m100", "Extras"): 1, filepath.Join(flat, "m200"): 1}
	if !maps.Equal(reads, want) {
		t.Errorf("folders read %v; want each once: %v", reads, want)
	}
	if s := r.summary(); !strings.HasPrefix(s, "L: 243 items, 241 with sidecars (241 subtitles,") {
		t.Errorf("summary %q", s)
	}
	if got := recordedSidecars(t, idx, "L", filepath.Join(flat, "m239.mkv")); !slices.Equal(got, []string{"m239.en.srt subtitle en"}) {
		t.Errorf("the last film's sidecars: %q", got)
	}
	if got := recordedSidecars(t, idx, "L", filepath.Join(flat, "m100", "m100.mkv")); !slices.Equal(got, []string{"m100.fr.srt subtitle fr"}) {
		t.Errorf("the subfolder's film's sidecars: %q", got)
	}
}
