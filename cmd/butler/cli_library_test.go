package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client/clienttest"
	"github.com/plexbutler/butler/store/sqlite"
)

// libraryServer starts a clienttest server whose API also serves the media
// index (its SQLite file, opened a second time), as `butler serve` does,
// and returns it as a clienttest.Server for the transcript, with the index.
func libraryServer(t *testing.T) (*clienttest.Server, butler.MediaIndex) {
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
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &clienttest.Server{URL: hs.URL, Token: s.Token, DataDir: s.DataDir, Manager: s.Manager}, ix
}

// fillLibrary adds two libraries to the index through its methods, as a
// scan and an analysis leave them: in Movies, Alien analysed (an HDR10
// video, two audio tracks, forced subtitles, two chapters), Brazil failed,
// Heat and Ran pending, Zelig gone; in Music, one track analysed.
func fillLibrary(t *testing.T, ix butler.MediaIndex) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	type file struct {
		path string
		size int64
	}
	add := func(lib string, files ...file) map[string]butler.MediaItem {
		c := butler.MediaChanges{At: at}
		for _, f := range files {
			kind := butler.MediaVideo
			if lib == "Music" {
				kind = butler.MediaAudio
			}
			c.Add = append(c.Add, butler.MediaFile{Path: f.path, Kind: kind, Size: f.size, ModTime: at.Add(-time.Hour)})
		}
		if err := ix.ApplyMediaChanges(ctx, lib, c); err != nil {
			t.Fatal(err)
		}
		items, err := ix.MediaItems(ctx, butler.MediaItemFilter{Library: lib})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]butler.MediaItem{}
		for _, it := range items {
			out[filepath.Base(it.Path)] = it
		}
		return out
	}
	movies := add("Movies",
		file{"/media/Movies/Heat (1995).mp4", 2_300_000_000},
		file{"/media/Movies/Alien (1979)/Alien (1979).mkv", 4_712_000_000},
		file{"/media/Movies/Ran (1985).mkv", 900},
		file{"/media/Movies/Brazil (1985).mkv", 1_500_000},
		file{"/media/Movies/Zelig (1983).avi", 700_000_000})
	music := add("Music", file{"/media/Music/Kraftwerk/Computerwelt.flac", 31_000_000})
	fileOf := func(it butler.MediaItem) butler.MediaFile {
		return butler.MediaFile{Path: it.Path, Kind: it.Kind, Size: it.Size, ModTime: it.ModTime}
	}
	alien := butler.MediaAnalysis{Container: "matroska,webm", Duration: 117*time.Minute + 500*time.Millisecond, BitRate: 5_370_000,
		Title: "Alien", Streams: []butler.MediaStream{
			{Index: 0, Type: "video", Codec: "hevc", Profile: "Main 10", Default: true, Width: 3840, Height: 1606, FrameRate: 23.976,
				PixelFormat: "yuv420p10le", BitDepth: 10, ColorTransfer: "smpte2084", ColorPrimaries: "bt2020", ColorSpace: "bt2020nc", HDR: butler.HDR10},
			{Index: 1, Type: "audio", Codec: "eac3", Language: "eng", Default: true, BitRate: 768000, Channels: 6, ChannelLayout: "5.1(side)", SampleRate: 48000},
			{Index: 2, Type: "audio", Codec: "aac", Profile: "LC", Language: "ger", Title: "Deutsch", Channels: 2, ChannelLayout: "stereo", SampleRate: 44100},
			{Index: 3, Type: "subtitle", Codec: "subrip", Language: "eng", Forced: true},
		},
		Chapters: []butler.MediaChapter{{Start: 0, End: 10 * time.Minute, Title: "Nostromo"}, {Start: 10 * time.Minute, End: 117*time.Minute + 500*time.Millisecond, Title: "Ripley"}},
	}
	song := butler.MediaAnalysis{Container: "flac", Duration: 3*time.Minute + 24*time.Second, BitRate: 1_210_000,
		Streams: []butler.MediaStream{{Index: 0, Type: "audio", Codec: "flac", Channels: 2, ChannelLayout: "stereo", SampleRate: 44100, BitDepth: 16}}}
	for _, a := range []struct {
		it butler.MediaItem
		a  butler.MediaAnalysis
	}{{movies["Alien (1979).mkv"], alien}, {music["Computerwelt.flac"], song}} {
		if ok, err := ix.SaveMediaAnalysis(ctx, a.it.ID, fileOf(a.it), 1, at.Add(time.Minute), a.a); err != nil || !ok {
			t.Fatalf("save: %v %v", ok, err)
		}
	}
	brazil := movies["Brazil (1985).mkv"]
	reason := "analyse /media/Movies/Brazil (1985).mkv: ffprobe cannot read it (exit status 1): Invalid data found when processing input"
	for range 2 {
		if ok, err := ix.RecordMediaAnalysisFailure(ctx, brazil.ID, fileOf(brazil), reason, at.Add(2*time.Hour)); err != nil || !ok {
			t.Fatalf("failure: %v %v", ok, err)
		}
	}
	// What the media tasks made: Alien's preview pictures and loudness; a
	// failed loudness measure of the song.
	oi := ix.(butler.OutputIndex)
	a := movies["Alien (1979).mkv"]
	for _, o := range []butler.MediaOutput{
		{Item: a.ID, Kind: butler.OutputIndexFiles, Version: 1, MadeAt: at.Add(3 * time.Hour), Files: []string{"index-files/320-10.bif"},
			Data: json.RawMessage(`{"frames":706,"intervalMs":10000,"width":320,"height":134,"keyframes":true,"toneMapped":true}`)},
		{Item: a.ID, Kind: butler.OutputLoudness, Version: 1, MadeAt: at.Add(3 * time.Hour),
			Data: json.RawMessage(`{"streams":[{"index":1,"integratedLufs":-24.1,"rangeLu":11.2,"truePeakDbtp":-1.2,"replayGainDb":6.1,"replayGainPeak":0.87}]}`)},
	} {
		if ok, err := oi.SaveMediaOutput(ctx, fileOf(a), o); err != nil || !ok {
			t.Fatalf("save output: %v %v", ok, err)
		}
	}
	cw := music["Computerwelt.flac"]
	if ok, err := oi.RecordMediaOutputFailure(ctx, cw.ID, fileOf(cw), butler.OutputLoudness, "ffmpeg cannot decode it: Invalid data found when processing input", at.Add(27*time.Hour)); err != nil || !ok {
		t.Fatalf("output failure: %v %v", ok, err)
	}
	if err := ix.ApplyMediaChanges(ctx, "Movies", butler.MediaChanges{Gone: []int64{movies["Zelig (1983).avi"].ID}, At: at.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestCLILibrary(t *testing.T) {
	s, ix := libraryServer(t)
	tr := newTranscript(t, s)
	tr.run(0, "library") // empty
	fillLibrary(t, ix)
	tr.run(0, "library")
	tr.run(0, "library", "-o", "json")
	tr.run(0, "library", "items")
	_, stderr := tr.run(0, "library", "items", "--limit", "2")
	m := regexp.MustCompile(`--after (\S+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no cursor in %q", stderr)
	}
	tr.run(0, "library", "items", "--limit", "2", "--after", m[1])
	tr.run(0, "library", "items", "--limit", "2", "--all", "--library", "Movies")
	tr.run(0, "library", "items", "--analysis", "failed")
	tr.run(0, "library", "items", "--state", "present", "--analysis", "pending")
	tr.run(0, "library", "items", "--prefix", "/media/Movies/Alien")
	tr.run(0, "library", "items", "--state", "gone", "-o", "json")
	tr.run(0, "library", "items", "--prefix", "/media/Shows/")
	// The ids, from the JSON of every item.
	code, out, stderr := runCmd(t, cliEnv(s), "library", "items", "--all", "-o", "json")
	var all apitype.MediaItemContainer
	if err := json.Unmarshal([]byte(out), &all); code != 0 || err != nil || all.Size != 6 {
		t.Fatalf("library items --all -o json: exit %d, %v, %d items\n%s%s", code, err, all.Size, out, stderr)
	}
	idOf := map[string]string{}
	for _, it := range all.Item {
		idOf[filepath.Base(it.Path)] = strconv.FormatInt(it.ID, 10)
	}
	var ids []string
	for _, name := range []string{"Alien (1979).mkv", "Brazil (1985).mkv", "Zelig (1983).avi", "Computerwelt.flac"} {
		ids = append(ids, idOf[name])
	}
	for _, id := range ids {
		tr.run(0, "library", "item", id)
	}
	tr.run(0, "library", "item", ids[0], "-o", "json")
	tr.run(1, "library", "item", "999")
	tr.run(1, "library", "items", "--library", "Shows")
	tr.run(2, "library", "item", "abc")
	tr.run(2, "library", "item")
	tr.run(2, "library", "items", "--state", "lost")
	tr.run(2, "library", "items", "--analysis", "done")
	tr.run(2, "library", "items", "--limit", "0")
	tr.run(2, "library", "items", "--prefix", "media")
	tr.run(1, "library", "items", "--after", "nonsense")
	tr.run(0, "__complete", "library", "items", "--library", "M")
	tr.run(0, "__complete", "library", "items", "--analysis", "")
	tr.check("library")

	// The ids are the index's own.
	for name, id := range idOf {
		n, _ := strconv.ParseInt(id, 10, 64)
		if it, err := ix.MediaItem(context.Background(), n); err != nil || filepath.Base(it.Path) != name {
			t.Errorf("item %s: %+v %v; want %s", id, it, err, name)
		}
	}
}

// TestCLILibraryWithoutIndex: a server that serves no media index (an
// older Butler) is named as such.
func TestCLILibraryWithoutIndex(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	for _, args := range [][]string{{"library"}, {"library", "items"}, {"library", "item", "1"}} {
		code, _, stderr := runCmd(t, cliEnv(s), args...)
		if code != 1 || !strings.Contains(stderr, "keeps no media index") {
			t.Errorf("butler %s: exit %d, %s", strings.Join(args, " "), code, stderr)
		}
	}
}
