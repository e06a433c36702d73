package markers_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler/markers"
	"github.com/plexbutler/butler/mediaprobe"
)

// The generated episodes: a cold open, in some a moment of black
// silence, the intro (30 s), the episode's content, the credits (40 s).
// The video is tiny (64x36 at 10 frames a second, so every length is a
// whole number of frames) and the audio AAC at 22,050 Hz, mono.
const (
	introLength = 30.0
	credLength  = 40.0
	rate        = 22050
)

// melody is an aevalsrc expression of two voices whose notes change four
// and three times a second, over a pattern chosen by p and q: the same
// p, q give the same tune.
func melody(base float64, p, q int) string {
	return fmt.Sprintf("0.35*sin(2*PI*t*%g*pow(2\\,mod(floor(t*4)*%d\\,19)/12))+0.2*sin(2*PI*t*%g*pow(2\\,mod(floor(t*3)*%d\\,13)/12))",
		base, p, base*1.5, q)
}

// episodeSpec describes one generated episode.
type episodeSpec struct {
	name string
	// cold is the cold open's length, coldSeed its noise's seed.
	cold     float64
	coldSeed int
	// gap is the black silence between the cold open and the intro (0:
	// none).
	gap float64
	// intro is the intro's tune (p, q of melody).
	intro [2]int
	// content is the content's length; its first half is noise of
	// seed contentSeed, the second a steady tone of tone Hz.
	content     float64
	contentSeed int
	tone        float64
	// credits is the credits' tune; blackCredits puts them on black
	// (with a small white box moving over it, as scrolling names),
	// otherwise on a test pattern.
	credits      [2]int
	blackCredits bool
}

// introStart, introEnd and creditsStart are the truth, in seconds.
func (e episodeSpec) introStart() float64   { return e.cold + e.gap }
func (e episodeSpec) introEnd() float64     { return e.introStart() + introLength }
func (e episodeSpec) creditsStart() float64 { return e.introEnd() + e.content }
func (e episodeSpec) duration() float64     { return e.creditsStart() + credLength }

// filter is the episode's filter graph, its outputs [v] and [a].
func (e episodeSpec) filter() string {
	v := func(src string, d float64) string {
		sep := "="
		if strings.Contains(src, "=") {
			sep = ":"
		}
		return fmt.Sprintf("%s%ss=64x36:r=10:d=%g", src, sep, d)
	}
	credits := v("testsrc2", credLength)
	if e.blackCredits {
		credits = v("color=c=black", credLength) + "[bg];" + fmt.Sprintf("color=c=white:s=8x4:r=10:d=%g", credLength) +
			"[box];[bg][box]overlay=x='mod(t*20\\,56)':y='32-mod(t*3\\,32)'"
	}
	parts := []string{
		v("testsrc2", e.cold) + "[v0]",
		fmt.Sprintf("anoisesrc=r=%d:c=pink:a=0.3:seed=%d:d=%g[a0]", rate, e.coldSeed, e.cold),
		v("smptebars", introLength) + "[v2]",
		fmt.Sprintf("aevalsrc=exprs='%s':s=%d:d=%g[a2]", melody(220, e.intro[0], e.intro[1]), rate, introLength),
		v("testsrc", e.content) + "[v3]",
		fmt.Sprintf("anoisesrc=r=%d:c=brown:a=0.3:seed=%d:d=%g[n3];sine=f=%g:r=%d:d=%g[s3];[n3][s3]concat=n=2:v=0:a=1[a3]",
			rate, e.contentSeed, e.content/2, e.tone, rate, e.content/2),
		credits + "[v4]",
		fmt.Sprintf("aevalsrc=exprs='%s':s=%d:d=%g[a4]", melody(147, e.credits[0], e.credits[1]), rate, credLength),
	}
	segments := "[v0][a0][v2][a2][v3][a3][v4][a4]concat=n=4"
	if e.gap > 0 {
		parts = append(parts, v("color=c=black", e.gap)+"[v1]",
			fmt.Sprintf("anullsrc=r=%d:cl=mono,atrim=duration=%g[a1]", rate, e.gap))
		segments = "[v0][a0][v1][a1][v2][a2][v3][a3][v4][a4]concat=n=5"
	}
	parts = append(parts, segments+":v=1:a=1[v][ac];[ac]asetnsamples=n=576:p=0[a]")
	return strings.Join(parts, ";")
}

// generate makes the episode in dir and returns it, analysed.
func (e episodeSpec) generate(ctx context.Context, dir string) (markers.Episode, error) {
	path := filepath.Join(dir, e.name+".mkv")
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", e.filter(),
		"-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
		"-c:a", "libmp3lame", "-compression_level", "9", "-b:a", "64k", "-ac", "1", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return markers.Episode{}, fmt.Errorf("generate %s: %v: %s", e.name, err, out)
	}
	var p mediaprobe.Prober
	a, _, err := p.Probe(ctx, path)
	if err != nil {
		return markers.Episode{}, fmt.Errorf("probe %s: %v", path, err)
	}
	if got, want := a.Duration.Seconds(), e.duration(); got < want-0.2 || got > want+0.2 {
		return markers.Episode{}, fmt.Errorf("%s lasts %.2f s, want %.2f", e.name, got, want)
	}
	return markers.Episode{Path: path, Analysis: a}, nil
}

// seasonA shares its intro and its credits' music, the credits on black.
// The cold opens differ in length (by amounts that are not multiples of
// a fingerprint's step), and each episode is long enough that its intro
// ends within the first quarter (the default intro window).
var seasonA = []episodeSpec{
	{name: "a1", cold: 23.4, coldSeed: 11, gap: 1.5, intro: [2]int{7, 5}, content: 140, contentSeed: 21, tone: 440, credits: [2]int{5, 3}, blackCredits: true},
	{name: "a2", cold: 41.7, coldSeed: 12, intro: [2]int{7, 5}, content: 190, contentSeed: 22, tone: 523.25, credits: [2]int{5, 3}, blackCredits: true},
	{name: "a3", cold: 58.3, coldSeed: 13, gap: 1.5, intro: [2]int{7, 5}, content: 240, contentSeed: 23, tone: 392, credits: [2]int{5, 3}, blackCredits: true},
	{name: "a4", cold: 86.9, coldSeed: 14, gap: 0.8, intro: [2]int{7, 5}, content: 330, contentSeed: 24, tone: 349.23, credits: [2]int{5, 3}, blackCredits: true},
}

// seasonB shares nothing: each episode has its own intro and credits
// tune; b1 and b2 have their credits on black, b3 on a test pattern.
var seasonB = []episodeSpec{
	{name: "b1", cold: 30.2, coldSeed: 31, intro: [2]int{3, 2}, content: 160, contentSeed: 41, tone: 440, credits: [2]int{2, 7}, blackCredits: true},
	{name: "b2", cold: 47.9, coldSeed: 32, gap: 1.5, intro: [2]int{11, 4}, content: 200, contentSeed: 42, tone: 523.25, credits: [2]int{9, 4}, blackCredits: true},
	{name: "b3", cold: 62.1, coldSeed: 33, intro: [2]int{5, 8}, content: 250, contentSeed: 43, tone: 392, credits: [2]int{4, 11}, blackCredits: false},
}

// generated holds the seasons, made once for the package's tests in a
// folder that TestMain removes.
var generated struct {
	once sync.Once
	dir  string
	a, b []markers.Episode
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "markers-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	generated.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// season returns the specs and the generated episodes of season "a" or
// "b", generating both seasons the first time, two episodes at a time.
func season(t *testing.T, which string) ([]episodeSpec, []markers.Episode) {
	t.Helper()
	generated.once.Do(func() {
		start := time.Now()
		specs := append(append([]episodeSpec(nil), seasonA...), seasonB...)
		eps := make([]markers.Episode, len(specs))
		errs := make([]error, len(specs))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for i, s := range specs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				eps[i], errs[i] = s.generate(context.Background(), generated.dir)
			})
		}
		wg.Wait()
		generated.err = errors.Join(errs...)
		generated.a, generated.b = eps[:len(seasonA)], eps[len(seasonA):]
		t.Logf("the seasons took %s to generate", time.Since(start).Round(time.Millisecond))
	})
	if generated.err != nil {
		t.Fatal(generated.err)
	}
	if which == "a" {
		return seasonA, generated.a
	}
	return seasonB, generated.b
}

// probe analyses path as the tasks do.
func probe(t *testing.T, path string) markers.Episode {
	t.Helper()
	var p mediaprobe.Prober
	a, _, err := p.Probe(t.Context(), path)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	return markers.Episode{Path: path, Analysis: a}
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }
