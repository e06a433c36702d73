package config

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediaprobe"
)

func TestParseLibraries(t *testing.T) {
	f, err := parseTest(t, `
libraries:
  - name: Movies
    kind: movies
    folders: [/srv/media/movies, /mnt/usb/films/]
  - name: TV Shows
    kind: shows
    folders:
      - /srv/media/tv
  - {name: Music, kind: music, folders: [/srv/media/../music]}
  - {name: Photos, kind: photos, folders: [/srv/photos]}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Libraries{
		{Name: "Movies", Kind: "movies", Folders: Folders{{"/srv/media/movies", 4}, {"/mnt/usb/films", 4}}, Line: 2},
		{Name: "TV Shows", Kind: "shows", Folders: Folders{{"/srv/media/tv", 8}}, Line: 5},
		{Name: "Music", Kind: "music", Folders: Folders{{"/srv/music", 9}}, Line: 9},
		{Name: "Photos", Kind: "photos", Folders: Folders{{"/srv/photos", 10}}, Line: 10},
	}
	if !reflect.DeepEqual(f.Libraries, want) {
		t.Errorf("libraries =\n%#v\nwant\n%#v", f.Libraries, want)
	}
	dom := f.Libraries.Domain()
	wantDom := []butler.Library{
		{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{"/srv/media/movies", "/mnt/usb/films"}},
		{Name: "TV Shows", Kind: butler.LibraryShows, Folders: []string{"/srv/media/tv"}},
		{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{"/srv/music"}},
		{Name: "Photos", Kind: butler.LibraryPhotos, Folders: []string{"/srv/photos"}},
	}
	if !reflect.DeepEqual(dom, wantDom) {
		t.Errorf("Domain() = %+v\nwant %+v", dom, wantDom)
	}
	for _, l := range dom {
		if err := l.Validate(); err != nil {
			t.Errorf("library %s does not validate: %v", l.Name, err)
		}
	}
	// No libraries, an empty section: none.
	for _, src := range []string{"", "libraries:\n", "libraries: []\n"} {
		f, err := parseTest(t, src)
		if err != nil || len(f.Libraries) != 0 || len(f.Libraries.Domain()) != 0 {
			t.Errorf("Parse(%q) = %+v, %v; want no libraries", src, f, err)
		}
	}
}

func TestParseMedia(t *testing.T) {
	f, err := parseTest(t, `
media:
  ffprobe: /opt/ffmpeg/bin/ffprobe
  nice: 0
  io_class: idle
  timeout: 2m30s
  parallel: 3
  grace_days: 0
`)
	if err != nil {
		t.Fatal(err)
	}
	m := f.Media
	if m == nil {
		t.Fatal("no media section")
	}
	if m.FFprobe != (Program{"/opt/ffmpeg/bin/ffprobe", 2}) || m.Line != 2 {
		t.Errorf("media = %+v", m)
	}
	if got := m.FFprobeProgram(); got != "/opt/ffmpeg/bin/ffprobe" {
		t.Errorf("FFprobeProgram() = %q", got)
	}
	if got := m.Niceness(); got != 0 {
		t.Errorf("Niceness() = %d, want 0 (given)", got)
	}
	if got := m.IO(); got != mediaprobe.IOIdle {
		t.Errorf("IO() = %q, want idle", got)
	}
	if got := m.ProbeTimeout(); got != 150*time.Second {
		t.Errorf("ProbeTimeout() = %v, want 2m30s", got)
	}
	if got := m.Workers(); got != 3 {
		t.Errorf("Workers() = %d, want 3", got)
	}
	if got := m.Grace(); got != 0 {
		t.Errorf("Grace() = %v, want 0 (given)", got)
	}

	// Other values: a program from PATH, the other bounds.
	f, err = parseTest(t, "media: {ffprobe: ffprobe-7, nice: 19, io_class: none, parallel: 64, grace_days: 3650, timeout: 1h}\n")
	if err != nil {
		t.Fatal(err)
	}
	if m := f.Media; m.FFprobeProgram() != "ffprobe-7" || m.Niceness() != 19 || m.IO() != mediaprobe.IONone ||
		m.Workers() != 64 || m.Grace() != 3650*24*time.Hour || m.ProbeTimeout() != time.Hour {
		t.Errorf("media = %+v", m)
	}
}

// TestParseMediaOutputs reads the media outputs' keys, and the ffmpeg
// found beside a configured ffprobe.
func TestParseMediaOutputs(t *testing.T) {
	f, err := parseTest(t, "media: {ffprobe: /opt/ff/bin/ffprobe, index_interval: 5s, index_width: 480, trickplay: true, index_beside_media: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	m := f.Media
	if m.FFmpegProgram() != "/opt/ff/bin/ffmpeg" || m.PreviewInterval() != 5*time.Second || m.PreviewWidth() != 480 || !m.TrickplayOn() || !m.BesideMedia() {
		t.Errorf("media = %+v: ffmpeg %q, interval %v, width %d", m, m.FFmpegProgram(), m.PreviewInterval(), m.PreviewWidth())
	}
	f, err = parseTest(t, "media: {ffprobe: ffprobe-7, ffmpeg: ffmpeg-7}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Media.FFmpegProgram(); got != "ffmpeg-7" {
		t.Errorf("FFmpegProgram() = %q, want ffmpeg-7", got)
	}
	var none *Media
	if none.FFmpegProgram() != "ffmpeg" || none.PreviewInterval() != 10*time.Second || none.PreviewWidth() != 320 || none.TrickplayOn() || none.BesideMedia() {
		t.Errorf("defaults of no media section: ffmpeg %q, interval %v, width %d", none.FFmpegProgram(), none.PreviewInterval(), none.PreviewWidth())
	}
}

// TestMediaDefaults checks the defaults: with no media section (a nil
// *Media, as a File without the key has), with an empty one, and with one
// that sets a single key.
func TestMediaDefaults(t *testing.T) {
	half := max(1, runtime.NumCPU()/2)
	check := func(name string, m *Media) {
		t.Helper()
		if got := m.FFprobeProgram(); got != "ffprobe" {
			t.Errorf("%s: FFprobeProgram() = %q, want ffprobe", name, got)
		}
		if got := m.Niceness(); got != 10 {
			t.Errorf("%s: Niceness() = %d, want 10", name, got)
		}
		if got := m.IO(); got != "best-effort" {
			t.Errorf("%s: IO() = %q, want best-effort (mediaprobe's default)", name, got)
		}
		if got := m.ProbeTimeout(); got != time.Minute {
			t.Errorf("%s: ProbeTimeout() = %v, want 1m", name, got)
		}
		if got := m.Workers(); got != half {
			t.Errorf("%s: Workers() = %d, want half the %d CPUs, at least 1: %d", name, got, runtime.NumCPU(), half)
		}
		if got := m.Grace(); got != 7*24*time.Hour {
			t.Errorf("%s: Grace() = %v, want 7 days", name, got)
		}
	}
	var none *Media
	check("nil", none)
	f, err := parseTest(t, "media:\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Media != nil {
		t.Errorf("an empty media section = %+v, want nil", f.Media)
	}
	check("empty section", f.Media)
	check("zero", &Media{})
	f, err = parseTest(t, "media: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	check("{}", f.Media)
	if DefaultParallel() != half {
		t.Errorf("DefaultParallel() = %d, want %d", DefaultParallel(), half)
	}
}

func TestParseLibraryErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		want string // the whole error
	}{
		// libraries.
		{"libraries mapping", "libraries: {name: Movies}\n", `butler.yaml:1: libraries: is a mapping; want a list of libraries, each with name, kind and folders`},
		{"library scalar", "libraries:\n  - Movies\n", `butler.yaml:2: libraries[0]: is "Movies"; want a library: a mapping with name, kind and folders`},
		{"library no name", "libraries:\n  - {kind: movies, folders: [/m]}\n", `butler.yaml:2: libraries[0].name: missing; give each library a unique name, like "Movies"`},
		{"library no kind", "libraries:\n  - {name: Movies, folders: [/m]}\n", `butler.yaml:2: libraries[0].kind: missing; give the library's kind: movies, shows, music or photos`},
		{"library no folders", "libraries:\n  - {name: Movies, kind: movies}\n", `butler.yaml:2: libraries[0].folders: missing; give a list of the library's folders, like [/srv/media/movies]`},
		{"library unknown key", "libraries:\n  - name: Movies\n    kind: movies\n    folder: [/m]\n", `butler.yaml:4: libraries[0].folder: unknown key (did you mean folders?); known keys under libraries[0]: name, kind, folders`},
		{"library name list", "libraries:\n  - {name: [a], kind: movies, folders: [/m]}\n", `butler.yaml:2: libraries[0].name: is a list; want the library's name, like "Movies"`},
		{"library name blank", "libraries:\n  - {name: \" Movies\", kind: movies, folders: [/m]}\n", `butler.yaml:2: libraries[0]: library name " Movies": give a name without leading or trailing spaces`},
		{"library name too long", "libraries:\n  - {name: " + strings.Repeat("n", 201) + ", kind: movies, folders: [/m]}\n", `butler.yaml:2: libraries[0]: library name "` + strings.Repeat("n", 40) + `..." is longer than 200 bytes`},
		{"library kind", "libraries:\n  - {name: Movies, kind: film, folders: [/m]}\n", `butler.yaml:2: libraries[0].kind: "film" is not a library kind; use movies, shows, music or photos`},
		{"library kind near", "libraries:\n  - {name: Movies, kind: movie, folders: [/m]}\n", `butler.yaml:2: libraries[0].kind: "movie" is not a library kind (did you mean movies?); use movies, shows, music or photos`},
		{"library kind case", "libraries:\n  - {name: Movies, kind: Movies, folders: [/m]}\n", `butler.yaml:2: libraries[0].kind: "Movies" is not a library kind (did you mean movies?); use movies, shows, music or photos`},
		{"library folders scalar", "libraries:\n  - {name: Movies, kind: movies, folders: /m}\n", `butler.yaml:2: libraries[0].folders: is "/m"; want a list of the library's folders, like [/srv/media/movies]`},
		{"library folders empty", "libraries:\n  - {name: Movies, kind: movies, folders: []}\n", `butler.yaml:2: libraries[0].folders: is empty; give a list of the library's folders, like [/srv/media/movies]`},
		{"library folder relative", "libraries:\n  - name: Movies\n    kind: movies\n    folders:\n      - /m\n      - media/films\n", `butler.yaml:6: libraries[0].folders[1]: "media/films" is not an absolute path; give the full path of a library folder, starting with /`},
		{"library folder list", "libraries:\n  - {name: Movies, kind: movies, folders: [[/m]]}\n", `butler.yaml:2: libraries[0].folders[0]: is a list; want the absolute path of a library folder`},
		{"library folders overlap", "libraries:\n  - name: Movies\n    kind: movies\n    folders: [/srv/media, /srv/media/films]\n", `butler.yaml:2: libraries[0]: library "Movies": folders "/srv/media" and "/srv/media/films" overlap; list only the outer one`},
		{"library folder twice", "libraries:\n  - {name: Movies, kind: movies, folders: [/m, /m/]}\n", `butler.yaml:2: libraries[0]: library "Movies": folders "/m" and "/m" overlap; list only the outer one`},
		{"library duplicate name", "libraries:\n  - {name: Movies, kind: movies, folders: [/m]}\n  - {name: Movies, kind: shows, folders: [/s]}\n", `butler.yaml:3: libraries[1].name: "Movies" is the name of libraries[0] too; names must be unique`},

		// media.
		{"media list", "media: [ffprobe]\n", `butler.yaml:1: media: is a list; want a mapping with ffprobe, ffmpeg, nice, io_class, timeout, parallel, grace_days, index_interval, index_width, trickplay or index_beside_media`},
		{"media unknown key", "media:\n  paralel: 2\n", `butler.yaml:2: media.paralel: unknown key (did you mean parallel?); known keys under media: ffprobe, nice, io_class, timeout, parallel, grace_days, ffmpeg, index_interval, index_width, trickplay, index_beside_media`},
		{"index interval not whole seconds", "media:\n  index_interval: 2500ms\n", `butler.yaml:2: media.index_interval: 2.5s: use whole seconds from 1s to 10m0s (10s is what Plex uses)`},
		{"index interval too long", "media:\n  index_interval: 1h\n", `butler.yaml:2: media.index_interval: 1h0m0s: use whole seconds from 1s to 10m0s (10s is what Plex uses)`},
		{"index width too small", "media:\n  index_width: 10\n", `butler.yaml:2: media.index_width: 10 is out of range; use a whole number from 64 to 1920 (pixels)`},
		{"trickplay not a bool", "media:\n  trickplay: yes\n", `butler.yaml:2: media.trickplay: is "yes"; want true or false`},
		{"ffprobe relative", "media:\n  ffprobe: bin/ffprobe\n", `butler.yaml:2: media.ffprobe: "bin/ffprobe" is a relative path; give its absolute path, like /usr/bin/ffprobe, or a name to look up in PATH, like ffprobe`},
		{"ffprobe blank", "media:\n  ffprobe: \" \"\n", `butler.yaml:2: media.ffprobe: is blank; give its absolute path, like /usr/bin/ffprobe, or a name to look up in PATH, like ffprobe`},
		{"ffprobe empty", "media:\n  ffprobe:\n", `butler.yaml:2: media.ffprobe: is empty; want the ffprobe program; give its absolute path, like /usr/bin/ffprobe, or a name to look up in PATH, like ffprobe`},
		{"nice 20", "media:\n  nice: 20\n", `butler.yaml:2: media.nice: 20 is out of range; use a whole number from 0 to 19 (19 is the lowest priority; 0 is Butler's own)`},
		{"nice negative", "media:\n  nice: -5\n", `butler.yaml:2: media.nice: -5 is out of range; use a whole number from 0 to 19 (19 is the lowest priority; 0 is Butler's own)`},
		{"nice text", "media:\n  nice: low\n", `butler.yaml:2: media.nice: "low" is not a whole number; use a whole number from 0 to 19 (19 is the lowest priority; 0 is Butler's own)`},
		{"io_class", "media:\n  io_class: realtime\n", `butler.yaml:2: media.io_class: "realtime" is not an I/O class; use idle, best-effort or none`},
		{"io_class near", "media:\n  io_class: best_effort\n", `butler.yaml:2: media.io_class: "best_effort" is not an I/O class (did you mean best-effort?); use idle, best-effort or none`},
		{"io_class number", "media:\n  io_class: 3\n", `butler.yaml:2: media.io_class: "3" is not an I/O class; use idle, best-effort or none`},
		{"timeout number", "media:\n  timeout: 60\n", `butler.yaml:2: media.timeout: "60" is not a duration; use Go form like 5m or 1h30m`},
		{"timeout zero", "media:\n  timeout: 0s\n", `butler.yaml:2: media.timeout: "0s" is not more than 0; use Go form like 5m or 1h30m`},
		{"timeout too long", "media:\n  timeout: 2h\n", `butler.yaml:2: media.timeout: 2h0m0s is more than 1h0m0s; ffprobe reads a file's headers, not the whole file: a longer wait means it hangs`},
		{"parallel 0", "media:\n  parallel: 0\n", `butler.yaml:2: media.parallel: 0 is out of range; use a whole number from 1 to 64 (files analysed at once)`},
		{"parallel 65", "media:\n  parallel: 65\n", `butler.yaml:2: media.parallel: 65 is out of range; use a whole number from 1 to 64 (files analysed at once)`},
		{"grace_days negative", "media:\n  grace_days: -1\n", `butler.yaml:2: media.grace_days: -1 is out of range; use a whole number from 0 to 3650 (days)`},
		{"grace_days float", "media:\n  grace_days: 1.5\n", `butler.yaml:2: media.grace_days: "1.5" is not a whole number; use a whole number from 0 to 3650 (days)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseTest(t, c.src)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v\nwant: %s", f, c.want)
			}
			if err.Error() != c.want {
				t.Errorf("Parse error\n got: %s\nwant: %s", err, c.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "butler.yaml" {
				t.Errorf("error %T is not a *config.Error naming the file", err)
			}
		})
	}
}

// TestParseLibraryErrorsAtOnce checks that the problems of the libraries
// and media sections are reported with the rest, each at its line.
func TestParseLibraryErrorsAtOnce(t *testing.T) {
	_, err := parseTest(t, `
libraries:
  - {name: Movies, kind: film, folders: [movies]}
  - {name: Shows, kind: shows, folders: [/tv]}
  - {name: Shows, kind: shows, folders: [/tv2]}
media:
  nice: 40
  io_class: fast
log_level: loud
`)
	want := []string{
		`butler.yaml:2: libraries[0].kind: "film" is not a library kind; use movies, shows, music or photos`,
		`butler.yaml:2: libraries[0].folders[0]: "movies" is not an absolute path; give the full path of a library folder, starting with /`,
		`butler.yaml:4: libraries[2].name: "Shows" is the name of libraries[1] too; names must be unique`,
		`butler.yaml:6: media.nice: 40 is out of range; use a whole number from 0 to 19 (19 is the lowest priority; 0 is Butler's own)`,
		`butler.yaml:7: media.io_class: "fast" is not an I/O class; use idle, best-effort or none`,
		`butler.yaml:8: log_level: "loud" is not a log level; use debug, info, warn or error`,
	}
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse errors\n got: %q\nwant: %q", got, want)
	}
}
