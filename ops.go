package butler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/plexbutler/butler/schedule"
)

// StartOutcome says what a start did with a task, as the X-Butler-Outcome
// header spells it.
type StartOutcome string

// Start outcomes.
const (
	StartStarted   StartOutcome = "started"
	StartScheduled StartOutcome = "scheduled"
	StartQueued    StartOutcome = "queued"
	StartSkipped   StartOutcome = "skipped"
	StartRunning   StartOutcome = "running"
)

// StartResult says what a start did with a task.
type StartResult struct {
	Task    TaskName
	Outcome StartOutcome
	// Run is the run made or found; its ID is 0 when there is none.
	Run Run
	// RunAt is when the run may start (its ScheduledAt): now for a run
	// started or queued now, the instant chosen for a scheduled one; zero
	// for a skipped start and a task already running.
	RunAt  time.Time
	Reason string
}

// StopResult says what a stop did.
type StopResult struct {
	Task    TaskName
	Outcome StopOutcome
	// Run is the run as it was when the stop answered.
	Run Run
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
	active, err := m.activeRuns(ctx)
	if err != nil {
		return nil, nil, err
	}
	records, err := m.store.TaskRecords(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read task records: %w", err)
	}
	return active, records, nil
}

// activeRuns reads the active runs, by task.
func (m *Manager) activeRuns(ctx context.Context) (map[TaskName]Run, error) {
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("read active runs: %w", err)
	}
	active := make(map[TaskName]Run, len(runs))
	for _, r := range runs {
		active[r.Task] = r
	}
	return active, nil
}

func taskState(t Task, s Settings, active map[TaskName]Run, records map[TaskName]TaskRecord) schedule.TaskState {
	st := schedule.TaskState{
		Enabled: s.Enabled(t), Interval: t.Interval, Randomized: t.Randomized,
		LastSuccess: records[t.Name].SuccessDay(s.Window()),
	}
	if r, ok := active[t.Name]; ok {
		switch r.State {
		case StateScheduled:
			st.Active = schedule.ActiveScheduled
		case StateQueued:
			st.Active = schedule.ActiveQueued
			if r.Queue == QueueManual {
				// Started: it takes no slot and runs as soon as a worker
				// has it (milliseconds). To a client it is running from
				// the moment its start answered.
				st.Active = schedule.ActiveRunning
			}
		case StateRunning, StateStopping:
			// A stopping run's work goes on until it has stopped: the
			// task is running until then.
			st.Active = schedule.ActiveRunning
		}
	}
	return st
}

// StartTask starts one task as POST /butler/{task} does (scheduling.md,
// "start one task"); with force it starts now whatever the day, window or
// randomization. A disabled task is started by the same rules as an enabled
// one (its enable setting governs only the nightly plan and start-all, as on
// a Plex server); the result's reason says it is disabled for the schedule.
// It returns ENOTFOUND for a task the server does not offer.
func (m *Manager) StartTask(ctx context.Context, name TaskName, force bool) (StartResult, error) {
	t, ok := m.byName[name]
	if !ok {
		return StartResult{}, m.notFound(name)
	}
	if err := m.open(); err != nil {
		return StartResult{}, err
	}
	defer m.locks.lock(name)()
	s := m.Settings()
	// A forced start does not ask whether the task is due: it needs no
	// task records.
	var active map[TaskName]Run
	var records map[TaskName]TaskRecord
	var err error
	if force {
		active, err = m.activeRuns(ctx)
	} else {
		active, records, err = m.state(ctx)
	}
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
			if _, _, err := m.remove(ctx, old, "replaced by a forced start"); err != nil {
				return StartResult{}, err
			}
		}
	} else {
		d = schedule.StartTask(now, w, st, m.rnd)
	}
	switch d.Verdict {
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
	defer m.locks.lockAll(m.names())()
	s := m.Settings()
	active, records, err := m.state(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	w := s.Window()
	var ds []decided
	for _, t := range m.catalog {
		d := schedule.StartAll(now, w, taskState(t, s, active, records), m.rnd)
		if d.Verdict == schedule.Leave {
			continue
		}
		ds = append(ds, decided{t, d})
	}
	// One transaction for them all.
	return m.applyAll(ctx, ds, TriggerStartAll, now)
}

// decided is a task and the decision that makes a run of it.
type decided struct {
	task Task
	d    schedule.Decision
}

// apply carries out a decision that makes a run.
func (m *Manager) apply(ctx context.Context, t Task, d schedule.Decision, trigger Trigger, now time.Time) (StartResult, error) {
	res, err := m.applyAll(ctx, []decided{{t, d}}, trigger, now)
	if err != nil {
		return StartResult{}, err
	}
	return res[0], nil
}

// applyAll carries out decisions that make runs, in one transaction of the
// store, and returns what it did with each, in order.
func (m *Manager) applyAll(ctx context.Context, ds []decided, trigger Trigger, now time.Time) ([]StartResult, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	// A task not due that was found so earlier today, for the same reason:
	// its skipped run answers again (skipMemo).
	out := make([]StartResult, len(ds))
	var (
		fresh []decided
		at    []int // where fresh[j]'s result goes in out
	)
	for i, x := range ds {
		if x.d.Verdict == schedule.Skip {
			if r, ok := m.skips.find(x.task.Name, x.d.Day, x.d.Reason, trigger); ok {
				out[i] = StartResult{Task: x.task.Name, Outcome: StartSkipped, Run: r, Reason: x.d.Reason}
				continue
			}
		}
		fresh = append(fresh, x)
		at = append(at, i)
	}
	res, err := m.record(ctx, fresh, trigger, now)
	if err != nil {
		return nil, err
	}
	for j, r := range res {
		out[at[j]] = r
	}
	return out, nil
}

// record makes the runs of decisions in one transaction of the store, and
// returns what it did with each, in order.
func (m *Manager) record(ctx context.Context, ds []decided, trigger Trigger, now time.Time) ([]StartResult, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	runs := make([]*Run, len(ds))
	outcomes := make([]StartOutcome, len(ds))
	for i, x := range ds {
		r := &Run{Task: x.task.Name, Trigger: trigger, Day: x.d.Day, Reason: x.d.Reason, CreatedAt: now, ScheduledAt: now, Progress: -1}
		switch x.d.Verdict {
		case schedule.Skip:
			r.State, r.Outcome, r.EndedAt = StateFinished, OutcomeSkipped, now
			outcomes[i] = StartSkipped
		case schedule.Schedule:
			r.State, r.ScheduledAt, r.Window = StateScheduled, x.d.At, x.d.Window
			r.Queue = QueueMaintenance
			if trigger == TriggerStartTask {
				r.Queue = QueueManual
			}
			outcomes[i] = StartScheduled
		case schedule.Queue:
			r.State, r.Queue, r.Window = StateQueued, QueueMaintenance, x.d.Window
			outcomes[i] = StartQueued
		case schedule.StartNow:
			r.State, r.Queue = StateQueued, QueueManual
			outcomes[i] = StartStarted
		default:
			return nil, fmt.Errorf("apply: unexpected verdict %v for %s", x.d.Verdict, x.task.Name)
		}
		runs[i] = r
	}
	created, errs, err := m.store.CreateRuns(ctx, runs, m.enqueueFunc())
	if err != nil {
		if len(ds) == 1 {
			return nil, fmt.Errorf("create run of %s: %w", ds[0].task.Name, err)
		}
		return nil, fmt.Errorf("create %d runs: %w", len(ds), err)
	}
	out := make([]StartResult, len(ds))
	var queued []Run
	scheduled := false
	for i, x := range ds {
		c := created[i]
		if errors.Is(errs[i], ErrActiveRun) {
			// Another node (or the planner) made one first.
			if c.State.Working() {
				out[i] = StartResult{Task: x.task.Name, Outcome: StartRunning, Run: c, Reason: "already running"}
			} else {
				out[i] = waitingResult(c, now)
			}
			continue
		}
		if c.State == StateFinished {
			m.observe(c)
			if c.Outcome == OutcomeSkipped {
				m.skips.remember(c)
			}
		}
		m.logger.InfoContext(ctx, "butler: run "+string(c.State), slog.String("task", string(x.task.Name)),
			slog.Int64("run", c.ID), slog.String("trigger", string(trigger)), slog.String("reason", x.d.Reason))
		out[i] = StartResult{Task: x.task.Name, Outcome: outcomes[i], Run: c, Reason: x.d.Reason}
		switch c.State {
		case StateQueued:
			out[i].RunAt = now
			queued = append(queued, c)
		case StateScheduled:
			out[i].RunAt = c.ScheduledAt
			scheduled = true
		}
	}
	m.handOver(ctx, queued...)
	if scheduled {
		m.poke()
	}
	return out, nil
}

// enqueueFunc returns what inserts a queued run's job in the store's
// transaction (TxQueue), or nil when the queue cannot.
func (m *Manager) enqueueFunc() EnqueueFunc {
	tq, ok := m.queue.(TxQueue)
	if !ok {
		return nil
	}
	return func(ctx context.Context, tx Tx, rs []Run) ([]int64, error) {
		for _, r := range rs {
			if r.Queue == QueueMaintenance {
				// Before the commit: the job may reach a worker at once.
				m.gate.expect(keyOf(r))
			}
		}
		return tq.EnqueueTx(ctx, tx, rs)
	}
}

// handOver finishes the hand-over of runs that were just queued: their
// jobs were inserted in the store's transaction (TxQueue), which has
// committed, and the queue is told so once for each of its queues; or, for
// a queue without transactional inserts, they are inserted now.
func (m *Manager) handOver(ctx context.Context, runs ...Run) {
	tq, _ := m.queue.(TxQueue)
	told := map[string]bool{}
	for _, r := range runs {
		switch {
		case r.JobID == 0 || tq == nil:
			m.enqueue(ctx, r)
		case !told[r.Queue]:
			told[r.Queue] = true
			tq.Committed(ctx, r)
		}
	}
}

// enqueue hands a queued run to the queue outside the store's transaction:
// a queue without transactional inserts, and a run queued again (at start,
// or because the server holding its job died). A failure is logged; the
// planner tries again within seconds.
func (m *Manager) enqueue(ctx context.Context, r Run) {
	if r.Queue == QueueMaintenance {
		m.gate.expect(keyOf(r))
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

// StopOutcome says what a stop did with a run, as the X-Butler-Outcome
// header spells it.
type StopOutcome string

// Stop outcomes.
const (
	// StopStopped: the run's work has stopped; the run is finished.
	StopStopped StopOutcome = "stopped"
	// StopStopping: the run was told to stop (durably) and its work has
	// not stopped yet; it ends finished once it has.
	StopStopping StopOutcome = "stopping"
	// StopRemoved: a waiting run was removed (skipped) before it started.
	StopRemoved StopOutcome = "removed"
)

// StopTask stops the task's running run or removes its waiting one
// (scheduling.md, "stop one task"). It returns ENOTFOUND when the task is not
// offered or has nothing to stop.
//
// The stop is durable before StopTask returns: the run is stopping (or
// removed) in the store, and the run's work has been told to stop. StopTask
// then waits up to Config.StopWait for the work to stop; the result says
// whether it has (StopStopped) or not yet (StopStopping). Other tasks never
// wait for it.
func (m *Manager) StopTask(ctx context.Context, name TaskName) (StopResult, error) {
	if _, ok := m.byName[name]; !ok {
		return StopResult{}, m.notFound(name)
	}
	unlock := m.locks.lock(name)
	active, err := m.activeRuns(ctx)
	if err != nil {
		unlock()
		return StopResult{}, err
	}
	r, ok := active[name]
	if !ok {
		unlock()
		return StopResult{}, Errorf(ENOTFOUND, "task %s is not running, scheduled or queued; nothing to stop", name)
	}
	p, err := m.beginStop(ctx, r, errStopped)
	if err == nil {
		m.suppress(ctx, name)
	}
	unlock()
	if err != nil {
		return StopResult{}, err
	}
	return m.awaitStop(ctx, p), nil
}

// StopAll stops every running run and removes every waiting one
// (scheduling.md, "stop all tasks"), and returns what it did. Like StopTask
// it returns once every stop is durable, after waiting up to
// Config.StopWait for the work of the running ones to stop.
func (m *Manager) StopAll(ctx context.Context) ([]StopResult, error) {
	// The offered tasks' locks: a run of a task no longer offered cannot
	// be started again, so it needs none.
	unlock := m.locks.lockAll(m.names())
	runs, err := m.store.ActiveRuns(ctx)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("read active runs: %w", err)
	}
	// Waiting runs first, all in one transaction: stopping a running one
	// frees a slot that a waiting one would take. Those that started
	// meanwhile are stopped as the running ones.
	slices.SortStableFunc(runs, func(a, b Run) int { return cmp.Compare(rank(a.State), rank(b.State)) })
	var waiting []Run
	for _, r := range runs {
		if r.State == StateScheduled || r.State == StateQueued {
			waiting = append(waiting, r)
		}
	}
	var pending []pendingStop
	removed, err := m.removeAll(ctx, waiting, "removed by stop")
	if err != nil {
		// Each is removed on its own below.
		m.logger.WarnContext(ctx, "butler: remove the waiting runs together", slog.Int("runs", len(waiting)), slog.String("error", err.Error()))
	}
	gone := make(map[int64]bool, len(removed))
	var stopped []TaskName
	for _, r := range removed {
		gone[r.ID] = true
		stopped = append(stopped, r.Task)
		pending = append(pending, pendingStop{run: r, done: true})
	}
	var errs []error
	for _, r := range runs {
		if gone[r.ID] {
			continue
		}
		p, err := m.beginStop(ctx, r, errStopped)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, r.Task)
		pending = append(pending, p)
	}
	m.suppress(ctx, stopped...)
	unlock()
	out := make([]StopResult, len(pending))
	var wg sync.WaitGroup
	for i, p := range pending {
		wg.Go(func() { out[i] = m.awaitStop(ctx, p) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// StopActivity stops the running run whose UUID is id, as DELETE
// /activities/{uuid} does. It returns ENOTFOUND when no run has that UUID or
// the run is not running.
func (m *Manager) StopActivity(ctx context.Context, id string) (StopResult, error) {
	r, err := m.store.RunByUUID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return StopResult{}, Errorf(ENOTFOUND, "no activity %s; GET /activities lists them", id)
	}
	if err != nil {
		return StopResult{}, err
	}
	unlock := m.locks.lock(r.Task)
	if r, err = m.store.Run(ctx, r.ID); err != nil {
		unlock()
		return StopResult{}, err
	}
	if !r.State.Working() {
		unlock()
		return StopResult{}, Errorf(ENOTFOUND, "activity %s is not running (run %d is %s)", id, r.ID, r.State)
	}
	p, err := m.beginStop(ctx, r, errStopped)
	if err == nil {
		m.suppress(ctx, r.Task)
	}
	unlock()
	if err != nil {
		return StopResult{}, err
	}
	return m.awaitStop(ctx, p), nil
}

// RemoveRun removes the run id while it waits (scheduled or queued), as
// DELETE /butler/runs/{id} does, and keeps its task out of the rest of the
// current window, as StopTask does. It never stops a run that has started:
// it returns ENOTFOUND when there is no run id, and ECONFLICT when the run
// is not waiting (it has started, or ended), saying which.
func (m *Manager) RemoveRun(ctx context.Context, id int64) (StopResult, error) {
	r, err := m.store.Run(ctx, id)
	if err != nil {
		return StopResult{}, err
	}
	unlock := m.locks.lock(r.Task)
	defer unlock()
	if r, err = m.store.Run(ctx, id); err != nil {
		return StopResult{}, err
	}
	if r.State == StateScheduled || r.State == StateQueued {
		removed, ok, err := m.remove(ctx, r, "removed by stop")
		if err != nil {
			return StopResult{}, err
		}
		if ok {
			m.suppress(ctx, r.Task)
			return StopResult{Task: r.Task, Run: removed, Outcome: StopRemoved}, nil
		}
		// It started (or ended) meanwhile.
		if r, err = m.store.Run(ctx, id); err != nil {
			return StopResult{}, err
		}
	}
	if r.State == StateFinished {
		return StopResult{}, Errorf(ECONFLICT, "run %d of %s is not waiting: it has ended (%s); nothing was removed", id, r.Task, r.Outcome)
	}
	return StopResult{}, Errorf(ECONFLICT, "run %d of %s is not waiting: it has started (%s); nothing was removed (DELETE /activities/%s stops it)", id, r.Task, r.State, r.UUID)
}

// names returns the names of the offered tasks.
func (m *Manager) names() []TaskName {
	out := make([]TaskName, len(m.catalog))
	for i, t := range m.catalog {
		out[i] = t.Name
	}
	return out
}

// suppress keeps stopped tasks out of the rest of the current window.
func (m *Manager) suppress(ctx context.Context, names ...TaskName) {
	if len(names) == 0 {
		return
	}
	w := m.Settings().Window()
	d, inside := w.Inside(m.now())
	if !inside {
		return
	}
	if err := m.store.Suppress(ctx, names, d); err != nil {
		m.logger.WarnContext(ctx, "butler: record stop", slog.Int("tasks", len(names)), slog.String("task", string(names[0])), slog.String("error", err.Error()))
	}
}

// pendingStop is a stop that has been recorded and signalled: a removed
// waiting run (done), or a stopping run whose work may still go on.
type pendingStop struct {
	run  Run
	done bool      // removed, or found finished
	lr   *localRun // the run's local worker, when this server holds it
}

// finalRun returns the run as this server's worker recorded its end, if
// it holds the run and has recorded it.
func (p pendingStop) finalRun() (Run, bool) {
	if p.lr == nil {
		return Run{}, false
	}
	return p.lr.finalRun()
}

// beginStop ends one active run as far as can be done at once, under the
// task's lock: a waiting run is removed (skipped); a running one is moved to
// stopping in the store (cause says why) and its work is told to stop,
// wherever it runs. It does not wait for the work.
func (m *Manager) beginStop(ctx context.Context, r Run, cause error) (pendingStop, error) {
	return m.beginStopOf(ctx, r, cause, 0)
}

// beginStopOf is beginStop; again counts the times the run was found
// waiting again, having been started (a server that began to shut down,
// or fenced, gives back a run whose action had not begun: UnstartRun).
func (m *Manager) beginStopOf(ctx context.Context, r Run, cause error, again int) (pendingStop, error) {
	if r.State == StateScheduled || r.State == StateQueued {
		reason := "removed by stop"
		if errors.Is(cause, errWindowClosed) {
			reason = reasonWindowClosed
		}
		removed, ok, err := m.remove(ctx, r, reason)
		if err != nil {
			return pendingStop{}, err
		}
		if ok {
			return pendingStop{run: removed, done: true}, nil
		}
		// It started meanwhile (or ended); then stop it.
		cur, err := m.store.Run(ctx, r.ID)
		if err != nil {
			return pendingStop{}, err
		}
		if !cur.State.Working() {
			return pendingStop{run: cur, done: true}, nil
		}
		r = cur
	}
	marked := false
	if r.State == StateRunning {
		var err error
		if marked, err = m.store.MarkStopping(ctx, r.ID, causeReason(cause)); err != nil {
			lr := m.localRun(r.ID)
			if lr == nil {
				return pendingStop{}, fmt.Errorf("record stop of run %d: %w", r.ID, err)
			}
			// The store cannot take the stop (a full disk: perhaps this
			// very task filled it), but the work is here: it stops all
			// the same, and its end is written once the store can.
			m.logger.WarnContext(ctx, "butler: stopping a run whose stop the store cannot record", slog.String("task", string(r.Task)),
				slog.Int64("run", r.ID), slog.String("error", err.Error()))
			lr.stop(cause)
			r.State, r.Reason = StateStopping, causeReason(cause)
			return pendingStop{run: r, lr: lr}, nil
		}
		if marked {
			r.State, r.Reason = StateStopping, causeReason(cause)
		} else {
			// It ended, or was told to stop, meanwhile.
			cur, err := m.store.Run(ctx, r.ID)
			if err != nil {
				return pendingStop{}, err
			}
			r = cur
			switch {
			case r.State == StateFinished:
				return pendingStop{run: r, done: true}, nil
			case r.State == StateQueued && again < 3:
				// Given back to the queue meanwhile, never begun: it is
				// removed as a waiting run is, or it would run later.
				return m.beginStopOf(ctx, r, cause, again+1)
			}
		}
	}
	lr := m.localRun(r.ID)
	if lr != nil {
		if marked {
			lr.markedStopping() // its executor need not write it again
		}
		lr.stop(cause)
	} else {
		m.signalStop(ctx, r)
	}
	m.logger.InfoContext(ctx, "butler: run stopping", slog.String("task", string(r.Task)), slog.Int64("run", r.ID),
		slog.String("reason", causeReason(cause)))
	return pendingStop{run: r, lr: lr}, nil
}

// awaitStop waits up to StopWait for a stopping run's work to stop, and
// says where it is.
func (m *Manager) awaitStop(ctx context.Context, p pendingStop) StopResult {
	res := StopResult{Task: p.run.Task, Run: p.run}
	if p.done {
		res.Outcome = StopRemoved
		if p.run.Outcome != OutcomeSkipped {
			res.Outcome = StopStopped
		}
		return res
	}
	res.Outcome = StopStopping
	timer := time.NewTimer(m.stopWait)
	defer timer.Stop()
	if p.lr != nil {
		select {
		case <-p.lr.done:
		case <-timer.C:
		case <-ctx.Done():
		}
	} else {
		// Another server does the work: watch the store.
		tick := time.NewTicker(remoteStopPoll)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-tick.C:
				if cur, err := m.store.Run(ctx, p.run.ID); err == nil && cur.State == StateFinished {
					break wait
				}
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}
	if final, ok := p.finalRun(); ok {
		// Its executor here recorded the end: no need to read it.
		res.Run, res.Outcome = final, StopStopped
	} else if cur, err := m.store.Run(context.WithoutCancel(ctx), p.run.ID); err == nil {
		res.Run = cur
		if cur.State == StateFinished {
			res.Outcome = StopStopped
		}
	}
	m.logger.InfoContext(ctx, "butler: stop answered", slog.String("task", string(res.Task)), slog.Int64("run", res.Run.ID),
		slog.String("outcome", string(res.Outcome)))
	return res
}

// remoteStopPoll is how often a stop of a run another server works looks
// whether it has ended.
const remoteStopPoll = 20 * time.Millisecond

// localRun returns this server's worker of the run, or nil.
func (m *Manager) localRun(id int64) *localRun { return m.runs.get(id) }

// removeAll ends the scheduled or queued runs rs as skipped and takes their
// jobs out of the queue, all in one transaction of the store (the queue's
// too, when it keeps its jobs there: TxQueue), and returns those it
// removed; those no longer waiting are left out.
func (m *Manager) removeAll(ctx context.Context, rs []Run, reason string) ([]Run, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	tq, _ := m.queue.(TxQueue)
	var cancel RunsTxFunc
	if tq != nil {
		cancel = func(ctx context.Context, tx Tx, ended []Run) error {
			var jobs []int64
			for _, r := range ended {
				if r.JobID != 0 {
					jobs = append(jobs, r.JobID)
				}
			}
			return tq.CancelTx(ctx, tx, jobs)
		}
	}
	removed, err := m.store.FinishRuns(ctx, ids, []RunState{StateScheduled, StateQueued}, Finish{
		Outcome: OutcomeSkipped, Reason: reason, EndedAt: m.now(), Progress: -1,
	}, cancel)
	if err != nil {
		return nil, fmt.Errorf("remove %d runs: %w", len(rs), err)
	}
	keys := make([]gateKey, len(removed))
	for i, r := range removed {
		keys[i] = keyOf(r)
	}
	// Their places at the gate go at once: the gate looks at its waiting
	// runs once, not once per run.
	m.gate.forget(keys...)
	for _, r := range removed {
		m.observe(r)
		m.afterRemoval(ctx, r, reason, tq == nil)
	}
	return removed, nil
}

// afterRemoval does what follows the removal of run r from the store, its
// place at the gate forgotten: a worker here holding it is told to stop,
// and its job is cancelled when cancelJob says the removal's transaction
// did not.
func (m *Manager) afterRemoval(ctx context.Context, r Run, reason string, cancelJob bool) {
	if lr := m.localRun(r.ID); lr != nil {
		// Fetched by a worker here and waiting for a slot.
		lr.stop(errStopped)
	}
	if cancelJob && r.JobID != 0 {
		if err := m.queue.Cancel(ctx, r.JobID); err != nil {
			m.logger.WarnContext(ctx, "butler: cancel job", slog.Int64("job", r.JobID), slog.String("error", err.Error()))
		}
	}
	m.logger.InfoContext(ctx, "butler: run removed", slog.String("task", string(r.Task)), slog.Int64("run", r.ID), slog.String("reason", reason))
}

// remove ends a scheduled or queued run as skipped and takes its job out of
// the queue. It returns the run as removed, or false when the run was no
// longer waiting.
func (m *Manager) remove(ctx context.Context, r Run, reason string) (Run, bool, error) {
	removed, ok, err := m.finish(ctx, r, []RunState{StateScheduled, StateQueued}, Finish{
		Outcome: OutcomeSkipped, Reason: reason, EndedAt: m.now(), Progress: -1,
	})
	if err != nil {
		return Run{}, false, fmt.Errorf("remove run %d: %w", r.ID, err)
	}
	if !ok {
		return Run{}, false, nil
	}
	m.gate.forget(keyOf(r))
	m.afterRemoval(ctx, r, reason, true)
	return removed, true, nil
}

// rank orders states so that waiting runs come before running ones.
func rank(s RunState) int {
	if s == StateRunning {
		return 1
	}
	return 0
}

func (m *Manager) open() error {
	if m.runs.isClosed() {
		return Errorf(EUNAVAILABLE, "the server is shutting down")
	}
	return nil
}
