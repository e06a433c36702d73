package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

// waitPoll is how often `start --wait` reads the run besides the event
// stream (which may miss a run that never starts, or break).
var waitPoll = time.Second

// startAndWait starts the task and follows its run to the end: it listens to
// the event stream (opened before the start, so that no event is missed)
// and polls the run as a fallback.
func (c *cli) startAndWait(ctx context.Context, cmd *cobra.Command, cn *conn, name client.TaskName, opts []client.StartOption) error {
	out := cmd.OutOrStdout()
	p := newPainter(out, c.getenv)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, _ := cn.Watch(wctx) // a failed watch leaves polling
	res, err := cn.StartTask(ctx, name, opts...)
	if err != nil {
		return startFailure(cn, name, err)
	}
	if !cn.json {
		fmt.Fprintln(out, startLine(name, res, p))
	}
	switch {
	case res.Outcome == client.OutcomeSkipped:
		if cn.json {
			printJSON(out, startJSON(name, res))
		}
		return &exitError{1, fmt.Errorf("%s was skipped: there is no run to wait for", name)}
	case res.RunID == 0:
		return &exitError{1, fmt.Errorf("the server did not say which run it made (is it a Butler?); `butler history %s` follows it", name)}
	}
	f := &follower{cn: cn, out: out, p: p, json: cn.json, tty: isTerminal(out) && !cn.json, id: res.RunID}
	if !cn.json && (res.Outcome == client.OutcomeScheduled || res.Outcome == client.OutcomeQueued) {
		fmt.Fprintf(out, "waiting for run %d to start; Ctrl-C stops waiting (the run stays %s)\n", res.RunID, res.Outcome)
	}
	run, err := f.follow(ctx, events)
	if err != nil {
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			f.clearBar()
			return &exitError{1, fmt.Errorf("stopped waiting; run %d goes on (`butler history %s`)", res.RunID, name)}
		}
		return cn.fail(err)
	}
	f.clearBar()
	if cn.json {
		if err := printJSON(out, run); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out, endLine(run, p))
	}
	if run.Outcome != "succeeded" {
		why := runWhy(run.Reason, run.Error)
		return &exitError{1, fmt.Errorf("run %d of %s ended %s: %s", run.ID, run.Task, run.Outcome, orDash(why))}
	}
	return nil
}

// endLine says how a run ended: "BackupDatabase succeeded in 2.1s (run 4):
// backed up 12 MiB".
func endLine(r *apitype.Run, p painter) string {
	s := fmt.Sprintf("%s %s", r.Task, p.paint(outcomeStyle(r.Outcome), r.Outcome))
	if r.StartedAt != "" {
		s += " in " + runDuration(r.StartedAt, r.EndedAt)
	}
	s += fmt.Sprintf(" (run %d)", r.ID)
	if d := firstSet(r.Error, r.Summary, r.Reason); d != "" {
		s += ": " + d
	}
	return s
}

// follower follows one run and draws its progress.
type follower struct {
	cn   *conn
	out  io.Writer
	p    painter
	json bool
	tty  bool
	id   int64

	drawn    bool   // a progress bar is on the line (tty)
	lastShow string // the last progress shown (plain lines)
	// evented is set once an event of the run has come: from then on the
	// events show its progress, not the polls, which read the progress
	// the server stores at most once a second and would show an older one
	// after a newer event.
	evented bool
}

// follow returns the run once it has finished.
func (f *follower) follow(ctx context.Context, events <-chan client.Event) (*apitype.Run, error) {
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	check := func() (*apitype.Run, error) {
		r, err := f.cn.Run(ctx, f.id)
		if err != nil {
			return nil, err
		}
		if r.State == "finished" {
			return r, nil
		}
		if (r.State == "running" || r.State == "stopping") && !f.evented {
			f.progress(r.Progress, r.Step)
		}
		return nil, nil
	}
	// The run may have ended before the stream was read.
	if r, err := check(); r != nil || err != nil {
		return r, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil // the stream ended: polling goes on
				continue
			}
			if ev.RunID() != f.id {
				continue
			}
			switch ev.Type {
			case client.EventStarted, client.EventUpdated:
				f.evented = true
				f.progress(ev.Activity.Progress, ev.Activity.Subtitle)
			case client.EventEnded:
				// The run is stored as finished before the event is sent.
				if r, err := check(); r != nil || err != nil {
					return r, err
				}
			}
		case <-tick.C:
			if r, err := check(); r != nil || err != nil {
				return r, err
			}
		}
	}
}

// barWidth is the width of the progress bar, brackets excluded.
const barWidth = 24

// progress shows the run's progress: a bar redrawn on one line on a
// terminal, a line per change otherwise (nothing with --output json).
func (f *follower) progress(percent int, step string) {
	if f.json || (percent < 0 && step == "") {
		return // nothing to show yet
	}
	pct := "" // no percentage when the run gives none: its step alone
	if percent >= 0 {
		pct = fmt.Sprintf("%3d%%", percent)
	}
	if !f.tty {
		show := strings.TrimSpace(pct + " " + step)
		if show != f.lastShow {
			f.lastShow = show
			fmt.Fprintf(f.out, "  %s\n", show)
		}
		return
	}
	var bar string
	if percent >= 0 {
		n := barWidth * min(percent, 100) / 100
		bar = strings.Repeat("#", n) + strings.Repeat(".", barWidth-n)
	} else {
		bar = strings.Repeat("-", barWidth)
	}
	if pct != "" {
		step = pct + " " + step
	}
	fmt.Fprintf(f.out, "\r\x1b[K[%s] %s", f.p.paint(styleCyan, bar), step)
	f.drawn = true
}

// clearBar clears the progress bar's line.
func (f *follower) clearBar() {
	if f.drawn {
		fmt.Fprint(f.out, "\r\x1b[K")
		f.drawn = false
	}
}
