package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	butler "github.com/plexbutler/butler"
)

// GarbageCollectBlobs is the action of the GarbageCollectBlobs task. In
// Butler the blobs are the files of the bundles root (see butler.Bundles),
// and the garbage is those that no manifest lists, once they are older
// than MinAge (a writer writes a bundle's files first and its manifest
// last, well within it):
//
//   - in a bundle whose manifest is readable and of the current format,
//     every file the manifest does not list (an interrupted write's
//     leftovers, a file a newer write no longer lists);
//   - in any other bundle, the temporary files of atomic writes alone
//     (".<name>.<random>.tmp"): the bundle itself is CleanOldBundles's
//     to judge;
//   - outside the bundles, in the root and its shard folders, every file
//     and symbolic link (Butler writes nothing else there);
//   - then the folders left empty: those it emptied, and those empty and
//     older than MinAge. The root itself stays.
//
// A bundle's staging folder (".<kind>.tmp-<random>") younger than MinAge
// is left whole, files and all: an output is being made into it, here or
// on another server sharing the root (BundleWriter keeps it fresh while it
// works; see stagingTouch). An older one is an interrupted write's, and
// goes as above.
//
// A symbolic link is a file here: removed as a link, never followed. It
// stops promptly between two files. With no bundles root configured, or
// none made yet, a run finishes at once and says so.
type GarbageCollectBlobs struct {
	// Root is the bundles root's path; "" means none is configured.
	Root string
	// MinAge is how old an unlisted file or empty folder must be to go;
	// 0 or less means DefaultBlobAge.
	MinAge time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ butler.Action = (*GarbageCollectBlobs)(nil)

// blobCollector is one run of GarbageCollectBlobs.
type blobCollector struct {
	ctx    context.Context
	log    *slog.Logger
	root   *os.Root
	cutoff time.Time // what was last changed before it is old enough
	files  int
	bytes  int64
	dirs   int
	kept   int // listed files kept
}

func (c *blobCollector) String() string {
	return fmt.Sprintf("removed %s (%s) and %s; kept %s",
		plural(c.files, "unlisted file", "unlisted files"), formatBytes(c.bytes),
		plural(c.dirs, "empty folder", "empty folders"), plural(c.kept, "listed file", "listed files"))
}

// Run removes the unlisted files and the empty folders.
func (a *GarbageCollectBlobs) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob garbage collection not started: %w", err)
	}
	root, done, err := openBundlesRoot(a.Root, r)
	if err != nil || done {
		return err
	}
	defer root.Close()
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	minAge := a.MinAge
	if minAge <= 0 {
		minAge = DefaultBlobAge
	}
	c := &blobCollector{ctx: ctx, log: r.Logger(), root: root, cutoff: now().Add(-minAge)}
	top, err := readDir(root, ".")
	if err != nil {
		return fmt.Errorf("garbage collect blobs: read the bundles root: %w", err)
	}
	for i, e := range top {
		r.Progress(i*100/len(top), fmt.Sprintf("%s of the bundles root: %s removed", e.Name(), plural(c.files, "file", "files")))
		var err error
		if e.IsDir() && isShard(e.Name()) {
			err = c.shard(e.Name())
		} else {
			_, err = c.strayEntry(e.Name(), e)
		}
		if err != nil {
			r.Summary(c.String() + " (stopped)")
			if ctx.Err() != nil {
				return fmt.Errorf("blob garbage collection stopped after removing %s: %w", plural(c.files, "file", "files"), err)
			}
			return fmt.Errorf("garbage collect blobs: %w", err)
		}
	}
	r.Progress(100, "blobs collected")
	r.Logger().Info("blobs garbage collected", "root", a.Root, "files", c.files, "bytes", c.bytes, "folders", c.dirs, "kept", c.kept)
	r.Summary(c.String())
	return nil
}

// shard collects in the shard folder name, and removes it if left empty.
func (c *blobCollector) shard(name string) error {
	entries, err := readDir(c.root, name)
	if err != nil {
		return err
	}
	left, emptied := 0, false
	for _, e := range entries {
		rel := path.Join(name, e.Name())
		var gone bool
		if _, ok := butler.ParseBundleDir(name, e.Name()); ok && e.IsDir() {
			gone, err = c.bundle(rel)
		} else {
			gone, err = c.strayEntry(rel, e)
		}
		if err != nil {
			return err
		}
		if gone {
			emptied = true
		} else {
			left++
		}
	}
	_, err = c.removeIfEmpty(name, left, emptied)
	return err
}

// bundle collects in the bundle at rel; true when the bundle itself went
// (it was left empty).
func (c *blobCollector) bundle(rel string) (bool, error) {
	listed := map[string]bool(nil) // nil: keep all but temporary files
	if data, err := c.root.ReadFile(path.Join(rel, butler.BundleManifestName)); err == nil {
		if m, err := butler.ParseBundleManifest(data); err == nil && m.Format == butler.BundleFormat {
			listed = map[string]bool{butler.BundleManifestName: true}
			for _, f := range m.Files {
				listed[f] = true
			}
		}
	}
	return c.tree(rel, "", listed)
}

// tree collects in the folder rel of a bundle (sub is its path inside the
// bundle), files not in listed (or, with listed nil, temporary files); it
// removes the folder if left empty and returns whether it did.
func (c *blobCollector) tree(rel, sub string, listed map[string]bool) (bool, error) {
	entries, err := readDir(c.root, rel)
	if err != nil {
		return false, err
	}
	left, emptied := 0, false
	for _, e := range entries {
		if err := c.ctx.Err(); err != nil {
			return false, err
		}
		name := path.Join(sub, e.Name())
		p := path.Join(rel, e.Name())
		if e.IsDir() && sub == "" && isStaging(e.Name()) && inUse(c.root, p, c.cutoff) {
			left++ // an output is being made into it
			continue
		}
		if e.IsDir() {
			gone, err := c.tree(p, name, listed)
			if err != nil {
				return false, err
			}
			if gone {
				emptied = true
			} else {
				left++
			}
			continue
		}
		keep := listed[name] || (listed == nil && !isTemporary(e.Name()))
		if keep {
			if listed != nil {
				c.kept++
			}
			left++
			continue
		}
		gone, err := c.removeFile(p)
		if err != nil {
			return false, err
		}
		if gone {
			emptied = true
		} else {
			left++
		}
	}
	return c.removeIfEmpty(rel, left, emptied)
}

// strayEntry collects the entry rel outside any bundle: a file (or link)
// goes when old, a folder is collected as strays throughout.
func (c *blobCollector) strayEntry(rel string, e fs.DirEntry) (bool, error) {
	if err := c.ctx.Err(); err != nil {
		return false, err
	}
	if e.IsDir() {
		entries, err := readDir(c.root, rel)
		if err != nil {
			return false, err
		}
		left, emptied := 0, false
		for _, sub := range entries {
			gone, err := c.strayEntry(path.Join(rel, sub.Name()), sub)
			if err != nil {
				return false, err
			}
			if gone {
				emptied = true
			} else {
				left++
			}
		}
		return c.removeIfEmpty(rel, left, emptied)
	}
	return c.removeFile(rel)
}

// removeFile removes the file (or link) rel if it is old enough, and
// reports whether it did.
func (c *blobCollector) removeFile(rel string) (bool, error) {
	info, err := c.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // removed meanwhile
	}
	if err != nil {
		return false, err
	}
	if !info.ModTime().Before(c.cutoff) {
		return false, nil
	}
	if err := c.root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove %s: %w", rel, err)
	}
	c.log.Info("unlisted file removed", "file", rel, "bytes", info.Size())
	c.files++
	c.bytes += info.Size()
	return true, nil
}

// removeIfEmpty removes the folder rel when nothing is left in it and
// either the run emptied it or it is old enough; it reports whether it
// did. A folder a writer filled meanwhile stays (the removal fails).
func (c *blobCollector) removeIfEmpty(rel string, left int, emptied bool) (bool, error) {
	if left > 0 {
		return false, nil
	}
	if !emptied {
		info, err := c.root.Lstat(rel)
		if err != nil || !info.ModTime().Before(c.cutoff) {
			return false, nil
		}
	}
	if err := c.root.Remove(rel); err != nil {
		return false, nil // not empty any more: a writer's
	}
	c.dirs++
	return true, nil
}

// isTemporary reports whether name is an atomic write's temporary file
// (".<name>.<random>.tmp", as internal/atomicfile names them).
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}
