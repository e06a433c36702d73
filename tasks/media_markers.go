package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/markers"
)

// MarkersVersion is the version of what GenerateMarkers stores.
const MarkersVersion = 1

// DefaultSeasonEpisodes is how many episodes of a folder GenerateMarkers
// compares at once when its SeasonEpisodes is 0.
const DefaultSeasonEpisodes = 60

// GenerateMarkers is the action of the ButlerTaskGenerateIntroMarkers
// task (Kind markers.Intro) and of ButlerTaskGenerateCreditsMarkers (Kind
// markers.Credits): where each analysed video's intro, or its end
// credits, are, found offline by package markers (audio fingerprints
// shared across a season, black pictures up to the end), and stored as
// the item's intro-markers or credits-markers output (MarkerData).
//
// Only the videos of shows libraries have markers: a movies library's
// folder holds films that share no intro, and searching one would
// fingerprint every film and compare every pair. The episodes of a
// season are the videos of one folder, in path order, cut in blocks of
// SeasonEpisodes (the first SeasonEpisodes, the next ones...): a block is
// searched as a whole when one of its episodes needs its marker, and
// every episode's marker is recorded; an episode none is found for is
// recorded as such (done, with no marker). A run searches one block of
// a folder; a folder of more episodes than that is done a block a run.
// An episode ffmpeg cannot read fails alone, tried again after a day,
// then two, four... up to 32 days.
type GenerateMarkers struct {
	// Kind is markers.Intro or markers.Credits.
	Kind markers.Kind
	// Index is the media index (the server's store).
	Index butler.OutputIndex
	// Finder finds the markers; nil means a zero markers.Finder.
	Finder *markers.Finder
	// Libraries are the config's libraries: the markers are searched in
	// those of kind shows only.
	Libraries []butler.Library
	// SeasonEpisodes is the most episodes compared at once (their
	// fingerprints, every pair of them); 0 or less means
	// DefaultSeasonEpisodes.
	SeasonEpisodes int
	// Parallel is how many seasons are searched at once (without item
	// jobs); 0 or less means 1.
	Parallel int

	// find, when set, stands for the Finder's search (tests).
	find func(ctx context.Context, eps []markers.Episode) ([]markers.Result, error)
}

var (
	_ butler.ItemAction = (*GenerateMarkers)(nil)
	_ butler.Backlogger = (*GenerateMarkers)(nil)
)

// MarkerData is the data of an intro-markers or credits-markers output.
type MarkerData struct {
	// Found is false when the episode has no such marker.
	Found bool `json:"found"`
	// StartMs and EndMs are where it is, in milliseconds from the start.
	StartMs int64 `json:"startMs,omitempty"`
	EndMs   int64 `json:"endMs,omitempty"`
	// Method is how it was found: "fingerprint", "black frames", or both.
	Method string `json:"method,omitempty"`
}

func (g *GenerateMarkers) kind() butler.OutputKind {
	if g.Kind == markers.Credits {
		return butler.OutputCreditsMarkers
	}
	return butler.OutputIntroMarkers
}

func (g *GenerateMarkers) work() *outputWork {
	f := g.Finder
	if f == nil {
		f = &markers.Finder{}
	}
	w := &outputWork{
		spec: outputSpec{kind: g.kind(), version: MarkersVersion, what: "searched",
			unit: noun{"season block", "season blocks"}, covers: noun{"episode", "episodes"},
			mediaKinds: []butler.MediaKind{butler.MediaVideo},
			group:      func(it butler.MediaItem) string { return filepath.Dir(it.Path) },
			libraries:  g.shows(), onlyIn: "shows libraries"},
		index: g.Index, parallel: max(g.Parallel, 1),
	}
	w.maker = &markerMaker{g: g, f: f, w: w}
	return w
}

// shows returns the names of the shows libraries (not nil).
func (g *GenerateMarkers) shows() []string {
	names := []string{}
	for _, l := range g.Libraries {
		if l.Kind == butler.LibraryShows {
			names = append(names, l.Name)
		}
	}
	return names
}

// seasonEpisodes is the most episodes compared at once.
func (g *GenerateMarkers) seasonEpisodes() int {
	if g.SeasonEpisodes > 0 {
		return g.SeasonEpisodes
	}
	return DefaultSeasonEpisodes
}

// Run searches the seasons whose episodes need their markers, in the
// shows libraries.
func (g *GenerateMarkers) Run(ctx context.Context, r butler.Reporter) error {
	var others []string
	for _, l := range g.Libraries {
		if l.Kind != butler.LibraryShows {
			others = append(others, l.Name)
		}
	}
	if len(others) > 0 {
		r.Logger().Info("markers are searched in shows libraries only: these libraries are left out", "kind", g.kind(), "libraries", others)
	}
	return g.work().run(ctx, r)
}

// RunItem searches the season of one episode, if it still needs its
// marker.
func (g *GenerateMarkers) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return g.work().one(ctx, log, id)
}

// Backlog counts the episodes left to do (butler.Backlogger).
func (g *GenerateMarkers) Backlog(ctx context.Context) (int, error) { return g.work().backlog(ctx) }

type markerMaker struct {
	g *GenerateMarkers
	f *markers.Finder
	w *outputWork
}

// errNotInSeason is the fault of an episode that changed since it was
// read, so that it is not among its folder's.
var errNotInSeason = &itemFault{reason: "the episode was not among its season's (changed since it was read)"}

// seasonPage is how many items of a folder are read at a time.
const seasonPage = 500

// season returns it's block of the present, analysed videos of it's
// folder, in path order: the folder's videos cut in blocks of
// seasonEpisodes (it included), with their analyses. The folder's items
// are read a page at a time; the analyses of its block only.
func (m *markerMaker) season(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis) ([]butler.MediaItem, []markers.Episode, error) {
	all, err := m.folder(ctx, it)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(all, func(e butler.MediaItem) bool { return e.ID == it.ID })
	if i < 0 {
		return nil, nil, nil // changed since it was read
	}
	n := m.g.seasonEpisodes()
	block := all[i/n*n : min(i/n*n+n, len(all))]
	var items []butler.MediaItem
	var eps []markers.Episode
	for _, e := range block {
		ea := a
		if e.ID != it.ID {
			if ea, _, err = m.g.Index.MediaAnalysis(ctx, e.ID); err != nil {
				continue // changed since it was read: the next run has it
			}
		}
		items = append(items, e)
		eps = append(eps, markers.Episode{Path: e.Path, Analysis: ea})
	}
	return items, eps, nil
}

// folder returns the present, analysed videos of it's folder (it
// included, not its subfolders'), in path order.
func (m *markerMaker) folder(ctx context.Context, it butler.MediaItem) ([]butler.MediaItem, error) {
	dir := filepath.Dir(it.Path)
	prefix := dir + string(filepath.Separator)
	var items []butler.MediaItem
	after := prefix
	for {
		page, err := m.g.Index.MediaItems(ctx, butler.MediaItemFilter{Library: it.Library, State: butler.ItemPresent, AfterPath: after, Limit: seasonPage})
		if err != nil {
			return nil, fmt.Errorf("read the episodes of %s: %w", dir, err)
		}
		for _, e := range page {
			if !strings.HasPrefix(e.Path, prefix) {
				return items, nil
			}
			if filepath.Dir(e.Path) == dir && e.Kind == butler.MediaVideo && e.AnalysisVersion != 0 {
				items = append(items, e)
			}
		}
		if len(page) < seasonPage {
			return items, nil
		}
		after = page[len(page)-1].Path
	}
}

func (m *markerMaker) make(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis, _ string) (made, error) {
	items, eps, err := m.season(ctx, it, a)
	if err != nil {
		return made{}, err
	}
	if len(items) == 0 {
		return made{}, errNotInSeason
	}
	find := m.f.Intros
	switch {
	case m.g.find != nil:
		find = m.g.find
	case m.g.Kind == markers.Credits:
		find = m.f.Credits
	}
	results, err := find(ctx, eps)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return made{}, err
		}
		if errors.Is(err, fs.ErrNotExist) {
			// An episode gone since the scan: the next scan records it.
			return made{}, &itemFault{reason: "a file of its season is gone since the scan: " + err.Error()}
		}
		return made{}, err
	}
	var mine made
	var mineErr error
	// others counts the siblings of the backlog (those that needed their
	// marker) whose marker or failure was recorded: the run's pace counts
	// the search as their work too (ItemResult.Covered). A sibling that
	// had its marker already is searched again at no cost of its own.
	others := 0
	kind := m.g.kind()
	for i, res := range results {
		e := items[i]
		due := e.ID != it.ID && m.w.due(ctx, e)
		var fe *markers.FileError
		if errors.As(res.Err, &fe) {
			if e.ID == it.ID {
				mineErr = &itemFault{reason: fe.Reason}
				continue
			}
			// A sibling's failure backs off as its own would.
			file := butler.MediaFile{Path: e.Path, Kind: e.Kind, Size: e.Size, ModTime: e.ModTime}
			retry := m.w.clock().Add(retryDelay(m.w.failures(ctx, e)))
			if ok, err := m.g.Index.RecordMediaOutputFailure(ctx, e.ID, file, kind, fe.Reason, retry); ok && err == nil && due {
				others++
			}
			continue
		}
		d := MarkerData{}
		if mk := res.Marker; mk != nil {
			d = MarkerData{Found: true, StartMs: mk.Start.Milliseconds(), EndMs: mk.End.Milliseconds(), Method: mk.Method}
		}
		data, err := json.Marshal(d)
		if err != nil {
			return made{}, err
		}
		if e.ID == it.ID {
			mine = made{data: data}
			continue
		}
		// A sibling: recorded here, for the file as the index has it.
		file := butler.MediaFile{Path: e.Path, Kind: e.Kind, Size: e.Size, ModTime: e.ModTime}
		o := butler.MediaOutput{Item: e.ID, Kind: kind, Version: MarkersVersion, MadeAt: m.w.clock(), Data: data}
		ok, err := m.g.Index.SaveMediaOutput(ctx, file, o)
		if err != nil {
			return made{}, fmt.Errorf("record the %s of %s: %w", kind, e.Path, err)
		}
		if ok && due {
			others++
		}
	}
	// The episode's own marker, or its failure, is recorded by the caller:
	// the search covered it and the siblings of the backlog recorded here.
	if mineErr != nil {
		return made{covered: 1 + others}, mineErr
	}
	if mine.data == nil {
		return made{covered: 1 + others}, errNotInSeason
	}
	mine.covered = 1 + others
	return mine, nil
}
