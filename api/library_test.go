package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/mediascan"
	"github.com/plexbutler/butler/store/postgres"
)

var acceptJSONHeader = map[string]string{"Accept": "application/json"}

// newLibraryServer is newServer's stack with ix as the media index (the
// server's own SQLite store when ix is nil), as `butler serve` passes its
// store.
func newLibraryServer(t *testing.T, ix butler.MediaIndex) (*server, butler.MediaIndex) {
	t.Helper()
	base := newServer(t)
	if ix == nil {
		ix = base.db
	}
	h, err := api.NewHandler(api.Config{Manager: base.m, Token: token, Version: "1.2.3", MachineIdentifier: "abc",
		FriendlyName: "test", Platform: "Linux", PlatformVersion: "6.1.0-test", UpdatedAt: testUpdatedAt, Library: ix})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &server{Server: hs, m: base.m, db: base.db, eng: base.eng}, ix
}

// getJSON asks for path as JSON and decodes the 200 answer into v.
func (s *server) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, body := s.do(t, req{method: "GET", path: path, header: acceptJSONHeader})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// getXML asks for path as XML (no Accept) and decodes the 200 answer.
func (s *server) getXML(t *testing.T, path string, v any) {
	t.Helper()
	resp, body := s.do(t, req{method: "GET", path: path})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml;charset=utf-8" {
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := xml.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// needFFmpeg skips the test without ffmpeg and ffprobe, unless
// BUTLER_TEST_REQUIRE_FFMPEG is set (as CI does): then it fails.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("BUTLER_TEST_REQUIRE_FFMPEG") != "" {
				t.Fatalf("%s not found and BUTLER_TEST_REQUIRE_FFMPEG is set: %v", p, err)
			}
			t.Skipf("%s not found (apt-get install ffmpeg): %v", p, err)
		}
	}
}

func ffmpeg(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// mediaLibrary is a Movies and a Music library on disk, scanned into an
// index and analysed, as RefreshLibraries and DeepMediaAnalysis leave it:
//
//	Movies/Alien (1979)/Alien.mkv   analysed: HDR10 H.264, English and
//	                                 German AAC, two chapters
//	Movies/Broken.mkv               failed: not media
//	Movies/Heat (1995).mp4          pending: never analysed
//	Movies/Old.mp4                  gone since the second scan
//	Music/song.flac                 analysed: FLAC stereo
type mediaLibrary struct {
	movies, music butler.Library
	ids           map[string]int64 // by base name
}

func fillMediaLibrary(t *testing.T, ix butler.MediaIndex) *mediaLibrary {
	t.Helper()
	needFFmpeg(t)
	ctx := context.Background()
	root := t.TempDir()
	movies, music := filepath.Join(root, "Movies"), filepath.Join(root, "Music")
	alien := filepath.Join(movies, "Alien (1979)")
	for _, d := range []string{alien, music} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	meta := ";FFMETADATA1\ntitle=Alien\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Nostromo\n\n" +
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Ripley\n"
	if err := os.WriteFile(filepath.Join(root, "meta.txt"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, root, "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=880:duration=2:sample_rate=48000",
		"-i", "meta.txt", "-map", "0", "-map", "1", "-map", "2", "-map_metadata", "3", "-map_chapters", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac:a:1", "2",
		"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=ger",
		"-color_trc", "smpte2084", "-color_primaries", "bt2020", "-colorspace", "bt2020nc",
		filepath.Join(alien, "Alien.mkv"))
	ffmpeg(t, root, "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48", "-c:v", "libx264", "-preset", "ultrafast",
		filepath.Join(movies, "Heat (1995).mp4"))
	if err := os.WriteFile(filepath.Join(movies, "Old.mp4"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(movies, "Broken.mkv"), []byte("this is not a Matroska file"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, root, "-f", "lavfi", "-i", "sine=frequency=1000:duration=1:sample_rate=48000", "-ac", "2", "-c:a", "flac",
		filepath.Join(music, "song.flac"))

	l := &mediaLibrary{
		movies: butler.Library{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{movies}},
		music:  butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{music}},
		ids:    map[string]int64{},
	}
	sc := &mediascan.Scanner{Index: ix}
	for _, lib := range []butler.Library{l.movies, l.music} {
		if _, err := sc.Scan(ctx, lib); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(movies, "Old.mp4")); err != nil {
		t.Fatal(err)
	}
	if st, err := sc.Scan(ctx, l.movies); err != nil || st.Gone != 1 {
		t.Fatalf("rescan: %v %v; want Old.mp4 gone", st, err)
	}
	for _, lib := range []string{"Movies", "Music"} {
		items, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: lib})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			l.ids[filepath.Base(it.Path)] = it.ID
		}
	}
	var p mediaprobe.Prober
	for _, name := range []string{"Alien.mkv", "song.flac", "Broken.mkv"} {
		it, err := ix.MediaItem(ctx, l.ids[name])
		if err != nil {
			t.Fatal(err)
		}
		a, f, err := p.Probe(ctx, it.Path)
		if name == "Broken.mkv" {
			if err == nil {
				t.Fatal("ffprobe read Broken.mkv")
			}
			if ok, err := ix.RecordMediaAnalysisFailure(ctx, it.ID, f, err.Error(), time.Now().Add(time.Hour)); err != nil || !ok {
				t.Fatalf("record the failure: %v %v", ok, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := ix.SaveMediaAnalysis(ctx, it.ID, f, mediaprobe.Version, time.Now(), a); err != nil || !ok {
			t.Fatalf("save the analysis of %s: %v %v", name, ok, err)
		}
	}
	return l
}

// paths returns the base names of the items.
func paths(items []apitype.MediaItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, filepath.Base(it.Path))
	}
	return out
}

func TestLibraryCountsAndItems(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	l := fillMediaLibrary(t, ix)

	wantLibs := []apitype.Library{
		{Name: "Movies", Present: 3, Gone: 1, Analysed: 1, Pending: 1, Failed: 1},
		{Name: "Music", Present: 1, Gone: 0, Analysed: 1, Pending: 0, Failed: 0},
	}
	var j apitype.LibrariesResponse
	s.getJSON(t, "/butler/library", &j)
	var x apitype.LibraryContainer
	s.getXML(t, "/butler/library", &x)
	for _, c := range []apitype.LibraryContainer{j.MediaContainer, x} {
		if c.Size != 2 || c.TotalSize != 2 || len(c.Library) != 2 {
			t.Fatalf("libraries: %+v", c)
		}
		for i, want := range wantLibs {
			got := c.Library[i]
			if got.Bytes <= 0 {
				t.Errorf("library %s: %d bytes", got.Name, got.Bytes)
			}
			got.Bytes = 0
			if got != want {
				t.Errorf("library %d: %+v, want %+v", i, got, want)
			}
		}
	}

	for _, tc := range []struct {
		query string
		want  []string
		total int // -1: not given
	}{
		{"", []string{"Alien.mkv", "Broken.mkv", "Heat (1995).mp4", "Old.mp4", "song.flac"}, 5},
		{"library=Movies", []string{"Alien.mkv", "Broken.mkv", "Heat (1995).mp4", "Old.mp4"}, 4},
		{"state=gone", []string{"Old.mp4"}, 1},
		{"state=present", []string{"Alien.mkv", "Broken.mkv", "Heat (1995).mp4", "song.flac"}, 4},
		{"state=present&analysis=analysed", []string{"Alien.mkv", "song.flac"}, 2},
		{"analysis=analysed", []string{"Alien.mkv", "song.flac"}, -1},
		{"library=Movies&state=present&analysis=failed", []string{"Broken.mkv"}, 1},
		{"analysis=pending&state=present", []string{"Heat (1995).mp4"}, 1},
		{"analysis=pending", []string{"Heat (1995).mp4", "Old.mp4"}, -1},
		{"prefix=" + url.QueryEscape(filepath.Join(l.movies.Folders[0], "Alien")), []string{"Alien.mkv"}, -1},
		{"prefix=" + url.QueryEscape(l.music.Folders[0]+"/"), []string{"song.flac"}, -1},
		{"prefix=/nowhere/", nil, -1},
	} {
		path := "/butler/library/items?" + tc.query
		var j apitype.MediaItemsResponse
		s.getJSON(t, path, &j)
		var x apitype.MediaItemContainer
		s.getXML(t, path, &x)
		for enc, c := range map[string]apitype.MediaItemContainer{"JSON": j.MediaContainer, "XML": x} {
			if got := paths(c.Item); !slices.Equal(got, tc.want) || c.Size != len(tc.want) || c.Next != "" {
				t.Errorf("%s %s: size %d, next %q, %q; want %q", enc, path, c.Size, c.Next, got, tc.want)
			}
			switch {
			case tc.total < 0 && c.TotalSize != nil:
				t.Errorf("%s %s: totalSize %d, want none", enc, path, *c.TotalSize)
			case tc.total >= 0 && (c.TotalSize == nil || *c.TotalSize != tc.total):
				t.Errorf("%s %s: totalSize %v, want %d", enc, path, c.TotalSize, tc.total)
			}
		}
	}

	// Each item's attributes, in both encodings.
	var all apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items?library=Movies", &all)
	var allX apitype.MediaItemContainer
	s.getXML(t, "/butler/library/items?library=Movies", &allX)
	for i, it := range all.MediaContainer.Item {
		fi, statErr := os.Stat(it.Path)
		switch filepath.Base(it.Path) {
		case "Alien.mkv":
			if it.Analysis != "analysed" || it.AnalysisVersion != mediaprobe.Version || it.AnalysedAt == "" || it.AnalysisFailures != 0 {
				t.Errorf("Alien: %+v", it)
			}
		case "Broken.mkv":
			if it.Analysis != "failed" || it.AnalysisVersion != 0 || it.AnalysisFailures != 1 || it.AnalysisError == "" || it.AnalysisRetryAt == "" {
				t.Errorf("Broken: %+v", it)
			}
		case "Heat (1995).mp4":
			if it.Analysis != "pending" || it.AnalysisVersion != 0 || it.AnalysisFailures != 0 || it.AnalysedAt != "" {
				t.Errorf("Heat: %+v", it)
			}
		case "Old.mp4":
			if it.State != "gone" || it.GoneAt == "" || it.Size != 3 {
				t.Errorf("Old: %+v", it)
			}
			continue
		}
		if statErr != nil {
			t.Fatal(statErr)
		}
		mt, _ := time.Parse(time.RFC3339Nano, it.ModifiedAt)
		if it.ID != l.ids[filepath.Base(it.Path)] || it.Library != "Movies" || it.Kind != "video" || it.State != "present" ||
			it.Size != fi.Size() || !mt.Equal(fi.ModTime()) || it.AddedAt == "" || it.ChangedAt == "" || it.GoneAt != "" || it.Media != nil {
			t.Errorf("item %+v; file %d bytes, %v", it, fi.Size(), fi.ModTime())
		}
		if !reflect.DeepEqual(allX.Item[i], it) {
			t.Errorf("XML item %+v, JSON %+v", allX.Item[i], it)
		}
	}
}

func TestLibraryItemAnalysis(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	l := fillMediaLibrary(t, ix)
	path := fmt.Sprintf("/butler/library/items/%d", l.ids["Alien.mkv"])
	var j apitype.MediaItemsResponse
	s.getJSON(t, path, &j)
	var x apitype.MediaItemContainer
	s.getXML(t, path, &x)
	for enc, c := range map[string]apitype.MediaItemContainer{"JSON": j.MediaContainer, "XML": x} {
		if c.Size != 1 || len(c.Item) != 1 || c.Item[0].Media == nil {
			t.Fatalf("%s %s: %+v", enc, path, c)
		}
		it, m := c.Item[0], c.Item[0].Media
		if it.ID != l.ids["Alien.mkv"] || filepath.Base(it.Path) != "Alien.mkv" || it.Analysis != "analysed" {
			t.Errorf("%s: item %+v", enc, it)
		}
		if m.Version != mediaprobe.Version || m.Container != "matroska,webm" || m.Duration < 1900 || m.Duration > 2100 || m.BitRate <= 0 || m.Title != "Alien" {
			t.Errorf("%s: format %+v", enc, m)
		}
		if len(m.Stream) != 3 {
			t.Fatalf("%s: %d streams: %+v", enc, len(m.Stream), m.Stream)
		}
		v, en, de := m.Stream[0], m.Stream[1], m.Stream[2]
		if v.Index != 0 || v.Type != "video" || v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.FrameRate != 25 ||
			v.HDR != butler.HDR10 || v.ColorTrc != "smpte2084" || v.ColorPrimaries != "bt2020" || v.ColorSpace != "bt2020nc" ||
			v.BitDepth != 8 || v.PixelFormat != "yuv420p" || v.Channels != 0 {
			t.Errorf("%s: video stream %+v", enc, v)
		}
		if en.Index != 1 || en.Type != "audio" || en.Codec != "aac" || en.Language != "eng" || en.Channels != 1 || !bool(en.Default) || en.SamplingRate != 44100 {
			t.Errorf("%s: English stream %+v", enc, en)
		}
		if de.Type != "audio" || de.Language != "ger" || de.Channels != 2 || de.ChannelLayout != "stereo" || bool(de.Default) || de.SamplingRate != 48000 || de.Width != 0 {
			t.Errorf("%s: German stream %+v", enc, de)
		}
		want := []apitype.MediaChapter{{Index: 1, StartTimeOffset: 0, EndTimeOffset: 1000, Tag: "Nostromo"}, {Index: 2, StartTimeOffset: 1000, EndTimeOffset: 2000, Tag: "Ripley"}}
		if !slices.Equal(m.Chapter, want) {
			t.Errorf("%s: chapters %+v, want %+v", enc, m.Chapter, want)
		}
	}
	// The XML names streams and chapters as Plex does: Stream and Chapter
	// elements under Media, flags as 1.
	_, body := s.do(t, req{method: "GET", path: path})
	for _, want := range []string{`<Media version=`, `<Stream index="1" type="audio" codec="aac" profile="LC" language="eng" default="1"`, `<Chapter index="2" startTimeOffset="1000" endTimeOffset="2000" tag="Ripley">`} {
		if !strings.Contains(body, want) {
			t.Errorf("XML lacks %s:\n%s", want, body)
		}
	}

	// An item without an analysis has no Media; a failed one says why.
	var broken apitype.MediaItemsResponse
	s.getJSON(t, fmt.Sprintf("/butler/library/items/%d", l.ids["Broken.mkv"]), &broken)
	if it := broken.MediaContainer.Item[0]; it.Media != nil || it.Analysis != "failed" || !strings.Contains(it.AnalysisError, "Broken.mkv") {
		t.Errorf("Broken.mkv: %+v", it)
	}
	var song apitype.MediaItemsResponse
	s.getJSON(t, fmt.Sprintf("/butler/library/items/%d", l.ids["song.flac"]), &song)
	if m := song.MediaContainer.Item[0].Media; m == nil || len(m.Stream) != 1 || m.Stream[0].Codec != "flac" || m.Stream[0].Channels != 2 || len(m.Chapter) != 0 {
		t.Errorf("song.flac: %+v", m)
	}
}

// fillMany adds n items per library to ix in one batch each, with every
// third analysed, every fifth failed (when not analysed) and every
// seventh gone, and returns what was added.
func fillMany(t *testing.T, ix butler.MediaIndex, n int, libs ...string) []butler.MediaItem {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	var out []butler.MediaItem
	for _, lib := range libs {
		var c butler.MediaChanges
		c.At = at
		for i := range n {
			// Names in a shuffled order, some sharing a folder.
			path := fmt.Sprintf("/media/%s/%c/%05d.mkv", lib, 'a'+(i*7)%5, (i*7919)%n)
			c.Add = append(c.Add, butler.MediaFile{Path: path, Kind: butler.MediaVideo, Size: int64(i + 1), ModTime: at})
		}
		if err := ix.ApplyMediaChanges(ctx, lib, c); err != nil {
			t.Fatal(err)
		}
		var items []butler.MediaItem
		for after := ""; ; {
			page, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: lib, AfterPath: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			items = append(items, page...)
			after = page[len(page)-1].Path
		}
		if len(items) != n {
			t.Fatalf("%s: %d items, want %d", lib, len(items), n)
		}
		var gone []int64
		for i := range items {
			it := &items[i]
			f := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
			switch {
			case i%3 == 0:
				if ok, err := ix.SaveMediaAnalysis(ctx, it.ID, f, 1, at, butler.MediaAnalysis{Container: "matroska,webm"}); err != nil || !ok {
					t.Fatalf("save: %v %v", ok, err)
				}
				it.AnalysisVersion = 1
			case i%5 == 0:
				if ok, err := ix.RecordMediaAnalysisFailure(ctx, it.ID, f, "no streams", at.Add(time.Hour)); err != nil || !ok {
					t.Fatalf("failure: %v %v", ok, err)
				}
				it.AnalysisFailures = 1
			}
			if i%7 == 0 {
				gone = append(gone, it.ID)
				it.State = butler.ItemGone
			}
		}
		if err := ix.ApplyMediaChanges(ctx, lib, butler.MediaChanges{Gone: gone, At: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		out = append(out, items...)
	}
	return out
}

// readAll pages through GET /butler/library/items?query with limit,
// following next, and returns the ids in order and the number of pages.
func readAll(t *testing.T, s *server, query string, limit int) (ids []int64, pages int) {
	t.Helper()
	after := ""
	for {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		q.Set("limit", fmt.Sprint(limit))
		if after != "" {
			q.Set("after", after)
		}
		var j apitype.MediaItemsResponse
		s.getJSON(t, "/butler/library/items?"+q.Encode(), &j)
		c := j.MediaContainer
		pages++
		if c.Size != len(c.Item) || c.Size > limit {
			t.Fatalf("%s: size %d, %d items, limit %d", q.Encode(), c.Size, len(c.Item), limit)
		}
		if after != "" && c.TotalSize != nil {
			t.Fatalf("%s: totalSize on a later page", q.Encode())
		}
		for _, it := range c.Item {
			ids = append(ids, it.ID)
		}
		if c.Next == "" {
			return ids, pages
		}
		if pages > 10_000 {
			t.Fatalf("%s: more than 10,000 pages", query)
		}
		after = c.Next
	}
}

// pagingCases checks the pages of each filter against the items filtered
// here, in library then path order.
func checkPaging(t *testing.T, s *server, items []butler.MediaItem) {
	t.Helper()
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b butler.MediaItem) int {
		return strings.Compare(a.Library+"\x00"+a.Path, b.Library+"\x00"+b.Path)
	})
	analysis := func(it butler.MediaItem) string {
		switch {
		case it.AnalysisVersion > 0:
			return "analysed"
		case it.AnalysisFailures > 0:
			return "failed"
		}
		return "pending"
	}
	for _, tc := range []struct {
		query string
		keep  func(butler.MediaItem) bool
	}{
		{"", func(butler.MediaItem) bool { return true }},
		{"library=Shows", func(it butler.MediaItem) bool { return it.Library == "Shows" }},
		{"state=gone", func(it butler.MediaItem) bool { return it.State == butler.ItemGone }},
		{"library=Movies&state=present", func(it butler.MediaItem) bool { return it.Library == "Movies" && it.State == butler.ItemPresent }},
		{"analysis=failed", func(it butler.MediaItem) bool { return analysis(it) == "failed" }},
		{"analysis=pending&state=present", func(it butler.MediaItem) bool {
			return analysis(it) == "pending" && it.State == butler.ItemPresent
		}},
		{"library=Movies&analysis=analysed&prefix=/media/Movies/c/", func(it butler.MediaItem) bool {
			return it.Library == "Movies" && analysis(it) == "analysed" && strings.HasPrefix(it.Path, "/media/Movies/c/")
		}},
		{"prefix=/media/Shows/b/000", func(it butler.MediaItem) bool { return strings.HasPrefix(it.Path, "/media/Shows/b/000") }},
	} {
		var want []int64
		for _, it := range sorted {
			if tc.keep(it) {
				want = append(want, it.ID)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: the test's items have none that match", tc.query)
		}
		for _, limit := range []int{1, 7, 1000} {
			got, pages := readAll(t, s, tc.query, limit)
			if !slices.Equal(got, want) {
				t.Errorf("%s, limit %d: %d ids %v; want %d %v", tc.query, limit, len(got), head(got), len(want), head(want))
			}
			if min := (len(want) + limit - 1) / limit; pages < min || pages > min+1 {
				t.Errorf("%s, limit %d: %d pages for %d items", tc.query, limit, pages, len(want))
			}
		}
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 10)] }

func TestLibraryItemsPaging(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	checkPaging(t, s, fillMany(t, ix, 150, "Movies", "Shows"))
}

// TestLibraryItemsPaging_PostgreSQL pages through the same items kept in
// PostgreSQL (COLLATE "C" paths: the same byte order as SQLite).
func TestLibraryItemsPaging_PostgreSQL(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, ix := newLibraryServer(t, db)
	checkPaging(t, s, fillMany(t, ix, 150, "Movies", "Shows"))
}

// TestLibraryItemsExaminedBound: a filter the index does not apply reads
// at most 10,000 items per request; a page can then end short, or empty,
// with a cursor to go on from, and the items after it are found.
func TestLibraryItemsExaminedBound(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	var c butler.MediaChanges
	c.At = at
	const n = 10_050
	for i := range n {
		c.Add = append(c.Add, butler.MediaFile{Path: fmt.Sprintf("/m/%06d.mkv", i), Kind: butler.MediaVideo, Size: 1, ModTime: at})
	}
	if err := ix.ApplyMediaChanges(ctx, "Big", c); err != nil {
		t.Fatal(err)
	}
	last, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: "Big", AfterPath: fmt.Sprintf("/m/%06d.mkv", n-2)})
	if err != nil || len(last) != 1 {
		t.Fatalf("the last item: %v %v", last, err)
	}
	f := butler.MediaFile{Path: last[0].Path, Kind: last[0].Kind, Size: last[0].Size, ModTime: last[0].ModTime}
	if ok, err := ix.SaveMediaAnalysis(ctx, last[0].ID, f, 1, at, butler.MediaAnalysis{}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var first apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items?analysis=analysed&limit=5", &first)
	if c := first.MediaContainer; c.Size != 0 || c.Next == "" {
		t.Fatalf("first page: size %d, next %q; want none read past 10,000 items, and a cursor", c.Size, c.Next)
	}
	var second apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items?analysis=analysed&limit=5&after="+first.MediaContainer.Next, &second)
	if c := second.MediaContainer; c.Size != 1 || c.Item[0].ID != last[0].ID || c.Next != "" {
		t.Fatalf("second page: %+v; want the last item, and no cursor", c)
	}
}

func TestLibraryBadRequests(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	fillMany(t, ix, 3, "Movies")
	other := "/butler/library/items?library=Shows&after=" + base64Cursor("Movies", "/media/Movies/a/00000.mkv")
	for _, tc := range []struct {
		path   string
		status int
		has    string
	}{
		{"/butler/library/items?state=lost", 400, `state: "lost" is not an item state; give present or gone`},
		{"/butler/library/items?analysis=done", 400, `analysis: "done" is not an analysis state; give analysed, pending or failed`},
		{"/butler/library/items?limit=0", 400, `limit: "0": give a whole number from 1 to 1000`},
		{"/butler/library/items?limit=1001", 400, `limit: "1001": give a whole number from 1 to 1000`},
		{"/butler/library/items?limit=ten", 400, `limit: "ten"`},
		{"/butler/library/items?prefix=media/", 400, `prefix: "media/" is not the start of an absolute path`},
		{"/butler/library/items?after=zz", 400, `after: "zz" is not a cursor of this route; give the next value of the previous page`},
		{other, 400, `after: the cursor is in library "Movies", not "Shows"`},
		{"/butler/library/items?state=gone&state=present", 400, "query parameter state is given 2 times; give it once"},
		{"/butler/library/items?Library=Movies", 400, "query parameter Library is not known; its name is library"},
		{"/butler/library/items/abc", 400, `"abc" is not a media item id`},
		{"/butler/library/items/0", 400, `"0" is not a media item id`},
	} {
		resp, body := s.do(t, req{method: "GET", path: tc.path, header: acceptJSONHeader})
		var e apitype.ErrorsResponse
		if resp.StatusCode != tc.status || json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Message, tc.has) {
			t.Errorf("GET %s: %d %s; want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.has)
		}
	}
	for _, tc := range []struct{ path, reason string }{
		{"/butler/library/items/999999", "no media item 999999"},
		{"/butler/library/items?library=Shows", `the media index has no library "Shows"; its libraries are "Movies"`},
	} {
		resp, body := s.do(t, req{method: "GET", path: tc.path, header: acceptJSONHeader})
		if resp.StatusCode != 404 || !strings.Contains(body, "404 Not Found") || !strings.Contains(resp.Header.Get("X-Butler-Reason"), tc.reason) {
			t.Errorf("GET %s: %d %q %s; want the Plex 404 page with the reason %q", tc.path, resp.StatusCode, resp.Header.Get("X-Butler-Reason"), body, tc.reason)
		}
	}
	for _, path := range []string{"/butler/library", "/butler/library/items", "/butler/library/items/1"} {
		if resp, _ := s.do(t, req{method: "GET", path: path, noToken: true}); resp.StatusCode != 401 {
			t.Errorf("GET %s without a token: %d, want 401", path, resp.StatusCode)
		}
		if path == "/butler/library" {
			continue // POST /butler/{task}: a start of a task named library
		}
		if resp, body := s.do(t, req{method: "POST", path: path}); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
			t.Errorf("POST %s: %d %q %s; want 405 allowing GET", path, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}

// base64Cursor is the cursor of the items after path in library, as the
// server writes it (an opaque value to clients).
func base64Cursor(library, path string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(library + "\x00" + path))
}

// TestLibraryRoutesWithoutIndex: a server given no media index has no
// library routes.
func TestLibraryRoutesWithoutIndex(t *testing.T) {
	s := newServer(t)
	// GET /butler/library is then only the path of POST /butler/{task}.
	for path, status := range map[string]int{"/butler/library": 405, "/butler/library/items": 404, "/butler/library/items/1": 404} {
		if resp, _ := s.do(t, req{method: "GET", path: path}); resp.StatusCode != status {
			t.Errorf("GET %s without an index: %d, want %d", path, resp.StatusCode, status)
		}
	}
}

// countingIndex counts what the API reads from the index.
type countingIndex struct {
	butler.MediaIndex
	rows, counts atomic.Int64
}

func (c *countingIndex) MediaItems(ctx context.Context, f butler.MediaItemFilter) ([]butler.MediaItem, error) {
	items, err := c.MediaIndex.MediaItems(ctx, f)
	c.rows.Add(int64(len(items)))
	return items, err
}

func (c *countingIndex) LibraryCounts(ctx context.Context) ([]butler.LibraryCounts, error) {
	c.counts.Add(1)
	return c.MediaIndex.LibraryCounts(ctx)
}

// MediaChangeCount is the store's: what the API keeps of the counts goes
// when the index changes, as with the store itself.
func (c *countingIndex) MediaChangeCount() uint64 {
	return c.MediaIndex.(butler.MediaChangeCounter).MediaChangeCount()
}

// TestLibraryItemsReadsLittle: a path prefix starts the index's read at
// the prefix, not at the library's first path, and stops after its last;
// a later page, of one library or of every library, does not read the
// counts.
func TestLibraryItemsReadsLittle(t *testing.T) {
	base := newServer(t)
	ix := &countingIndex{MediaIndex: base.db}
	s, _ := newLibraryServer(t, ix)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	c := butler.MediaChanges{At: at}
	for i := range 5000 {
		c.Add = append(c.Add, butler.MediaFile{Path: fmt.Sprintf("/m/%04d/f.mkv", i), Kind: butler.MediaVideo, Size: 1, ModTime: at})
	}
	if err := ix.ApplyMediaChanges(ctx, "Big", c); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"prefix=/m/2500/", []string{"/m/2500/f.mkv"}},
		{"prefix=/m/25", nil}, // 100 paths, from /m/2500/ to /m/2599/
		{"library=Big&prefix=/m/4999", []string{"/m/4999/f.mkv"}},
		{"prefix=/m/0000/f.mkv", []string{"/m/0000/f.mkv"}},
	} {
		ix.rows.Store(0)
		var j apitype.MediaItemsResponse
		s.getJSON(t, "/butler/library/items?limit=1000&"+tc.query, &j)
		var got []string
		for _, it := range j.MediaContainer.Item {
			got = append(got, it.Path)
		}
		if tc.want == nil {
			for i := 2500; i < 2600; i++ {
				tc.want = append(tc.want, fmt.Sprintf("/m/%d/f.mkv", i))
			}
		}
		if !slices.Equal(got, tc.want) || j.MediaContainer.Next != "" {
			t.Errorf("%s: %d items %q, next %q; want %q", tc.query, len(got), head2(got), j.MediaContainer.Next, head2(tc.want))
		}
		// Reads of 16 rows, then twice as many each time.
		if rows := ix.rows.Load(); rows > int64(2*len(tc.want)+16) {
			t.Errorf("%s: %d rows read for %d items", tc.query, rows, len(tc.want))
		}
	}
	var first apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items?library=Big&limit=10", &first)
	ix.counts.Store(0)
	var second apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items?library=Big&limit=10&after="+first.MediaContainer.Next, &second)
	if n := ix.counts.Load(); n != 0 || second.MediaContainer.Size != 10 || second.MediaContainer.Item[0].Path != "/m/0010/f.mkv" {
		t.Errorf("a later page of one library: %d reads of the counts, %+v", n, second.MediaContainer)
	}

	// Every library, page by page (Big's 5,000 items, then Zed's 3): only
	// the first page reads the counts, whose libraries the later ones
	// list, across the libraries' boundary too (the sixth page), while
	// the index changes between pages.
	zed := butler.MediaChanges{At: at}
	for i := range 3 {
		zed.Add = append(zed.Add, butler.MediaFile{Path: fmt.Sprintf("/z/%d.mkv", i), Kind: butler.MediaVideo, Size: 1, ModTime: at})
	}
	if err := ix.ApplyMediaChanges(ctx, "Zed", zed); err != nil {
		t.Fatal(err)
	}
	ix.counts.Store(0)
	var all []string
	next, pages := "", 0
	for {
		var p apitype.MediaItemsResponse
		s.getJSON(t, "/butler/library/items?limit=999&after="+next, &p)
		pages++
		if total := p.MediaContainer.TotalSize; pages == 1 && (total == nil || *total != 5003) {
			t.Errorf("the first page of every library: totalSize %s; want 5003", totalString(total))
		}
		for _, it := range p.MediaContainer.Item {
			all = append(all, it.Library+":"+it.Path)
		}
		if next = p.MediaContainer.Next; next == "" || pages > 10 {
			break
		}
		// A change between pages, which drops the counts kept.
		it := p.MediaContainer.Item[0]
		f := butler.MediaFile{Path: it.Path, Kind: butler.MediaVideo, Size: 2, ModTime: at}
		if err := ix.ApplyMediaChanges(ctx, it.Library, butler.MediaChanges{Change: map[int64]butler.MediaFile{it.ID: f}, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ix.counts.Load(); n != 1 || pages != 6 || len(all) != 5003 || all[4999] != "Big:/m/4999/f.mkv" || all[5000] != "Zed:/z/0.mkv" {
		t.Errorf("every library in pages of 999: %d reads of the counts, %d pages, %d items (%q); want 1 read, 6 pages, 5003 items",
			n, pages, len(all), all[max(0, len(all)-5):])
	}
}

func head2(s []string) []string { return s[:min(len(s), 5)] }

// totalString shows a page's totalSize.
func totalString(n *int) string {
	if n == nil {
		return "absent"
	}
	return strconv.Itoa(*n)
}

// TestLibraryCountsKept: GET /butler/library and the first page of the
// items share one read of the counts while the index does not change; a
// change written through the index (a scan's batch) is shown at once.
func TestLibraryCountsKept(t *testing.T) {
	base := newServer(t)
	ix := &countingIndex{MediaIndex: base.db}
	s, _ := newLibraryServer(t, ix)
	ctx := t.Context()
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	add := func(paths ...string) {
		t.Helper()
		c := butler.MediaChanges{At: at}
		for _, p := range paths {
			c.Add = append(c.Add, butler.MediaFile{Path: p, Kind: butler.MediaVideo, Size: 1, ModTime: at})
		}
		if err := ix.ApplyMediaChanges(ctx, "Movies", c); err != nil {
			t.Fatal(err)
		}
	}
	present := func() int {
		t.Helper()
		var j apitype.LibrariesResponse
		s.getJSON(t, "/butler/library", &j)
		if len(j.MediaContainer.Library) != 1 {
			t.Fatalf("libraries %+v; want Movies alone", j.MediaContainer.Library)
		}
		return j.MediaContainer.Library[0].Present
	}
	add("/m/a.mkv", "/m/b.mkv")
	ix.counts.Store(0)
	if n, m := present(), present(); n != 2 || m != 2 {
		t.Errorf("present %d, then %d; want 2", n, m)
	}
	var items apitype.MediaItemsResponse
	s.getJSON(t, "/butler/library/items", &items)
	if n, total := ix.counts.Load(), items.MediaContainer.TotalSize; n != 1 || total == nil || *total != 2 {
		t.Errorf("two GET /butler/library and a first page of items: %d reads of the counts, totalSize %s; want 1 read, 2",
			n, totalString(total))
	}
	add("/m/c.mkv")
	if n := present(); n != 3 || ix.counts.Load() != 2 {
		t.Errorf("after a scan added an item: present %d, %d reads of the counts; want 3, 2 reads", n, ix.counts.Load())
	}
}

// TestLibraryItemOutputs: GET /butler/library/items/{id} shows what the
// media tasks made for the item (files, values, failures), in JSON and
// XML, and marks an output of a file that changed since as stale.
func TestLibraryItemOutputs(t *testing.T) {
	s, ix := newLibraryServer(t, nil)
	l := fillMediaLibrary(t, ix)
	oi := ix.(butler.OutputIndex)
	ctx := t.Context()
	it, err := ix.MediaItem(ctx, l.ids["Alien.mkv"])
	if err != nil {
		t.Fatal(err)
	}
	file := butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	made := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	if ok, err := oi.SaveMediaOutput(ctx, file, butler.MediaOutput{Item: it.ID, Kind: butler.OutputIndexFiles, Version: 1, MadeAt: made,
		Files: []string{"index-files/320-10.bif"}, Data: json.RawMessage(`{"frames":1}`)}); err != nil || !ok {
		t.Fatalf("save: %v %v", ok, err)
	}
	if ok, err := oi.RecordMediaOutputFailure(ctx, it.ID, file, butler.OutputLoudness, "ffmpeg cannot read it", made.Add(24*time.Hour)); err != nil || !ok {
		t.Fatalf("failure: %v %v", ok, err)
	}
	path := fmt.Sprintf("/butler/library/items/%d", it.ID)
	var j apitype.MediaItemsResponse
	s.getJSON(t, path, &j)
	outs := j.MediaContainer.Item[0].Output
	if len(outs) != 2 {
		t.Fatalf("outputs: %+v", outs)
	}
	idx, loud := outs[0], outs[1]
	if idx.Kind != apitype.OutputIndexFiles || idx.Version != 1 || idx.MadeAt != "2026-11-30T03:00:00Z" || bool(idx.Stale) ||
		len(idx.File) != 1 || idx.File[0].Path != "index-files/320-10.bif" || string(idx.Data) != `{"frames":1}` {
		t.Errorf("index files: %+v", idx)
	}
	if loud.Kind != apitype.OutputLoudness || loud.Version != 0 || loud.Failures != 1 || loud.Error != "ffmpeg cannot read it" || loud.RetryAt != "2026-12-01T03:00:00Z" {
		t.Errorf("loudness: %+v", loud)
	}
	_, body := s.do(t, req{method: "GET", path: path})
	for _, want := range []string{`<Output kind="index-files" version="1" madeAt="2026-11-30T03:00:00Z" stale="0" failures="0"><File path="index-files/320-10.bif"></File><Data>{&#34;frames&#34;:1}</Data></Output>`,
		`<Output kind="loudness" version="0" stale="0" failures="1" error="ffmpeg cannot read it"`} {
		if !strings.Contains(body, want) {
			t.Errorf("XML lacks %s:\n%s", want, body)
		}
	}
	// The file changes: its outputs are stale until made again.
	changed := file
	changed.Size++
	if err := ix.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Change: map[int64]butler.MediaFile{it.ID: changed}, At: made}); err != nil {
		t.Fatal(err)
	}
	s.getJSON(t, path, &j)
	if outs := j.MediaContainer.Item[0].Output; len(outs) != 2 || !bool(outs[0].Stale) {
		t.Errorf("after the file changed: %+v; want the index files stale", outs)
	}
}
