package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
// A file that ffprobe cannot read, or that cannot even be stat'ed
// (permission denied, an I/O error, a loop of
// symbolic links), is a failure of that item alone: its reason is
// recorded, the run goes on, and the item is tried again only after a
// day, then two, four... up to 32 days (a change of the file starts it
// afresh). A file removed or changed since the scan is skipped (the next
// scan records it), and so is one whose mount does not answer or whose
// ffprobe was killed from outside (notTheFile). The run stops promptly when told to, ffprobe
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

// Backlog counts the present items never analysed that a run would
// analyse now (butler.Backlogger): those whose analysis failed count once
// their retry is due, not while they wait for it. The count reads the
// index of the items not analysed: its cost is theirs, not the library's.
func (a *DeepMediaAnalysis) Backlog(ctx context.Context) (int, error) {
	if a.Index == nil {
		return 0, errors.New("media analysis: no media index")
	}
	w := a.work("analysed")
	return w.index.CountMediaItemsToAnalyse(ctx, butler.AnalysisFilter{Version: 0, Now: w.now()})
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

var _ butler.Backlogger = (*UpgradeMediaAnalysis)(nil)

// Backlog counts the present items analysed by an older version that may
// be tried now (butler.Backlogger), a page at a time through the index of
// analysis versions: its cost is the backlog's, not the library's.
func (a *UpgradeMediaAnalysis) Backlog(ctx context.Context) (int, error) {
	if a.Index == nil {
		return 0, errors.New("media analysis: no media index")
	}
	w := (*DeepMediaAnalysis)(a).work("upgraded")
	n := 0
	err := w.pages(ctx, olderVersions(), func(butler.MediaItem) error { n++; return nil })
	return n, err
}

// olderVersions are the analysis versions before mediaprobe.Version.
func olderVersions() []int {
	var versions []int
	for v := 1; v < mediaprobe.Version; v++ {
		versions = append(versions, v)
	}
	return versions
}

// analysisWork is one run of DeepMediaAnalysis or UpgradeMediaAnalysis
// (or one item job of either).
type analysisWork struct {
	index    butler.MediaIndex
	prober   *mediaprobe.Prober
	parallel int
	now      func() time.Time
	what     string // "analysed", "upgraded"
}

func (w *analysisWork) run(ctx context.Context, r butler.Reporter, versions []int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("media analysis not started: %w", err)
	}
	if w.index == nil {
		return errors.New("media analysis: no media index")
	}
	log := r.Logger()
	if len(versions) == 0 {
		r.Summary("no older analysis version to upgrade from")
		return nil
	}
	run := &itemRun{reporter: r, log: log, parallel: w.parallel, what: w.what,
		pages: func(ctx context.Context, send func(butler.MediaItem) error) error {
			return w.pages(ctx, versions, send)
		},
		one: w.item,
	}
	if len(versions) == 1 && versions[0] == 0 {
		if counts, err := w.index.LibraryCounts(ctx); err == nil && len(counts) == 0 {
			r.Summary("the media index is empty: no library scanned yet")
			return &butler.NothingYet{Reason: "the media index is empty: no library scanned yet"}
		}
		// The items the run will offer: those that failed only once
		// their retry is due.
		if n, err := w.index.CountMediaItemsToAnalyse(ctx, butler.AnalysisFilter{Version: 0, Now: w.now()}); err == nil {
			run.total = n
		}
	}
	if err := run.run(ctx); err != nil {
		return fmt.Errorf("media analysis: %w", err)
	}
	log.Info("media analysis done", "done", run.done, "failed", run.failed, "skipped", run.skipped)
	return nil
}

// pages gives send the items to analyse, a page at a time. An item that
// failed is not offered again in the same run: its retry instant is in
// the future.
func (w *analysisWork) pages(ctx context.Context, versions []int, send func(butler.MediaItem) error) error {
	now := w.now()
	for _, v := range versions {
		var after int64
		for {
			page, err := w.index.MediaItemsToAnalyse(ctx, butler.AnalysisFilter{Version: v, Now: now, AfterID: after, Limit: analysisPage})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("read the items to analyse: %w", err)
			}
			for _, it := range page {
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
	why, passes := notTheFile(err)
	switch {
	case ctx.Err() != nil:
		res.Reason = "the run was told to stop"
		return res
	case passes:
		// ffprobe killed from outside, or the file's mount does not
		// answer: not the file's fault, so no failure is recorded; a
		// later run tries it again.
		log.Warn("media analysis skipped: not the file's fault", "path", it.Path, "error", err)
		res.Reason = why
		return res
	case mediaprobe.IsMissing(err):
		log.Debug("file gone since the scan: skipped", "path", it.Path)
		res.Reason = "its file is gone since the scan"
		return res
	case errors.As(err, &fe):
		switch {
		case file.Path == "":
			// The file is there but cannot be stat'ed (permission denied,
			// an I/O error): its failure is recorded for the
			// file as the index has it, so that it waits like any other
			// and a change found by the next scan starts it afresh.
			file = butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
		case file.Size != it.Size || !file.ModTime.Equal(it.ModTime):
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
		// ffprobe cannot be run (not found, or not started): nothing
		// else can be analysed.
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
