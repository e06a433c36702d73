package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

var _ butler.Action = (*DeepMediaAnalysis)(nil)

// Run analyses the items not analysed yet.
func (a *DeepMediaAnalysis) Run(ctx context.Context, r butler.Reporter) error {
	w := &analysisWork{index: a.Index, prober: a.Prober, parallel: a.Parallel, now: a.Now, what: "analysed"}
	return w.run(ctx, r, []int{0})
}

// UpgradeMediaAnalysis is the action of the UpgradeMediaAnalysis task: it
// analyses again, as DeepMediaAnalysis does, the items whose stored
// analysis was made by an older version than mediaprobe.Version.
type UpgradeMediaAnalysis DeepMediaAnalysis

var _ butler.Action = (*UpgradeMediaAnalysis)(nil)

// Run analyses again the items analysed by an older version.
func (a *UpgradeMediaAnalysis) Run(ctx context.Context, r butler.Reporter) error {
	var versions []int
	for v := 1; v < mediaprobe.Version; v++ {
		versions = append(versions, v)
	}
	w := &analysisWork{index: a.Index, prober: a.Prober, parallel: a.Parallel, now: a.Now, what: "upgraded"}
	return w.run(ctx, r, versions)
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
	if w.prober == nil {
		w.prober = &mediaprobe.Prober{}
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.parallel = max(w.parallel, 1)
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

	items := make(chan butler.MediaItem)
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.cancelAll = cancel
	var workers sync.WaitGroup
	for range w.parallel {
		workers.Go(func() {
			for it := range items {
				w.item(workCtx, log, it)
			}
		})
	}
	feedErr := w.feed(workCtx, versions, items)
	close(items)
	workers.Wait()

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

// feed sends the items to analyse to the workers, a page at a time. An
// item that failed is not offered again in the same run: its retry
// instant is in the future.
func (w *analysisWork) feed(ctx context.Context, versions []int, items chan<- butler.MediaItem) error {
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
				select {
				case items <- it:
				case <-ctx.Done():
					return ctx.Err()
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

// item analyses one item and records the outcome.
func (w *analysisWork) item(ctx context.Context, log *slog.Logger, it butler.MediaItem) {
	a, file, err := w.prober.Probe(ctx, it.Path)
	var fe *mediaprobe.FileError
	switch {
	case ctx.Err() != nil:
		return
	case mediaprobe.IsMissing(err):
		log.Debug("file gone since the scan: skipped", "path", it.Path)
		w.count(&w.skipped, nil)
		return
	case errors.As(err, &fe):
		if file.Size != it.Size || !file.ModTime.Equal(it.ModTime) {
			w.count(&w.skipped, nil)
			return
		}
		retry := w.now().Add(retryDelay(it.AnalysisFailures))
		if _, rerr := w.index.RecordMediaAnalysisFailure(ctx, it.ID, file, fe.Reason, retry); rerr != nil {
			w.fail(fmt.Errorf("media analysis: record the failure of %s: %w", it.Path, rerr))
			return
		}
		log.Warn("media analysis failed", "path", it.Path, "reason", fe.Reason, "failures", it.AnalysisFailures+1, "retry_at", retry)
		w.count(&w.failed, err)
		return
	case err != nil:
		w.fail(err) // ffprobe cannot be run: nothing else can be analysed
		return
	case file.Size != it.Size || !file.ModTime.Equal(it.ModTime):
		log.Debug("file changed since the scan: skipped", "path", it.Path)
		w.count(&w.skipped, nil)
		return
	}
	ok, err := w.index.SaveMediaAnalysis(ctx, it.ID, file, mediaprobe.Version, w.now(), a)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			w.fail(fmt.Errorf("media analysis: store the analysis of %s: %w", it.Path, err))
		}
	case !ok:
		w.count(&w.skipped, nil) // changed or gone meanwhile
	default:
		w.count(&w.done, nil)
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
