package butler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// ErrRequeue is returned by Execute when this server gave a queued run up
// without starting it (it is shutting down, or lost the database): the
// queue must offer the run again, here after a restart or on another server.
var ErrRequeue = errors.New("butler: the run was not started here; queue it again")

// ErrRetryLater is wrapped in an error of Execute that came before the run
// was started (the store could not be read or written, or this server has
// not written its heartbeat for FenceAfter): the run is still queued, and
// the queue must offer it again after a moment, here or on another server,
// not drop it.
var ErrRetryLater = errors.New("the run was not started; offer it again shortly")

// Causes of a run's context being cancelled.
var (
	errStopped      = errors.New("stopped by request")
	errWindowClosed = errors.New("the window closed")
	errTimedOut     = errors.New("the task's time limit passed")
	errShutdown     = errors.New("the server shut down")
)

func causeReason(cause error) string {
	if cause == nil {
		return ""
	}
	return cause.Error()
}

// localRun is a run that a worker of this node holds.
type localRun struct {
	run Run
	// ctx is the run's context, which stop cancels.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	title string
	log   *runLog

	mu          sync.Mutex
	running     bool
	stopping    bool   // told to stop; its work has not stopped yet
	marked      bool   // the store says it is stopping: the stop wrote it
	paused      string // why it waits for nobody to be busy; "" when it does not
	completed   bool   // its action's work ended by itself (CompletionReporter)
	process     ProcessGroup
	started     time.Time
	percent     int
	step        string
	summary     string
	lastSave    time.Time
	lastPublish time.Time
	// saveLater and publishLater carry the last progress of a burst to the
	// store and the subscribers once the throttle allows; ended stops them.
	saveLater    *time.Timer
	publishLater *time.Timer
	ended        bool
	// final is the run as this server recorded its end; zero until then,
	// and when another server ended it.
	final Run
}

// finalRun returns the run as this server recorded its end, once it has.
func (lr *localRun) finalRun() (Run, bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.final, lr.final.ID != 0
}

// activity returns the run as an Activity, if it is running.
func (lr *localRun) activity() (Activity, bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.activityLocked()
}

// activityLocked is activity with lr.mu held.
func (lr *localRun) activityLocked() (Activity, bool) {
	if !lr.running {
		return Activity{}, false
	}
	return Activity{
		UUID: lr.run.UUID, RunID: lr.run.ID, Task: lr.run.Task, Title: lr.title, Step: lr.step,
		Progress: lr.percent, Trigger: lr.run.Trigger, Node: lr.run.Node, Started: lr.started,
		Stopping: lr.stopping, Paused: lr.paused,
	}, true
}

// stop tells the run's work to stop; cause says why.
func (lr *localRun) stop(cause error) { lr.cancel(cause) }

// markedStopping notes that the store says the run is stopping already.
func (lr *localRun) markedStopping() {
	lr.mu.Lock()
	lr.marked = true
	lr.mu.Unlock()
}

func (lr *localRun) progress() (int, string) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.percent, lr.step
}

// givesBack reports whether a run told to stop for cause, before its
// action began, goes back to the queue: the server is shutting down, or
// fenced itself (another server, or the next start, runs it).
func givesBack(cause error) bool {
	return errors.Is(cause, errShutdown) || isFence(cause)
}

// notOffered handles queued run r of a task this server does not offer.
// In a cluster it is handed back, for a server that offers the task, for
// HandBackFor (see there); then, and at once on a single server, it ends
// failed.
func (m *Manager) notOffered(ctx context.Context, r Run) error {
	reason := "the task is no longer offered by this server"
	if c := m.cluster; c != nil {
		if d := c.handBacks.since(r.ID, m.now()); d < HandBackFor {
			return fmt.Errorf("run %d: this server (%s) does not offer the task %s; handed back for a server that does: %w", r.ID, m.node, r.Task, ErrRetryLater)
		}
		reason = fmt.Sprintf("the task is not offered by server %s, and no server that offers it took the run within %s", m.node, HandBackFor)
	}
	_, _, err := m.finish(ctx, r, []RunState{StateQueued}, Finish{Outcome: OutcomeFailed, Reason: reason, EndedAt: m.now(), Progress: -1})
	if err != nil {
		return fmt.Errorf("end run %d of a task not offered: %w; %w", r.ID, err, ErrRetryLater)
	}
	if c := m.cluster; c != nil {
		c.handBacks.forget(r.ID)
	}
	return nil
}

// Execute runs one queued run: the queue's worker calls it with the run's id.
// It waits for a slot when the run is in the maintenance queue, marks it
// running, applies the task's time limit, and stores how it ended. It returns
// nil when the run was handled (whatever its outcome), and an error when the
// store failed or the run was not started here: ErrRequeue and
// ErrRetryLater say that it is still queued (ErrRetryLater too while this
// server is silent: see Manager.silent).
func (m *Manager) Execute(ctx context.Context, runID int64) error {
	if !m.runs.enter() {
		return ErrRequeue
	}
	defer m.runs.leave()

	r, err := m.store.Run(ctx, runID)
	if ErrorCode(err) == ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read run %d: %w; %w", runID, err, ErrRetryLater)
	}
	if r.State != StateQueued {
		m.gate.forget(keyOf(r))
		return nil // removed, or already handled
	}
	t, ok := m.byName[r.Task]
	if !ok {
		return m.notOffered(ctx, r)
	}

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lr := &localRun{run: r, ctx: rctx, cancel: cancel, done: make(chan struct{}), percent: -1, title: t.Title, log: &runLog{}}
	defer close(lr.done)
	if !m.runs.add(lr) {
		// Stop began while this run was being read: it stays queued.
		return ErrRequeue
	}
	defer m.runs.remove(r.ID)

	if r.Queue == QueueMaintenance {
		if err := m.gate.acquire(rctx, keyOf(r)); err != nil {
			if errors.Is(err, errShutdown) || isFence(err) {
				return ErrRequeue // it never started: another server, or the next start, takes it
			}
			return nil // removed while waiting; the stop recorded it
		}
		defer m.gate.release()
	}
	// Told to shut down, or fenced, while it waited (the gate's slot and
	// the stop may come at once): it never started, and goes back to the
	// queue.
	if givesBack(context.Cause(rctx)) {
		return ErrRequeue
	}
	// A server silent past FenceAfter starts nothing: the others may count
	// it dead before the run ends, and start its task again. The run was
	// registered before this check, so a fence that comes after it stops
	// the run.
	if silent, ok := m.silent(); ok {
		return fmt.Errorf("run %d not started: this server has not written its heartbeat for %s: %w",
			r.ID, silent.Round(time.Millisecond), ErrRetryLater)
	}
	started := m.now()
	// A run of a window never starts outside it: its window may have
	// closed while it waited (the server was down then, and the queue
	// hands its job over at the next start; or the clock stepped past the
	// close before the planner, which sleeps on the monotonic clock, came
	// to skip it), or no window may hold it any more (the hours changed:
	// runWindow).
	if reason := windowEnded(m.Settings().Window(), r, started); reason != "" {
		if _, _, err := m.finish(ctx, r, []RunState{StateQueued}, Finish{
			Outcome: OutcomeSkipped, Reason: reason, EndedAt: started, Progress: -1}); err != nil {
			return fmt.Errorf("skip run %d of a window that ended: %w; %w", r.ID, err, ErrRetryLater)
		}
		m.logger.InfoContext(ctx, "butler: run removed", slog.String("task", string(r.Task)), slog.Int64("run", r.ID), slog.String("reason", reason))
		return nil
	}
	// Not cut off by the job's cancellation (a stop): a statement cut off
	// may still have been committed, and this server would then hold a
	// running run that nobody ends.
	ok, err = m.store.StartRun(context.WithoutCancel(ctx), r.ID, m.node, started)
	if err != nil {
		// Whether the start was recorded is unknown (the answer was lost):
		// end the run if it is running, and give the job back; a run still
		// queued is offered again.
		r.StartedAt = started
		if _, _, ferr := m.finishDurably(ctx, r, Finish{Outcome: OutcomeInterrupted, EndedAt: m.now(), Progress: -1,
			Reason: "its start could not be recorded: " + err.Error()}); ferr != nil {
			// Stopping: the run is queued, or running here and ended by
			// the next start's recovery (or, in a cluster, by the leader).
			return fmt.Errorf("start run %d: %w; then: %w; %w", r.ID, err, ferr, ErrRetryLater)
		}
		return ErrRequeue
	}
	if !ok {
		return nil
	}
	// The action begins once Start has had the Recoverers tidy up after the
	// previous process (a backup's partial files): the queue may hand runs
	// to the workers before Start. Recorded running meanwhile, the run is
	// this process's: Start's recovery leaves it alone.
	select {
	case <-m.recovered:
	case <-rctx.Done():
	}
	if givesBack(context.Cause(rctx)) {
		// Told to shut down, or fenced, while its start was being recorded
		// (the store's only writer may be busy for a while), or while it
		// waited for Start: nothing has run, so the run goes back to the
		// queue, as it was, rather than ending interrupted having done
		// nothing. Should that fail, it ends interrupted below.
		if back, err := m.store.UnstartRun(context.WithoutCancel(ctx), r.ID, m.node, started); err == nil && back {
			return ErrRequeue
		}
	}
	logger := m.logger.With(slog.String("task", string(r.Task)), slog.Int64("run", r.ID))
	logger.InfoContext(ctx, "butler: run started", slog.String("trigger", string(r.Trigger)))
	lr.mu.Lock()
	lr.running, lr.started, lr.run.Node = true, started, m.node
	// Progress is first saved a second into the run: a short run's only
	// write of its progress is its end (FinishRun).
	lr.lastSave = started
	lr.mu.Unlock()
	a, _ := lr.activity()
	m.publish(Event{Type: EventStarted, Activity: a})

	tctx, tcancel := context.WithTimeoutCause(rctx, t.TimeLimit, errTimedOut)
	defer tcancel()
	rep := &reporter{m: m, lr: lr, ctx: tctx, logger: slog.New(&logHandler{next: logger.Handler(), log: lr.log})}
	// Once the run is told to stop, whatever the cause, it is stopping
	// until its action returns.
	actionDone := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-tctx.Done():
		case <-actionDone:
			if tctx.Err() == nil {
				return
			}
			// Told to stop as it returned: it was stopping all the same.
		}
		m.markStopping(context.WithoutCancel(ctx), lr, reasonOf(context.Cause(tctx), t.TimeLimit))
	})
	var runErr error
	if tctx.Err() == nil {
		// Not begun when told to stop before it began (the stop, or a
		// shutdown whose give-back failed): it ends by its cause below.
		runErr = safeRun(tctx, t.Action, rep)
	}
	if m.guard != nil {
		lr.mu.Lock()
		pg := lr.process
		lr.mu.Unlock()
		if !pg.IsZero() {
			m.guard.Forget(pg.PGID)
		}
	}
	close(actionDone)
	watcher.Wait()
	rep.closeItems()
	lr.end()

	f := Finish{EndedAt: m.now(), Log: lr.log.String(), Items: rep.itemPace()}
	f.Progress, f.Step = lr.progress()
	lr.mu.Lock()
	f.Summary = lr.summary
	lr.mu.Unlock()
	cause := context.Cause(tctx)
	lr.mu.Lock()
	completed := lr.completed && runErr == nil
	lr.mu.Unlock()
	switch {
	case cause != nil && !completed:
		f.Outcome, f.Reason = outcomeOf(cause), reasonOf(cause, t.TimeLimit)
		lr.mu.Lock()
		ownStop := lr.marked // this server recorded the stop, and why
		lr.mu.Unlock()
		if !ownStop && stopFromAnywhere(cause) {
			// The stop came from another server, which recorded why (a
			// window that closed) with the run: that is the reason.
			if cur, err := m.store.Run(context.WithoutCancel(ctx), r.ID); err == nil && cur.State == StateStopping && cur.Reason != "" {
				f.Reason = cur.Reason
			}
		}
		if runErr != nil && !errors.Is(runErr, cause) && runErr.Error() != tctx.Err().Error() {
			// How the work stopped (a command that needed SIGKILL says so).
			f.Error = runErr.Error()
			f.Reason += "; " + runErr.Error()
		}
	case errors.As(runErr, new(*NothingYet)):
		// Succeeded, with nothing to work on: not the task's success of
		// the day (no SuccessDay), so it stays due.
		f.Outcome, f.Reason = OutcomeSucceeded, "nothing to work on yet: "+runErr.Error()
		if f.Progress >= 0 {
			f.Progress = 100
		}
	case runErr != nil:
		f.Outcome, f.Reason, f.Error = OutcomeFailed, "the task failed", runErr.Error()
	default:
		f.Outcome = OutcomeSucceeded
		if f.Progress >= 0 {
			f.Progress = 100
		}
		f.SuccessDay = m.Settings().Window().Day(started)
	}
	r.StartedAt = started
	// The task's counted backlog is dropped before the end is written: a
	// plan read once the run is seen ended counts what the run left.
	m.backlogs.forget(r.Task)
	ended, ours, err := m.finishDurably(ctx, r, f)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	a, _ = lr.activity()
	a.Progress, a.Step, a.Outcome, a.Stopping = f.Progress, f.Step, f.Outcome, false
	if !ours {
		// Another server ended it first (it counted this one dead).
		if final, err := m.store.Run(context.WithoutCancel(ctx), r.ID); err == nil {
			a.Outcome = final.Outcome
			f.Outcome = final.Outcome
		}
	}
	lr.mu.Lock()
	lr.running = false
	if ours {
		lr.final = ended
	}
	lr.mu.Unlock()
	m.publish(Event{Type: EventEnded, Activity: a})
	logger.InfoContext(ctx, "butler: run ended", slog.String("outcome", string(f.Outcome)),
		slog.Duration("elapsed", f.EndedAt.Sub(started)), slog.String("summary", f.Summary), slog.String("error", f.Error))
	return nil
}

// markStopping records that a run was told to stop and tells the
// subscribers; the run stays stopping until its action returns.
func (m *Manager) markStopping(ctx context.Context, lr *localRun, reason string) {
	lr.mu.Lock()
	already, marked := lr.stopping, lr.marked
	lr.stopping = true
	lr.mu.Unlock()
	if already {
		return
	}
	if !marked { // else the stop recorded it (beginStop)
		if _, err := m.store.MarkStopping(ctx, lr.run.ID, reason); err != nil {
			m.logger.WarnContext(ctx, "butler: record that a run is stopping", slog.Int64("run", lr.run.ID), slog.String("error", err.Error()))
		}
	}
	if a, ok := lr.activity(); ok {
		m.publish(Event{Type: EventUpdated, Activity: a})
	}
}

// finishRetryMax bounds the wait between two tries to record a run's end.
const finishRetryMax = 5 * time.Second

// finishDurably records how a running or stopping run ended. A store that
// cannot write (disk full, read-only, unreachable) is tried again, with
// backoff, until it can or the manager stops: a run's end is never lost
// while the server lives, and the run stays running or stopping — so that
// its task is not started again — until it is recorded. When the manager
// stops first, the run is left for the next start, which ends it
// interrupted.
func (m *Manager) finishDurably(ctx context.Context, r Run, f Finish) (Run, bool, error) {
	// Only while this server holds it: a start whose answer was lost may
	// not have been committed, and the run may have been started
	// elsewhere since.
	f.Node = m.node
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ended, ok, err := m.finish(context.WithoutCancel(ctx), r, []RunState{StateRunning, StateStopping}, f)
		if err == nil {
			if attempt > 1 {
				m.logger.InfoContext(ctx, "butler: recorded the end of a run after the store could write again",
					slog.Int64("run", r.ID), slog.Int("attempts", attempt))
			}
			return ended, ok, nil
		}
		if attempt == 1 {
			m.logger.ErrorContext(ctx, "butler: cannot record the end of a run; trying again until the store can write",
				slog.Int64("run", r.ID), slog.String("error", err.Error()))
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-m.runs.done():
			timer.Stop()
			return Run{}, false, err
		}
		wait = min(wait*2, finishRetryMax)
	}
}

func reasonOf(cause error, limit time.Duration) string {
	switch {
	case errors.Is(cause, errTimedOut):
		return fmt.Sprintf("the task's time limit (%s) passed", limit)
	case errors.Is(cause, errStopped), errors.Is(cause, errWindowClosed), errors.Is(cause, errShutdown):
		return cause.Error()
	case errors.Is(cause, errFenced):
		return "this server lost the database, and stopped its runs so that no other server runs them twice"
	case errors.Is(cause, errFrozen):
		return "this server was silent (stopped, paused, or blocked) past its group guard's lease, which killed its commands; it stopped its runs so that no other server runs them twice"
	case errors.Is(cause, errTaken):
		return "a server started later runs under this server's name (give each server its own --node); this one stopped its runs so that none runs twice"
	case errors.Is(cause, errGivenUp):
		return "the other servers counted this server dead while it was silent (stopped, paused or suspended) and ended its runs; it stopped them so that none runs twice"
	default:
		// The queue cancelled the job: a stop on another node.
		return "stopped from another node"
	}
}

// stopFromAnywhere reports whether cause is a stop that any server may
// have made (a request, a window's end), not one of this server's own (a
// time limit, a shutdown, a fence).
func stopFromAnywhere(cause error) bool {
	return !errors.Is(cause, errTimedOut) && !errors.Is(cause, errShutdown) && !isFence(cause)
}

func outcomeOf(cause error) Outcome {
	switch {
	case errors.Is(cause, errTimedOut):
		return OutcomeTimedOut
	case errors.Is(cause, errShutdown), isFence(cause):
		return OutcomeInterrupted
	default:
		return OutcomeStopped
	}
}

// safeRun runs the action and turns a panic into an error, so that one bad
// task cannot take the server down.
func safeRun(ctx context.Context, a Action, r Reporter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the task panicked: %v", p)
		}
	}()
	return a.Run(ctx, r)
}

// publishEvery is the least time between two updated events of one run.
const publishEvery = 250 * time.Millisecond

// reporter is the Reporter a run's action sees.
type reporter struct {
	m  *Manager
	lr *localRun
	// ctx is the run's: its writes end with the run, and carry its values.
	ctx    context.Context
	logger *slog.Logger

	itemsOnce sync.Once
	items     *pacedQueue // see Items
}

// Settings returns the server's settings (SettingsReporter).
func (r *reporter) Settings() Settings { return r.m.Settings() }

// AnnounceUpdate tells the server's clients of a newer version
// (UpdateAnnouncer).
func (r *reporter) AnnounceUpdate(u Update) { r.m.AnnounceUpdate(u) }

// saveTimeout bounds a progress save, which the task's own call waits for.
const saveTimeout = 5 * time.Second

func (r *reporter) Progress(percent int, step string) {
	if percent < -1 {
		percent = -1
	}
	if percent > 100 {
		percent = 100
	}
	now := r.m.now()
	lr := r.lr
	lr.mu.Lock()
	lr.percent, lr.step = percent, step
	// Other nodes read progress from the store: at most once a second,
	// and the last of a burst once the second is over.
	save := now.Sub(lr.lastSave) >= saveEvery
	if save {
		lr.lastSave = now
	} else if lr.saveLater == nil && !lr.ended {
		lr.saveLater = time.AfterFunc(lr.lastSave.Add(saveEvery).Sub(now), r.saveNow)
	}
	publish := lr.running && now.Sub(lr.lastPublish) >= publishEvery
	if publish {
		lr.lastPublish = now
		a, _ := lr.activityLocked()
		r.m.publish(Event{Type: EventUpdated, Activity: a})
	} else if lr.running && lr.publishLater == nil && !lr.ended {
		lr.publishLater = time.AfterFunc(lr.lastPublish.Add(publishEvery).Sub(now), r.publishNow)
	}
	lr.mu.Unlock()
	if save {
		r.save(percent, step)
	}
}

// saveEvery is the least time between two saves of a run's progress.
const saveEvery = time.Second

func (r *reporter) save(percent int, step string) {
	// A save cut off by the run's end loses nothing: the end records the
	// last progress.
	ctx, cancel := context.WithTimeout(r.ctx, saveTimeout)
	defer cancel()
	if err := r.m.store.SaveProgress(ctx, r.lr.run.ID, percent, step); err != nil && r.ctx.Err() == nil {
		r.logger.Warn("butler: save progress", slog.String("error", err.Error()))
	}
}

// saveNow saves the run's latest progress (the saveLater timer).
func (r *reporter) saveNow() {
	lr := r.lr
	lr.mu.Lock()
	lr.saveLater = nil
	if lr.ended {
		lr.mu.Unlock()
		return
	}
	lr.lastSave = r.m.now()
	percent, step := lr.percent, lr.step
	lr.mu.Unlock()
	r.save(percent, step)
}

// publishNow publishes the run's latest progress (the publishLater timer).
// It publishes under the run's lock, so that it cannot follow the run's
// ended event.
func (r *reporter) publishNow() {
	lr := r.lr
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.publishLater = nil
	if lr.ended || !lr.running {
		return
	}
	lr.lastPublish = r.m.now()
	a, _ := lr.activityLocked()
	r.m.publish(Event{Type: EventUpdated, Activity: a})
}

// end stops the run's pending saves and publications: its end carries its
// last progress.
func (lr *localRun) end() {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.ended = true
	if lr.saveLater != nil {
		lr.saveLater.Stop()
		lr.saveLater = nil
	}
	if lr.publishLater != nil {
		lr.publishLater.Stop()
		lr.publishLater = nil
	}
}

// ProcessStarted records the process group the run's action started
// (ProcessReporter).
func (r *reporter) ProcessStarted(p ProcessGroup) error {
	r.lr.mu.Lock()
	before := r.lr.process
	r.lr.process = p
	r.lr.mu.Unlock()
	if r.m.guard != nil {
		if !before.IsZero() && before.PGID != p.PGID {
			r.m.guard.Forget(before.PGID) // it ended before this one began
		}
		r.m.guard.Watch(p.PGID)
	}
	// Not cut off by a stop: the group must be on record for as long as it
	// may live.
	return r.m.store.SetRunProcess(context.WithoutCancel(r.ctx), r.lr.run.ID, p)
}

// Completed records that the action's work ended by itself, in full,
// whatever stop came meanwhile (CompletionReporter).
func (r *reporter) Completed() {
	r.lr.mu.Lock()
	r.lr.completed = true
	r.lr.mu.Unlock()
}

func (r *reporter) Summary(text string) {
	r.lr.mu.Lock()
	r.lr.summary = text
	r.lr.mu.Unlock()
}

func (r *reporter) Logger() *slog.Logger { return r.logger }

// gate lets at most limit maintenance runs work at once on this node, in the
// order they were queued. Runs this node queued are expected: a run that
// arrives at the gate does not overtake an expected run queued before it
// (their workers may reach the gate in any order), unless that run has not
// arrived within expectFor (another server fetched it).
type gate struct {
	mu       sync.Mutex
	limit    int
	busy     int
	waiting  []*gateWaiter
	expected map[gateKey]time.Time // key -> when it stops being waited for
	timer    *time.Timer
	now      func() time.Time // the Manager's clock
}

// expectFor is how long the gate keeps a place for an expected run.
const expectFor = time.Second

// gateKey orders runs at the gate: by when they were queued, then by id.
// The instant is kept as nanoseconds: a time.Time read back from the store
// has no monotonic clock reading and would not equal, as a map key, the one
// the run was queued with.
type gateKey struct {
	at int64 // ScheduledAt, Unix nanoseconds
	id int64
}

// keyOf returns the gate key of a run.
func keyOf(r Run) gateKey { return gateKey{at: r.ScheduledAt.UnixNano(), id: r.ID} }

func (k gateKey) before(o gateKey) bool {
	if k.at != o.at {
		return k.at < o.at
	}
	return k.id < o.id
}

type gateWaiter struct {
	key   gateKey
	ready chan struct{}
}

func newGate(limit int, now func() time.Time) *gate {
	return &gate{limit: max(limit, 1), expected: map[gateKey]time.Time{}, now: now}
}

// expect keeps a place for a run this node has just queued.
func (g *gate) expect(k gateKey) {
	g.mu.Lock()
	g.expected[k] = g.now().Add(expectFor)
	g.mu.Unlock()
}

// forget drops the places of runs that will not come (removed, or
// handled), and looks at the waiting runs once for them all.
func (g *gate) forget(ks ...gateKey) {
	g.mu.Lock()
	for _, k := range ks {
		delete(g.expected, k)
	}
	g.dispatch()
	g.mu.Unlock()
}

// forgetRun drops the place of run id, if it has one: another server
// started it (the run's queued time, the rest of its key, is not told).
func (g *gate) forgetRun(id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.expected {
		if k.id == id {
			delete(g.expected, k)
			g.dispatch()
			return
		}
	}
}

func (g *gate) acquire(ctx context.Context, k gateKey) error {
	w := &gateWaiter{key: k, ready: make(chan struct{})}
	g.mu.Lock()
	delete(g.expected, k)
	i := sort.Search(len(g.waiting), func(i int) bool { return k.before(g.waiting[i].key) })
	g.waiting = append(g.waiting, nil)
	copy(g.waiting[i+1:], g.waiting[i:])
	g.waiting[i] = w
	g.dispatch()
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, x := range g.waiting {
			if x == w {
				g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
				g.dispatch()
				return context.Cause(ctx)
			}
		}
		// Granted as we gave up: hand the slot on.
		g.busy--
		g.dispatch()
		return context.Cause(ctx)
	}
}

func (g *gate) release() {
	g.mu.Lock()
	g.busy--
	g.dispatch()
	g.mu.Unlock()
}

func (g *gate) setLimit(n int) {
	g.mu.Lock()
	g.limit = max(n, 1)
	g.dispatch()
	g.mu.Unlock()
}

// dispatch grants slots in order; g.mu is held.
func (g *gate) dispatch() {
	now := g.now()
	var next time.Time
	for k, until := range g.expected {
		if !now.Before(until) {
			delete(g.expected, k)
		} else if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	for g.busy < g.limit && len(g.waiting) > 0 {
		w := g.waiting[0]
		blocked := false
		for k := range g.expected {
			if k.before(w.key) {
				blocked = true
				break
			}
		}
		if blocked {
			break
		}
		g.waiting = g.waiting[1:]
		g.busy++
		close(w.ready)
	}
	// Look again when the earliest place expires, if anyone still waits.
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if len(g.waiting) > 0 && !next.IsZero() {
		g.timer = time.AfterFunc(next.Sub(now), func() {
			g.mu.Lock()
			g.dispatch()
			g.mu.Unlock()
		})
	}
}
