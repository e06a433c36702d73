package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/internal/childproc"
)

// bench is one run of the program: its temporary directory, its children
// and what it measured.
type bench struct {
	// ctx ends when the program is interrupted: the children are killed
	// and the temporary directory removed.
	ctx   context.Context
	parts map[string]bool // the parts to measure
	start time.Time
	tmp   string
	self  string // this program, re-executed for the scan children
	procs *childproc.Group

	machine             benchmachine.Machine
	loadBefore          string
	loadAfter           string
	ffprobeVersion      string
	fs                  string
	free                int64
	dropped, notDropped int
	scan                scanResults
	analysis            []analysisResult
	server              serverResults
	mediaKinds          []mediaKind
	elapsed             time.Duration
	findVersion         string
}

// logf prints a progress line on standard error.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mediabench [%4.0fs]: %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// run measures everything and returns the fragment.
func (b *bench) run() (string, error) {
	for _, tool := range []string{"ffmpeg", "ffprobe", "find", "xargs", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not installed (Debian and Ubuntu: apt-get install ffmpeg findutils; scripts/bench-media.sh installs ffmpeg): %w", tool, err)
		}
	}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return "", err
	}
	if b.tmp, err = os.MkdirTemp("", "mediabench-"); err != nil {
		return "", err
	}
	defer func() {
		if err := os.RemoveAll(b.tmp); err != nil {
			b.logf("remove %s: %v", b.tmp, err)
		}
	}()
	b.procs = childproc.NewGroup()
	defer b.procs.StopAll(10 * time.Second)
	if b.free, b.fs, err = benchmachine.FreeSpace(b.tmp); err != nil {
		return "", fmt.Errorf("free space in %s: %w", b.tmp, err)
	}
	if b.free < 2<<30 {
		return "", fmt.Errorf("only %.1f GiB free in %s (%s); the run needs 2 GiB: set TMPDIR to a roomier file system", float64(b.free)/(1<<30), b.tmp, b.fs)
	}
	b.machine = benchmachine.Describe()
	b.loadBefore = benchmachine.LoadAverage()
	b.ffprobeVersion = benchmachine.FirstLine(exec.CommandContext(b.ctx, "ffprobe", "-version").Output())
	b.findVersion = benchmachine.FirstLine(exec.CommandContext(b.ctx, "find", "--version").Output())
	b.logf("load average %s; working in %s (%s)", b.loadBefore, b.tmp, b.fs)

	if b.parts["scan"] {
		if err := b.measureScan(); err != nil {
			return "", fmt.Errorf("scan: %w", err)
		}
	}
	if b.parts["analysis"] || b.parts["server"] {
		if err := b.makeMedia(); err != nil {
			return "", fmt.Errorf("media files: %w", err)
		}
	}
	if b.parts["analysis"] {
		if err := b.measureAnalysis(); err != nil {
			return "", fmt.Errorf("analysis: %w", err)
		}
	}
	if b.parts["server"] {
		if err := b.measureServer(); err != nil {
			return "", fmt.Errorf("server: %w", err)
		}
	}
	b.loadAfter = benchmachine.LoadAverage()
	b.elapsed = time.Since(b.start)
	return b.report(), nil
}

// dropCaches drops the page cache before a cold run and counts whether it
// could.
func (b *bench) dropCaches() {
	if benchmachine.DropCaches() {
		b.dropped++
	} else {
		b.notDropped++
	}
}

// stats are a measurement's repetitions.
type stats []time.Duration

// median returns the median of s (0 when empty).
func (s stats) median() time.Duration { return benchstat.Median(s) }

// spread returns the smallest and the largest of s.
func (s stats) spread() (lo, hi time.Duration) {
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Min(s), slices.Max(s)
}
