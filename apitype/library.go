package apitype

import (
	"encoding/json"
	"encoding/xml"
)

// The analysis states of a media item, as the analysis query parameter of
// GET /butler/library/items takes them and MediaItem.Analysis gives them.
const (
	// AnalysisAnalysed: the item has a stored analysis.
	AnalysisAnalysed = "analysed"
	// AnalysisPending: the item has no analysis and none of its has failed
	// since its file last changed.
	AnalysisPending = "pending"
	// AnalysisFailed: the item has no analysis and its last analysis
	// failed (AnalysisError says why).
	AnalysisFailed = "failed"
)

// AnalysisStates returns the analysis states, in the order the docs give
// them.
func AnalysisStates() []string {
	return []string{AnalysisAnalysed, AnalysisPending, AnalysisFailed}
}

// The states of a media item's file.
const (
	// ItemPresent: the file was there at the last scan.
	ItemPresent = "present"
	// ItemGone: the file was not found at the last scan.
	ItemGone = "gone"
)

// LibrariesResponse is the JSON body of GET /butler/library.
type LibrariesResponse struct {
	MediaContainer LibraryContainer `json:"MediaContainer"`
}

// LibraryContainer lists the libraries the media index has items of, in
// name order (byte order), with their counts.
type LibraryContainer struct {
	XMLName   xml.Name  `json:"-" xml:"MediaContainer"`
	Size      int       `json:"size" xml:"size,attr"`
	TotalSize int       `json:"totalSize" xml:"totalSize,attr"`
	Offset    int       `json:"offset" xml:"offset,attr"`
	Library   []Library `json:"Library" xml:"Library"`
}

// Library counts one library's items. Analysed, Pending and Failed count
// the present items in each analysis state; they add up to Present.
type Library struct {
	Name string `json:"name" xml:"name,attr"`
	// Present and Gone count the items in each state; Bytes is the size
	// of the present ones.
	Present  int   `json:"present" xml:"present,attr"`
	Gone     int   `json:"gone" xml:"gone,attr"`
	Bytes    int64 `json:"bytes" xml:"bytes,attr"`
	Analysed int   `json:"analysed" xml:"analysed,attr"`
	Pending  int   `json:"pending" xml:"pending,attr"`
	Failed   int   `json:"failed" xml:"failed,attr"`
}

// MediaItemsResponse is the JSON body of GET /butler/library/items and
// GET /butler/library/items/{id}.
type MediaItemsResponse struct {
	MediaContainer MediaItemContainer `json:"MediaContainer"`
}

// MediaItemContainer is a page of media items, in library then path order
// (byte order). Next, when set, is the cursor of the next page (the after
// query parameter); a page without it is the last. A page may hold fewer
// items than asked for and still have a next one: the server examines a
// bounded number of items per request. TotalSize, when set, is the number
// of items that match, given on the first page when the library counts
// tell it (not with a path prefix, nor with an analysis state and gone
// items).
type MediaItemContainer struct {
	XMLName   xml.Name    `json:"-" xml:"MediaContainer"`
	Size      int         `json:"size" xml:"size,attr"`
	TotalSize *int        `json:"totalSize,omitempty" xml:"totalSize,attr,omitempty"`
	Next      string      `json:"next,omitempty" xml:"next,attr,omitempty"`
	Item      []MediaItem `json:"Item" xml:"Item"`
}

// MediaItem is one media file of a library, as the index keeps it. Times
// are RFC 3339, empty when they do not apply. Media is the stored analysis,
// given by GET /butler/library/items/{id} alone.
type MediaItem struct {
	ID      int64  `json:"id" xml:"id,attr"`
	Library string `json:"library" xml:"library,attr"`
	Path    string `json:"path" xml:"path,attr"`
	// Kind is video, audio or photo.
	Kind string `json:"kind" xml:"kind,attr"`
	// Size (bytes) and ModifiedAt are the file's when it was last scanned.
	Size       int64  `json:"size" xml:"size,attr"`
	ModifiedAt string `json:"modifiedAt" xml:"modifiedAt,attr"`
	// State is ItemPresent or ItemGone.
	State     string `json:"state" xml:"state,attr"`
	AddedAt   string `json:"addedAt" xml:"addedAt,attr"`
	ChangedAt string `json:"changedAt" xml:"changedAt,attr"`
	GoneAt    string `json:"goneAt,omitempty" xml:"goneAt,attr,omitempty"`
	// Analysis is AnalysisAnalysed, AnalysisPending or AnalysisFailed.
	Analysis string `json:"analysis" xml:"analysis,attr"`
	// AnalysisVersion is the version of the stored analysis, 0 when there
	// is none; AnalysedAt when it was made.
	AnalysisVersion int    `json:"analysisVersion" xml:"analysisVersion,attr"`
	AnalysedAt      string `json:"analysedAt,omitempty" xml:"analysedAt,attr,omitempty"`
	// AnalysisFailures counts the failed analyses of the file (as it is)
	// in a row; AnalysisError is the last one's reason, AnalysisRetryAt
	// the earliest instant it is tried again.
	AnalysisFailures int            `json:"analysisFailures" xml:"analysisFailures,attr"`
	AnalysisError    string         `json:"analysisError,omitempty" xml:"analysisError,attr,omitempty"`
	AnalysisRetryAt  string         `json:"analysisRetryAt,omitempty" xml:"analysisRetryAt,attr,omitempty"`
	Media            *MediaAnalysis `json:"Media,omitempty" xml:"Media,omitempty"`
	// Output lists what the media tasks made for the item (GET
	// /butler/library/items/{id} alone), in a fixed order of kinds.
	Output []MediaOutput `json:"Output,omitempty" xml:"Output,omitempty"`
}

// The kinds of MediaOutput.
const (
	OutputIndexFiles     = "index-files"     // GenerateMediaIndexFiles: a BIF of preview pictures
	OutputChapterThumbs  = "chapter-thumbs"  // GenerateChapterThumbs: a JPEG per chapter
	OutputLoudness       = "loudness"        // LoudnessAnalysis: EBU R128 loudness per audio stream
	OutputBlurHashes     = "blurhashes"      // GenerateBlurHashes: BlurHashes of the poster and art
	OutputIntroMarkers   = "intro-markers"   // ButlerTaskGenerateIntroMarkers: where the intro is
	OutputCreditsMarkers = "credits-markers" // ButlerTaskGenerateCreditsMarkers: where the credits are
)

// MediaOutput is one output of a media item: what a media task made for
// it, when, and for which version of its file.
type MediaOutput struct {
	// Kind is one of the Output* constants.
	Kind string `json:"kind" xml:"kind,attr"`
	// Version is the version of the task's work that made it; 0 while
	// none was made (only failures). MadeAt is when it was made.
	Version int    `json:"version" xml:"version,attr"`
	MadeAt  string `json:"madeAt,omitempty" xml:"madeAt,attr,omitempty"`
	// Stale is set when the item's file changed since it was made: the
	// task makes it again.
	Stale Bool `json:"stale" xml:"stale,attr"`
	// Failures counts the failed attempts in a row for the file as it
	// is; Error is the last one's reason, RetryAt when it is tried again.
	Failures int    `json:"failures" xml:"failures,attr"`
	Error    string `json:"error,omitempty" xml:"error,attr,omitempty"`
	RetryAt  string `json:"retryAt,omitempty" xml:"retryAt,attr,omitempty"`
	// File are the files it wrote in the item's bundle, relative to it.
	File []MediaOutputFile `json:"File,omitempty" xml:"File,omitempty"`
	// Data holds its values when it is values (loudness, BlurHashes): a
	// JSON object in JSON, its JSON text in XML.
	Data     json.RawMessage `json:"data,omitempty" xml:"-"`
	DataText string          `json:"-" xml:"Data,omitempty"`
}

// MediaOutputFile is a file of a media output.
type MediaOutputFile struct {
	Path string `json:"path" xml:"path,attr"`
}

// MediaAnalysis is what the analysis of a media file found. Durations and
// time offsets are milliseconds, as Plex gives them; bit rates are bits per
// second.
type MediaAnalysis struct {
	// Version is the analysis's version (MediaItem.AnalysisVersion).
	Version   int    `json:"version" xml:"version,attr"`
	Container string `json:"container" xml:"container,attr"`
	Duration  int64  `json:"duration" xml:"duration,attr"`
	BitRate   int64  `json:"bitRate" xml:"bitRate,attr"`
	Title     string `json:"title,omitempty" xml:"title,attr,omitempty"`
	// Stream lists the file's streams in file order; Chapter its chapters
	// in time order.
	Stream  []MediaStream  `json:"Stream" xml:"Stream"`
	Chapter []MediaChapter `json:"Chapter,omitempty" xml:"Chapter,omitempty"`
}

// MediaStream is one stream of a media file. Attributes that do not apply
// to the stream's type (or that ffprobe did not report) are left out.
type MediaStream struct {
	Index int `json:"index" xml:"index,attr"`
	// Type is video, audio, subtitle, attachment or data.
	Type    string `json:"type" xml:"type,attr"`
	Codec   string `json:"codec" xml:"codec,attr"`
	Profile string `json:"profile,omitempty" xml:"profile,attr,omitempty"`
	// Language is the ISO 639-2 tag, empty when untagged.
	Language string `json:"language,omitempty" xml:"language,attr,omitempty"`
	Title    string `json:"title,omitempty" xml:"title,attr,omitempty"`
	Default  Bool   `json:"default,omitempty" xml:"default,attr,omitempty"`
	Forced   Bool   `json:"forced,omitempty" xml:"forced,attr,omitempty"`
	BitRate  int64  `json:"bitRate,omitempty" xml:"bitRate,attr,omitempty"`
	// Audio: channels, their layout ("5.1(side)"), the sample rate in Hz.
	Channels      int    `json:"channels,omitempty" xml:"channels,attr,omitempty"`
	ChannelLayout string `json:"channelLayout,omitempty" xml:"channelLayout,attr,omitempty"`
	SamplingRate  int    `json:"samplingRate,omitempty" xml:"samplingRate,attr,omitempty"`
	// Video: size in pixels, frames per second, pixel format, bit depth,
	// colour as ffprobe names it, and the HDR format ("HDR10", "HLG",
	// "Dolby Vision"; empty for standard dynamic range).
	Width          int     `json:"width,omitempty" xml:"width,attr,omitempty"`
	Height         int     `json:"height,omitempty" xml:"height,attr,omitempty"`
	FrameRate      float64 `json:"frameRate,omitempty" xml:"frameRate,attr,omitempty"`
	PixelFormat    string  `json:"pixelFormat,omitempty" xml:"pixelFormat,attr,omitempty"`
	BitDepth       int     `json:"bitDepth,omitempty" xml:"bitDepth,attr,omitempty"`
	ColorTrc       string  `json:"colorTrc,omitempty" xml:"colorTrc,attr,omitempty"`
	ColorPrimaries string  `json:"colorPrimaries,omitempty" xml:"colorPrimaries,attr,omitempty"`
	ColorSpace     string  `json:"colorSpace,omitempty" xml:"colorSpace,attr,omitempty"`
	HDR            string  `json:"hdr,omitempty" xml:"hdr,attr,omitempty"`
}

// MediaChapter is one chapter of a media file: its start and end in
// milliseconds and its title, as Plex names a Chapter's attributes.
type MediaChapter struct {
	Index           int    `json:"index" xml:"index,attr"`
	StartTimeOffset int64  `json:"startTimeOffset" xml:"startTimeOffset,attr"`
	EndTimeOffset   int64  `json:"endTimeOffset" xml:"endTimeOffset,attr"`
	Tag             string `json:"tag,omitempty" xml:"tag,attr,omitempty"`
}
