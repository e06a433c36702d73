package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// sidecarCase runs fn on an index that keeps sidecars, and skips it on
// one that does not.
func sidecarCase(fn func(t *testing.T, s butler.SidecarIndex)) func(t *testing.T, s butler.MediaIndex) {
	return func(t *testing.T, s butler.MediaIndex) {
		si, ok := s.(butler.SidecarIndex)
		if !ok {
			t.Skipf("%T keeps no sidecars (it is not a butler.SidecarIndex)", s)
		}
		fn(t, si)
	}
}

// sidecar returns a sidecar at path, with a modification time with
// nanoseconds.
func sidecar(path string, kind butler.SidecarKind, size int64) butler.MediaSidecar {
	return butler.MediaSidecar{Path: path, Kind: kind, Size: size,
		ModTime: time.Date(2024, time.June, 1, 2, 3, 4, 987654321, time.UTC).Add(time.Duration(size) * time.Minute)}
}

func mustSidecars(t *testing.T, s butler.SidecarIndex, ids ...int64) map[int64][]butler.MediaSidecar {
	t.Helper()
	got, err := s.MediaSidecars(t.Context(), ids)
	if err != nil {
		t.Fatalf("MediaSidecars(%v): %v", ids, err)
	}
	return got
}

func mustReplace(t *testing.T, s butler.SidecarIndex, sets map[int64][]butler.MediaSidecar) int {
	t.Helper()
	n, err := s.ReplaceMediaSidecars(t.Context(), sets)
	if err != nil {
		t.Fatalf("ReplaceMediaSidecars: %v", err)
	}
	return n
}

// checkSidecars compares an item's sidecars with want, in order.
func checkSidecars(t *testing.T, what string, got, want []butler.MediaSidecar) {
	t.Helper()
	if !slices.EqualFunc(got, want, butler.MediaSidecar.Equal) {
		t.Errorf("%s: sidecars\n  %+v\nwant\n  %+v", what, got, want)
	}
}

func testSidecarsRoundTrip(t *testing.T, s butler.SidecarIndex) {
	items := mustAdd(t, s, "Movies", file("/m/A (2001)/A.mkv", 1), file("/m/B (2002)/B.mkv", 2))
	a, b := items["/m/A (2001)/A.mkv"].ID, items["/m/B (2002)/B.mkv"].ID
	sub := sidecar("/m/A (2001)/A.en.sdh.forced.srt", butler.SidecarSubtitle, 3)
	sub.Language, sub.Flags = "en", []string{butler.SubtitleForced, butler.SubtitleSDH}
	plain := sidecar("/m/A (2001)/A.srt", butler.SidecarSubtitle, 4)
	poster := sidecar("/m/A (2001)/poster.jpg", butler.SidecarPoster, 5)
	nfo := sidecar("/m/A (2001)/A.nfo", butler.SidecarNFO, 6)
	art := sidecar("/m/B (2002)/fanart.png", butler.SidecarArt, 7)
	if n := mustReplace(t, s, map[int64][]butler.MediaSidecar{a: {poster, sub, nfo, plain}, b: {art}}); n != 2 {
		t.Errorf("ReplaceMediaSidecars of two items = %d, want 2", n)
	}
	got := mustSidecars(t, s, a, b, b+1000)
	if len(got) != 2 {
		t.Errorf("MediaSidecars of two items with sidecars and one without: %d entries, want 2", len(got))
	}
	// In path order, byte by byte: "A.en..." < "A.nfo" < "A.srt" < "poster.jpg".
	checkSidecars(t, "item A", got[a], []butler.MediaSidecar{sub, nfo, plain, poster})
	checkSidecars(t, "item B", got[b], []butler.MediaSidecar{art})
	if got := mustSidecars(t, s); len(got) != 0 {
		t.Errorf("MediaSidecars of no item = %v, want none", got)
	}
}

func testSidecarsReplace(t *testing.T, s butler.SidecarIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a, b := items["/m/a.mkv"].ID, items["/m/b.mkv"].ID
	keep, drop := sidecar("/m/a.en.srt", butler.SidecarSubtitle, 1), sidecar("/m/a.nfo", butler.SidecarNFO, 2)
	keep.Language = "en"
	other := sidecar("/m/b.srt", butler.SidecarSubtitle, 3)
	mustReplace(t, s, map[int64][]butler.MediaSidecar{a: {keep, drop}, b: {other}})

	changed := keep
	changed.Size, changed.ModTime = 10, keep.ModTime.Add(time.Second)
	added := sidecar("/m/folder.jpg", butler.SidecarPoster, 4)
	if n := mustReplace(t, s, map[int64][]butler.MediaSidecar{a: {added, changed}}); n != 1 {
		t.Errorf("ReplaceMediaSidecars of one item = %d, want 1", n)
	}
	got := mustSidecars(t, s, a, b)
	checkSidecars(t, "the replaced item", got[a], []butler.MediaSidecar{changed, added})
	checkSidecars(t, "the other item, left alone", got[b], []butler.MediaSidecar{other})

	// An empty set removes them all.
	if n := mustReplace(t, s, map[int64][]butler.MediaSidecar{a: nil}); n != 1 {
		t.Errorf("ReplaceMediaSidecars with an empty set = %d, want 1", n)
	}
	if got := mustSidecars(t, s, a, b); len(got[a]) != 0 || len(got[b]) != 1 {
		t.Errorf("after an empty set: %+v; want none for item a, one for b", got)
	}
}

func testSidecarsOfDeletedItems(t *testing.T, s butler.SidecarIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a, b := items["/m/a.mkv"].ID, items["/m/b.mkv"].ID
	mustReplace(t, s, map[int64][]butler.MediaSidecar{a: {sidecar("/m/a.srt", butler.SidecarSubtitle, 1)}})
	// Sidecars go with their item.
	mustApply(t, s, "L", butler.MediaChanges{Gone: []int64{a}, At: mediaBase})
	if n, err := s.DeleteGoneMediaItems(t.Context(), mediaBase.Add(time.Second), 0); err != nil || n != 1 {
		t.Fatalf("DeleteGoneMediaItems = %d, %v; want 1", n, err)
	}
	if got := mustSidecars(t, s, a); len(got) != 0 {
		t.Errorf("sidecars of a deleted item: %+v; want none", got)
	}
	// An item no longer there is passed over; the others are replaced.
	n := mustReplace(t, s, map[int64][]butler.MediaSidecar{
		a: {sidecar("/m/a.srt", butler.SidecarSubtitle, 1)},
		b: {sidecar("/m/b.srt", butler.SidecarSubtitle, 2)},
	})
	if n != 1 {
		t.Errorf("ReplaceMediaSidecars of a deleted item and a present one = %d, want 1", n)
	}
	got := mustSidecars(t, s, a, b)
	if len(got[a]) != 0 || len(got[b]) != 1 {
		t.Errorf("after replacing: %+v; want nothing for the deleted item, one for the other", got)
	}
}

func testSidecarsInvalid(t *testing.T, s butler.SidecarIndex) {
	items := mustAdd(t, s, "L", file("/m/a.mkv", 1), file("/m/b.mkv", 2))
	a, b := items["/m/a.mkv"].ID, items["/m/b.mkv"].ID
	good := sidecar("/m/a.srt", butler.SidecarSubtitle, 1)
	flagged := sidecar("/m/b.en.srt", butler.SidecarSubtitle, 1)
	flagged.Flags = []string{"forced,sdh"}
	for name, bad := range map[string][]butler.MediaSidecar{
		"an unknown kind":   {sidecar("/m/b.txt", "text", 1)},
		"no path":           {sidecar("", butler.SidecarNFO, 1)},
		"a path twice":      {sidecar("/m/b.srt", butler.SidecarSubtitle, 1), sidecar("/m/b.srt", butler.SidecarSubtitle, 1)},
		"a flag with comma": {flagged},
	} {
		_, err := s.ReplaceMediaSidecars(t.Context(), map[int64][]butler.MediaSidecar{a: {good}, b: bad})
		if butler.ErrorCode(err) != butler.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", name, err)
		}
	}
	// All or nothing: the good set beside the bad ones was not written.
	if got := mustSidecars(t, s, a, b); len(got) != 0 {
		t.Errorf("after refused replacements: %+v; want nothing written", got)
	}
	ids := []int64{a}
	for i := range 1000 {
		ids = append(ids, int64(i)+b+1)
	}
	if _, err := s.MediaSidecars(t.Context(), ids); butler.ErrorCode(err) != butler.EINVALID {
		t.Errorf("MediaSidecars of %d ids: err = %v, want EINVALID", len(ids), err)
	}
	if _, err := s.MediaSidecars(t.Context(), ids[:1000]); err != nil {
		t.Errorf("MediaSidecars of 1000 ids: %v", err)
	}
}
