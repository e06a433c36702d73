package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// ExerciseMediaIndex runs the conformance suite of butler.MediaIndex
// against the indexes newIndex makes: as Exercise does, one new, empty
// index per subtest, in sequence.
//
// Beyond Exercise's rules, the suite holds that paths sort byte by byte
// (the order of Go's string comparison, whatever the database's
// collation), that modification times read back to the nanosecond, and
// that item ids only grow. The sidecars' cases run when the index is a
// butler.SidecarIndex too, and are skipped otherwise.
func ExerciseMediaIndex(t *testing.T, newIndex func(t *testing.T) butler.MediaIndex) {
	t.Helper()
	runSuite(t, mediaSuite, newIndex)
}

var mediaSuite = []testCase[butler.MediaIndex]{
	{"MediaAddAndRead", testMediaAddAndRead},
	{"MediaPathsInByteOrder", testMediaPathsInByteOrder},
	{"MediaPaging", testMediaPaging},
	{"MediaEntries", testMediaEntries},
	{"MediaItemNotFound", testMediaItemNotFound},
	{"MediaLibrariesApart", testMediaLibrariesApart},
	{"MediaNoLibrary", testMediaNoLibrary},
	{"MediaChange", testMediaChange},
	{"MediaGoneAndRevive", testMediaGoneAndRevive},
	{"MediaAddExistingPath", testMediaAddExistingPath},
	{"MediaAddMany", testMediaAddMany},
	{"MediaChangesAllOrNothing", testMediaChangesAllOrNothing},
	{"MediaAnalysisRoundTrip", testMediaAnalysisRoundTrip},
	{"MediaAnalysisOfChangedFile", testMediaAnalysisOfChangedFile},
	{"MediaAnalysisVersionInvalid", testMediaAnalysisVersionInvalid},
	{"MediaToAnalyse", testMediaToAnalyse},
	{"MediaAnalysisFailures", testMediaAnalysisFailures},
	{"MediaCounts", testMediaCounts},
	{"MediaDeleteGone", testMediaDeleteGone},
	{"MediaChangeCount", testMediaChangeCount},
	{"MediaConcurrentBatches", testMediaConcurrentBatches},
	// The sidecars, of an index that keeps them (butler.SidecarIndex).
	{"SidecarsRoundTrip", sidecarCase(testSidecarsRoundTrip)},
	{"SidecarsReplace", sidecarCase(testSidecarsReplace)},
	{"SidecarsOfDeletedItems", sidecarCase(testSidecarsOfDeletedItems)},
	{"SidecarsInvalid", sidecarCase(testSidecarsInvalid)},
	// The outputs, of an index that records them (butler.OutputIndex).
	{"OutputsToDo", outputCase(testOutputsToDo)},
	{"OutputsOfChangedFile", outputCase(testOutputsOfChangedFile)},
	{"OutputsFailures", outputCase(testOutputsFailures)},
	{"OutputsMadeAndForgotten", outputCase(testOutputsMadeAndForgotten)},
	{"OutputsInvalid", outputCase(testOutputsInvalid)},
	{"OutputsBlurHashesOfNewSidecars", outputCase(testOutputsBlurHashesOfNewSidecars)},
	{"OutputsBlurHashesOfAReplacedSet", outputCase(testOutputsBlurHashesOfAReplacedSet)},
}

// mediaBase is when the suite's scans happen.
var mediaBase = time.Date(2025, time.April, 1, 2, 0, 0, 0, time.UTC)

// file returns a media file at path with a size and a modification time
// with nanoseconds.
func file(path string, size int64) butler.MediaFile {
	return butler.MediaFile{Path: path, Kind: butler.MediaVideo, Size: size,
		ModTime: time.Date(2024, time.May, 6, 7, 8, 9, 123456789, time.UTC).Add(time.Duration(size) * time.Second)}
}

func mustApply(t *testing.T, s butler.MediaIndex, library string, c butler.MediaChanges) {
	t.Helper()
	if c.At.IsZero() {
		c.At = mediaBase
	}
	if err := s.ApplyMediaChanges(t.Context(), library, c); err != nil {
		t.Fatalf("ApplyMediaChanges(%s): %v", library, err)
	}
}

func mustItems(t *testing.T, s butler.MediaIndex, f butler.MediaItemFilter) []butler.MediaItem {
	t.Helper()
	items, err := s.MediaItems(t.Context(), f)
	if err != nil {
		t.Fatalf("MediaItems(%+v): %v", f, err)
	}
	return items
}

// mustAdd adds the files to library and returns its items by path.
func mustAdd(t *testing.T, s butler.MediaIndex, library string, files ...butler.MediaFile) map[string]butler.MediaItem {
	t.Helper()
	mustApply(t, s, library, butler.MediaChanges{Add: files})
	out := map[string]butler.MediaItem{}
	for _, it := range mustItems(t, s, butler.MediaItemFilter{Library: library, Limit: 100000}) {
		out[it.Path] = it
	}
	return out
}

func mustItem(t *testing.T, s butler.MediaIndex, id int64) butler.MediaItem {
	t.Helper()
	it, err := s.MediaItem(t.Context(), id)
	if err != nil {
		t.Fatalf("MediaItem(%d): %v", id, err)
	}
	return it
}

func paths(items []butler.MediaItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Path
	}
	return out
}

func itemIDs(items []butler.MediaItem) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func testMediaAddAndRead(t *testing.T, s butler.MediaIndex) {
	f := file("/media/movies/Alien (1979)/Alien.mkv", 7)
	f.Kind = butler.MediaVideo
	items := mustAdd(t, s, "Movies", f)
	it, ok := items[f.Path]
	if !ok || len(items) != 1 {
		t.Fatalf("after adding one file, items = %v", items)
	}
	want := butler.MediaItem{ID: it.ID, Library: "Movies", Path: f.Path, Kind: butler.MediaVideo, Size: 7,
		ModTime: f.ModTime, State: butler.ItemPresent, AddedAt: mediaBase, ChangedAt: mediaBase}
	if it.ID <= 0 {
		t.Errorf("ID = %d, want a positive id", it.ID)
	}
	checkItem(t, "added item", it, want)
	checkItem(t, "MediaItem", mustItem(t, s, it.ID), want)
}

func checkItem(t *testing.T, what string, got, want butler.MediaItem) {
	t.Helper()
	var diffs []string
	add := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	times := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	add("ID", got.ID, want.ID)
	add("Library", got.Library, want.Library)
	add("Path", got.Path, want.Path)
	add("Kind", got.Kind, want.Kind)
	add("Size", got.Size, want.Size)
	times("ModTime", got.ModTime, want.ModTime)
	add("State", got.State, want.State)
	times("AddedAt", got.AddedAt, want.AddedAt)
	times("ChangedAt", got.ChangedAt, want.ChangedAt)
	times("GoneAt", got.GoneAt, want.GoneAt)
	add("AnalysisVersion", got.AnalysisVersion, want.AnalysisVersion)
	times("AnalysedAt", got.AnalysedAt, want.AnalysedAt)
	add("AnalysisFailures", got.AnalysisFailures, want.AnalysisFailures)
	add("AnalysisError", got.AnalysisError, want.AnalysisError)
	times("AnalysisRetryAt", got.AnalysisRetryAt, want.AnalysisRetryAt)
	if len(diffs) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

func testMediaPathsInByteOrder(t *testing.T, s butler.MediaIndex) {
	// Byte order puts ' ' before '/', upper case before lower case, and
	// multi-byte letters after every ASCII one; a collation for people
	// would not.
	ps := []string{"/m/a/x.mkv", "/m/a b/y.mkv", "/m/B.mkv", "/m/a.mkv", "/m/é.mkv", "/m/z.mkv", "/m/a-b.mkv", "/m/_c.mkv"}
	var files []butler.MediaFile
	for i, p := range ps {
		files = append(files, file(p, int64(i)))
	}
	mustAdd(t, s, "L", files...)
	want := slices.Clone(ps)
	slices.Sort(want)
	if got := paths(mustItems(t, s, butler.MediaItemFilter{Library: "L"})); !slices.Equal(got, want) {
		t.Errorf("MediaItems order = %q, want byte order %q", got, want)
	}
	// The pages follow the same order.
	var got []string
	after := ""
	for {
		page := mustItems(t, s, butler.MediaItemFilter{Library: "L", AfterPath: after, Limit: 3})
		if len(page) == 0 {
			break
		}
		got = append(got, paths(page)...)
		after = page[len(page)-1].Path
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged in threes = %q, want %q", got, want)
	}
}

func testMediaPaging(t *testing.T, s butler.MediaIndex) {
	var files []butler.MediaFile
	for i := range 25 {
		files = append(files, file(fmt.Sprintf("/m/%03d.mkv", i), int64(i)))
	}
	mustAdd(t, s, "L", files...)
	page := mustItems(t, s, butler.MediaItemFilter{Library: "L", Limit: 10})
	if len(page) != 10 || page[0].Path != "/m/000.mkv" || page[9].Path != "/m/009.mkv" {
		t.Fatalf("first page of 10 = %q", paths(page))
	}
	page = mustItems(t, s, butler.MediaItemFilter{Library: "L", AfterPath: "/m/019.mkv", Limit: 10})
	if got := paths(page); !slices.Equal(got, []string{"/m/020.mkv", "/m/021.mkv", "/m/022.mkv", "/m/023.mkv", "/m/024.mkv"}) {
		t.Errorf("page after 019 = %q", got)
	}
	if got := mustItems(t, s, butler.MediaItemFilter{Library: "L"}); len(got) != 25 {
		t.Errorf("with no limit, %d items, want 25", len(got))
	}
}

func testMediaEntries(t *testing.T, s butler.MediaIndex) {
	ps := []string{"/m/a/x.mkv", "/m/a b/y.mkv", "/m/B.mkv", "/m/a.mkv", "/m/é.mkv"}
	var files []butler.MediaFile
	for i, p := range ps {
		files = append(files, file(p, int64(i+1)))
	}
	items := mustAdd(t, s, "L", files...)
	mustAdd(t, s, "Other", file("/m/a.mkv", 9))
	gone := items["/m/B.mkv"]
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{gone.ID}})
	want := slices.Clone(ps)
	slices.Sort(want)
	var got []butler.MediaEntry
	after := ""
	for {
		page, err := s.MediaEntries(t.Context(), "L", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d entries with limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Path
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		it := items[want[i]]
		state := butler.ItemPresent
		if it.ID == gone.ID {
			state = butler.ItemGone
		}
		if e.Path != want[i] || e.ID != it.ID || e.Kind != it.Kind || e.Size != it.Size || !e.ModTime.Equal(it.ModTime) || e.State != state {
			t.Errorf("entry %d = %+v; want the item %+v, %s", i, e, it, state)
		}
	}
	if all, err := s.MediaEntries(t.Context(), "L", "", 0); err != nil || len(all) != len(ps) {
		t.Errorf("MediaEntries with no limit: %d entries, %v", len(all), err)
	}
	if _, err := s.MediaEntries(t.Context(), "", "", 0); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("MediaEntries with no library: err = %v, want EINVALID", err)
	}
}

func testMediaItemNotFound(t *testing.T, s butler.MediaIndex) {
	_, err := s.MediaItem(t.Context(), 12345)
	if butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Errorf("MediaItem(12345) on an empty index: err = %v, want ENOTFOUND", err)
	}
	if _, _, err := s.MediaAnalysis(t.Context(), 12345); butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Errorf("MediaAnalysis(12345) on an empty index: err = %v, want ENOTFOUND", err)
	}
}

func testMediaLibrariesApart(t *testing.T, s butler.MediaIndex) {
	mustAdd(t, s, "A", file("/m/x.mkv", 1), file("/m/y.mkv", 2))
	b := mustAdd(t, s, "B", file("/m/x.mkv", 3))
	if len(b) != 1 || b["/m/x.mkv"].Size != 3 {
		t.Errorf("library B = %v, want its one item of size 3", b)
	}
	a := mustItems(t, s, butler.MediaItemFilter{Library: "A"})
	if len(a) != 2 || a[0].Size != 1 {
		t.Errorf("library A = %v, want its two items, the first of size 1", a)
	}
	// A change names the library: an id of another library is left alone.
	mustApply(t, s, "A", butler.MediaChanges{Gone: []int64{b["/m/x.mkv"].ID}})
	if it := mustItem(t, s, b["/m/x.mkv"].ID); it.State != butler.ItemPresent {
		t.Errorf("a change for library A marked an item of B %s", it.State)
	}
	if got := mustItems(t, s, butler.MediaItemFilter{Library: "C"}); len(got) != 0 {
		t.Errorf("unknown library: %d items, want none", len(got))
	}
}

func testMediaNoLibrary(t *testing.T, s butler.MediaIndex) {
	if _, err := s.MediaItems(t.Context(), butler.MediaItemFilter{}); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("MediaItems with no library: err = %v, want EINVALID", err)
	}
	if _, err := s.MediaItems(t.Context(), butler.MediaItemFilter{Library: "L", State: "lost"}); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("MediaItems with state \"lost\": err = %v, want EINVALID", err)
	}
	err := s.ApplyMediaChanges(t.Context(), "", butler.MediaChanges{Add: []butler.MediaFile{file("/x.mkv", 1)}})
	if butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("ApplyMediaChanges with no library: err = %v, want EINVALID", err)
	}
}

// analysed stores an analysis of it (version 1) and returns the item.
func analysed(t *testing.T, s butler.MediaIndex, it butler.MediaItem, at time.Time) butler.MediaItem {
	t.Helper()
	f := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	ok, err := s.SaveMediaAnalysis(t.Context(), it.ID, f, 1, at, sampleAnalysis())
	if err != nil || !ok {
		t.Fatalf("SaveMediaAnalysis(%d) = %v, %v; want true", it.ID, ok, err)
	}
	return mustItem(t, s, it.ID)
}

func testMediaChange(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase.Add(time.Hour))
	if a.AnalysisVersion != 1 {
		t.Fatalf("after SaveMediaAnalysis, version %d", a.AnalysisVersion)
	}
	later := mediaBase.Add(24 * time.Hour)
	nf := file("/m/a.mkv", 10)
	nf.Kind = butler.MediaAudio
	mustApply(t, s, "L", butler.MediaChanges{Change: map[int64]butler.MediaFile{a.ID: nf}, At: later})
	got := mustItem(t, s, a.ID)
	checkItem(t, "changed item", got, butler.MediaItem{ID: a.ID, Library: "L", Path: "/m/a.mkv", Kind: butler.MediaAudio,
		Size: 10, ModTime: nf.ModTime, State: butler.ItemPresent, AddedAt: mediaBase, ChangedAt: later})
	if _, _, err := s.MediaAnalysis(t.Context(), a.ID); butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Errorf("the analysis of a changed file: err = %v, want ENOTFOUND (it was dropped)", err)
	}
	if b := mustItem(t, s, items["/m/b.mkv"].ID); b.Size != 2 || !b.ChangedAt.Equal(mediaBase) {
		t.Errorf("the other item changed too: %+v", b)
	}
}

func testMediaGoneAndRevive(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase.Add(time.Hour))
	goneAt := mediaBase.Add(48 * time.Hour)
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{a.ID}, At: goneAt})
	got := mustItem(t, s, a.ID)
	if got.State != butler.ItemGone || !got.GoneAt.Equal(goneAt) {
		t.Errorf("gone item: state %s, gone at %v; want gone at %v", got.State, got.GoneAt, goneAt)
	}
	// Gone again later: the first instant stays.
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{a.ID}, At: goneAt.Add(time.Hour)})
	if got := mustItem(t, s, a.ID); !got.GoneAt.Equal(goneAt) {
		t.Errorf("gone twice: gone at %v, want the first %v", got.GoneAt, goneAt)
	}
	if g := paths(mustItems(t, s, butler.MediaItemFilter{Library: "L", State: butler.ItemGone})); !slices.Equal(g, []string{"/m/a.mkv"}) {
		t.Errorf("gone items = %q", g)
	}
	if p := paths(mustItems(t, s, butler.MediaItemFilter{Library: "L", State: butler.ItemPresent})); !slices.Equal(p, []string{"/m/b.mkv"}) {
		t.Errorf("present items = %q", p)
	}
	// A gone item is not analysed.
	toDo, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Version: 1, Now: goneAt})
	if err != nil || len(toDo) != 0 {
		t.Errorf("MediaItemsToAnalyse(version 1) with the analysed item gone = %v, %v; want none", paths(toDo), err)
	}
	// Back unchanged: present, with its analysis.
	mustApply(t, s, "L", butler.MediaChanges{Revive: []int64{a.ID}, At: goneAt.Add(2 * time.Hour)})
	got = mustItem(t, s, a.ID)
	want := a
	checkItem(t, "revived item", got, want)
	if _, v, err := s.MediaAnalysis(t.Context(), a.ID); err != nil || v != 1 {
		t.Errorf("revived item's analysis: version %d, %v; want version 1", v, err)
	}
}

func testMediaAddExistingPath(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase.Add(time.Hour))
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{a.ID}, At: mediaBase.Add(2 * time.Hour)})
	later := mediaBase.Add(3 * time.Hour)
	mustApply(t, s, "L", butler.MediaChanges{Add: []butler.MediaFile{file("/m/a.mkv", 5)}, At: later})
	all := mustItems(t, s, butler.MediaItemFilter{Library: "L"})
	if len(all) != 1 {
		t.Fatalf("adding a path the library has: %d items, want 1", len(all))
	}
	checkItem(t, "item added again", all[0], butler.MediaItem{ID: a.ID, Library: "L", Path: "/m/a.mkv", Kind: butler.MediaVideo,
		Size: 5, ModTime: file("/m/a.mkv", 5).ModTime, State: butler.ItemPresent, AddedAt: mediaBase, ChangedAt: later})
	if _, _, err := s.MediaAnalysis(t.Context(), a.ID); butler.ErrorCode(err) != butler.ENOTFOUND {
		t.Errorf("analysis after the path was added again: err = %v, want ENOTFOUND", err)
	}
}

// testMediaAddMany adds more items in one batch than one statement takes,
// among them a path the library has and a path given twice: every item is
// there once, with the values given last.
func testMediaAddMany(t *testing.T, s butler.MediaIndex) {
	old := mustAdd(t, s, "L", file("/m/0100.mkv", 1))["/m/0100.mkv"]
	var add []butler.MediaFile
	for i := range 250 {
		add = append(add, file(fmt.Sprintf("/m/%04d.mkv", i), int64(10+i)))
	}
	// Given twice, in what one statement takes: first with one size, then
	// with another.
	add = slices.Insert(add, 8, file("/m/0007.mkv", 99))
	later := mediaBase.Add(time.Hour)
	mustApply(t, s, "L", butler.MediaChanges{Add: add, At: later})
	all := mustItems(t, s, butler.MediaItemFilter{Library: "L", Limit: 1000})
	if len(all) != 250 {
		t.Fatalf("%d items after adding 250 paths (one of them twice, one already there), want 250", len(all))
	}
	for i, it := range all {
		size, added := int64(10+i), later
		switch i {
		case 7:
			size = 99
		case 100:
			added = mediaBase
		}
		want := butler.MediaItem{ID: it.ID, Library: "L", Path: fmt.Sprintf("/m/%04d.mkv", i), Kind: butler.MediaVideo,
			Size: size, ModTime: file("", size).ModTime, State: butler.ItemPresent, AddedAt: added, ChangedAt: later}
		checkItem(t, "item "+want.Path, it, want)
	}
	if all[100].ID != old.ID {
		t.Errorf("the path the library had got id %d, want its own %d", all[100].ID, old.ID)
	}
}

// cancelAfter is a context canceled at the (k+1)-th call of Done: a
// cancellation at a chosen point inside a store method, with no timing.
type cancelAfter struct {
	context.Context
	mu   sync.Mutex
	left int
	done chan struct{}
}

func (c *cancelAfter) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	} else {
		c.left--
	}
	return c.done
}

func (c *cancelAfter) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return c.Context.Err()
	}
}

func testMediaChangesAllOrNothing(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/0.mkv", 1), file("/m/1.mkv", 2))
	batch := butler.MediaChanges{
		Add:    []butler.MediaFile{file("/m/2.mkv", 3), file("/m/3.mkv", 4), file("/m/4.mkv", 5)},
		Change: map[int64]butler.MediaFile{items["/m/0.mkv"].ID: file("/m/0.mkv", 9)},
		Gone:   []int64{items["/m/1.mkv"].ID},
		At:     mediaBase.Add(time.Hour),
	}
	before := mustItems(t, s, butler.MediaItemFilter{Library: "L"})
	// Cancel at every point in turn until the batch goes through: each
	// failed attempt must leave the index as it was.
	for k := 0; ; k++ {
		ctx := &cancelAfter{Context: t.Context(), left: k, done: make(chan struct{})}
		err := s.ApplyMediaChanges(ctx, "L", batch)
		if err == nil {
			break
		}
		if k > 10000 {
			t.Fatalf("ApplyMediaChanges still canceled after %d Done calls: %v", k, err)
		}
		after := mustItems(t, s, butler.MediaItemFilter{Library: "L"})
		if len(after) != len(before) {
			t.Fatalf("canceled at Done call %d (%v): %d items, want the %d of before: a partial batch is visible", k, err, len(after), len(before))
		}
		for i := range after {
			checkItem(t, fmt.Sprintf("canceled at Done call %d", k), after[i], before[i])
		}
	}
	after := mustItems(t, s, butler.MediaItemFilter{Library: "L"})
	if len(after) != 5 || after[0].Size != 9 || after[1].State != butler.ItemGone {
		t.Errorf("after the batch went through: %+v", after)
	}
}

// sampleAnalysis has every field set.
func sampleAnalysis() butler.MediaAnalysis {
	return butler.MediaAnalysis{
		Container: "matroska,webm", Duration: 5*time.Second + 21*time.Millisecond, BitRate: 1234567, Title: "A Title",
		Streams: []butler.MediaStream{
			{Index: 0, Type: "video", Codec: "hevc", Profile: "Main 10", Language: "und", Title: "Video", Default: true,
				BitRate: 1000000, Width: 3840, Height: 2160, FrameRate: 23.976023976023978, PixelFormat: "yuv420p10le", BitDepth: 10,
				ColorTransfer: "smpte2084", ColorPrimaries: "bt2020", ColorSpace: "bt2020nc", HDR: butler.HDR10},
			{Index: 1, Type: "audio", Codec: "eac3", Language: "fra", Title: "Français", Forced: true, BitRate: 640000,
				Channels: 6, ChannelLayout: "5.1(side)", SampleRate: 48000},
			{Index: 2, Type: "subtitle", Codec: "subrip", Language: "eng"},
		},
		Chapters: []butler.MediaChapter{{Start: 0, End: 2 * time.Second, Title: "Opening"}, {Start: 2 * time.Second, End: 5*time.Second + 21*time.Millisecond, Title: "Chapitre 2 — fin"}},
	}
}

func testMediaAnalysisRoundTrip(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	it := items["/m/a.mkv"]
	at := mediaBase.Add(90 * time.Minute)
	f := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	want := sampleAnalysis()
	ok, err := s.SaveMediaAnalysis(t.Context(), it.ID, f, 3, at, want)
	if err != nil || !ok {
		t.Fatalf("SaveMediaAnalysis = %v, %v", ok, err)
	}
	got, v, err := s.MediaAnalysis(t.Context(), it.ID)
	if err != nil || v != 3 {
		t.Fatalf("MediaAnalysis = version %d, %v; want version 3", v, err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("MediaAnalysis =\n  %+v\nwant\n  %+v", got, want)
	}
	after := mustItem(t, s, it.ID)
	if after.AnalysisVersion != 3 || !after.AnalysedAt.Equal(at) {
		t.Errorf("item after the analysis: version %d at %v; want 3 at %v", after.AnalysisVersion, after.AnalysedAt, at)
	}
	// Saved again (an upgrade): the new one replaces it.
	want.Container = "mov,mp4,m4a,3gp,3g2,mj2"
	want.Streams = want.Streams[:1]
	if ok, err := s.SaveMediaAnalysis(t.Context(), it.ID, f, 4, at.Add(time.Hour), want); err != nil || !ok {
		t.Fatalf("SaveMediaAnalysis again = %v, %v", ok, err)
	}
	got, v, err = s.MediaAnalysis(t.Context(), it.ID)
	if err != nil || v != 4 || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("after saving again: version %d, %v, %+v; want version 4, %+v", v, err, got, want)
	}
}

func testMediaAnalysisOfChangedFile(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a := items["/m/a.mkv"]
	stale := butler.MediaFile{Path: a.Path, Kind: a.Kind, Size: a.Size + 1, ModTime: a.ModTime}
	if ok, err := s.SaveMediaAnalysis(t.Context(), a.ID, stale, 1, mediaBase, sampleAnalysis()); err != nil || ok {
		t.Errorf("SaveMediaAnalysis for another size = %v, %v; want false", ok, err)
	}
	stale = butler.MediaFile{Path: a.Path, Kind: a.Kind, Size: a.Size, ModTime: a.ModTime.Add(time.Nanosecond)}
	if ok, err := s.SaveMediaAnalysis(t.Context(), a.ID, stale, 1, mediaBase, sampleAnalysis()); err != nil || ok {
		t.Errorf("SaveMediaAnalysis for a modification time 1 ns later = %v, %v; want false", ok, err)
	}
	if ok, err := s.RecordMediaAnalysisFailure(t.Context(), a.ID, stale, "broken", mediaBase); err != nil || ok {
		t.Errorf("RecordMediaAnalysisFailure for another file = %v, %v; want false", ok, err)
	}
	if it := mustItem(t, s, a.ID); it.AnalysisVersion != 0 || it.AnalysisFailures != 0 {
		t.Errorf("after refused saves: version %d, failures %d; want 0, 0", it.AnalysisVersion, it.AnalysisFailures)
	}
	b := items["/m/b.mkv"]
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{b.ID}})
	fb := butler.MediaFile{Path: b.Path, Kind: b.Kind, Size: b.Size, ModTime: b.ModTime}
	if ok, err := s.SaveMediaAnalysis(t.Context(), b.ID, fb, 1, mediaBase, sampleAnalysis()); err != nil || ok {
		t.Errorf("SaveMediaAnalysis of a gone item = %v, %v; want false", ok, err)
	}
	if ok, err := s.SaveMediaAnalysis(t.Context(), 99999, fb, 1, mediaBase, sampleAnalysis()); err != nil || ok {
		t.Errorf("SaveMediaAnalysis of no item = %v, %v; want false", ok, err)
	}
}

func testMediaAnalysisVersionInvalid(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := items["/m/a.mkv"]
	f := butler.MediaFile{Path: a.Path, Kind: a.Kind, Size: a.Size, ModTime: a.ModTime}
	if _, err := s.SaveMediaAnalysis(t.Context(), a.ID, f, 0, mediaBase, sampleAnalysis()); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("SaveMediaAnalysis with version 0: err = %v, want EINVALID", err)
	}
}

func testMediaToAnalyse(t *testing.T, s butler.MediaIndex) {
	var files []butler.MediaFile
	for i := range 12 {
		files = append(files, file(fmt.Sprintf("/m/%02d.mkv", i), int64(i)))
	}
	items := mustAdd(t, s, "L", files...)
	mustAdd(t, s, "Other", file("/o/x.mkv", 1))
	analysed(t, s, items["/m/03.mkv"], mediaBase)
	now := mediaBase.Add(time.Hour)

	// Every never-analysed item, in id order, page by page.
	var got []int64
	var after int64
	for {
		page, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Version: 0, Now: now, AfterID: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, itemIDs(page)...)
		after = page[len(page)-1].ID
	}
	if len(got) != 12 || !slices.IsSorted(got) {
		t.Errorf("items to analyse = %v, want 12 ids in order (11 of L and 1 of Other)", got)
	}
	if slices.Contains(got, items["/m/03.mkv"].ID) {
		t.Errorf("the analysed item is still to analyse")
	}
	lib, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Library: "Other", Now: now})
	if err != nil || len(lib) != 1 || lib[0].Path != "/o/x.mkv" {
		t.Errorf("items to analyse of library Other = %v, %v", paths(lib), err)
	}
	v1, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Version: 1, Now: now})
	if err != nil || len(v1) != 1 || v1[0].Path != "/m/03.mkv" {
		t.Errorf("items with version 1 = %v, %v; want /m/03.mkv", paths(v1), err)
	}
	for _, tc := range []struct {
		f    butler.AnalysisFilter
		want int
	}{
		{butler.AnalysisFilter{Now: now}, 12},
		{butler.AnalysisFilter{Library: "Other", Now: now}, 1},
		{butler.AnalysisFilter{Version: 1, Now: now}, 1},
		{butler.AnalysisFilter{Version: 1, Library: "Other", Now: now}, 0},
	} {
		if n, err := s.CountMediaItemsToAnalyse(t.Context(), tc.f); err != nil || n != tc.want {
			t.Errorf("CountMediaItemsToAnalyse(%+v) = %d, %v; want %d", tc.f, n, err, tc.want)
		}
	}
}

func testMediaAnalysisFailures(t *testing.T, s butler.MediaIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a := items["/m/a.mkv"]
	fa := butler.MediaFile{Path: a.Path, Kind: a.Kind, Size: a.Size, ModTime: a.ModTime}
	retry := mediaBase.Add(24 * time.Hour)
	for i := 1; i <= 2; i++ {
		ok, err := s.RecordMediaAnalysisFailure(t.Context(), a.ID, fa, fmt.Sprintf("failure %d", i), retry)
		if err != nil || !ok {
			t.Fatalf("RecordMediaAnalysisFailure %d = %v, %v", i, ok, err)
		}
	}
	got := mustItem(t, s, a.ID)
	if got.AnalysisFailures != 2 || got.AnalysisError != "failure 2" || !got.AnalysisRetryAt.Equal(retry) {
		t.Errorf("after two failures: %d failures, error %q, retry at %v", got.AnalysisFailures, got.AnalysisError, got.AnalysisRetryAt)
	}
	// Not offered before its retry instant, offered at it.
	early, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Now: retry.Add(-time.Nanosecond)})
	if err != nil || !slices.Equal(paths(early), []string{"/m/b.mkv"}) {
		t.Errorf("to analyse before the retry instant = %q, %v; want only /m/b.mkv", paths(early), err)
	}
	due, err := s.MediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Now: retry})
	if err != nil || !slices.Equal(paths(due), []string{"/m/a.mkv", "/m/b.mkv"}) {
		t.Errorf("to analyse at the retry instant = %q, %v; want both", paths(due), err)
	}
	// And counted as they are offered.
	if n, err := s.CountMediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Now: retry.Add(-time.Nanosecond)}); err != nil || n != 1 {
		t.Errorf("count to analyse before the retry instant = %d, %v; want 1", n, err)
	}
	if n, err := s.CountMediaItemsToAnalyse(t.Context(), butler.AnalysisFilter{Now: retry, AfterID: a.ID, Limit: 1}); err != nil || n != 2 {
		t.Errorf("count to analyse at the retry instant = %d, %v; want 2 (AfterID and Limit ignored)", n, err)
	}
	// A success clears the failures.
	got = analysed(t, s, a, retry)
	if got.AnalysisFailures != 0 || got.AnalysisError != "" || !got.AnalysisRetryAt.IsZero() {
		t.Errorf("after a success: %d failures, error %q, retry at %v; want none", got.AnalysisFailures, got.AnalysisError, got.AnalysisRetryAt)
	}
	// So does a change of the file.
	b := items["/m/b.mkv"]
	fb := butler.MediaFile{Path: b.Path, Kind: b.Kind, Size: b.Size, ModTime: b.ModTime}
	if ok, err := s.RecordMediaAnalysisFailure(t.Context(), b.ID, fb, "bad", retry); err != nil || !ok {
		t.Fatalf("RecordMediaAnalysisFailure = %v, %v", ok, err)
	}
	mustApply(t, s, "L", butler.MediaChanges{Change: map[int64]butler.MediaFile{b.ID: file("/m/b.mkv", 3)}})
	if got := mustItem(t, s, b.ID); got.AnalysisFailures != 0 || got.AnalysisError != "" || !got.AnalysisRetryAt.IsZero() {
		t.Errorf("after a change: %d failures, error %q, retry at %v; want none", got.AnalysisFailures, got.AnalysisError, got.AnalysisRetryAt)
	}
}

func testMediaCounts(t *testing.T, s butler.MediaIndex) {
	if c, err := s.LibraryCounts(t.Context()); err != nil || len(c) != 0 {
		t.Errorf("LibraryCounts of an empty index = %v, %v", c, err)
	}
	items := mustAdd(t, s, "Movies", file("/m/a.mkv", 10), file("/m/b.mkv", 20), file("/m/c.mkv", 30), file("/m/d.mkv", 40))
	mustAdd(t, s, "Music", file("/u/a.flac", 5))
	analysed(t, s, items["/m/a.mkv"], mediaBase)
	b := items["/m/b.mkv"]
	if ok, err := s.RecordMediaAnalysisFailure(t.Context(), b.ID, butler.MediaFile{Size: b.Size, ModTime: b.ModTime}, "bad", mediaBase); err != nil || !ok {
		t.Fatal(ok, err)
	}
	mustApply(t, s, "Movies", butler.MediaChanges{Gone: []int64{items["/m/d.mkv"].ID}})
	got, err := s.LibraryCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []butler.LibraryCounts{
		{Library: "Movies", Present: 3, Gone: 1, Bytes: 60, Analysed: 1, Failing: 1},
		{Library: "Music", Present: 1, Bytes: 5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("LibraryCounts =\n  %+v\nwant\n  %+v", got, want)
	}
}

// testMediaChangeCount: a scan's batch and a garbage collection's each
// move the count of changes; a saved analysis does not.
func testMediaChangeCount(t *testing.T, s butler.MediaIndex) {
	cc, ok := s.(butler.MediaChangeCounter)
	if !ok {
		t.Skipf("%T does not count its changes (it is not a butler.MediaChangeCounter)", s)
	}
	before := cc.MediaChangeCount()
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	added := cc.MediaChangeCount()
	if added <= before {
		t.Errorf("MediaChangeCount after a batch = %d, before %d; want more", added, before)
	}
	analysed(t, s, items["/m/a.mkv"], mediaBase)
	if n := cc.MediaChangeCount(); n != added {
		t.Errorf("MediaChangeCount after an analysis = %d; want %d, as before it", n, added)
	}
	if _, err := s.DeleteGoneMediaItems(t.Context(), mediaBase, 0); err != nil {
		t.Fatal(err)
	}
	if n := cc.MediaChangeCount(); n <= added {
		t.Errorf("MediaChangeCount after a garbage collection = %d, before %d; want more", n, added)
	}
}

func testMediaDeleteGone(t *testing.T, s butler.MediaIndex) {
	var files []butler.MediaFile
	for i := range 7 {
		files = append(files, file(fmt.Sprintf("/m/%d.mkv", i), int64(i)))
	}
	items := mustAdd(t, s, "L", files...)
	early, late := mediaBase.Add(time.Hour), mediaBase.Add(10*time.Hour)
	var goneEarly []int64
	for i := range 5 {
		it := analysed(t, s, items[fmt.Sprintf("/m/%d.mkv", i)], mediaBase)
		goneEarly = append(goneEarly, it.ID)
	}
	mustApply(t, s, "L", butler.MediaChanges{Gone: goneEarly, At: early})
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{items["/m/5.mkv"].ID}, At: late})

	if n, err := s.DeleteGoneMediaItems(t.Context(), early, 0); err != nil || n != 0 {
		t.Errorf("DeleteGoneMediaItems(before the first went) = %d, %v; want 0", n, err)
	}
	total := 0
	for {
		n, err := s.DeleteGoneMediaItems(t.Context(), early.Add(time.Nanosecond), 2)
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("DeleteGoneMediaItems with limit 2 deleted %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 5 {
		t.Errorf("deleted %d items gone early, want 5", total)
	}
	left := paths(mustItems(t, s, butler.MediaItemFilter{Library: "L"}))
	if !slices.Equal(left, []string{"/m/5.mkv", "/m/6.mkv"}) {
		t.Errorf("left = %q; want the one gone late and the present one", left)
	}
	for _, id := range goneEarly {
		if _, err := s.MediaItem(t.Context(), id); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Errorf("deleted item %d: err = %v, want ENOTFOUND", id, err)
		}
		if _, _, err := s.MediaAnalysis(t.Context(), id); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Errorf("deleted item %d's analysis: err = %v, want ENOTFOUND", id, err)
		}
	}
	// The path can come back as a new item, with a new id.
	again := mustAdd(t, s, "L", file("/m/0.mkv", 0))
	if it := again["/m/0.mkv"]; slices.Contains(goneEarly, it.ID) || it.AnalysisVersion != 0 {
		t.Errorf("a path added after its item was deleted: id %d, version %d; want a new id and no analysis", it.ID, it.AnalysisVersion)
	}
}

func testMediaConcurrentBatches(t *testing.T, s butler.MediaIndex) {
	// Several scans of different libraries at once (a cluster's nodes):
	// every batch lands.
	const libs, batches, per = 4, 5, 20
	var wg sync.WaitGroup
	errs := make(chan error, libs*batches)
	for l := range libs {
		wg.Go(func() {
			for b := range batches {
				var c butler.MediaChanges
				for i := range per {
					c.Add = append(c.Add, file(fmt.Sprintf("/m/%d/%d.mkv", b, i), int64(i)))
				}
				c.At = mediaBase
				if err := s.ApplyMediaChanges(t.Context(), fmt.Sprintf("L%d", l), c); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	counts, err := s.LibraryCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != libs {
		t.Fatalf("%d libraries counted, want %d", len(counts), libs)
	}
	for _, c := range counts {
		if c.Present != batches*per {
			t.Errorf("library %s: %d items, want %d", c.Library, c.Present, batches*per)
		}
	}
}
