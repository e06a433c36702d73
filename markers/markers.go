package markers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// Defaults of Finder's fields.
const (
	DefaultIntroWindow     = 10 * time.Minute
	DefaultIntroFraction   = 0.25
	DefaultMinIntro        = 15 * time.Second
	DefaultMaxIntro        = 2 * time.Minute
	DefaultCreditsWindow   = 4 * time.Minute
	DefaultCreditsFraction = 0.25
	DefaultMinCredits      = 10 * time.Second
	DefaultMaxBitErrors    = 6
	DefaultMaxGap          = 3500 * time.Millisecond
	DefaultMinBlack        = 500 * time.Millisecond
	DefaultPictureBlack    = 0.90
	DefaultPixelBlack      = 0.10
	DefaultTimeout         = 2 * time.Minute
	DefaultPerHour         = 20 * time.Minute
)

// Kind is which part of an episode a marker marks.
type Kind string

// The kinds of marker.
const (
	Intro   Kind = "intro"
	Credits Kind = "credits"
)

// How a marker was found (Marker.Method).
const (
	// ByFingerprint: audio shared with another episode of the season.
	ByFingerprint = "fingerprint"
	// ByBlackFrames: black pictures until the end (credits only).
	ByBlackFrames = "black frames"
	// ByBoth: shared audio whose start black pictures confirm, the start
	// taken from the pictures (credits only).
	ByBoth = "fingerprint and black frames"
)

// Episode is one episode of a season: its file and the file's analysis
// (as package mediaprobe made it: its streams and duration are used).
type Episode struct {
	Path     string
	Analysis butler.MediaAnalysis
}

// Marker is where an intro or the credits are in an episode.
type Marker struct {
	Kind       Kind
	Start, End time.Duration
	// Method is how it was found: ByFingerprint, ByBlackFrames or ByBoth.
	Method string
}

// Result is what was found for one episode.
type Result struct {
	// Path is the episode's file.
	Path string
	// Marker is the marker found; nil when there is none.
	Marker *Marker
	// Err is a *FileError when ffmpeg could not read the episode's file
	// (the episode has no marker then, and the others are compared
	// without it); nil otherwise.
	Err error
}

// Finder finds markers with ffmpeg. Its zero value is usable, with the
// defaults above. A Finder is safe for concurrent use and must not be
// copied after its first use.
type Finder struct {
	// FFmpeg runs ffmpeg; nil means ffmpeg from PATH at mediatool's
	// default priority.
	FFmpeg *mediatool.Tool
	// IntroWindow and IntroFraction bound the start of an episode that
	// is searched for the intro: the lesser of IntroWindow and
	// IntroFraction of its duration (0: DefaultIntroWindow and
	// DefaultIntroFraction).
	IntroWindow   time.Duration
	IntroFraction float64
	// MinIntro and MaxIntro bound an intro's length (0: defaults).
	MinIntro, MaxIntro time.Duration
	// CreditsWindow and CreditsFraction bound the end of an episode that
	// is searched for the credits, as IntroWindow and IntroFraction do.
	CreditsWindow   time.Duration
	CreditsFraction float64
	// MinCredits is the shortest credits found (0: DefaultMinCredits).
	MinCredits time.Duration
	// MaxBitErrors is the most bits (of 32) in which two fingerprint
	// items may differ and still match (0: DefaultMaxBitErrors).
	MaxBitErrors int
	// MaxGap is the longest stretch without matching items within a
	// shared segment (0: DefaultMaxGap).
	MaxGap time.Duration
	// MinBlack is the shortest stretch of black pictures counted
	// (0: DefaultMinBlack); PictureBlack the share of a picture's pixels
	// that must be dark for it to be black, PixelBlack the brightness
	// (0 to 1) under which a pixel is dark (0: defaults).
	MinBlack     time.Duration
	PictureBlack float64
	PixelBlack   float64
	// Timeout is ffmpeg's time limit for one read, before PerHour
	// (0: DefaultTimeout); PerHour is added per hour of media read
	// (0: DefaultPerHour, negative: nothing).
	Timeout time.Duration
	PerHour time.Duration
	// Logger receives what the search found and skipped, at debug level;
	// nil means slog.Default().
	Logger *slog.Logger

	once sync.Once
	tool *mediatool.Tool
}

// ffmpeg returns the tool that runs ffmpeg.
func (f *Finder) ffmpeg() *mediatool.Tool {
	f.once.Do(func() {
		f.tool = f.FFmpeg
		if f.tool == nil {
			f.tool = &mediatool.Tool{Program: "ffmpeg", Logger: f.Logger}
		}
	})
	return f.tool
}

func (f *Finder) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// Validate reports what is wrong with f's settings.
func (f *Finder) Validate() error {
	switch {
	case f.IntroFraction < 0 || f.IntroFraction > 1:
		return fmt.Errorf("intro fraction %v: give a share of the duration between 0 and 1", f.IntroFraction)
	case f.CreditsFraction < 0 || f.CreditsFraction > 1:
		return fmt.Errorf("credits fraction %v: give a share of the duration between 0 and 1", f.CreditsFraction)
	case f.MaxBitErrors < 0 || f.MaxBitErrors > 16:
		return fmt.Errorf("max bit errors %d: give 0 to 16 (of 32 bits; more matches unrelated audio)", f.MaxBitErrors)
	case f.PictureBlack < 0 || f.PictureBlack > 1 || f.PixelBlack < 0 || f.PixelBlack > 1:
		return fmt.Errorf("black thresholds %v and %v: give shares between 0 and 1", f.PictureBlack, f.PixelBlack)
	case f.IntroWindow < 0 || f.CreditsWindow < 0 || f.MinIntro < 0 || f.MaxIntro < 0 || f.MinCredits < 0 || f.MaxGap < 0 || f.MinBlack < 0 || f.Timeout < 0:
		return errors.New("a negative length among the finder's settings: give 0 for the default or a positive length")
	case f.minIntro() > f.maxIntro():
		return fmt.Errorf("intro length bounds %s to %s: the least is more than the most", f.minIntro(), f.maxIntro())
	}
	return f.ffmpeg().Validate()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (f *Finder) minIntro() time.Duration   { return orDefault(f.MinIntro, DefaultMinIntro) }
func (f *Finder) maxIntro() time.Duration   { return orDefault(f.MaxIntro, DefaultMaxIntro) }
func (f *Finder) pictureBlack() float64     { return orDefault(f.PictureBlack, DefaultPictureBlack) }
func (f *Finder) pixelBlack() float64       { return orDefault(f.PixelBlack, DefaultPixelBlack) }
func (f *Finder) minCredits() time.Duration { return orDefault(f.MinCredits, DefaultMinCredits) }

// limit is ffmpeg's time limit for reading length of media (0: a whole
// file of unknown length, counted as an hour).
func (f *Finder) limit(length time.Duration) time.Duration {
	if length <= 0 {
		length = time.Hour
	}
	limit := orDefault(f.Timeout, DefaultTimeout)
	per := orDefault(f.PerHour, DefaultPerHour)
	if per > 0 {
		limit += time.Duration(float64(per) * length.Hours())
	}
	return limit
}

// matcher returns the fingerprint matcher of f's settings.
func (f *Finder) matcher() matcher {
	return matcher{
		maxDiff:   orDefault(f.MaxBitErrors, DefaultMaxBitErrors),
		maxGap:    int(orDefault(f.MaxGap, DefaultMaxGap) / ItemStep),
		maxRepeat: 8,
	}
}

// window returns the length of an episode of duration d searched with
// window w and fraction p: the lesser of w and p·d (w when d is unknown).
func window(d, w time.Duration, p float64) time.Duration {
	if d <= 0 {
		return w
	}
	return min(w, time.Duration(p*float64(d)))
}

// items returns how many items a segment of length d spans, at least 1:
// its first item starts with it and its last ends with it.
func items(d time.Duration) int {
	return max(1, int((d-ItemSpan)/ItemStep)+1)
}

// segment returns the stretch of fp that items i0 to i1 describe.
func segment(fp Fingerprint, i0, i1 int) Span {
	return Span{Start: fp.At(i0), End: fp.At(i1) + ItemSpan}
}

// print is one episode's fingerprint, or why it has none.
type print struct {
	fp  Fingerprint
	ok  bool
	err error // a *FileError
}

// fingerprints fingerprints each episode's audio from start(ep) for
// length(ep). A *FileError is kept with its episode; any other error
// ends the search.
func (f *Finder) fingerprints(ctx context.Context, eps []Episode, span func(Episode) (time.Duration, time.Duration)) ([]print, error) {
	prints := make([]print, len(eps))
	for i, ep := range eps {
		idx := audioStream(ep.Analysis)
		if idx < 0 {
			f.logger().Debug("no audio stream to fingerprint", "path", ep.Path)
			continue
		}
		start, length := span(ep)
		fp, err := f.Fingerprint(ctx, ep.Path, idx, start, length)
		var fe *FileError
		switch {
		case errors.As(err, &fe):
			prints[i].err = err
			continue
		case err != nil:
			return nil, err
		}
		prints[i] = print{fp: fp, ok: len(fp.Items) > 0}
	}
	return prints, nil
}

// shared is the best segment an episode shares with another: span in
// the episode, same in the other.
type shared struct {
	span, same Span
	other      int
	ok         bool
}

// share compares every pair of prints and returns, for each, the longest
// segment it shares with another, of minLen to maxLen.
func (f *Finder) share(ctx context.Context, eps []Episode, prints []print, minLen, maxLen time.Duration) ([]shared, error) {
	m := f.matcher()
	best := make([]shared, len(prints))
	keep := func(i, other int, s, same Span) {
		if !best[i].ok || s.Duration() > best[i].span.Duration() {
			best[i] = shared{span: s, same: same, other: other, ok: true}
		}
	}
	for i := range prints {
		for j := i + 1; j < len(prints); j++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			a, b := prints[i], prints[j]
			if !a.ok || !b.ok {
				continue
			}
			r, ok := m.compare(a.fp.Items, b.fp.Items, items(minLen), items(maxLen))
			if !ok {
				continue
			}
			sa, sb := segment(a.fp, r.a0, r.a1), segment(b.fp, r.a0+r.shift, r.a1+r.shift)
			f.logger().Debug("shared audio", "a", eps[i].Path, "a_start", sa.Start, "a_end", sa.End,
				"b", eps[j].Path, "b_start", sb.Start, "b_end", sb.End, "matched", r.matched, "items", r.len())
			keep(i, j, sa, sb)
			keep(j, i, sb, sa)
		}
	}
	return best, nil
}

// clamp bounds s to the episode's duration, when known.
func clamp(s Span, d time.Duration) Span {
	s.Start = max(0, s.Start)
	if d > 0 {
		s.End = min(s.End, d)
	}
	return s
}

// Intros finds the intro of each episode of a season: the longest
// stretch of audio, MinIntro to MaxIntro long, that its start (the first
// IntroWindow, at most IntroFraction of it) shares with the start of
// another episode. It returns a Result per episode, in eps' order; an
// episode that shares nothing (or has no audio) has no marker.
//
// Errors: an episode whose file ffmpeg cannot read, or that cannot even
// be stat'ed (permission denied, an I/O error), gets a *FileError in its
// Result and the others are compared without it. The error returned
// is not nil only when the search could not be made at all: bad
// settings, ffmpeg not found or not run, a file missing (an error that
// wraps fs.ErrNotExist), or ctx done (an error that wraps ctx's error;
// ffmpeg is killed first).
func (f *Finder) Intros(ctx context.Context, eps []Episode) ([]Result, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	prints, err := f.fingerprints(ctx, eps, func(ep Episode) (time.Duration, time.Duration) {
		w := window(ep.Analysis.Duration, orDefault(f.IntroWindow, DefaultIntroWindow), orDefault(f.IntroFraction, DefaultIntroFraction))
		return 0, w
	})
	if err != nil {
		return nil, err
	}
	best, err := f.share(ctx, eps, prints, f.minIntro(), f.maxIntro())
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(eps))
	for i, ep := range eps {
		results[i] = Result{Path: ep.Path, Err: prints[i].err}
		if !best[i].ok {
			continue
		}
		s, err := f.exact(ctx, eps, i, best[i])
		if err != nil {
			return nil, err
		}
		if s.Duration() < f.minIntro() {
			f.logger().Debug("the shared audio is too short for an intro once its edges are exact", "path", ep.Path, "start", s.Start, "end", s.End)
			continue
		}
		results[i].Marker = &Marker{Kind: Intro, Start: s.Start, End: s.End, Method: ByFingerprint}
	}
	return results, nil
}

// exact returns episode i's segment of sh with its edges made exact by
// the waveforms (refine), bounded by the episode's duration. A file that
// cannot be read again leaves the edges as they were.
func (f *Finder) exact(ctx context.Context, eps []Episode, i int, sh shared) (Span, error) {
	a, b := eps[i], eps[sh.other]
	s, _, err := f.refine(ctx, a.Path, audioStream(a.Analysis), b.Path, audioStream(b.Analysis), sh.span, sh.same)
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		f.logger().Debug("edges left as the fingerprints give them", "path", a.Path, "err", err)
		s = sh.span
	case err != nil:
		return Span{}, err
	}
	return clamp(s, a.Analysis.Duration), nil
}

// endSlack is how near the end of an episode a stretch of black must
// reach to be its credits.
const endSlack = 3 * time.Second

// Credits finds the end credits of each episode of a season, in the
// last CreditsWindow of each (at most CreditsFraction of it), from two
// signs:
//
//   - audio that the episode's end shares with another's (the same
//     closing music), at least MinCredits long, its edges made exact
//     with the waveforms as for Intros;
//   - black pictures (credits on black: PictureBlack of each picture
//     darker than PixelBlack) for at least MinCredits, lasting until
//     the end of the episode (within 3 s).
//
// When both are found and overlap, the credits start where the black
// does (the pictures are exact to the frame, and music that begins over
// the last scene is not credits): Method ByBoth. Otherwise the one found
// is taken: shared audio (ByFingerprint) before black (ByBlackFrames)
// when they do not overlap. An episode alone in its season can only be
// found by its black pictures. An episode whose duration its analysis
// does not know gets no marker.
//
// Results and errors are as Intros'.
func (f *Finder) Credits(ctx context.Context, eps []Episode) ([]Result, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	tail := func(ep Episode) (time.Duration, time.Duration) {
		d := ep.Analysis.Duration
		w := window(d, orDefault(f.CreditsWindow, DefaultCreditsWindow), orDefault(f.CreditsFraction, DefaultCreditsFraction))
		return d - w, w
	}
	known := make([]Episode, len(eps))
	for i, ep := range eps {
		if ep.Analysis.Duration > 0 {
			known[i] = ep
		} else {
			f.logger().Debug("no duration: the end of the episode is unknown", "path", ep.Path)
			known[i] = Episode{Path: ep.Path} // no streams: nothing read
		}
	}
	prints, err := f.fingerprints(ctx, known, tail)
	if err != nil {
		return nil, err
	}
	best, err := f.share(ctx, known, prints, f.minCredits(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(eps))
	for i, ep := range known {
		results[i] = Result{Path: ep.Path, Err: prints[i].err}
		if results[i].Err != nil || ep.Analysis.Duration <= 0 {
			continue
		}
		var audio, black Span
		var haveAudio, haveBlack bool
		if best[i].ok {
			if audio, err = f.exact(ctx, known, i, best[i]); err != nil {
				return nil, err
			}
			haveAudio = audio.Duration() >= f.minCredits()
		}
		if idx := videoStream(ep.Analysis); idx >= 0 {
			start, length := tail(ep)
			spans, err := f.BlackFrames(ctx, ep.Path, idx, start, length)
			var fe *FileError
			switch {
			case errors.As(err, &fe):
				results[i].Err = err
				continue
			case err != nil:
				return nil, err
			}
			black, haveBlack = creditsBlack(spans, ep.Analysis.Duration, f.minCredits())
		}
		d := ep.Analysis.Duration
		switch {
		case haveAudio && haveBlack && black.Start < audio.End && audio.Start < black.End:
			results[i].Marker = &Marker{Kind: Credits, Start: black.Start, End: max(audio.End, black.End), Method: ByBoth}
		case haveAudio:
			if d-audio.End < endSlack {
				audio.End = d
			}
			results[i].Marker = &Marker{Kind: Credits, Start: audio.Start, End: audio.End, Method: ByFingerprint}
		case haveBlack:
			results[i].Marker = &Marker{Kind: Credits, Start: black.Start, End: black.End, Method: ByBlackFrames}
		}
		if m := results[i].Marker; m != nil {
			s := clamp(Span{m.Start, m.End}, d)
			m.Start, m.End = s.Start, s.End
		}
	}
	return results, nil
}

// creditsBlack returns the last stretch of black of spans that lasts at
// least minLen and reaches the end of an episode of duration d (within
// endSlack).
func creditsBlack(spans []Span, d, minLen time.Duration) (Span, bool) {
	if len(spans) == 0 {
		return Span{}, false
	}
	last := spans[len(spans)-1]
	if last.Duration() < minLen || d-last.End > endSlack {
		return Span{}, false
	}
	return last, true
}
