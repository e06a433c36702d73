package mediaprobe_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/mediaprobe"
)

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

// ffmpeg runs ffmpeg with args in dir.
func ffmpeg(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// movie makes a 2-second Matroska file: an H.264 video stream flagged as
// PQ/BT.2020 (HDR10), English mono and French stereo AAC, English SubRip
// subtitles, a title and two chapters.
func movie(t *testing.T, dir string) string {
	t.Helper()
	meta := ";FFMETADATA1\ntitle=Test Title\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Opening\n\n" +
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Chapitre deux\n"
	os.WriteFile(filepath.Join(dir, "meta.txt"), []byte(meta), 0o644)
	os.WriteFile(filepath.Join(dir, "subs.srt"), []byte("1\n00:00:00,000 --> 00:00:01,000\nHello\n"), 0o644)
	ffmpeg(t, dir, "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=880:duration=2:sample_rate=48000",
		"-i", "subs.srt", "-i", "meta.txt",
		"-map", "0", "-map", "1", "-map", "2", "-map", "3", "-map_metadata", "4", "-map_chapters", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ac:a:1", "2", "-c:s", "srt",
		"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:s:0", "language=eng",
		"-color_trc", "smpte2084", "-color_primaries", "bt2020", "-colorspace", "bt2020nc",
		"movie.mkv")
	return filepath.Join(dir, "movie.mkv")
}

func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

func TestProbe_Movie(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	path := movie(t, dir)
	var p mediaprobe.Prober
	a, f, err := p.Probe(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if f.Path != path || f.Size != fi.Size() || !f.ModTime.Equal(fi.ModTime()) {
		t.Errorf("file = %+v; want the file's size %d and time %v", f, fi.Size(), fi.ModTime())
	}
	if a.Container != "matroska,webm" || !near(a.Duration, 2*time.Second, 100*time.Millisecond) || a.BitRate <= 0 || a.Title != "Test Title" {
		t.Errorf("format: container %q, duration %v, bit rate %d, title %q", a.Container, a.Duration, a.BitRate, a.Title)
	}
	if len(a.Streams) != 4 {
		t.Fatalf("%d streams, want 4: %+v", len(a.Streams), a.Streams)
	}
	v := a.Streams[0]
	if v.Type != "video" || v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.FrameRate != 25 ||
		v.PixelFormat != "yuv420p" || v.BitDepth != 8 || v.ColorTransfer != "smpte2084" || v.ColorPrimaries != "bt2020" ||
		v.ColorSpace != "bt2020nc" || v.HDR != butler.HDR10 {
		t.Errorf("video stream: %+v", v)
	}
	en, fr := a.Streams[1], a.Streams[2]
	if en.Type != "audio" || en.Codec != "aac" || en.Language != "eng" || en.Channels != 1 || en.ChannelLayout != "mono" || en.SampleRate != 44100 || !en.Default {
		t.Errorf("English audio stream: %+v", en)
	}
	if fr.Type != "audio" || fr.Language != "fra" || fr.Channels != 2 || fr.ChannelLayout != "stereo" || fr.SampleRate != 48000 || fr.Default {
		t.Errorf("French audio stream: %+v", fr)
	}
	if s := a.Streams[3]; s.Type != "subtitle" || s.Codec != "subrip" || s.Language != "eng" || s.HDR != "" {
		t.Errorf("subtitle stream: %+v", s)
	}
	want := []butler.MediaChapter{{Start: 0, End: time.Second, Title: "Opening"}, {Start: time.Second, End: 2 * time.Second, Title: "Chapitre deux"}}
	if len(a.Chapters) != 2 || a.Chapters[0] != want[0] || a.Chapters[1] != want[1] {
		t.Errorf("chapters = %+v, want %+v", a.Chapters, want)
	}
}

func TestProbe_MediaKinds(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	ffmpeg(t, dir, "-f", "lavfi", "-i", "sine=frequency=1000:duration=3:sample_rate=48000", "-c:a", "flac", "song.flac")
	ffmpeg(t, dir, "-f", "lavfi", "-i", "testsrc=duration=1:size=640x360:rate=30000/1001", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-color_trc", "arib-std-b67", "-color_primaries", "bt2020", "-colorspace", "bt2020nc", "hlg.mp4")
	ffmpeg(t, dir, "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", "photo.jpg")
	var p mediaprobe.Prober

	a, _, err := p.Probe(t.Context(), filepath.Join(dir, "song.flac"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Container != "flac" || !near(a.Duration, 3*time.Second, 50*time.Millisecond) || len(a.Streams) != 1 ||
		a.Streams[0].Codec != "flac" || a.Streams[0].SampleRate != 48000 || a.Streams[0].Channels != 1 {
		t.Errorf("flac: %+v", a)
	}

	a, _, err = p.Probe(t.Context(), filepath.Join(dir, "hlg.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Streams) != 1 || a.Streams[0].HDR != butler.HLG || math.Abs(a.Streams[0].FrameRate-29.97) > 0.01 || !strings.HasPrefix(a.Container, "mov,mp4") {
		t.Errorf("HLG video: %+v", a)
	}

	a, _, err = p.Probe(t.Context(), filepath.Join(dir, "photo.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Streams) != 1 || a.Streams[0].Codec != "mjpeg" || a.Streams[0].Width != 64 || a.Streams[0].Height != 48 {
		t.Errorf("photo: %+v", a)
	}
}

func TestProbe_BrokenFiles(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	good := movie(t, dir)
	ffmpeg(t, dir, "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240", "-c:v", "libx264", "-preset", "ultrafast", "whole.mp4")
	data, _ := os.ReadFile(good)
	mp4, _ := os.ReadFile(filepath.Join(dir, "whole.mp4"))
	files := map[string][]byte{
		"empty.mkv":     nil,
		"text.mkv":      []byte("this is not a film\n"),
		"truncated.mkv": data[:len(data)/5],
		"truncated.mp4": mp4[:len(mp4)/2], // the index (moov) is at the end
		"random.mp4":    []byte(strings.Repeat("\x00\x01\x02\xff", 4096)),
	}
	wants := map[string]string{
		"empty.mkv":     "Invalid data",
		"text.mkv":      "Invalid data",
		"truncated.mkv": "ended prematurely",
		"truncated.mp4": "moov atom not found",
		"random.mp4":    "ffprobe",
	}
	var p mediaprobe.Prober
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := p.Probe(t.Context(), path)
			var fe *mediaprobe.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Probe(%s) = %v; want a *FileError", name, err)
			}
			if fe.Path != path || !strings.Contains(err.Error(), path) || !strings.Contains(fe.Reason, wants[name]) {
				t.Errorf("Probe(%s): %v; want a reason with %q", name, err, wants[name])
			}
		})
	}
}

// TestProbe_NoNetwork: a playlist in a library that names a URL does not
// make ffprobe fetch it.
func TestProbe_NoNetwork(t *testing.T) {
	needFFmpeg(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "playlist.mkv")
	playlist := "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + srv.URL + "/x.ts\n#EXT-X-ENDLIST\n"
	if err := os.WriteFile(path, []byte(playlist), 0o644); err != nil {
		t.Fatal(err)
	}
	var p mediaprobe.Prober
	_, _, err := p.Probe(t.Context(), path)
	var fe *mediaprobe.FileError
	if !errors.As(err, &fe) {
		t.Errorf("Probe of a playlist naming a URL: %v; want a *FileError", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("ffprobe made %d requests to the URL in the playlist", n)
	}
}

func TestProbe_Missing(t *testing.T) {
	var p mediaprobe.Prober
	p.FFprobe = "/bin/true"
	_, _, err := p.Probe(t.Context(), filepath.Join(t.TempDir(), "gone.mkv"))
	if !mediaprobe.IsMissing(err) {
		t.Errorf("Probe of a missing file: %v; want fs.ErrNotExist", err)
	}
}

// TestProbe_Unstattable: a file that is there but cannot be stat'ed (a
// loop of symbolic links; permission denied or an I/O error alike) is a
// *FileError of that file, with a zero MediaFile, not a missing file nor
// ffprobe's failure to run.
func TestProbe_Unstattable(t *testing.T) {
	p := mediaprobe.Prober{FFprobe: "/bin/true"}
	loop := filepath.Join(t.TempDir(), "loop.mkv")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	_, file, err := p.Probe(t.Context(), loop)
	var fe *mediaprobe.FileError
	if !errors.As(err, &fe) || fe.Path != loop || mediaprobe.IsMissing(err) || file != (butler.MediaFile{}) {
		t.Errorf("Probe of a loop of symbolic links: %+v, %v; want a *FileError of the file and no file", file, err)
	}
}

func TestProbe_NoFFprobe(t *testing.T) {
	p := mediaprobe.Prober{FFprobe: filepath.Join(t.TempDir(), "ffprobe")}
	f := filepath.Join(t.TempDir(), "a.mkv")
	os.WriteFile(f, []byte("x"), 0o644)
	_, _, err := p.Probe(t.Context(), f)
	var fe *mediaprobe.FileError
	if err == nil || errors.As(err, &fe) || mediaprobe.IsMissing(err) || !strings.Contains(err.Error(), "install FFmpeg") {
		t.Errorf("Probe without ffprobe: %v; want an error that says to install FFmpeg, neither a file's failure nor a missing file", err)
	}
}

func TestProber_Validate(t *testing.T) {
	for _, p := range []*mediaprobe.Prober{{Nice: 20}, {IOClass: "realtime"}} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", p)
		}
		f := filepath.Join(t.TempDir(), "a.mkv")
		os.WriteFile(f, []byte("x"), 0o644)
		if _, _, err := p.Probe(t.Context(), f); err == nil {
			t.Errorf("Probe with %+v: no error", p)
		}
	}
	for _, p := range []*mediaprobe.Prober{{}, {Nice: 19, IOClass: mediaprobe.IOIdle}, {Nice: -1, IOClass: mediaprobe.IONone}} {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-ffprobe")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const fakeReport = `{"streams":[{"index":0,"codec_type":"audio","codec_name":"pcm_s16le"}],"format":{"format_name":"wav"}}`

// TestProbe_Complaints: what ffprobe says at level error of a file it
// read decides: a decoder's complaint about a packet (a recording that
// starts mid-stream) leaves the analysis standing; a file cut short is a
// failure.
func TestProbe_Complaints(t *testing.T) {
	media := filepath.Join(t.TempDir(), "a.ts")
	os.WriteFile(media, []byte("x"), 0o644)
	for _, tc := range []struct {
		stderr string
		fails  bool
	}{
		{"[h264 @ 0x55d0] non-existing PPS 0 referenced\n[h264 @ 0x55d0] decode_slice_header error\n", false},
		{"[matroska,webm @ 0x55d1] File ended prematurely\n", true},
		{"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d2] stream 1, offset 0x30: partial file\n", true},
	} {
		p := &mediaprobe.Prober{FFprobe: script(t, "printf '%s' '"+tc.stderr+"' >&2\necho '"+fakeReport+"'\n"), Nice: -1, IOClass: mediaprobe.IONone}
		a, _, err := p.Probe(t.Context(), media)
		var fe *mediaprobe.FileError
		switch {
		case tc.fails && (!errors.As(err, &fe) || !strings.Contains(fe.Reason, "faults")):
			t.Errorf("ffprobe said %q: %v; want a *FileError for faults", tc.stderr, err)
		case !tc.fails && (err != nil || len(a.Streams) != 1):
			t.Errorf("ffprobe said %q: %v, %+v; want the analysis", tc.stderr, err, a)
		}
	}
}

func TestProbe_Priority(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake ffprobe reads its niceness from /proc")
	}
	if _, err := exec.LookPath("ionice"); err != nil {
		t.Skip("no ionice")
	}
	out := filepath.Join(t.TempDir(), "prio")
	fake := script(t, `{ cut -d' ' -f19 /proc/$$/stat; ionice -p $$; } > `+out+"\necho '"+fakeReport+"'\n")
	media := filepath.Join(t.TempDir(), "a.wav")
	os.WriteFile(media, []byte("x"), 0o644)
	for _, tc := range []struct {
		p    *mediaprobe.Prober
		want string
	}{
		{&mediaprobe.Prober{FFprobe: fake}, "10\nbest-effort: prio 7\n"},
		{&mediaprobe.Prober{FFprobe: fake, Nice: 19, IOClass: mediaprobe.IOIdle}, "19\nidle\n"},
	} {
		if _, _, err := tc.p.Probe(t.Context(), media); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if string(got) != tc.want {
			t.Errorf("with nice %d and I/O class %q, ffprobe ran at %q; want %q", tc.p.Nice, tc.p.IOClass, got, tc.want)
		}
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z' && b[i+2] != 'X'
}

// hang is a fake ffprobe that starts a child in its group, writes the
// child's pid to pidFile, and waits forever.
func hang(t *testing.T, pidFile string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the test reads /proc to see the processes end")
	}
	return script(t, "sleep 300 &\necho $! > "+pidFile+".tmp\nmv "+pidFile+".tmp "+pidFile+"\nwait\n")
}

// waitGone waits, up to 5 s, for process pid to end.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of ffprobe's group still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPid(t *testing.T, pidFile string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake ffprobe did not start its child")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProbe_Timeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := mediaprobe.Prober{FFprobe: hang(t, pidFile), Timeout: 300 * time.Millisecond, PerGiB: -1, Nice: -1, IOClass: mediaprobe.IONone}
	media := filepath.Join(t.TempDir(), "a.mkv")
	os.WriteFile(media, []byte("x"), 0o644)
	start := time.Now()
	_, _, err := p.Probe(t.Context(), media)
	if !errors.Is(err, mediaprobe.ErrTimeout) {
		t.Fatalf("Probe of a file ffprobe hangs on: %v; want ErrTimeout", err)
	}
	var fe *mediaprobe.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "300ms") {
		t.Errorf("error %v; want a *FileError that gives the limit", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Probe returned after %v; its limit was 300ms", d)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestProbe_Stop(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := mediaprobe.Prober{FFprobe: hang(t, pidFile)}
	media := filepath.Join(t.TempDir(), "a.mkv")
	os.WriteFile(media, []byte("x"), 0o644)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, _, err := p.Probe(ctx, media)
		errc <- err
	}()
	child := readPid(t, pidFile)
	cancel()
	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("Probe did not return within 5 s of its context's end")
	}
	var fe *mediaprobe.FileError
	if !errors.Is(err, context.Canceled) || errors.As(err, &fe) {
		t.Errorf("Probe stopped: %v; want context.Canceled, not a file's failure", err)
	}
	waitGone(t, child)
}

func TestParse(t *testing.T) {
	report := `{"streams":[{"index":0,"codec_type":"video","codec_name":"hevc","profile":"Main 10","width":3840,"height":2160,
		"pix_fmt":"yuv420p10le","color_transfer":"smpte2084","color_primaries":"bt2020","avg_frame_rate":"24000/1001",
		"side_data_list":[{"side_data_type":"DOVI configuration record","dv_profile":8}],
		"tags":{"BPS":"15000000","title":"Main"},"disposition":{"default":1,"forced":0}},
		{"index":1,"codec_type":"audio","codec_name":"truehd","channels":8,"channel_layout":"7.1","sample_rate":"48000",
		"bits_per_raw_sample":"24","tags":{"LANGUAGE":"deu"},"disposition":{"default":0,"forced":1}}],
		"chapters":[{"start_time":"0.000000","end_time":"90.500000","tags":{"title":"Intro"}}],
		"format":{"format_name":"matroska,webm","duration":"5400.123456","bit_rate":"20000000"}}`
	a, err := mediaprobe.Parse([]byte(report))
	if err != nil {
		t.Fatal(err)
	}
	v, au := a.Streams[0], a.Streams[1]
	if v.HDR != butler.HDRDolbyVision || v.BitDepth != 10 || v.BitRate != 15000000 || math.Abs(v.FrameRate-23.976) > 0.001 || v.Title != "Main" || !v.Default {
		t.Errorf("video: %+v", v)
	}
	if au.Language != "deu" || au.BitDepth != 24 || au.Channels != 8 || !au.Forced || au.Default || au.HDR != "" {
		t.Errorf("audio: %+v", au)
	}
	if a.Duration != 5400*time.Second+123456*time.Microsecond || a.BitRate != 20000000 ||
		len(a.Chapters) != 1 || a.Chapters[0].End != 90*time.Second+500*time.Millisecond {
		t.Errorf("analysis: %+v", a)
	}
	for _, bad := range []string{"", "not json", "[]", `{"streams":[]}`} {
		if _, err := mediaprobe.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
}

// FuzzParse: no report makes Parse panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fakeReport))
	f.Add([]byte(`{"format":{"duration":"1e400"},"streams":[{"codec_type":"video","avg_frame_rate":"1/0"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := mediaprobe.Parse(data)
		if err == nil && a.Duration < 0 {
			t.Errorf("negative duration %v", a.Duration)
		}
	})
}
