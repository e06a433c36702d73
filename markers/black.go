package markers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Span is a stretch of a file, from Start to End.
type Span struct {
	Start, End time.Duration
}

// Duration is the span's length.
func (s Span) Duration() time.Duration { return s.End - s.Start }

// blackArgs are ffmpeg's arguments to find black pictures in video
// stream idx of path from start for length: blackdetect (pictures of
// which pictureBlack or more of the pixels are darker than pixelBlack,
// for at least minBlack) on pictures scaled down to 160 pixels wide,
// which changes nothing of the proportion of dark pixels but costs less;
// its marks are printed as frame metadata on standard output.
func blackArgs(path string, idx int, start, length time.Duration, minBlack time.Duration, pictureBlack, pixelBlack float64) []string {
	filter := "scale=w=160:h=-2:flags=fast_bilinear,blackdetect=d=" + seconds(minBlack) +
		":pic_th=" + strconv.FormatFloat(pictureBlack, 'f', 3, 64) +
		":pix_th=" + strconv.FormatFloat(pixelBlack, 'f', 3, 64) +
		",metadata=mode=print:file=-"
	return append(input(path, start, length), "-map", "0:"+strconv.Itoa(idx), "-an", "-sn", "-dn",
		"-vf", filter, "-f", "null", "-")
}

// BlackFrames returns the stretches of at least MinBlack (0.5 s when
// unset) of black pictures in video stream idx of the file at path (its
// index in the file) from start for length (0: to the end), in time
// order; a stretch still black at the end ends at start+length. length
// must be positive. Errors are as Fingerprint's.
func (f *Finder) BlackFrames(ctx context.Context, path string, idx int, start, length time.Duration) ([]Span, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if length <= 0 {
		return nil, fmt.Errorf("black frames of %s: give a positive length to read, not %s", path, length)
	}
	minBlack := f.MinBlack
	if minBlack <= 0 {
		minBlack = DefaultMinBlack
	}
	out, _, err := f.run(ctx, path, f.limit(length), blackArgs(path, idx, start, length, minBlack, f.pictureBlack(), f.pixelBlack()))
	if err != nil {
		return nil, err
	}
	return parseBlack(out, start, length), nil
}

// parseBlack reads blackdetect's marks as the metadata filter prints
// them ("frame:N pts:P pts_time:T" then "lavfi.black_start=T" or
// "lavfi.black_end=T"), times relative to start.
func parseBlack(out []byte, start, length time.Duration) []Span {
	var spans []Span
	var open bool
	var cur Span
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		at := start + time.Duration(sec*float64(time.Second))
		switch k {
		case "lavfi.black_start":
			cur, open = Span{Start: at}, true
		case "lavfi.black_end":
			if open {
				cur.End = at
				spans = append(spans, cur)
				open = false
			}
		}
	}
	if open {
		cur.End = start + length
		spans = append(spans, cur)
	}
	return spans
}
