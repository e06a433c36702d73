package markers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// Chromaprint's constants for its default algorithm (TEST2), which
// FFmpeg's chromaprint muxer uses unless told otherwise: audio at 11,025
// Hz, analysed in frames of 4,096 samples that advance by a third of a
// frame, 1,365 samples (chromaprint's src/fingerprinter_configuration.cpp:
// kDefaultFrameSize and kDefaultFrameOverlap = size - size/3; the rate
// is its src/fingerprinter.cpp's target sample rate).
const (
	sampleRate = 11025
	frameSize  = 4096
	frameStep  = frameSize / 3 // 1,365 samples
	// windowFrames is how many frames one fingerprint item depends on:
	// the chroma filter spans 5 frames and the classifiers' filters up to
	// 16 of the filtered ones, so item i covers frames i to i+19 (a
	// 30-second clip gives 240 frames and 221 items).
	windowFrames = 20
)

// ItemStep is the time between two items of a fingerprint: 1,365
// samples at 11,025 Hz, about 0.1238 s.
const ItemStep = time.Duration(frameStep * int64(time.Second) / sampleRate)

// ItemSpan is how much audio one fingerprint item describes: 20 frames,
// the last ending 4,096 samples after its start, about 2.72 s.
const ItemSpan = time.Duration(((windowFrames-1)*frameStep + frameSize) * int64(time.Second) / sampleRate)

// Fingerprint is a Chromaprint fingerprint of a stretch of audio: one
// 32-bit item every ItemStep, item i describing the audio from Start +
// i·ItemStep to ItemSpan later.
type Fingerprint struct {
	// Start is where in the file the fingerprinted audio starts.
	Start time.Duration
	// Items are the fingerprint's items.
	Items []uint32
}

// At returns the time in the file of item i's start.
func (f Fingerprint) At(i int) time.Duration { return f.Start + time.Duration(i)*ItemStep }

// FileError is the error for a file that ffmpeg could not read (not
// media, damaged, truncated, a stream its analysis lists that it no
// longer has, or too slow to read): a failure of that file alone.
type FileError = mediatool.FileError

// fileOp begins the message of this package's FileErrors.
const fileOp = "find the markers of"

// maxOutput bounds what Fingerprint and BlackFrames keep of ffmpeg's
// standard output: a raw fingerprint is 32 KiB per 17 minutes, the
// black-frame lines about 60 bytes per change between picture and black.
const maxOutput = 8 << 20

// audioStream returns the index of the stream to fingerprint: the first
// default audio stream, else the first audio stream; -1 when none.
func audioStream(m butler.MediaAnalysis) int {
	first := -1
	for _, s := range m.Streams {
		if s.Type != "audio" {
			continue
		}
		if s.Default {
			return s.Index
		}
		if first < 0 {
			first = s.Index
		}
	}
	return first
}

// videoStream returns the index of the first video stream that is not a
// cover picture (a codec of still images); -1 when none.
func videoStream(m butler.MediaAnalysis) int {
	for _, s := range m.Streams {
		if s.Type == "video" && s.Codec != "mjpeg" && s.Codec != "png" && s.Codec != "bmp" {
			return s.Index
		}
	}
	return -1
}

// seconds formats d for ffmpeg's options, to the microsecond.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 6, 64)
}

// input returns ffmpeg's arguments to read path from start for length
// (0: to the end) through the file protocol only.
func input(path string, start, length time.Duration) []string {
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "error"}
	if start > 0 {
		args = append(args, "-ss", seconds(start))
	}
	args = append(args, "-protocol_whitelist", "file", "-i", "file:"+path)
	if length > 0 {
		args = append(args, "-t", seconds(length))
	}
	return args
}

// fingerprintArgs are ffmpeg's arguments to fingerprint audio stream idx
// of path from start for length: mono at Chromaprint's own rate (so
// that it resamples nothing), raw items on standard output.
func fingerprintArgs(path string, idx int, start, length time.Duration) []string {
	return append(input(path, start, length), "-map", "0:"+strconv.Itoa(idx), "-vn", "-sn", "-dn",
		"-ac", "1", "-ar", strconv.Itoa(sampleRate), "-f", "chromaprint", "-fp_format", "raw", "-")
}

// run runs ffmpeg with args for the file at path, its output kept, and
// turns its failures into errors as the package documents them.
func (f *Finder) run(ctx context.Context, path string, limit time.Duration, args []string) ([]byte, string, error) {
	tool := f.ffmpeg()
	if _, err := tool.Command(); err != nil {
		return nil, "", err
	}
	if _, err := mediatool.Stat(fileOp, path); err != nil {
		return nil, "", err
	}
	out := &mediatool.LimitedBuffer{Max: maxOutput}
	res, err := tool.Run(ctx, limit, out, args...)
	var exitErr *mediatool.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, "", fmt.Errorf("marker detection of %s stopped: %w", path, ctx.Err())
	case errors.Is(err, mediatool.ErrTimeout):
		return nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg did not finish within %s", limit.Round(time.Millisecond)), Err: mediatool.ErrTimeout}
	case errors.As(err, &exitErr):
		if strings.Contains(res.Stderr, "matches no streams") {
			return nil, "", &FileError{Op: fileOp, Path: path, Reason: "a stream of its analysis is not in the file: it changed since; analyse it again"}
		}
		problem := exitErr.Problem
		if problem == "" {
			problem = "no message"
		}
		return nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg cannot read it (%s): %s", exitErr.State, problem)}
	case err != nil:
		return nil, "", fmt.Errorf("find the markers of %s: %w", path, err)
	}
	if out.Overflow {
		return nil, "", &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg wrote more than %d bytes", maxOutput)}
	}
	if p := res.Problem(); p != "" && mediatool.Damaged(p) {
		return nil, "", &FileError{Op: fileOp, Path: path, Reason: "ffmpeg found faults: " + p}
	}
	return out.Bytes(), res.Problem(), nil
}

// Fingerprint fingerprints audio stream idx of the file at path (its
// index in the file, as butler.MediaStream.Index) from start for length
// (0: to the end) with ffmpeg's chromaprint muxer. A stretch shorter than
// ItemSpan has no items.
//
// Errors: a *FileError when ffmpeg cannot read the file, or it is there
// but cannot be stat'ed; an error that wraps fs.ErrNotExist when it is
// missing; one that wraps ctx's error when ctx is done (ffmpeg is killed
// first); anything else means ffmpeg could not be run.
func (f *Finder) Fingerprint(ctx context.Context, path string, idx int, start, length time.Duration) (Fingerprint, error) {
	if err := f.Validate(); err != nil {
		return Fingerprint{}, err
	}
	limit := f.limit(length)
	out, _, err := f.run(ctx, path, limit, fingerprintArgs(path, idx, start, length))
	if err != nil {
		return Fingerprint{}, err
	}
	if len(out)%4 != 0 {
		return Fingerprint{}, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg's raw fingerprint is %d bytes, not a whole number of 32-bit items", len(out))}
	}
	fp := Fingerprint{Start: start, Items: make([]uint32, len(out)/4)}
	for i := range fp.Items {
		fp.Items[i] = binary.LittleEndian.Uint32(out[4*i:])
	}
	return fp, nil
}

// differ counts the bits in which two items differ.
func differ(a, b uint32) int { return bits.OnesCount32(a ^ b) }
