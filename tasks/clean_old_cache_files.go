package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	butler "github.com/plexbutler/butler"
)

const (
	// defaultCacheMaxAge is CleanOldCacheFiles' MaxAge when it is not set.
	defaultCacheMaxAge = 7 * 24 * time.Hour
	// cacheCheckEvery is how many entries CleanOldCacheFiles visits between
	// two looks at its context and two progress reports.
	cacheCheckEvery = 256
)

// CleanOldCacheFiles is the action of the CleanOldCacheFiles task: it
// removes files that have not been modified for a while from a cache
// directory, and the directories that it leaves empty.
//
// A run walks the tree under Dir and removes every regular file whose
// modification time is older than Now() - MaxAge. Symbolic links are never
// followed: a symbolic link is an entry like a file, removed when its own
// modification time (that of the link, not of its target) is old, and a
// link to a directory is never descended into. Other kinds of entries
// (sockets, pipes, devices) are left alone. Every operation goes through an
// [os.Root] opened on Dir, so nothing outside Dir is ever touched, even if
// the tree changes while the run walks it. A directory from which the run
// removed entries is removed too when that leaves it empty; directories
// that were empty already, and Dir itself, are kept. Dir may itself be a
// symbolic link to the cache directory.
type CleanOldCacheFiles struct {
	// Dir is the cache directory. It not existing is not an error: there is
	// nothing to clean.
	Dir string
	// MaxAge is how old, by modification time, a file must be to be
	// removed; 0 or less means 7 days.
	MaxAge time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ butler.Action = (*CleanOldCacheFiles)(nil)

// cleanStats counts what a CleanOldCacheFiles run did.
type cleanStats struct {
	visited int   // entries visited, directories included
	scanned int   // entries visited that are not directories
	files   int   // files and links removed
	bytes   int64 // size of the regular files removed
	dirs    int   // directories removed
	errs    []error
}

func (s *cleanStats) summary() string {
	return fmt.Sprintf("removed %s (%s), %s", plural(s.files, "file", "files"),
		formatBytes(s.bytes), plural(s.dirs, "empty directory", "empty directories"))
}

// Run removes the old files under Dir. Entries that cannot be read or
// removed are logged and skipped; the run then goes on, and fails at the end
// with an error that counts them.
func (c *CleanOldCacheFiles) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cleaning of cache directory %s not started: %w", c.Dir, err)
	}
	if c.Dir == "" {
		return errors.New("clean old cache files: no cache directory set")
	}
	log := r.Logger()
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = defaultCacheMaxAge
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cutoff := now().Add(-maxAge)

	root, err := os.OpenRoot(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("cache directory does not exist, nothing to clean", "dir", c.Dir)
		r.Summary("cache directory does not exist")
		return nil
	}
	if err != nil {
		return fmt.Errorf("open cache directory: %w", err)
	}
	defer root.Close()

	var st cleanStats
	touched := map[string]bool{} // directories something was removed from
	problem := func(err error) {
		log.Warn("cleaning cache directory", "dir", c.Dir, "err", err)
		st.errs = append(st.errs, err)
	}
	walkErr := walkCache(ctx, root, c.Dir, r, &st, problem, func(p, name string, fi fs.FileInfo) error {
		mode := fi.Mode()
		if !mode.IsRegular() && mode&fs.ModeSymlink == 0 {
			return nil
		}
		if !fi.ModTime().Before(cutoff) {
			return nil
		}
		if err := root.Remove(name); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				problem(fmt.Errorf("remove %s: %w", filepath.Join(c.Dir, name), err))
			}
			return nil
		}
		log.Debug("removed old cache file", "path", filepath.Join(c.Dir, name), "mtime", fi.ModTime())
		st.files++
		if mode.IsRegular() {
			st.bytes += fi.Size()
		}
		touched[path.Dir(p)] = true
		return nil
	})
	if walkErr != nil {
		log.Info("cache cleaning stopped", "dir", c.Dir, "progress", st.summary())
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("cleaning of cache directory %s cancelled after removing %s: %w",
				c.Dir, plural(st.files, "file", "files"), ctxErr)
		}
		return fmt.Errorf("walk cache directory %s: %w", c.Dir, walkErr)
	}
	c.removeEmptied(root, touched, &st, problem)
	r.Progress(-1, fmt.Sprintf("scanned %d files", st.scanned))

	summary := st.summary()
	log.Info("cache cleaned", "dir", c.Dir, "scanned", st.scanned, "files_removed", st.files,
		"bytes_removed", st.bytes, "dirs_removed", st.dirs, "problems", len(st.errs))
	if len(st.errs) > 0 {
		summary += fmt.Sprintf("; %s", plural(len(st.errs), "entry could not be cleaned", "entries could not be cleaned"))
	}
	r.Summary(summary)
	if len(st.errs) > 0 {
		return fmt.Errorf("clean cache directory %s: %s, the first: %w",
			c.Dir, plural(len(st.errs), "entry could not be cleaned", "entries could not be cleaned"), st.errs[0])
	}
	return nil
}

// removeEmptied removes, deepest first, the directories in touched (slash
// paths relative to root) that are now empty, and then their parents in
// turn when that empties them. The root itself is never removed.
func (c *CleanOldCacheFiles) removeEmptied(root *os.Root, touched map[string]bool, st *cleanStats, problem func(error)) {
	depth := func(p string) int { return strings.Count(p, "/") }
	for len(touched) > 0 {
		dirs := make([]string, 0, len(touched))
		for d := range touched {
			if d != "." {
				dirs = append(dirs, d)
			}
		}
		slices.SortFunc(dirs, func(a, b string) int {
			return cmp.Or(cmp.Compare(depth(b), depth(a)), strings.Compare(a, b))
		})
		next := map[string]bool{}
		for _, d := range dirs {
			err := root.Remove(filepath.FromSlash(d))
			switch {
			case err == nil:
				st.dirs++
				next[path.Dir(d)] = true
			case errors.Is(err, fs.ErrNotExist), isNotEmpty(err):
				// Removed already, or still holds something: keep it.
			default:
				problem(fmt.Errorf("remove emptied directory %s: %w", filepath.Join(c.Dir, filepath.FromSlash(d)), err))
			}
		}
		touched = next
	}
}

// isNotEmpty reports whether err says that a directory could not be
// removed because it is not empty.
func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// walkCache walks a cache directory through root and calls visit with every
// entry that is not a directory, Lstat-ed through the root (so it never
// follows a final link and never leaves the directory). It counts into st,
// checks ctx and reports progress every cacheCheckEvery entries, and hands
// unreadable entries to problem rather than stopping.
func walkCache(ctx context.Context, root *os.Root, dir string, r butler.Reporter, st *cleanStats,
	problem func(error), visit func(p, name string, fi fs.FileInfo) error) error {
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		st.visited++
		if st.visited%cacheCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			r.Progress(-1, fmt.Sprintf("scanned %d files", st.scanned))
		}
		name := filepath.FromSlash(p)
		if err != nil {
			if p == "." {
				return err
			}
			// An unreadable directory: skip what is in it.
			problem(fmt.Errorf("read %s: %w", filepath.Join(dir, name), err))
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st.scanned++
		fi, err := root.Lstat(name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				problem(fmt.Errorf("lstat %s: %w", filepath.Join(dir, name), err))
			}
			return nil
		}
		return visit(p, name, fi)
	})
}
