package butler

import (
	"context"
	"log/slog"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// loop is the planner: it wakes when a window opens or closes, when a
// scheduled run's instant comes, when the settings change, and at least once
// an hour, and does what is due (tick); then, once an hour, it prunes the
// history, in batches, until the next tick is due (pruneHistory).
func (m *Manager) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var p pruning
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.wake:
		}
		next := m.tick(ctx, m.now())
		if woken := m.pruneHistory(ctx, &p, next); woken {
			next = m.now() // tick at once, then prune on
		}
		timer.Reset(max(next.Sub(m.now()), 0))
	}
}

// tick ends runs whose window has closed, plans the window that is open,
// queues scheduled runs whose instant has come, and returns when it wants
// to run next.
func (m *Manager) tick(ctx context.Context, now time.Time) time.Time {
	s := m.Settings()
	w := s.Window()
	next, _ := w.Next(now)
	if hour := now.Add(time.Hour); hour.Before(next) {
		next = hour
	}

	if !m.IsLeader() {
		return next // another server plans; this one is poked if it takes over
	}
	defer m.locks.lockAll(m.names())()
	active, err := m.store.ActiveRuns(ctx)
	if err != nil {
		m.logger.ErrorContext(ctx, "butler: planner: read active runs", slog.String("error", err.Error()))
		return now.Add(10 * time.Second)
	}
	m.closeWindows(ctx, now, w, active)
	if d, inside := w.Inside(now); inside {
		if !m.planWindow(ctx, now, s, d) {
			next = earliest(next, now.Add(retryAfter))
		}
		// The plan may have made scheduled runs.
		if active, err = m.store.ActiveRuns(ctx); err != nil {
			return now.Add(10 * time.Second)
		}
	}
	for _, r := range active {
		if r.State == StateQueued && r.JobID == 0 && now.Sub(r.ScheduledAt) >= retryAfter {
			// Its hand-over to the queue failed: try again.
			m.enqueue(ctx, r)
			next = earliest(next, now.Add(retryAfter))
			continue
		}
		if r.State != StateScheduled {
			continue
		}
		if r.ScheduledAt.After(now) {
			if r.ScheduledAt.Before(next) {
				next = r.ScheduledAt
			}
			continue
		}
		queued, ok, err := m.store.QueueRun(ctx, r.ID, now, m.enqueueFunc())
		if err != nil {
			// It stays scheduled, and due: try again soon.
			m.logger.ErrorContext(ctx, "butler: queue scheduled run", slog.Int64("run", r.ID), slog.String("error", err.Error()))
			next = earliest(next, now.Add(retryAfter))
			continue
		}
		if ok {
			m.handOver(ctx, queued)
		}
	}
	return next
}

// pruneEvery is how often the planner prunes the run history.
const pruneEvery = time.Hour

// pruneRest is the least the planner waits between two batches of the
// pruning. It waits as long as the batch took when that is longer, so that
// the pruning has the database half of the time at most.
const pruneRest = 5 * time.Millisecond

// pruning is a pass of the history pruning that may span several of the
// loop's turns. Only the loop's goroutine uses it.
type pruning struct {
	on      bool
	before  time.Time // the runs that ended before it are deleted
	deleted int       // so far in this pass
}

// pruneHistory deletes the finished runs older than the retention, once
// every pruneEvery, one batch at a time (Store.PruneRuns: a thousand runs,
// one short statement), on the leader. It holds no task lock, and it rests
// between batches so that the database is free for every other call (on
// SQLite there is one connection: a call waits for one batch at most). It
// returns when the pass is over, when the next tick is due at until (before
// the rest would end), or when the loop is woken, then reporting true: the
// loop ticks, then calls it again to go on with the pass.
func (m *Manager) pruneHistory(ctx context.Context, p *pruning, until time.Time) (woken bool) {
	if !p.on {
		now := m.now()
		if now.Sub(m.planner.lastPrune) < pruneEvery || !m.IsLeader() {
			return false
		}
		m.planner.lastPrune = now
		s := m.Settings()
		*p = pruning{on: true, before: pruneCutoff(now, s.Retention(), s.Window())}
	}
	var rest *time.Timer
	defer func() {
		if rest != nil {
			rest.Stop()
		}
	}()
	for {
		start := m.now()
		n, err := m.store.PruneRuns(ctx, p.before)
		if err != nil {
			// The rest waits for the next pass.
			if ctx.Err() == nil {
				m.logger.WarnContext(ctx, "butler: prune run history", slog.Int("runs_deleted", p.deleted), slog.String("error", err.Error()))
			}
			*p = pruning{}
			return false
		}
		p.deleted += n
		if n == 0 {
			if p.deleted > 0 {
				m.logger.InfoContext(ctx, "butler: pruned run history", slog.Int("runs_deleted", p.deleted))
			}
			*p = pruning{}
			return false
		}
		wait := max(m.now().Sub(start), pruneRest)
		if !m.now().Add(wait).Before(until) {
			return false // the loop waits for until, ticks, and calls again
		}
		if rest == nil {
			rest = time.NewTimer(wait)
		} else {
			rest.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return false
		case <-m.wake:
			return true
		case <-rest.C:
		}
	}
}

// Why the planner and Execute skip a window's waiting run.
const (
	// reasonWindowClosed: its window closed before it started.
	reasonWindowClosed = "window closed"
	// reasonWindowChanged: the window's hours or zone changed, and by the
	// new ones its instant is in no window.
	reasonWindowChanged = "the maintenance window changed"
)

// runWindow returns the bounds of the window that run r, a window's run,
// waits in, by the window w: its own (r.Window), which holds its instant
// (ScheduledAt: the randomized start, or when it was queued) unless the
// window's hours or zone changed since it was planned; then the window
// that holds its instant by the new hours, for the run was planned for
// that instant. ok is false when no window holds it any more (the run
// was planned in hours that are no longer the window), or r belongs to no
// window.
func runWindow(w schedule.Window, r Run) (open, close time.Time, ok bool) {
	if r.Window.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	open, close = w.Bounds(r.Window)
	if !r.ScheduledAt.Before(open) && r.ScheduledAt.Before(close) {
		return open, close, true
	}
	d, inside := w.Inside(r.ScheduledAt)
	if !inside {
		return time.Time{}, time.Time{}, false
	}
	open, close = w.Bounds(d)
	return open, close, true
}

// windowEnded reports why run r, waiting, must not start at now by the
// window w: its window has closed, or no window holds it any more (see
// runWindow); "" when it may, or belongs to no window.
func windowEnded(w schedule.Window, r Run, now time.Time) string {
	if r.Window.IsZero() {
		return ""
	}
	_, close, ok := runWindow(w, r)
	switch {
	case !ok:
		return reasonWindowChanged
	case !now.Before(close):
		return reasonWindowClosed
	}
	return ""
}

// pruneCutoff is the instant before which finished runs are pruned at now:
// the retention's, but never within the window open at now. The runs made
// in the open window tell the planner which tasks have run in it
// (TasksRunSince), and a window may last longer than the retention (the
// shortest is a day; a window whose start and end hours are the same lasts
// 25 hours on the night the clocks go back): pruned, a task that failed
// early in the window would be planned again in it.
func pruneCutoff(now time.Time, retention time.Duration, w schedule.Window) time.Time {
	before := now.Add(-retention)
	if d, inside := w.Inside(now); inside {
		if open, _ := w.Bounds(d); open.Before(before) {
			before = open
		}
	}
	return before
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// retryAfter is how soon the planner tries again to queue a run whose
// queuing failed (the store could not write, say).
const retryAfter = 5 * time.Second

// closeWindows ends the runs that belong to a window that has closed: waiting
// runs are skipped, all in one transaction (removeAll) per reason, and
// running runs of stopAtWindowEnd tasks are stopped. A run's window is the
// one that holds its instant (runWindow): after the window's hours or zone
// changed, waiting runs whose instant no window holds any more are skipped
// too (reasonWindowChanged): planned for hours that are no longer the
// window, they would start outside it; the planner plans their tasks again
// in the new window.
func (m *Manager) closeWindows(ctx context.Context, now time.Time, w schedule.Window, active []Run) {
	closed := func(r Run) bool {
		_, close, ok := runWindow(w, r)
		return ok && !now.Before(close)
	}
	// Waiting runs first: stopping a running one frees a slot that a
	// waiting one would take.
	ended := map[string][]Run{}
	for _, r := range active {
		if r.State == StateScheduled || r.State == StateQueued {
			if reason := windowEnded(w, r, now); reason != "" {
				ended[reason] = append(ended[reason], r)
			}
		}
	}
	for _, reason := range []string{reasonWindowClosed, reasonWindowChanged} {
		waiting := ended[reason]
		if _, err := m.removeAll(ctx, waiting, reason); err != nil {
			m.logger.WarnContext(ctx, "butler: skip the runs of a window together; one at a time instead", slog.Int("runs", len(waiting)), slog.String("reason", reason), slog.String("error", err.Error()))
			for _, r := range waiting {
				if _, _, err := m.remove(ctx, r, reason); err != nil {
					m.logger.ErrorContext(ctx, "butler: skip run of a window", slog.Int64("run", r.ID), slog.String("reason", reason), slog.String("error", err.Error()))
				}
			}
		}
	}
	for _, r := range active {
		if !closed(r) || r.State != StateRunning {
			continue
		}
		if t, ok := m.byName[r.Task]; ok && t.StopAtWindowEnd {
			// Told to stop; the run ends once its work has stopped.
			if _, err := m.beginStop(ctx, r, errWindowClosed); err != nil {
				m.logger.ErrorContext(ctx, "butler: stop run at window close", slog.Int64("run", r.ID), slog.String("error", err.Error()))
			}
		}
	}
}

// planWindow plans the window of day d: every enabled task that is due and
// has no run in it yet gets one (scheduling.md, "automatic runs"). It
// reports false when some of it failed (the store could not write, say).
func (m *Manager) planWindow(ctx context.Context, now time.Time, s Settings, d schedule.Day) bool {
	w := s.Window()
	open, _ := w.Bounds(d)
	active, records, err := m.state(ctx)
	if err != nil {
		m.logger.ErrorContext(ctx, "butler: planner", slog.String("error", err.Error()))
		return false
	}
	ran, err := m.store.TasksRunSince(ctx, open)
	if err != nil {
		m.logger.ErrorContext(ctx, "butler: planner", slog.String("error", err.Error()))
		return false
	}
	var ds []decided
	for _, t := range m.catalog {
		st := taskState(t, s, active, records)
		done := ran[t.Name] || records[t.Name].Suppressed == d
		dec := schedule.Plan(now, w, d, st, done, m.rnd)
		if dec.Verdict == schedule.Leave {
			continue
		}
		ds = append(ds, decided{t, dec})
	}
	// One transaction for the whole plan: it is made, or tried again soon.
	if _, err := m.applyAll(ctx, ds, TriggerWindow, now); err != nil {
		m.logger.ErrorContext(ctx, "butler: plan the window", slog.Int("tasks", len(ds)), slog.String("error", err.Error()))
		return false
	}
	return true
}
