package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	butler "github.com/plexbutler/butler"
)

// itemRun is one run of a task over media items (the media analysis, the
// media outputs): it hands the items to the item workers of every server
// when the run has an item queue, and works them itself, parallel at a
// time, otherwise; it counts their outcomes, reports progress, and ends
// with a summary.
type itemRun struct {
	reporter butler.Reporter
	log      *slog.Logger
	parallel int
	what     string // "analysed", "made": the summary's verb
	total    int    // items to do, when known (for the percentage)
	// unit names the items it queues in the summary and the progress
	// ("item", "items" when zero); covers, when set, names the items of
	// the task's backlog that its done items covered (ItemResult.Covered:
	// a season block's episodes), which the summary counts too.
	unit, covers noun

	// pages gives send the items to do, a page at a time, until it returns
	// (nil when there are no more).
	pages func(ctx context.Context, send func(butler.MediaItem) error) error
	// one works one item here (when the run has no item queue).
	one func(ctx context.Context, log *slog.Logger, it butler.MediaItem) butler.ItemResult

	cancelAll context.CancelFunc
	fatalOnce sync.Once

	mu                    sync.Mutex
	done, failed, skipped int
	covered               int // the backlog items the done ones covered
	firstFailure          error
	lastReport            time.Time
	fatal                 error
	held                  []int64 // items another run's job held when queued
}

// run works the items and returns the run's error: nil when every item
// was handled, the first fatal item error, or ctx's when the run was told
// to stop. The summary and the final progress are reported.
func (w *itemRun) run(ctx context.Context) error {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.cancelAll = cancel
	var feedErr error
	if q := itemQueueOf(w.reporter); q != nil {
		feedErr = w.shared(workCtx, q)
	} else {
		items := make(chan butler.MediaItem)
		var workers sync.WaitGroup
		for range max(w.parallel, 1) {
			workers.Go(func() {
				for it := range items {
					w.account(workCtx, w.one(workCtx, w.log, it))
				}
			})
		}
		feedErr = w.feed(workCtx, func(it butler.MediaItem) error {
			select {
			case items <- it:
				return nil
			case <-workCtx.Done():
				return workCtx.Err()
			}
		})
		close(items)
		workers.Wait()
	}

	summary := w.what + " " + w.unitOf(w.done)
	if w.covers != (noun{}) {
		summary += " (" + w.covers.of(w.covered) + ")"
	}
	summary += fmt.Sprintf(", %d failed, %d skipped", w.failed, w.skipped)
	if w.firstFailure != nil {
		summary += "; the first failure: " + w.firstFailure.Error()
	}
	w.reporter.Summary(summary)
	switch {
	case w.fatal != nil:
		return w.fatal
	case ctx.Err() != nil:
		return fmt.Errorf("stopped after %s (the next run goes on with the rest): %w", w.unitOf(w.done), ctx.Err())
	case feedErr != nil:
		return feedErr
	}
	w.reporter.Progress(100, "done")
	return nil
}

// feed gives send the items, each once nobody is busy (the run pauses
// meanwhile: butler.Pauser).
func (w *itemRun) feed(ctx context.Context, send func(butler.MediaItem) error) error {
	pauser, _ := w.reporter.(butler.Pauser)
	return w.pages(ctx, func(it butler.MediaItem) error {
		if pauser != nil {
			if err := pauser.WaitIdle(ctx); err != nil {
				return err
			}
		}
		return send(it)
	})
}

// itemQueueOf returns the run's item queue, nil when it has none.
func itemQueueOf(r butler.Reporter) butler.ItemQueue {
	if ir, ok := r.(butler.ItemReporter); ok {
		return ir.Items()
	}
	return nil
}

// sharedWindow is how many items a run keeps queued at least: enough for
// the item workers of several servers to stay busy while River records the
// items they finish (BenchmarkItemsAcrossServers: 32 kept three servers at
// 1.3 times one; 256 at 2.6), few enough that a stop cancels them in a
// moment.
const sharedWindow = 256

// sharedStopWait is how long a stopped run waits at least for its item
// jobs to end: a server that died holding one keeps it until the leader
// releases it and River's rescuer ends it. A queue that knows a longer
// bound (butler.ItemStopWaiter: in a cluster, until every server that may
// hold one has had its programs killed by its group guard) makes it wait
// that long instead.
const sharedStopWait = 15 * time.Second

// pauseCheck is how often a run waiting for its items' results asks
// whether someone is busy (the busy probe itself is asked at most every
// ButlerBusyEvery, whatever this).
const pauseCheck = time.Second

// Held items (another run's job had them when this run queued them: two
// media tasks at once, or the unfinished jobs of a run whose server died)
// are queued again once the feed is done, after heldFirstWait, doubling up
// to heldMaxWait between rounds; after heldGiveUp of rounds they count as
// skipped, for the next run.
const (
	heldFirstWait = 200 * time.Millisecond
	heldMaxWait   = 10 * time.Second
	heldGiveUp    = 10 * time.Minute
)

// shared hands the items to the item workers of every server, keeping at
// most a window of them queued, and accounts for their results. Stopped
// (ctx done, or a fatal error), it takes its unfinished items out of the
// queue and waits for those being worked to end.
func (w *itemRun) shared(ctx context.Context, q butler.ItemQueue) error {
	window := max(sharedWindow, 8*w.parallel)
	// While it waits for results, the run asks whether someone is busy
	// every pauseCheck: the item workers wait while someone is, and the
	// run shows itself paused meanwhile (butler.Pauser).
	pauser, _ := w.reporter.(butler.Pauser)
	waitOne := func() error {
		for {
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if pauser != nil {
				wctx, cancel = context.WithTimeout(ctx, pauseCheck)
			}
			res, err := q.Wait(wctx)
			cancel()
			for _, r := range res {
				w.account(ctx, r)
			}
			if err == nil || ctx.Err() != nil || pauser == nil || wctx.Err() == nil {
				return err
			}
			if err := pauser.WaitIdle(ctx); err != nil {
				return err
			}
		}
	}
	// Items are queued a batch at a time: as many as the window has room
	// for, once it has room for a quarter of it.
	var batch []int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		skipped, err := q.Add(ctx, batch)
		batch = batch[:0]
		for _, r := range skipped {
			w.account(ctx, r)
		}
		return err
	}
	err := w.feed(ctx, func(it butler.MediaItem) error {
		batch = append(batch, it.ID)
		if q.Pending()+len(batch) < window && len(batch) < window/4 {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		for q.Pending() > window-window/4 {
			if err := waitOne(); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	for err == nil && q.Pending() > 0 {
		err = waitOne()
	}
	if err == nil {
		err = w.requeueHeld(ctx, q, waitOne)
	}
	if q.Pending() == 0 {
		return err
	}
	// Stopped with items queued or being worked: the run ends only once
	// they have, or once their programs are dead wherever they ran.
	stopWait := sharedStopWait
	if sw, ok := q.(butler.ItemStopWaiter); ok {
		stopWait = max(stopWait, sw.StopWait(context.WithoutCancel(ctx)))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
	defer cancel()
	if cerr := q.Cancel(sctx); cerr != nil {
		w.log.Warn("take the run's items out of the queue", "error", cerr.Error())
	}
	for q.Pending() > 0 {
		res, werr := q.Wait(sctx)
		for _, r := range res {
			w.account(ctx, r)
		}
		if werr != nil {
			w.log.Warn("items still being worked when the run ended", "items", q.Pending(), "waited", stopWait)
			break
		}
	}
	return err
}

// requeueHeld queues the held items again, round after round, until none
// is held, ctx is done, or heldGiveUp passes (the rest count as skipped).
func (w *itemRun) requeueHeld(ctx context.Context, q butler.ItemQueue, waitOne func() error) error {
	wait, waited := heldFirstWait, time.Duration(0)
	for {
		w.mu.Lock()
		held := w.held
		w.held = nil
		w.mu.Unlock()
		if len(held) == 0 {
			return nil
		}
		if waited >= heldGiveUp {
			w.mu.Lock()
			w.skipped += len(held)
			w.mu.Unlock()
			w.log.Info("items held by other runs all along: left for the next run", "items", len(held), "waited", waited)
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		waited += wait
		wait = min(2*wait, heldMaxWait)
		skipped, err := q.Add(ctx, held)
		for _, r := range skipped {
			w.account(ctx, r)
		}
		if err != nil {
			return err
		}
		for q.Pending() > 0 {
			if err := waitOne(); err != nil {
				return err
			}
		}
	}
}

// account counts one item's result. Once ctx is done (the run was told to
// stop) only what was done or failed counts: the rest was cut short. A
// held item is kept to be queued again.
func (w *itemRun) account(ctx context.Context, res butler.ItemResult) {
	switch {
	case res.Outcome == butler.ItemDone:
		w.mu.Lock()
		w.covered += max(res.Covered, 1)
		w.mu.Unlock()
		w.count(&w.done, nil)
	case res.Outcome == butler.ItemFailed:
		w.count(&w.failed, errors.New(res.Reason))
	case ctx.Err() != nil:
	case res.Outcome == butler.ItemError:
		w.fail(errors.New(res.Reason))
	case res.Held:
		w.mu.Lock()
		w.held = append(w.held, res.Item)
		w.mu.Unlock()
	default:
		w.count(&w.skipped, nil)
	}
}

// count adds one to *n (done, failed or skipped) and reports the progress,
// at most every 200 ms.
func (w *itemRun) count(n *int, failure error) {
	w.mu.Lock()
	*n++
	if failure != nil && w.firstFailure == nil {
		w.firstFailure = failure
	}
	done, failed := w.done, w.failed
	handled := done + failed + w.skipped
	report := time.Since(w.lastReport) >= 200*time.Millisecond
	if report {
		w.lastReport = time.Now()
	}
	w.mu.Unlock()
	if !report {
		return
	}
	percent := -1
	if w.total > 0 {
		percent = min(99, handled*100/w.total)
	}
	w.reporter.Progress(percent, fmt.Sprintf("%s %s, %d failed", w.what, w.unitOf(done), failed))
}

// noun is a noun's singular and plural.
type noun struct{ one, many string }

// of returns n and the noun ("1 item", "2 items").
func (u noun) of(n int) string { return plural(n, u.one, u.many) }

// unitOf returns n of the items the run queues ("2 items").
func (w *itemRun) unitOf(n int) string {
	if w.unit == (noun{}) {
		return plural(n, "item", "items")
	}
	return w.unit.of(n)
}

// fail ends the run with err.
func (w *itemRun) fail(err error) {
	w.fatalOnce.Do(func() {
		w.mu.Lock()
		w.fatal = err
		w.mu.Unlock()
		w.cancelAll()
	})
}

// retryDelay is how long to wait before trying again an item whose work
// failed failures times in a row before this failure: a day, doubling up
// to 32 days.
func retryDelay(failures int) time.Duration {
	d := analysisRetryFirst
	for range min(max(failures, 0), 10) {
		d *= 2
	}
	return min(d, analysisRetryMax)
}
