package tasks_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/markers"
	"github.com/plexbutler/butler/tasks"
)

// tune is an aevalsrc expression of a two-voice melody (the same for
// every episode: the season's intro).
const tune = "0.35*sin(2*PI*t*220*pow(2\\,mod(floor(t*4)*5\\,19)/12))+0.2*sin(2*PI*t*330*pow(2\\,mod(floor(t*3)*7\\,13)/12))"

// episode writes an audio-only episode: cold seconds of noise (seed),
// the 20 s intro tune, then 150 s of other noise.
func episode(t *testing.T, path string, cold float64, seed int) {
	t.Helper()
	ffmpegMake(t, "-filter_complex", fmt.Sprintf(
		"anoisesrc=r=22050:c=pink:a=0.3:seed=%d:d=%g[a];aevalsrc=exprs='%s':s=22050:d=20[b];anoisesrc=r=22050:c=brown:a=0.3:seed=%d:d=150[c];[a][b][c]concat=n=3:v=0:a=1[out]",
		seed, cold, tune, seed+100), "-map", "[out]", "-c:a", "aac", path)
}

// scanShows indexes shows (a shows library, "Shows") and films (a movies
// library, "Films"), either "" for none, analyses their files, and
// returns the libraries and the items by path.
func scanShows(t *testing.T, idx butler.MediaIndex, shows, films string) ([]butler.Library, map[string]butler.MediaItem) {
	t.Helper()
	var libs []butler.Library
	if shows != "" {
		libs = append(libs, butler.Library{Name: "Shows", Kind: butler.LibraryShows, Folders: []string{shows}})
	}
	if films != "" {
		libs = append(libs, butler.Library{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{films}})
	}
	return libs, scanLibraries(t, idx, libs)
}

// TestGenerateIntroMarkers: a season of two episodes whose intros (the
// same 20 s tune) start at 12 and 27 s, and an episode alone in its
// folder, in a shows library: one run searches each folder once,
// records both episodes' intros within half a second and the lone
// episode as done with none, and leaves the film of the movies library
// alone; a second run has nothing to do.
func TestGenerateIntroMarkers(t *testing.T) {
	needFFmpeg(t)
	shows, films := filepath.Join(t.TempDir(), "shows"), filepath.Join(t.TempDir(), "films")
	season := filepath.Join(shows, "Show", "Season 01")
	e1, e2 := filepath.Join(season, "Show S01E01.mkv"), filepath.Join(season, "Show S01E02.mkv")
	lone := filepath.Join(shows, "Special", "Special.mkv")
	film := filepath.Join(films, "Film", "Film.mkv")
	if err := mkdirs(season, filepath.Dir(lone), filepath.Dir(film)); err != nil {
		t.Fatal(err)
	}
	episode(t, e1, 12, 1)
	episode(t, e2, 27, 2)
	episode(t, lone, 5, 3)
	episode(t, film, 8, 4)
	idx := mediaIndex(t)
	libs, items := scanShows(t, idx, shows, films)

	act := &tasks.GenerateMarkers{Kind: markers.Intro, Index: idx, Libraries: libs, Parallel: 2}
	if n, err := act.Backlog(t.Context()); err != nil || n != 3 {
		t.Errorf("Backlog = %d, %v; want 3 (the film is left out)", n, err)
	}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "searched 2 season blocks (3 episodes), 0 failed, 0 skipped" {
		t.Errorf("summary %q; want the season and the lone episode searched once each", s)
	}
	for _, tc := range []struct {
		path  string
		start float64
	}{{e1, 12}, {e2, 27}} {
		var d tasks.MarkerData
		o := outputOf(t, idx, items[tc.path].ID, butler.OutputIntroMarkers, &d)
		if o.Version != tasks.MarkersVersion || !d.Found ||
			math.Abs(float64(d.StartMs)/1000-tc.start) > 0.5 || math.Abs(float64(d.EndMs)/1000-(tc.start+20)) > 0.5 {
			t.Errorf("%s: %+v, %+v; want an intro from %gs to %gs", tc.path, o, d, tc.start, tc.start+20)
		}
	}
	var fd tasks.MarkerData
	if o := outputOf(t, idx, items[lone].ID, butler.OutputIntroMarkers, &fd); o.Version != tasks.MarkersVersion || fd.Found {
		t.Errorf("the episode alone: %+v, %+v; want done, no intro", o, fd)
	}
	if outs, err := idx.MediaOutputs(t.Context(), items[film].ID); err != nil || len(outs) != 0 {
		t.Errorf("the film's outputs: %+v, %v; want none", outs, err)
	}
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "nothing to do: every analysed item has its intro-markers" {
		t.Errorf("second run: %q", s)
	}
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// TestGenerateMarkersSiblingFailureBacksOff: an episode that fails while
// its season is searched for another one backs off as its own failures
// would (a day, doubling), not a day each time.
func TestGenerateMarkersSiblingFailureBacksOff(t *testing.T) {
	needFFmpeg(t)
	season := filepath.Join(t.TempDir(), "Show", "Season 01")
	e1, e2, bad := filepath.Join(season, "Show S01E01.mkv"), filepath.Join(season, "Show S01E02.mkv"), filepath.Join(season, "Show S01E03.mkv")
	if err := mkdirs(season); err != nil {
		t.Fatal(err)
	}
	episode(t, e1, 12, 1)
	episode(t, e2, 27, 2)
	episode(t, bad, 5, 3)
	idx := mediaIndex(t)
	libs, items := scanShows(t, idx, filepath.Dir(filepath.Dir(season)), "")
	// The third episode is damaged in place (same size and time), and
	// failed once before.
	damageInPlace(t, bad)
	it := items[bad]
	file := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	if ok, err := idx.RecordMediaOutputFailure(t.Context(), it.ID, file, butler.OutputIntroMarkers, "an earlier failure", time.Now().Add(-time.Minute)); err != nil || !ok {
		t.Fatalf("record the earlier failure: %v, %v", ok, err)
	}

	// One at a time, in path order: the first episode's search finds the
	// third one damaged.
	act := &tasks.GenerateMarkers{Kind: markers.Intro, Index: idx, Libraries: libs, Parallel: 1}
	if err := act.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	var d tasks.MarkerData
	if o := outputOf(t, idx, items[e2].ID, butler.OutputIntroMarkers, &d); o.Version != tasks.MarkersVersion {
		t.Errorf("the second episode: %+v; want its marker recorded", o)
	}
	o := outputOf(t, idx, it.ID, butler.OutputIntroMarkers, nil)
	if o.Failures != 2 || o.RetryAt.Before(time.Now().Add(47*time.Hour)) || o.RetryAt.After(time.Now().Add(49*time.Hour)) {
		t.Errorf("the damaged episode: %d failures, retried at %v (in %v); want 2 failures, retried two days later",
			o.Failures, o.RetryAt, time.Until(o.RetryAt).Round(time.Minute))
	}
}
