package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediaprobe"
)

const (
	// analysisPage is how many items a media analysis reads at a time.
	analysisPage = 100
	// analysisRetryFirst is how long a media analysis waits before it tries
	// again a file whose analysis failed once; each failure in a row
	// doubles it, up to analysisRetryMax.
	analysisRetryFirst = 24 * time.Hour
	analysisRetryMax   = 32 * 24 * time.Hour
)

// DeepMediaAnalysis is the action of the DeepMediaAnalysis task: it
// analyses with ffprobe (package mediaprobe) every present item of the
// media index that has no analysis yet, and stores each analysis with
// mediaprobe.Version.
//
// A file that ffprobe cannot read is a failure of that item alone: its
// reason is recorded, the run goes on, and the item is tried again only
// after a day, then two, four... up to 32 days (a change of the file
// starts it afresh). A file removed or changed since the scan is skipped
// (the next scan records it). The run stops promptly when told to, ffprobe
// killed with its process group; what was analysed stays, and the next run
// goes on with the rest. It fails only when ffprobe cannot be run at all,
// or the index cannot be read or written.
//
// It is an item action (butler.ItemAction): on a server whose queue
// carries item jobs, each item is an item job that any server's item
// workers may take (Parallel then only sizes how many the run keeps
// queued); elsewhere the run analyses Parallel items at a time itself.
type DeepMediaAnalysis struct {
	// Index is the media index (the server's store).
	Index butler.MediaIndex
	// Prober runs ffprobe; nil means a zero mediaprobe.Prober (ffprobe
	// from PATH, at a lower priority).
	Prober *mediaprobe.Prober
	// Parallel is how many files are analysed at once; 0 or less means 1.
	Parallel int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var (
	_ butler.ItemAction = (*DeepMediaAnalysis)(nil)
	_ butler.Backlogger = (*DeepMediaAnalysis)(nil)
)

// Run analyses the items not analysed yet.
func (a *DeepMediaAnalysis) Run(ctx context.Context, r butler.Reporter) error {
	return a.work("analysed").run(ctx, r, []int{0})
}

// RunItem analyses one item, if it still has no analysis and may be tried
// now.
func (a *DeepMediaAnalysis) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return a.work("analysed").one(ctx, log, id, []int{0})
}

// Backlog counts the present items never analysed (butler.Backlogger);
// those whose analysis failed wait for their retry and are not counted.
func (a *DeepMediaAnalysis) Backlog(ctx context.Context) (int, error) {
	if a.Index == nil {
		return 0, errors.New("media analysis: no media index")
	}
	counts, err := a.Index.LibraryCounts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		n += max(0, c.Present-c.Analysed-c.Failing)
	}
	return n, nil
}

// work returns the work of one run (or one item) of a.
func (a *DeepMediaAnalysis) work(what string) *analysisWork {
	w := &analysisWork{index: a.Index, prober: a.Prober, parallel: max(a.Parallel, 1), now: a.Now, what: what}
	if w.prober == nil {
		w.prober = &mediaprobe.Prober{}
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

// UpgradeMediaAnalysis is the action of the UpgradeMediaAnalysis task: it
// analyses again, as DeepMediaAnalysis does, the items whose stored
// analysis was made by an older version than mediaprobe.Version.
type UpgradeMediaAnalysis DeepMediaAnalysis

var _ butler.ItemAction = (*UpgradeMediaAnalysis)(nil)

// Run analyses again the items analysed by an older version.
func (a *UpgradeMediaAnalysis) Run(ctx context.Context, r butler.Reporter) error {
	return (*DeepMediaAnalysis)(a).work("upgraded").run(ctx, r, olderVersions())
}

// RunItem analyses one item again, if its analysis is still of an older
// version.
func (a *UpgradeMediaAnalysis) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return (*DeepMediaAnalysis)(a).work("upgraded").one(ctx, log, id, olderVersions())
}

// olderVersions are the analysis versions before mediaprobe.Version.
func olderVersions() []int {
	var versions []int
	for v := 1; v < mediaprobe.Version; v++ {
		versions = append(versions, v)
	}
	return versions
}

// analysisWork is one run of DeepMediaAnalysis or UpgradeMediaAnalysis.
type analysisWork struct {
	index    butler.MediaIndex
	prober   *mediaprobe.Prober
	parallel int
	now      func() time.Time
	what     string // "analysed", "upgraded"

	total     int // items to do, when known
	reporter  butler.Reporter
	cancelAll context.CancelFunc
	fatalOnce sync.Once

	mu                    sync.Mutex
	done, failed, skipped int
	firstFailure          error
	lastReport            time.Time
	fatal                 error
}

func (w *analysisWork) run(ctx context.Context, r butler.Reporter, versions []int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("media analysis not started: %w", err)
	}
	if w.index == nil {
		return errors.New("media analysis: no media index")
	}
	w.reporter = r
	log := r.Logger()
	if len(versions) == 0 {
		r.Summary("no older analysis version to upgrade from")
		return nil
	}
	if counts, err := w.index.LibraryCounts(ctx); err == nil && len(versions) == 1 && versions[0] == 0 {
		for _, c := range counts {
			w.total += c.Present - c.Analysed
		}
		if len(counts) == 0 {
			r.Summary("the media index is empty: no library scanned yet")
			return nil
		}
	}

	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.cancelAll = cancel
	var feedErr error
	if q := itemQueueOf(r); q != nil {
		feedErr = w.shared(workCtx, log, q, versions)
	} else {
		items := make(chan butler.MediaItem)
		var workers sync.WaitGroup
		for range w.parallel {
			workers.Go(func() {
				for it := range items {
					w.account(workCtx, w.item(workCtx, log, it))
				}
			})
		}
		feedErr = w.feed(workCtx, versions, func(it butler.MediaItem) error {
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

	summary := fmt.Sprintf("%s %s, %d failed, %d skipped", w.what, plural(w.done, "item", "items"), w.failed, w.skipped)
	if w.firstFailure != nil {
		summary += "; the first failure: " + w.firstFailure.Error()
	}
	r.Summary(summary)
	switch {
	case w.fatal != nil:
		return w.fatal
	case ctx.Err() != nil:
		return fmt.Errorf("media analysis stopped after %s (the next run goes on with the rest): %w",
			plural(w.done, "item", "items"), ctx.Err())
	case feedErr != nil:
		return feedErr
	}
	r.Progress(100, "done")
	log.Info("media analysis done", "done", w.done, "failed", w.failed, "skipped", w.skipped)
	return nil
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

// sharedStopWait bounds how long a stopped run waits for its item jobs to
// end: a server that died holding one would keep it until River's rescue.
const sharedStopWait = 15 * time.Second

// shared hands the items to analyse to the item workers of every server,
// keeping at most a window of them queued, and accounts for their results.
// Stopped (ctx done, or a fatal error), it takes its unfinished items out
// of the queue and waits for those being worked to end.
func (w *analysisWork) shared(ctx context.Context, log *slog.Logger, q butler.ItemQueue, versions []int) error {
	window := max(sharedWindow, 8*w.parallel)
	waitOne := func() error {
		res, err := q.Wait(ctx)
		for _, r := range res {
			w.account(ctx, r)
		}
		return err
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
	err := w.feed(ctx, versions, func(it butler.MediaItem) error {
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
	if q.Pending() == 0 {
		return err
	}
	// Stopped with items queued or being worked.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedStopWait)
	defer cancel()
	if cerr := q.Cancel(sctx); cerr != nil {
		log.Warn("media analysis: take the run's items out of the queue", "error", cerr.Error())
	}
	for q.Pending() > 0 {
		res, werr := q.Wait(sctx)
		for _, r := range res {
			w.account(ctx, r)
		}
		if werr != nil {
			log.Warn("media analysis: items still being worked when the run ended", "items", q.Pending(), "waited", sharedStopWait)
			break
		}
	}
	return err
}

// feed gives send the items to analyse, a page at a time, each once
// nobody is busy (the run pauses meanwhile: butler.Pauser). An item that
// failed is not offered again in the same run: its retry instant is in
// the future.
func (w *analysisWork) feed(ctx context.Context, versions []int, send func(butler.MediaItem) error) error {
	pauser, _ := w.reporter.(butler.Pauser)
	now := w.now()
	for _, v := range versions {
		var after int64
		for {
			page, err := w.index.MediaItemsToAnalyse(ctx, butler.AnalysisFilter{Version: v, Now: now, AfterID: after, Limit: analysisPage})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("media analysis: read the items to analyse: %w", err)
			}
			for _, it := range page {
				if pauser != nil {
					if err := pauser.WaitIdle(ctx); err != nil {
						return err
					}
				}
				if err := send(it); err != nil {
					return err
				}
			}
			if len(page) < analysisPage {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}

// one analyses the item with id id, if it still has an analysis of one of
// versions and may be tried now: an item job.
func (w *analysisWork) one(ctx context.Context, log *slog.Logger, id int64, versions []int) butler.ItemResult {
	if w.index == nil {
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: "media analysis: no media index"}
	}
	it, err := w.index.MediaItem(ctx, id)
	switch {
	case butler.ErrorCode(err) == butler.ENOTFOUND:
		return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: "no longer in the media index"}
	case err != nil:
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: fmt.Sprintf("media analysis: read item %d: %v", id, err)}
	case it.State != butler.ItemPresent:
		return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: "its file is gone"}
	case !slices.Contains(versions, it.AnalysisVersion):
		return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: "analysed meanwhile"}
	case it.AnalysisRetryAt.After(w.now()):
		return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: "its last analysis failed; it waits to be tried again"}
	}
	return w.item(ctx, log, it)
}

// item analyses one item and records the outcome.
func (w *analysisWork) item(ctx context.Context, log *slog.Logger, it butler.MediaItem) butler.ItemResult {
	res := butler.ItemResult{Item: it.ID, Outcome: butler.ItemSkipped}
	a, file, err := w.prober.Probe(ctx, it.Path)
	var fe *mediaprobe.FileError
	switch {
	case ctx.Err() != nil:
		res.Reason = "the run was told to stop"
		return res
	case mediaprobe.IsMissing(err):
		log.Debug("file gone since the scan: skipped", "path", it.Path)
		res.Reason = "its file is gone since the scan"
		return res
	case errors.As(err, &fe):
		if file.Size != it.Size || !file.ModTime.Equal(it.ModTime) {
			res.Reason = "its file changed since the scan"
			return res
		}
		retry := w.now().Add(retryDelay(it.AnalysisFailures))
		if _, rerr := w.index.RecordMediaAnalysisFailure(ctx, it.ID, file, fe.Reason, retry); rerr != nil {
			res.Outcome, res.Reason = butler.ItemError, fmt.Sprintf("media analysis: record the failure of %s: %v", it.Path, rerr)
			return res
		}
		log.Warn("media analysis failed", "path", it.Path, "reason", fe.Reason, "failures", it.AnalysisFailures+1, "retry_at", retry)
		res.Outcome, res.Reason = butler.ItemFailed, err.Error()
		return res
	case err != nil:
		// ffprobe cannot be run: nothing else can be analysed.
		res.Outcome, res.Reason = butler.ItemError, err.Error()
		return res
	case file.Size != it.Size || !file.ModTime.Equal(it.ModTime):
		log.Debug("file changed since the scan: skipped", "path", it.Path)
		res.Reason = "its file changed since the scan"
		return res
	}
	ok, err := w.index.SaveMediaAnalysis(ctx, it.ID, file, mediaprobe.Version, w.now(), a)
	switch {
	case err != nil && ctx.Err() != nil:
		res.Reason = "the run was told to stop"
	case err != nil:
		res.Outcome, res.Reason = butler.ItemError, fmt.Sprintf("media analysis: store the analysis of %s: %v", it.Path, err)
	case !ok:
		res.Reason = "its file changed or went meanwhile"
	default:
		res.Outcome, res.Reason = butler.ItemDone, ""
	}
	return res
}

// account counts one item's result. Once ctx is done (the run was told to
// stop) only what was done or failed counts: the rest was cut short.
func (w *analysisWork) account(ctx context.Context, res butler.ItemResult) {
	switch {
	case res.Outcome == butler.ItemDone:
		w.count(&w.done, nil)
	case res.Outcome == butler.ItemFailed:
		w.count(&w.failed, errors.New(res.Reason))
	case ctx.Err() != nil:
	case res.Outcome == butler.ItemError:
		w.fail(errors.New(res.Reason))
	default:
		w.count(&w.skipped, nil)
	}
}

// count adds one to *n (done, failed or skipped) and reports the progress,
// at most every 200 ms.
func (w *analysisWork) count(n *int, failure error) {
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
	w.reporter.Progress(percent, fmt.Sprintf("%s %d items, %d failed", w.what, done, failed))
}

// fail ends the run with err.
func (w *analysisWork) fail(err error) {
	w.fatalOnce.Do(func() {
		w.mu.Lock()
		w.fatal = err
		w.mu.Unlock()
		w.cancelAll()
	})
}

// retryDelay is how long to wait before analysing again a file whose
// analysis failed failures times in a row before this failure.
func retryDelay(failures int) time.Duration {
	d := analysisRetryFirst
	for range min(max(failures, 0), 10) {
		d *= 2
	}
	return min(d, analysisRetryMax)
}
