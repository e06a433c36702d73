package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchstat"
)

// childTimeout bounds one measured child process.
const childTimeout = 4 * time.Minute

// sample is one measured run of a child process.
type sample struct {
	wall time.Duration
	// rusageKiB is ru_maxrss of the child as wait4 reports it to this
	// program (at least this program's own peak: see the package comment).
	rusageKiB int64
	// ownKiB is the command's own peak RSS as GNU time reports it, or -1.
	ownKiB int64
	// phases are the steps a Butler action reported, in order.
	phases []phaseTime
	// summary is a Butler action's summary line.
	summary string
}

// runner starts the measured child processes.
type runner struct {
	tmp     string
	gnuTime string // path of GNU time, or ""
	// dropped counts the timed runs before which the page cache was
	// dropped, notDropped those before which it could not be.
	dropped, notDropped int
	// warm, when set, is a file that measure reads whole (after a sync)
	// instead of dropping the page cache: a warm-cache run.
	warm string
}

// measure drops the page cache (or, in warm mode, writes out dirty pages
// and reads r.warm into it), runs name with args as a child process and
// returns its wall time and peak memory. Butler's actions print phase lines
// on standard output, which are parsed.
func (r *runner) measure(name string, args ...string) (sample, error) {
	if r.warm != "" {
		syscall.Sync()
		f, err := os.Open(r.warm)
		if err != nil {
			return sample{}, err
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return sample{}, fmt.Errorf("read %s into the page cache: %w", r.warm, err)
		}
		return r.exec(name, args...)
	}
	if benchmachine.DropCaches() {
		r.dropped++
	} else {
		r.notDropped++
	}
	return r.exec(name, args...)
}

// exec runs one child process and measures it, without dropping the cache.
func (r *runner) exec(name string, args ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	argv := append([]string{name}, args...)
	rssFile := filepath.Join(r.tmp, "gnu-time.out")
	if r.gnuTime != "" {
		_ = os.Remove(rssFile)
		argv = append([]string{r.gnuTime, "-f", "%M", "-o", rssFile}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, tail(stderr.String(), 2000))
	}
	s := sample{wall: wall, ownKiB: -1}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rusageKiB = ru.Maxrss
	}
	if r.gnuTime != "" {
		b, err := os.ReadFile(rssFile)
		if err != nil {
			return sample{}, fmt.Errorf("read GNU time's output: %w", err)
		}
		lines := strings.Fields(string(b))
		if len(lines) == 0 {
			return sample{}, fmt.Errorf("GNU time wrote nothing to %s", rssFile)
		}
		if s.ownKiB, err = strconv.ParseInt(lines[len(lines)-1], 10, 64); err != nil {
			return sample{}, fmt.Errorf("GNU time's output %q: %w", b, err)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "phase":
			sec, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				return sample{}, fmt.Errorf("phase line %q: %w", sc.Text(), err)
			}
			s.phases = append(s.phases, phaseTime{name: strings.ReplaceAll(f[1], "_", " "), d: time.Duration(sec * float64(time.Second))})
		case len(f) > 0 && f[0] == "summary":
			s.summary = strings.TrimSpace(strings.TrimPrefix(sc.Text(), "summary"))
		}
	}
	return s, nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// tool is one of the things compared, with its runs.
type tool struct {
	label   string // markdown
	run     func(rep int) (sample, error)
	samples []sample
}

// median returns the median wall time of t's runs.
func (t *tool) median() time.Duration {
	w := make([]time.Duration, len(t.samples))
	for i, s := range t.samples {
		w[i] = s.wall
	}
	return benchstat.Median(w)
}

// peak returns the largest rusage and own peaks of t's runs (own -1 when
// not known).
func (t *tool) peak() (rusage, own int64) {
	own = -1
	for _, s := range t.samples {
		rusage, own = max(rusage, s.rusageKiB), max(own, s.ownKiB)
	}
	return rusage, own
}

// alternate runs every tool reps times, tool after tool, the order rotated
// by one at each repetition (A B C, B C A, C A B). after, when set, runs
// after every run, untimed.
func alternate(what string, reps int, tools []*tool) error {
	for rep := range reps {
		for k := range tools {
			t := tools[(rep+k)%len(tools)]
			logf("%s: repetition %d/%d: %s", what, rep+1, reps, plainLabel(t.label))
			s, err := t.run(rep)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", what, plainLabel(t.label), err)
			}
			logf("%s: %s took %.2f s, peak %.1f MiB", what, plainLabel(t.label), s.wall.Seconds(), mib(peakOf(s)))
			t.samples = append(t.samples, s)
		}
	}
	return nil
}

// warmRuns runs tools again, reps times each, with input read into the
// page cache before every run instead of the cache dropped, and returns
// them as new tools holding only these runs.
func (r *runner) warmRuns(what, input string, tools []*tool) ([]*tool, error) {
	warm := make([]*tool, len(tools))
	for i, t := range tools {
		warm[i] = &tool{label: t.label, run: t.run}
	}
	r.warm = input
	defer func() { r.warm = "" }()
	return warm, alternate(what+", warm cache", reps, warm)
}

// warmUp runs every tool once, untimed, before the timed runs: the first
// run after a 1 GiB database is built (and files of a few GiB deleted, on a
// file system mounted with discard) was seen to take three times as long as
// the next ones, whichever tool it was, and the rotation always puts the
// same tool first.
func warmUp(what string, tools []*tool) error {
	for _, t := range tools {
		logf("%s: warm-up run (untimed): %s", what, plainLabel(t.label))
		if _, err := t.run(-1); err != nil {
			return fmt.Errorf("%s, warm-up of %s: %w", what, plainLabel(t.label), err)
		}
	}
	return nil
}

// peakOf is the peak the targets are judged by: GNU time's when known.
func peakOf(s sample) int64 {
	if s.ownKiB >= 0 {
		return s.ownKiB
	}
	return s.rusageKiB
}

func plainLabel(l string) string { return strings.ReplaceAll(l, "`", "") }

func mib(kib int64) float64 { return float64(kib) / 1024 }
