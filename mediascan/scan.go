// Package mediascan scans a library's folders into the media index
// (butler.MediaIndex): new, changed and removed files, found by size and
// modification time.
//
// A scan walks each folder depth first with every directory's entries
// sorted by name (a directory's name with a "/" after it), so that the
// paths come in byte order, and merges them with the library's items, which
// the index gives in the same order a page at a time. Memory stays bounded
// by one page of items, two batches of changes and the entries of the
// directories on the current path, whatever the library's size; changes
// are written in batches, one transaction each, each while the walk goes on
// to make the next (one batch at a time is being written).
package mediascan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/plexbutler/butler"
)

// Defaults of Scanner's fields.
const (
	DefaultBatchSize = 500
	DefaultPageSize  = 1000
	// maxProblems is how many problems a scan keeps (it counts them all).
	maxProblems = 20
	// checkEvery is how many files the walk visits between two looks at
	// its context and two progress reports.
	checkEvery = 256
)

// Scanner scans libraries into an index. Its zero value is not usable: set
// Index. A Scanner may scan several libraries at once.
type Scanner struct {
	// Index is where the items are kept.
	Index butler.MediaIndex
	// BatchSize is how many changes are written in one transaction; 0 or
	// less means DefaultBatchSize.
	BatchSize int
	// PageSize is how many items are read from the index at a time; 0 or
	// less means DefaultPageSize.
	PageSize int
	// Now returns the current time (the instant the changes are recorded
	// at); nil means time.Now.
	Now func() time.Time
	// Logger receives a line per problem; nil means slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called with the scan's counts as it goes:
	// after every batch written and every few hundred files walked.
	Progress func(Stats)
}

// Stats counts what a scan found and did.
type Stats struct {
	// Files and Bytes count the media files walked.
	Files int
	Bytes int64
	// Added, Changed, Revived (gone items whose file is back unchanged),
	// Gone and Unchanged count the items by what the scan did to them.
	Added, Changed, Revived, Gone, Unchanged int
	// Kept counts the items under folders or directories that could not
	// be read, left as they were.
	Kept int
	// Problems are the first problems met (folders or directories that
	// could not be read, files that could not be examined); ProblemCount
	// counts them all.
	Problems     []error
	ProblemCount int
}

// String summarises s in one line.
func (s Stats) String() string {
	out := fmt.Sprintf("%d files: %d added, %d changed, %d back, %d gone, %d unchanged",
		s.Files, s.Added, s.Changed, s.Revived, s.Gone, s.Unchanged)
	if s.Kept > 0 {
		out += fmt.Sprintf(", %d kept (not readable)", s.Kept)
	}
	if s.ProblemCount > 0 {
		out += fmt.Sprintf("; %d problems", s.ProblemCount)
	}
	return out
}

// Scan scans library lib: every media file under its folders is added to
// the index, updated, or found unchanged, and every present item whose file
// was not found is marked gone. A folder or directory that cannot be read
// is a problem (in Stats) and its items are left as they are. The error is
// lib's validation error, ctx's error (the batches written so far stay),
// or the index's.
func (s *Scanner) Scan(ctx context.Context, lib butler.Library) (Stats, error) {
	if err := lib.Validate(); err != nil {
		return Stats{}, err
	}
	m, err := s.newMerge(ctx, lib.Name)
	if err != nil {
		return Stats{}, err
	}
	defer m.stop()
	folders := slices.Clone(lib.Folders)
	slices.SortFunc(folders, func(a, b string) int { return cmp.Compare(withSlash(a), withSlash(b)) })
	for _, f := range folders {
		if err := m.folder(lib.Kind, f); err != nil {
			return m.st, err
		}
	}
	return m.finish()
}

// Forget marks every present item of the library named name gone: for a
// library that is no longer in the config.
func (s *Scanner) Forget(ctx context.Context, name string) (Stats, error) {
	if name == "" {
		return Stats{}, butler.Errorf(butler.EINVALID, "forget a library: name it")
	}
	m, err := s.newMerge(ctx, name)
	if err != nil {
		return Stats{}, err
	}
	defer m.stop()
	return m.finish()
}

// merge is one scan: the walk's files merged with the index's items.
type merge struct {
	s       *Scanner
	ctx     context.Context
	library string
	log     *slog.Logger
	at      time.Time
	batch   int
	st      Stats
	pending butler.MediaChanges
	writing *batchWrite // the batch being written, if any
	cur     cursor
	walked  int // files since the last look at ctx
}

func (s *Scanner) newMerge(ctx context.Context, library string) (*merge, error) {
	if s.Index == nil {
		return nil, errors.New("media scan: no index")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan of library %s not started: %w", library, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &merge{s: s, ctx: ctx, library: library, log: log.With("library", library), at: now(),
		batch: cmp.Or(max(s.BatchSize, 0), DefaultBatchSize)}
	m.cur = cursor{index: s.Index, library: library, size: cmp.Or(max(s.PageSize, 0), DefaultPageSize)}
	return m, nil
}

// problem records a problem of the scan.
func (m *merge) problem(err error) {
	m.log.Warn("media scan", "err", err)
	m.st.ProblemCount++
	if len(m.st.Problems) < maxProblems {
		m.st.Problems = append(m.st.Problems, err)
	}
}

// folder walks one folder of the library.
func (m *merge) folder(kind butler.LibraryKind, dir string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		m.problem(fmt.Errorf("library folder %s cannot be read (%w); its items are kept as they are: mount it, or remove it from the library", dir, err))
		return m.keep(withSlash(dir))
	}
	return m.walk(kind, dir)
}

// walk visits the directory dir (its entries in byte order of their
// paths) and, depth first, the directories under it.
func (m *merge) walk(kind butler.LibraryKind, dir string) error {
	if err := m.ctx.Err(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	var entries []os.DirEntry
	if err == nil {
		if entries, err = d.ReadDir(-1); err != nil {
			d.Close()
		}
	}
	if err != nil {
		// Even when part of it was read, what was not is not gone.
		m.problem(fmt.Errorf("directory %s cannot be read (%w); its items are kept as they are", dir, err))
		return m.keep(withSlash(dir))
	}
	type entry struct {
		key  string // the name, with a "/" after a directory's
		path string
		dir  bool
		st   *fileStat // nil when the file could not be examined
	}
	var (
		list  = make([]entry, 0, len(entries))
		files []statJob // the media files to examine
	)
	for _, e := range entries {
		name := e.Name()
		isDir := e.IsDir()
		if skipped(name, isDir) {
			continue
		}
		if !utf8.ValidString(name) {
			// The index keeps text (PostgreSQL refuses other bytes): such
			// an entry can have no item.
			if _, media := Kind(kind, name); isDir || media {
				m.problem(fmt.Errorf("%s: the name is not valid UTF-8, so it is left out; rename it",
					strings.ToValidUTF8(filepath.Join(dir, name), "\uFFFD")))
			}
			continue
		}
		if isDir {
			list = append(list, entry{key: name + "/", path: filepath.Join(dir, name), dir: true})
			continue
		}
		if _, ok := Kind(kind, name); ok {
			// A link to a file counts as that file; a link to a directory
			// is not followed (it could make a loop).
			files = append(files, statJob{name: name, follow: e.Type()&fs.ModeSymlink != 0})
		}
	}
	statAll(d, files)
	// The directory is closed before the walk goes down: one open
	// directory at a time.
	d.Close()
	for i := range files {
		f := &files[i]
		p := filepath.Join(dir, f.name)
		switch {
		case errors.Is(f.err, fs.ErrNotExist):
			// Removed meanwhile, or a dangling link.
		case f.err != nil:
			m.problem(fmt.Errorf("file %s cannot be examined: %w", p, f.err))
			// Its item, if any, is kept: skip the exact path.
			list = append(list, entry{key: f.name, path: p})
		case f.st.regular:
			list = append(list, entry{key: f.name, path: p, st: &f.st})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	for _, e := range list {
		var err error
		switch {
		case e.dir:
			err = m.walk(kind, e.path)
		case e.st == nil:
			err = m.keepPath(e.path)
		default:
			k, _ := Kind(kind, e.path)
			err = m.file(butler.MediaFile{Path: e.path, Kind: k, Size: e.st.size, ModTime: e.st.modTime})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// file merges one file of the walk.
func (m *merge) file(f butler.MediaFile) error {
	m.st.Files++
	m.st.Bytes += f.Size
	if m.walked++; m.walked >= checkEvery {
		m.walked = 0
		if err := m.ctx.Err(); err != nil {
			return err
		}
		m.report()
	}
	for {
		it, err := m.cur.peek(m.ctx)
		if err != nil {
			return err
		}
		switch {
		case it == nil || it.Path > f.Path:
			m.pending.Add = append(m.pending.Add, f)
			m.st.Added++
			return m.flushIfFull()
		case it.Path == f.Path:
			m.cur.next()
			switch {
			case it.Size != f.Size || !it.ModTime.Equal(f.ModTime) || it.Kind != f.Kind:
				if m.pending.Change == nil {
					m.pending.Change = map[int64]butler.MediaFile{}
				}
				m.pending.Change[it.ID] = f
				m.st.Changed++
			case it.State == butler.ItemGone:
				m.pending.Revive = append(m.pending.Revive, it.ID)
				m.st.Revived++
			default:
				m.st.Unchanged++
			}
			return m.flushIfFull()
		default: // it.Path < f.Path: its file was not walked
			m.missing(*it)
			m.cur.next()
			if err := m.flushIfFull(); err != nil {
				return err
			}
		}
	}
}

// missing handles an item whose file the walk did not find.
func (m *merge) missing(it butler.MediaEntry) {
	if it.State == butler.ItemPresent {
		m.pending.Gone = append(m.pending.Gone, it.ID)
		m.st.Gone++
	}
}

// keep passes over the items under prefix (a directory that could not be
// read), leaving them as they are; the items before them were not walked.
func (m *merge) keep(prefix string) error {
	for {
		it, err := m.cur.peek(m.ctx)
		if err != nil || it == nil {
			return err
		}
		switch {
		case strings.HasPrefix(it.Path, prefix):
			m.st.Kept++
		case it.Path < prefix:
			m.missing(*it)
		default:
			return m.flushIfFull()
		}
		m.cur.next()
		if err := m.flushIfFull(); err != nil {
			return err
		}
	}
}

// keepPath passes over the item at path (a file that could not be
// examined), leaving it as it is.
func (m *merge) keepPath(path string) error {
	for {
		it, err := m.cur.peek(m.ctx)
		if err != nil || it == nil || it.Path > path {
			return err
		}
		if it.Path == path {
			m.st.Kept++
		} else {
			m.missing(*it)
		}
		m.cur.next()
		if err := m.flushIfFull(); err != nil {
			return err
		}
	}
}

// finish marks the items after the last file gone and writes the last
// batch.
func (m *merge) finish() (Stats, error) {
	for {
		it, err := m.cur.peek(m.ctx)
		if err != nil {
			return m.st, err
		}
		if it == nil {
			break
		}
		m.missing(*it)
		m.cur.next()
		if err := m.flushIfFull(); err != nil {
			return m.st, err
		}
	}
	if err := m.flush(); err != nil {
		return m.st, err
	}
	if err := m.wait(); err != nil {
		return m.st, err
	}
	m.report()
	return m.st, nil
}

func (m *merge) flushIfFull() error {
	if m.pending.Len() < m.batch {
		return nil
	}
	return m.flush()
}

// flush starts writing the pending changes, in one transaction, once the
// batch written before them is: the walk goes on meanwhile. Its error is
// that of the batch before, or ctx's.
func (m *merge) flush() error {
	if m.pending.Len() == 0 {
		return nil
	}
	if err := m.wait(); err != nil {
		return err
	}
	if err := m.ctx.Err(); err != nil {
		return err
	}
	c := m.pending
	c.At = m.at
	m.pending = butler.MediaChanges{}
	w := &batchWrite{n: c.Len(), done: make(chan struct{})}
	m.writing = w
	go func() {
		defer close(w.done)
		w.err = m.s.Index.ApplyMediaChanges(m.ctx, m.library, c)
	}()
	return nil
}

// wait waits for the batch being written, if any, and returns its error.
// Every way out of a scan waits, so that no write outlives it.
func (m *merge) wait() error {
	w := m.writing
	if w == nil {
		return nil
	}
	<-w.done
	m.writing = nil
	if w.err != nil {
		return fmt.Errorf("write a batch of %d changes of library %s: %w", w.n, m.library, w.err)
	}
	m.report()
	return nil
}

// stop waits for the merge's goroutines: the batch being written and the
// page being read ahead.
func (m *merge) stop() {
	m.wait()
	m.cur.close()
}

// batchWrite is a batch of changes being written by a goroutine of the
// scan's (merge.flush); merge.wait waits for it.
type batchWrite struct {
	n    int
	done chan struct{}
	err  error // set before done is closed
}

func (m *merge) report() {
	if m.s.Progress != nil {
		m.s.Progress(m.st)
	}
}

// cursor reads a library's items in path order, a page at a time, the
// next page while the scan merges this one.
type cursor struct {
	index   butler.MediaIndex
	library string
	size    int
	page    []butler.MediaEntry
	pos     int
	after   string
	done    bool
	ahead   chan pageRead // the next page, being read; nil when none is
}

// pageRead is a page read ahead, or the error that read met.
type pageRead struct {
	page []butler.MediaEntry
	err  error
}

// peek returns the next item, nil after the last.
//
// The page after this one is read while the scan merges this one. That
// read cannot miss an item the scan adds meanwhile: the scan adds a file
// only before an item of this page, so before the page's last path, which
// the next page starts after.
func (c *cursor) peek(ctx context.Context) (*butler.MediaEntry, error) {
	if c.pos < len(c.page) {
		return &c.page[c.pos], nil
	}
	if c.done {
		return nil, nil
	}
	var r pageRead
	if c.ahead != nil {
		r = <-c.ahead
		c.ahead = nil
	} else {
		r = c.read(ctx, c.after)
	}
	if r.err != nil {
		return nil, fmt.Errorf("read the items of library %s: %w", c.library, r.err)
	}
	c.page, c.pos = r.page, 0
	if len(r.page) < c.size {
		c.done = true
	}
	if len(r.page) == 0 {
		return nil, nil
	}
	c.after = r.page[len(r.page)-1].Path
	if !c.done {
		ahead, after := make(chan pageRead, 1), c.after
		c.ahead = ahead
		go func() { ahead <- c.read(ctx, after) }()
	}
	return &c.page[0], nil
}

// read reads the page after the path after.
func (c *cursor) read(ctx context.Context, after string) pageRead {
	page, err := c.index.MediaEntries(ctx, c.library, after, c.size)
	return pageRead{page: page, err: err}
}

// close waits for the page being read ahead, if any: every way out of a
// scan closes its cursor, so that no read outlives it.
func (c *cursor) close() {
	if c.ahead != nil {
		<-c.ahead
		c.ahead = nil
	}
}

// next moves past the item peek returned.
func (c *cursor) next() { c.pos++ }

// statJob is a file of a directory to examine, and what was found.
type statJob struct {
	name   string
	follow bool // a symbolic link, followed
	st     fileStat
	err    error
}

// statParallel is how many files of a directory make its examination
// worth sharing: the kernel's work per file is most of a walk's cost.
const statParallel = 16

// statAll examines the files of the open directory dir, sharing them among
// as many goroutines as there are CPUs, and at least 4, when they are many:
// with the directory in the page cache the work is the CPUs'; without, the
// disk's, which more requests at once keep busier.
func statAll(dir *os.File, files []statJob) {
	n := min(max(runtime.GOMAXPROCS(0), 4), len(files)/statParallel)
	if n < 2 {
		for i := range files {
			files[i].st, files[i].err = statAt(dir, files[i].name, files[i].follow)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(files) + n - 1) / n
	for part := range slices.Chunk(files, per) {
		wg.Go(func() {
			for i := range part {
				part[i].st, part[i].err = statAt(dir, part[i].name, part[i].follow)
			}
		})
	}
	wg.Wait()
}

// fileStat is what a scan reads of a file.
type fileStat struct {
	size    int64
	modTime time.Time
	regular bool
}

// withSlash returns dir with one trailing separator.
func withSlash(dir string) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir
	}
	return dir + string(filepath.Separator)
}
