package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	butler "github.com/plexbutler/butler"
)

// BackupDatabases is the action of a BackupDatabase task that backs up
// several databases: it runs each target in turn (see [BackupDatabase]).
//
// Progress is overall: target i of n covers the i-th n-th of 0..100, and
// steps are prefixed with the target's source path and "(i of n)". A
// target that fails does not stop the others; the run then fails at the
// end with an error naming every target that failed, and the summary
// gives each target's result. A target that fails (a missing database, a
// locked one, a file that is not a SQLite database) has written nothing.
// When ctx is done the target running stops and the rest are not started.
type BackupDatabases struct {
	// Targets are the databases, backed up in this order.
	Targets []BackupDatabase
}

// OptimizeDatabases is the action of an OptimizeDatabase task that
// optimizes several databases: it runs each target in turn (see
// [OptimizeDatabase]), with the same progress, failure and stop rules as
// [BackupDatabases].
type OptimizeDatabases struct {
	// Targets are the databases, optimized in this order.
	Targets []OptimizeDatabase
}

// CleanCaches is the action of a CleanOldCacheFiles task that cleans
// several cache directories: it runs each of Targets in turn (see
// [CleanOldCacheFiles]) and then each of SizeCaps (see
// [CleanCacheSizeCap]), so that a directory's size cap counts only what
// its age rule kept. Progress, failure and stop rules are those of
// [BackupDatabases].
type CleanCaches struct {
	// Targets remove old files from cache directories.
	Targets []CleanOldCacheFiles
	// SizeCaps bound the size of cache directories.
	SizeCaps []CleanCacheSizeCap
}

// Sequence is an action that runs other actions in turn, with the
// progress, failure and stop rules of [BackupDatabases]: it is what
// BackupDatabases, OptimizeDatabases and CleanCaches are made of, for
// steps of mixed kinds (a PostgreSQL database and SQLite ones).
type Sequence struct {
	// Steps are the actions, run in this order.
	Steps []Step
	// One and Many name a step and steps in messages ("database",
	// "databases"); default "target", "targets".
	One, Many string
	// Op names the whole in messages ("backup of databases"); default
	// "sequence".
	Op string
}

// Step is one action of a Sequence.
type Step struct {
	// Label names the step in progress, summary and errors (a path).
	Label string
	// Action is the step's work.
	Action butler.Action
}

var (
	_ butler.Action    = (*Sequence)(nil)
	_ butler.Recoverer = (*Sequence)(nil)
	_ butler.Action    = (*BackupDatabases)(nil)
	_ butler.Recoverer = (*BackupDatabases)(nil)
	_ butler.Action    = (*OptimizeDatabases)(nil)
	_ butler.Action    = (*CleanCaches)(nil)
)

// Run backs up every target in turn.
func (b *BackupDatabases) Run(ctx context.Context, r butler.Reporter) error {
	ts := make([]seqTarget, len(b.Targets))
	for i := range b.Targets {
		ts[i] = seqTarget{label: b.Targets[i].Source, action: &b.Targets[i]}
	}
	return runSequence(ctx, r, seqWords{"database", "databases", "backup of databases"}, ts)
}

// Recover recovers every target (see [BackupDatabase.Recover]).
func (b *BackupDatabases) Recover(ctx context.Context, s butler.Settings) error {
	var errs []error
	for i := range b.Targets {
		if err := b.Targets[i].Recover(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Targets[i].Source, err))
		}
	}
	return errors.Join(errs...)
}

// Run runs every step in turn.
func (q *Sequence) Run(ctx context.Context, r butler.Reporter) error {
	ts := make([]seqTarget, len(q.Steps))
	for i, st := range q.Steps {
		ts[i] = seqTarget{label: st.Label, action: st.Action}
	}
	w := seqWords{one: q.One, many: q.Many, op: q.Op}
	if w.one == "" || w.many == "" {
		w.one, w.many = "target", "targets"
	}
	if w.op == "" {
		w.op = "sequence"
	}
	return runSequence(ctx, r, w, ts)
}

// Recover calls Recover on every step whose action is a
// [butler.Recoverer].
func (q *Sequence) Recover(ctx context.Context, s butler.Settings) error {
	var errs []error
	for _, st := range q.Steps {
		if rc, ok := st.Action.(butler.Recoverer); ok {
			if err := rc.Recover(ctx, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", st.Label, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Run optimizes every target in turn.
func (o *OptimizeDatabases) Run(ctx context.Context, r butler.Reporter) error {
	ts := make([]seqTarget, len(o.Targets))
	for i := range o.Targets {
		ts[i] = seqTarget{label: o.Targets[i].Path, action: &o.Targets[i]}
	}
	return runSequence(ctx, r, seqWords{"database", "databases", "optimization of databases"}, ts)
}

// Run cleans every cache directory in turn, then applies every size cap.
func (c *CleanCaches) Run(ctx context.Context, r butler.Reporter) error {
	ts := make([]seqTarget, 0, len(c.Targets)+len(c.SizeCaps))
	for i := range c.Targets {
		ts = append(ts, seqTarget{label: c.Targets[i].Dir, action: &c.Targets[i]})
	}
	for i := range c.SizeCaps {
		ts = append(ts, seqTarget{label: c.SizeCaps[i].Dir + " (size cap)", action: &c.SizeCaps[i]})
	}
	return runSequence(ctx, r, seqWords{"cache directory", "cache directories", "cleaning of cache directories"}, ts)
}

// seqTarget is one action of a sequence and the label that names it.
type seqTarget struct {
	label  string
	action butler.Action
}

// seqWords are the words a sequence's messages use.
type seqWords struct {
	one, many string // "database", "databases"
	op        string // "backup of databases"
}

// TargetsError is the error of a multi-target action (BackupDatabases,
// OptimizeDatabases, CleanCaches) some of whose targets failed. It wraps
// each target's error.
type TargetsError struct {
	// Failed names the targets that failed, in order; Errs holds their
	// errors.
	Failed []string
	Errs   []error
	// Total is how many targets there were.
	Total int
	noun  string
}

// Error says how many targets failed and why, in one line.
func (e *TargetsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s failed: ", len(e.Failed), e.Total, e.noun)
	for i := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Failed[i])
		b.WriteString(": ")
		b.WriteString(oneLine(e.Errs[i].Error()))
	}
	return b.String()
}

// Unwrap returns the targets' errors.
func (e *TargetsError) Unwrap() []error { return e.Errs }

// runSequence runs targets in turn, each with a reporter that scales its
// progress into the target's share of the run.
func runSequence(ctx context.Context, r butler.Reporter, w seqWords, targets []seqTarget) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s not started: %w", w.op, err)
	}
	n := len(targets)
	if n == 0 {
		return fmt.Errorf("%s: no %s set", w.op, w.many)
	}
	log := r.Logger()
	noun := w.many
	if n == 1 {
		noun = w.one
	}
	terr := &TargetsError{Total: n, noun: noun}
	var results []string
	for i, t := range targets {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s stopped after %d of %d %s: %w", w.op, i, n, noun, err)
		}
		tr := &targetReporter{r: r, i: i, n: n, label: t.label, log: log.With("target", t.label)}
		tr.Progress(-1, "starting")
		err := t.action.Run(ctx, tr)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%s stopped during %s (%d of %d): %w", w.op, t.label, i+1, n, err)
		}
		sum := tr.lastSummary()
		if err != nil {
			log.Warn("target failed, going on with the others", "target", t.label, "err", err)
			terr.Failed = append(terr.Failed, t.label)
			terr.Errs = append(terr.Errs, err)
			results = append(results, t.label+": failed")
			continue
		}
		if sum == "" {
			sum = "done"
		}
		results = append(results, t.label+": "+sum)
	}
	r.Progress(100, "done")
	r.Summary(oneLine(strings.Join(results, "; ")))
	if len(terr.Failed) > 0 {
		return terr
	}
	return nil
}

// targetReporter is the Reporter of one target of a sequence: it scales
// progress into the target's share and keeps the target's summary.
type targetReporter struct {
	r     butler.Reporter
	i, n  int
	label string
	log   *slog.Logger

	mu      sync.Mutex
	summary string
}

// Progress reports the overall progress of the sequence.
func (t *targetReporter) Progress(percent int, step string) {
	overall := t.i * 100 / t.n
	if percent > 0 {
		overall = (t.i*100 + min(percent, 100)) / t.n
	}
	t.r.Progress(overall, fmt.Sprintf("%s (%d of %d): %s", t.label, t.i+1, t.n, step))
}

// Summary keeps the target's summary for the sequence's.
func (t *targetReporter) Summary(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.summary = text
}

// Logger returns the run's logger, tagged with the target.
func (t *targetReporter) Logger() *slog.Logger { return t.log }

// Output passes a target's output on, after a line naming the target.
func (t *targetReporter) Output(text string) {
	t.r.Output(fmt.Sprintf("== %s ==\n%s", t.label, text))
}

// Settings passes the run's settings on (butler.SettingsReporter).
func (t *targetReporter) Settings() butler.Settings { return runSettings(t.r) }

func (t *targetReporter) lastSummary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.summary
}
