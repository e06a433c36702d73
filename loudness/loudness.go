// Package loudness measures the loudness of a media file's audio streams
// as EBU R128 defines it, with FFmpeg's ebur128 filter: each stream's
// integrated loudness (LUFS), loudness range (LU) and true peak (dBTP),
// and from them the track gain and peak that ReplayGain 2.0 players use.
//
// One ffmpeg run reads the file once for all its audio streams: each
// stream goes through its own ebur128 filter, whose measurements ffmpeg
// prints as the audio goes (ametadata) to its standard output, where
// Measure reads them line by line; nothing of ffmpeg's output is kept
// but the last measurement of each stream, so a long film costs no
// memory. ffmpeg runs through package mediatool: at a lower CPU and I/O
// priority, in a process group of its own that is killed when the
// caller's context is done, and with a time limit.
//
// # What the numbers are
//
// Integrated loudness is the loudness of the whole stream, gated as EBU
// R128 (ITU-R BS.1770-4) says: 400 ms blocks quieter than -70 LUFS, then
// those more than 10 LU below the loudness of the rest, are left out.
// Loudness range is the spread of the loudness of 3 s windows, from the
// 10th to the 95th percentile. True peak is the highest level of the
// signal oversampled four times, in dB relative to full scale (dBTP); Peak
// is the same as a linear amplitude (1 is full scale), as ReplayGain's
// peak tags store it. FFmpeg gives the loudness values to 0.001 LU and the
// linear peak to 0.001 (so a peak below 0.0005, -66 dBTP, reads as 0).
//
// Gain is the ReplayGain 2.0 track gain: the change in dB that brings the
// stream to the reference loudness of -18 LUFS (ReferenceLoudness), that
// is -18 - Integrated (ReplayGain 2.0 specification, Hydrogenaudio
// Knowledgebase, "ReplayGain 2.0 specification").
//
// # Silence
//
// A stream none of whose blocks reaches -70 LUFS (silence, or a stream
// shorter than 400 ms) has no integrated loudness: ffmpeg reports the gate,
// -70 LUFS, and a true peak of minus infinity when every sample is zero.
// Such a stream is Silent: its Integrated is Floor (-70), its Range 0, its
// TruePeak the measured one but never below Floor (so always finite), and
// its Gain 0, since no gain makes silence as loud as the reference.
package loudness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// ReferenceLoudness is ReplayGain 2.0's reference loudness in LUFS: a
// stream's Gain brings it there.
const ReferenceLoudness = -18.0

// Floor is the absolute gate of EBU R128 in LUFS: a Silent stream's
// Integrated, and the lowest TruePeak (dBTP) reported.
const Floor = -70.0

// Defaults of Analyzer's fields.
const (
	// DefaultTimeout is ffmpeg's time limit for a file, before PerHour.
	DefaultTimeout = 2 * time.Minute
	// DefaultPerHour is added to the limit per hour of the file's
	// duration (ffmpeg decodes all of its audio: even at low priority on
	// a busy machine it runs several times faster than real time).
	DefaultPerHour = 20 * time.Minute
)

// streamKey is the frame metadata key that tags each stream's
// measurements with the stream's index in ffmpeg's output.
const streamKey = "butler.stream"

// FileError is the error of Measure for a file whose audio ffmpeg could
// not measure (not media, damaged, truncated, an audio stream that the
// analysis lists but the file no longer has, or too slow to read): a
// failure of that file alone.
type FileError = mediatool.FileError

// fileOp begins the message of this package's FileErrors.
const fileOp = "measure the loudness of"

// Stream is the loudness of one audio stream.
type Stream struct {
	// Index is the stream's index in the file (butler.MediaStream.Index).
	Index int
	// Integrated is the integrated loudness in LUFS; Floor when Silent.
	Integrated float64
	// Range is the loudness range in LU; 0 when Silent.
	Range float64
	// TruePeak is the true peak in dBTP, never below Floor.
	TruePeak float64
	// Peak is the true peak as a linear amplitude (1 is full scale; it
	// can exceed 1): ReplayGain's track peak.
	Peak float64
	// Gain is ReplayGain 2.0's track gain in dB: ReferenceLoudness -
	// Integrated; 0 when Silent.
	Gain float64
	// Silent is set when no part of the stream reaches Floor: silence,
	// or audio shorter than 400 ms.
	Silent bool
	// Duration is how much of the stream's audio ffmpeg measured.
	Duration time.Duration
}

// Analyzer measures files' loudness with ffmpeg. Its zero value is
// usable: ffmpeg from PATH at mediatool's default priority, with a limit
// of two minutes plus 20 minutes per hour of media. An Analyzer is safe
// for concurrent use and must not be copied after its first use.
type Analyzer struct {
	// FFmpeg runs ffmpeg; nil means ffmpeg from PATH, at niceness
	// mediatool.DefaultNice and the lowest best-effort I/O priority.
	FFmpeg *mediatool.Tool
	// DualMono measures a mono stream as if it played on two speakers
	// (ebur128's dualmono), 3 LU louder than the plain EBU R128 figure,
	// as some ReplayGain scanners do. False: as EBU R128 says.
	DualMono bool
	// Timeout is the time limit for a file, before PerHour; 0 or less
	// means DefaultTimeout.
	Timeout time.Duration
	// PerHour is added to the limit per hour of the analysis's duration
	// (per GiB of the file when the analysis has no duration); 0 means
	// DefaultPerHour, a negative value adds nothing.
	PerHour time.Duration
	// Logger receives ffmpeg's complaints about files it could still
	// measure; nil means slog.Default().
	Logger *slog.Logger

	once sync.Once
	tool *mediatool.Tool
}

// ffmpeg returns the tool that runs ffmpeg.
func (a *Analyzer) ffmpeg() *mediatool.Tool {
	a.once.Do(func() {
		a.tool = a.FFmpeg
		if a.tool == nil {
			a.tool = &mediatool.Tool{Program: "ffmpeg", Logger: a.Logger}
		}
	})
	return a.tool
}

func (a *Analyzer) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// Validate reports what is wrong with a's settings.
func (a *Analyzer) Validate() error { return a.ffmpeg().Validate() }

// audioStreams returns the indexes of the analysis's audio streams, in
// file order.
func audioStreams(m butler.MediaAnalysis) []int {
	var idx []int
	for _, s := range m.Streams {
		if s.Type == "audio" {
			idx = append(idx, s.Index)
		}
	}
	return idx
}

// args are ffmpeg's arguments to measure streams of path. The file is
// named through the file protocol, and no other protocol is allowed for
// it. Each stream's chain tags its frames with the stream's position in
// streams and prints their metadata to standard output, one line per
// write (direct), so that the chains' lines never mix within a frame's.
func (a *Analyzer) args(path string, streams []int) []string {
	dual := ""
	if a.DualMono {
		dual = ":dualmono=true"
	}
	chains := make([]string, len(streams))
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-protocol_whitelist", "file", "-i", "file:" + path}
	for i, idx := range streams {
		chains[i] = fmt.Sprintf("[0:%d]ebur128=peak=true:metadata=1:framelog=verbose%s,"+
			"ametadata=mode=add:key=%s:value=%d,ametadata=mode=print:file=-:direct=1[m%d]", idx, dual, streamKey, i, i)
	}
	args = append(args, "-filter_complex", strings.Join(chains, ";"))
	for i := range streams {
		args = append(args, "-map", fmt.Sprintf("[m%d]", i))
	}
	return append(args, "-f", "null", "-")
}

// Command returns the command line Measure runs for the file at path
// with analysis m: ffmpeg and its arguments. It is nil when m has no
// audio stream.
func (a *Analyzer) Command(path string, m butler.MediaAnalysis) ([]string, error) {
	streams := audioStreams(m)
	if len(streams) == 0 {
		return nil, a.Validate()
	}
	return a.ffmpeg().Command(a.args(path, streams)...)
}

// limit is ffmpeg's time limit for a file of duration d and size bytes.
// When the analysis has no duration, each GiB of the file counts as an
// hour.
func (a *Analyzer) limit(d time.Duration, size int64) time.Duration {
	if d <= 0 {
		d = time.Duration(float64(size) / (1 << 30) * float64(time.Hour))
	}
	limit := a.Timeout
	if limit <= 0 {
		limit = DefaultTimeout
	}
	per := a.PerHour
	if per == 0 {
		per = DefaultPerHour
	}
	if per > 0 {
		limit += time.Duration(float64(per) * d.Hours())
	}
	return limit
}

// Measure measures the loudness of each audio stream of the file at path
// that analysis m lists (m as package mediaprobe made it), in one ffmpeg
// run, and returns them in m's order; none when m has no audio stream.
//
// Errors: a *FileError when ffmpeg cannot measure the file, or the file
// is there but cannot be stat'ed (the item's fault); an error that wraps
// fs.ErrNotExist when the file is missing;
// when ctx is done, an error that wraps ctx's error (ffmpeg is killed,
// with its process group, before Measure returns); anything else means
// ffmpeg could not be run at all (not found, bad settings).
func (a *Analyzer) Measure(ctx context.Context, path string, m butler.MediaAnalysis) ([]Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	streams := audioStreams(m)
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if len(streams) == 0 {
		return nil, nil
	}
	tool := a.ffmpeg()
	if _, err := tool.Command(); err != nil {
		return nil, err
	}
	fi, err := mediatool.Stat(fileOp, path)
	if err != nil {
		return nil, err
	}

	limit := a.limit(m.Duration, fi.Size())
	out := newMetaWriter(len(streams))
	res, err := tool.Run(ctx, limit, out, a.args(path, streams)...)
	out.flush()
	var exitErr *mediatool.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("loudness measurement of %s stopped: %w", path, ctx.Err())
	case errors.Is(err, mediatool.ErrTimeout):
		return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg did not finish within %s", limit.Round(time.Millisecond)), Err: mediatool.ErrTimeout}
	case errors.As(err, &exitErr):
		problem := exitErr.Problem
		switch {
		case strings.Contains(res.Stderr, "matches no streams"):
			return nil, &FileError{Op: fileOp, Path: path, Reason: "an audio stream of its analysis is not in the file: it changed since; analyse it again"}
		case problem == "":
			problem = "no message"
		}
		return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg cannot measure it (%s): %s", exitErr.State, problem)}
	case err != nil:
		return nil, fmt.Errorf("measure the loudness of %s: %w", path, err)
	}

	structural, decoding := complaints(res.Stderr)
	if structural != "" {
		// The container is cut short or damaged: what ffmpeg measured is
		// not the whole of the audio.
		return nil, &FileError{Op: fileOp, Path: path, Reason: "ffmpeg found faults: " + structural}
	}
	result := make([]Stream, len(streams))
	for i, idx := range streams {
		s, err := out.stream(i)
		if err != nil {
			return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("audio stream %d: %v", idx, err)}
		}
		s.Index = idx
		if decoding != "" && cutShort(s.Duration, m.Duration) {
			// The decoder gave up before the end (a truncated FLAC file
			// says only that a frame failed to decode).
			return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("audio stream %d ends after %s of %s: %s",
				idx, s.Duration.Round(time.Millisecond), m.Duration.Round(time.Millisecond), decoding)}
		}
		result[i] = s
	}
	if decoding != "" {
		// A decoder's complaints about some packets (a recording that
		// starts mid-stream): the rest of the audio was measured.
		a.logger().Debug("ffmpeg complained of a file it measured", "path", path, "output", decoding)
	}
	return result, nil
}

// cutShort reports whether measured audio of duration got is short of the
// file's duration want by more than 5 % and two seconds.
func cutShort(got, want time.Duration) bool {
	return want > 0 && want-got > 2*time.Second && float64(got) < 0.95*float64(want)
}

// complaints splits ffmpeg's error output into the lines that say the
// file is cut short or its structure damaged (mediatool.Damaged), and the
// rest (decoders' complaints about packets), each summed up as
// mediatool.Problem does. "Error while decoding stream" lines belong to
// the rest, whatever their reason.
func complaints(stderr string) (structural, decoding string) {
	var s, d strings.Builder
	for line := range strings.Lines(stderr) {
		p := mediatool.Problem(line)
		if p == "" {
			continue
		}
		b := &d
		if !strings.HasPrefix(p, "Error while decoding stream") && mediatool.Damaged(p) {
			b = &s
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return mediatool.Problem(s.String()), mediatool.Problem(d.String())
}

// metaWriter reads ametadata's output as ffmpeg writes it: blocks of a
// "frame:N pts:P pts_time:T" line followed by key=value lines, a block's
// lines together. It keeps, for each stream, the last value of each
// ebur128 key and the first and last frame times.
type metaWriter struct {
	partial []byte
	block   map[string]string
	time    float64 // the current block's pts_time, NaN when none
	streams []streamMeta
}

// streamMeta is what metaWriter kept of a stream.
type streamMeta struct {
	values      map[string]string
	first, last float64
	frames      int
}

// maxLine bounds a line of metaWriter (ametadata's are under 128 bytes).
const maxLine = 4096

func newMetaWriter(n int) *metaWriter {
	w := &metaWriter{streams: make([]streamMeta, n), time: math.NaN()}
	for i := range w.streams {
		w.streams[i].values = map[string]string{}
	}
	return w
}

// Write parses the complete lines of p and always succeeds.
func (w *metaWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(w.partial)+len(p) <= maxLine {
				w.partial = append(w.partial, p...)
			} else {
				w.partial = w.partial[:0]
			}
			break
		}
		if len(w.partial) > 0 {
			w.line(string(append(w.partial, p[:i]...)))
			w.partial = w.partial[:0]
		} else {
			w.line(string(p[:i]))
		}
		p = p[i+1:]
	}
	return n, nil
}

// line takes in one line.
func (w *metaWriter) line(l string) {
	if rest, ok := strings.CutPrefix(l, "frame:"); ok {
		w.commit()
		w.block = map[string]string{}
		w.time = math.NaN()
		if _, t, ok := strings.Cut(rest, "pts_time:"); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(t), 64); err == nil {
				w.time = v
			}
		}
		return
	}
	if k, v, ok := strings.Cut(l, "="); ok && w.block != nil {
		w.block[k] = strings.TrimSpace(v)
	}
}

// commit adds the current block to its stream's record.
func (w *metaWriter) commit() {
	if w.block == nil {
		return
	}
	i, err := strconv.Atoi(w.block[streamKey])
	if err != nil || i < 0 || i >= len(w.streams) {
		w.block = nil
		return
	}
	s := &w.streams[i]
	measured := false
	for k, v := range w.block {
		if strings.HasPrefix(k, "lavfi.r128.") {
			s.values[k] = v
			measured = true
		}
	}
	// The last frame ffmpeg passes on at the end, shorter than 100 ms,
	// carries no measurement: it is not counted in the duration.
	if measured && !math.IsNaN(w.time) {
		if s.frames == 0 || w.time < s.first {
			s.first = w.time
		}
		s.last = max(s.last, w.time)
		s.frames++
	}
	w.block = nil
}

// flush takes in the last block, once ffmpeg is done.
func (w *metaWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
	w.commit()
}

// stream returns the measurement of stream i, or why there is none.
func (w *metaWriter) stream(i int) (Stream, error) {
	m := w.streams[i]
	var s Stream
	get := func(key string) (float64, error) {
		v, ok := m.values[key]
		if !ok {
			return 0, fmt.Errorf("ffmpeg measured no audio (no %s)", key)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("ffmpeg's %s is %q, not a number", key, v)
		}
		return f, nil
	}
	var err error
	if s.Integrated, err = get("lavfi.r128.I"); err != nil {
		return s, err
	}
	if s.Range, err = get("lavfi.r128.LRA"); err != nil {
		return s, err
	}
	if s.Peak, err = get("lavfi.r128.true_peak"); err != nil {
		return s, err
	}
	if math.IsNaN(s.Peak) || math.IsInf(s.Peak, 0) || s.Peak < 0 {
		return s, fmt.Errorf("ffmpeg's true peak is %v: not a level", s.Peak)
	}
	if m.frames > 0 {
		// The blocks are 100 ms long; the last one may be shorter.
		s.Duration = time.Duration((m.last - m.first + 0.1) * float64(time.Second))
	}
	s.TruePeak = Floor
	if s.Peak > 0 {
		s.TruePeak = max(Floor, 20*math.Log10(s.Peak))
	}
	if math.IsNaN(s.Integrated) || math.IsInf(s.Integrated, 1) || math.IsNaN(s.Range) || math.IsInf(s.Range, 0) {
		return s, fmt.Errorf("ffmpeg's measurement is not a number (I %v LUFS, LRA %v LU)", s.Integrated, s.Range)
	}
	if s.Integrated <= Floor+0.0005 {
		s.Silent, s.Integrated, s.Range, s.Gain = true, Floor, 0, 0
		return s, nil
	}
	s.Gain = ReferenceLoudness - s.Integrated
	return s, nil
}

// IsMissing reports whether err means the file is not there (any more).
func IsMissing(err error) bool { return errors.Is(err, fs.ErrNotExist) }
