package butler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// PlanDecision is what a task does in the window a Plan describes.
type PlanDecision string

// Plan decisions.
const (
	PlanRuns      PlanDecision = "runs"      // will run: at At, or at a random time in the window
	PlanScheduled PlanDecision = "scheduled" // has a run scheduled at At
	PlanQueued    PlanDecision = "queued"    // has a run waiting for a slot
	PlanRunning   PlanDecision = "running"
	PlanStopping  PlanDecision = "stopping" // told to stop; its work has not stopped yet
	PlanDone      PlanDecision = "done"     // already ran in this window (Outcome says how)
	PlanStopped   PlanDecision = "stopped"  // stopped in this window; not planned again in it
	PlanNotDue    PlanDecision = "not_due"  // not due until NextDue
	PlanDisabled  PlanDecision = "disabled" // disabled in the settings
)

// PlanEntry is one task's line of a Plan.
type PlanEntry struct {
	Task     TaskName
	Decision PlanDecision
	// At is when it runs (runs at a fixed time, scheduled); zero for a
	// random time in the window or when it does not apply.
	At time.Time
	// Random says the run starts at a random time in the window.
	Random  bool
	NextDue schedule.Day
	Outcome Outcome // of the run this window, for done
	RunID   int64
	Reason  string
	// Items is the item work left, for an item task that counts it (see
	// Backlogger); nil otherwise.
	Items *PlanItems
}

// Plan is the decision for each task in the current window, or the next one
// when no window is open.
type Plan struct {
	Day         schedule.Day
	Open, Close time.Time
	Inside      bool
	Tasks       []PlanEntry
}

// Plan returns tonight's plan: for the window that is open (or the next to
// open), what each offered task does in it and why.
func (m *Manager) Plan(ctx context.Context) (Plan, error) {
	s := m.Settings()
	w := s.Window()
	now := m.now()
	d, inside := w.Inside(now)
	if !inside {
		d = d.AddDays(1)
	}
	open, close := w.Bounds(d)
	p := Plan{Day: d, Open: open, Close: close, Inside: inside}
	active, records, err := m.state(ctx)
	if err != nil {
		return p, err
	}
	lastInWindow := map[TaskName]Run{}
	if inside {
		if lastInWindow, err = m.store.LastFinishedSince(ctx, open); err != nil {
			return p, fmt.Errorf("read runs: %w", err)
		}
	}
	for i := range m.catalog {
		t := &m.catalog[i]
		e := PlanEntry{Task: t.Name, Items: m.backlogs.of(ctx, t, records[t.Name].ItemPace.PerItem(), now)}
		if r, ok := active[t.Name]; ok {
			e.RunID = r.ID
			switch r.State {
			case StateRunning:
				e.Decision, e.Reason = PlanRunning, "running since "+r.StartedAt.In(w.Loc).Format(time.TimeOnly)
				if why, ok := strings.CutPrefix(r.Step, PausedStep); ok {
					e.Reason = "paused while " + why + "; " + e.Reason
				}
			case StateStopping:
				e.Decision, e.Reason = PlanStopping, "stopping ("+r.Reason+"); running since "+r.StartedAt.In(w.Loc).Format(time.TimeOnly)
			case StateQueued:
				e.Decision, e.Reason = PlanQueued, "waiting for a free slot"
			default:
				e.Decision, e.At, e.Reason = PlanScheduled, r.ScheduledAt, "scheduled by "+string(r.Trigger)
				// A random start was drawn: At is the time it drew.
				e.Random = t.Randomized && r.Trigger == TriggerWindow
			}
			if !r.Window.IsZero() && r.Window == d && !r.State.Working() {
				e.Reason += "; skipped if it has not started when the window closes"
			}
			p.Tasks = append(p.Tasks, e)
			continue
		}
		if !s.Enabled(*t) {
			e.Decision, e.Reason = PlanDisabled, "disabled in the settings ("+t.Setting+")"
			p.Tasks = append(p.Tasks, e)
			continue
		}
		if r, ok := lastInWindow[t.Name]; ok && r.Outcome != OutcomeSkipped {
			e.Decision, e.Outcome, e.RunID = PlanDone, r.Outcome, r.ID
			e.Reason = fmt.Sprintf("ran in this window: %s", r.Outcome)
			if r.Reason != "" {
				e.Reason += " (" + r.Reason + ")"
			}
			p.Tasks = append(p.Tasks, e)
			continue
		}
		if records[t.Name].Suppressed == d {
			e.Decision, e.Reason = PlanStopped, "stopped in this window; not planned again until the next"
			p.Tasks = append(p.Tasks, e)
			continue
		}
		last := records[t.Name].SuccessDay(w)
		if due, from := schedule.Due(t.Interval, last, d); !due {
			e.Decision, e.NextDue = PlanNotDue, from
			e.Reason = fmt.Sprintf("not due until butler day %s (%s; last success on butler day %s)", from, everyDays(t.Interval), last)
			p.Tasks = append(p.Tasks, e)
			continue
		}
		e.Decision = PlanRuns
		switch {
		case t.Randomized:
			e.Random, e.Reason = true, "due; starts at a random time in the window"
		case inside:
			e.At, e.Reason = now, "due; queued at the next planner pass"
		default:
			e.At, e.Reason = open, "due; queued when the window opens"
		}
		if last.IsZero() {
			e.Reason += " (never succeeded)"
		}
		p.Tasks = append(p.Tasks, e)
	}
	return p, nil
}

// MaxRunsPage is the most runs one history page returns.
const MaxRunsPage = 1000

// Runs returns the run history matching f, newest first. It returns EINVALID
// for an unknown outcome or a limit out of range.
func (m *Manager) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	if f.Outcome != "" {
		ok := false
		for _, o := range Outcomes() {
			ok = ok || o == f.Outcome
		}
		if !ok {
			return nil, Errorf(EINVALID, "unknown outcome %q; use one of succeeded, failed, stopped, timed_out, interrupted, skipped", f.Outcome)
		}
	}
	if f.Limit < 0 || f.Limit > MaxRunsPage {
		return nil, Errorf(EINVALID, "limit %d is out of range; use 1..%d", f.Limit, MaxRunsPage)
	}
	runs, err := m.store.Runs(ctx, f)
	if err != nil {
		return nil, err
	}
	// A task name this server has never heard of, with no run in the
	// whole history: a typo, most likely, rather than an empty page. (A
	// task dropped from the config keeps its history, which is listed.)
	if len(runs) == 0 && f.Task != "" && !m.known[f.Task] && f.Outcome == "" &&
		f.Since.IsZero() && f.Before.IsZero() && f.BeforeID == 0 {
		return nil, Errorf(ENOTFOUND, "no task named %q, and no run of one in the history; task names are case-sensitive, GET /butler lists them", f.Task)
	}
	return runs, nil
}

// Run returns one run by id; ENOTFOUND when there is none.
func (m *Manager) Run(ctx context.Context, id int64) (Run, error) { return m.store.Run(ctx, id) }

// RunCounts returns how many runs are scheduled, queued, running and
// stopping.
func (m *Manager) RunCounts(ctx context.Context) (map[RunState]int, error) {
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[RunState]int{}
	for _, r := range runs {
		out[r.State]++
	}
	return out, nil
}

// everyDays says an interval: "every day", "every 3 days".
func everyDays(n int) string {
	if n == 1 {
		return "every day"
	}
	return fmt.Sprintf("every %d days", n)
}
