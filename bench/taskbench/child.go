package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// child runs one Butler action, the hidden subcommands
//
//	run-backup SRC DIR
//	run-optimize DB
//	run-clean DIR
//
// and prints on standard output, one "phase NAME SECONDS" line each, how
// long the action spent on each step it reported, then its summary.
func child(cmd string, args []string) error {
	var action butler.Action
	switch {
	case cmd == "run-backup" && len(args) == 2:
		dir := args[1]
		action = &tasks.BackupDatabase{Source: args[0], Dir: func() string { return dir }, Keep: 100}
	case cmd == "run-optimize" && len(args) == 1:
		action = &tasks.OptimizeDatabase{Path: args[0]}
	case cmd == "run-clean" && len(args) == 1:
		action = &tasks.CleanOldCacheFiles{Dir: args[0], MaxAge: 7 * 24 * time.Hour}
	default:
		return errors.New("usage: taskbench run-backup SRC DIR | run-optimize DB | run-clean DIR")
	}
	r := &phaseReporter{start: time.Now(), phase: "opening"}
	err := action.Run(context.Background(), r)
	r.switchTo("")
	for _, p := range r.done {
		fmt.Printf("phase %s %.6f\n", strings.ReplaceAll(p.name, " ", "_"), p.d.Seconds())
	}
	fmt.Printf("summary %s\n", r.summary)
	return err
}

// phaseReporter is the Reporter the actions see here: it discards the log
// (unless TASKBENCH_LOG is set), keeps the summary and notes when the
// reported step changes. A step's name is its text up to the first digit
// ("copying pages 128/262144" is "copying pages"); the time before the first
// report is the phase "opening".
type phaseReporter struct {
	start   time.Time
	phase   string
	summary string
	done    []phaseTime
}

var _ butler.Reporter = (*phaseReporter)(nil)

type phaseTime struct {
	name string
	d    time.Duration
}

func (r *phaseReporter) Progress(_ int, step string) {
	name := step
	if i := strings.IndexFunc(step, unicode.IsDigit); i >= 0 {
		name = step[:i]
	}
	if name = strings.TrimSpace(name); name != r.phase {
		r.switchTo(name)
	}
}

// switchTo ends the current phase and starts the one called name.
func (r *phaseReporter) switchTo(name string) {
	now := time.Now()
	if n := len(r.done); n > 0 && r.done[n-1].name == r.phase {
		r.done[n-1].d += now.Sub(r.start)
	} else {
		r.done = append(r.done, phaseTime{name: r.phase, d: now.Sub(r.start)})
	}
	r.phase, r.start = name, now
}

func (r *phaseReporter) Summary(text string) { r.summary = text }

// Output discards the output.
func (r *phaseReporter) Output(string) {}

func (r *phaseReporter) Logger() *slog.Logger {
	if os.Getenv("TASKBENCH_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
