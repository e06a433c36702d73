package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/markers"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// countingSearch stands for the Finder's search of a season: it counts
// the searches, the episodes fingerprinted and the pairs compared, and
// finds no marker.
type countingSearch struct {
	mu                      sync.Mutex
	searches, prints, pairs int
	most                    int // episodes of the largest search
}

func (c *countingSearch) find(ctx context.Context, eps []markers.Episode) ([]markers.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.searches++
	c.prints += len(eps)
	c.pairs += len(eps) * (len(eps) - 1) / 2
	c.most = max(c.most, len(eps))
	out := make([]markers.Result, len(eps))
	for i, e := range eps {
		out[i] = markers.Result{Path: e.Path}
	}
	return out, ctx.Err()
}

func (c *countingSearch) counts() (searches, prints, pairs, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.searches, c.prints, c.pairs, c.most
}

// videoLibrary writes n small videos in one folder of a library of kind
// (named after it) and returns the library.
func videoLibrary(t *testing.T, kind butler.LibraryKind, folder string, n int) butler.Library {
	t.Helper()
	root := t.TempDir()
	for i := range n {
		touch(t, root, filepath.Join(folder, fmt.Sprintf("Video %04d.mkv", i+1)), 10)
	}
	return butler.Library{Name: string(kind), Kind: kind, Folders: []string{root}}
}

// indexVideos scans libs and stores, for each of their items, the
// analysis of a 40-minute file with an audio stream (without ffprobe).
// It returns the items by path.
func indexVideos(t *testing.T, idx *sqlite.DB, libs ...butler.Library) map[string]butler.MediaItem {
	t.Helper()
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	a := butler.MediaAnalysis{Container: "matroska,webm", Duration: 40 * time.Minute,
		Streams: []butler.MediaStream{{Index: 0, Type: "audio", Codec: "aac"}}}
	for _, l := range libs {
		for _, it := range libraryItems(t, idx, l.Name) {
			file := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
			if ok, err := idx.SaveMediaAnalysis(t.Context(), it.ID, file, mediaprobe.Version, time.Now(), a); err != nil || !ok {
				t.Fatalf("save the analysis of %s: %v, %v", it.Path, ok, err)
			}
		}
	}
	items := map[string]butler.MediaItem{}
	for _, l := range libs {
		for p, it := range libraryItems(t, idx, l.Name) {
			items[p] = it
		}
	}
	return items
}

// TestGenerateMarkersLeavesMoviesOut: a movies library's flat folder of
// 200 films is neither fingerprinted nor compared (nor counted in the
// backlog, nor done by an item job), while the season of a shows
// library beside it is; with no shows library the run says why it has
// nothing to do.
func TestGenerateMarkersLeavesMoviesOut(t *testing.T) {
	idx := mediaIndex(t)
	films := videoLibrary(t, butler.LibraryMovies, "Films", 200)
	shows := videoLibrary(t, butler.LibraryShows, filepath.Join("Show", "Season 01"), 3)
	items := indexVideos(t, idx, films, shows)
	var film butler.MediaItem
	for _, it := range items {
		if it.Library == films.Name {
			film = it
			break
		}
	}
	if len(items) != 203 || film.ID == 0 {
		t.Fatalf("%d items indexed; want 203, 200 of them films", len(items))
	}

	for _, kind := range []markers.Kind{markers.Intro, markers.Credits} {
		t.Run(string(kind), func(t *testing.T) {
			search := &countingSearch{}
			act := &tasks.GenerateMarkers{Kind: kind, Index: idx, Libraries: []butler.Library{films, shows}, Parallel: 2}
			tasks.SearchMarkersWith(act, search.find)
			if n, err := act.Backlog(t.Context()); err != nil || n != 3 {
				t.Errorf("Backlog = %d, %v; want the 3 episodes, not the films", n, err)
			}
			if res := act.RunItem(t.Context(), film.ID, newTestReporter(t).Logger()); res.Outcome != butler.ItemSkipped {
				t.Errorf("an item job of a film: %+v; want it skipped", res)
			}
			r := newTestReporter(t)
			if err := act.Run(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			searches, prints, pairs, _ := search.counts()
			if searches != 1 || prints != 3 || pairs != 3 {
				t.Errorf("%d searches, %d episodes fingerprinted, %d pairs compared; want the season's only: 1, 3, 3", searches, prints, pairs)
			}
			if s := r.summary(); s != "searched 1 season block (3 episodes), 0 failed, 0 skipped" {
				t.Errorf("summary %q; want the season searched once", s)
			}

			alone := &tasks.GenerateMarkers{Kind: kind, Index: idx, Libraries: []butler.Library{films}}
			tasks.SearchMarkersWith(alone, search.find)
			r = newTestReporter(t)
			if err := alone.Run(t.Context(), r); !errors.As(err, new(*butler.NothingYet)) {
				t.Fatalf("Run with a movies library only: %v; want NothingYet (a success that leaves the task due)", err)
			}
			if searches, _, _, _ := search.counts(); searches != 1 {
				t.Errorf("%d searches with a movies library only; want none", searches-1)
			}
			want := fmt.Sprintf("nothing to do: %s-markers is made in shows libraries only, and there is none", kind)
			if s := r.summary(); s != want {
				t.Errorf("summary with a movies library only: %q; want %q", s, want)
			}
			if n, err := alone.Backlog(t.Context()); err != nil || n != 0 {
				t.Errorf("Backlog with a movies library only = %d, %v; want 0", n, err)
			}
		})
	}
}

// TestGenerateMarkersSeasonCap: a folder of 150 episodes is searched
// DefaultSeasonEpisodes (60) at a time, a block a run: no search
// fingerprints more than 60 episodes or compares more than 60² pairs,
// each run records its block's markers, and three runs do them all.
func TestGenerateMarkersSeasonCap(t *testing.T) {
	const n, most = 150, tasks.DefaultSeasonEpisodes
	idx := mediaIndex(t)
	shows := videoLibrary(t, butler.LibraryShows, filepath.Join("Show", "Season 01"), n)
	items := indexVideos(t, idx, shows)
	search := &countingSearch{}
	act := &tasks.GenerateMarkers{Kind: markers.Intro, Index: idx, Libraries: []butler.Library{shows}, Parallel: 2}
	tasks.SearchMarkersWith(act, search.find)
	for run := 1; run <= 3; run++ {
		if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
			t.Fatal(err)
		}
		searches, prints, pairs, largest := search.counts()
		if largest > most || pairs > searches*most*most {
			t.Fatalf("after run %d: %d searches, the largest of %d episodes, %d pairs compared; want at most %d episodes and %d² pairs a search",
				run, searches, largest, pairs, most, most)
		}
		left, err := act.Backlog(t.Context())
		if want := max(0, n-run*most); err != nil || left != want || prints != n-want {
			t.Errorf("after run %d: %d left (%v), %d episodes fingerprinted; want %d left, %d fingerprinted", run, left, err, prints, want, n-want)
		}
	}
	for p, it := range items {
		var d tasks.MarkerData
		if o := outputOf(t, idx, it.ID, butler.OutputIntroMarkers, &d); o.Version != tasks.MarkersVersion || d.Found {
			t.Errorf("%s: %+v; want done, no intro", p, o)
		}
	}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "nothing to do: every analysed item has its intro-markers" {
		t.Errorf("fourth run: %q", s)
	}
}

// TestGenerateMarkersPaceCountsEpisodes: a markers run queues one episode
// of each season block, whose search records the whole block, while its
// backlog counts episodes: its pace counts the episodes the searches
// recorded, so that the plan's estimate of the episodes left is about
// the time their searches take (not the block size times it), and its
// summary says what was searched and recorded. Two seasons of 20
// episodes, blocks of 10: the first run searches a block of each.
func TestGenerateMarkersPaceCountsEpisodes(t *testing.T) {
	const search = 300 * time.Millisecond
	const task = butler.TaskButlerTaskGenerateIntroMarkers
	root := t.TempDir()
	for s := 1; s <= 2; s++ {
		for e := 1; e <= 20; e++ {
			touch(t, root, filepath.Join("Show", fmt.Sprintf("Season %02d", s), fmt.Sprintf("E%02d.mkv", e)), 10)
		}
	}
	shows := butler.Library{Name: "Shows", Kind: butler.LibraryShows, Folders: []string{root}}
	act := &tasks.GenerateMarkers{Kind: markers.Intro, Libraries: []butler.Library{shows}, SeasonEpisodes: 10, Parallel: 1}
	tasks.SearchMarkersWith(act, func(ctx context.Context, eps []markers.Episode) ([]markers.Result, error) {
		t := time.NewTimer(search) // the search's work
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		out := make([]markers.Result, len(eps))
		for i, e := range eps {
			out[i] = markers.Result{Path: e.Path}
		}
		return out, nil
	})
	s := newServer(t, task, act, 1)
	act.Index = s.db
	indexVideos(t, s.db, shows)

	run := func() (butler.Run, time.Duration) {
		t.Helper()
		start := time.Now()
		res, err := s.m.StartTask(t.Context(), task, true)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v %v", res, err)
		}
		r := s.waitEnded(t, res.Run.ID)
		if r.Outcome != butler.OutcomeSucceeded {
			t.Fatalf("run: %s %q", r.Outcome, r.Summary)
		}
		return r, time.Since(start)
	}
	first, _ := run()
	if want := "searched 2 season blocks (20 episodes), 0 failed, 0 skipped"; first.Summary != want {
		t.Errorf("first run's summary %q; want %q", first.Summary, want)
	}
	recs, err := s.db.TaskRecords(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p := recs[task].ItemPace; p.Items != 20 || p.Wall < 2*search {
		t.Errorf("recorded pace %+v; want the 20 episodes recorded, in at least the 2 searches' %s", p, 2*search)
	}
	items := s.planItemsOf(t, task)
	_, took := run() // the other block of each season: 2 more searches
	t.Logf("plan before the second run: %+v; the second run took %s", items, took)
	if items == nil || items.Left != 20 || items.Estimate <= 0 || items.Estimate > 3*took {
		t.Errorf("plan before the second run: %+v; want the 20 episodes left, estimated about the %s they took", items, took)
	}
}

// TestGenerateMarkersCoversTheEpisodesLeft: a search covers, in its
// result, the episodes of its block that were left to do (the run's pace
// counts those), not those that had their marker already: a season of 5
// searched whole covers 5; searched again for an episode added since, it
// covers that one.
func TestGenerateMarkersCoversTheEpisodesLeft(t *testing.T) {
	idx := mediaIndex(t)
	shows := videoLibrary(t, butler.LibraryShows, filepath.Join("Show", "Season 01"), 5)
	items := indexVideos(t, idx, shows)
	act := &tasks.GenerateMarkers{Kind: markers.Intro, Index: idx, Libraries: []butler.Library{shows}}
	search := &countingSearch{}
	tasks.SearchMarkersWith(act, search.find)
	log := newTestReporter(t).Logger()
	var first butler.MediaItem
	for _, it := range items {
		if first.ID == 0 || it.Path < first.Path {
			first = it
		}
	}
	if res := act.RunItem(t.Context(), first.ID, log); res.Outcome != butler.ItemDone || res.Covered != 5 {
		t.Errorf("the season's first search: %+v; want done, covering its 5 episodes", res)
	}

	added := touch(t, shows.Folders[0], filepath.Join("Show", "Season 01", "Video 0006.mkv"), 10)
	items = indexVideos(t, idx, shows)
	if n, err := act.Backlog(t.Context()); err != nil || n != 1 {
		t.Fatalf("Backlog = %d, %v after an episode was added; want 1", n, err)
	}
	if res := act.RunItem(t.Context(), items[added].ID, log); res.Outcome != butler.ItemDone || res.Covered != 1 {
		t.Errorf("the search for the added episode: %+v; want done, covering it alone", res)
	}
	if searches, prints, _, _ := search.counts(); searches != 2 || prints != 11 {
		t.Errorf("%d searches of %d episodes; want 2, of the 5 and then the 6", searches, prints)
	}
}
