package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// outputCase runs fn on an index that records outputs, and skips it on
// one that does not.
func outputCase(fn func(t *testing.T, s butler.OutputIndex)) func(t *testing.T, s butler.MediaIndex) {
	return func(t *testing.T, s butler.MediaIndex) {
		oi, ok := s.(butler.OutputIndex)
		if !ok {
			t.Skipf("%T records no outputs (it is not a butler.OutputIndex)", s)
		}
		fn(t, oi)
	}
}

// fileOf is the file of item it as the index has it.
func fileOf(it butler.MediaItem) butler.MediaFile {
	return butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
}

func mustForOutput(t *testing.T, s butler.OutputIndex, f butler.OutputFilter) []int64 {
	t.Helper()
	items, err := s.MediaItemsForOutput(t.Context(), f)
	if err != nil {
		t.Fatalf("MediaItemsForOutput(%+v): %v", f, err)
	}
	n, err := s.CountItemsForOutput(t.Context(), f)
	if err != nil {
		t.Fatalf("CountItemsForOutput(%+v): %v", f, err)
	}
	if f.AfterID == 0 && (f.Limit <= 0 || f.Limit > n) && n != len(items) {
		t.Errorf("CountItemsForOutput = %d, but MediaItemsForOutput returned %d items", n, len(items))
	}
	return itemIDs(items)
}

func mustSaveOutput(t *testing.T, s butler.OutputIndex, it butler.MediaItem, o butler.MediaOutput) bool {
	t.Helper()
	o.Item = it.ID
	ok, err := s.SaveMediaOutput(t.Context(), fileOf(it), o)
	if err != nil {
		t.Fatalf("SaveMediaOutput(%d, %s): %v", it.ID, o.Kind, err)
	}
	return ok
}

func mustOutputs(t *testing.T, s butler.OutputIndex, id int64) []butler.MediaOutput {
	t.Helper()
	out, err := s.MediaOutputs(t.Context(), id)
	if err != nil {
		t.Fatalf("MediaOutputs(%d): %v", id, err)
	}
	return out
}

// testOutputsToDo: the items an output task has to do are the present,
// analysed items of its media kinds without its output at its version,
// in id order, a page at a time.
func testOutputsToDo(t *testing.T, s butler.OutputIndex) {
	music := file("/m/song.flac", 4)
	music.Kind = butler.MediaAudio
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2), file("/m/c.mkv", 3), music)
	a, b, c, song := items["/m/a.mkv"], items["/m/b.mkv"], items["/m/c.mkv"], items["/m/song.flac"]
	for _, it := range []butler.MediaItem{a, b, song} {
		analysed(t, s, it, mediaBase)
	}
	f := butler.OutputFilter{Kind: butler.OutputIndexFiles, Version: 2, MediaKinds: []butler.MediaKind{butler.MediaVideo}, Now: mediaBase}
	if got := mustForOutput(t, s, f); !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Fatalf("to do: %v, want the analysed videos %v (c has no analysis, the song is audio)", got, []int64{a.ID, b.ID})
	}
	both := f
	both.MediaKinds = []butler.MediaKind{butler.MediaVideo, butler.MediaAudio}
	if got := mustForOutput(t, s, both); !slices.Equal(got, []int64{a.ID, b.ID, song.ID}) {
		t.Errorf("to do for video and audio: %v", got)
	}
	page := f
	page.AfterID, page.Limit = a.ID, 1
	if got := mustForOutput(t, s, page); !slices.Equal(got, []int64{b.ID}) {
		t.Errorf("the page after %d: %v, want [%d]", a.ID, got, b.ID)
	}

	made := mediaBase.Add(time.Hour)
	data := json.RawMessage(`{"frames":12}`)
	if !mustSaveOutput(t, s, a, butler.MediaOutput{Kind: butler.OutputIndexFiles, Version: 2, MadeAt: made, Files: []string{"index/320-10.bif"}, Data: data}) {
		t.Fatal("SaveMediaOutput of an unchanged file = false")
	}
	if got := mustForOutput(t, s, f); !slices.Equal(got, []int64{b.ID}) {
		t.Errorf("to do once a's is made: %v, want [%d]", got, b.ID)
	}
	other := f
	other.Kind = butler.OutputLoudness
	if got := mustForOutput(t, s, other); !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Errorf("another kind's to do: %v, want both (a has index files, not loudness)", got)
	}
	newer := f
	newer.Version = 3
	if got := mustForOutput(t, s, newer); !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Errorf("to do at a newer version: %v, want both (a's is of version 2)", got)
	}

	got := mustOutputs(t, s, a.ID)
	want := butler.MediaOutput{Item: a.ID, Kind: butler.OutputIndexFiles, Version: 2, MadeAt: made, Size: a.Size, ModTime: a.ModTime,
		Files: []string{"index/320-10.bif"}, Data: data}
	if len(got) != 1 || !outputEqual(got[0], want) {
		t.Fatalf("MediaOutputs(a) = %+v, want [%+v]", got, want)
	}
	if got := mustOutputs(t, s, c.ID); len(got) != 0 {
		t.Errorf("MediaOutputs of an item with none = %+v", got)
	}
	if got := mustOutputs(t, s, 999999); len(got) != 0 {
		t.Errorf("MediaOutputs of no item = %+v", got)
	}

	// Libraries keeps the items of the libraries named.
	d := mustAdd(t, s, "Other", file("/o/d.mkv", 5))["/o/d.mkv"]
	analysed(t, s, d, mediaBase)
	ofL := f
	ofL.Libraries = []string{"L"}
	if got := mustForOutput(t, s, ofL); !slices.Equal(got, []int64{b.ID}) {
		t.Errorf("to do in library L: %v, want [%d] (d is another library's)", got, b.ID)
	}
	ofBoth := f
	ofBoth.Libraries = []string{"L", "Other"}
	if got := mustForOutput(t, s, ofBoth); !slices.Equal(got, []int64{b.ID, d.ID}) {
		t.Errorf("to do in libraries L and Other: %v, want %v", got, []int64{b.ID, d.ID})
	}
}

// outputEqual compares outputs, times with Equal and data as bytes.
func outputEqual(a, b butler.MediaOutput) bool {
	return a.Item == b.Item && a.Kind == b.Kind && a.Version == b.Version && a.MadeAt.Equal(b.MadeAt) &&
		a.Size == b.Size && a.ModTime.Equal(b.ModTime) && slices.Equal(a.Files, b.Files) &&
		string(a.Data) == string(b.Data) && a.Failures == b.Failures && a.Error == b.Error && a.RetryAt.Equal(b.RetryAt)
}

// testOutputsOfChangedFile: an output is for the file it was made of; a
// changed file has its output to make again, and a save for the old file
// records nothing.
func testOutputsOfChangedFile(t *testing.T, s butler.OutputIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase)
	if !mustSaveOutput(t, s, a, butler.MediaOutput{Kind: butler.OutputLoudness, Version: 1, MadeAt: mediaBase, Data: json.RawMessage(`{}`)}) {
		t.Fatal("first save = false")
	}
	mustApply(t, s, "L", butler.MediaChanges{Change: map[int64]butler.MediaFile{a.ID: file("/m/a.mkv", 5)}, At: mediaBase.Add(time.Hour)})
	changed := analysed(t, s, mustItem(t, s, a.ID), mediaBase.Add(2*time.Hour))
	f := butler.OutputFilter{Kind: butler.OutputLoudness, Version: 1, MediaKinds: []butler.MediaKind{butler.MediaVideo}, Now: mediaBase}
	if got := mustForOutput(t, s, f); !slices.Equal(got, []int64{a.ID}) {
		t.Errorf("to do after the file changed: %v, want [%d]", got, a.ID)
	}
	if out := mustOutputs(t, s, a.ID); len(out) != 1 || !out[0].Stale(changed) {
		t.Errorf("the old output: %+v, want one, stale", out)
	}
	if mustSaveOutput(t, s, a, butler.MediaOutput{Kind: butler.OutputLoudness, Version: 1, MadeAt: mediaBase}) {
		t.Error("SaveMediaOutput for the old file = true, want false")
	}
	if !mustSaveOutput(t, s, changed, butler.MediaOutput{Kind: butler.OutputLoudness, Version: 1, MadeAt: mediaBase}) {
		t.Error("SaveMediaOutput for the new file = false")
	}
	if out := mustOutputs(t, s, a.ID); len(out) != 1 || out[0].Stale(changed) {
		t.Errorf("the new output: %+v, want one, not stale", out)
	}
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{a.ID}, At: mediaBase.Add(3 * time.Hour)})
	if got := mustForOutput(t, s, f); len(got) != 0 {
		t.Errorf("to do with the file gone: %v", got)
	}
	if n, err := s.DeleteGoneMediaItems(t.Context(), mediaBase.Add(4*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("DeleteGoneMediaItems = %d, %v", n, err)
	}
	if out := mustOutputs(t, s, a.ID); len(out) != 0 {
		t.Errorf("outputs of a deleted item: %+v", out)
	}
}

// testOutputsFailures: a failed attempt waits for its retry instant, counts
// up for the same file, keeps an output made for that file, and starts
// afresh (dropping the old output) for a changed one.
func testOutputsFailures(t *testing.T, s butler.OutputIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase)
	b := analysed(t, s, items["/m/b.mkv"], mediaBase)
	retry := mediaBase.Add(24 * time.Hour)
	for i := range 2 {
		ok, err := s.RecordMediaOutputFailure(t.Context(), a.ID, fileOf(a), butler.OutputIndexFiles, "ffmpeg cannot read it", retry)
		if err != nil || !ok {
			t.Fatalf("failure %d: %v, %v", i+1, ok, err)
		}
	}
	f := butler.OutputFilter{Kind: butler.OutputIndexFiles, Version: 1, MediaKinds: []butler.MediaKind{butler.MediaVideo}, Now: mediaBase}
	if got := mustForOutput(t, s, f); !slices.Equal(got, []int64{b.ID}) {
		t.Errorf("to do before the retry: %v, want [%d]", got, b.ID)
	}
	f.Now = retry
	if got := mustForOutput(t, s, f); !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Errorf("to do at the retry: %v, want both", got)
	}
	out := mustOutputs(t, s, a.ID)
	if len(out) != 1 || out[0].Failures != 2 || out[0].Error != "ffmpeg cannot read it" || !out[0].RetryAt.Equal(retry) || out[0].Version != 0 || !out[0].MadeAt.IsZero() {
		t.Fatalf("after two failures: %+v", out)
	}
	// An output made, then a newer version's attempt failing: the output
	// made stays, and waits.
	if !mustSaveOutput(t, s, b, butler.MediaOutput{Kind: butler.OutputIndexFiles, Version: 1, MadeAt: mediaBase, Files: []string{"x.bif"}}) {
		t.Fatal("save b = false")
	}
	if ok, err := s.RecordMediaOutputFailure(t.Context(), b.ID, fileOf(b), butler.OutputIndexFiles, "v2 failed", retry); err != nil || !ok {
		t.Fatalf("failure of b: %v, %v", ok, err)
	}
	out = mustOutputs(t, s, b.ID)
	if len(out) != 1 || out[0].Version != 1 || !slices.Equal(out[0].Files, []string{"x.bif"}) || out[0].Failures != 1 {
		t.Errorf("b after a failure at a newer version: %+v, want the output made kept, one failure", out)
	}
	newer := f
	newer.Version, newer.Now = 2, mediaBase
	if got := mustForOutput(t, s, newer); len(got) != 0 {
		t.Errorf("to do at version 2 while both wait for their retry: %v", got)
	}
	// The file changes: a failure for the new file starts afresh.
	mustApply(t, s, "L", butler.MediaChanges{Change: map[int64]butler.MediaFile{b.ID: file("/m/b.mkv", 7)}, At: mediaBase.Add(time.Hour)})
	nb := analysed(t, s, mustItem(t, s, b.ID), mediaBase)
	if ok, err := s.RecordMediaOutputFailure(t.Context(), b.ID, fileOf(nb), butler.OutputIndexFiles, "new file failed", retry); err != nil || !ok {
		t.Fatalf("failure of the changed b: %v, %v", ok, err)
	}
	out = mustOutputs(t, s, b.ID)
	if len(out) != 1 || out[0].Version != 0 || len(out[0].Files) != 0 || out[0].Failures != 1 || out[0].Stale(nb) {
		t.Errorf("b after a failure of its changed file: %+v, want no output, one failure, for the new file", out)
	}
	// A failure for a file that is not the index's records nothing.
	if ok, err := s.RecordMediaOutputFailure(t.Context(), b.ID, fileOf(b), butler.OutputIndexFiles, "old", retry); err != nil || ok {
		t.Errorf("failure for the old file: %v, %v; want false", ok, err)
	}
}

// testOutputsMadeAndForgotten: MadeMediaOutputs reads the outputs made
// at the version or a later one for the file as the index has it, of the
// present, analysed items of the filter, in id order, a page at a time;
// ForgetMediaOutput drops one while it is the one made at its MadeAt, and
// its item is to do again.
func testOutputsMadeAndForgotten(t *testing.T, s butler.OutputIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2), file("/m/c.mkv", 3), file("/m/d.mkv", 4), file("/m/e.mkv", 5))
	a, b, c := analysed(t, s, items["/m/a.mkv"], mediaBase), analysed(t, s, items["/m/b.mkv"], mediaBase), analysed(t, s, items["/m/c.mkv"], mediaBase)
	d, e := analysed(t, s, items["/m/d.mkv"], mediaBase), analysed(t, s, items["/m/e.mkv"], mediaBase)
	made := mediaBase.Add(time.Hour)
	data := json.RawMessage(`{"frames":2}`)
	for _, it := range []butler.MediaItem{a, b, c, e} {
		if !mustSaveOutput(t, s, it, butler.MediaOutput{Kind: butler.OutputIndexFiles, Version: 2, MadeAt: made, Files: []string{"index-files/320-10.bif"}, Data: data}) {
			t.Fatalf("save %s = false", it.Path)
		}
	}
	// d: only a failure; e: of an older version; c's file changed; b's
	// chapter pictures are another kind.
	if ok, err := s.RecordMediaOutputFailure(t.Context(), d.ID, fileOf(d), butler.OutputIndexFiles, "bad", mediaBase.Add(48*time.Hour)); err != nil || !ok {
		t.Fatalf("failure of d: %v, %v", ok, err)
	}
	if !mustSaveOutput(t, s, e, butler.MediaOutput{Kind: butler.OutputIndexFiles, Version: 1, MadeAt: made}) {
		t.Fatal("save e at version 1 = false")
	}
	if !mustSaveOutput(t, s, b, butler.MediaOutput{Kind: butler.OutputChapterThumbs, Version: 2, MadeAt: made}) {
		t.Fatal("save b's chapter pictures = false")
	}
	mustApply(t, s, "L", butler.MediaChanges{Change: map[int64]butler.MediaFile{c.ID: file("/m/c.mkv", 9)}, At: mediaBase.Add(2 * time.Hour)})
	analysed(t, s, mustItem(t, s, c.ID), mediaBase.Add(2*time.Hour))

	f := butler.OutputFilter{Kind: butler.OutputIndexFiles, Version: 2, MediaKinds: []butler.MediaKind{butler.MediaVideo}, Now: mediaBase}
	madeOf := func(f butler.OutputFilter) []butler.MediaOutput {
		t.Helper()
		out, err := s.MadeMediaOutputs(t.Context(), f)
		if err != nil {
			t.Fatalf("MadeMediaOutputs(%+v): %v", f, err)
		}
		return out
	}
	got := madeOf(f)
	want := []butler.MediaOutput{
		{Item: a.ID, Kind: butler.OutputIndexFiles, Version: 2, MadeAt: made, Size: a.Size, ModTime: a.ModTime, Files: []string{"index-files/320-10.bif"}, Data: data},
		{Item: b.ID, Kind: butler.OutputIndexFiles, Version: 2, MadeAt: made, Size: b.Size, ModTime: b.ModTime, Files: []string{"index-files/320-10.bif"}, Data: data},
	}
	if len(got) != len(want) || !outputEqual(got[0], want[0]) || !outputEqual(got[1], want[1]) {
		t.Fatalf("made: %+v, want %+v (c's file changed, d has a failure alone, e's is older)", got, want)
	}
	page := f
	page.AfterID, page.Limit = a.ID, 1
	if got := madeOf(page); len(got) != 1 || got[0].Item != b.ID {
		t.Errorf("the page after %d: %+v, want b's", a.ID, got)
	}
	older := f
	older.Version = 1
	if got := madeOf(older); len(got) != 3 || got[2].Item != e.ID {
		t.Errorf("made at version 1 or later: %+v, want a's, b's and e's", got)
	}
	other := f
	other.Libraries = []string{"Other"}
	if got := madeOf(other); len(got) != 0 {
		t.Errorf("made in library Other: %+v, want none", got)
	}
	if _, err := s.MadeMediaOutputs(t.Context(), butler.OutputFilter{Kind: "bif", Version: 1, MediaKinds: []butler.MediaKind{butler.MediaVideo}}); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("MadeMediaOutputs of a bad kind: %v, want EINVALID", err)
	}

	// Made again since: not forgotten.
	stale := got[0]
	stale.MadeAt = made.Add(-time.Minute)
	if ok, err := s.ForgetMediaOutput(t.Context(), stale); err != nil || ok {
		t.Errorf("ForgetMediaOutput of an output made at another time: %v, %v; want false", ok, err)
	}
	if ok, err := s.ForgetMediaOutput(t.Context(), got[0]); err != nil || !ok {
		t.Fatalf("ForgetMediaOutput(a's): %v, %v", ok, err)
	}
	if out := mustOutputs(t, s, a.ID); len(out) != 0 {
		t.Errorf("a's outputs once forgotten: %+v, want none", out)
	}
	if got := mustForOutput(t, s, f); !slices.Contains(got, a.ID) {
		t.Errorf("to do once a's is forgotten: %v, want a among them", got)
	}
	if ok, err := s.ForgetMediaOutput(t.Context(), got[0]); err != nil || ok {
		t.Errorf("ForgetMediaOutput again: %v, %v; want false", ok, err)
	}
	if out := mustOutputs(t, s, b.ID); len(out) != 2 {
		t.Errorf("b's outputs: %+v, want both kinds, untouched", out)
	}
	if _, err := s.ForgetMediaOutput(t.Context(), butler.MediaOutput{Item: a.ID, Kind: "bif"}); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("ForgetMediaOutput of a bad kind: %v, want EINVALID", err)
	}
}

// testOutputsInvalid: a bad kind, version or filter is EINVALID.
func testOutputsInvalid(t *testing.T, s butler.OutputIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase)
	for _, o := range []butler.MediaOutput{
		{Kind: "thumbnails", Version: 1},
		{Kind: butler.OutputLoudness, Version: 0},
		{Kind: butler.OutputLoudness, Version: 1, Data: json.RawMessage(`{not json`)},
	} {
		o.Item = a.ID
		if _, err := s.SaveMediaOutput(t.Context(), fileOf(a), o); butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("SaveMediaOutput(%+v): %v, want EINVALID", o, err)
		}
	}
	if _, err := s.RecordMediaOutputFailure(t.Context(), a.ID, fileOf(a), "thumbnails", "x", mediaBase); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("RecordMediaOutputFailure of an unknown kind: %v, want EINVALID", err)
	}
	for _, f := range []butler.OutputFilter{
		{Kind: "thumbnails", Version: 1, MediaKinds: []butler.MediaKind{butler.MediaVideo}},
		{Kind: butler.OutputLoudness, Version: 0, MediaKinds: []butler.MediaKind{butler.MediaVideo}},
		{Kind: butler.OutputLoudness, Version: 1},
	} {
		if _, err := s.MediaItemsForOutput(t.Context(), f); butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("MediaItemsForOutput(%+v): %v, want EINVALID", f, err)
		}
	}
}

// testOutputsBlurHashesOfNewSidecars: a new set of sidecars drops the
// item's BlurHashes (made from its images), and nothing else.
func testOutputsBlurHashesOfNewSidecars(t *testing.T, s butler.OutputIndex) {
	si, ok := s.(butler.SidecarIndex)
	if !ok {
		t.Skipf("%T keeps no sidecars", s)
	}
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase)
	for _, k := range []butler.OutputKind{butler.OutputBlurHashes, butler.OutputLoudness} {
		if !mustSaveOutput(t, s, a, butler.MediaOutput{Kind: k, Version: 1, MadeAt: mediaBase, Data: json.RawMessage(`{}`)}) {
			t.Fatalf("save %s = false", k)
		}
	}
	mustReplace(t, si, map[int64][]butler.MediaSidecar{a.ID: {sidecar("/m/a-poster.jpg", butler.SidecarPoster, 9)}})
	out := mustOutputs(t, s, a.ID)
	if len(out) != 1 || out[0].Kind != butler.OutputLoudness {
		t.Errorf("outputs after new sidecars: %+v; want the loudness alone", out)
	}
}

// testOutputsBlurHashesOfAReplacedSet: MediaSidecarSet reads an item's set
// with its version, which each replacement raises; BlurHashes made of a
// set replaced since are not recorded (the replacement dropped them so
// that they are made again), those of the set as it is are. Other outputs
// do not depend on the set.
func testOutputsBlurHashesOfAReplacedSet(t *testing.T, s butler.OutputIndex) {
	si, ok := s.(butler.SidecarIndex)
	if !ok {
		t.Skipf("%T keeps no sidecars", s)
	}
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1))
	a := analysed(t, s, items["/m/a.mkv"], mediaBase)
	old, err := si.MediaSidecarSet(t.Context(), a.ID)
	if err != nil || old.Version != 0 || len(old.Sidecars) != 0 {
		t.Fatalf("MediaSidecarSet of an item with no set recorded = %+v, %v; want none, version 0", old, err)
	}
	poster := sidecar("/m/a-poster.jpg", butler.SidecarPoster, 9)
	mustReplace(t, si, map[int64][]butler.MediaSidecar{a.ID: {poster, sidecar("/m/a.en.srt", butler.SidecarSubtitle, 3)}})
	set, err := si.MediaSidecarSet(t.Context(), a.ID)
	if err != nil || set.Version == old.Version || len(set.Sidecars) != 2 || !set.Sidecars[0].Equal(poster) || !set.Sidecars[1].Equal(sidecar("/m/a.en.srt", butler.SidecarSubtitle, 3)) {
		t.Fatalf("MediaSidecarSet after a replacement = %+v, %v; want both sidecars in path order, a new version", set, err)
	}
	hashes := butler.MediaOutput{Kind: butler.OutputBlurHashes, Version: 1, MadeAt: mediaBase, Data: json.RawMessage(`{}`), SidecarsVersion: old.Version}
	if mustSaveOutput(t, s, a, hashes) {
		t.Error("SaveMediaOutput of BlurHashes of the set as it was before its replacement = true, want false")
	}
	if out := mustOutputs(t, s, a.ID); len(out) != 0 {
		t.Errorf("outputs: %+v; want none", out)
	}
	loudness := butler.MediaOutput{Kind: butler.OutputLoudness, Version: 1, MadeAt: mediaBase, Data: json.RawMessage(`{}`), SidecarsVersion: old.Version}
	if !mustSaveOutput(t, s, a, loudness) {
		t.Error("SaveMediaOutput of the loudness = false; it is not made of the sidecars")
	}
	hashes.SidecarsVersion = set.Version
	if !mustSaveOutput(t, s, a, hashes) {
		t.Error("SaveMediaOutput of BlurHashes of the set as it is = false")
	}
	if none, err := si.MediaSidecarSet(t.Context(), a.ID+1000); err != nil || none.Version != 0 || len(none.Sidecars) != 0 {
		t.Errorf("MediaSidecarSet of an item not in the index = %+v, %v; want none, version 0", none, err)
	}
}
