// Package mediaframes takes pictures out of video files with ffmpeg (from
// FFmpeg): the preview images a player shows while seeking (one every
// interval, for a BIF file, package bif, or Jellyfin's trickplay sheets,
// Tiles), and one picture per chapter. ffmpeg runs through
// internal/mediatool: at a lower CPU and I/O priority, in a process group
// of its own that dies with Butler, within a time limit that grows with
// the video's duration, killed with its group when the caller's context
// is done.
//
// # Previews
//
// Previews makes one picture for every interval of the video, from its
// start: picture i shows the interval [i×Interval, (i+1)×Interval), and
// there are ceil(duration / Interval) of them (a 35 s video at 10 s has
// 4: at 0, 10, 20 and 30 s), as Plex writes BIF files. Picture i is the
// first frame ffmpeg finds in interval i: ffmpeg's select filter keeps
// the first frame of each interval and drops the others before they are
// scaled, and the image muxer names each picture after its timestamp, so
// that each is checked against its interval.
//
// Decoding every frame of a film to keep one in 250 is most of the work;
// decoding its keyframes alone (ffmpeg -skip_frame nokey) is several
// times faster, and a keyframe is as good a preview as any frame. But
// keyframes come where the encoder put them: every 2 to 10 s in most
// films, every 20 s or more in some encodes, irregularly after scene
// cuts. So the rule is measured on each file rather than guessed: by
// default (DecodeAuto) Previews first decodes keyframes alone, and keeps
// the result when every interval holds a keyframe (picture i is then the
// first keyframe of interval i: less than one interval late, and less
// than one keyframe interval in the usual case); when some interval has
// none (the keyframes are further apart than the interval), it decodes
// the video again, every frame, and picture i is then the frame at
// i×Interval. DecodeKeyframes never decodes every frame, and
// DecodeAll always does.
//
// An interval without a picture of its own after that (a video stream
// that ends a moment before the file's duration, or a gap in a damaged
// recording) shows the previous interval's picture (or, at the start,
// the next one's), as long as at most a tenth of the intervals (and at
// least one) lack one; past that, the file's pictures are a *FileError.
//
// # HDR
//
// A video whose transfer is PQ (SMPTE ST 2084: HDR10, HDR10+, Dolby
// Vision with an HDR10 base layer) or HLG (ARIB STD-B67) is tone-mapped
// to SDR BT.709, so that its pictures are not washed out, grey and flat:
// after the scaling (so that tone-mapping works on the small picture),
//
//	zscale=tin=...:min=...:pin=...:t=linear:npl=100,format=gbrpf32le,
//	zscale=p=bt709,tonemap=tonemap=hable:desat=0,
//	zscale=t=bt709:m=bt709:r=tv,format=yuv420p
//
// with the input's transfer, matrix and primaries named from the analysis
// (so that a stream whose frames are not tagged is still converted).
// zscale is FFmpeg's wrapper of the zimg library (--enable-libzimg, which
// Debian's, Ubuntu's and the static builds have). Dolby Vision profile 5,
// which has no HDR10 base layer, comes out with wrong colours: FFmpeg
// applies its reshaping only through libplacebo, on a GPU.
//
// # Errors
//
// A file ffmpeg cannot read or decode, or from which it makes no
// pictures or too few, is a *FileError: a failure of that file alone. When
// ctx is done, the error wraps ctx's error. Any other error means ffmpeg
// could not be run at all (not installed): nothing will work until that
// is fixed. Every picture returned was decoded by image/jpeg first.
package mediaframes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// Defaults of Extractor's fields.
const (
	// DefaultWidth is the pictures' width in pixels, Plex's and Jellyfin's.
	DefaultWidth = 320
	// DefaultInterval is the interval between previews.
	DefaultInterval = 10 * time.Second
	// DefaultQuality is ffmpeg's JPEG quality (-q:v, 2 best to 31): 5 to
	// 10 KB for a 320×180 picture.
	DefaultQuality = 5
	// DefaultTimeout is ffmpeg's time limit for one pass over a file, or
	// for one chapter's picture, before PerHour.
	DefaultTimeout = 2 * time.Minute
	// DefaultPerHour is added to the limit of a pass over a file per hour
	// of its duration: decoding every frame of an hour of 4K HEVC in
	// software on two cores takes the better part of an hour.
	DefaultPerHour = time.Hour
	// MaxPictureBytes bounds one picture (a chapter's, read from ffmpeg's
	// output).
	MaxPictureBytes = 16 << 20
)

// The decoding modes of Extractor.Decode.
const (
	// DecodeAuto decodes the keyframes alone, and every frame again when
	// some interval has no keyframe (the default).
	DecodeAuto = ""
	// DecodeKeyframes decodes the keyframes alone; intervals without one
	// repeat their neighbour's picture, within the limit on those.
	DecodeKeyframes = "keyframes"
	// DecodeAll decodes every frame.
	DecodeAll = "all"
)

// ErrTimeout is the cause of a *FileError when ffmpeg ran out of time.
var ErrTimeout = errors.New("ffmpeg took longer than its time limit")

// ErrNoVideo is the cause of a *FileError for a file without a video
// stream, or without a duration.
var ErrNoVideo = errors.New("no video to take pictures from")

// FileError is the error for a file whose pictures ffmpeg could not make:
// not media, damaged, truncated, without video, or too slow to decode. It
// is a failure of that file alone.
type FileError = mediatool.FileError

// fileOp begins the message of this package's FileErrors.
const fileOp = "pictures of"

// Extractor takes pictures out of video files with ffmpeg. Its zero value
// is usable: ffmpeg from PATH at mediatool's default priority, pictures
// 320 pixels wide, one every 10 s, at JPEG quality 5. An Extractor is
// safe for concurrent use and must not be copied after its first use.
type Extractor struct {
	// FFmpeg runs ffmpeg; nil means ffmpeg from PATH at mediatool's
	// default niceness and I/O class, logging to Logger.
	FFmpeg *mediatool.Tool
	// Width is the pictures' width in pixels (made even); their height
	// keeps the video's display aspect ratio, rounded to an even number.
	// 0 means DefaultWidth.
	Width int
	// Interval is the interval between previews; 0 means
	// DefaultInterval. It must be a whole number of milliseconds (BIF
	// files count in those).
	Interval time.Duration
	// Quality is ffmpeg's JPEG quality, -q:v: 2 (best, largest) to 31;
	// 0 means DefaultQuality.
	Quality int
	// Decode is DecodeAuto (""), DecodeKeyframes or DecodeAll.
	Decode string
	// Threads bounds ffmpeg's decoding and filtering threads; 0 lets
	// ffmpeg choose (one per core).
	Threads int
	// Timeout is the time limit of one pass of ffmpeg over a file before
	// PerHour, and of one chapter's picture; 0 or less means
	// DefaultTimeout.
	Timeout time.Duration
	// PerHour is added to a pass's limit per hour of the video; 0 means
	// DefaultPerHour, a negative value adds nothing.
	PerHour time.Duration
	// TempDir is where ffmpeg writes the previews (one directory per
	// call, removed before it returns); "" means os.TempDir().
	TempDir string
	// Logger receives the passes that found too few keyframes and the
	// complaints of ffmpeg about files it read; nil means slog.Default().
	Logger *slog.Logger

	once sync.Once
	tool *mediatool.Tool
}

// Validate reports what is wrong with e's settings.
func (e *Extractor) Validate() error {
	switch {
	case e.Width < 0 || e.Width == 1 || e.Width > 8192:
		return fmt.Errorf("picture width %d: give 2 to 8192 pixels, or 0 for %d", e.Width, DefaultWidth)
	case e.Interval < 0 || e.Interval%time.Millisecond != 0:
		return fmt.Errorf("preview interval %v: give a whole number of milliseconds, or 0 for %v", e.Interval, DefaultInterval)
	case e.Interval > 0 && e.Interval < 100*time.Millisecond:
		return fmt.Errorf("preview interval %v: give at least 100ms", e.Interval)
	case e.Quality < 0 || e.Quality == 1 || e.Quality > 31:
		return fmt.Errorf("JPEG quality %d: give 2 (best) to 31, or 0 for %d", e.Quality, DefaultQuality)
	case e.Decode != DecodeAuto && e.Decode != DecodeKeyframes && e.Decode != DecodeAll:
		return fmt.Errorf("decoding mode %q: give %q, %q, or \"\" for keyframes first and every frame when they are too far apart", e.Decode, DecodeKeyframes, DecodeAll)
	case e.Threads < 0:
		return fmt.Errorf("threads %d: give a positive number, or 0 to let ffmpeg choose", e.Threads)
	}
	return e.ffmpeg().Validate()
}

// ffmpeg returns the tool that runs ffmpeg.
func (e *Extractor) ffmpeg() *mediatool.Tool {
	e.once.Do(func() {
		e.tool = e.FFmpeg
		if e.tool == nil {
			e.tool = &mediatool.Tool{Program: "ffmpeg", Logger: e.logger()}
		}
	})
	return e.tool
}

func (e *Extractor) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Extractor) width() int { return 2 * (cmpOr(e.Width, DefaultWidth) / 2) }

func (e *Extractor) interval() time.Duration { return cmpOr(e.Interval, DefaultInterval) }

// PictureWidth is the width in pixels of the pictures e takes: Width
// made even, or DefaultWidth.
func (e *Extractor) PictureWidth() int { return e.width() }

// PreviewInterval is the interval between the previews e takes: Interval,
// or DefaultInterval.
func (e *Extractor) PreviewInterval() time.Duration { return e.interval() }

func (e *Extractor) quality() int { return cmpOr(e.Quality, DefaultQuality) }

// limit is the time limit of a pass over a video of duration d.
func (e *Extractor) limit(d time.Duration) time.Duration {
	limit := cmpOr(e.Timeout, DefaultTimeout)
	perHour := e.PerHour
	if perHour == 0 {
		perHour = DefaultPerHour
	}
	if perHour > 0 {
		limit += time.Duration(float64(perHour) * d.Hours())
	}
	return limit
}

// imageCodecs are the codecs of the video streams that are pictures
// attached to a file (cover art), not its video.
var imageCodecs = []string{"mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpegls"}

// VideoStream returns the stream of a whose pictures are taken: the first
// video stream that is not an image (cover art), else the first video
// stream; false when a has none.
func VideoStream(a butler.MediaAnalysis) (butler.MediaStream, bool) {
	var first *butler.MediaStream
	for i := range a.Streams {
		s := &a.Streams[i]
		if s.Type != "video" {
			continue
		}
		if !slices.Contains(imageCodecs, s.Codec) {
			return *s, true
		}
		if first == nil {
			first = s
		}
	}
	if first != nil {
		return *first, true
	}
	return butler.MediaStream{}, false
}

// IsHDR reports whether the pictures of stream s are tone-mapped: its
// transfer is PQ or HLG, or its HDR format one that uses them.
func IsHDR(s butler.MediaStream) bool {
	switch s.ColorTransfer {
	case "smpte2084", "arib-std-b67":
		return true
	}
	switch s.HDR {
	case butler.HDR10, butler.HLG, butler.HDRDolbyVision:
		return true
	}
	return false
}

// Filter returns the filters that turn a frame of stream s into a picture
// width pixels wide: the scaling, then, for HDR (IsHDR), the tone-mapping
// to SDR BT.709.
func Filter(s butler.MediaStream, width int) string {
	w := strconv.Itoa(width)
	// dar is the display aspect ratio (the sample aspect ratio of an
	// anamorphic DVD included); the height is even and at least 2.
	f := "scale=w=" + w + ":h='max(2,trunc(" + w + "/dar/2)*2)'"
	if IsHDR(s) {
		tin := s.ColorTransfer
		if tin != "smpte2084" && tin != "arib-std-b67" {
			tin = "smpte2084"
			if s.HDR == butler.HLG {
				tin = "arib-std-b67"
			}
		}
		matrix := s.ColorSpace
		if matrix != "bt2020nc" && matrix != "bt2020c" && matrix != "bt709" {
			matrix = "bt2020nc"
		}
		pin := s.ColorPrimaries
		if pin != "bt2020" && pin != "bt709" && pin != "smpte432" {
			pin = "bt2020"
		}
		f += ",zscale=tin=" + tin + ":min=" + matrix + ":pin=" + pin + ":t=linear:npl=100,format=gbrpf32le," +
			"zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
	}
	return f + ",setsar=1"
}

// video returns the stream of a to take pictures from, its duration, and
// a *FileError when there is none.
func video(path string, a butler.MediaAnalysis) (butler.MediaStream, error) {
	s, ok := VideoStream(a)
	if !ok {
		return s, &FileError{Op: fileOp, Path: path, Reason: "it has no video stream", Err: ErrNoVideo}
	}
	if a.Duration <= 0 {
		return s, &FileError{Op: fileOp, Path: path, Reason: "its analysis gives no duration", Err: ErrNoVideo}
	}
	return s, nil
}

// stat checks that path is there: a missing file is a *FileError whose
// cause is fs.ErrNotExist.
func stat(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileError{Op: fileOp, Path: path, Reason: "the file is not there", Err: fs.ErrNotExist}
	case err != nil:
		return &FileError{Op: fileOp, Path: path, Reason: err.Error()}
	case fi.IsDir():
		return &FileError{Op: fileOp, Path: path, Reason: "it is a directory"}
	}
	return nil
}

// run runs ffmpeg with args within limit and sorts its error out: the
// result, or the error Previews and ChapterThumbs return.
func (e *Extractor) run(ctx context.Context, path string, limit time.Duration, stdout *mediatool.LimitedBuffer, args []string) (mediatool.Result, error) {
	var out io.Writer
	if stdout != nil {
		out = stdout
	}
	res, err := e.ffmpeg().Run(ctx, limit, out, args...)
	var exitErr *mediatool.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("pictures of %s stopped: %w", path, ctx.Err())
	case errors.Is(err, mediatool.ErrTimeout):
		return res, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg did not finish within %s", limit.Round(time.Millisecond)), Err: ErrTimeout}
	case errors.As(err, &exitErr):
		problem := exitErr.Problem
		if problem == "" {
			problem = "no message"
		}
		return res, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg cannot decode it (%s): %s", exitErr.State, problem)}
	case err != nil:
		return res, fmt.Errorf("pictures of %s: %w", path, err)
	}
	if stdout != nil && stdout.Overflow {
		return res, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg's picture is larger than %d bytes", stdout.Max)}
	}
	if p := res.Problem(); p != "" {
		e.logger().Debug("ffmpeg complained of a file it read", "path", path, "output", p)
	}
	return res, nil
}

// inputArgs are ffmpeg's arguments up to and including the input: the
// file is named through the file protocol and no other protocol is
// allowed (a playlist cannot make ffmpeg fetch a URL).
func (e *Extractor) inputArgs(path string, pre ...string) []string {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	if e.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(e.Threads), "-filter_threads", strconv.Itoa(e.Threads))
	}
	args = append(args, pre...)
	return append(args, "-protocol_whitelist", "file", "-i", "file:"+path)
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// seconds formats d in seconds for ffmpeg ("12.5").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// intervals is the number of intervals of length iv in d: ceil(d/iv).
func intervals(d, iv time.Duration) int {
	return int(math.Ceil(float64(d) / float64(iv)))
}

// joinInts formats a short list of numbers for a message.
func joinInts(n []int) string {
	var parts []string
	for i, v := range n {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(n)-10))
			break
		}
		parts = append(parts, strconv.Itoa(v))
	}
	return strings.Join(parts, ", ")
}
