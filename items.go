package butler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/plexbutler/butler/internal/procwatch"
)

// A task whose work is many independent items (the files of the media
// index) does them as item jobs: its run hands the items out through an
// [ItemQueue], and the item workers of every server (in a cluster, of
// whichever server is free) do each one with the action's RunItem. Item
// work is bounded per server by the item workers' count (the media
// library's parallel setting), beside ButlerMaxConcurrentTasks, which
// bounds the runs: a run of an item task takes one task slot, its items
// none.
//
// What an item job promises:
//
//   - One item is worked by one worker at a time, cluster-wide, whichever
//     run queued it (item jobs are unique by item while unfinished).
//   - An item is done by the run that queued it only while that run is
//     running: a worker that takes an item of a run that has ended (stopped,
//     crashed, timed out) skips it, and the next run does it.
//   - What an item's work recorded stays recorded: a run cut short leaves
//     the rest for the next one, which goes on where it stopped; a server
//     that dies redoes at most the items it was working.

// ItemOutcome is how the work of one item ended.
type ItemOutcome string

// The outcomes of an item.
const (
	// ItemDone: the item's work was done and recorded.
	ItemDone ItemOutcome = "done"
	// ItemFailed: the item itself is at fault (a file that cannot be
	// read); the failure is recorded with the item, and the run goes on.
	ItemFailed ItemOutcome = "failed"
	// ItemSkipped: nothing was done, and nothing is wrong: the item changed
	// or went since it was queued, another run holds it, or its run was
	// told to stop.
	ItemSkipped ItemOutcome = "skipped"
	// ItemError: the work cannot be done at all (its program is missing,
	// the index cannot be written): the run ends failed with the reason.
	ItemError ItemOutcome = "error"
)

// ItemResult is what became of one item of a run.
type ItemResult struct {
	// Item is the item's id (a media item's id in the index).
	Item int64 `json:"item"`
	// Outcome is how its work ended; Reason says why, for all but done.
	Outcome ItemOutcome `json:"outcome"`
	Reason  string      `json:"reason,omitempty"`
	// Held is set on a skipped item that another run's job held when this
	// run queued it: the run may queue it again once that job is done.
	Held bool `json:"held,omitempty"`
	// RetryLater, set by ExecuteItem (with no Outcome), says that nothing
	// was done and the item's job is to be offered again shortly, here or
	// on another server (this one is silent): it is not a result of the
	// item.
	RetryLater bool `json:"-"`
	// Node is the server that worked it, and Elapsed how long its work
	// took there; both empty when no worker took it.
	Node    string        `json:"node,omitempty"`
	Elapsed time.Duration `json:"elapsed,omitempty"`
	// Paused is how long the worker, holding the item, waited for nobody
	// to be busy (BusyProbe) before its work; zero when it did not. The
	// run's pace leaves it out.
	Paused time.Duration `json:"paused,omitempty"`
	// Covered, on a done or failed item, is how many items of its task's
	// backlog (Backlogger) its work recorded, itself included, when that
	// is more than the item alone: a markers search records its whole
	// season block. Zero means one (every other item, and the results of
	// older servers). The run's pace counts these.
	Covered int `json:"covered,omitempty"`
}

// ItemAction is implemented by an action whose work is many independent
// items. Its Run queues the items through the run's ItemQueue (see
// [ItemReporter]) when the server offers one, and does them itself
// otherwise; RunItem does one item, on whichever server's worker took it.
//
// RunItem must return promptly once ctx is done (outcome skipped: the run
// was told to stop), and must itself check that the item still needs its
// work: it may have been done, changed or removed since it was queued.
type ItemAction interface {
	Action
	RunItem(ctx context.Context, item int64, log *slog.Logger) ItemResult
}

// ItemQueue hands one run's items to the item workers of every server.
// It is used by the run's action alone, from one goroutine.
type ItemQueue interface {
	// Add queues items. An item already queued and unfinished (by another
	// run) is not queued again: its result, skipped, is returned at once.
	Add(ctx context.Context, items []int64) ([]ItemResult, error)
	// Pending is how many of the items Add queued Wait has not yet
	// returned the results of.
	Pending() int
	// Wait waits until at least one queued item has finished, or ctx is
	// done (then it returns ctx's error), and returns the results of all
	// that finished since the last call. With nothing pending it returns at
	// once.
	Wait(ctx context.Context) ([]ItemResult, error)
	// Cancel takes the run's unfinished items out of the queue and tells
	// the workers holding some of them to stop, wherever they run; Wait
	// then reports them as they end.
	Cancel(ctx context.Context) error
}

// ItemStopWaiter is implemented by a run's ItemQueue that knows how long
// the run, once stopped, must wait at most for its items still being
// worked to end (after Cancel): in a cluster, a server that holds some and
// is frozen or has died ends them only when its group guard's lease runs
// out, and the run must not end stopped while their programs may live.
type ItemStopWaiter interface {
	// StopWait returns that bound; zero when the queue knows none.
	StopWait(ctx context.Context) time.Duration
}

// ItemReporter is implemented by the Reporter of a run. Items returns the
// run's item queue, or nil when this server's queue cannot share items
// (the action then does its items itself).
type ItemReporter interface {
	Items() ItemQueue
}

// ItemQueuer is implemented by a queue that can carry item jobs (package
// engine): ItemQueue returns a new item queue for a run.
type ItemQueuer interface {
	ItemQueue(r Run) ItemQueue
}

// ItemJob is one item job as a worker takes it.
type ItemJob struct {
	RunID int64
	Task  TaskName
	Item  int64
}

// ExecuteItem does one item job: the item of a running run, with its
// task's action (an [ItemAction]). An item of a run that is not running
// here or elsewhere (it ended, or is stopping) is skipped; one that comes
// while this server is stopping or silent (it has not written its
// heartbeat for FenceAfter) is given back (RetryLater), and so is one whose
// work this server's stop or fence cut short: the run it belongs to may be
// going on elsewhere, and another server does the item. One of a task this
// server does not offer as item work is an error. The Manager is the item
// executor of package engine.
func (m *Manager) ExecuteItem(ctx context.Context, j ItemJob) ItemResult {
	res := ItemResult{Item: j.Item, Outcome: ItemSkipped, Node: m.node}
	// The server's stop and its fence end the item's work, as they end its
	// runs (Stop waits for both), with a cause that gives the job back.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A server that is stopping, or silent past FenceAfter (the leader may
	// count it dead and release the item's job meanwhile), starts no
	// item's work: the job is given back to the queue, for a server that
	// is not (skipped, every item such a server fetched would be skipped,
	// fast). Checked first: nothing before the work may hold the job.
	leave, ok := m.runs.enterItem(cancel)
	if !ok {
		return ItemResult{Item: j.Item, Node: m.node, RetryLater: true, Reason: "the server is shutting down"}
	}
	defer leave()
	if silent, ok := m.silent(); ok {
		return ItemResult{Item: j.Item, Node: m.node, RetryLater: true,
			Reason: fmt.Sprintf("this server has not written its heartbeat for %s", silent.Round(time.Millisecond))}
	}
	// cut says whether this server's stop or fence told the item to stop,
	// and gives the job back if so.
	cut := func() (ItemResult, bool) {
		if cause := context.Cause(ctx); givesBack(cause) {
			return ItemResult{Item: j.Item, Node: m.node, RetryLater: true, Reason: "given back: " + cause.Error()}, true
		}
		return ItemResult{}, false
	}
	if m.guard != nil {
		// The programs the item starts are the group guard's to kill too,
		// should this server die or be frozen past its lease.
		ctx = procwatch.With(ctx, func(pgid int) (forget func()) {
			m.guard.Watch(pgid)
			return func() { m.guard.Forget(pgid) }
		})
	}
	t, ok := m.byName[j.Task]
	if !ok {
		res.Outcome, res.Reason = ItemError, fmt.Sprintf("task %s is not offered by server %s", j.Task, m.node)
		return res
	}
	ia, ok := t.Action.(ItemAction)
	if !ok {
		res.Outcome, res.Reason = ItemError, fmt.Sprintf("task %s does no item work on server %s", j.Task, m.node)
		return res
	}
	r, err := m.store.Run(ctx, j.RunID)
	if given, ok := cut(); ok {
		return given
	}
	switch {
	case ctx.Err() != nil:
		res.Reason = "its run was told to stop"
		return res
	case ErrorCode(err) == ENOTFOUND:
		res.Reason = "its run is gone from the history"
		return res
	case err != nil:
		// This server's database hiccup is no reason to fail a run that
		// may be another server's: the job goes back, for a server that
		// can read the run (or this one, a moment later).
		return ItemResult{Item: j.Item, Node: m.node, RetryLater: true, Reason: fmt.Sprintf("read run %d: %v", j.RunID, err)}
	case r.State != StateRunning:
		res.Reason = fmt.Sprintf("its run is %s", r.State)
		return res
	}
	log := m.logger.With(slog.String("task", string(j.Task)), slog.Int64("run", j.RunID), slog.Int64("item", j.Item))
	// Each server's item workers wait while people are busy; the run shows
	// it paused (its action waits between the items it queues).
	// How long they wait is told with the result, for the run's pace.
	var pausedAt time.Time
	paused := func(string) {
		if pausedAt.IsZero() {
			pausedAt = time.Now()
		}
	}
	if err := m.busy.waitIdle(ctx, paused, func() {}); err != nil {
		if given, ok := cut(); ok {
			return given
		}
		res.Reason = "its run was told to stop"
		return res
	}
	start := time.Now()
	out := safeRunItem(ctx, ia, j.Item, log)
	out.Item, out.Node, out.Elapsed = j.Item, m.node, time.Since(start)
	if !pausedAt.IsZero() {
		out.Paused = start.Sub(pausedAt)
	}
	if out.Outcome == "" {
		out.Outcome = ItemDone
	}
	if out.Outcome != ItemDone && out.Outcome != ItemFailed {
		// Cut short by this server's stop or fence, not by its run's: the
		// item is left undone, for another server.
		if given, ok := cut(); ok {
			return given
		}
	}
	return out
}

// safeRunItem runs one item, turning a panic into an error result.
func safeRunItem(ctx context.Context, a ItemAction, item int64, log *slog.Logger) (res ItemResult) {
	defer func() {
		if p := recover(); p != nil {
			res = ItemResult{Outcome: ItemError, Reason: fmt.Sprintf("the item's work panicked: %v", p)}
			log.Error("butler: item work panicked", slog.Any("panic", p))
		}
	}()
	return a.RunItem(ctx, item, log)
}

// Items returns the run's item queue (ItemReporter), made at the first
// call; nil when the server's queue cannot carry item jobs. It measures
// the run's pace (itemPace).
func (r *reporter) Items() ItemQueue {
	r.itemsOnce.Do(func() {
		if q, ok := r.m.queue.(ItemQueuer); ok {
			if iq := q.ItemQueue(r.lr.run); iq != nil {
				r.items = &pacedQueue{ItemQueue: iq, now: r.m.now, stopWait: r.m.itemStopWait}
			}
		}
	})
	if r.items == nil {
		return nil // not a nil *pacedQueue in a non-nil interface
	}
	return r.items
}

// closeItems closes the run's item queue, if it was made and can be
// closed (package engine's stops hearing of its jobs), and makes sure none
// is made afterwards: the run has ended.
func (r *reporter) closeItems() {
	r.itemsOnce.Do(func() {})
	if r.items == nil {
		return
	}
	if err := r.items.Close(); err != nil {
		r.m.logger.Warn("butler: close a run's item queue", slog.Int64("run", r.lr.run.ID), slog.String("error", err.Error()))
	}
}

// itemPace returns how fast the run did its items; zero when it queued
// none. Call it once the run's action has returned.
func (r *reporter) itemPace() ItemPace {
	if r.items == nil {
		return ItemPace{}
	}
	return r.items.pace()
}

// pacedQueue is a run's ItemQueue that measures the run's pace as its
// action hears of its items' ends: the items worked (done or failed, on
// whichever server; each as the items of the backlog it covered:
// ItemResult.Covered) and the wall time from the first Add to the newest
// result of a worked item, less the workers' pauses (pace). The run's end
// records it (Finish.Items) as its task's pace, which the plan reads, so
// that the plan never asks the queue (River's table of jobs, whose reads
// on SQLite hold the only writer).
type pacedQueue struct {
	ItemQueue
	now func() time.Time
	// stopWait is StopWait's answer (Manager.itemStopWait).
	stopWait func(ctx context.Context) time.Duration

	mu          sync.Mutex
	first, last time.Time
	worked      int
	// elapsed and paused are the sums of the worked items' Elapsed and
	// Paused: the share of the workers' time spent waiting for nobody to
	// be busy is left out of the wall time (pace).
	elapsed, paused time.Duration
}

// Add queues items; the first Add starts the run's wall time.
func (q *pacedQueue) Add(ctx context.Context, items []int64) ([]ItemResult, error) {
	q.mu.Lock()
	if q.first.IsZero() && len(items) > 0 {
		q.first = q.now()
	}
	q.mu.Unlock()
	res, err := q.ItemQueue.Add(ctx, items)
	q.count(res)
	return res, err
}

// Wait waits for results, and counts those of worked items.
func (q *pacedQueue) Wait(ctx context.Context) ([]ItemResult, error) {
	res, err := q.ItemQueue.Wait(ctx)
	q.count(res)
	return res, err
}

// StopWait returns how long the run, once stopped, waits at most for its
// items still being worked (ItemStopWaiter).
func (q *pacedQueue) StopWait(ctx context.Context) time.Duration {
	if q.stopWait == nil {
		return 0
	}
	return q.stopWait(ctx)
}

var _ ItemStopWaiter = (*pacedQueue)(nil)

// Close closes the queue it wraps, if that can be closed.
func (q *pacedQueue) Close() error {
	if c, ok := q.ItemQueue.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// count counts the worked items of res, which have just been heard of:
// each as the items of the backlog it covered.
func (q *pacedQueue) count(res []ItemResult) {
	n := 0
	var elapsed, paused time.Duration
	for _, r := range res {
		if r.Outcome == ItemDone || r.Outcome == ItemFailed {
			n += max(r.Covered, 1)
			elapsed += r.Elapsed
			paused += r.Paused
		}
	}
	if n == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.worked += n
	q.elapsed += elapsed
	q.paused += paused
	q.last = q.now()
}

// pace is the pace measured so far. Its wall time leaves out the pauses
// while someone was busy: of the time from the first Add to the last
// result, it keeps the share the workers spent working (their items'
// Elapsed) of the time they held the items (Elapsed and Paused). Each
// server's workers pause on their own (its busy probe). When every worker
// pauses at once (one server, or servers that watch the same media
// server), however many work at once, that share is the run's time minus
// its pauses: four workers paused for an hour of a two-hour run held
// their items eight hours, four of them working. When only some servers
// pause, it is an approximation that leaves out their share of the time
// though the others worked on: one server paused throughout beside one
// working throughout halves the time (the estimate is then too short by
// as much).
func (q *pacedQueue) pace() ItemPace {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.worked == 0 {
		return ItemPace{}
	}
	wall := q.last.Sub(q.first)
	if q.paused > 0 && q.elapsed > 0 {
		wall = time.Duration(float64(wall) * float64(q.elapsed) / float64(q.elapsed+q.paused))
	}
	return ItemPace{Items: q.worked, Wall: wall}
}

// Backlogger is implemented by an item action that can count the items it
// has left to do (the plan shows them).
type Backlogger interface {
	Backlog(ctx context.Context) (items int, err error)
}

// PlanItems is the item work an item task has left (PlanEntry.Items).
type PlanItems struct {
	// Left is how many items are left to do.
	Left int
	// Estimate is how long they would take at the pace of the task's
	// newest run that worked items (cluster-wide, its wall time per item:
	// TaskRecord.ItemPace); zero when no run has been measured.
	Estimate time.Duration
}

// backlogTTL is how long a counted backlog is shown before it is counted
// again: counting reads the whole media index's counts (tens of ms at
// 100,000 items), and the plan is read often. A run of the task that ends
// drops its count (forget). The estimate needs no recount: the plan
// reads the pace from the task's record, which the run's end wrote.
const backlogTTL = 30 * time.Second

// backlogs keeps the item tasks' counted backlogs for the plan. A plan
// counts a task's backlog itself only the first time (and after a run of
// the task ended); after that it shows the last count, and one older than
// backlogTTL is counted again in the background, from start to stop, so
// that no plan waits for it.
type backlogs struct {
	mu       sync.Mutex
	byTk     map[TaskName]countedBacklog
	counting map[TaskName]bool // counted in the background now
	gen      map[TaskName]int  // bumped by forget: a count begun before is dropped
	bg       context.Context   // from start to stop; nil: counts are the caller's
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the background counts
}

type countedBacklog struct {
	left int
	at   time.Time
}

// start lets stale counts be made in the background, with a context of
// ctx's values that stop cancels.
func (b *backlogs) start(ctx context.Context) {
	b.mu.Lock()
	b.bg, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	b.mu.Unlock()
}

// stop ends the background counts under way, waits for them, and makes no
// more: plans count for themselves again.
func (b *backlogs) stop() {
	b.mu.Lock()
	if b.cancel != nil {
		b.cancel()
	}
	b.bg, b.cancel = nil, nil
	b.mu.Unlock()
	b.wg.Wait()
}

// of returns the backlog of task t: its items left, counted at most
// backlogTTL ago, or older while it is counted again in the background,
// and their estimate at perItem, the task's recorded pace (zero: none);
// nil when t is not an item task that counts its backlog, or the count
// failed.
func (b *backlogs) of(ctx context.Context, t *Task, perItem time.Duration, now time.Time) *PlanItems {
	bl, ok := t.Action.(Backlogger)
	if !ok {
		return nil
	}
	b.mu.Lock()
	c, counted := b.byTk[t.Name]
	fresh := counted && now.Sub(c.at) < backlogTTL && !now.Before(c.at)
	if counted && !fresh && b.bg != nil {
		if !b.counting[t.Name] {
			b.recount(t, bl, now)
		}
		fresh = true // the last count is shown meanwhile
	}
	gen := b.gen[t.Name]
	b.mu.Unlock()
	if !fresh {
		left, err := bl.Backlog(ctx)
		if err != nil {
			return nil
		}
		c = countedBacklog{left: left, at: now}
		b.mu.Lock()
		b.keep(t.Name, gen, c)
		b.mu.Unlock()
	}
	return &PlanItems{Left: c.left, Estimate: time.Duration(c.left) * perItem}
}

// recount counts task t's backlog again in the background. b.mu is held.
func (b *backlogs) recount(t *Task, bl Backlogger, now time.Time) {
	if b.counting == nil {
		b.counting = map[TaskName]bool{}
	}
	b.counting[t.Name] = true
	bg, gen := b.bg, b.gen[t.Name]
	b.wg.Go(func() {
		left, err := bl.Backlog(bg)
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.counting, t.Name)
		if err == nil {
			b.keep(t.Name, gen, countedBacklog{left: left, at: now})
		}
	})
}

// keep records a count begun at generation gen of the task's backlog,
// unless forget came since. b.mu is held.
func (b *backlogs) keep(task TaskName, gen int, c countedBacklog) {
	if b.gen[task] != gen {
		return
	}
	if b.byTk == nil {
		b.byTk = map[TaskName]countedBacklog{}
	}
	b.byTk[task] = c
}

// forget drops task's counted backlog: a run of it ended. A count under
// way is not kept when it ends.
func (b *backlogs) forget(task TaskName) {
	b.mu.Lock()
	delete(b.byTk, task)
	if b.gen == nil {
		b.gen = map[TaskName]int{}
	}
	b.gen[task]++
	b.mu.Unlock()
}
