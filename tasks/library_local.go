package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediascan"
)

// defaultLocalMediaPage is how many items RefreshLocalMedia reads, and
// writes the sidecars of, at a time, when PageSize is not set.
const defaultLocalMediaPage = 500

// RefreshLocalMedia is the action of the RefreshLocalMedia task: for each
// present item of the configured libraries, it finds the sidecar files in
// the item's folder — subtitles, posters, art and .nfo files, named as
// mediascan.Sidecars describes — and records them in the media index. An
// item whose sidecars are as recorded is not written again; one whose set
// changed (a file added, removed or changed in size or modification time)
// has its set replaced.
//
// It works a page of items at a time (one read of their recorded sidecars,
// one transaction for the changed sets) and stops promptly between two
// items; the pages written stay. A folder that cannot be read (a disk not
// mounted) leaves its items' sidecars as they were; the run goes on and
// fails at the end, naming it. With no library configured, a run finishes
// at once and says so. Photo libraries have no sidecars (their images are
// media).
type RefreshLocalMedia struct {
	// Index is the media index (the server's store).
	Index butler.SidecarIndex
	// Libraries are the configured libraries.
	Libraries []butler.Library
	// PageSize is how many items are handled at a time; 0 or less means
	// 500. At most 1,000.
	PageSize int
}

var _ butler.Action = (*RefreshLocalMedia)(nil)

// localStats counts what RefreshLocalMedia found in one library.
type localStats struct {
	items, withSidecars, updated int
	byKind                       map[butler.SidecarKind]int
	problems                     int
	firstProblem                 error
}

func (s *localStats) String() string {
	return fmt.Sprintf("%s, %d with sidecars (%s, %s, %s, %s), %d updated",
		plural(s.items, "item", "items"), s.withSidecars,
		plural(s.byKind[butler.SidecarSubtitle], "subtitle", "subtitles"),
		plural(s.byKind[butler.SidecarPoster], "poster", "posters"),
		plural(s.byKind[butler.SidecarArt], "art file", "art files"),
		plural(s.byKind[butler.SidecarNFO], ".nfo", ".nfo files"), s.updated)
}

// Run finds and records the sidecars of every library, one after another.
func (a *RefreshLocalMedia) Run(ctx context.Context, r butler.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local media refresh not started: %w", err)
	}
	if a.Index == nil {
		return errors.New("refresh local media: no media index")
	}
	if err := checkLibraries(a.Libraries); err != nil {
		return err
	}
	log := r.Logger()
	if len(a.Libraries) == 0 {
		r.Summary("no library configured")
		log.Info("no library configured: no local media to refresh")
		return &butler.NothingYet{Reason: "no library configured"}
	}
	if a.PageSize > 1000 {
		return butler.Errorf(butler.EINVALID, "refresh local media: page size %d is over 1000; give at most 1000", a.PageSize)
	}
	counts, err := a.Index.LibraryCounts(ctx)
	if err != nil {
		return fmt.Errorf("refresh local media: read the index: %w", err)
	}
	expected := 0
	for _, c := range counts {
		for _, lib := range a.Libraries {
			if lib.Name == c.Library && lib.Kind != butler.LibraryPhotos {
				expected += c.Present
			}
		}
	}
	var parts []string
	var firstProblem error
	problems, done := 0, 0
	for _, lib := range a.Libraries {
		if lib.Kind == butler.LibraryPhotos {
			parts = append(parts, lib.Name+": a photo library, no sidecars")
			continue
		}
		st := &localStats{byKind: map[butler.SidecarKind]int{}}
		progress := func() {
			percent := -1
			if expected > 0 {
				percent = min(99, (done+st.items)*100/expected)
			}
			r.Progress(percent, fmt.Sprintf("local media of %s: %s", lib.Name, plural(st.items, "item", "items")))
		}
		err := a.refresh(ctx, log, lib, st, progress)
		done += st.items
		if err != nil {
			parts = append(parts, lib.Name+" (not finished): "+st.String())
			r.Summary(strings.Join(parts, "; "))
			if ctx.Err() != nil {
				return fmt.Errorf("local media refresh stopped (the pages written stay): %w", err)
			}
			return fmt.Errorf("refresh local media of %s: %w", lib.Name, err)
		}
		log.Info("local media refreshed", "library", lib.Name, "items", st.items, "with_sidecars", st.withSidecars,
			"updated", st.updated, "problems", st.problems)
		part := lib.Name + ": " + st.String()
		if st.problems > 0 {
			part += ", " + plural(st.problems, "folder unreadable", "folders unreadable")
			if firstProblem == nil {
				firstProblem = st.firstProblem
			}
		}
		parts = append(parts, part)
		problems += st.problems
	}
	r.Progress(100, "local media refreshed")
	r.Summary(strings.Join(parts, "; "))
	if problems > 0 {
		return fmt.Errorf("refresh local media: %s (their items' sidecars are left as they were), the first: %w",
			plural(problems, "folder could not be read", "folders could not be read"), firstProblem)
	}
	return nil
}

// refresh handles the present items of lib, a page at a time.
func (a *RefreshLocalMedia) refresh(ctx context.Context, log *slog.Logger, lib butler.Library, st *localStats, progress func()) error {
	page := a.PageSize
	if page <= 0 {
		page = defaultLocalMediaPage
	}
	after := ""
	// The listings of the folder of the last item and of its parents:
	// the pages are in path order, so a folder's items, and its
	// subfolders', come together, and each folder is read once a run.
	var folders []folderListing
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		items, err := a.Index.MediaItems(ctx, butler.MediaItemFilter{Library: lib.Name, State: butler.ItemPresent, AfterPath: after, Limit: page})
		if err != nil {
			return fmt.Errorf("read the items: %w", err)
		}
		if len(items) == 0 {
			return nil
		}
		after = items[len(items)-1].Path
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		recorded, err := a.Index.MediaSidecars(ctx, ids)
		if err != nil {
			return fmt.Errorf("read the recorded sidecars: %w", err)
		}
		changed := map[int64][]butler.MediaSidecar{}
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return a.save(ctx, changed, st, err)
			}
			dir := filepath.Dir(it.Path)
			for len(folders) > 0 && !within(dir, folders[len(folders)-1].dir) {
				folders = folders[:len(folders)-1]
			}
			if len(folders) == 0 || folders[len(folders)-1].dir != dir {
				f := listFolder(lib.Kind, dir)
				folders = append(folders, f)
				if f.err != nil {
					st.problems++
					if st.firstProblem == nil {
						st.firstProblem = f.err
					}
					log.Warn("folder unreadable: its items' sidecars are left as they were", "folder", dir, "err", f.err)
				}
			}
			f := folders[len(folders)-1]
			st.items++
			if f.err != nil {
				continue
			}
			found := f.sidecars(filepath.Base(it.Path))
			if len(found) > 0 {
				st.withSidecars++
			}
			for _, s := range found {
				st.byKind[s.Kind]++
			}
			if !slices.EqualFunc(found, recorded[it.ID], butler.MediaSidecar.Equal) {
				changed[it.ID] = found
			}
		}
		if err := a.save(ctx, changed, st, nil); err != nil {
			return err
		}
		progress()
		if len(items) < page {
			return nil
		}
	}
}

// save replaces the changed sets of a page and counts them; stopped is
// the error that ended the page early, returned after the save.
func (a *RefreshLocalMedia) save(ctx context.Context, changed map[int64][]butler.MediaSidecar, st *localStats, stopped error) error {
	if len(changed) > 0 {
		// Written even when stopping: the page's work is done. The store
		// runs it in a transaction whose statements honour ctx.
		n, err := a.Index.ReplaceMediaSidecars(context.WithoutCancel(ctx), changed)
		if err != nil {
			return fmt.Errorf("record the sidecars: %w", err)
		}
		st.updated += n
	}
	return stopped
}

// within reports whether dir is folder or inside it.
func within(dir, folder string) bool {
	return dir == folder || strings.HasPrefix(dir, strings.TrimSuffix(folder, string(filepath.Separator))+string(filepath.Separator))
}

// folderListing is a folder's files, as read once for the items in it.
type folderListing struct {
	dir   string
	names *mediascan.Folder      // regular files (symbolic links to them too)
	files map[string]os.FileInfo // by name
	err   error
}

// readFolder is os.ReadDir; a test counts the folders read through it.
var readFolder = os.ReadDir

// listFolder reads dir's files, in a library of kind lib.
func listFolder(lib butler.LibraryKind, dir string) folderListing {
	f := folderListing{dir: dir, files: map[string]os.FileInfo{}}
	entries, err := readFolder(dir)
	if err != nil {
		f.err = fmt.Errorf("read folder %s: %w", dir, err)
		return f
	}
	var names []string
	for _, e := range entries {
		var info os.FileInfo
		var err error
		switch {
		case e.Type().IsRegular():
			info, err = e.Info()
		case e.Type()&fs.ModeSymlink != 0:
			info, err = os.Stat(filepath.Join(dir, e.Name()))
		default:
			continue
		}
		if err != nil || !info.Mode().IsRegular() {
			continue // removed since, or a link to no file
		}
		names = append(names, e.Name())
		f.files[e.Name()] = info
	}
	f.names = mediascan.NewFolder(lib, names)
	return f
}

// sidecars returns the sidecars of the media file named media in f, with
// their paths, sizes and modification times, in path order.
func (f folderListing) sidecars(media string) []butler.MediaSidecar {
	found := f.names.Sidecars(media)
	for i := range found {
		info := f.files[found[i].Path]
		found[i].Path = filepath.Join(f.dir, found[i].Path)
		found[i].Size, found[i].ModTime = info.Size(), info.ModTime()
	}
	return found
}

// checkLibraries reports what is wrong with the configured libraries: an
// invalid one, or two of the same name.
func checkLibraries(libs []butler.Library) error {
	names := map[string]bool{}
	for _, lib := range libs {
		if err := lib.Validate(); err != nil {
			return err
		}
		if names[lib.Name] {
			return butler.Errorf(butler.EINVALID, "two libraries are named %q: give each its own name", lib.Name)
		}
		names[lib.Name] = true
	}
	return nil
}
