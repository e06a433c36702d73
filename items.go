package butler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
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
	// Node is the server that worked it, and Elapsed how long its work
	// took there; both empty when no worker took it.
	Node    string        `json:"node,omitempty"`
	Elapsed time.Duration `json:"elapsed,omitempty"`
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
// here or elsewhere (it ended, or is stopping) is skipped, as is one of a
// task this server does not offer as item work. The Manager is the item
// executor of package engine.
func (m *Manager) ExecuteItem(ctx context.Context, j ItemJob) ItemResult {
	res := ItemResult{Item: j.Item, Outcome: ItemSkipped, Node: m.node}
	if !m.runs.enter() {
		res.Reason = "the server is shutting down"
		return res
	}
	defer m.runs.leave()
	// The server's stop ends the item's work, as it ends its runs: Stop
	// waits for both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.runs.done():
			cancel()
		case <-ctx.Done():
		}
	}()
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
	switch {
	case ctx.Err() != nil:
		res.Reason = "its run was told to stop"
		return res
	case ErrorCode(err) == ENOTFOUND:
		res.Reason = "its run is gone from the history"
		return res
	case err != nil:
		res.Outcome, res.Reason = ItemError, fmt.Sprintf("read run %d: %v", j.RunID, err)
		return res
	case r.State != StateRunning:
		res.Reason = fmt.Sprintf("its run is %s", r.State)
		return res
	}
	log := m.logger.With(slog.String("task", string(j.Task)), slog.Int64("run", j.RunID), slog.Int64("item", j.Item))
	// Each server's item workers wait while people are busy; the run shows
	// it paused (its action waits between the items it queues).
	if err := m.busy.waitIdle(ctx, func(string) {}, func() {}); err != nil {
		res.Reason = "its run was told to stop"
		return res
	}
	start := time.Now()
	out := safeRunItem(ctx, ia, j.Item, log)
	out.Item, out.Node, out.Elapsed = j.Item, m.node, time.Since(start)
	if out.Outcome == "" {
		out.Outcome = ItemDone
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
// call; nil when the server's queue cannot carry item jobs.
func (r *reporter) Items() ItemQueue {
	r.itemsOnce.Do(func() {
		if q, ok := r.m.queue.(ItemQueuer); ok {
			r.items = q.ItemQueue(r.lr.run)
		}
	})
	return r.items
}

// closeItems closes the run's item queue, if it was made and can be
// closed (package engine's stops hearing of its jobs), and makes sure none
// is made afterwards: the run has ended.
func (r *reporter) closeItems() {
	r.itemsOnce.Do(func() {})
	if c, ok := r.items.(io.Closer); ok {
		if err := c.Close(); err != nil {
			r.m.logger.Warn("butler: close a run's item queue", slog.Int64("run", r.lr.run.ID), slog.String("error", err.Error()))
		}
	}
}

// Backlogger is implemented by an item action that can count the items it
// has left to do (the plan shows them).
type Backlogger interface {
	Backlog(ctx context.Context) (items int, err error)
}

// ItemRater is implemented by a queue that measures how fast a task's
// items are done (package engine: from the newest run's finished item
// jobs, cluster-wide). ok is false when nothing was measured yet.
type ItemRater interface {
	ItemPace(ctx context.Context, task TaskName) (perItem time.Duration, ok bool, err error)
}

// PlanItems is the item work an item task has left (PlanEntry.Items).
type PlanItems struct {
	// Left is how many items are left to do.
	Left int
	// Estimate is how long they would take at the pace of the task's last
	// run (cluster-wide, its items per second of wall time); zero when no
	// run has been measured.
	Estimate time.Duration
}

// backlogTTL is how long a counted backlog is shown before it is counted
// again: counting reads the whole media index's counts (tens of ms at
// 100,000 items), and the plan is read often.
const backlogTTL = 30 * time.Second

// backlogNoPaceTTL is backlogTTL for a count without an estimate while
// the queue measures one: right after a run of the task ended, its queue
// may not have recorded the run's items yet (River records finished jobs
// in batches, up to 250 ms later), and the plan would show no estimate for
// backlogTTL.
const backlogNoPaceTTL = time.Second

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
	items PlanItems
	at    time.Time
	ttl   time.Duration // backlogTTL, or backlogNoPaceTTL
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

// of returns the backlog of task t: counted at most backlogTTL ago, or
// older while it is counted again in the background; nil when t is not an
// item task that counts its backlog, or the count failed.
func (b *backlogs) of(ctx context.Context, t *Task, q Queue, now time.Time) *PlanItems {
	bl, ok := t.Action.(Backlogger)
	if !ok {
		return nil
	}
	b.mu.Lock()
	c, counted := b.byTk[t.Name]
	fresh := counted && now.Sub(c.at) < c.ttl && !now.Before(c.at)
	if counted && !fresh && b.bg != nil {
		if !b.counting[t.Name] {
			b.recount(t, bl, q, now)
		}
		fresh = true // the last count is shown meanwhile
	}
	gen := b.gen[t.Name]
	b.mu.Unlock()
	if fresh {
		items := c.items
		return &items
	}
	items, ok := countBacklog(ctx, t, bl, q)
	if !ok {
		return nil
	}
	b.mu.Lock()
	b.keep(t.Name, gen, countedAt(items, q, now))
	b.mu.Unlock()
	return &items
}

// recount counts task t's backlog again in the background. b.mu is held.
func (b *backlogs) recount(t *Task, bl Backlogger, q Queue, now time.Time) {
	if b.counting == nil {
		b.counting = map[TaskName]bool{}
	}
	b.counting[t.Name] = true
	bg, gen := b.bg, b.gen[t.Name]
	b.wg.Go(func() {
		items, ok := countBacklog(bg, t, bl, q)
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.counting, t.Name)
		if ok {
			b.keep(t.Name, gen, countedAt(items, q, now))
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

// countedAt is a count made at now, to be shown for backlogTTL, or for
// backlogNoPaceTTL when items are left, q measures a pace and gave none.
func countedAt(items PlanItems, q Queue, now time.Time) countedBacklog {
	ttl := backlogTTL
	if _, rates := q.(ItemRater); rates && items.Left > 0 && items.Estimate == 0 {
		ttl = backlogNoPaceTTL
	}
	return countedBacklog{items: items, at: now, ttl: ttl}
}

// countBacklog counts task t's items left and estimates how long they
// would take; ok is false when the count failed.
func countBacklog(ctx context.Context, t *Task, bl Backlogger, q Queue) (PlanItems, bool) {
	left, err := bl.Backlog(ctx)
	if err != nil {
		return PlanItems{}, false
	}
	items := PlanItems{Left: left}
	if r, ok := q.(ItemRater); ok && left > 0 {
		if pace, ok, err := r.ItemPace(ctx, t.Name); err == nil && ok {
			items.Estimate = time.Duration(left) * pace
		}
	}
	return items, true
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
