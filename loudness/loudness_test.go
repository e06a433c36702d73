package loudness_test

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/loudness"
	"github.com/plexbutler/butler/mediaprobe"
)

// fullScale is the gain that brings lavfi's sine source (amplitude 1/8)
// to full scale: 20·log10(8) dB.
const fullScale = "18.0618dB"

// generate runs ffmpeg with args to make out in a temporary folder and
// returns its path.
func generate(t *testing.T, out string, args ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), out)
	cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), p)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate %s: %v: %s", out, err, b)
	}
	return p
}

// sine makes a mono 1 kHz sine of seconds at level dB below full scale.
func sine(t *testing.T, out string, seconds int, level float64, codec ...string) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=" + strconv.Itoa(seconds),
		"-af", "volume=" + fullScale + ",volume=" + strconv.FormatFloat(level, 'f', -1, 64) + "dB"}
	return generate(t, out, append(args, codec...)...)
}

// probe analyses path as the tasks do.
func probe(t *testing.T, path string) butler.MediaAnalysis {
	t.Helper()
	var p mediaprobe.Prober
	a, _, err := p.Probe(t.Context(), path)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	return a
}

// measure measures path with a fresh Analyzer.
func measure(t *testing.T, an *loudness.Analyzer, path string) ([]loudness.Stream, error) {
	t.Helper()
	return an.Measure(t.Context(), path, probe(t, path))
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func finite(s loudness.Stream) bool {
	for _, v := range []float64{s.Integrated, s.Range, s.TruePeak, s.Peak, s.Gain} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// TestSineLevels: a 1 kHz sine at a known level has a known loudness
// (full scale: -3.01 LUFS, as BS.1770's K-weighting is 0 dB at 1 kHz
// and a sine's power is half its peak's), in lossless and lossy music
// files; gain and peak follow from it.
func TestSineLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level float64
		codec []string
		tol   float64 // LU
		// peakTol is in dB: lossy codecs move the peaks, and the linear
		// peak is read to 0.001 (0.4 dB at -40 dBTP).
		peakTol float64
	}{
		{"full.flac", 0, nil, 0.05, 0.2},
		{"minus20.flac", -20, nil, 0.05, 0.2},
		{"minus20.mp3", -20, []string{"-c:a", "libmp3lame", "-b:a", "192k"}, 0.3, 0.6},
		{"minus20.m4a", -20, []string{"-c:a", "aac", "-b:a", "192k"}, 0.3, 0.6},
		{"minus40.ogg", -40, []string{"-c:a", "libvorbis"}, 0.3, 1.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := sine(t, tc.name, 5, tc.level, tc.codec...)
			var an loudness.Analyzer
			got, err := measure(t, &an, path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d streams measured, want 1: %+v", len(got), got)
			}
			s := got[0]
			wantI := -3.01 + tc.level
			if !finite(s) || s.Silent || s.Index != 0 {
				t.Errorf("stream %+v: want finite values, not silent, index 0", s)
			}
			if !near(s.Integrated, wantI, tc.tol) {
				t.Errorf("integrated loudness %.3f LUFS, want %.2f ± %.2f", s.Integrated, wantI, tc.tol)
			}
			if !near(s.Gain, -18-wantI, tc.tol) || !near(s.Gain, loudness.ReferenceLoudness-s.Integrated, 1e-9) {
				t.Errorf("gain %.3f dB, want -18 - %.3f", s.Gain, s.Integrated)
			}
			if !near(s.Range, 0, 0.2) {
				t.Errorf("loudness range %.3f LU, want 0 for a steady sine", s.Range)
			}
			if !near(s.TruePeak, tc.level, tc.peakTol) {
				t.Errorf("true peak %.3f dBTP, want %.1f ± %.1f", s.TruePeak, tc.level, tc.peakTol)
			}
			if !near(s.TruePeak, 20*math.Log10(s.Peak), 1e-9) {
				t.Errorf("true peak %.3f dBTP is not the linear peak %.4f", s.TruePeak, s.Peak)
			}
			if !near(s.Duration.Seconds(), 5, 0.15) {
				t.Errorf("duration %s, want 5s", s.Duration)
			}
		})
	}
}

// TestTwoStreamsOneRun: a video with two audio streams of different
// levels and layouts gets both measured, each its own, in stream order.
func TestTwoStreamsOneRun(t *testing.T) {
	path := generate(t, "two.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=6",
		"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=6",
		"-filter_complex", "[1:a]volume="+fullScale+",asplit[x][y];[x]volume=-10dB,pan=stereo|c0=c0|c1=c0[a];[y]volume=-30dB[b]",
		"-map", "0:v", "-map", "[b]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac")
	var an loudness.Analyzer
	got, err := measure(t, &an, path)
	if err != nil {
		t.Fatal(err)
	}
	// Stream 1 is the mono one at -30 dB, stream 2 the stereo one at
	// -10 dB, whose two channels add 3.01 LU.
	want := []struct {
		index int
		i     float64
	}{{1, -33.01}, {2, -10.0}}
	if len(got) != len(want) {
		t.Fatalf("%d streams measured, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Index != w.index || !near(got[i].Integrated, w.i, 0.05) || !finite(got[i]) {
			t.Errorf("result %d: %+v, want stream %d at %.2f LUFS", i, got[i], w.index, w.i)
		}
	}
}

// TestDualMono: with DualMono a mono stream measures as if played on two
// speakers, 3.01 LU louder.
func TestDualMono(t *testing.T) {
	path := sine(t, "mono.flac", 3, -20)
	an := loudness.Analyzer{DualMono: true}
	got, err := measure(t, &an, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !near(got[0].Integrated, -20, 0.05) {
		t.Fatalf("dual mono: %+v, want -20.0 LUFS", got)
	}
}

// TestSilence: digital silence, and audio too short to gate, are Silent
// with finite values and no gain.
func TestSilence(t *testing.T) {
	for name, args := range map[string][]string{
		"silence.flac": {"-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "4"},
		"short.flac":   {"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=0.2"},
	} {
		t.Run(name, func(t *testing.T) {
			var an loudness.Analyzer
			got, err := measure(t, &an, generate(t, name, args...))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%+v: want one stream", got)
			}
			s := got[0]
			if !s.Silent || s.Integrated != loudness.Floor || s.Gain != 0 || s.Range != 0 || !finite(s) || s.TruePeak < loudness.Floor {
				t.Errorf("%+v: want Silent, Integrated %v, Gain 0, finite values", s, loudness.Floor)
			}
			if name == "silence.flac" && (s.Peak != 0 || s.TruePeak != loudness.Floor) {
				t.Errorf("silence's peak %v (%v dBTP), want 0 (%v dBTP)", s.Peak, s.TruePeak, loudness.Floor)
			}
		})
	}
}

// TestNoAudio: a file without audio streams measures to nothing.
func TestNoAudio(t *testing.T) {
	path := generate(t, "video.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast")
	var an loudness.Analyzer
	got, err := measure(t, &an, path)
	if err != nil || got != nil {
		t.Fatalf("Measure: %+v, %v; want nothing", got, err)
	}
	if cmd, err := an.Command(path, probe(t, path)); err != nil || cmd != nil {
		t.Errorf("Command: %q, %v; want none", cmd, err)
	}
}

// truncate writes the first half of path to a new file and returns it.
func truncate(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut-"+filepath.Base(path))
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFileErrors: files ffmpeg cannot measure (truncated, not media, an
// audio stream the file does not have) are *FileErrors; a missing file
// is not, and neither is an ffmpeg that cannot be found.
func TestFileErrors(t *testing.T) {
	video := generate(t, "v.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=8",
		"-f", "lavfi", "-i", "sine=frequency=1000:duration=8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	flac := sine(t, "s.flac", 8, -10)
	m4a := sine(t, "s.m4a", 8, -10, "-c:a", "aac")
	junk := filepath.Join(t.TempDir(), "junk.mkv")
	if err := os.WriteFile(junk, []byte(rand.Text()+rand.Text()+rand.Text()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The analyses are of the whole files, as the index had them before
	// the files were cut.
	videoA, flacA, m4aA := probe(t, video), probe(t, flac), probe(t, m4a)
	extra := videoA
	extra.Streams = append(append([]butler.MediaStream(nil), videoA.Streams...), butler.MediaStream{Index: 7, Type: "audio"})

	loop := filepath.Join(t.TempDir(), "loop.flac") // stat: too many levels of symbolic links
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}

	var an loudness.Analyzer
	for _, tc := range []struct {
		name string
		path string
		a    butler.MediaAnalysis
	}{
		{"truncated mkv", truncate(t, video), videoA},
		{"truncated flac", truncate(t, flac), flacA},
		{"truncated m4a", truncate(t, m4a), m4aA},
		{"not media", junk, flacA},
		{"stream gone", video, extra}, // and the reason says so
		{"a folder", t.TempDir(), flacA},
		{"cannot be stat'ed", loop, flacA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := an.Measure(t.Context(), tc.path, tc.a)
			var fe *loudness.FileError
			if !errors.As(err, &fe) || fe.Path != tc.path || fe.Reason == "" || len(fe.Reason) > 400 {
				t.Fatalf("Measure: %+v, %v; want a *FileError for the file", got, err)
			}
			if got != nil {
				t.Errorf("results %+v with the error", got)
			}
			if tc.name == "stream gone" && !strings.Contains(fe.Reason, "analyse it again") {
				t.Errorf("reason %q: want it to say the file changed", fe.Reason)
			}
			t.Log(err)
		})
	}

	t.Run("missing", func(t *testing.T) {
		_, err := an.Measure(t.Context(), filepath.Join(t.TempDir(), "gone.flac"), flacA)
		var fe *loudness.FileError
		if !loudness.IsMissing(err) || errors.As(err, &fe) {
			t.Fatalf("missing file: %v; want an fs.ErrNotExist, not a *FileError", err)
		}
	})
	t.Run("no ffmpeg", func(t *testing.T) {
		an := loudness.Analyzer{FFmpeg: &mediatool.Tool{Program: filepath.Join(t.TempDir(), "ffmpeg")}}
		_, err := an.Measure(t.Context(), flac, flacA)
		var fe *loudness.FileError
		if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("no ffmpeg: %v; want a plain error saying it was not found", err)
		}
	})
}

// long makes a ten-minute WAV file: long enough for ffmpeg to be caught
// running.
func long(t *testing.T) string {
	return generate(t, "long.wav", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=600")
}

// ffmpegOf returns the pid of the ffmpeg process running with path in its
// command line, or 0.
func ffmpegOf(t *testing.T, path string) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("the test reads /proc to find ffmpeg")
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == "ffmpeg" && strings.Contains(string(b), "file:"+path) {
			return pid
		}
	}
	return 0
}

// gone reports whether process pid has ended (it is not there, or a
// zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// TestCancelKillsFFmpeg: when the context is done, Measure returns its
// error and ffmpeg is gone by then.
func TestCancelKillsFFmpeg(t *testing.T) {
	path := long(t)
	a := probe(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		s   []loudness.Stream
		err error
	}
	done := make(chan result, 1)
	var an loudness.Analyzer
	go func() {
		s, err := an.Measure(ctx, path, a)
		done <- result{s, err}
	}()
	pid := 0
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 {
		select {
		case r := <-done:
			t.Fatalf("Measure ended before ffmpeg was seen: %+v, %v", r.s, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ffmpeg not seen running within 20 s")
		}
		pid = ffmpegOf(t, path)
	}
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) || r.s != nil {
		t.Fatalf("Measure after cancel: %+v, %v; want context.Canceled", r.s, r.err)
	}
	if !gone(pid) {
		t.Errorf("ffmpeg (pid %d) still running after Measure returned", pid)
	}
	if p := ffmpegOf(t, path); p != 0 {
		t.Errorf("an ffmpeg (pid %d) still runs for the file", p)
	}
}

// TestTimeout: a file that takes longer than the limit is a *FileError
// whose cause is mediatool.ErrTimeout, and ffmpeg is gone.
func TestTimeout(t *testing.T) {
	path := long(t)
	an := loudness.Analyzer{Timeout: 200 * time.Millisecond, PerHour: -1}
	_, err := an.Measure(t.Context(), path, probe(t, path))
	var fe *loudness.FileError
	if !errors.As(err, &fe) || !errors.Is(err, mediatool.ErrTimeout) {
		t.Fatalf("Measure: %v; want a *FileError for the time limit", err)
	}
	if p := ffmpegOf(t, path); p != 0 {
		t.Errorf("ffmpeg (pid %d) still runs after the time limit", p)
	}
}
