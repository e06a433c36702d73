// Command loudbench measures package loudness against ffmpeg run by hand,
// side by side in one run, and writes a markdown fragment (a "## "
// section) for BENCHMARKS.md:
//
//	go -C bench run ./loudbench -out FRAGMENT.md [-dir DIR] [-rounds N]
//
// scripts/bench-loudness.sh runs it. It needs ffmpeg and ffprobe. Its
// progress goes to standard error.
//
// The files are generated once with ffmpeg into DIR (default
// TMPDIR/loudbench; kept, and reused when already there), untimed:
//
//   - 20 music files of 3 minutes, stereo 44.1 kHz pink noise whose level
//     swells and falls: 7 FLAC, 7 MP3 (LAME, 192 kb/s) and 6 M4A (AAC,
//     192 kb/s);
//   - 5 videos of 10 minutes, Matroska with H.264 (160×120, 5 frames a
//     second) and two audio streams: AAC stereo 48 kHz and AC-3 5.1
//     48 kHz, at different levels.
//
// Each file is analysed with mediaprobe first (untimed), as the task has
// the analysis from the index.
//
// What is timed, for each group of files (music, videos):
//
//   - Butler: loudness.Analyzer.Measure for each file in turn, one ffmpeg
//     run a file for all its audio streams. Its ffmpeg runs at Butler's
//     own priority (mediatool.Tool Nice -1, IOClass none), as the
//     reference does, so that the two compare on a shared machine.
//   - ffmpeg: for each file and each of its audio streams N, in turn,
//     `ffmpeg -nostdin -nostats -i FILE -map 0:a:N -af ebur128=peak=true
//     -f null -` (one decode of the file per stream, as a person would run
//     it), its error output read and discarded.
//
// A time is the wall time of the whole group, files one after another;
// beside it, the CPU time (user and system) of the group's ffmpeg
// processes, from getrusage(RUSAGE_CHILDREN) before and after, which
// other work on a shared machine moves less.
// One untimed round of both first (the files in the page cache, as both
// then find them), then -rounds timed rounds (default 3), Butler and
// ffmpeg alternating which goes first; the fragment gives each round's
// times and the medians, and the ratios of the medians (Butler / ffmpeg).
// Target: at most 1.1. The fragment also gives the largest difference
// between Butler's integrated loudness and ffmpeg's summary (which prints
// 0.1 LU), as a check that both measured the same.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/loudness"
	"github.com/plexbutler/butler/mediaprobe"
)

func main() {
	out := flag.String("out", "", "the markdown fragment to write (required)")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "loudbench"), "where the generated files are kept")
	rounds := flag.Int("rounds", 3, "timed rounds")
	flag.Parse()
	if *out == "" || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: loudbench -out FRAGMENT.md [-dir DIR] [-rounds N]")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), log, *out, *dir, *rounds); err != nil {
		log.Error("loudbench failed", "err", err)
		os.Exit(1)
	}
}

// file is a generated file and its analysis.
type file struct {
	path     string
	analysis butler.MediaAnalysis
	streams  int               // audio streams
	last     []loudness.Stream // Butler's last results
}

// group is a set of files timed together.
type group struct {
	name  string
	files []file
}

// times are a group's timed rounds: wall times, and the CPU time (user
// and system) of the ffmpeg processes.
type times struct {
	butler, ffmpeg       []time.Duration
	butlerCPU, ffmpegCPU []time.Duration
	maxDiff              float64 // LU, Butler's I against ffmpeg's summary
}

// childCPU is the CPU time, user and system, of this process's children
// that have ended and been waited for.
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(ctx context.Context, log *slog.Logger, out, dir string, rounds int) error {
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s not found: install FFmpeg", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	groups, err := generate(ctx, log, dir)
	if err != nil {
		return err
	}
	an := &loudness.Analyzer{FFmpeg: &mediatool.Tool{Program: "ffmpeg", Nice: -1, IOClass: mediatool.IONone, Logger: log}, Logger: log}

	results := make([]times, len(groups))
	for round := 0; round <= rounds; round++ {
		for gi, g := range groups {
			label := fmt.Sprintf("round %d", round)
			if round == 0 {
				label = "warm-up"
			}
			var tb, tf, cb, cf time.Duration
			var diff float64
			butlerFirst := round%2 == 1
			for _, first := range []bool{true, false} {
				cpu := childCPU()
				if first == butlerFirst {
					tb, err = timeButler(ctx, an, g)
					cb = childCPU() - cpu
				} else {
					tf, err = timeFFmpeg(ctx, g, &diff)
					cf = childCPU() - cpu
				}
				if err != nil {
					return fmt.Errorf("%s, %s: %w", label, g.name, err)
				}
			}
			log.Info("timed", "round", label, "group", g.name, "butler", tb.Round(time.Millisecond), "ffmpeg", tf.Round(time.Millisecond),
				"butler CPU", cb.Round(time.Millisecond), "ffmpeg CPU", cf.Round(time.Millisecond))
			if round == 0 {
				continue
			}
			r := &results[gi]
			r.butler = append(r.butler, tb)
			r.ffmpeg = append(r.ffmpeg, tf)
			r.butlerCPU = append(r.butlerCPU, cb)
			r.ffmpegCPU = append(r.ffmpegCPU, cf)
			r.maxDiff = max(r.maxDiff, diff)
		}
	}
	return os.WriteFile(out, []byte(fragment(groups, results)), 0o644)
}

// timeButler measures every file of g with an, keeps the results in the
// files, and returns the time.
func timeButler(ctx context.Context, an *loudness.Analyzer, g group) (time.Duration, error) {
	start := time.Now()
	for i := range g.files {
		f := &g.files[i]
		s, err := an.Measure(ctx, f.path, f.analysis)
		if err != nil {
			return 0, err
		}
		if len(s) != f.streams {
			return 0, fmt.Errorf("%s: %d streams measured, want %d", f.path, len(s), f.streams)
		}
		f.last = s
	}
	return time.Since(start), nil
}

// summaryI returns the integrated loudness of ebur128's summary in
// ffmpeg's error output.
func summaryI(stderr string) (float64, bool) {
	i := strings.LastIndex(stderr, "Integrated loudness:")
	if i < 0 {
		return 0, false
	}
	_, rest, ok := strings.Cut(stderr[i:], "I:")
	if !ok {
		return 0, false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return v, err == nil
}

// timeFFmpeg runs the reference for every file and stream of g, and sets
// *diff to the largest difference from Butler's last results.
func timeFFmpeg(ctx context.Context, g group, diff *float64) (time.Duration, error) {
	var total time.Duration
	for _, f := range g.files {
		for n := range f.streams {
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-nostats", "-i", f.path, "-map", "0:a:"+strconv.Itoa(n), "-af", "ebur128=peak=true", "-f", "null", "-")
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			total += time.Since(start)
			if err != nil {
				return 0, fmt.Errorf("ffmpeg on %s: %v", f.path, err)
			}
			if i, ok := summaryI(stderr.String()); ok && n < len(f.last) {
				*diff = max(*diff, math.Abs(i-f.last[n].Integrated))
			}
		}
	}
	return total, nil
}

// generate makes the files in dir, or finds them there, and analyses
// them.
func generate(ctx context.Context, log *slog.Logger, dir string) ([]group, error) {
	music := group{name: "music"}
	videos := group{name: "videos"}
	// Pink noise whose level swells and falls over 20 s, so that the
	// loudness range is not 0.
	swell := "anoisesrc=color=pink:sample_rate=%d:amplitude=0.5:duration=%d:seed=%d,volume='0.25+0.2*sin(2*PI*t/20)':eval=frame"
	for i := range 20 {
		var ext string
		var codec []string
		switch {
		case i < 7:
			ext, codec = "flac", []string{"-c:a", "flac"}
		case i < 14:
			ext, codec = "mp3", []string{"-c:a", "libmp3lame", "-b:a", "192k"}
		default:
			ext, codec = "m4a", []string{"-c:a", "aac", "-b:a", "192k"}
		}
		p := filepath.Join(dir, fmt.Sprintf("music-%02d.%s", i, ext))
		src := fmt.Sprintf(swell, 44100, 180, i+1)
		args := append([]string{"-f", "lavfi", "-i", src, "-ac", "2"}, codec...)
		if err := make1(ctx, log, p, args...); err != nil {
			return nil, err
		}
		music.files = append(music.files, file{path: p})
	}
	for i := range 5 {
		p := filepath.Join(dir, fmt.Sprintf("video-%d.mkv", i))
		args := []string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=600",
			"-f", "lavfi", "-i", fmt.Sprintf(swell, 48000, 600, 100+i),
			"-filter_complex", "[1:a]asplit[s][m];[s]pan=stereo|c0=c0|c1=c0[st];[m]volume=-6dB,pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[sur]",
			"-map", "0:v", "-map", "[st]", "-map", "[sur]",
			"-c:v", "libx264", "-preset", "ultrafast", "-c:a:0", "aac", "-b:a:0", "192k", "-c:a:1", "ac3", "-b:a:1", "448k"}
		if err := make1(ctx, log, p, args...); err != nil {
			return nil, err
		}
		videos.files = append(videos.files, file{path: p})
	}
	var prober mediaprobe.Prober
	for _, g := range []*group{&music, &videos} {
		for i := range g.files {
			f := &g.files[i]
			a, _, err := prober.Probe(ctx, f.path)
			if err != nil {
				return nil, err
			}
			f.analysis = a
			for _, s := range a.Streams {
				if s.Type == "audio" {
					f.streams++
				}
			}
		}
	}
	return []group{music, videos}, nil
}

// make1 makes p with ffmpeg and args unless it is already there.
func make1(ctx context.Context, log *slog.Logger, p string, args ...string) error {
	if _, err := os.Stat(p); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	log.Info("generating", "file", p)
	tmp := p + ".tmp" + filepath.Ext(p)
	cmd := exec.CommandContext(ctx, "ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), tmp)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("generate %s: %v: %s", p, err, b)
	}
	return os.Rename(tmp, p)
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

// fragment is the markdown section of the results.
func fragment(groups []group, results []times) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Loudness analysis (EBU R128)\n\n")
	fmt.Fprintf(&b, "`go -C bench run ./loudbench` (scripts/bench-loudness.sh), %s, %d CPUs, %s, %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), ffmpegVersion(), runtime.Version())
	b.WriteString("Butler's loudness.Analyzer (one ffmpeg run a file, every audio stream in it) against ")
	b.WriteString("`ffmpeg -nostats -i FILE -map 0:a:N -af ebur128=peak=true -f null -` run for each audio stream, ")
	b.WriteString("files one after another, both at the same priority; wall time of the whole group, page cache warm ")
	b.WriteString("(one untimed round first). Target: Butler at most 1.1× ffmpeg.\n\n")
	b.WriteString("| files | audio | rounds: Butler | rounds: ffmpeg | median Butler | median ffmpeg | Butler / ffmpeg | CPU Butler | CPU ffmpeg | CPU ratio | max ΔI |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, g := range groups {
		r := results[i]
		streams, audio := 0, time.Duration(0)
		for _, f := range g.files {
			streams += f.streams
			audio += time.Duration(f.streams) * f.analysis.Duration
		}
		desc := "20 music files of 3 min (7 FLAC, 7 MP3, 6 M4A; stereo)"
		if g.name == "videos" {
			desc = "5 videos of 10 min (Matroska, H.264 + AAC stereo + AC-3 5.1)"
		}
		var rb, rf []string
		for j := range r.butler {
			rb = append(rb, secs(r.butler[j]))
			rf = append(rf, secs(r.ffmpeg[j]))
		}
		mb, mf := benchstat.Median(r.butler), benchstat.Median(r.ffmpeg)
		cb, cf := benchstat.Median(r.butlerCPU), benchstat.Median(r.ffmpegCPU)
		fmt.Fprintf(&b, "| %s | %d streams, %.0f min | %s | %s | %s | %s | %.2f× | %s | %s | %.2f× | %.2f LU |\n",
			desc, streams, audio.Minutes(), strings.Join(rb, ", "), strings.Join(rf, ", "), secs(mb), secs(mf),
			mb.Seconds()/mf.Seconds(), secs(cb), secs(cf), cb.Seconds()/cf.Seconds(), r.maxDiff)
	}
	b.WriteString("\nCPU is the user and system time of the ffmpeg processes (getrusage of the children), medians: ")
	b.WriteString("less moved than wall time by other work on the machine.\n")
	b.WriteString("max ΔI is the largest difference between Butler's integrated loudness and the one ffmpeg's summary prints (to 0.1 LU).\n")
	return b.String()
}

// ffmpegVersion is ffmpeg's version line's version.
func ffmpegVersion() string {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		return "ffmpeg (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	fields := strings.Fields(line)
	if len(fields) >= 3 {
		return "ffmpeg " + fields[2]
	}
	return line
}
