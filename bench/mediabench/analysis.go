package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

const (
	// analysisFiles is how many media files section 3 analyses.
	analysisFiles = 120
	// analysisReps is how many times each tool runs at each P.
	analysisReps = 3
)

// analysisTool is one way of analysing the files, with its runs.
type analysisTool struct {
	label string // markdown
	run   func(ctx context.Context, dir string, p int) (analysisSample, error)
	times stats
	// self and children are the CPU times (user and system) of each run:
	// this program's own (Butler's, when in process) and its children's
	// (ffprobe; sh, find and xargs for the reference).
	self, children stats
}

// analysisSample is one timed run.
type analysisSample struct {
	wall, self, children time.Duration
}

// cpuClock reads the CPU time of this process and of its children waited
// for, to measure a run by the difference.
type cpuClock struct {
	wall           time.Time
	self, children time.Duration
}

func readCPU() cpuClock {
	c := cpuClock{wall: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		c.children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return c
}

// since returns the sample from c to now.
func (c cpuClock) since() analysisSample {
	now := readCPU()
	return analysisSample{wall: now.wall.Sub(c.wall), self: now.self - c.self, children: now.children - c.children}
}

// analysisResult is section 3 at one parallelism.
type analysisResult struct {
	p     int
	tools []*analysisTool // xargs first
}

// itemsPerSecond returns the files a second of t's median run.
func (t *analysisTool) itemsPerSecond() float64 {
	return analysisFiles / t.times.median().Seconds()
}

// measureAnalysis measures section 3.
func (b *bench) measureAnalysis() error {
	dir := filepath.Join(b.tmp, "films")
	if _, err := b.copyMedia(dir, analysisFiles); err != nil {
		return err
	}
	ctx := b.ctx
	niceOff := func() *mediaprobe.Prober { return &mediaprobe.Prober{Nice: -1, IOClass: mediaprobe.IONone} }
	byDefault := func() *mediaprobe.Prober { return &mediaprobe.Prober{} }
	for _, p := range []int{2, 4} {
		res := analysisResult{p: p, tools: []*analysisTool{
			{label: fmt.Sprintf("`find -print0 | xargs -0 -P %d -n 1 ffprobe`", p), run: b.runXargs},
			{label: "Butler, Manager + River item jobs, defaults (niceness 10, I/O best-effort 7)", run: b.managerRun(byDefault)},
			{label: "Butler, Manager + River item jobs, `Nice: -1, IOClass: IONone`", run: b.managerRun(niceOff)},
			{label: "Butler, the action run directly (P goroutines, no River), defaults", run: b.directRun(byDefault)},
		}}
		// One untimed run of xargs first: the first ffprobe runs load its
		// libraries from the disk.
		if _, err := b.runXargs(ctx, dir, p); err != nil {
			return err
		}
		for rep := range analysisReps {
			for k := range res.tools {
				t := res.tools[(rep+k)%len(res.tools)]
				s, err := t.run(ctx, dir, p)
				if err != nil {
					return fmt.Errorf("parallelism %d, %s: %w", p, plain(t.label), err)
				}
				t.times, t.self, t.children = append(t.times, s.wall), append(t.self, s.self), append(t.children, s.children)
				b.logf("analysis, P=%d, repetition %d: %s: %.2f s, %.1f items/s; CPU: own %.2f s, children %.2f s", p, rep+1, plain(t.label),
					s.wall.Seconds(), analysisFiles/s.wall.Seconds(), s.self.Seconds(), s.children.Seconds())
			}
		}
		b.analysis = append(b.analysis, res)
	}
	return os.RemoveAll(dir)
}

// runXargs runs the reference pipeline over dir.
func (b *bench) runXargs(ctx context.Context, dir string, p int) (analysisSample, error) {
	script := `find "$1" -type f -print0 | xargs -0 -P "$2" -n 1 ffprobe -v error -print_format json -show_format -show_streams -show_chapters > /dev/null`
	cmd := exec.CommandContext(ctx, "sh", "-c", script, "sh", dir, strconv.Itoa(p))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	c := readCPU()
	err := cmd.Run()
	s := c.since()
	if err != nil || stderr.Len() > 0 {
		return s, fmt.Errorf("find | xargs ffprobe: %v: %s", err, stderr.String())
	}
	return s, nil
}

// freshIndex opens a new SQLite database in a new directory, puts the
// maintenance window twelve hours away (the runs are started by hand) and
// scans dir into it as the library Films.
func (b *bench) freshIndex(ctx context.Context, dir string) (*sqlite.DB, string, error) {
	home, err := os.MkdirTemp(b.tmp, "index-")
	if err != nil {
		return nil, "", err
	}
	db, err := sqlite.Open(ctx, filepath.Join(home, "butler.db"))
	if err != nil {
		return nil, "", err
	}
	if err := db.SaveSettings(ctx, windowAway()); err != nil {
		db.Close()
		return nil, "", err
	}
	lib := butler.Library{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{dir}}
	st, err := (&mediascan.Scanner{Index: db}).Scan(ctx, lib)
	if err == nil && st.Added != analysisFiles {
		err = fmt.Errorf("the scan added %d files; want %d", st.Added, analysisFiles)
	}
	if err != nil {
		db.Close()
		return nil, "", err
	}
	return db, home, nil
}

// windowAway returns the settings that put the maintenance window twelve
// hours from now, in UTC.
func windowAway() map[string]string {
	h := time.Now().UTC().Hour()
	return map[string]string{butler.SettingTimeZone: "UTC",
		butler.SettingStartHour: strconv.Itoa((h + 12) % 24), butler.SettingEndHour: strconv.Itoa((h + 13) % 24)}
}

// managerRun returns a tool that runs DeepMediaAnalysis through a real
// Manager on the River engine over SQLite, P item workers.
func (b *bench) managerRun(prober func() *mediaprobe.Prober) func(context.Context, string, int) (analysisSample, error) {
	return func(ctx context.Context, dir string, p int) (analysisSample, error) {
		var none analysisSample
		db, home, err := b.freshIndex(ctx, dir)
		if err != nil {
			return none, err
		}
		defer os.RemoveAll(home)
		defer db.Close()
		quiet := slog.New(slog.DiscardHandler)
		pr := prober()
		pr.Logger = quiet
		eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "bench", Logger: quiet, ItemWorkers: p})
		if err != nil {
			return none, err
		}
		name := butler.TaskDeepMediaAnalysis
		action := &tasks.DeepMediaAnalysis{Index: db, Prober: pr, Parallel: p}
		catalog := []butler.Task{{Name: name, Title: string(name), Interval: 1, EnabledDefault: true,
			Setting: butler.EnableSetting(name), SettingLabel: string(name), TimeLimit: time.Hour, Action: action}}
		m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC",
			DataDir: home, HealthProbeEvery: -1, Logger: quiet})
		if err != nil {
			return none, err
		}
		if err := eng.Start(ctx, m); err != nil {
			return none, err
		}
		defer eng.Stop(ctx)
		if err := m.Start(ctx); err != nil {
			return none, err
		}
		defer m.Stop(ctx)
		sub := m.Subscribe()
		defer sub.Close()
		c := readCPU()
		res, err := m.StartTask(ctx, name, true)
		if err != nil || res.Outcome != butler.StartStarted {
			return none, fmt.Errorf("start %s: %+v, %v", name, res, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		for {
			ev, err := sub.Next(wctx)
			if err != nil {
				return none, fmt.Errorf("wait for the end of run %d: %w", res.Run.ID, err)
			}
			if ev.Type == butler.EventEnded && ev.Activity.RunID == res.Run.ID {
				break
			}
		}
		s := c.since()
		r, err := m.Run(ctx, res.Run.ID)
		if err != nil {
			return none, err
		}
		return s, checkSummary(r.Outcome == butler.OutcomeSucceeded, r.Summary+" "+r.Reason)
	}
}

// directRun returns a tool that runs the action itself with a reporter that
// offers no item queue: P goroutines probe the files.
func (b *bench) directRun(prober func() *mediaprobe.Prober) func(context.Context, string, int) (analysisSample, error) {
	return func(ctx context.Context, dir string, p int) (analysisSample, error) {
		db, home, err := b.freshIndex(ctx, dir)
		if err != nil {
			return analysisSample{}, err
		}
		defer os.RemoveAll(home)
		defer db.Close()
		pr := prober()
		pr.Logger = slog.New(slog.DiscardHandler)
		r := &plainReporter{}
		c := readCPU()
		err = (&tasks.DeepMediaAnalysis{Index: db, Prober: pr, Parallel: p}).Run(ctx, r)
		s := c.since()
		return s, checkSummary(err == nil, r.summary+" "+fmt.Sprint(err))
	}
}

// checkSummary checks that a run succeeded and analysed every file.
func checkSummary(ok bool, summary string) error {
	want := fmt.Sprintf("analysed %d items, 0 failed, 0 skipped", analysisFiles)
	if !ok || !strings.HasPrefix(summary, want) {
		return fmt.Errorf("the run ended with %q; want it succeeded, %q", summary, want)
	}
	return nil
}

// plainReporter is a butler.Reporter that keeps the summary and discards
// the rest.
type plainReporter struct{ summary string }

var _ butler.Reporter = (*plainReporter)(nil)

func (r *plainReporter) Progress(int, string) {}
func (r *plainReporter) Summary(text string)  { r.summary = text }
func (r *plainReporter) Output(string)        {}
func (r *plainReporter) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// plain removes the markdown backquotes of a label.
func plain(label string) string { return strings.ReplaceAll(label, "`", "") }

// errNotShown says a run never showed what was awaited.
func errNotShown(what string, limit time.Duration) error {
	return errors.New(what + " not seen within " + limit.String())
}
