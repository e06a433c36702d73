package imagehash_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbrks/go-blurhash"
	"github.com/plexbutler/butler/imagehash"
)

// picture makes a w×h image: a warm gradient from left to right over a
// blue band at the bottom.
func picture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(40 + 200*x/w), uint8(120 - 80*x/w), 30, 255}
			if y > 2*h/3 {
				c = color.NRGBA{20, 60, 200, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func toLinear(c uint8) float64 {
	v := float64(c) / 255
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func toSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return 255 * 12.92 * v
	}
	return 255 * (1.055*math.Pow(v, 1/2.4) - 0.055)
}

// average is img's average colour, averaged in linear light, in sRGB
// (0 to 255).
func average(img image.Image) [3]float64 {
	var sum [3]float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			sum[0] += toLinear(c.R)
			sum[1] += toLinear(c.G)
			sum[2] += toLinear(c.B)
		}
	}
	n := float64(b.Dx() * b.Dy())
	return [3]float64{toSRGB(sum[0] / n), toSRGB(sum[1] / n), toSRGB(sum[2] / n)}
}

// TestHashDecodesToTheAverage: the hash of a PNG and of a JPEG of the
// same picture decodes (with the library's decoder) to an image whose
// average colour is the picture's, with as many components as its shape
// asks; the same image gives the same hash every time.
func TestHashDecodesToTheAverage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		encode func(testing.TB, image.Image) []byte
	}{
		{"poster.png", 400, 600, encodePNG},
		{"poster.jpg", 400, 600, encodeJPEG},
		{"art.jpg", 1280, 720, encodeJPEG},
		{"tiny.png", 7, 3, encodePNG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := picture(tc.w, tc.h)
			data := tc.encode(t, src)
			h, err := imagehash.Hash(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			again, err := imagehash.Hash(bytes.NewReader(data))
			if err != nil || again != h {
				t.Errorf("second hash %q, %v; first %q", again, err, h)
			}
			wx, wy := imagehash.Components(tc.w, tc.h)
			x, y, err := blurhash.Components(h)
			if err != nil || x != wx || y != wy || len(h) != 4+2*x*y {
				t.Errorf("hash %q: %d×%d components (%v), want %d×%d", h, x, y, err, wx, wy)
			}
			dec, err := blurhash.Decode(h, 32, 48, 1)
			if err != nil {
				t.Fatalf("decode %q: %v", h, err)
			}
			got, want := average(dec), average(src)
			for i := range got {
				if math.Abs(got[i]-want[i]) > 6 {
					t.Errorf("hash %q decodes to average colour %.0f, picture's %.0f", h, got, want)
					break
				}
			}
		})
	}
}

// TestHashFile: a file hashes as its content does; a missing file is
// not an image error.
func TestHashFile(t *testing.T) {
	data := encodePNG(t, picture(90, 60))
	path := filepath.Join(t.TempDir(), "fanart.png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := imagehash.HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := imagehash.Hash(bytes.NewReader(data)); h != fromFile {
		t.Errorf("HashFile %q, Hash %q", fromFile, h)
	}
	_, err = imagehash.HashFile(filepath.Join(t.TempDir(), "gone.png"))
	var ie *imagehash.ImageError
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &ie) {
		t.Errorf("missing file: %v; want fs.ErrNotExist, not an *ImageError", err)
	}
	_, err = imagehash.HashFile(t.TempDir())
	if err == nil || errors.As(err, &ie) {
		t.Errorf("a folder: %v; want a read error, not an *ImageError", err)
	}
}

// TestComponents: about 16 components shaped as the image.
func TestComponents(t *testing.T) {
	for _, tc := range []struct{ w, h, x, y int }{
		{1000, 1500, 4, 5}, // 2:3 poster
		{1920, 1080, 6, 4}, // 16:9 art
		{500, 500, 5, 5},
		{10000, 10, 9, 1}, // capped at 9
		{0, 0, 4, 4},
	} {
		if x, y := imagehash.Components(tc.w, tc.h); x != tc.x || y != tc.y {
			t.Errorf("Components(%d, %d) = %d, %d; want %d, %d", tc.w, tc.h, x, y, tc.x, tc.y)
		}
	}
}

// hugePNG is a PNG signature and a header chunk for a w×h image, and no
// pixels.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8 bits, RGBA
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestBadImages: data that is not an image it can hash is an
// *ImageError saying why; a huge image is refused from its header.
func TestBadImages(t *testing.T) {
	jpg := encodeJPEG(t, picture(300, 200))
	pngData := encodePNG(t, picture(300, 200))
	// A huge header followed by a mebibyte that is never read.
	huge := append(hugePNG(50000, 50000), make([]byte, 1<<20)...)
	for _, tc := range []struct {
		name, data, reason string
	}{
		{"truncated jpeg", string(jpg[:len(jpg)/2]), "damaged jpeg"},
		{"jpeg header only", string(jpg[:200]), "header: cut short"},
		{"truncated png", string(pngData[:len(pngData)/2]), "damaged png"},
		{"text", "<html>not an image</html>", "not a JPEG or PNG"},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP"},
		{"empty", "", "not a JPEG or PNG"},
		{"huge", string(huge), "megapixels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(tc.data)}
			start := time.Now()
			h, err := imagehash.Hash(r)
			var ie *imagehash.ImageError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, tc.reason) {
				t.Fatalf("Hash: %q, %v; want an *ImageError saying %q", h, err, tc.reason)
			}
			if tc.name == "huge" && (r.n > 64<<10 || time.Since(start) > time.Second) {
				t.Errorf("the huge image was read further than its header: %d bytes in %s", r.n, time.Since(start))
			}
		})
	}
}

// failingReader gives some bytes of an image, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadError: a reader's failure is returned as such, not as an
// *ImageError, whether in the header or in the pixels.
func TestReadError(t *testing.T) {
	disk := errors.New("input/output error")
	data := encodeJPEG(t, picture(300, 200))
	for _, n := range []int{10, len(data) / 2} {
		_, err := imagehash.Hash(&failingReader{data: data[:n], err: disk})
		var ie *imagehash.ImageError
		if !errors.Is(err, disk) || errors.As(err, &ie) {
			t.Errorf("failing after %d bytes: %v; want the read error, not an *ImageError", n, err)
		}
	}
}

// TestTransparentIsBlack: transparent pixels count as black.
func TestTransparentIsBlack(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	for i := range img.Pix {
		img.Pix[i] = 255
		if i%4 == 3 {
			img.Pix[i] = 0
		}
	}
	h, err := imagehash.Hash(bytes.NewReader(encodePNG(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := blurhash.Decode(h, 8, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if avg := average(dec); avg[0]+avg[1]+avg[2] > 6 {
		t.Errorf("a transparent white image decodes to %.0f, want black", avg)
	}
}

// BenchmarkPoster hashes a 4000×6000 JPEG poster: decoding, reducing and
// encoding.
func BenchmarkPoster(b *testing.B) {
	data := encodeJPEG(b, picture(4000, 6000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := imagehash.Hash(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
