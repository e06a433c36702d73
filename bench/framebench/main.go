// Command framebench measures what Butler's preview pictures (package
// mediaframes, then a BIF file, package bif) cost on an hour of 1080p
// H.264 video, against the plain ffmpeg commands that do the same, side
// by side in one run. It writes a markdown section for BENCHMARKS.md:
//
//	go -C bench run ./framebench -out FRAGMENT.md
//
// scripts/bench-frames.sh runs it. It needs ffmpeg and ffprobe, and about
// 2.5 GiB free in the temporary directory (TMPDIR), where it keeps the
// video between runs (butler-framebench/); making the video the first
// time takes about 6 minutes on two cores, a run about 10 minutes.
//
// The video (made once, not timed): five minutes of testsrc2 at
// 1920×1080 and 25 frames a second, encoded by libx264 (preset
// ultrafast, 5 Mb/s average, 8 Mb/s at most, a keyframe every 250 frames
// as x264's default, 10 s), then repeated twelve times into one Matroska
// file without encoding again (ffmpeg -stream_loop 11 -c copy): an hour,
// 90,000 frames, 360 keyframes, about 2.2 GB. It is read once before the
// runs, so that every run finds it in the page cache (the runs measure
// decoding, not the disk).
//
// What is measured, each the wall time of one child process (or of the
// call, for Butler) from start to end, writing 360 pictures 320 pixels
// wide at JPEG quality 5:
//
//  1. Full decoding: ffmpeg -i VIDEO -vf fps=1/10,scale=320:-1 -q:v 5
//     DIR/%05d.jpg, every frame decoded.
//  2. Keyframes: the same with -skip_frame nokey before -i: only the
//     keyframes are decoded.
//  3. Butler: mediaframes.Extractor.Previews (ffmpeg at Butler's own
//     priority here, no nice or ionice, so that the three compete alike),
//     which decodes the keyframes, keeps the first of each 10 s interval
//     (select), scales them and names each after its time, then reads
//     every picture back and decodes it with image/jpeg; then the BIF
//     file is written (bif.Encode, os.WriteFile) and verified
//     (bif.Verify).
//
// Each runs once untimed first (a warm-up); then they take turns, the
// order rotated at each repetition: -reps times (default 3) for the
// keyframe command and Butler, -full-reps times (default 1) for full
// decoding, which takes minutes. The table gives every run, the median,
// and the ratio of each median to the keyframe command's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/mediaframes"
	"github.com/plexbutler/butler/mediaprobe"
)

func main() {
	out := flag.String("out", "", "write the markdown fragment to this file (default: standard output)")
	reps := flag.Int("reps", 3, "timed runs of the keyframe command and of Butler")
	fullReps := flag.Int("full-reps", 1, "timed runs of the full-decoding command (minutes each)")
	flag.Parse()
	if flag.NArg() > 0 || *reps < 1 || *fullReps < 0 {
		fmt.Fprintln(os.Stderr, "framebench: usage: framebench [-out FILE] [-reps N] [-full-reps N]")
		os.Exit(2)
	}
	start := time.Now()
	text, err := run(context.Background(), *reps, *fullReps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "framebench:", err)
		os.Exit(1)
	}
	logf("done in %s", time.Since(start).Round(time.Second))
}

// logf prints a progress line on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "framebench [%s]: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// The video.
const (
	segmentSeconds = 300
	loops          = 12
	videoName      = "video-60m.mkv"
	segmentName    = "segment-300s.mkv"
)

// ffmpeg runs ffmpeg with args, its errors only.
func ffmpeg(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// video makes the hour of video in dir unless it is there, and returns
// its path.
func video(ctx context.Context, dir string) (string, error) {
	path := filepath.Join(dir, videoName)
	if _, err := os.Stat(path); err == nil {
		logf("using %s", path)
		return path, nil
	}
	seg := filepath.Join(dir, segmentName)
	if _, err := os.Stat(seg); err != nil {
		logf("making %d s of 1080p H.264 (minutes)", segmentSeconds)
		if err := ffmpeg(ctx, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=duration=%d:size=1920x1080:rate=25", segmentSeconds),
			"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "5M", "-maxrate", "8M", "-bufsize", "10M", "-g", "250",
			"-pix_fmt", "yuv420p", "-f", "matroska", seg+".part"); err != nil {
			return "", err
		}
		if err := os.Rename(seg+".part", seg); err != nil {
			return "", err
		}
	}
	logf("repeating it %d times into %s", loops, path)
	if err := ffmpeg(ctx, "-stream_loop", fmt.Sprint(loops-1), "-i", seg, "-c", "copy", "-f", "matroska", path+".part"); err != nil {
		return "", err
	}
	return path, os.Rename(path+".part", path)
}

// tool is one of the things measured.
type tool struct {
	key  string // "full", "keyframes", "butler"
	name string
	reps int
	run  func(ctx context.Context, outDir string) (int, error) // the number of pictures made
	runs []time.Duration
	n    int
}

func run(ctx context.Context, reps, fullReps int) (string, error) {
	dir := filepath.Join(os.TempDir(), "butler-framebench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path, err := video(ctx, dir)
	if err != nil {
		return "", err
	}
	var prober mediaprobe.Prober
	a, file, err := prober.Probe(ctx, path)
	if err != nil {
		return "", err
	}
	logf("video: %v, %d bytes", a.Duration, file.Size)
	// Into the page cache (cat's output goes to /dev/null).
	if err := exec.CommandContext(ctx, "cat", path).Run(); err != nil {
		return "", fmt.Errorf("read the video: %w", err)
	}

	plain := func(pre ...string) func(ctx context.Context, out string) (int, error) {
		return func(ctx context.Context, out string) (int, error) {
			args := append(slices.Clone(pre), "-i", path, "-vf", "fps=1/10,scale=320:-1", "-q:v", "5", filepath.Join(out, "%05d.jpg"))
			if err := ffmpeg(ctx, args...); err != nil {
				return 0, err
			}
			ents, err := os.ReadDir(out)
			return len(ents), err
		}
	}
	ex := &mediaframes.Extractor{FFmpeg: &mediatool.Tool{Program: "ffmpeg", Nice: -1, IOClass: mediatool.IONone}}
	butler := func(ctx context.Context, out string) (int, error) {
		p, err := ex.Previews(ctx, path, a)
		if err != nil {
			return 0, err
		}
		if !p.Keyframes {
			return 0, errors.New("the extractor decoded every frame: the keyframes did not cover every interval")
		}
		data, err := p.BIF()
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(out, "index-sd.bif"), data, 0o644); err != nil {
			return 0, err
		}
		if _, err := bif.Verify(data, len(p.Frames)); err != nil {
			return 0, err
		}
		return len(p.Frames), nil
	}
	tools := []*tool{
		{key: "full", name: "Full decoding: `ffmpeg -i X -vf fps=1/10,scale=320:-1 -q:v 5 out/%05d.jpg`", reps: fullReps, run: plain()},
		{key: "keyframes", name: "Keyframes: `ffmpeg -skip_frame nokey -i X -vf fps=1/10,scale=320:-1 -q:v 5 out/%05d.jpg`", reps: reps, run: plain("-skip_frame", "nokey")},
		{key: "butler", name: "Butler: `Extractor.Previews` (keyframes, select, JPEG checks) + BIF write and verify", reps: reps, run: butler},
	}
	once := func(t *tool, label string) (time.Duration, error) {
		out, err := os.MkdirTemp(dir, "out-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(out)
		start := time.Now()
		n, err := t.run(ctx, out)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t.name, err)
		}
		t.n = n
		logf("%s %s: %d pictures in %s", label, t.name, n, took.Round(time.Millisecond))
		return took, nil
	}
	for _, t := range tools {
		if t.reps > 0 {
			if _, err := once(t, "warm-up"); err != nil {
				return "", err
			}
		}
	}
	load := benchmachine.LoadAverage()
	maxReps := max(reps, fullReps)
	for r := range maxReps {
		order := slices.Clone(tools)
		for range r % len(order) {
			order = append(order[1:], order[0])
		}
		for _, t := range order {
			if len(t.runs) >= t.reps {
				continue
			}
			took, err := once(t, fmt.Sprintf("run %d", r+1))
			if err != nil {
				return "", err
			}
			t.runs = append(t.runs, took)
		}
	}
	return report(tools, a.Duration, file.Size, load), nil
}

func report(tools []*tool, d time.Duration, size int64, load string) string {
	var b strings.Builder
	m := benchmachine.Describe()
	fmt.Fprintf(&b, "## Preview pictures of an hour of 1080p video (bench/framebench)\n\n")
	fmt.Fprintf(&b, "360 pictures (one every 10 s, 320 pixels wide, JPEG quality 5) of an hour of 1080p H.264 "+
		"(testsrc2, 25 fps, 5 Mb/s, a keyframe every 10 s; %v, %.2f GB), in the page cache. "+
		"bench/framebench's doc comment says what each number is.\n\n", d.Round(time.Second), float64(size)/1e9)
	fmt.Fprintf(&b, "| | |\n|---|---|\n%s| `ffmpeg -version` | %s |\n| load average before the timed runs | %s |\n| commit | %s |\n\n",
		m.Rows(), benchmachine.FirstLine(exec.Command("ffmpeg", "-version").Output()), load, m.Commit)
	var key time.Duration
	for _, t := range tools {
		if t.key == "keyframes" {
			key = benchstat.Median(t.runs)
		}
	}
	fmt.Fprintf(&b, "| what | pictures | runs | median | ÷ keyframes |\n|---|---|---|---|---|\n")
	meds := map[string]time.Duration{}
	for _, t := range tools {
		if len(t.runs) == 0 {
			continue
		}
		var runs []string
		for _, r := range t.runs {
			runs = append(runs, fmt.Sprintf("%.2f s", r.Seconds()))
		}
		med := benchstat.Median(t.runs)
		meds[t.key] = med
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f s | %.2f× |\n", t.name, t.n, strings.Join(runs, ", "), med.Seconds(), float64(med)/float64(key))
	}
	if full, ok := meds["full"]; ok {
		fmt.Fprintf(&b, "\nButler's pictures take %.1f× less time than decoding every frame (%.2f s against %.2f s), "+
			"and %.2f× the keyframe command's.\n", float64(full)/float64(meds["butler"]), meds["butler"].Seconds(), full.Seconds(),
			float64(meds["butler"])/float64(key))
	}
	return b.String()
}
