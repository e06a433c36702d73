package butler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// Start outcomes, as the X-Butler-Outcome header spells them.
const (
	StartStarted   = "started"
	StartScheduled = "scheduled"
	StartQueued    = "queued"
	StartSkipped   = "skipped"
	StartRunning   = "running"
)

// StartResult says what a start did with a task.
type StartResult struct {
	Task TaskName
	// Outcome is one of the Start* constants.
	Outcome string
	// Run is the run made or found; its ID is 0 when there is none.
	Run Run
	// RunAt is when the run starts (scheduled or queued), zero otherwise.
	RunAt  time.Time
	Reason string
}

// StopResult says what a stop did.
type StopResult struct {
	Task TaskName
	// Outcome is "stopped" (a running run) or "removed" (a waiting one).
	Outcome string
	Run     Run
}

// TaskStatus is a task with its enable flag and live state.
type TaskStatus struct {
	Task    Task
	Enabled bool
	// Active is the task's scheduled, queued or running run, if any.
	Active *Run
	// Record is the task's last success and suppression.
	Record TaskRecord
}

// Statuses returns every offered task with its state, in catalog order.
func (m *Manager) Statuses(ctx context.Context) ([]TaskStatus, error) {
	s := m.Settings()
	active, records, err := m.state(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TaskStatus, 0, len(m.catalog))
	for _, t := range m.catalog {
		st := TaskStatus{Task: t, Enabled: s.Enabled(t), Record: records[t.Name]}
		if r, ok := active[t.Name]; ok {
			st.Active = &r
		}
		out = append(out, st)
	}
	return out, nil
}

func (m *Manager) state(ctx context.Context) (map[TaskName]Run, map[TaskName]TaskRecord, error) {
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read active runs: %w", err)
	}
	active := make(map[TaskName]Run, len(runs))
	for _, r := range runs {
		active[r.Task] = r
	}
	records, err := m.store.TaskRecords(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read task records: %w", err)
	}
	return active, records, nil
}

func taskState(t Task, s Settings, active map[TaskName]Run, records map[TaskName]TaskRecord) schedule.TaskState {
	st := schedule.TaskState{
		Enabled: s.Enabled(t), Interval: t.Interval, Randomized: t.Randomized,
		LastSuccess: records[t.Name].LastSuccess,
	}
	if r, ok := active[t.Name]; ok {
		switch r.State {
		case StateScheduled:
			st.Active = schedule.ActiveScheduled
		case StateQueued:
			st.Active = schedule.ActiveQueued
		case StateRunning:
			st.Active = schedule.ActiveRunning
		}
	}
	return st
}

// StartTask starts one task as POST /butler/{task} does (scheduling.md,
// "start one task"); with force it starts now whatever the day, window,
// randomization or enabled flag. It returns ENOTFOUND for a task the server
// does not offer and ECONFLICT for a disabled one (without force).
func (m *Manager) StartTask(ctx context.Context, name TaskName, force bool) (StartResult, error) {
	t, ok := m.byName[name]
	if !ok {
		return StartResult{}, m.notFound(name)
	}
	if err := m.open(); err != nil {
		return StartResult{}, err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	s := m.Settings()
	active, records, err := m.state(ctx)
	if err != nil {
		return StartResult{}, err
	}
	now := m.now()
	w := s.Window()
	st := taskState(*t, s, active, records)
	var d schedule.Decision
	trigger := TriggerStartTask
	if force {
		trigger = TriggerForce
		d = schedule.Force(now, w, st)
		if d.Verdict == schedule.StartNow && st.Active != schedule.ActiveNone {
			// The waiting run gives way to the forced one.
			old := active[name]
			if err := m.remove(ctx, old, "replaced by a forced start"); err != nil {
				return StartResult{}, err
			}
		}
	} else {
		d = schedule.StartTask(now, w, st, m.rnd)
	}
	switch d.Verdict {
	case schedule.Disabled:
		return StartResult{}, Errorf(ECONFLICT, "task %s is disabled in the settings (%s); enable it, or start it with ?force=1", name, t.Setting)
	case schedule.AlreadyRunning:
		r := active[name]
		return StartResult{Task: name, Outcome: StartRunning, Run: r, Reason: "already running"}, nil
	case schedule.AlreadyWaiting:
		return waitingResult(active[name], now), nil
	}
	return m.apply(ctx, *t, d, trigger, now)
}

func waitingResult(r Run, now time.Time) StartResult {
	res := StartResult{Task: r.Task, Run: r, RunAt: r.ScheduledAt}
	if r.State == StateScheduled && r.ScheduledAt.After(now) {
		res.Outcome, res.Reason = StartScheduled, "already scheduled"
	} else {
		res.Outcome, res.Reason = StartQueued, "already queued"
	}
	return res
}

// StartAll starts every enabled task as POST /butler does (scheduling.md,
// "start all tasks") and returns what it did with each, in catalog order.
func (m *Manager) StartAll(ctx context.Context) ([]StartResult, error) {
	if err := m.open(); err != nil {
		return nil, err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	s := m.Settings()
	active, records, err := m.state(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	w := s.Window()
	var out []StartResult
	for _, t := range m.catalog {
		d := schedule.StartAll(now, w, taskState(t, s, active, records), m.rnd)
		if d.Verdict == schedule.Leave {
			continue
		}
		res, err := m.apply(ctx, t, d, TriggerStartAll, now)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// apply carries out a decision that makes a run.
func (m *Manager) apply(ctx context.Context, t Task, d schedule.Decision, trigger Trigger, now time.Time) (StartResult, error) {
	r := Run{Task: t.Name, Trigger: trigger, Day: d.Day, Reason: d.Reason, CreatedAt: now, ScheduledAt: now, Progress: -1}
	var outcome string
	switch d.Verdict {
	case schedule.Skip:
		r.State, r.Outcome, r.EndedAt = StateFinished, OutcomeSkipped, now
		outcome = StartSkipped
	case schedule.Schedule:
		r.State, r.ScheduledAt, r.Window = StateScheduled, d.At, d.Window
		r.Queue = QueueMaintenance
		if trigger == TriggerStartTask {
			r.Queue = QueueManual
		}
		outcome = StartScheduled
	case schedule.Queue:
		r.State, r.Queue, r.Window = StateQueued, QueueMaintenance, d.Window
		outcome = StartQueued
	case schedule.StartNow:
		r.State, r.Queue = StateQueued, QueueManual
		outcome = StartStarted
	default:
		return StartResult{}, fmt.Errorf("apply: unexpected verdict %v", d.Verdict)
	}
	created, err := m.store.CreateRun(ctx, &r)
	if errors.Is(err, ErrActiveRun) {
		// Another node (or the planner) made one first.
		if created.State == StateRunning {
			return StartResult{Task: t.Name, Outcome: StartRunning, Run: created, Reason: "already running"}, nil
		}
		return waitingResult(created, now), nil
	}
	if err != nil {
		return StartResult{}, fmt.Errorf("create run of %s: %w", t.Name, err)
	}
	if created.State == StateFinished {
		m.observe(created)
	}
	m.logger.InfoContext(ctx, "butler: run "+string(created.State), slog.String("task", string(t.Name)),
		slog.Int64("run", created.ID), slog.String("trigger", string(trigger)), slog.String("reason", d.Reason))
	res := StartResult{Task: t.Name, Outcome: outcome, Run: created, Reason: d.Reason}
	switch created.State {
	case StateQueued:
		res.RunAt = now
		m.enqueue(ctx, created)
	case StateScheduled:
		res.RunAt = created.ScheduledAt
		m.poke()
	}
	return res, nil
}

// enqueue hands a queued run to the queue. A failure is logged; the run stays
// queued and is handed over again at the next start.
func (m *Manager) enqueue(ctx context.Context, r Run) {
	if r.Queue == QueueMaintenance {
		m.gate.expect(gateKey{r.ScheduledAt, r.ID})
	}
	id, err := m.queue.Enqueue(ctx, r)
	if err != nil {
		m.logger.ErrorContext(ctx, "butler: enqueue run", slog.Int64("run", r.ID), slog.String("error", err.Error()))
		return
	}
	if err := m.store.SetRunJob(ctx, r.ID, id); err != nil {
		m.logger.WarnContext(ctx, "butler: record job of run", slog.Int64("run", r.ID), slog.String("error", err.Error()))
	}
}

// StopTask stops the task's running run or removes its waiting one
// (scheduling.md, "stop one task"). It returns ENOTFOUND when the task is not
// offered or has nothing to stop. The run's end is stored before it returns.
func (m *Manager) StopTask(ctx context.Context, name TaskName) (StopResult, error) {
	if _, ok := m.byName[name]; !ok {
		return StopResult{}, m.notFound(name)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	active, _, err := m.state(ctx)
	if err != nil {
		return StopResult{}, err
	}
	r, ok := active[name]
	if !ok {
		return StopResult{}, Errorf(ENOTFOUND, "task %s is not running, scheduled or queued; nothing to stop", name)
	}
	res, err := m.stopRun(ctx, r, errStopped)
	if err != nil {
		return StopResult{}, err
	}
	m.suppress(ctx, name)
	return res, nil
}

// StopAll stops every running run and removes every waiting one
// (scheduling.md, "stop all tasks"), and returns what it did.
func (m *Manager) StopAll(ctx context.Context) ([]StopResult, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("read active runs: %w", err)
	}
	// Waiting runs first: stopping a running one frees a slot that a
	// waiting one would take.
	slices.SortStableFunc(runs, func(a, b Run) int { return cmp.Compare(rank(a.State), rank(b.State)) })
	var out []StopResult
	var errs []error
	for _, r := range runs {
		res, err := m.stopRun(ctx, r, errStopped)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.suppress(ctx, r.Task)
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// StopActivity stops the running run whose UUID is id, as DELETE
// /activities/{uuid} does. It returns ENOTFOUND when no run has that UUID or
// the run is not running.
func (m *Manager) StopActivity(ctx context.Context, id string) (StopResult, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	r, err := m.store.RunByUUID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return StopResult{}, Errorf(ENOTFOUND, "no activity %s; GET /activities lists them", id)
	}
	if err != nil {
		return StopResult{}, err
	}
	if r.State != StateRunning {
		return StopResult{}, Errorf(ENOTFOUND, "activity %s is not running (run %d is %s)", id, r.ID, r.State)
	}
	res, err := m.stopRun(ctx, r, errStopped)
	if err != nil {
		return StopResult{}, err
	}
	m.suppress(ctx, r.Task)
	return res, nil
}

// suppress keeps a stopped task out of the rest of the current window.
func (m *Manager) suppress(ctx context.Context, name TaskName) {
	w := m.Settings().Window()
	d, inside := w.Inside(m.now())
	if !inside {
		return
	}
	if err := m.store.Suppress(ctx, name, d); err != nil {
		m.logger.WarnContext(ctx, "butler: record stop", slog.String("task", string(name)), slog.String("error", err.Error()))
	}
}

// stopRun ends one active run: a waiting run is removed (skipped), a running
// one is stopped (cause says why) and its end is stored before it returns.
func (m *Manager) stopRun(ctx context.Context, r Run, cause error) (StopResult, error) {
	if r.State == StateScheduled || r.State == StateQueued {
		reason := "removed by stop"
		if errors.Is(cause, errWindowClosed) {
			reason = "window closed"
		}
		if err := m.remove(ctx, r, reason); err != nil {
			return StopResult{}, err
		}
		// It may have started meanwhile; then stop it.
		cur, err := m.store.Run(ctx, r.ID)
		if err != nil {
			return StopResult{}, err
		}
		if cur.State != StateRunning {
			cur.State = StateFinished
			return StopResult{Task: r.Task, Outcome: "removed", Run: cur}, nil
		}
		r = cur
	}
	m.mu.Lock()
	lr := m.local[r.ID]
	m.mu.Unlock()
	if lr != nil {
		lr.cancel(cause)
		select {
		case <-lr.done:
		case <-time.After(m.stopGrace):
			m.logger.WarnContext(ctx, "butler: task has not returned after its stop; the run is recorded as stopped",
				slog.String("task", string(r.Task)), slog.Int64("run", r.ID))
		case <-ctx.Done():
		}
	}
	if r.JobID != 0 && lr == nil {
		// Running on another node: cancel it there.
		if err := m.queue.Cancel(ctx, r.JobID); err != nil {
			m.logger.WarnContext(ctx, "butler: cancel job", slog.Int64("job", r.JobID), slog.String("error", err.Error()))
		}
	}
	f := Finish{Outcome: OutcomeStopped, Reason: causeReason(cause), EndedAt: m.now(), Progress: r.Progress, Step: r.Step}
	if lr != nil {
		f.Progress, f.Step = lr.progress()
		f.Log = lr.log.String()
	}
	if _, err := m.finish(ctx, r, []RunState{StateRunning}, f); err != nil {
		return StopResult{}, fmt.Errorf("record stop of run %d: %w", r.ID, err)
	}
	final, err := m.store.Run(ctx, r.ID)
	if err != nil {
		return StopResult{}, err
	}
	m.logger.InfoContext(ctx, "butler: run stopped", slog.String("task", string(r.Task)), slog.Int64("run", r.ID),
		slog.String("outcome", string(final.Outcome)))
	return StopResult{Task: r.Task, Outcome: "stopped", Run: final}, nil
}

// remove ends a scheduled or queued run as skipped and takes its job out of
// the queue.
func (m *Manager) remove(ctx context.Context, r Run, reason string) error {
	ok, err := m.finish(ctx, r, []RunState{StateScheduled, StateQueued}, Finish{
		Outcome: OutcomeSkipped, Reason: reason, EndedAt: m.now(), Progress: -1,
	})
	if err != nil {
		return fmt.Errorf("remove run %d: %w", r.ID, err)
	}
	if !ok {
		return nil
	}
	m.gate.forget(gateKey{r.ScheduledAt, r.ID})
	m.mu.Lock()
	lr := m.local[r.ID]
	m.mu.Unlock()
	if lr != nil {
		// Fetched by a worker here and waiting for a slot.
		lr.cancel(errStopped)
	}
	if r.JobID != 0 {
		if err := m.queue.Cancel(ctx, r.JobID); err != nil {
			m.logger.WarnContext(ctx, "butler: cancel job", slog.Int64("job", r.JobID), slog.String("error", err.Error()))
		}
	}
	m.logger.InfoContext(ctx, "butler: run removed", slog.String("task", string(r.Task)), slog.Int64("run", r.ID), slog.String("reason", reason))
	return nil
}

// rank orders states so that waiting runs come before running ones.
func rank(s RunState) int {
	if s == StateRunning {
		return 1
	}
	return 0
}

func (m *Manager) open() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return Errorf(EUNAVAILABLE, "the server is shutting down")
	}
	return nil
}
