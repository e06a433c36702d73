// Package imagehash makes the BlurHash of an image (a poster, fan art):
// a string of 20 to 60 characters from which a client draws a blurred
// placeholder of the image's colours while the image itself loads
// (https://blurha.sh; the encoding is github.com/bbrks/go-blurhash's).
//
// It decodes JPEG and PNG images. Before decoding it reads the image's
// header and refuses an image of more than MaxPixels pixels, so that a
// small file claiming a huge size (a decompression bomb) costs nothing.
// The decoded image is then reduced to at most MaxSide pixels on its
// long side, averaging in linear light, and that small image is encoded:
// a 6000×4000 poster costs its decoding and little more.
//
// The number of components follows the image's shape as Jellyfin's do
// (Jellyfin.Drawing's ImageProcessor.GetImageBlurHash): about 16 in all,
// so that each covers a square-ish part of the image: 4×5 for a 2:3
// poster, 6×4 for 16:9 fan art (Components).
//
// Transparent parts are taken as black, the background of most
// clients' grids.
package imagehash

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // the JPEG decoder, for image.Decode
	_ "image/png"  // the PNG decoder, for image.Decode
	"io"
	"math"
	"os"

	"github.com/bbrks/go-blurhash"
)

// MaxPixels is the largest image Hash decodes, in pixels (8000×8000):
// decoding one takes up to 4 bytes a pixel (8 for a 16-bit PNG).
const MaxPixels = 64_000_000

// MaxSide is the longest side, in pixels, of the reduced image that is
// encoded.
const MaxSide = 64

// ImageError is the error of Hash for data that is not an image it can
// hash: not an image, a format other than JPEG or PNG, damaged or cut
// short, or too large. It is the image's fault: another image can be
// hashed.
type ImageError struct {
	// Path is the image's file for HashFile, "" for Hash.
	Path string
	// Reason says what is wrong, in a line.
	Reason string
	// Err is the decoder's error, if any.
	Err error
}

// Error says which image and why.
func (e *ImageError) Error() string {
	if e.Path == "" {
		return "blurhash: " + e.Reason
	}
	return "blurhash of " + e.Path + ": " + e.Reason
}

// Unwrap returns the decoder's error, if any.
func (e *ImageError) Unwrap() error { return e.Err }

// Components returns the numbers of horizontal and vertical components
// for an image of width×height pixels: about 16 in all, their ratio the
// image's, each 1 to 9.
func Components(width, height int) (x, y int) {
	if width <= 0 || height <= 0 {
		return 4, 4
	}
	xf := math.Sqrt(16 * float64(width) / float64(height))
	yf := xf * float64(height) / float64(width)
	return min(int(xf)+1, 9), min(int(yf)+1, 9)
}

// HashFile returns the BlurHash of the image file at path. Errors: an
// *ImageError (with Path set) when the file is not an image it can hash;
// an error that wraps fs.ErrNotExist when it is missing; any other error
// is one of reading the file.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("blurhash: %w", err)
	}
	defer f.Close()
	h, err := Hash(f)
	if ie, ok := errors.AsType[*ImageError](err); ok {
		ie.Path = path
	} else if err != nil {
		err = fmt.Errorf("blurhash of %s: %w", path, err)
	}
	return h, err
}

// errReader remembers the first error of its reader other than io.EOF:
// the decoders report a read error as a bad image, this tells them
// apart.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// Hash returns the BlurHash of the JPEG or PNG image r reads. Errors: an
// *ImageError when r's data is not an image it can hash; any other error
// is one of reading r.
func Hash(r io.Reader) (string, error) {
	er := &errReader{r: r}
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(er, &head))
	if er.err != nil {
		return "", fmt.Errorf("read the image: %w", er.err)
	}
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			if isWebP(head.Bytes()) {
				return "", &ImageError{Reason: "a WebP image: only JPEG and PNG images are read"}
			}
			return "", &ImageError{Reason: "not a JPEG or PNG image", Err: err}
		}
		reason := err.Error()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			reason = "cut short"
		}
		return "", &ImageError{Reason: "a damaged image header: " + reason, Err: err}
	}
	if format != "jpeg" && format != "png" {
		return "", &ImageError{Reason: fmt.Sprintf("a %s image: only JPEG and PNG images are read", format)}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", &ImageError{Reason: fmt.Sprintf("its header gives a size of %d×%d pixels", cfg.Width, cfg.Height)}
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > MaxPixels {
		return "", &ImageError{Reason: fmt.Sprintf("%d×%d pixels (%.0f megapixels) is more than the %d megapixels allowed",
			cfg.Width, cfg.Height, float64(px)/1e6, MaxPixels/1_000_000)}
	}
	img, _, err := image.Decode(io.MultiReader(&head, er))
	if er.err != nil {
		return "", fmt.Errorf("read the image: %w", er.err)
	}
	if err != nil {
		reason := err.Error()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			reason = "cut short"
		}
		return "", &ImageError{Reason: fmt.Sprintf("a damaged %s image: %s", format, reason), Err: err}
	}
	return HashImage(img)
}

// isWebP reports whether b starts as a WebP file does.
func isWebP(b []byte) bool {
	return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
}

// HashImage returns the BlurHash of img, reduced to MaxSide pixels on its
// long side first. An empty image is an *ImageError.
func HashImage(img image.Image) (string, error) {
	b := img.Bounds()
	if b.Empty() {
		return "", &ImageError{Reason: "an empty image"}
	}
	x, y := Components(b.Dx(), b.Dy())
	h, err := blurhash.Encode(x, y, reduce(img, MaxSide))
	if err != nil {
		return "", fmt.Errorf("blurhash: encode %d×%d components: %w", x, y, err)
	}
	return h, nil
}

// reduce returns img shrunk to fit side×side pixels, keeping its shape
// (or img's size, if smaller), each pixel the average of the pixels it
// covers, in linear light, over black.
func reduce(img image.Image, side int) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if w > side || h > side {
		if w >= h {
			dw, dh = side, max(1, int(math.Round(float64(h)*float64(side)/float64(w))))
		} else {
			dw, dh = max(1, int(math.Round(float64(w)*float64(side)/float64(h)))), side
		}
	}
	var toLinear [256]float64
	for i := range toLinear {
		toLinear[i] = srgbToLinear(float64(i) / 255)
	}
	// col[x] is the column of the reduced image source column x falls in.
	col := make([]int, w)
	for x := range col {
		col[x] = x * dw / w
	}
	sum := make([][3]float64, dw*dh)
	count := make([]float64, dw*dh)
	add := func(row []([3]float64), cnt []float64, x int, r, g, bl uint8) {
		c := col[x]
		row[c][0] += toLinear[r]
		row[c][1] += toLinear[g]
		row[c][2] += toLinear[bl]
		cnt[c]++
	}
	for y := range h {
		dy := y * dh / h
		row, cnt := sum[dy*dw:(dy+1)*dw], count[dy*dw:(dy+1)*dw]
		sy := b.Min.Y + y
		switch src := img.(type) {
		case *image.YCbCr:
			for x := range w {
				sx := b.Min.X + x
				yi, ci := src.YOffset(sx, sy), src.COffset(sx, sy)
				r, g, bl := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				add(row, cnt, x, r, g, bl)
			}
		case *image.RGBA: // premultiplied: over black as it is
			p := src.Pix[src.PixOffset(b.Min.X, sy):]
			for x := range w {
				add(row, cnt, x, p[4*x], p[4*x+1], p[4*x+2])
			}
		case *image.NRGBA:
			p := src.Pix[src.PixOffset(b.Min.X, sy):]
			for x := range w {
				a := uint16(p[4*x+3])
				add(row, cnt, x, uint8(uint16(p[4*x])*a/255), uint8(uint16(p[4*x+1])*a/255), uint8(uint16(p[4*x+2])*a/255))
			}
		case *image.Gray:
			p := src.Pix[src.PixOffset(b.Min.X, sy):]
			for x := range w {
				add(row, cnt, x, p[x], p[x], p[x])
			}
		default:
			for x := range w {
				r, g, bl, _ := img.At(b.Min.X+x, sy).RGBA() // premultiplied
				add(row, cnt, x, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			}
		}
	}
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for i, s := range sum {
		n := count[i]
		dst.Pix[4*i] = linearToSRGB8(s[0] / n)
		dst.Pix[4*i+1] = linearToSRGB8(s[1] / n)
		dst.Pix[4*i+2] = linearToSRGB8(s[2] / n)
		dst.Pix[4*i+3] = 255
	}
	return dst
}

// srgbToLinear converts an sRGB component (0 to 1) to linear light.
func srgbToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// linearToSRGB8 converts linear light (0 to 1) to an 8-bit sRGB
// component.
func linearToSRGB8(v float64) uint8 {
	v = max(0, min(1, v))
	if v <= 0.0031308 {
		v *= 12.92
	} else {
		v = 1.055*math.Pow(v, 1/2.4) - 0.055
	}
	return uint8(v*255 + 0.5)
}
