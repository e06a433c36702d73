package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	butler "github.com/plexbutler/butler"
)

// DefaultBlobAge is how old a file or folder of the bundles root must be
// before it can be taken for an orphan, when MinAge is not set: a writer
// writes a bundle's files, then its manifest, well within it.
const DefaultBlobAge = time.Hour

// CleanOldBundles is the action of the CleanOldBundles task: it removes
// from the bundles root (see butler.Bundles) the bundles that are of no
// use any more:
//
//   - those of items no longer in the media index, or in it with another
//     path (the index was restored or made again);
//   - those of items whose file has been gone for longer than the grace
//     period (GarbageCollectLibraryMedia forgets them at the same age);
//   - those whose manifest has an older format than butler.BundleFormat;
//   - those whose manifest cannot be read, is not a manifest or names
//     another item, and those with no manifest at all once they are older
//     than MinAge (younger, they may be being written).
//
// A bundle holding a staging folder (".<kind>.tmp-<random>") younger than
// MinAge is left alone whatever else is found: an output is being made
// into it, here or on another server sharing the root (BundleWriter keeps
// the folder fresh while it works; see stagingTouch).
// A bundle whose manifest has a newer format (left by a newer Butler) is
// left alone. It works inside the root alone (an os.Root): it never
// follows a symbolic link out of it, takes a link for a bundle or a shard
// folder, or removes anything but the link itself. It stops promptly
// between two bundles. With no bundles root
// configured, or none made yet, a run finishes at once and says so.
type CleanOldBundles struct {
	// Index is the media index (the server's store).
	Index butler.MediaIndex
	// Root is the bundles root's path; "" means none is configured.
	Root string
	// Grace is how long an item must have been gone for its bundle to go;
	// 0 or less means DefaultMediaGrace.
	Grace time.Duration
	// MinAge is how old a bundle without a manifest must be to go, and
	// a staging folder for its bundle to go at all; 0 or less means
	// DefaultBlobAge.
	MinAge time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ butler.Action = (*CleanOldBundles)(nil)

// Why a bundle is removed.
const (
	bundleNoItem   = "no longer indexed"
	bundleItemGone = "item gone"
	bundleOld      = "older format"
	bundleBroken   = "manifest unreadable"
)

// bundleStats counts what CleanOldBundles did.
type bundleStats struct {
	removed map[string]int // by reason
	bytes   int64
	kept    int
}

func (s *bundleStats) total() int {
	n := 0
	for _, v := range s.removed {
		n += v
	}
	return n
}

func (s *bundleStats) String() string {
	return fmt.Sprintf("removed %s (%s): %d no longer indexed, %d of items gone, %d of an older format, %d with no readable manifest; kept %d",
		plural(s.total(), "bundle", "bundles"), formatBytes(s.bytes), s.removed[bundleNoItem], s.removed[bundleItemGone],
		s.removed[bundleOld], s.removed[bundleBroken], s.kept)
}

// Run removes the bundles of no use.
func (a *CleanOldBundles) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bundle cleaning not started: %w", err)
	}
	if a.Index == nil {
		return errors.New("clean old bundles: no media index")
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
	grace := a.Grace
	if grace <= 0 {
		grace = DefaultMediaGrace
	}
	minAge := a.MinAge
	if minAge <= 0 {
		minAge = DefaultBlobAge
	}
	st := &bundleStats{removed: map[string]int{}}
	shards, err := readShards(root)
	if err != nil {
		return err
	}
	log := r.Logger()
	for i, shard := range shards {
		r.Progress(i*100/len(shards), fmt.Sprintf("folder %s of the bundles root: %s", shard, plural(st.total(), "bundle removed", "bundles removed")))
		entries, err := readDir(root, shard)
		if err != nil {
			r.Summary(st.String())
			return fmt.Errorf("clean old bundles: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				r.Summary(st.String() + " (stopped)")
				return fmt.Errorf("bundle cleaning stopped after %s: %w", plural(st.total(), "bundle", "bundles"), err)
			}
			id, ok := butler.ParseBundleDir(shard, e.Name())
			if !ok || !e.IsDir() {
				continue // not a bundle: GarbageCollectBlobs's
			}
			rel := path.Join(shard, e.Name())
			at := now()
			reason, err := a.judge(ctx, root, rel, id, at, grace, minAge)
			if err != nil {
				r.Summary(st.String())
				if ctx.Err() != nil {
					return fmt.Errorf("bundle cleaning stopped after %s: %w", plural(st.total(), "bundle", "bundles"), err)
				}
				return fmt.Errorf("clean old bundles: bundle %s: %w", rel, err)
			}
			if reason == "" || beingMade(root, rel, at.Add(-minAge)) {
				st.kept++
				continue
			}
			size := treeSize(root, rel)
			if err := root.RemoveAll(rel); err != nil {
				r.Summary(st.String())
				return fmt.Errorf("clean old bundles: remove bundle %s (%s): %w", rel, reason, err)
			}
			log.Info("bundle removed", "bundle", rel, "reason", reason, "bytes", size)
			st.removed[reason]++
			st.bytes += size
		}
	}
	r.Progress(100, "bundles cleaned")
	log.Info("bundles cleaned", "root", a.Root, "removed", st.total(), "bytes", st.bytes, "kept", st.kept)
	r.Summary(st.String())
	return nil
}

// judge returns why the bundle at rel, of item id, is to go, or "" when
// it stays. An error is the index's.
func (a *CleanOldBundles) judge(ctx context.Context, root *os.Root, rel string, id int64, now time.Time, grace, minAge time.Duration) (string, error) {
	data, err := root.ReadFile(path.Join(rel, butler.BundleManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		if info, err := root.Lstat(rel); err == nil && now.Sub(info.ModTime()) < minAge {
			return "", nil // being written
		}
		return bundleBroken, nil
	}
	if err != nil {
		return bundleBroken, nil
	}
	m, err := butler.ParseBundleManifest(data)
	switch {
	case err != nil:
		return bundleBroken, nil
	case m.Format < butler.BundleFormat:
		return bundleOld, nil
	case m.Format > butler.BundleFormat:
		return "", nil // a newer Butler's
	case m.Item != id:
		return bundleBroken, nil
	}
	it, err := a.Index.MediaItem(ctx, id)
	switch {
	case butler.ErrorCode(err) == butler.ENOTFOUND:
		return bundleNoItem, nil
	case err != nil:
		return "", err
	case it.Path != m.Path:
		return bundleNoItem, nil
	case it.State == butler.ItemGone && now.Sub(it.GoneAt) > grace:
		return bundleItemGone, nil
	}
	return "", nil
}

// beingMade reports whether the bundle at rel holds a staging folder
// changed at cutoff or later: one an output is being made into. A bundle
// that cannot be read is not.
func beingMade(root *os.Root, rel string, cutoff time.Time) bool {
	entries, err := readDir(root, rel)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && isStaging(e.Name()) && inUse(root, path.Join(rel, e.Name()), cutoff) {
			return true
		}
	}
	return false
}

// inUse reports whether the staging folder at rel was changed at cutoff or
// later (BundleWriter touches it while it writes into it).
func inUse(root *os.Root, rel string, cutoff time.Time) bool {
	info, err := root.Lstat(rel)
	return err == nil && info.IsDir() && !info.ModTime().Before(cutoff)
}

// openBundlesRoot opens the bundles root at dir. With none configured, or
// none made yet, it reports so to r and returns done.
func openBundlesRoot(dir string, r butler.Reporter) (*os.Root, bool, error) {
	if dir == "" {
		r.Summary("no bundles root configured")
		r.Logger().Info("no bundles root configured: nothing to do")
		return nil, true, nil
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		r.Summary(fmt.Sprintf("no bundles yet (%s does not exist)", dir))
		r.Logger().Info("no bundles yet: nothing to do", "root", dir)
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open the bundles root: %w", err)
	}
	return root, false, nil
}

// isShard reports whether name is a shard's: two lower-case hexadecimal
// digits.
func isShard(name string) bool {
	return len(name) == 2 && strings.Trim(name, "0123456789abcdef") == ""
}

// readShards returns the names of the shard folders of root, sorted;
// symbolic links are not folders.
func readShards(root *os.Root) ([]string, error) {
	entries, err := readDir(root, ".")
	if err != nil {
		return nil, fmt.Errorf("read the bundles root: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && isShard(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// readDir reads the folder rel of root, in name order. Entries are not
// followed: a symbolic link is a link, whatever it points to.
func readDir(root *os.Root, rel string) ([]fs.DirEntry, error) {
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// treeSize returns the bytes of the files under rel, links counted as
// links; what it cannot read counts for nothing.
func treeSize(root *os.Root, rel string) int64 {
	var n int64
	_ = fs.WalkDir(root.FS(), rel, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}
