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
	"time"

	butler "github.com/plexbutler/butler"
)

// CleanCacheSizeCap is an action that keeps a cache directory under a size
// cap: when the regular files under Dir add up to more than MaxBytes, it
// removes them oldest first (by modification time) until they add up to
// MaxBytes or less, and then the directories that this leaves empty.
//
// It follows the rules of [CleanOldCacheFiles]: every operation goes
// through an [os.Root] opened on Dir, so nothing outside Dir is touched;
// symbolic links are never followed, never counted and never removed;
// other kinds of entries are left alone; directories that were empty
// already, and Dir itself, are kept. Sizes are the files' apparent sizes.
// A file that changed between the scan and its removal (a newer
// modification time, another size or kind) is kept.
type CleanCacheSizeCap struct {
	// Dir is the cache directory. It not existing is not an error.
	Dir string
	// MaxBytes is the cap; it must be more than 0.
	MaxBytes int64
}

var _ butler.Action = (*CleanCacheSizeCap)(nil)

// cacheFile is a regular file of a cache directory.
type cacheFile struct {
	name  string // slash path relative to the root
	size  int64
	mtime time.Time
}

// Run removes the oldest files under Dir until they fit under MaxBytes.
// Entries that cannot be read or removed are logged and skipped; the run
// then fails at the end with an error that counts them.
func (c *CleanCacheSizeCap) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("size cap of cache directory %s not applied: %w", c.Dir, err)
	}
	if c.Dir == "" {
		return errors.New("cache size cap: no cache directory set")
	}
	if c.MaxBytes <= 0 {
		return fmt.Errorf("cache size cap of %s: no cap set (MaxBytes %d)", c.Dir, c.MaxBytes)
	}
	log := r.Logger()
	root, err := os.OpenRoot(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("cache directory does not exist, nothing to cap", "dir", c.Dir)
		r.Summary("cache directory does not exist")
		return nil
	}
	if err != nil {
		return fmt.Errorf("open cache directory: %w", err)
	}
	defer root.Close()

	var st cleanStats
	problem := func(err error) {
		log.Warn("capping cache directory", "dir", c.Dir, "err", err)
		st.errs = append(st.errs, err)
	}
	var files []cacheFile
	var total int64
	walkErr := walkCache(ctx, root, c.Dir, r, &st, problem, func(p, name string, fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return nil
		}
		files = append(files, cacheFile{name: p, size: fi.Size(), mtime: fi.ModTime()})
		total += fi.Size()
		return nil
	})
	if walkErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("size cap of cache directory %s cancelled while scanning: %w", c.Dir, ctxErr)
		}
		return fmt.Errorf("walk cache directory %s: %w", c.Dir, walkErr)
	}
	before := total
	if total > c.MaxBytes {
		slices.SortFunc(files, func(a, b cacheFile) int {
			return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.name, b.name))
		})
		toFree := total - c.MaxBytes
		touched := map[string]bool{}
		for i, f := range files {
			if total <= c.MaxBytes {
				break
			}
			if i%cacheCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					log.Info("cache capping stopped", "dir", c.Dir, "progress", st.summary())
					return fmt.Errorf("size cap of cache directory %s cancelled after removing %s: %w",
						c.Dir, plural(st.files, "file", "files"), err)
				}
				r.Progress(percentOf64(before-total, toFree), fmt.Sprintf("removed %s", plural(st.files, "file", "files")))
			}
			name := filepath.FromSlash(f.name)
			full := filepath.Join(c.Dir, name)
			fi, err := root.Lstat(name)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					total -= f.size // gone already
				} else {
					problem(fmt.Errorf("lstat %s: %w", full, err))
				}
				continue
			}
			if !fi.Mode().IsRegular() || !fi.ModTime().Equal(f.mtime) || fi.Size() != f.size {
				log.Debug("cache file changed since the scan, kept", "path", full)
				if fi.Mode().IsRegular() {
					total += fi.Size() - f.size
				} else {
					total -= f.size
				}
				continue
			}
			if err := root.Remove(name); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					total -= f.size
				} else {
					problem(fmt.Errorf("remove %s: %w", full, err))
				}
				continue
			}
			log.Debug("removed cache file to stay under the cap", "path", full, "mtime", f.mtime, "bytes", f.size)
			st.files++
			st.bytes += f.size
			total -= f.size
			touched[path.Dir(f.name)] = true
		}
		(&CleanOldCacheFiles{Dir: c.Dir}).removeEmptied(root, touched, &st, problem)
	}
	r.Progress(100, "done")

	var summary string
	if st.files == 0 && before <= c.MaxBytes {
		summary = fmt.Sprintf("cache holds %s, within its cap of %s", formatBytes(before), formatBytes(c.MaxBytes))
	} else {
		summary = fmt.Sprintf("%s; the cache now holds %s (cap %s)", st.summary(), formatBytes(total), formatBytes(c.MaxBytes))
	}
	log.Info("cache capped", "dir", c.Dir, "bytes_before", before, "bytes_after", total, "cap", c.MaxBytes,
		"files_removed", st.files, "dirs_removed", st.dirs, "problems", len(st.errs))
	if len(st.errs) > 0 {
		summary += fmt.Sprintf("; %s", plural(len(st.errs), "entry could not be cleaned", "entries could not be cleaned"))
	}
	r.Summary(summary)
	if len(st.errs) > 0 {
		return fmt.Errorf("cap cache directory %s: %s, the first: %w",
			c.Dir, plural(len(st.errs), "entry could not be cleaned", "entries could not be cleaned"), st.errs[0])
	}
	return nil
}

// percentOf64 returns done as a percentage of total, clamped to 0..100.
func percentOf64(done, total int64) int {
	if total <= 0 {
		return 100
	}
	return int(min(max(done*100/total, 0), 100))
}
