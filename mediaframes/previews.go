package mediaframes

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/mediatool"
)

// PreviewSet is what Previews made of a video.
type PreviewSet struct {
	// Interval is the interval between pictures: Frames[i] shows
	// i×Interval.
	Interval time.Duration
	// Frames are the JPEG pictures, ceil(duration / Interval) of them.
	Frames [][]byte
	// Width and Height are the pictures' size in pixels (all the same).
	Width, Height int
	// Keyframes is true when the pictures are keyframes alone; false when
	// ffmpeg decoded every frame.
	Keyframes bool
	// Repeated lists the intervals without a picture of their own, which
	// show a neighbour's.
	Repeated []int
	// ToneMapped is true when the video is HDR and was tone-mapped.
	ToneMapped bool
	// Command is the ffmpeg command line of the pass that made the
	// pictures.
	Command []string
}

// BIF returns the pictures as a BIF file (package bif).
func (p *PreviewSet) BIF() ([]byte, error) { return bif.Encode(p.Interval, p.Frames) }

// Previews makes the preview pictures of the video file at path, whose
// analysis is a (its duration and video stream): one for every interval
// of the duration from the start, as the package doc says. A file without
// video or duration, that ffmpeg cannot decode, or from which it makes
// too few pictures, is a *FileError; when ctx is done, ffmpeg is killed
// with its process group before Previews returns ctx's error, wrapped;
// any other error means ffmpeg could not be run.
func (e *Extractor) Previews(ctx context.Context, path string, a butler.MediaAnalysis) (*PreviewSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if _, err := e.ffmpeg().Command(); err != nil {
		return nil, err
	}
	s, err := video(path, a)
	if err != nil {
		return nil, err
	}
	if err := stat(path); err != nil {
		return nil, err
	}
	iv := e.interval()
	want := intervals(a.Duration, iv)
	if want >= 1<<20 {
		return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("%d pictures (a duration of %v at one every %v) is too many", want, a.Duration, iv)}
	}

	keyframes := e.Decode != DecodeAll
	p, missing, problem, err := e.pass(ctx, path, a, s, want, keyframes)
	if err != nil {
		return nil, err
	}
	if keyframes && e.Decode == DecodeAuto && len(missing) > 0 {
		e.logger().Info("some intervals have no keyframe: decoding every frame",
			"path", path, "interval", iv, "intervals", want, "without_keyframe", len(missing))
		p, missing, problem, err = e.pass(ctx, path, a, s, want, false)
		if err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 && mediatool.Damaged(problem) {
		// Cut short, not a video stream that ends a moment early.
		return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg found it damaged (%s) and made pictures for %d of its %d intervals of %v: %s",
			problem, len(p.Frames)-len(missing), len(p.Frames), iv, describeMissing(p, missing))}
	}
	if err := fill(path, p, missing); err != nil {
		return nil, err
	}
	return p, nil
}

// pass runs ffmpeg once over the file, decoding keyframes alone or every
// frame, and reads the pictures: each put in its interval, checked, with
// the intervals that have none and ffmpeg's complaints (Problem).
func (e *Extractor) pass(ctx context.Context, path string, a butler.MediaAnalysis, s butler.MediaStream, want int, keyframes bool) (*PreviewSet, []int, string, error) {
	dir, err := os.MkdirTemp(e.TempDir, "butler-previews-")
	if err != nil {
		return nil, nil, "", fmt.Errorf("pictures of %s: a directory for ffmpeg's output: %w", path, err)
	}
	defer os.RemoveAll(dir)

	iv := e.interval()
	ivs := seconds(iv)
	end := seconds(time.Duration(want) * iv)
	// The bucket of a time t is floor(max(t,0)/interval): keep a frame
	// before the end whose bucket is past the last kept one's (the first
	// one kept, prev_selected_t is NAN and max(NAN,0) is 0).
	sel := fmt.Sprintf("select='lt(t,%[1]s)*(isnan(prev_selected_t)+gt(floor(max(t,0)/%[2]s),floor(max(prev_selected_t,0)/%[2]s)))'", end, ivs)
	var pre []string
	if keyframes {
		pre = []string{"-skip_frame", "nokey"}
	}
	args := append(e.inputArgs(path, pre...),
		"-map", "0:"+strconv.Itoa(s.Index), "-an", "-sn", "-dn",
		"-vf", sel+","+Filter(s, e.width()),
		// Each picture keeps its frame's time, in milliseconds, which
		// names its file.
		"-fps_mode", "vfr", "-enc_time_base", "1/1000",
		"-q:v", strconv.Itoa(e.quality()),
		"-f", "image2", "-frame_pts", "1", filepath.Join(dir, "%d.jpg"))
	cmd, err := e.ffmpeg().Command(args...)
	if err != nil {
		return nil, nil, "", err
	}
	res, err := e.run(ctx, path, e.limit(a.Duration), nil, args)
	if err != nil {
		return nil, nil, "", err
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pictures of %s: read ffmpeg's output: %w", path, err)
	}
	p := &PreviewSet{Interval: iv, Frames: make([][]byte, want), Keyframes: keyframes, ToneMapped: IsHDR(s), Command: cmd}
	for _, ent := range entries {
		ms, err := strconv.ParseInt(strings.TrimSuffix(ent.Name(), ".jpg"), 10, 64)
		if err != nil || !strings.HasSuffix(ent.Name(), ".jpg") {
			return nil, nil, "", fmt.Errorf("pictures of %s: ffmpeg wrote %s, not a picture named after its time", path, ent.Name())
		}
		i := int(max(ms, 0) / iv.Milliseconds())
		if i >= want {
			return nil, nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg made a picture at %dms, past the end (%d intervals of %v)", ms, want, iv)}
		}
		if p.Frames[i] != nil {
			return nil, nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg made two pictures for interval %d (its timestamps go back?)", i)}
		}
		data, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			return nil, nil, "", fmt.Errorf("pictures of %s: read ffmpeg's output: %w", path, err)
		}
		w, h, err := decode(data)
		if err != nil {
			return nil, nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg's picture at %dms: %v", ms, err)}
		}
		if p.Width == 0 {
			p.Width, p.Height = w, h
		} else if w != p.Width || h != p.Height {
			return nil, nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg's picture at %dms is %dx%d, the others %dx%d (the video's size changes?)", ms, w, h, p.Width, p.Height)}
		}
		p.Frames[i] = data
	}
	var missing []int
	for i, f := range p.Frames {
		if f == nil {
			missing = append(missing, i)
		}
	}
	return p, missing, res.Problem(), nil
}

// decode decodes a JPEG picture and returns its size.
func decode(data []byte) (int, int, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("not a readable JPEG (%d bytes): %v", len(data), err)
	}
	b := img.Bounds()
	return b.Dx(), b.Dy(), nil
}

// fill gives each interval of missing the previous interval's picture (or,
// at the start, the first picture), when at most a tenth of the intervals,
// and at least one, lack a picture; otherwise it returns a *FileError.
func fill(path string, p *PreviewSet, missing []int) error {
	n := len(p.Frames)
	if len(missing) == n {
		return &FileError{Op: fileOp, Path: path, Reason: "ffmpeg made no pictures of it: " + describeMissing(p, missing)}
	}
	if len(missing) > max(1, n/10) {
		return &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg made pictures for only %d of its %d intervals of %v: %s",
			n-len(missing), n, p.Interval, describeMissing(p, missing))}
	}
	for _, i := range missing {
		if i > 0 {
			p.Frames[i] = p.Frames[i-1]
		}
	}
	// Missing intervals at the start take the first picture.
	first := 0
	for p.Frames[first] == nil {
		first++
	}
	for i := range first {
		p.Frames[i] = p.Frames[first]
	}
	p.Repeated = missing
	return nil
}

func describeMissing(p *PreviewSet, missing []int) string {
	kind := "every frame decoded"
	if p.Keyframes {
		kind = "keyframes alone"
	}
	return fmt.Sprintf("none in intervals %s (%s)", joinInts(missing), kind)
}
