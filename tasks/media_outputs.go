package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// outputPage is how many items an output task reads at a time.
const outputPage = 100

// outputSpec says what an output task makes, and for which items.
type outputSpec struct {
	kind       butler.OutputKind
	version    int // raise it when what the task makes changes
	mediaKinds []butler.MediaKind
	what       string // the summary's verb: "measured", "made"
	// files is set when the task writes files in the items' bundles (it
	// needs a BundleWriter).
	files bool
	// group, when set, names the group of an item whose output is made
	// for the whole group at once (a season's folder): a run queues one
	// item of each group.
	group func(butler.MediaItem) string
	// unit and covers name, in the summary, the items a run queues and
	// the items of the backlog their work covers, when those differ
	// (itemRun): "season block", "episode".
	unit, covers noun
	// libraries, when not nil, names the only libraries whose items the
	// task does (none when empty), onlyIn what they are ("shows
	// libraries"), said to explain why the others are left out.
	libraries []string
	onlyIn    string
}

// noLibrary reports whether the task does the items of no library.
func (s outputSpec) noLibrary() bool { return s.libraries != nil && len(s.libraries) == 0 }

// made is what one item's output is beside the files written in the
// folder the maker was given: values stored as the output's data.
type made struct {
	data []byte // JSON; nil when none
	// sidecars is the version of the item's sidecar set the output was
	// made of (butler.SidecarSet.Version), for the BlurHashes: the output
	// is recorded only while the set is that one.
	sidecars int64
	// covered is how many items' outputs (or failures) the making
	// recorded, the item's own included, when it recorded others' too (a
	// season block's markers): the result's ItemResult.Covered. Set with
	// an item's fault too, when others were recorded before it.
	covered int
}

// itemFault is an error that is the item's own fault (a file the tool
// cannot read): the item failed, the run goes on. The media libraries'
// *mediatool.FileError is one too. Any other error of a maker means the
// work cannot be done at all.
type itemFault struct{ reason string }

func (e *itemFault) Error() string { return e.reason }

// notTheFile returns the reason to skip an item whose work err ended
// for no fault of its file, and true; false for any other err. Such an
// item has nothing recorded against it, and a later run tries it again:
// its program was killed from outside Butler (mediatool.ErrKilled: the
// kernel's out-of-memory killer, a server's group guard, a person), or
// its file's mount does not answer (mediatool.ErrUnreachable: every file
// on it fails alike until it is back), or its sidecar set was replaced
// while its BlurHashes were made (errSidecarsReplaced).
func notTheFile(err error) (string, bool) {
	switch {
	case errors.Is(err, mediatool.ErrKilled):
		return "its program was killed from outside Butler (" + err.Error() + "), which says nothing of the file: no failure recorded, a later run tries it again", true
	case errors.Is(err, mediatool.ErrUnreachable):
		return err.Error() + ": no failure recorded against the file, a later run tries it again", true
	case errors.Is(err, errSidecarsReplaced):
		return err.Error() + ": a later run hashes the new set", true
	}
	return "", false
}

// faultOf returns the reason of an error that is the item's own fault.
func faultOf(err error) (string, bool) {
	var fault *itemFault
	var fe *mediatool.FileError
	switch {
	case errors.As(err, &fault):
		return fault.reason, true
	case errors.As(err, &fe):
		return fe.Reason, true
	}
	return "", false
}

// outputMaker makes one kind of output for one item. dir is an empty
// folder to write files in (its files become the bundle's
// "<kind>/..."); a maker that writes none ignores it. The item's file is
// it.Path, its analysis a. When ctx is done it returns promptly, with
// ctx's error.
type outputMaker interface {
	make(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis, dir string) (made, error)
}

// outputChecker is implemented by a maker whose outputs depend on its
// settings. outdated returns why output o, made for the item's file as it
// is, is not what the maker would make now (a setting changed since), or
// "" when it is. retire removes what o left outside the item's bundle
// that making it again would not replace, before o is forgotten; an error
// leaves o recorded.
type outputChecker interface {
	outdated(o butler.MediaOutput) string
	retire(o butler.MediaOutput) error
}

// outputWork is what the output tasks share: the items to do from the
// index, the bundle's files replaced whole, the output recorded only for
// the file it was made of, failures backing off.
type outputWork struct {
	spec     outputSpec
	index    butler.OutputIndex
	bundles  *BundleWriter // nil for makers that write no files
	maker    outputMaker
	parallel int
	now      func() time.Time
}

func (w *outputWork) filter(now time.Time) butler.OutputFilter {
	return butler.OutputFilter{Kind: w.spec.kind, Version: w.spec.version, MediaKinds: w.spec.mediaKinds, Libraries: w.spec.libraries, Now: now}
}

// failures is how many times item it's output has failed for its file as
// it is (0 when that cannot be read): the backoff of its next failure.
func (w *outputWork) failures(ctx context.Context, it butler.MediaItem) int {
	outs, err := w.index.MediaOutputs(ctx, it.ID)
	if err != nil {
		return 0
	}
	for _, o := range outs {
		if o.Kind == w.spec.kind && !o.Stale(it) {
			return o.Failures
		}
	}
	return 0
}

// due reports whether item it is among the items the task has left to do
// (its backlog, as OutputFilter selects them): it has no output of the
// kind at the task's version made for its file as the index has it, and
// no failure waiting to be tried again. An item whose outputs cannot be
// read is not.
func (w *outputWork) due(ctx context.Context, it butler.MediaItem) bool {
	outs, err := w.index.MediaOutputs(ctx, it.ID)
	if err != nil {
		return false
	}
	for _, o := range outs {
		if o.Kind == w.spec.kind && !o.Stale(it) && (o.Version >= w.spec.version || o.RetryAt.After(w.clock())) {
			return false
		}
	}
	return true
}

func (w *outputWork) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// run makes the output of every item that needs it.
// errNoBundles is the error of a task that writes files without a
// bundles root.
func (w *outputWork) errNoBundles() error {
	if w.spec.files && w.bundles == nil {
		return fmt.Errorf("%s: no bundles root to write in", w.spec.kind)
	}
	return nil
}

func (w *outputWork) run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s not started: %w", w.spec.kind, err)
	}
	if err := w.errNoBundles(); err != nil {
		return err
	}
	if w.index == nil {
		r.Summary("no media index: nothing to do")
		return nil
	}
	if w.spec.noLibrary() {
		why := fmt.Sprintf("%s is made in %s only, and there is none", w.spec.kind, w.spec.onlyIn)
		r.Summary("nothing to do: " + why)
		return &butler.NothingYet{Reason: why}
	}
	if _, err := w.recheck(ctx, r); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s stopped: %w", w.spec.kind, ctx.Err())
		}
		return fmt.Errorf("%s: check the outputs made: %w", w.spec.kind, err)
	}
	now := w.clock()
	total, err := w.index.CountItemsForOutput(ctx, w.filter(now))
	if err != nil {
		return fmt.Errorf("%s: count the items to do: %w", w.spec.kind, err)
	}
	if total == 0 {
		r.Summary("nothing to do: every analysed item has its " + string(w.spec.kind))
		return nil
	}
	log := r.Logger()
	if w.spec.group != nil {
		total = 0 // one item a group is queued: the percentage is unknown
	}
	run := &itemRun{reporter: r, log: log, parallel: w.parallel, what: w.spec.what, total: total,
		unit: w.spec.unit, covers: w.spec.covers,
		pages: func(ctx context.Context, send func(butler.MediaItem) error) error { return w.pages(ctx, now, send) },
		one:   w.item,
	}
	if err := run.run(ctx); err != nil {
		return fmt.Errorf("%s: %w", w.spec.kind, err)
	}
	log.Info("media outputs done", "kind", w.spec.kind, "done", run.done, "failed", run.failed, "skipped", run.skipped)
	return nil
}

// recheck forgets the outputs recorded as made (for the items' files as
// they are) whose files are gone from the bundle, or that the maker would
// make otherwise now (outputChecker), so that the run makes them again:
// what the index says is made follows the bundles on disk and the
// settings. It costs one Lstat per item with files made: of the first of
// its files. A kind's files are only ever replaced whole (BundleWriter
// renames its folder), so the first one stands for the others; whatever
// removed a bundle, or the whole bundles root, or a crash left between
// the two renames of a commit, removes it too. An Lstat that fails for
// another reason (a permission, an I/O error) says nothing: the output
// stays. It returns how many outputs it forgot.
func (w *outputWork) recheck(ctx context.Context, r butler.Reporter) (int, error) {
	checker, _ := w.maker.(outputChecker)
	if w.bundles == nil && checker == nil {
		return 0, nil
	}
	log := r.Logger()
	r.Progress(0, "checking the outputs made against the bundles and the settings")
	f := w.filter(w.clock())
	f.Limit = outputPage
	forgot := 0
	for {
		page, err := w.index.MadeMediaOutputs(ctx, f)
		if err != nil {
			return forgot, err
		}
		for _, o := range page {
			why := w.filesGone(o)
			if why == "" && checker != nil {
				why = checker.outdated(o)
			}
			if why == "" {
				continue
			}
			if checker != nil {
				if err := checker.retire(o); err != nil {
					log.Warn("media output kept: what it left beside the media cannot be removed", "kind", o.Kind, "item", o.Item, "reason", why, "error", err)
					continue
				}
			}
			ok, err := w.index.ForgetMediaOutput(ctx, o)
			if err != nil {
				return forgot, err
			}
			if ok {
				forgot++
				log.Info("media output to be made again", "kind", o.Kind, "item", o.Item, "reason", why)
			}
		}
		if len(page) < outputPage {
			break
		}
		f.AfterID = page[len(page)-1].Item
	}
	if forgot > 0 {
		log.Info("media outputs to be made again", "kind", w.spec.kind, "outputs", forgot)
	}
	return forgot, nil
}

// filesGone returns why output o's files are gone from its item's bundle,
// or "" when its first file is there (or there is no telling).
func (w *outputWork) filesGone(o butler.MediaOutput) string {
	if w.bundles == nil || len(o.Files) == 0 {
		return ""
	}
	first := slices.Min(o.Files)
	p := filepath.Join(w.bundles.Bundles.Dir(o.Item), filepath.FromSlash(first))
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return first + " is gone from the item's bundle"
	}
	return ""
}

// pages gives send the items to do, a page at a time.
func (w *outputWork) pages(ctx context.Context, now time.Time, send func(butler.MediaItem) error) error {
	f := w.filter(now)
	f.Limit = outputPage
	if w.spec.group != nil {
		sent := map[string]bool{}
		whole := send
		send = func(it butler.MediaItem) error {
			g := w.spec.group(it)
			if sent[g] {
				return nil
			}
			sent[g] = true
			return whole(it)
		}
	}
	for {
		page, err := w.index.MediaItemsForOutput(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read the items to do: %w", err)
		}
		for _, it := range page {
			if err := send(it); err != nil {
				return err
			}
		}
		if len(page) < outputPage {
			return nil
		}
		f.AfterID = page[len(page)-1].ID
	}
}

// backlog counts the items left to do.
func (w *outputWork) backlog(ctx context.Context) (int, error) {
	if w.index == nil {
		return 0, errors.New("no media index")
	}
	if w.spec.noLibrary() {
		return 0, nil
	}
	return w.index.CountItemsForOutput(ctx, w.filter(w.clock()))
}

// one does item id, if it still needs its output: an item job.
func (w *outputWork) one(ctx context.Context, log *slog.Logger, id int64) butler.ItemResult {
	skip := func(reason string) butler.ItemResult {
		return butler.ItemResult{Item: id, Outcome: butler.ItemSkipped, Reason: reason}
	}
	if w.index == nil {
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: "no media index"}
	}
	if err := w.errNoBundles(); err != nil {
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: err.Error()}
	}
	it, err := w.index.MediaItem(ctx, id)
	switch {
	case butler.ErrorCode(err) == butler.ENOTFOUND:
		return skip("no longer in the media index")
	case err != nil:
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: fmt.Sprintf("read media item %d: %v", id, err)}
	case it.State != butler.ItemPresent:
		return skip("its file is gone")
	case it.AnalysisVersion == 0:
		return skip("it has no analysis (DeepMediaAnalysis makes it)")
	case w.spec.libraries != nil && !slices.Contains(w.spec.libraries, it.Library):
		return skip(fmt.Sprintf("%s is made in %s only", w.spec.kind, w.spec.onlyIn))
	}
	outs, err := w.index.MediaOutputs(ctx, id)
	if err != nil {
		return butler.ItemResult{Item: id, Outcome: butler.ItemError, Reason: fmt.Sprintf("read the outputs of media item %d: %v", id, err)}
	}
	for _, o := range outs {
		switch {
		case o.Kind != w.spec.kind || o.Stale(it):
		case o.Version >= w.spec.version:
			return skip("made meanwhile")
		case o.RetryAt.After(w.clock()):
			return skip("its last attempt failed; it waits to be tried again")
		}
	}
	return w.item(ctx, log, it)
}

// item makes one item's output and records it.
func (w *outputWork) item(ctx context.Context, log *slog.Logger, it butler.MediaItem) butler.ItemResult {
	res := butler.ItemResult{Item: it.ID, Outcome: butler.ItemSkipped}
	fatal := func(format string, args ...any) butler.ItemResult {
		res.Outcome, res.Reason = butler.ItemError, fmt.Sprintf(format, args...)
		return res
	}
	a, _, err := w.index.MediaAnalysis(ctx, it.ID)
	switch {
	case butler.ErrorCode(err) == butler.ENOTFOUND:
		res.Reason = "it has no analysis (DeepMediaAnalysis makes it)"
		return res
	case err != nil:
		return fatal("read the analysis of %s: %v", it.Path, err)
	}
	file, err := statFile(it)
	if why, ok := notTheFile(err); ok {
		log.Warn("media output skipped: its file's mount does not answer", "kind", w.spec.kind, "path", it.Path, "error", err)
		res.Reason = why
		return res
	}
	if reason, isFault := faultOf(err); isFault {
		// The file is there but cannot be stat'ed (permission denied, an
		// I/O error), or is not a regular file: the item's
		// own failure, recorded for the file as the index has it, so that
		// it waits like any other and a change found by the next scan
		// starts it afresh.
		return w.failed(ctx, log, it, butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}, reason)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		res.Reason = "its file is gone since the scan"
		return res
	case err != nil:
		return fatal("%s of %s: %v", w.spec.kind, it.Path, err)
	case file.Size != it.Size || !file.ModTime.Equal(it.ModTime):
		res.Reason = "its file changed since the scan"
		return res
	}

	var dir string
	var commit func() ([]string, error)
	if w.bundles != nil {
		var cleanup func()
		dir, commit, cleanup, err = w.bundles.stage(ctx, it, w.spec.kind)
		if err != nil {
			return fatal("%s: %v", w.spec.kind, err)
		}
		defer cleanup()
	}
	out, err := w.maker.make(ctx, it, a, dir)
	reason, isFault := faultOf(err)
	why, passes := notTheFile(err)
	switch {
	case ctx.Err() != nil:
		res.Reason = "the run was told to stop"
		return res
	case passes:
		log.Warn("media output skipped: not the file's fault", "kind", w.spec.kind, "path", it.Path, "error", err)
		res.Reason = why
		return res
	case err != nil && stagingGone(dir):
		// Checked before the fault: ffmpeg failing to write into a folder
		// that went is not the file's fault either.
		res.Reason = stagingGoneReason
		return res
	case isFault:
		res := w.failed(ctx, log, it, file, reason)
		if res.Outcome == butler.ItemFailed {
			res.Covered = out.covered
		}
		return res
	case err != nil:
		return fatal("%s of %s: %v", w.spec.kind, it.Path, err)
	}
	var files []string
	if commit != nil {
		files, err = commit()
		switch {
		case err != nil && stagingGone(dir):
			res.Reason = stagingGoneReason
			return res
		case err != nil:
			return fatal("%s of %s: %v", w.spec.kind, it.Path, err)
		}
	}
	o := butler.MediaOutput{Item: it.ID, Kind: w.spec.kind, Version: w.spec.version, MadeAt: w.clock(), Files: files, Data: out.data,
		SidecarsVersion: out.sidecars}
	ok, err := w.index.SaveMediaOutput(ctx, file, o)
	switch {
	case err != nil && ctx.Err() != nil:
		res.Reason = "the run was told to stop"
	case err != nil:
		return fatal("record %s of %s: %v", w.spec.kind, it.Path, err)
	case !ok && w.spec.kind == butler.OutputBlurHashes:
		res.Reason = "its file or its images changed, or it went, meanwhile"
	case !ok:
		res.Reason = "its file changed or went meanwhile"
	default:
		res.Outcome, res.Covered = butler.ItemDone, out.covered
	}
	return res
}

// stagingGoneReason is why an item whose staging folder went while its
// output was made is skipped: not the file's fault, nor a reason to fail
// the run; the next run makes it again.
const stagingGoneReason = "its staging folder in the bundle was removed while its output was made; the next run makes it again"

// stagingGone reports whether the staging folder dir ("" for none) is
// gone: removed by a clean-up that took it for a leftover, or with its
// bundle.
func stagingGone(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Lstat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

// failed records a failure of item it's output for file, with its
// reason, to be tried again after the backoff of its failures so far.
func (w *outputWork) failed(ctx context.Context, log *slog.Logger, it butler.MediaItem, file butler.MediaFile, reason string) butler.ItemResult {
	failures := w.failures(ctx, it)
	retry := w.clock().Add(retryDelay(failures))
	if _, err := w.index.RecordMediaOutputFailure(ctx, it.ID, file, w.spec.kind, reason, retry); err != nil {
		return butler.ItemResult{Item: it.ID, Outcome: butler.ItemError,
			Reason: fmt.Sprintf("record the failure of %s of %s: %v", w.spec.kind, it.Path, err)}
	}
	log.Warn("media output failed", "kind", w.spec.kind, "path", it.Path, "reason", reason, "failures", failures+1, "retry_at", retry)
	return butler.ItemResult{Item: it.ID, Outcome: butler.ItemFailed, Reason: it.Path + ": " + reason}
}

// statFile returns the item's file as it is now: an error that wraps
// fs.ErrNotExist when it is gone; a *mediatool.FileError when it is there
// but cannot be stat'ed, or is not a regular file.
func statFile(it butler.MediaItem) (butler.MediaFile, error) {
	fi, err := mediatool.Stat("read", it.Path)
	if err != nil {
		return butler.MediaFile{}, err
	}
	return butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// BundleWriter writes the output tasks' files into the items' bundles
// (butler.Bundles): each output kind's files in a folder of the bundle
// named after the kind, replaced whole, and listed in the bundle's
// manifest. One BundleWriter serves every output task of a server, so
// that two tasks never write one manifest at once (in a cluster, an item
// is worked by one server at a time: item jobs are unique by item).
type BundleWriter struct {
	// Bundles is the bundles root.
	Bundles butler.Bundles

	locks [64]sync.Mutex // by item id
}

// stagingTouch is how often BundleWriter sets the modification time of
// a staging folder to now while its output is made (an hour of 4K video
// may take longer than DefaultBlobAge to decode). CleanOldBundles and
// GarbageCollectBlobs leave alone a staging folder younger than their
// MinAge, and the bundle that holds it: a folder kept fresh this way is
// never taken for an interrupted write's, on whichever server of a
// cluster sharing the bundles root they run. One a crash left behind
// stops being touched, and goes once it is MinAge old.
const stagingTouch = DefaultBlobAge / 6

// stagingPrefix and stagingInfix make up the names of the staging folders
// of a bundle: ".<kind>.tmp-<random>".
const (
	stagingPrefix = "."
	stagingInfix  = ".tmp-"
)

// isStaging reports whether name, an entry of a bundle, is a staging
// folder's name.
func isStaging(name string) bool {
	return strings.HasPrefix(name, stagingPrefix) && strings.Contains(name, stagingInfix)
}

// stage makes an empty staging folder in item it's bundle for output
// kind, and keeps it fresh (see stagingTouch) until commit or cleanup, or
// until ctx is done. commit puts what was written there in place of the
// kind's folder and lists its files in the manifest, returning them
// relative to the bundle; cleanup removes what is left of the staging
// folder.
func (b *BundleWriter) stage(ctx context.Context, it butler.MediaItem, kind butler.OutputKind) (dir string, commit func() ([]string, error), cleanup func(), err error) {
	if !filepath.IsAbs(b.Bundles.Root) {
		return "", nil, nil, fmt.Errorf("bundles root %q is not an absolute path", b.Bundles.Root)
	}
	bundle := b.Bundles.Dir(it.ID)
	// A second try when the bundle went in between: GarbageCollectBlobs
	// removes an old empty bundle.
	for try := 0; ; try++ {
		if err := os.MkdirAll(bundle, 0o755); err != nil {
			return "", nil, nil, fmt.Errorf("create bundle %s: %w", bundle, err)
		}
		// A hidden name: a staging folder is never listed, and one left by
		// a crash is removed by GarbageCollectBlobs.
		dir, err = os.MkdirTemp(bundle, stagingPrefix+string(kind)+stagingInfix)
		if err == nil {
			break
		}
		if try > 0 || !errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil, fmt.Errorf("create a staging folder in bundle %s: %w", bundle, err)
		}
	}
	fresh, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepFresh(fresh, dir)
	}()
	stopFresh := sync.OnceFunc(func() {
		stop()
		<-done
	})
	cleanup = func() {
		stopFresh()
		_ = os.RemoveAll(dir)
	}
	commit = func() ([]string, error) {
		stopFresh()
		return b.commit(it, kind, dir)
	}
	return dir, commit, cleanup, nil
}

// keepFresh sets the modification time of the folder dir to now every
// stagingTouch until ctx is done or the folder is gone.
func keepFresh(ctx context.Context, dir string) {
	tick := time.NewTicker(stagingTouch)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			now := time.Now()
			if err := os.Chtimes(dir, now, now); errors.Is(err, fs.ErrNotExist) {
				return
			}
		}
	}
}

func (b *BundleWriter) commit(it butler.MediaItem, kind butler.OutputKind, staged string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(staged, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(staged, p)
		if err != nil {
			return err
		}
		files = append(files, path.Join(string(kind), filepath.ToSlash(rel)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the staged files: %w", err)
	}
	mu := &b.locks[uint64(it.ID)%uint64(len(b.locks))]
	mu.Lock()
	defer mu.Unlock()
	bundle := b.Bundles.Dir(it.ID)
	m, err := b.Bundles.ReadManifest(it.ID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		m = butler.BundleManifest{}
	case err != nil:
		// A damaged manifest, or another item's: start the bundle's list
		// afresh (what it listed is made again by its tasks).
		m = butler.BundleManifest{}
	case m.Format != butler.BundleFormat || m.Path != it.Path:
		m = butler.BundleManifest{}
	}
	prefix := string(kind) + "/"
	keep := slices.DeleteFunc(m.Files, func(f string) bool { return strings.HasPrefix(f, prefix) })
	final := filepath.Join(bundle, string(kind))
	old := final + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("move the old %s aside: %w", final, err)
	}
	if err := os.Rename(staged, final); err != nil {
		return nil, fmt.Errorf("put %s in place: %w", final, err)
	}
	_ = os.RemoveAll(old)
	m.Item, m.Path, m.Files = it.ID, it.Path, append(keep, files...)
	if err := b.Bundles.WriteManifest(m); err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}
