package butler

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// OutputKind names a kind of generated output of a media item: what one
// media task makes for each item (preview images, chapter thumbnails,
// loudness values, BlurHashes).
type OutputKind string

// The kinds of output, and the task that makes each.
const (
	// OutputIndexFiles are the preview ("trickplay") images of a video, as
	// a BIF file in the item's bundle: GenerateMediaIndexFiles.
	OutputIndexFiles OutputKind = "index-files"
	// OutputChapterThumbs are a JPEG per chapter start of a video with
	// chapters, in the item's bundle: GenerateChapterThumbs.
	OutputChapterThumbs OutputKind = "chapter-thumbs"
	// OutputLoudness is the EBU R128 loudness of each audio stream, with
	// ReplayGain-style gains, stored as the output's data:
	// LoudnessAnalysis.
	OutputLoudness OutputKind = "loudness"
	// OutputBlurHashes are the BlurHashes of an item's poster and art
	// images, stored as the output's data: GenerateBlurHashes.
	OutputBlurHashes OutputKind = "blurhashes"
	// OutputIntroMarkers is where a TV episode's intro is (audio its
	// season's episodes share near their start), stored as the output's
	// data: ButlerTaskGenerateIntroMarkers.
	OutputIntroMarkers OutputKind = "intro-markers"
	// OutputCreditsMarkers is where an episode's end credits start
	// (closing music the season shares, black pictures to the end):
	// ButlerTaskGenerateCreditsMarkers.
	OutputCreditsMarkers OutputKind = "credits-markers"
)

// OutputKinds returns every output kind, in a fixed order.
func OutputKinds() []OutputKind {
	return []OutputKind{OutputIndexFiles, OutputChapterThumbs, OutputLoudness, OutputBlurHashes, OutputIntroMarkers, OutputCreditsMarkers}
}

// Valid reports whether k is one of OutputKinds.
func (k OutputKind) Valid() bool { return slices.Contains(OutputKinds(), k) }

// MediaOutput is what the index records of one output of one item: what
// was made, for which file, and how the attempts to make it went.
type MediaOutput struct {
	// Item is the media item's id; Kind what the output is.
	Item int64
	Kind OutputKind
	// Version is the version of the task's work that made it (raised when
	// what the task makes changes: older outputs are made again); 0 while
	// none was made.
	Version int
	// MadeAt is when it was made; zero while none was made.
	MadeAt time.Time
	// Size and ModTime are the item's file's when the output was made or
	// last failed: an output of a file that changed since is stale.
	Size    int64
	ModTime time.Time
	// Files are the files it wrote in the item's bundle, relative to the
	// bundle's folder, "/" between folders.
	Files []string
	// Data holds what the output is made of when it is values rather than
	// files (a JSON object of the kind's own shape); nil when none.
	Data json.RawMessage
	// Failures counts the attempts for this file that failed in a row;
	// Error is the last one's reason and RetryAt the earliest instant to
	// try again.
	Failures int
	Error    string
	RetryAt  time.Time
	// SidecarsVersion, for an output made of the item's sidecars (its
	// BlurHashes), is the version of the set it was made of
	// (SidecarSet.Version): SaveMediaOutput records the output only while
	// the item's set is still that one. It is not stored: MediaOutputs
	// leaves it 0.
	SidecarsVersion int64
}

// Stale reports whether o was made for another version of item's file
// than the one the index has.
func (o MediaOutput) Stale(item MediaItem) bool {
	return o.Size != item.Size || !o.ModTime.Equal(item.ModTime)
}

// OutputFilter selects the items an output task has to do, for
// OutputIndex.MediaItemsForOutput: present, analysed items of the given
// media kinds that have no output of the kind at the version (or a stale
// one), leaving out those whose last attempt failed and waits to be
// tried again. The items come in id order, after AfterID.
type OutputFilter struct {
	// Kind is the output; Version the version the task makes (positive).
	Kind    OutputKind
	Version int
	// MediaKinds are the kinds of media item the output is made for;
	// required.
	MediaKinds []MediaKind
	// Libraries, when not empty, keeps the items of these libraries (by
	// name) only; empty keeps every library's.
	Libraries []string
	// Now leaves out the items whose failed attempt waits after it.
	Now time.Time
	// AfterID returns the items whose id is greater.
	AfterID int64
	// Limit bounds the number of items; 0 or less means 1,000.
	Limit int
}

// Validate reports what is wrong with f, as an EINVALID *Error.
func (f OutputFilter) Validate() error {
	switch {
	case !f.Kind.Valid():
		return Errorf(EINVALID, "output %q is not one of %v", f.Kind, OutputKinds())
	case f.Version <= 0:
		return Errorf(EINVALID, "output %s: version %d is not a positive number", f.Kind, f.Version)
	case len(f.MediaKinds) == 0:
		return Errorf(EINVALID, "output %s: name the kinds of media item it is made for", f.Kind)
	}
	return nil
}

// OutputIndex is a media index that also records the items' outputs (both
// stores implement it). An item's outputs go with it when it is deleted.
type OutputIndex interface {
	MediaIndex
	// MediaItemsForOutput returns a page of the items f selects, in id
	// order. It reads the present, analysed items of f's media kinds in id
	// order, each with a look at its output: its cost grows with those
	// items, not with the history of the outputs.
	MediaItemsForOutput(ctx context.Context, f OutputFilter) ([]MediaItem, error)
	// CountItemsForOutput counts the items f selects (f.AfterID and
	// f.Limit are ignored), as MediaItemsForOutput reads them.
	CountItemsForOutput(ctx context.Context, f OutputFilter) (int, error)
	// SaveMediaOutput records output o (its Item, Kind, Version, MadeAt,
	// Files and Data) as made for file, the item's file as it was, and
	// clears its failures. It returns false, recording nothing, when the
	// item is gone, its file changed since, or it is no longer there; or,
	// for its BlurHashes, when its sidecar set is no longer the one of
	// o.SidecarsVersion.
	SaveMediaOutput(ctx context.Context, file MediaFile, o MediaOutput) (bool, error)
	// RecordMediaOutputFailure counts a failed attempt at output kind of
	// item id (the file as it was), with its reason and the earliest
	// instant to try again. An output made for an older file is dropped
	// from the record (its files stay in the bundle until made again);
	// one made for this file stays. False when the item changed or is no
	// longer there.
	RecordMediaOutputFailure(ctx context.Context, id int64, file MediaFile, kind OutputKind, reason string, retryAt time.Time) (bool, error)
	// MediaOutputs returns what is recorded of item id's outputs, in kind
	// order (OutputKinds); none when the item has none (even if the item
	// is not in the index).
	MediaOutputs(ctx context.Context, id int64) ([]MediaOutput, error)
	// MadeMediaOutputs returns a page of the outputs of kind f.Kind made
	// at f.Version or a later one for the item's file as the index has
	// it, of the present, analysed items of f's media kinds (and
	// libraries), in item id order after f.AfterID, at most f.Limit (0 or
	// less: 1,000); f.Now is ignored. They are the outputs
	// MediaItemsForOutput leaves out as made: an output task reads them
	// to find those whose files are gone, or that were made with other
	// settings, and forgets them (ForgetMediaOutput) so that they are
	// made again. Its cost grows with the items, as
	// MediaItemsForOutput's.
	MadeMediaOutputs(ctx context.Context, f OutputFilter) ([]MediaOutput, error)
	// ForgetMediaOutput drops the record of output o.Kind of item o.Item
	// (its files, data and failures) while it is still the one made at
	// o.MadeAt, as MediaOutputs or MadeMediaOutputs returned it: the
	// item is then to do again. It returns false, dropping nothing, when
	// the output was made again or failed since, or there is none.
	ForgetMediaOutput(ctx context.Context, o MediaOutput) (bool, error)
}
