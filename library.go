package butler

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// LibraryKind is what a library holds; it decides which files are media
// (package mediascan) and what is done to them.
type LibraryKind string

// The kinds of library, as a Plex server names its sections.
const (
	LibraryMovies LibraryKind = "movies"
	LibraryShows  LibraryKind = "shows"
	LibraryMusic  LibraryKind = "music"
	LibraryPhotos LibraryKind = "photos"
)

// LibraryKinds lists every kind, in the order the docs give them.
func LibraryKinds() []LibraryKind {
	return []LibraryKind{LibraryMovies, LibraryShows, LibraryMusic, LibraryPhotos}
}

// Library is one library of the config: a name, a kind and the folders
// whose files it holds. The index keeps its items under its name.
type Library struct {
	// Name names the library in the index and the API ("Movies").
	Name string
	// Kind is what the library holds.
	Kind LibraryKind
	// Folders are absolute, clean paths; none inside another.
	Folders []string
}

// Validate reports what is wrong with l, as an EINVALID *Error that says
// what to change: an empty or overlong name, an unknown kind, no folders,
// a folder that is not an absolute path, or folders inside one another.
// It does not look at the file system.
func (l Library) Validate() error {
	switch {
	case strings.TrimSpace(l.Name) == "" || l.Name != strings.TrimSpace(l.Name):
		return Errorf(EINVALID, "library name %q: give a name without leading or trailing spaces", l.Name)
	case len(l.Name) > 200:
		return Errorf(EINVALID, "library name %q is longer than 200 bytes", l.Name[:40]+"...")
	case !slices.Contains(LibraryKinds(), l.Kind):
		return Errorf(EINVALID, "library %q: kind %q is not one of movies, shows, music, photos", l.Name, l.Kind)
	case len(l.Folders) == 0:
		return Errorf(EINVALID, "library %q has no folders: give at least one", l.Name)
	}
	for _, f := range l.Folders {
		if !filepath.IsAbs(f) || filepath.Clean(f) != f {
			return Errorf(EINVALID, "library %q: folder %q must be an absolute path written cleanly (%q)", l.Name, f, filepath.Clean(f))
		}
	}
	for i, a := range l.Folders {
		for _, b := range l.Folders[i+1:] {
			if a == b || strings.HasPrefix(b, withSlash(a)) || strings.HasPrefix(a, withSlash(b)) {
				return Errorf(EINVALID, "library %q: folders %q and %q overlap; list only the outer one", l.Name, a, b)
			}
		}
	}
	return nil
}

// withSlash returns dir with one trailing separator.
func withSlash(dir string) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir
	}
	return dir + string(filepath.Separator)
}

// MediaKind is what one media file is.
type MediaKind string

// The kinds of media file.
const (
	MediaVideo MediaKind = "video"
	MediaAudio MediaKind = "audio"
	MediaPhoto MediaKind = "photo"
)

// ItemState is whether an item's file is there.
type ItemState string

// The states of an item. A file that the scanner no longer finds is gone,
// not forgotten: GarbageCollectLibraryMedia removes it from the index once
// it has been gone for a grace period, and a file that comes back first
// (a disk mounted again) is present again with what was done to it.
const (
	ItemPresent ItemState = "present"
	ItemGone    ItemState = "gone"
)

// MediaItem is one media file of a library, as the index keeps it.
type MediaItem struct {
	// ID is the index's id of the item, assigned when it is added.
	ID int64
	// Library is the name of the library the file belongs to.
	Library string
	// Path is the file's absolute path.
	Path string
	// Kind is what the file is, from its extension.
	Kind MediaKind
	// Size and ModTime are the file's size and modification time when it
	// was last scanned: a change of either is a changed file.
	Size    int64
	ModTime time.Time
	// State is whether the file was there at the last scan.
	State ItemState
	// AddedAt is when the item was added; ChangedAt when its file was
	// last found changed (AddedAt at first); GoneAt when it was found gone
	// (zero while present).
	AddedAt   time.Time
	ChangedAt time.Time
	GoneAt    time.Time
	// AnalysisVersion is the version of the analysis stored for the file
	// (mediaprobe.Version when it was made), 0 when it has none. A changed
	// file loses its analysis.
	AnalysisVersion int
	// AnalysedAt is when the stored analysis was made.
	AnalysedAt time.Time
	// AnalysisFailures counts the analyses of this file (as it is now) that
	// failed in a row; AnalysisError is the last one's reason and
	// AnalysisRetryAt the earliest instant to try again.
	AnalysisFailures int
	AnalysisError    string
	AnalysisRetryAt  time.Time
}

// MediaFile is a file the scanner found: what the index compares.
type MediaFile struct {
	Path    string
	Kind    MediaKind
	Size    int64
	ModTime time.Time
}

// MediaEntry is what the scanner compares of an indexed item: a narrow
// row, read from an index that covers it.
type MediaEntry struct {
	ID      int64
	Path    string
	Kind    MediaKind
	Size    int64
	ModTime time.Time
	State   ItemState
}

// MediaChanges is one batch of a scan, applied in one transaction.
type MediaChanges struct {
	// Add are new files. A file whose path the library has already is
	// updated as if changed.
	Add []MediaFile
	// Change are files whose size or modification time changed, by item
	// id: they take the new values, become present, and lose their
	// analysis and failures.
	Change map[int64]MediaFile
	// Revive are gone items whose file is back unchanged: present again,
	// with their analysis.
	Revive []int64
	// Gone are present items whose file was not found: gone since At.
	Gone []int64
	// At is when the scan saw these changes.
	At time.Time
}

// Len is the number of changes in c.
func (c *MediaChanges) Len() int { return len(c.Add) + len(c.Change) + len(c.Revive) + len(c.Gone) }

// MediaItemFilter selects items for MediaIndex.MediaItems. The items come in
// path order, after AfterPath.
type MediaItemFilter struct {
	// Library is the library's name; required.
	Library string
	// State keeps the items in that state; "" keeps all.
	State ItemState
	// AfterPath returns the items whose path sorts after it (byte order):
	// the last path of the previous page.
	AfterPath string
	// Limit bounds the number of items; 0 or less means 1,000.
	Limit int
}

// AnalysisFilter selects present items whose stored analysis has one
// version and that may be tried now, for MediaIndex.MediaItemsToAnalyse
// and CountMediaItemsToAnalyse.
// The items come in id order, after AfterID.
type AnalysisFilter struct {
	// Library keeps the items of one library; "" keeps all.
	Library string
	// Version is the version of the stored analysis: 0 for the items never
	// analysed (DeepMediaAnalysis); an older version than the current for
	// the items to upgrade (UpgradeMediaAnalysis asks for each in turn).
	Version int
	// Now leaves out the items whose AnalysisRetryAt is after it.
	Now time.Time
	// AfterID returns the items whose id is greater.
	AfterID int64
	// Limit bounds the number of items; 0 or less means 1,000.
	Limit int
}

// LibraryCounts counts a library's items.
type LibraryCounts struct {
	Library string
	// Present and Gone count the items in each state; Bytes is the size of
	// the present ones.
	Present int
	Gone    int
	Bytes   int64
	// Analysed counts the present items with an analysis; Failing the
	// present items without one whose last analysis failed.
	Analysed int
	Failing  int
}

// MediaIndex is the index of the libraries' media files, kept in Butler's
// store (store/sqlite and store/postgres implement it beside Store). Every
// method is safe for concurrent use. Its queries are meant for libraries of
// hundreds of thousands of items: each reads one page through an index.
type MediaIndex interface {
	// MediaItems returns a page of items matching f, in path order (byte
	// order). An empty f.Library, or a state other than ItemPresent and
	// ItemGone, is EINVALID.
	MediaItems(ctx context.Context, f MediaItemFilter) ([]MediaItem, error)
	// MediaEntries returns a page of a library's items as the scanner
	// compares them, in path order (byte order) after afterPath; at most
	// limit (0 or less means 1,000). An empty library is EINVALID.
	MediaEntries(ctx context.Context, library, afterPath string, limit int) ([]MediaEntry, error)
	// MediaItem returns one item; ENOTFOUND when there is none.
	MediaItem(ctx context.Context, id int64) (MediaItem, error)
	// ApplyMediaChanges applies one batch of a scan of library in one
	// transaction: all of it or nothing.
	ApplyMediaChanges(ctx context.Context, library string, c MediaChanges) error
	// MediaItemsToAnalyse returns a page of present items that f selects,
	// in id order.
	MediaItemsToAnalyse(ctx context.Context, f AnalysisFilter) ([]MediaItem, error)
	// CountMediaItemsToAnalyse counts the items f selects (f.AfterID and
	// f.Limit are ignored), as MediaItemsToAnalyse reads them: an item
	// whose analysis failed counts once its retry instant is not after
	// f.Now.
	CountMediaItemsToAnalyse(ctx context.Context, f AnalysisFilter) (int, error)
	// SaveMediaAnalysis stores the analysis a of item id, made by version
	// at at, for the file as it was (size and modification time), and
	// clears its failures. It returns false, storing nothing, when the
	// item is gone, changed since, or no longer there.
	SaveMediaAnalysis(ctx context.Context, id int64, file MediaFile, version int, at time.Time, a MediaAnalysis) (bool, error)
	// RecordMediaAnalysisFailure counts a failed analysis of item id (the
	// file as it was), with its reason and the earliest instant to try
	// again; false when the item changed or is no longer there.
	RecordMediaAnalysisFailure(ctx context.Context, id int64, file MediaFile, reason string, retryAt time.Time) (bool, error)
	// MediaAnalysis returns the stored analysis of item id and its version;
	// ENOTFOUND when the item has none.
	MediaAnalysis(ctx context.Context, id int64) (MediaAnalysis, int, error)
	// LibraryCounts returns the counts of every library the index has
	// items of, in name order.
	LibraryCounts(ctx context.Context) ([]LibraryCounts, error)
	// DeleteGoneMediaItems deletes one batch (at most limit; 0 or less
	// means 1,000) of the items gone before t, with what is stored for
	// them, and returns how many it deleted: 0 when none is left.
	DeleteGoneMediaItems(ctx context.Context, before time.Time, limit int) (int, error)
}

// MediaChangeCounter is a MediaIndex that counts the writes made through
// it that add items, change them, mark them gone or back, or delete them
// (ApplyMediaChanges, DeleteGoneMediaItems), so that a reader of
// LibraryCounts can keep what it read until the next one. Both stores
// implement it. Analyses saved or failed are not counted, nor are writes
// made through another handle on the same database (another server of a
// cluster): a reader that keeps counts bounds their age too.
type MediaChangeCounter interface {
	// MediaChangeCount returns the number of such writes so far, each
	// counted once it has returned.
	MediaChangeCount() uint64
}

// MediaAnalysis is what the analysis of a media file found (package
// mediaprobe makes it from ffprobe's report).
type MediaAnalysis struct {
	// Container is the container format ("matroska,webm", "mov,mp4,...").
	Container string
	// Duration is the file's duration; 0 when unknown (a photo).
	Duration time.Duration
	// BitRate is the overall bit rate in bits per second; 0 when unknown.
	BitRate int64
	// Title is the container's title tag.
	Title string
	// Streams are the file's streams, in file order.
	Streams []MediaStream
	// Chapters are the file's chapters, in time order.
	Chapters []MediaChapter
}

// MediaStream is one stream of a media file.
type MediaStream struct {
	// Index is the stream's index in the file.
	Index int
	// Type is "video", "audio", "subtitle", "attachment" or "data".
	Type string
	// Codec is the codec's short name ("h264", "aac"); Profile its
	// profile when it has one.
	Codec   string
	Profile string
	// Language is the stream's ISO 639-2 language tag, "" when untagged;
	// Title its title tag.
	Language string
	Title    string
	// Default and Forced are the stream's dispositions.
	Default bool
	Forced  bool
	// BitRate is the stream's bit rate in bits per second, 0 when unknown.
	BitRate int64
	// Audio: channels, their layout ("5.1(side)") and the sample rate in Hz.
	Channels      int
	ChannelLayout string
	SampleRate    int
	// Video: the size in pixels, frames per second, pixel format and bit
	// depth.
	Width       int
	Height      int
	FrameRate   float64
	PixelFormat string
	BitDepth    int
	// ColorTransfer, ColorPrimaries and ColorSpace are as ffprobe names
	// them ("smpte2084", "bt2020", "bt2020nc").
	ColorTransfer  string
	ColorPrimaries string
	ColorSpace     string
	// HDR names the stream's high dynamic range format: HDRDolbyVision,
	// HDR10, HLG, or "" for standard dynamic range.
	HDR string
}

// The HDR formats of MediaStream.HDR.
const (
	HDR10          = "HDR10"
	HLG            = "HLG"
	HDRDolbyVision = "Dolby Vision"
)

// MediaChapter is one chapter of a media file.
type MediaChapter struct {
	Start time.Duration
	End   time.Duration
	Title string
}

// String describes the library for logs: its name and kind.
func (l Library) String() string { return fmt.Sprintf("%s (%s)", l.Name, l.Kind) }

// SidecarKind is what a sidecar file next to a media file is.
type SidecarKind string

// The kinds of sidecar file, as Plex's local media assets name them.
const (
	// SidecarSubtitle is a subtitle file: .srt, .ass, .ssa, .vtt, or the
	// .idx and .sub of a VobSub pair.
	SidecarSubtitle SidecarKind = "subtitle"
	// SidecarPoster is a poster or cover image.
	SidecarPoster SidecarKind = "poster"
	// SidecarArt is a background image (fan art).
	SidecarArt SidecarKind = "art"
	// SidecarNFO is a .nfo metadata file, as Kodi writes them.
	SidecarNFO SidecarKind = "nfo"
)

// The flags of a subtitle sidecar, from its name.
const (
	// SubtitleForced marks subtitles of the foreign parts only.
	SubtitleForced = "forced"
	// SubtitleSDH marks subtitles for the deaf and hard of hearing (a
	// name's "sdh", "cc" or "hi").
	SubtitleSDH = "sdh"
	// SubtitleDefault marks the subtitles to show by default.
	SubtitleDefault = "default"
)

// MediaSidecar is a local file that goes with a media item: found in the
// item's folder, named after the item or the folder (package mediascan
// knows the names), recorded by the RefreshLocalMedia task.
type MediaSidecar struct {
	// Path is the file's absolute path.
	Path string
	// Kind is what the file is.
	Kind SidecarKind
	// Language is a subtitle's language as its name gives it, lower case
	// ("en", "eng", "pt-br"); "" when the name gives none.
	Language string
	// Flags are a subtitle's flags (SubtitleForced, SubtitleSDH,
	// SubtitleDefault), sorted, each once.
	Flags []string
	// Size and ModTime are the file's when it was found.
	Size    int64
	ModTime time.Time
}

// Equal reports whether s and o describe the same file as found, flags
// and all.
func (s MediaSidecar) Equal(o MediaSidecar) bool {
	return s.Path == o.Path && s.Kind == o.Kind && s.Language == o.Language &&
		slices.Equal(s.Flags, o.Flags) && s.Size == o.Size && s.ModTime.Equal(o.ModTime)
}

// SidecarIndex is a media index that also keeps each item's sidecar files.
// It is apart from MediaIndex so that what needs the items alone (the
// scanner, the analysis, the API's pages) does not have to know sidecars;
// both stores implement it.
type SidecarIndex interface {
	MediaIndex
	// MediaSidecars returns the sidecars of the items ids, by item id,
	// each item's in path order (byte order); an item with none is not in
	// the map. At most 1,000 ids; more is EINVALID.
	MediaSidecars(ctx context.Context, ids []int64) (map[int64][]MediaSidecar, error)
	// MediaSidecarSet returns item id's sidecars, in path order, with the
	// version of the set, read together. An item not in the index has
	// none, at version 0.
	MediaSidecarSet(ctx context.Context, id int64) (SidecarSet, error)
	// ReplaceMediaSidecars replaces the sidecars of each item of sets
	// with its set (an empty set removes them all), in one transaction:
	// all of it or nothing. An item no longer in the index is passed
	// over. It returns how many items' sets it replaced. Sidecars go with
	// their item when it is deleted. An index that records outputs
	// (OutputIndex) drops the BlurHashes output of each item whose set it
	// replaced: they are made from its images. Each item's set version
	// (SidecarSet.Version) goes up by one.
	ReplaceMediaSidecars(ctx context.Context, sets map[int64][]MediaSidecar) (int, error)
}

// SidecarSet is an item's sidecars as SidecarIndex.MediaSidecarSet reads
// them.
type SidecarSet struct {
	// Version counts the replacements of the item's set
	// (ReplaceMediaSidecars): what was made of the set it was read at is
	// made again once it differs. 0 while the set was never recorded.
	Version int64
	// Sidecars are the item's sidecars, in path order (byte order).
	Sidecars []MediaSidecar
}
