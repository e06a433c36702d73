package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
	"github.com/plexbutler/butler/client/clienttest"
	"github.com/plexbutler/butler/store/sqlite"
)

// libraryServer is a clienttest server whose API also serves the media
// index (its SQLite file, opened a second time), as `butler serve` does.
// The index holds the Movies library of fillIndex. requests counts the
// requests; stripAccept, when set, removes the Accept header, so that the
// server answers XML.
type libraryServer struct {
	url         string
	ix          butler.MediaIndex
	ids         map[string]int64
	requests    atomic.Int32
	stripAccept atomic.Bool
}

func newLibraryServer(t *testing.T) *libraryServer {
	t.Helper()
	s := clienttest.New(t, clienttest.Config{})
	ix, err := sqlite.Open(context.Background(), filepath.Join(s.DataDir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	h, err := api.NewHandler(api.Config{Manager: s.Manager, Token: s.Token, Library: ix})
	if err != nil {
		t.Fatal(err)
	}
	ls := &libraryServer{ix: ix}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.requests.Add(1)
		if ls.stripAccept.Load() {
			r.Header.Del("Accept")
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ls.url = hs.URL
	ls.ids = fillIndex(t, ix)
	return ls
}

// fillIndex adds five movies to the index, through the index's methods as
// a scan and an analysis would: the first analysed, the second failed,
// the last gone.
func fillIndex(t *testing.T, ix butler.MediaIndex) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	names := []string{"Alien (1979).mkv", "Brazil (1985).mkv", "Heat (1995).mp4", "Ran (1985).mkv", "Zelig (1983).avi"}
	var c butler.MediaChanges
	c.At = at
	for i, n := range names {
		c.Add = append(c.Add, butler.MediaFile{Path: "/media/Movies/" + n, Kind: butler.MediaVideo, Size: int64(1000 * (i + 1)), ModTime: at.Add(-time.Hour)})
	}
	if err := ix.ApplyMediaChanges(ctx, "Movies", c); err != nil {
		t.Fatal(err)
	}
	items, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: "Movies"})
	if err != nil || len(items) != len(names) {
		t.Fatalf("items %v %v", items, err)
	}
	ids := map[string]int64{}
	for _, it := range items {
		ids[filepath.Base(it.Path)] = it.ID
	}
	file := func(it butler.MediaItem) butler.MediaFile {
		return butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	}
	a := butler.MediaAnalysis{Container: "matroska,webm", Duration: 117*time.Minute + 500*time.Millisecond, BitRate: 9_800_000,
		Title: "Alien", Streams: []butler.MediaStream{
			{Index: 0, Type: "video", Codec: "hevc", Profile: "Main 10", Default: true, Width: 3840, Height: 1606, FrameRate: 23.976,
				PixelFormat: "yuv420p10le", BitDepth: 10, ColorTransfer: "smpte2084", ColorPrimaries: "bt2020", ColorSpace: "bt2020nc", HDR: butler.HDR10},
			{Index: 1, Type: "audio", Codec: "eac3", Language: "eng", Default: true, BitRate: 768000, Channels: 6, ChannelLayout: "5.1(side)", SampleRate: 48000},
			{Index: 2, Type: "audio", Codec: "aac", Language: "ger", Channels: 2, ChannelLayout: "stereo", SampleRate: 48000},
			{Index: 3, Type: "subtitle", Codec: "subrip", Language: "eng", Forced: true},
		},
		Chapters: []butler.MediaChapter{{Start: 0, End: 10 * time.Minute, Title: "Nostromo"}, {Start: 10 * time.Minute, End: 117 * time.Minute, Title: "Ripley"}},
	}
	if ok, err := ix.SaveMediaAnalysis(ctx, items[0].ID, file(items[0]), 1, at.Add(time.Minute), a); err != nil || !ok {
		t.Fatalf("save: %v %v", ok, err)
	}
	reason := "analyse /media/Movies/Brazil (1985).mkv: ffprobe cannot read it (exit status 1): Invalid data found when processing input"
	if ok, err := ix.RecordMediaAnalysisFailure(ctx, items[1].ID, file(items[1]), reason, at.Add(2*time.Hour)); err != nil || !ok {
		t.Fatalf("failure: %v %v", ok, err)
	}
	if err := ix.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Gone: []int64{items[4].ID}, At: at.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestLibraries(t *testing.T) {
	s := newLibraryServer(t)
	c := newClient(t, s.url)
	want := []apitype.Library{{Name: "Movies", Present: 4, Gone: 1, Bytes: 1000 + 2000 + 3000 + 4000, Analysed: 1, Pending: 2, Failed: 1}}
	for _, xml := range []bool{false, true} {
		s.stripAccept.Store(xml)
		got, err := c.Libraries(ctxT(t))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("XML %v: Libraries = %+v, %v; want %+v", xml, got, err, want)
		}
	}
}

func TestMediaItems(t *testing.T) {
	s := newLibraryServer(t)
	c := newClient(t, s.url)
	ctx := ctxT(t)
	for _, xml := range []bool{false, true} {
		s.stripAccept.Store(xml)
		// Pages of two, by hand.
		var got []string
		q := client.MediaItemsQuery{Library: "Movies", Limit: 2}
		for i := 0; ; i++ {
			page, err := c.MediaItems(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if (i == 0) != (page.TotalSize != nil) || (i == 0 && *page.TotalSize != 5) {
				t.Errorf("XML %v: page %d: totalSize %v; want 5 on the first page alone", xml, i, page.TotalSize)
			}
			for _, it := range page.Items {
				got = append(got, filepath.Base(it.Path))
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		want := []string{"Alien (1979).mkv", "Brazil (1985).mkv", "Heat (1995).mp4", "Ran (1985).mkv", "Zelig (1983).avi"}
		if !slices.Equal(got, want) {
			t.Errorf("XML %v: pages of 2: %q, want %q", xml, got, want)
		}

		// Filters, through the iterator.
		for _, tc := range []struct {
			q    client.MediaItemsQuery
			want []string
		}{
			{client.MediaItemsQuery{Analysis: apitype.AnalysisFailed}, []string{"Brazil (1985).mkv"}},
			{client.MediaItemsQuery{State: apitype.ItemPresent, Analysis: apitype.AnalysisPending, Limit: 1}, []string{"Heat (1995).mp4", "Ran (1985).mkv"}},
			{client.MediaItemsQuery{State: apitype.ItemGone}, []string{"Zelig (1983).avi"}},
			{client.MediaItemsQuery{Prefix: "/media/Movies/R", Limit: 1}, []string{"Ran (1985).mkv"}},
		} {
			var got []string
			for it, err := range c.MediaItemsAll(ctx, tc.q) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, filepath.Base(it.Path))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("XML %v: %+v: %q, want %q", xml, tc.q, got, tc.want)
			}
		}
	}

	// Breaking out of the loop reads no further page.
	s.stripAccept.Store(false)
	before := s.requests.Load()
	n := 0
	for _, err := range c.MediaItemsAll(ctx, client.MediaItemsQuery{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if r := s.requests.Load() - before; r != 2 {
		t.Errorf("two items of pages of one: %d requests, want 2", r)
	}

	// A refused request ends the loop with its error.
	var errs []error
	for _, err := range c.MediaItemsAll(ctx, client.MediaItemsQuery{State: "lost"}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 {
		t.Fatalf("a bad state: %d yields, want one error", len(errs))
	}
	clientError(t, errs[0], 400, client.ErrBadRequest, `state: "lost" is not an item state`)
	_, err := c.MediaItems(ctx, client.MediaItemsQuery{Library: "Shows"})
	clientError(t, err, 404, client.ErrNotFound, `the media index has no library "Shows"`)
	_, err = c.MediaItems(ctx, client.MediaItemsQuery{Limit: 5000})
	clientError(t, err, 400, client.ErrBadRequest, "give a whole number from 1 to 1000")
}

func TestMediaItem(t *testing.T) {
	s := newLibraryServer(t)
	c := newClient(t, s.url)
	for _, xml := range []bool{false, true} {
		s.stripAccept.Store(xml)
		it, err := c.MediaItem(ctxT(t), s.ids["Alien (1979).mkv"])
		if err != nil {
			t.Fatal(err)
		}
		if it.Path != "/media/Movies/Alien (1979).mkv" || it.Analysis != apitype.AnalysisAnalysed || it.AnalysisVersion != 1 || it.Media == nil {
			t.Fatalf("XML %v: %+v", xml, it)
		}
		m := it.Media
		if m.Duration != 7020500 || m.BitRate != 9_800_000 || len(m.Stream) != 4 || len(m.Chapter) != 2 || m.Chapter[1].Tag != "Ripley" || m.Chapter[1].StartTimeOffset != 600000 {
			t.Errorf("XML %v: analysis %+v", xml, m)
		}
		if v := m.Stream[0]; v.Codec != "hevc" || v.HDR != "HDR10" || v.Width != 3840 || v.FrameRate != 23.976 || v.BitDepth != 10 || !bool(v.Default) {
			t.Errorf("XML %v: video %+v", xml, v)
		}
		if a := m.Stream[1]; a.Codec != "eac3" || a.Language != "eng" || a.Channels != 6 || a.ChannelLayout != "5.1(side)" || a.BitRate != 768000 {
			t.Errorf("XML %v: audio %+v", xml, a)
		}
		if sub := m.Stream[3]; sub.Type != "subtitle" || !bool(sub.Forced) || bool(sub.Default) {
			t.Errorf("XML %v: subtitle %+v", xml, sub)
		}
		failed, err := c.MediaItem(ctxT(t), s.ids["Brazil (1985).mkv"])
		if err != nil || failed.Media != nil || failed.AnalysisFailures != 1 || failed.AnalysisRetryAt == "" {
			t.Errorf("XML %v: %+v %v", xml, failed, err)
		}
	}
	_, err := c.MediaItem(ctxT(t), 4242)
	clientError(t, err, 404, client.ErrNotFound, "no media item 4242")
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatal(err)
	}
}

// TestMediaItemsWithoutIndex: a server without a media index (as the SDK
// meets an older one) refuses the routes with an *Error.
func TestMediaItemsWithoutIndex(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	if _, err := c.MediaItems(ctxT(t), client.MediaItemsQuery{}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("MediaItems: %v, want ErrNotFound", err)
	}
	var e *client.Error
	if _, err := c.Libraries(ctxT(t)); !errors.As(err, &e) || e.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("Libraries: %v, want 405", err)
	}
}
