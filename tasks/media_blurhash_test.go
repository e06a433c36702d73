package tasks_test

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbrks/go-blurhash"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// writeImage writes a w×h image of colour c at path, as JPEG or PNG after
// its extension.
func writeImage(t *testing.T, path string, w, h int, c color.Color) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// blurColour decodes a BlurHash to a 4×4 image and returns its centre.
func blurColour(t *testing.T, hash string) color.RGBA {
	t.Helper()
	img, err := blurhash.Decode(hash, 4, 4, 1)
	if err != nil {
		t.Fatalf("decode %q: %v", hash, err)
	}
	return color.RGBAModel.Convert(img.At(2, 2)).(color.RGBA)
}

// near reports whether two colours are within 24 of each other per
// channel.
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= 24 && d(a.G, b.G) <= 24 && d(a.B, b.B) <= 24
}

// TestGenerateBlurHashes hashes a film's poster and art (found by
// RefreshLocalMedia), fails a film whose only poster is damaged, and
// hashes a poster again once it is replaced: the BlurHashes decode to the
// images' colours.
func TestGenerateBlurHashes(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	alien := filepath.Join(root, "Alien (1979)", "Alien (1979).mkv")
	brazil := filepath.Join(root, "Brazil (1985)", "Brazil (1985).mkv")
	for _, p := range []string{alien, brazil} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10", "-c:v", "libx264", "-preset", "ultrafast", p)
	}
	red, blue := color.RGBA{200, 30, 30, 255}, color.RGBA{20, 40, 210, 255}
	poster := filepath.Join(root, "Alien (1979)", "poster.jpg")
	writeImage(t, poster, 300, 450, red)
	writeImage(t, filepath.Join(root, "Alien (1979)", "fanart.png"), 640, 360, blue)
	if err := os.WriteFile(filepath.Join(root, "Brazil (1985)", "poster.jpg"), []byte("\xff\xd8 not really a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, root, "")
	libs := []butler.Library{{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{root}}}
	local := &tasks.RefreshLocalMedia{Index: idx, Libraries: libs}
	if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}

	act := &tasks.GenerateBlurHashes{Index: idx}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "hashed the images of 1 item, 1 failed, 0 skipped; the first failure: "+brazil) {
		t.Errorf("summary %q", s)
	}
	var d tasks.BlurHashesData
	outputOf(t, idx, items[alien].ID, butler.OutputBlurHashes, &d)
	// In path order: fanart.png, poster.jpg.
	if len(d.Images) != 2 || d.Images[0].Kind != "art" || d.Images[1].Kind != "poster" {
		t.Fatalf("Alien's images: %+v", d.Images)
	}
	if c := blurColour(t, d.Images[1].Hash); !near(c, red) {
		t.Errorf("the poster's BlurHash %q decodes to %v; want about %v", d.Images[1].Hash, c, red)
	}
	if c := blurColour(t, d.Images[0].Hash); !near(c, blue) {
		t.Errorf("the art's BlurHash %q decodes to %v; want about %v", d.Images[0].Hash, c, blue)
	}
	if o := outputOf(t, idx, items[brazil].ID, butler.OutputBlurHashes, nil); o.Failures != 1 || o.Version != 0 {
		t.Errorf("Brazil (a damaged poster alone): %+v; want one failure", o)
	}

	// A new poster: RefreshLocalMedia records it, the BlurHashes are made
	// again.
	writeImage(t, poster, 300, 450, blue)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(poster, later, later); err != nil {
		t.Fatal(err)
	}
	if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); s != "hashed the images of 1 item, 0 failed, 0 skipped" {
		t.Errorf("after the new poster: summary %q", s)
	}
	outputOf(t, idx, items[alien].ID, butler.OutputBlurHashes, &d)
	if c := blurColour(t, d.Images[1].Hash); !near(c, blue) {
		t.Errorf("the new poster's BlurHash decodes to %v; want about %v", c, blue)
	}
}

// sidecarsReplacedOnRead is a media index that runs hook once, right after
// the first read of an item's sidecar set (as RefreshLocalMedia replacing
// the set at that moment would).
type sidecarsReplacedOnRead struct {
	*sqlite.DB
	once sync.Once
	hook func()
}

func (s *sidecarsReplacedOnRead) MediaSidecarSet(ctx context.Context, id int64) (butler.SidecarSet, error) {
	set, err := s.DB.MediaSidecarSet(ctx, id)
	s.once.Do(s.hook)
	return set, err
}

// TestGenerateBlurHashes_SidecarsReplacedMeanwhile: GenerateBlurHashes
// reads an item's sidecars (a poster); RefreshLocalMedia then records a
// new set (a poster and a fanart) and drops the item's BlurHashes so that
// they are made again. The BlurHashes of the old set are not recorded
// (the item is skipped and still to do), and the next run hashes both
// images.
func TestGenerateBlurHashes_SidecarsReplacedMeanwhile(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	alien := filepath.Join(root, "Alien (1979)", "Alien (1979).mkv")
	if err := os.MkdirAll(filepath.Dir(alien), 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10", "-c:v", "libx264", "-preset", "ultrafast", alien)
	writeImage(t, filepath.Join(root, "Alien (1979)", "poster.jpg"), 300, 450, color.RGBA{200, 30, 30, 255})
	db := mediaIndex(t)
	items := scanAndAnalyse(t, db, root, "")
	local := &tasks.RefreshLocalMedia{Index: db, Libraries: []butler.Library{{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{root}}}}
	if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	idx := &sidecarsReplacedOnRead{DB: db, hook: func() {
		writeImage(t, filepath.Join(root, "Alien (1979)", "fanart.png"), 640, 360, color.RGBA{20, 40, 210, 255})
		if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
			t.Error(err)
		}
	}}
	act := &tasks.GenerateBlurHashes{Index: idx}
	id := items[alien].ID
	if res := act.RunItem(t.Context(), id, newTestReporter(t).Logger()); res.Outcome != butler.ItemSkipped {
		t.Errorf("the item whose sidecars were replaced while its images were hashed: %+v; want it skipped", res)
	}
	if outs, err := db.MediaOutputs(t.Context(), id); err != nil || len(outs) != 0 {
		t.Errorf("outputs recorded: %+v, %v; want none (the BlurHashes of the old set are not)", outs, err)
	}
	if left, err := act.Backlog(t.Context()); err != nil || left != 1 {
		t.Errorf("Backlog = %d, %v; want the item still to do", left, err)
	}
	if res := act.RunItem(t.Context(), id, newTestReporter(t).Logger()); res.Outcome != butler.ItemDone {
		t.Fatalf("the next run: %+v; want done", res)
	}
	var d tasks.BlurHashesData
	outputOf(t, db, id, butler.OutputBlurHashes, &d)
	if len(d.Images) != 2 || d.Images[0].Hash == "" || d.Images[1].Hash == "" {
		t.Errorf("BlurHashes: %+v; want the poster's and the fanart's", d.Images)
	}
}

// TestGenerateBlurHashes_SetReplacedSoImagesGoneIsNoFailure: the user
// replaces poster.jpg by poster.png while the item is hashed:
// RefreshLocalMedia records the new set, and the hashing of the old set
// finds poster.jpg gone. That is no failure of the item's (it would wait a
// day, then two... before the new poster were hashed): it is skipped, and
// still to do.
func TestGenerateBlurHashes_SetReplacedSoImagesGoneIsNoFailure(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	dir := filepath.Join(root, "Alien (1979)")
	alien := filepath.Join(dir, "Alien (1979).mkv")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10", "-c:v", "libx264", "-preset", "ultrafast", alien)
	writeImage(t, filepath.Join(dir, "poster.jpg"), 300, 450, color.RGBA{200, 30, 30, 255})
	db := mediaIndex(t)
	items := scanAndAnalyse(t, db, root, "")
	local := &tasks.RefreshLocalMedia{Index: db, Libraries: []butler.Library{{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{root}}}}
	if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	idx := &sidecarsReplacedOnRead{DB: db, hook: func() {
		if err := os.Remove(filepath.Join(dir, "poster.jpg")); err != nil {
			t.Error(err)
		}
		writeImage(t, filepath.Join(dir, "poster.png"), 300, 450, color.RGBA{20, 40, 210, 255})
		if err := local.Run(t.Context(), newTestReporter(t)); err != nil {
			t.Error(err)
		}
	}}
	act := &tasks.GenerateBlurHashes{Index: idx}
	id := items[alien].ID
	res := act.RunItem(t.Context(), id, newTestReporter(t).Logger())
	outs, _ := db.MediaOutputs(t.Context(), id)
	left, err := act.Backlog(t.Context())
	if res.Outcome != butler.ItemSkipped || err != nil || left != 1 || len(outs) != 0 {
		t.Errorf("an item whose set was replaced while hashed: %s (%s), outputs %+v, backlog %d (%v); want skipped, nothing recorded, still to do",
			res.Outcome, res.Reason, outs, left, err)
	}
}
