package mediaframes_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/plexbutler/butler/mediaframes"
)

// solid returns a w×h JPEG of one colour.
func solid(t *testing.T, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func colour(i int) color.RGBA {
	return color.RGBA{uint8(20 + 10*i), uint8(200 - 8*i), uint8(100 + (i%3)*50), 255}
}

// closeTo reports whether the pixel in the middle of cell (x, y) of a
// sheet of w×h pictures is c, give or take JPEG's losses.
func closeTo(img image.Image, x, y, w, h int, c color.RGBA) bool {
	r, g, b, _ := img.At(x*w+w/2, y*h+h/2).RGBA()
	d := func(a uint32, b uint8) int { return max(int(a>>8)-int(b), int(b)-int(a>>8)) }
	return d(r, c.R) <= 8 && d(g, c.G) <= 8 && d(b, c.B) <= 8
}

func TestTiles(t *testing.T) {
	var pics [][]byte
	for i := range 23 {
		pics = append(pics, solid(t, 32, 18, colour(i)))
	}
	sheets, err := mediaframes.Tiles(pics, 5, 2, 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(sheets) != 3 {
		t.Fatalf("%d sheets, want 3 (10 + 10 + 3)", len(sheets))
	}
	for s, data := range sheets {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("sheet %d: %v", s, err)
		}
		if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 36 {
			t.Errorf("sheet %d is %dx%d, want 160x36 (5x2 of 32x18)", s, b.Dx(), b.Dy())
		}
		for cell := range 10 {
			i := s*10 + cell
			want := color.RGBA{0, 0, 0, 255} // the last sheet's unused places
			if i < len(pics) {
				want = colour(i)
			}
			if !closeTo(img, cell%5, cell/5, 32, 18, want) {
				t.Errorf("sheet %d, cell %d (%d, %d): %v, want picture %d's %v", s, cell, cell%5, cell/5, img.At(cell%5*32+16, cell/5*18+9), i, want)
			}
		}
	}

	// Jellyfin's defaults: one 10×10 sheet holds them all.
	sheets, err = mediaframes.Tiles(pics, 0, 0, 0)
	if err != nil || len(sheets) != 1 {
		t.Fatalf("Tiles with the defaults: %d sheets, %v", len(sheets), err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(sheets[0])); err != nil || cfg.Width != 320 || cfg.Height != 180 {
		t.Errorf("default sheet: %+v, %v; want 320x180", cfg, err)
	}
}

func TestTiles_Refuses(t *testing.T) {
	a, b := solid(t, 32, 18, colour(0)), solid(t, 32, 20, colour(1))
	for _, tc := range []struct {
		name string
		pics [][]byte
		want string
	}{
		{"none", nil, "no pictures"},
		{"sizes differ", [][]byte{a, b}, "picture 1 is 32x20"},
		{"not a JPEG", [][]byte{a, []byte("GIF89a")}, "picture 1 is not a readable JPEG"},
	} {
		if _, err := mediaframes.Tiles(tc.pics, 2, 2, 90); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := mediaframes.Tiles([][]byte{a}, 2, 2, 101); err == nil {
		t.Error("quality 101 accepted")
	}
}

func TestTrickplayFolder(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Film (2010).mkv", "Film (2010).trickplay/320 - 10x10"},
		{"/media/movies/Film (2010)/Film (2010).mkv", "Film (2010).trickplay/320 - 10x10"},
		{"Show.S01E01.1080p.mp4", "Show.S01E01.1080p.trickplay/320 - 10x10"},
		{"noext", "noext.trickplay/320 - 10x10"},
	} {
		if got := mediaframes.TrickplayFolder(tc.name, 320, 10, 10); got != tc.want {
			t.Errorf("TrickplayFolder(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if mediaframes.TrickplaySheetName(12) != "12.jpg" {
		t.Error(mediaframes.TrickplaySheetName(12))
	}
}
