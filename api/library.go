package api

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// The paging of GET /butler/library/items.
const (
	// defaultItemLimit and maxItemLimit bound a page's items.
	defaultItemLimit = 100
	maxItemLimit     = 1000
	// maxItemsExamined bounds the items one request reads from the index
	// when a filter the index cannot apply (the analysis state, a path
	// prefix) leaves most of them out: the page then ends early, with a
	// cursor to go on from.
	maxItemsExamined = 10_000
	// maxIndexReads bounds the reads of the index one page makes, however
	// many libraries its cursor names.
	maxIndexReads = 64
	// firstPrefixRead is the first read of a library's paths with a
	// prefix; each next one is twice as large.
	firstPrefixRead = 16
	// countsTTL is how long the counts of the libraries are shown once
	// read (libraryCounts).
	countsTTL = 5 * time.Second
)

// libraryCounts keeps the index's counts of every library, which read the
// whole index (tens of milliseconds at 100,000 items), for countsTTL: the
// requests of that time share one read. When the index counts its changes
// (butler.MediaChangeCounter), a scan's batch or a garbage collection
// written through it drops them at once; what is left to countsTTL is the
// analyses' progress and the changes another server of a cluster writes.
// It is safe for concurrent use; one read at a time.
type libraryCounts struct {
	ix  butler.MediaIndex
	now func() time.Time

	mu      sync.Mutex
	ok      bool // counts are set
	counts  []butler.LibraryCounts
	at      time.Time
	changes uint64
}

func newLibraryCounts(ix butler.MediaIndex) *libraryCounts {
	return &libraryCounts{ix: ix, now: time.Now}
}

// changeCount returns the index's count of its changes, or 0 when it
// keeps none.
func (c *libraryCounts) changeCount() uint64 {
	if cc, ok := c.ix.(butler.MediaChangeCounter); ok {
		return cc.MediaChangeCount()
	}
	return 0
}

// get returns the counts of every library, read at most countsTTL ago and
// since the index's last change. The caller must not modify them.
func (c *libraryCounts) get(ctx context.Context) ([]butler.LibraryCounts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Taken before the read: a change that ends during it drops what
	// it read.
	changes := c.changeCount()
	if c.ok && changes == c.changes && c.now().Sub(c.at) < countsTTL {
		return c.counts, nil
	}
	at := c.now()
	counts, err := c.ix.LibraryCounts(ctx)
	if err != nil {
		return nil, err
	}
	c.ok, c.counts, c.at, c.changes = true, counts, at, changes
	return counts, nil
}

// libraryRoutes adds the routes that read the media index to the
// protected group; with no index there are none.
func libraryRoutes(ix butler.MediaIndex, log *slog.Logger, prot *routeGroup) {
	if ix == nil {
		return
	}
	counts := newLibraryCounts(ix)
	prot.handle(http.MethodGet, "/butler/library", handleLibraries(counts, log))
	prot.handle(http.MethodGet, "/butler/library/items", handleMediaItems(ix, counts, log),
		"library", "state", "analysis", "prefix", "limit", "after")
	prot.handle(http.MethodGet, "/butler/library/items/{id}", handleMediaItem(ix, log))
}

// handleLibraries answers GET /butler/library: every library the index
// has items of, with its counts (at most countsTTL old).
func handleLibraries(lc *libraryCounts, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		counts, err := lc.get(r.Context())
		if err != nil {
			fail(log, w, r, err)
			return
		}
		c := apitype.LibraryContainer{Size: len(counts), TotalSize: len(counts), Library: []apitype.Library{}}
		for _, n := range counts {
			c.Library = append(c.Library, libraryOf(n))
		}
		encode(w, r, http.StatusOK, apitype.LibrariesResponse{MediaContainer: c}, c)
	}
}

func libraryOf(n butler.LibraryCounts) apitype.Library {
	return apitype.Library{Name: n.Library, Present: n.Present, Gone: n.Gone, Bytes: n.Bytes,
		Analysed: n.Analysed, Pending: n.Present - n.Analysed - n.Failing, Failed: n.Failing}
}

// analysisState is an item's analysis state, as the API names it.
func analysisState(it butler.MediaItem) string {
	switch {
	case it.AnalysisVersion > 0:
		return apitype.AnalysisAnalysed
	case it.AnalysisFailures > 0:
		return apitype.AnalysisFailed
	}
	return apitype.AnalysisPending
}

func mediaItemOf(it butler.MediaItem) apitype.MediaItem {
	return apitype.MediaItem{
		ID: it.ID, Library: it.Library, Path: it.Path, Kind: string(it.Kind), Size: it.Size,
		ModifiedAt: it.ModTime.UTC().Format(time.RFC3339Nano), State: string(it.State),
		AddedAt: rfc3339(it.AddedAt), ChangedAt: rfc3339(it.ChangedAt), GoneAt: rfc3339(it.GoneAt),
		Analysis: analysisState(it), AnalysisVersion: it.AnalysisVersion, AnalysedAt: rfc3339(it.AnalysedAt),
		AnalysisFailures: it.AnalysisFailures, AnalysisError: it.AnalysisError, AnalysisRetryAt: rfc3339(it.AnalysisRetryAt),
	}
}

func mediaAnalysisOf(a butler.MediaAnalysis, version int) *apitype.MediaAnalysis {
	out := &apitype.MediaAnalysis{Version: version, Container: a.Container, Duration: a.Duration.Milliseconds(),
		BitRate: a.BitRate, Title: a.Title, Stream: []apitype.MediaStream{}}
	for _, s := range a.Streams {
		out.Stream = append(out.Stream, apitype.MediaStream{
			Index: s.Index, Type: s.Type, Codec: s.Codec, Profile: s.Profile, Language: s.Language, Title: s.Title,
			Default: apitype.Bool(s.Default), Forced: apitype.Bool(s.Forced), BitRate: s.BitRate,
			Channels: s.Channels, ChannelLayout: s.ChannelLayout, SamplingRate: s.SampleRate,
			Width: s.Width, Height: s.Height, FrameRate: s.FrameRate, PixelFormat: s.PixelFormat, BitDepth: s.BitDepth,
			ColorTrc: s.ColorTransfer, ColorPrimaries: s.ColorPrimaries, ColorSpace: s.ColorSpace, HDR: s.HDR,
		})
	}
	for i, c := range a.Chapters {
		out.Chapter = append(out.Chapter, apitype.MediaChapter{Index: i + 1, StartTimeOffset: c.Start.Milliseconds(),
			EndTimeOffset: c.End.Milliseconds(), Tag: c.Title})
	}
	return out
}

func writeMediaItems(w http.ResponseWriter, r *http.Request, c apitype.MediaItemContainer) {
	if c.Item == nil {
		c.Item = []apitype.MediaItem{}
	}
	c.Size = len(c.Item)
	encode(w, r, http.StatusOK, apitype.MediaItemsResponse{MediaContainer: c}, c)
}

// handleMediaItem answers GET /butler/library/items/{id}: the item with
// its stored analysis, if it has one.
func handleMediaItem(ix butler.MediaIndex, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id < 1 {
			fail(log, w, r, butler.Errorf(butler.EINVALID, "%q is not a media item id; give the id of an item of GET /butler/library/items (a whole number)", r.PathValue("id")))
			return
		}
		it, err := ix.MediaItem(r.Context(), id)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		out := mediaItemOf(it)
		if it.AnalysisVersion > 0 {
			a, version, err := ix.MediaAnalysis(r.Context(), id)
			switch {
			case err == nil:
				out.Media = mediaAnalysisOf(a, version)
			case butler.ErrorCode(err) != butler.ENOTFOUND: // else changed since: no analysis now
				fail(log, w, r, err)
				return
			}
		}
		if oi, ok := ix.(butler.OutputIndex); ok {
			outs, err := oi.MediaOutputs(r.Context(), id)
			if err != nil {
				fail(log, w, r, err)
				return
			}
			for _, o := range outs {
				out.Output = append(out.Output, mediaOutputOf(o, it))
			}
		}
		writeMediaItems(w, r, apitype.MediaItemContainer{Item: []apitype.MediaItem{out}})
	}
}

func mediaOutputOf(o butler.MediaOutput, it butler.MediaItem) apitype.MediaOutput {
	out := apitype.MediaOutput{Kind: string(o.Kind), Version: o.Version, MadeAt: rfc3339(o.MadeAt),
		Stale: apitype.Bool(o.Stale(it)), Failures: o.Failures, Error: o.Error, RetryAt: rfc3339(o.RetryAt),
		Data: o.Data, DataText: string(o.Data)}
	for _, f := range o.Files {
		out.File = append(out.File, apitype.MediaOutputFile{Path: f})
	}
	return out
}

// itemQuery is a request of GET /butler/library/items, validated.
type itemQuery struct {
	library  string
	state    butler.ItemState
	analysis string
	prefix   string
	limit    int
	after    *itemCursor
}

// itemCursor is a position in the items of every library: after path in
// library. A page of every library (no library=) also carries the names
// of the libraries after library, as the first page found them, so that
// the next pages need not read the counts to list them (rest, with
// listed set). On the wire it is opaque: base64url of library NUL path,
// then, when listed, NUL and the names of rest joined by NUL.
type itemCursor struct {
	library, path string
	listed        bool
	rest          []string
}

func (c itemCursor) String() string {
	s := c.library + "\x00" + c.path
	if c.listed {
		s += "\x00" + strings.Join(c.rest, "\x00")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func parseCursor(s string) (*itemCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(b), "\x00")
	valid := err == nil && len(parts) >= 2 && parts[0] != "" && utf8.ValidString(string(b))
	c := &itemCursor{}
	if valid {
		c.library, c.path, c.listed = parts[0], parts[1], len(parts) > 2
		if c.listed && (len(parts) > 3 || parts[2] != "") {
			c.rest = parts[2:]
		}
		// The libraries after library, in name order, as listed.
		prev := c.library
		for _, lib := range c.rest {
			valid = valid && lib > prev
			prev = lib
		}
	}
	if !valid {
		return nil, butler.Errorf(butler.EINVALID, "after: %q is not a cursor of this route; give the next value of the previous page, or leave it out for the first page", s)
	}
	return c, nil
}

// parseItemQuery reads and checks the query of GET /butler/library/items;
// every error says what to send.
func parseItemQuery(get func(string) string) (itemQuery, error) {
	q := itemQuery{library: get("library"), analysis: get("analysis"), prefix: get("prefix"), limit: defaultItemLimit}
	switch s := butler.ItemState(get("state")); s {
	case "", butler.ItemPresent, butler.ItemGone:
		q.state = s
	default:
		return q, butler.Errorf(butler.EINVALID, "state: %q is not an item state; give present or gone, or leave it out for both", s)
	}
	if q.analysis != "" && !slices.Contains(apitype.AnalysisStates(), q.analysis) {
		return q, butler.Errorf(butler.EINVALID, "analysis: %q is not an analysis state; give analysed, pending or failed, or leave it out for all", q.analysis)
	}
	if q.prefix != "" && (!strings.HasPrefix(q.prefix, "/") || !utf8.ValidString(q.prefix)) {
		return q, butler.Errorf(butler.EINVALID, "prefix: %q is not the start of an absolute path; give one such as /media/Movies/", q.prefix)
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxItemLimit {
			return q, butler.Errorf(butler.EINVALID, "limit: %q: give a whole number from 1 to %d (default %d)", v, maxItemLimit, defaultItemLimit)
		}
		q.limit = n
	}
	if v := get("after"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			return q, err
		}
		if q.library != "" && c.library != q.library {
			return q, butler.Errorf(butler.EINVALID, "after: the cursor is in library %q, not %q; give the next value of a page of the same query", c.library, q.library)
		}
		q.after = c
	}
	return q, nil
}

// matches reports whether the item passes the filters the index does not
// apply itself.
func (q itemQuery) matches(it butler.MediaItem) bool {
	return (q.analysis == "" || analysisState(it) == q.analysis) && strings.HasPrefix(it.Path, q.prefix)
}

// totalOf returns the number of items that match q when the counts tell
// it, else nil.
func (q itemQuery) totalOf(counts []butler.LibraryCounts) *int {
	if q.prefix != "" || (q.analysis != "" && q.state != butler.ItemPresent) {
		return nil
	}
	n := 0
	for _, c := range counts {
		if q.library != "" && c.Library != q.library {
			continue
		}
		l := libraryOf(c)
		switch {
		case q.analysis == apitype.AnalysisAnalysed:
			n += l.Analysed
		case q.analysis == apitype.AnalysisPending:
			n += l.Pending
		case q.analysis == apitype.AnalysisFailed:
			n += l.Failed
		case q.state == butler.ItemPresent:
			n += l.Present
		case q.state == butler.ItemGone:
			n += l.Gone
		default:
			n += l.Present + l.Gone
		}
	}
	return &n
}

// justBefore returns a string that sorts (byte order) before every path
// that starts with prefix and after nearly every other that sorts before
// prefix: the AfterPath that starts a page at the first path with prefix.
// The strings between it and prefix start with it followed by U+10FFFF,
// which no file name holds; one that did would be read and left out.
func justBefore(prefix string) string {
	r, n := utf8.DecodeLastRuneInString(prefix)
	head := prefix[:len(prefix)-n]
	switch {
	case r == 0 || r == utf8.RuneError:
		return head
	case r == 0xE000: // the code point before is a surrogate
		r = 0xD7FF
	default:
		r--
	}
	return head + string(r) + string(rune(utf8.MaxRune))
}

// handleMediaItems answers GET /butler/library/items: a page of items in
// library then path order. The index reads each library's items in path
// order (and in one state) through an index; the analysis state and the
// path prefix are applied here, reading at most maxItemsExamined items.
func handleMediaItems(ix butler.MediaIndex, lc *libraryCounts, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		q, err := parseItemQuery(query.Get)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		c, err := mediaItemPage(r.Context(), ix, lc, q)
		if err != nil {
			fail(log, w, r, err)
			return
		}
		writeMediaItems(w, r, c)
	}
}

// mediaItemPage reads the page q asks for. Only the first page reads the
// counts (its TotalSize, and the libraries to list); a later page goes on
// in the library of its cursor, then in those the cursor names after it.
func mediaItemPage(ctx context.Context, ix butler.MediaIndex, lc *libraryCounts, q itemQuery) (apitype.MediaItemContainer, error) {
	var c apitype.MediaItemContainer
	var libs []string
	switch {
	case q.library != "":
		libs = []string{q.library}
	case q.after != nil && q.after.listed:
		libs = append([]string{q.after.library}, q.after.rest...)
	}
	if q.after == nil || libs == nil {
		counts, err := lc.get(ctx)
		if err != nil {
			return c, err
		}
		if q.library == "" {
			for _, n := range counts {
				libs = append(libs, n.Library)
			}
		}
		if q.after == nil {
			c.TotalSize = q.totalOf(counts)
			if q.library != "" && !slices.ContainsFunc(counts, func(n butler.LibraryCounts) bool { return n.Library == q.library }) {
				return c, unknownLibrary(q.library, counts)
			}
		}
	}
	// The library and the path to go on after.
	li, pos := 0, ""
	if q.after != nil {
		li, _ = slices.BinarySearch(libs, q.after.library)
		if li < len(libs) && libs[li] == q.after.library {
			pos = q.after.path
		}
	}
	examined, step, read := 0, 0, 0
	for li < len(libs) {
		lib := libs[li]
		if read == maxIndexReads {
			// A page reads the index this many times at most (a forged
			// cursor may name a thousand libraries): the next page goes
			// on from here.
			next := itemCursor{library: lib, path: pos, listed: q.library == "", rest: libs[li+1:]}
			c.Next = next.String()
			return c, nil
		}
		read++
		if jb := justBefore(q.prefix); q.prefix != "" && pos < jb {
			pos = jb
		}
		want := q.limit - len(c.Item)
		n := want
		if q.analysis != "" {
			n = min(maxItemLimit, max(4*want, 100))
		}
		if q.prefix != "" {
			// The index cannot stop at the prefix's last path: reads
			// start small and double, so that a prefix of a few paths
			// reads a few rows.
			step = max(step, firstPrefixRead)
			n, step = min(n, step), 2*step
		}
		batch, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: lib, State: q.state, AfterPath: pos, Limit: n})
		if err != nil {
			return c, err
		}
		done := len(batch) < n
		for _, it := range batch {
			if q.prefix != "" && it.Path > q.prefix && !strings.HasPrefix(it.Path, q.prefix) {
				done = true // past the paths with the prefix
				break
			}
			examined++
			pos = it.Path
			if q.matches(it) {
				c.Item = append(c.Item, mediaItemOf(it))
			}
			if len(c.Item) == q.limit || examined >= maxItemsExamined {
				next := itemCursor{library: lib, path: pos}
				if q.library == "" {
					next.listed, next.rest = true, libs[li+1:]
				}
				c.Next = next.String()
				return c, nil
			}
		}
		if done {
			li, pos, step = li+1, "", 0
		}
	}
	return c, nil
}

// unknownLibrary is the 404 of a library the index has no items of.
func unknownLibrary(name string, counts []butler.LibraryCounts) error {
	if len(counts) == 0 {
		return butler.Errorf(butler.ENOTFOUND, "the media index has no items: no library %q (RefreshLibraries fills it from the libraries of the config)", name)
	}
	names := make([]string, 0, len(counts))
	for _, n := range counts {
		names = append(names, strconv.Quote(n.Library))
	}
	return butler.Errorf(butler.ENOTFOUND, "the media index has no library %q; its libraries are %s (names are case-sensitive)", name, strings.Join(names, ", "))
}
