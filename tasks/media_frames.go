package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/mediaframes"
)

// The versions of what GenerateMediaIndexFiles and GenerateChapterThumbs
// make: raise one when its output changes, and every item's is made again.
const (
	IndexFilesVersion    = 1
	ChapterThumbsVersion = 1
)

// GenerateMediaIndexFiles is the action of the GenerateMediaIndexFiles
// task: preview ("trickplay") pictures of every analysed video, one every
// interval (10 s by default, 320 pixels wide), taken from keyframes where
// the video has one in every interval and by decoding every frame
// otherwise, tone-mapped to SDR when the video is HDR (package
// mediaframes), written as a BIF file (package bif, the Roku and Plex
// format) in the item's bundle:
//
//	<bundles root>/<xx>/<id>.bundle/index-files/<width>-<interval s>.bif
//
// and, when Trickplay is set, as Jellyfin's tiles of 10×10 pictures
// beside it ("index-files/trickplay/<width> - 10x10/0.jpg"...). When
// BesideMedia is set, the BIF is also written next to the video as
// "<name>-<width>-<interval s>.bif", the name Emby's and Jellyfin's BIF
// plugins read. Every BIF is parsed back and checked (its count, each
// picture a JPEG that decodes) before the item counts as done: a video
// never ends "done" with an empty or broken index. A video stream that
// cannot be read fails that item alone, tried again after a day, then
// two, four... up to 32 days.
type GenerateMediaIndexFiles struct {
	// Index is the media index; Bundles writes the items' bundles.
	Index   butler.OutputIndex
	Bundles *BundleWriter
	// Extractor takes the pictures; nil means a zero
	// mediaframes.Extractor (320 pixels every 10 s).
	Extractor *mediaframes.Extractor
	// Trickplay also writes Jellyfin's tiles in the bundle.
	Trickplay bool
	// BesideMedia also writes the BIF next to the video.
	BesideMedia bool
	// Parallel is how many videos are done at once (without item jobs);
	// 0 or less means 1.
	Parallel int
}

var (
	_ butler.ItemAction = (*GenerateMediaIndexFiles)(nil)
	_ butler.Backlogger = (*GenerateMediaIndexFiles)(nil)
)

// IndexFilesData is the data of an index-files output.
type IndexFilesData struct {
	// Frames is how many pictures the BIF holds; 0 for a file without
	// video (nothing to show).
	Frames int `json:"frames"`
	// IntervalMs is the time between two pictures; Width and Height
	// their size.
	IntervalMs int64 `json:"intervalMs,omitempty"`
	Width      int   `json:"width,omitempty"`
	Height     int   `json:"height,omitempty"`
	// Keyframes is true when the pictures are keyframes alone;
	// ToneMapped when an HDR video was tone-mapped; Repeated lists the
	// intervals that show a neighbour's picture.
	Keyframes  bool  `json:"keyframes,omitempty"`
	ToneMapped bool  `json:"toneMapped,omitempty"`
	Repeated   []int `json:"repeated,omitempty"`
	// BesideMedia is the BIF written next to the video, if any.
	BesideMedia string `json:"besideMedia,omitempty"`
	// Note says why there is nothing to show, for a file without video.
	Note string `json:"note,omitempty"`
}

func (g *GenerateMediaIndexFiles) work() *outputWork {
	ex := g.Extractor
	if ex == nil {
		ex = &mediaframes.Extractor{}
	}
	return &outputWork{
		spec: outputSpec{kind: butler.OutputIndexFiles, version: IndexFilesVersion, what: "made the index files of",
			mediaKinds: []butler.MediaKind{butler.MediaVideo}, files: true},
		index: g.Index, bundles: g.Bundles, maker: &indexMaker{g: g, ex: ex}, parallel: max(g.Parallel, 1),
	}
}

// Run makes the index files of the videos that have none.
func (g *GenerateMediaIndexFiles) Run(ctx context.Context, r butler.Reporter) error {
	return g.work().run(ctx, r)
}

// RunItem makes one video's index files, if it still needs them.
func (g *GenerateMediaIndexFiles) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return g.work().one(ctx, log, id)
}

// Backlog counts the videos left to do (butler.Backlogger).
func (g *GenerateMediaIndexFiles) Backlog(ctx context.Context) (int, error) {
	return g.work().backlog(ctx)
}

type indexMaker struct {
	g  *GenerateMediaIndexFiles
	ex *mediaframes.Extractor
}

var _ outputChecker = (*indexMaker)(nil)

// outdated returns why index files made as o are not what the settings
// make now: another width or interval, the trickplay tiles or the BIF
// beside the video made or not. A file without video has none to redo.
func (m *indexMaker) outdated(o butler.MediaOutput) string {
	var d IndexFilesData
	if err := json.Unmarshal(o.Data, &d); err != nil || d.Frames == 0 {
		return ""
	}
	width, iv := m.ex.PictureWidth(), m.ex.PreviewInterval()
	tiles := slices.ContainsFunc(o.Files, func(f string) bool { return strings.HasPrefix(f, string(butler.OutputIndexFiles)+"/trickplay/") })
	switch {
	case d.Width != width || d.IntervalMs != iv.Milliseconds():
		return fmt.Sprintf("made %d pixels wide every %v; the settings say %d every %v", d.Width, time.Duration(d.IntervalMs)*time.Millisecond, width, iv)
	case tiles != m.g.Trickplay:
		return fmt.Sprintf("made with trickplay tiles %v; the settings say %v", tiles, m.g.Trickplay)
	case (d.BesideMedia != "") != m.g.BesideMedia:
		return fmt.Sprintf("made with a BIF beside the video %v; the settings say %v", d.BesideMedia != "", m.g.BesideMedia)
	}
	return ""
}

// retire removes the BIF that index files made as o wrote beside the
// video, unless making them again writes one of the same name (which
// replaces it).
func (m *indexMaker) retire(o butler.MediaOutput) error {
	var d IndexFilesData
	if err := json.Unmarshal(o.Data, &d); err != nil {
		return nil
	}
	if m.g.BesideMedia && d.Width == m.ex.PictureWidth() && time.Duration(d.IntervalMs)*time.Millisecond/time.Second == m.ex.PreviewInterval()/time.Second {
		return nil
	}
	return removeBeside(d.BesideMedia)
}

// removeBeside removes a BIF written beside a video ("" for none); one
// already gone is no error.
func removeBeside(p string) error {
	if p == "" || !strings.EqualFold(filepath.Ext(p), ".bif") {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the BIF beside the video: %w", err)
	}
	return nil
}

// previousBeside returns the BIF beside the video that the index files
// recorded for item id wrote, if any ("" when none, or it cannot be
// read).
func (m *indexMaker) previousBeside(ctx context.Context, id int64) string {
	outs, err := m.g.Index.MediaOutputs(ctx, id)
	if err != nil {
		return ""
	}
	for _, o := range outs {
		var d IndexFilesData
		if o.Kind == butler.OutputIndexFiles && json.Unmarshal(o.Data, &d) == nil {
			return d.BesideMedia
		}
	}
	return ""
}

func (m *indexMaker) make(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis, dir string) (made, error) {
	set, err := m.ex.Previews(ctx, it.Path, a)
	var fe *mediaframes.FileError
	switch {
	case errors.As(err, &fe) && errors.Is(fe.Err, mediaframes.ErrNoVideo):
		return jsonMade(IndexFilesData{Note: fe.Reason})
	case err != nil: // a *mediaframes.FileError is the item's fault
		return made{}, err
	}
	data, err := set.BIF()
	if err != nil {
		return made{}, fmt.Errorf("write the BIF: %w", err)
	}
	// Read back as a player would: the count, each picture a JPEG.
	if _, err := bif.Verify(data, len(set.Frames)); err != nil {
		return made{}, &itemFault{reason: "the BIF made does not verify: " + err.Error()}
	}
	name := fmt.Sprintf("%d-%d.bif", set.Width, set.Interval/time.Second)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return made{}, err
	}
	if m.g.Trickplay {
		sheets, err := mediaframes.Tiles(set.Frames, mediaframes.DefaultTileCols, mediaframes.DefaultTileRows, mediaframes.DefaultTileQuality)
		if err != nil {
			return made{}, fmt.Errorf("make the trickplay tiles: %w", err)
		}
		tdir := filepath.Join(dir, "trickplay", fmt.Sprintf("%d - %dx%d", set.Width, mediaframes.DefaultTileCols, mediaframes.DefaultTileRows))
		if err := os.MkdirAll(tdir, 0o755); err != nil {
			return made{}, err
		}
		for i, s := range sheets {
			if err := os.WriteFile(filepath.Join(tdir, mediaframes.TrickplaySheetName(i)), s, 0o644); err != nil {
				return made{}, err
			}
		}
	}
	d := IndexFilesData{Frames: len(set.Frames), IntervalMs: set.Interval.Milliseconds(), Width: set.Width, Height: set.Height,
		Keyframes: set.Keyframes, ToneMapped: set.ToneMapped, Repeated: set.Repeated}
	// The BIF an earlier output wrote beside the video (for the file
	// before it changed, or other settings) goes once this one's is
	// written, unless this one has its name.
	previous := m.previousBeside(ctx, it.ID)
	if m.g.BesideMedia {
		beside := strings.TrimSuffix(it.Path, filepath.Ext(it.Path)) + "-" + name
		if err := atomicfile.WriteFile(beside, data, 0o644); err != nil {
			return made{}, fmt.Errorf("write the BIF beside the video: %w", err)
		}
		d.BesideMedia = beside
	}
	if previous != d.BesideMedia && filepath.Dir(previous) == filepath.Dir(it.Path) {
		if err := removeBeside(previous); err != nil {
			return made{}, err
		}
	}
	return jsonMade(d)
}

// jsonMade is an output of values alone.
func jsonMade(v any) (made, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return made{}, err
	}
	return made{data: data}, nil
}

// GenerateChapterThumbs is the action of the GenerateChapterThumbs task: a
// JPEG picture of each chapter of every analysed video with chapters (a
// few seconds into the chapter, tone-mapped when HDR: package
// mediaframes), written in the item's bundle as
// "chapter-thumbs/0001.jpg"... in chapter order, each decoded before the
// item counts as done. A video without chapters is recorded as done with
// none.
type GenerateChapterThumbs struct {
	// Index is the media index; Bundles writes the items' bundles.
	Index   butler.OutputIndex
	Bundles *BundleWriter
	// Extractor takes the pictures; nil means a zero
	// mediaframes.Extractor (320 pixels wide).
	Extractor *mediaframes.Extractor
	// Parallel is how many videos are done at once (without item jobs);
	// 0 or less means 1.
	Parallel int
}

var (
	_ butler.ItemAction = (*GenerateChapterThumbs)(nil)
	_ butler.Backlogger = (*GenerateChapterThumbs)(nil)
)

// ChapterThumbsData is the data of a chapter-thumbs output.
type ChapterThumbsData struct {
	// Chapters is how many chapter pictures were made.
	Chapters int `json:"chapters"`
	// Width is the pictures' width in pixels (media.index_width); 0 for
	// none made, or made before it was recorded.
	Width int `json:"width,omitempty"`
}

func (g *GenerateChapterThumbs) work() *outputWork {
	ex := g.Extractor
	if ex == nil {
		ex = &mediaframes.Extractor{}
	}
	return &outputWork{
		spec: outputSpec{kind: butler.OutputChapterThumbs, version: ChapterThumbsVersion, what: "made the chapter pictures of",
			mediaKinds: []butler.MediaKind{butler.MediaVideo}, files: true},
		index: g.Index, bundles: g.Bundles, maker: chapterMaker{ex}, parallel: max(g.Parallel, 1),
	}
}

// Run makes the chapter pictures of the videos that have none.
func (g *GenerateChapterThumbs) Run(ctx context.Context, r butler.Reporter) error {
	return g.work().run(ctx, r)
}

// RunItem makes one video's chapter pictures, if it still needs them.
func (g *GenerateChapterThumbs) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return g.work().one(ctx, log, id)
}

// Backlog counts the videos left to do (butler.Backlogger).
func (g *GenerateChapterThumbs) Backlog(ctx context.Context) (int, error) {
	return g.work().backlog(ctx)
}

type chapterMaker struct{ ex *mediaframes.Extractor }

var _ outputChecker = chapterMaker{}

// outdated returns why chapter pictures made as o are not of the width
// the settings say now. Those made before the width was recorded are
// taken as of the width of now.
func (m chapterMaker) outdated(o butler.MediaOutput) string {
	var d ChapterThumbsData
	if err := json.Unmarshal(o.Data, &d); err != nil || d.Width == 0 || d.Width == m.ex.PictureWidth() {
		return ""
	}
	return fmt.Sprintf("made %d pixels wide; the settings say %d", d.Width, m.ex.PictureWidth())
}

// retire has nothing to remove: chapter pictures are in the bundle alone.
func (chapterMaker) retire(butler.MediaOutput) error { return nil }

func (m chapterMaker) make(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis, dir string) (made, error) {
	if len(a.Chapters) == 0 {
		return jsonMade(ChapterThumbsData{})
	}
	if _, ok := mediaframes.VideoStream(a); !ok {
		return jsonMade(ChapterThumbsData{})
	}
	pics, err := m.ex.ChapterThumbs(ctx, it.Path, a, nil, 0)
	switch {
	case err != nil:
		return made{}, err // a *mediaframes.FileError is the item's fault
	case len(pics) != len(a.Chapters):
		return made{}, &itemFault{reason: fmt.Sprintf("%d chapter pictures made for %d chapters", len(pics), len(a.Chapters))}
	}
	for i, p := range pics {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.jpg", i+1)), p, 0o644); err != nil {
			return made{}, err
		}
	}
	return jsonMade(ChapterThumbsData{Chapters: len(pics), Width: m.ex.PictureWidth()})
}
