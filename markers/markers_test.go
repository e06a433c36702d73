package markers_test

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/markers"
)

// tolerance is how far a marker may be from the truth. The edges come
// from the waveforms to a 50 ms block; the generated files measure
// within 0.1 s.
const tolerance = 0.5

// check asserts that r has a marker of kind and method from start to end
// (seconds), within tolerance, and logs the errors.
func check(t *testing.T, name string, r markers.Result, kind markers.Kind, method string, start, end float64) {
	t.Helper()
	if r.Err != nil {
		t.Errorf("%s: %v", name, r.Err)
		return
	}
	m := r.Marker
	if m == nil {
		t.Errorf("%s: no %s marker, want %.2f-%.2f", name, kind, start, end)
		return
	}
	ds, de := m.Start.Seconds()-start, m.End.Seconds()-end
	t.Logf("%s: %s %s-%s by %s (truth %.2f-%.2f: start %+.2f s, end %+.2f s)", name, m.Kind, secs(m.Start), secs(m.End), m.Method, start, end, ds, de)
	if m.Kind != kind || m.Method != method {
		t.Errorf("%s: a %s marker by %s, want a %s marker by %s", name, m.Kind, m.Method, kind, method)
	}
	if math.Abs(ds) > tolerance || math.Abs(de) > tolerance {
		t.Errorf("%s: %s-%s is more than %.1f s from the truth %.2f-%.2f", name, secs(m.Start), secs(m.End), tolerance, start, end)
	}
}

// none asserts that r has no marker and no error.
func none(t *testing.T, name string, r markers.Result) {
	t.Helper()
	if r.Err != nil {
		t.Errorf("%s: %v", name, r.Err)
	}
	if r.Marker != nil {
		t.Errorf("%s: a %s marker %s-%s by %s where there is none", name, r.Marker.Kind, secs(r.Marker.Start), secs(r.Marker.End), r.Marker.Method)
	}
}

// TestIntros: the intro that a season's episodes share is found in each,
// after cold opens of different lengths, with or without a moment of
// silence before it (which it does not include).
func TestIntros(t *testing.T) {
	specs, eps := season(t, "a")
	var f markers.Finder
	start := time.Now()
	res, err := f.Intros(t.Context(), eps)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d episodes in %s", len(eps), time.Since(start).Round(time.Millisecond))
	if len(res) != len(eps) {
		t.Fatalf("%d results for %d episodes", len(res), len(eps))
	}
	for i, r := range res {
		if r.Path != eps[i].Path {
			t.Errorf("result %d is for %s, want %s", i, r.Path, eps[i].Path)
		}
		check(t, specs[i].name, r, markers.Intro, markers.ByFingerprint, specs[i].introStart(), specs[i].introEnd())
	}
}

// TestIntros_NothingShared: episodes whose intros all differ (their cold
// opens are noise, their content noise and steady tones, alike but not
// the same) have none.
func TestIntros_NothingShared(t *testing.T) {
	specs, eps := season(t, "b")
	var f markers.Finder
	res, err := f.Intros(t.Context(), eps)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		none(t, specs[i].name, r)
	}
}

// TestIntros_OneEpisode: an episode alone has nothing to share.
func TestIntros_OneEpisode(t *testing.T) {
	_, eps := season(t, "a")
	var f markers.Finder
	res, err := f.Intros(t.Context(), eps[:1])
	if err != nil {
		t.Fatal(err)
	}
	none(t, "a1 alone", res[0])
}

// TestCredits: credits on black with the same music in every episode are
// found by both signs, starting where the black does; credits on black
// with music of their own by the black alone; credits neither on black
// nor with shared music are not found.
func TestCredits(t *testing.T) {
	var f markers.Finder
	specs, eps := season(t, "a")
	res, err := f.Credits(t.Context(), eps)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		check(t, specs[i].name, r, markers.Credits, markers.ByBoth, specs[i].creditsStart(), specs[i].duration())
	}

	specs, eps = season(t, "b")
	if res, err = f.Credits(t.Context(), eps); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if specs[i].blackCredits {
			check(t, specs[i].name, r, markers.Credits, markers.ByBlackFrames, specs[i].creditsStart(), specs[i].duration())
		} else {
			none(t, specs[i].name, r)
		}
	}
}

// audioOnly copies the audio of eps into Matroska audio files.
func audioOnly(t *testing.T, eps []markers.Episode) []markers.Episode {
	t.Helper()
	out := make([]markers.Episode, len(eps))
	for i, ep := range eps {
		p := filepath.Join(t.TempDir(), filepath.Base(ep.Path)+".mka")
		if b, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", ep.Path, "-map", "0:a", "-c", "copy", p).CombinedOutput(); err != nil {
			t.Fatalf("copy the audio of %s: %v: %s", ep.Path, err, b)
		}
		out[i] = probe(t, p)
	}
	return out
}

// TestAudioOnly: files of audio alone have their intros and credits
// found from the shared audio.
func TestAudioOnly(t *testing.T) {
	specs, eps := season(t, "a")
	eps = audioOnly(t, eps[:2])
	var f markers.Finder
	res, err := f.Intros(t.Context(), eps)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		check(t, specs[i].name, r, markers.Intro, markers.ByFingerprint, specs[i].introStart(), specs[i].introEnd())
	}
	if res, err = f.Credits(t.Context(), eps); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		check(t, specs[i].name, r, markers.Credits, markers.ByFingerprint, specs[i].creditsStart(), specs[i].duration())
	}
}

// TestDamagedEpisode: an episode whose file is not media gets a
// *FileError; the others are still compared and found.
func TestDamagedEpisode(t *testing.T) {
	specs, eps := season(t, "a")
	eps = audioOnly(t, eps[:2])
	bad := filepath.Join(t.TempDir(), "bad.mkv")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a video ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	withBad := []markers.Episode{eps[0], {Path: bad, Analysis: eps[1].Analysis}, eps[1]}
	var f markers.Finder
	res, err := f.Intros(t.Context(), withBad)
	if err != nil {
		t.Fatal(err)
	}
	var fe *markers.FileError
	if !errors.As(res[1].Err, &fe) || fe.Path != bad || res[1].Marker != nil {
		t.Errorf("the file that is not media: %+v, want a *FileError for %s and no marker", res[1], bad)
	} else {
		t.Logf("its error: %v", fe)
	}
	check(t, specs[0].name, res[0], markers.Intro, markers.ByFingerprint, specs[0].introStart(), specs[0].introEnd())
	check(t, specs[1].name, res[2], markers.Intro, markers.ByFingerprint, specs[1].introStart(), specs[1].introEnd())

	res, err = f.Credits(t.Context(), withBad)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.As(res[1].Err, &fe) {
		t.Errorf("credits of the file that is not media: %+v, want a *FileError", res[1])
	}
}

// TestFailures: a missing file, ffmpeg missing and a cancelled context
// fail the whole search, and are not *FileError.
func TestFailures(t *testing.T) {
	_, eps := season(t, "a")
	var fe *markers.FileError

	missing := []markers.Episode{eps[0], {Path: filepath.Join(t.TempDir(), "gone.mkv"), Analysis: eps[1].Analysis}}
	var f markers.Finder
	_, err := f.Intros(t.Context(), missing)
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &fe) {
		t.Errorf("a missing file: %v, want an error that wraps fs.ErrNotExist", err)
	}

	// A file that is there but cannot be stat'ed (a loop of symbolic
	// links; permission denied alike) is that episode's failure alone.
	loop := filepath.Join(t.TempDir(), "loop.mkv")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	res, err := f.Intros(t.Context(), []markers.Episode{eps[0], eps[1], {Path: loop, Analysis: eps[1].Analysis}})
	if err != nil || len(res) != 3 || !errors.As(res[2].Err, &fe) || res[0].Err != nil {
		t.Errorf("an episode that cannot be stat'ed: %+v, %v; want a *FileError in its result alone", res, err)
	}

	noFFmpeg := markers.Finder{FFmpeg: &mediatool.Tool{Program: filepath.Join(t.TempDir(), "ffmpeg")}}
	_, err = noFFmpeg.Credits(t.Context(), eps[:2])
	if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("ffmpeg missing: %v, want a plain error that says it is not found", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.Intros(ctx, eps[:2])
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v, want context.Canceled", err)
	}

	for i, bad := range []*markers.Finder{{IntroFraction: 2}, {CreditsWindow: -time.Minute}, {MinIntro: 3 * time.Minute}} {
		if _, err := bad.Intros(t.Context(), eps[:2]); err == nil {
			t.Errorf("bad settings %d were accepted", i)
		}
	}
}
