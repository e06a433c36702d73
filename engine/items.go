package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/plexbutler/butler"
)

// QueueItems is the River queue of item jobs (butler.ItemQueue). Each
// server works Config.ItemWorkers of them at once.
const QueueItems = "items"

// ItemArgs are an item job's arguments: one item of a run.
type ItemArgs struct {
	// Item is unique among unfinished item jobs: one worker at a time,
	// cluster-wide, whichever run queued it.
	Item  int64  `json:"item" river:"unique"`
	RunID int64  `json:"run_id"`
	Task  string `json:"task"`
}

// Kind returns the River job kind.
func (ItemArgs) Kind() string { return "butler_item" }

// itemMaxAttempts is River's attempts of an item job. A job whose server
// died while working it is cancelled by the Butler's leader
// (Engine.ReleaseItem) and ended by River's rescuer; the Butler's worker
// never asks for a retry itself.
const itemMaxAttempts = 2

// InsertOpts returns an item job's options: its queue, a tag with the
// task's name, and uniqueness by item among unfinished jobs.
func (a ItemArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueItems,
		MaxAttempts: itemMaxAttempts,
		Tags:        []string{"task-" + a.Task},
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled, rivertype.JobStateRetryable,
		}},
	}
}

// ItemExecutor does item jobs; *butler.Manager implements it.
type ItemExecutor interface {
	ExecuteItem(ctx context.Context, j butler.ItemJob) butler.ItemResult
}

// defaultItemWorkers is how many item jobs a server works at once unless
// Config.ItemWorkers says: half the CPUs, at least one.
func defaultItemWorkers() int { return max(1, runtime.NumCPU()/2) }

// itemWorker works item jobs with the executor given to Start, records
// each item's result as the job's output, where the run that queued it
// reads it, and tells the run of this server that queued it at once.
type itemWorker struct {
	river.WorkerDefaults[ItemArgs]
	exec   ItemExecutor
	ends   *itemEnds
	logger *slog.Logger
}

func (w *itemWorker) Work(ctx context.Context, job *river.Job[ItemArgs]) error {
	if w.exec == nil {
		return river.JobCancel(errors.New("engine: this server does no item work (its executor has no ExecuteItem)"))
	}
	res := w.exec.ExecuteItem(ctx, butler.ItemJob{RunID: job.Args.RunID, Task: butler.TaskName(job.Args.Task), Item: job.Args.Item})
	if res.RetryLater {
		// Not worked here: offered again in a moment, to any server.
		w.logger.DebugContext(ctx, "engine: item given back", slog.Int64("item", job.Args.Item), slog.String("reason", res.Reason))
		return river.JobSnooze(retryLater)
	}
	if err := river.RecordOutput(ctx, res); err != nil {
		// Only an oversized output fails, and a result is small.
		w.logger.ErrorContext(ctx, "engine: record an item's result", slog.Int64("item", job.Args.Item), slog.String("error", err.Error()))
		return river.JobCancel(err)
	}
	// The item's work and its result are done: its run need not wait for
	// River to record the job's end, which River's completer does in
	// batches, up to 250 ms later.
	w.ends.tell(job.Args.RunID, itemEnd{job: job.ID, res: res})
	return nil
}

// ItemQueue returns a new item queue for run r (butler.ItemQueuer): its
// items become item jobs that the item workers of every server take.
func (e *Engine) ItemQueue(r butler.Run) butler.ItemQueue {
	q := &itemQueue{e: e, run: r, pending: map[int64]int64{}, poll: e.itemPoll}
	if e.started {
		q.ends = &e.ends
	}
	return q
}

// itemQueue is one run's butler.ItemQueue. River tells a job's end only to
// the server that worked it: the queue hears of the jobs this server ended
// as River records them, and learns of the others by reading its jobs
// while it waits (Wait says how often). Close it when its run has ended.
type itemQueue struct {
	e       *Engine
	run     butler.Run
	pending map[int64]int64 // job id → item
	poll    time.Duration
	// ends is the engine's, nil when it was not started or the queue is
	// closed: the queue then hears nothing and only reads (poll2x).
	ends     *itemEnds
	listener *itemListener // from the first Add until Close
	lastRead time.Time     // when the queue last read its jobs
	// readEvery is how long after lastRead the queue reads its jobs again
	// (read).
	readEvery time.Duration
	// ready are the results of jobs Cancel ended itself, for Wait.
	ready []butler.ItemResult
	// cancelled is set by Cancel: the jobs still pending are ending, and
	// Wait reads them as a queue that hears nothing does.
	cancelled bool
}

var _ io.Closer = (*itemQueue)(nil)

// Close stops the queue's hearing of its jobs' ends (the Manager closes a
// run's queue when the run has ended).
func (q *itemQueue) Close() error {
	if q.listener != nil {
		q.ends.forget(q.run.ID, q.listener)
		q.listener = nil
	}
	q.ends = nil // for good: a closed queue reads its jobs
	return nil
}

// itemListMax bounds the job ids read in one query.
const itemListMax = 1000

func (q *itemQueue) Add(ctx context.Context, items []int64) ([]butler.ItemResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if q.ends != nil && q.listener == nil {
		// Before the jobs exist: no end can come before the listener.
		q.listener = q.ends.listen(q.run.ID)
	}
	// River refuses a batch that holds one unique job twice.
	params := make([]river.InsertManyParams, 0, len(items))
	seen := make(map[int64]bool, len(items))
	for _, it := range items {
		if seen[it] {
			continue
		}
		seen[it] = true
		a := ItemArgs{Item: it, RunID: q.run.ID, Task: string(q.run.Task)}
		opts := a.InsertOpts()
		params = append(params, river.InsertManyParams{Args: a, InsertOpts: &opts})
	}
	res, err := q.e.client.InsertMany(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("engine: queue %d items of run %d: %w", len(params), q.run.ID, err)
	}
	var skipped []butler.ItemResult
	for _, x := range res {
		var a ItemArgs
		if err := json.Unmarshal(x.Job.EncodedArgs, &a); err != nil {
			return skipped, fmt.Errorf("engine: read a queued item job's arguments: %w", err)
		}
		if _, ours := q.pending[x.Job.ID]; ours {
			continue // the same item twice in this run: it is pending once
		}
		if x.UniqueSkippedAsDuplicate && a.RunID != q.run.ID {
			skipped = append(skipped, butler.ItemResult{Item: a.Item, Outcome: butler.ItemSkipped, Held: true,
				Reason: fmt.Sprintf("run %d of %s holds it", a.RunID, a.Task)})
			continue
		}
		q.pending[x.Job.ID] = a.Item
	}
	return skipped, nil
}

func (q *itemQueue) Pending() int { return len(q.pending) + len(q.ready) }

// Wait returns the ends this server was told of, if any; otherwise it
// waits for one, and reads the pending jobs (for those other servers
// ended) every 50 ms while reads find some, backing off to the poll
// interval while they find none: a run alone on its server reads them
// about once a poll interval, one whose items other servers work learns
// of their ends within 50 ms. A queue that hears nothing (its engine was
// not started), or whose jobs Cancel is ending, reads them at once, then
// again after 2 ms, doubling up to 50 ms (or the poll interval, if
// shorter) while none has finished, and takes the ends it is told
// meanwhile: a stopped run ends as soon as its items have.
func (q *itemQueue) Wait(ctx context.Context) ([]butler.ItemResult, error) {
	if len(q.ready) > 0 {
		out := q.ready
		q.ready = nil
		return out, nil
	}
	if len(q.pending) == 0 {
		return nil, nil
	}
	if q.listener == nil || q.cancelled {
		return q.poll2x(ctx)
	}
	out := q.told(nil)
	if q.listener.dropped.Swap(false) || time.Since(q.lastRead) >= q.readEvery {
		read, err := q.read(ctx)
		if out = append(out, read...); err != nil || len(out) > 0 {
			return out, err
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	t := time.NewTimer(q.readEvery - time.Since(q.lastRead))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case end := <-q.listener.told:
			if out = q.take(out, end); len(out) > 0 {
				return q.told(out), nil
			}
		case <-t.C:
			read, err := q.read(ctx)
			if err != nil || len(read) > 0 {
				return read, err
			}
			t.Reset(q.readEvery)
		}
	}
}

// read reads the pending jobs that ended (finished) and sets when to read
// them next: soon while reads find some, later and later while they find
// none.
func (q *itemQueue) read(ctx context.Context) ([]butler.ItemResult, error) {
	out, err := q.finished(ctx)
	if len(out) > 0 || q.readEvery == 0 {
		q.readEvery = min(itemPollMost, q.poll)
	} else {
		q.readEvery = min(2*q.readEvery, q.poll)
	}
	return out, err
}

// told adds to out the results of the ends heard and not yet taken.
func (q *itemQueue) told(out []butler.ItemResult) []butler.ItemResult {
	for {
		select {
		case end := <-q.listener.told:
			out = q.take(out, end)
		default:
			return out
		}
	}
}

// take adds the result of an ended job to out, if the job is pending: an
// end told twice (by its worker, then by River's event) is taken once.
func (q *itemQueue) take(out []butler.ItemResult, end itemEnd) []butler.ItemResult {
	item, ok := q.pending[end.job]
	if !ok {
		return out // read meanwhile, told before, or not this queue's
	}
	delete(q.pending, end.job)
	res := end.res
	res.Item = item
	return append(out, res)
}

// poll2x is Wait for a queue that hears nothing, or whose jobs Cancel is
// ending: short items are seen finished promptly, long ones cost a read per
// poll interval. A queue that listens takes the ends its server's workers
// tell it meanwhile (the items being worked when Cancel came end there,
// before River records them).
func (q *itemQueue) poll2x(ctx context.Context) ([]butler.ItemResult, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	most := min(itemPollMost, q.poll)
	delay := min(itemPollFirst, most)
	var told <-chan itemEnd
	if q.listener != nil {
		told = q.listener.told
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case end := <-told:
			if out := q.take(nil, end); len(out) > 0 {
				return q.told(out), nil
			}
			continue
		case <-t.C:
		}
		done, err := q.finished(ctx)
		if err != nil || len(done) > 0 {
			return done, err
		}
		t.Reset(delay)
		delay = min(2*delay, most)
	}
}

// poll2x's first and longest delays between two reads.
const (
	itemPollFirst = 2 * time.Millisecond
	itemPollMost  = 50 * time.Millisecond
)

// finished reads the pending jobs that have finished, takes them out of
// pending, and returns their results.
func (q *itemQueue) finished(ctx context.Context) ([]butler.ItemResult, error) {
	q.lastRead = time.Now()
	ids := make([]int64, 0, len(q.pending))
	for id := range q.pending {
		ids = append(ids, id)
	}
	var out []butler.ItemResult
	for len(ids) > 0 {
		n := min(len(ids), itemListMax)
		page, err := q.e.client.JobList(ctx, river.NewJobListParams().IDs(ids[:n]...).First(n).
			States(rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded))
		if err != nil {
			return out, fmt.Errorf("engine: read the item jobs of run %d: %w", q.run.ID, err)
		}
		ids = ids[n:]
		for _, row := range page.Jobs {
			item, ok := q.pending[row.ID]
			if !ok {
				continue
			}
			delete(q.pending, row.ID)
			out = append(out, itemResultOf(row, item))
		}
	}
	return out, nil
}

// itemResultOf is the result of a finished item job.
func itemResultOf(row *rivertype.JobRow, item int64) butler.ItemResult {
	res := butler.ItemResult{Item: item}
	lastError := ""
	if n := len(row.Errors); n > 0 {
		lastError = row.Errors[n-1].Error
	}
	if out := row.Output(); len(out) > 0 && json.Unmarshal(out, &res) == nil && res.Outcome != "" {
		res.Item = item
		return res
	}
	switch row.State {
	case rivertype.JobStateCancelled:
		res.Outcome, res.Reason = butler.ItemSkipped, "its job was cancelled before a worker ended it"
		if lastError != "" {
			res.Reason += ": " + lastError
		}
	case rivertype.JobStateDiscarded:
		res.Outcome, res.Reason = butler.ItemFailed, "its workers died or failed "+fmt.Sprint(row.Attempt)+" times"
		if lastError != "" {
			res.Reason += ": " + lastError
		}
	default:
		res.Outcome, res.Reason = butler.ItemError, "its job completed without a result"
	}
	if len(row.AttemptedBy) > 0 {
		res.Node, _ = butler.ParseHolderID(row.AttemptedBy[len(row.AttemptedBy)-1])
	}
	return res
}

// Cancel cancels the waiting jobs first and then the running ones: a
// running job cancelled first would free its worker for a waiting job of
// the same run.
func (q *itemQueue) Cancel(ctx context.Context) error {
	q.cancelled = true
	waiting := map[int64]bool{}
	ids := make([]int64, 0, len(q.pending))
	for id := range q.pending {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		n := min(len(ids), itemListMax)
		page, err := q.e.client.JobList(ctx, river.NewJobListParams().IDs(ids[:n]...).First(n).
			States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRetryable))
		if err != nil {
			return fmt.Errorf("engine: read the item jobs of run %d: %w", q.run.ID, err)
		}
		for _, row := range page.Jobs {
			waiting[row.ID] = true
		}
		ids = ids[n:]
	}
	var errs []error
	for _, first := range []bool{true, false} {
		for id := range q.pending {
			if waiting[id] != first {
				continue
			}
			row, err := q.e.client.JobCancel(ctx, id)
			switch {
			case errors.Is(err, river.ErrNotFound):
				delete(q.pending, id) // gone: nothing left of it to wait for
			case err != nil:
				errs = append(errs, err)
			case ended(row.State):
				// A waiting job is cancelled at once: Wait returns it.
				q.ready = append(q.ready, itemResultOf(row, q.pending[id]))
				delete(q.pending, id)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("engine: cancel the item jobs of run %d: %w", q.run.ID, errors.Join(errs...))
	}
	return nil
}
