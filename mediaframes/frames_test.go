package mediaframes_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/mediaframes"
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

// clip makes a 640×360 H.264 video of testsrc2 (whose picture changes
// every frame) lasting seconds, with a keyframe every gop frames (25 a
// second, no keyframes at scene cuts), plus extra output arguments, and
// returns its path and analysis.
func clip(t *testing.T, dir, name string, seconds float64, gop int, extra ...string) (string, butler.MediaAnalysis) {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "testsrc2=duration=" + strconv.FormatFloat(seconds, 'f', -1, 64) + ":size=640x360:rate=25"}
	args = append(args, extra...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop),
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", name)
	ffmpeg(t, dir, args...)
	return probe(t, filepath.Join(dir, name))
}

func probe(t *testing.T, path string) (string, butler.MediaAnalysis) {
	t.Helper()
	var p mediaprobe.Prober
	a, _, err := p.Probe(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return path, a
}

// check asserts that every picture decodes, at w×h, that there are n,
// and that consecutive ones differ (testsrc2 changes every frame); and
// that they make a BIF file that verifies.
func check(t *testing.T, p *mediaframes.PreviewSet, n, w, h int) {
	t.Helper()
	if len(p.Frames) != n {
		t.Fatalf("%d pictures, want %d", len(p.Frames), n)
	}
	if p.Width != w || p.Height != h {
		t.Errorf("pictures %dx%d, want %dx%d", p.Width, p.Height, w, h)
	}
	for i, f := range p.Frames {
		img, err := jpeg.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("picture %d: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("picture %d is %dx%d", i, b.Dx(), b.Dy())
		}
		if i > 0 && bytes.Equal(f, p.Frames[i-1]) && !slices.Contains(p.Repeated, i) {
			t.Errorf("pictures %d and %d are the same", i-1, i)
		}
	}
	data, err := p.BIF()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bif.Verify(data, n); err != nil {
		t.Error(err)
	}
}

func TestPreviews_Keyframes(t *testing.T) {
	needFFmpeg(t)
	path, a := clip(t, t.TempDir(), "film.mp4", 35, 50)
	var e mediaframes.Extractor
	p, err := e.Previews(t.Context(), path, a)
	if err != nil {
		t.Fatal(err)
	}
	// One picture at 0, 10, 20 and 30 s: ceil(35/10).
	check(t, p, 4, 320, 180)
	if !p.Keyframes || len(p.Repeated) != 0 || p.ToneMapped || p.Interval != 10*time.Second {
		t.Errorf("keyframes %v, repeated %v, tone-mapped %v, interval %v; want keyframes alone, none repeated, no tone-mapping, 10s",
			p.Keyframes, p.Repeated, p.ToneMapped, p.Interval)
	}
	cmd := strings.Join(p.Command, " ")
	if !strings.Contains(cmd, "-skip_frame nokey") || strings.Contains(cmd, "zscale") {
		t.Errorf("command %s: want -skip_frame nokey and no tone-mapping", cmd)
	}
}

// TestPreviews_Count: the number of pictures is ceil(duration/interval)
// whatever the interval, and keyframes are used when each interval holds
// one (a keyframe every 2 s).
func TestPreviews_Count(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	path, a := clip(t, dir, "film.mkv", 35, 50)
	exact, b := clip(t, dir, "thirty.mkv", 30, 50)
	for _, tc := range []struct {
		path      string
		a         butler.MediaAnalysis
		interval  time.Duration
		n         int
		keyframes bool
	}{
		{path, a, 7 * time.Second, 5, true},
		{path, a, 3 * time.Second, 12, true},
		{path, a, 2500 * time.Millisecond, 14, true},
		{path, a, 1500 * time.Millisecond, 24, false}, // keyframes 2 s apart: [4.5 s, 6 s) has none
		{path, a, 60 * time.Second, 1, true},
		{exact, b, 10 * time.Second, 3, true}, // 0, 10 and 20 s; 30 s is the end
	} {
		t.Run(filepath.Base(tc.path)+"/"+tc.interval.String(), func(t *testing.T) {
			e := mediaframes.Extractor{Interval: tc.interval, Width: 160}
			p, err := e.Previews(t.Context(), tc.path, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, tc.n, 160, 90)
			if p.Keyframes != tc.keyframes || len(p.Repeated) != 0 {
				t.Errorf("keyframes %v, repeated %v; want keyframes %v, none repeated", p.Keyframes, p.Repeated, tc.keyframes)
			}
		})
	}
}

// TestPreviews_Times: picture i is the first keyframe at or after
// i×interval when keyframes are used, the frame at i×interval when every
// frame is decoded, as the brightness of a ramp tells.
func TestPreviews_Times(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	short, a := rampClip(t, dir, "gop2.mkv", 35, 50) // a keyframe every 2 s
	long, b := rampClip(t, dir, "gop20.mkv", 35, 500)
	for _, tc := range []struct {
		name      string
		path      string
		a         butler.MediaAnalysis
		interval  time.Duration
		keyframes bool
		want      []time.Duration
	}{
		{"gop 2s, 10s", short, a, 10 * time.Second, true, []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second}},
		{"gop 2s, 3s", short, a, 3 * time.Second, true, []time.Duration{0, 4 * time.Second, 6 * time.Second, 10 * time.Second,
			12 * time.Second, 16 * time.Second, 18 * time.Second, 22 * time.Second, 24 * time.Second, 28 * time.Second, 30 * time.Second, 34 * time.Second}},
		{"gop 20s, 10s", long, b, 10 * time.Second, false, []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mediaframes.Extractor{Interval: tc.interval}
			p, err := e.Previews(t.Context(), tc.path, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, len(tc.want), 320, 180)
			if p.Keyframes != tc.keyframes {
				t.Errorf("keyframes %v, want %v", p.Keyframes, tc.keyframes)
			}
			for i, want := range tc.want {
				if got := rampTime(t, p.Frames[i]); !near(got, want) {
					t.Errorf("picture %d shows %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestPreviews_LongGOP: keyframes 20 s apart leave intervals of 10 s
// without one: Previews decodes every frame instead; DecodeKeyframes
// refuses to repeat half the pictures; DecodeAll decodes every frame at
// once.
func TestPreviews_LongGOP(t *testing.T) {
	needFFmpeg(t)
	path, a := clip(t, t.TempDir(), "film.mp4", 35, 500)
	var e mediaframes.Extractor
	p, err := e.Previews(t.Context(), path, a)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, 4, 320, 180)
	if p.Keyframes || slices.Contains(p.Command, "-skip_frame") {
		t.Errorf("keyframes %v, command %q: want every frame decoded", p.Keyframes, p.Command)
	}

	e = mediaframes.Extractor{Decode: mediaframes.DecodeKeyframes}
	_, err = e.Previews(t.Context(), path, a)
	var fe *mediaframes.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "only 2 of its 4 intervals") || !strings.Contains(fe.Reason, "1, 3") {
		t.Errorf("DecodeKeyframes: %v; want a *FileError: pictures for only 2 of 4 intervals, none in 1, 3", err)
	}

	e = mediaframes.Extractor{Decode: mediaframes.DecodeAll}
	p, err = e.Previews(t.Context(), path, a)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, 4, 320, 180)
	if p.Keyframes {
		t.Error("DecodeAll made keyframes")
	}
}

// TestPreviews_Repeated: a video stream that ends before the file's
// duration (the analysis says 32 s, the video has 29 s) leaves its last
// interval without a picture; it repeats the one before, when one
// interval in ten at most lacks one.
func TestPreviews_Repeated(t *testing.T) {
	needFFmpeg(t)
	path, a := clip(t, t.TempDir(), "film.mkv", 29, 25)
	a.Duration = 32 * time.Second
	var e mediaframes.Extractor
	p, err := e.Previews(t.Context(), path, a)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, 4, 320, 180)
	if !slices.Equal(p.Repeated, []int{3}) || !bytes.Equal(p.Frames[3], p.Frames[2]) || p.Keyframes {
		t.Errorf("repeated %v, keyframes %v; want interval 3 repeated, after a pass over every frame", p.Repeated, p.Keyframes)
	}
	a.Duration = 45 * time.Second // two of five missing
	if _, err := e.Previews(t.Context(), path, a); !errors.As(err, new(*mediaframes.FileError)) {
		t.Errorf("two of five intervals without a picture: %v; want a *FileError", err)
	}
}

// stats returns a picture's mean luma, its standard deviation (contrast)
// and its mean saturation (the distance of Cb, Cr from grey).
func stats(t *testing.T, b []byte) (mean, sd, sat float64) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("picture is a %T, not YCbCr", img)
	}
	var sum, sq float64
	for _, v := range y.Y {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(y.Y))
	for i := range y.Cb {
		sat += math.Hypot(float64(y.Cb[i])-128, float64(y.Cr[i])-128)
	}
	mean = sum / n
	return mean, math.Sqrt(sq/n - mean*mean), sat / float64(len(y.Cb))
}

// hdrClip makes a 4-second 10-bit HDR10 video: testsrc2 converted to PQ
// and BT.2020 (its white at 100 nits), tagged as such.
func hdrClip(t *testing.T, dir string) (string, butler.MediaAnalysis) {
	t.Helper()
	ffmpeg(t, dir, "-f", "lavfi", "-i", "testsrc2=duration=4:size=640x360:rate=25",
		"-vf", "zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t=smpte2084:p=bt2020:m=bt2020nc:r=tv:npl=100,format=yuv420p10le",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc", "hdr10.mkv")
	return probe(t, filepath.Join(dir, "hdr10.mkv"))
}

// rampClip makes a 64×36 grey video whose brightness tells the time:
// luma 16+6t (TV range), so that a picture's mean luma (full range, in
// a JPEG) is 6t×255/219 (rampTime reads it back), with a keyframe every
// gop frames (25 a second).
func rampClip(t *testing.T, dir, name string, seconds float64, gop int, extra ...string) (string, butler.MediaAnalysis) {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "color=c=black:s=64x36:r=25:d=" + strconv.FormatFloat(seconds, 'f', -1, 64)}
	args = append(args, extra...)
	args = append(args, "-vf", "geq=lum='16+6*T':cb=128:cr=128,format=yuv420p",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0", name)
	ffmpeg(t, dir, args...)
	return probe(t, filepath.Join(dir, name))
}

// rampTime reads the time of a picture of rampClip from its mean luma.
func rampTime(t *testing.T, b []byte) time.Duration {
	t.Helper()
	mean, _, _ := stats(t, b)
	return time.Duration(mean / 6 * 219 / 255 * float64(time.Second)).Round(10 * time.Millisecond)
}

// near reports whether d is within 0.2 s (5 frames) of want.
func near(d, want time.Duration) bool {
	return d > want-200*time.Millisecond && d < want+200*time.Millisecond
}

// TestPreviews_HDR: an HDR10 video's pictures are tone-mapped (the
// command has the tone-mapping filters), decode, and have about three
// times the saturation and twice the contrast of the same pictures left
// as they are (grey and washed out).
func TestPreviews_HDR(t *testing.T) {
	needFFmpeg(t)
	path, a := hdrClip(t, t.TempDir())
	if v := a.Streams[0]; v.HDR != butler.HDR10 || v.BitDepth != 10 {
		t.Fatalf("test clip: HDR %q, depth %d; want HDR10, 10 bits", v.HDR, v.BitDepth)
	}
	e := mediaframes.Extractor{Interval: time.Second}
	p, err := e.Previews(t.Context(), path, a)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, 4, 320, 180)
	cmd := strings.Join(p.Command, " ")
	if !p.ToneMapped || !strings.Contains(cmd, "zscale=tin=smpte2084:min=bt2020nc:pin=bt2020:t=linear:npl=100") ||
		!strings.Contains(cmd, "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv") {
		t.Errorf("tone-mapped %v, command %s: want the tone-mapping filters", p.ToneMapped, cmd)
	}

	// The same pictures without tone-mapping: an analysis without HDR.
	sdr := a
	sdr.Streams = slices.Clone(a.Streams)
	sdr.Streams[0].HDR, sdr.Streams[0].ColorTransfer = "", ""
	raw, err := e.Previews(t.Context(), path, sdr)
	if err != nil {
		t.Fatal(err)
	}
	if raw.ToneMapped || strings.Contains(strings.Join(raw.Command, " "), "tonemap") {
		t.Fatalf("the SDR analysis was tone-mapped: %q", raw.Command)
	}
	for i := range p.Frames {
		_, sd, sat := stats(t, p.Frames[i])
		_, rawSD, rawSat := stats(t, raw.Frames[i])
		t.Logf("picture %d: contrast %.1f, saturation %.1f; without tone-mapping %.1f, %.1f", i, sd, sat, rawSD, rawSat)
		if sat < 2*rawSat || sd < 1.5*rawSD {
			t.Errorf("picture %d: contrast %.1f, saturation %.1f; without tone-mapping %.1f, %.1f: want 1.5 and 2 times those", i, sd, sat, rawSD, rawSat)
		}
	}
}

// TestChapterThumbs: one picture per chapter, each the frame at
// ChapterTime (4 s, 13 s and 20.5 s, none a keyframe), as its brightness
// tells; HDR video is tone-mapped as the previews are.
func TestChapterThumbs(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	meta := ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=8000\ntitle=One\n\n" +
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=8000\nEND=20000\ntitle=Two\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=20000\nEND=21000\ntitle=Three\n"
	if err := os.WriteFile(filepath.Join(dir, "meta.txt"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	path, a := rampClip(t, dir, "film.mkv", 21, 250, "-i", "meta.txt", "-map", "0", "-map_chapters", "1")
	if len(a.Chapters) != 3 {
		t.Fatalf("test clip: chapters %+v", a.Chapters)
	}
	var e mediaframes.Extractor
	thumbs, err := e.ChapterThumbs(t.Context(), path, a, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(thumbs) != 3 {
		t.Fatalf("%d pictures, want 3", len(thumbs))
	}
	for i, want := range []time.Duration{4 * time.Second, 13 * time.Second, 20500 * time.Millisecond} {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumbs[i]))
		if err != nil || cfg.Width != 320 || cfg.Height != 180 {
			t.Errorf("picture %d: %+v, %v; want 320x180", i, cfg, err)
		}
		if got := rampTime(t, thumbs[i]); !near(got, want) {
			t.Errorf("chapter %d's picture shows %v, want %v", i, got, want)
		}
	}
	small, err := e.ChapterThumbs(t.Context(), path, a, a.Chapters[1:2], 64)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(small[0])); len(small) != 1 || err != nil || cfg.Width != 64 || cfg.Height != 36 {
		t.Errorf("64-pixel picture of one chapter: %d, %+v, %v", len(small), cfg, err)
	}

	hdr, ha := hdrClip(t, dir)
	ha.Chapters = []butler.MediaChapter{{Start: 0, End: 2 * time.Second}, {Start: 2 * time.Second, End: 4 * time.Second}}
	thumbs, err = e.ChapterThumbs(t.Context(), hdr, ha, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	sdr := ha
	sdr.Streams = slices.Clone(ha.Streams)
	sdr.Streams[0].HDR, sdr.Streams[0].ColorTransfer = "", ""
	raw, err := e.ChapterThumbs(t.Context(), hdr, sdr, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range thumbs {
		_, _, sat := stats(t, thumbs[i])
		_, _, rawSat := stats(t, raw[i])
		if sat < 2*rawSat {
			t.Errorf("HDR chapter %d: saturation %.1f, without tone-mapping %.1f; want twice that", i, sat, rawSat)
		}
	}
}

func TestChapterTime(t *testing.T) {
	ch := []butler.MediaChapter{
		{Start: 0, End: 600 * time.Second},
		{Start: 600 * time.Second, End: 604 * time.Second},
		{Start: 604 * time.Second}, // no end: the next chapter's start
		{Start: 700 * time.Second}, // no end, the last: the duration
		{Start: 900 * time.Second, End: 950 * time.Second},
	}
	const d = 720 * time.Second
	for i, want := range []time.Duration{5 * time.Second, 602 * time.Second, 609 * time.Second, 705 * time.Second, 720*time.Second - time.Millisecond} {
		if got := mediaframes.ChapterTime(ch, i, d); got != want {
			t.Errorf("ChapterTime(%d) = %v, want %v", i, got, want)
		}
	}
}

func TestPreviews_BrokenFiles(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	mkv, a := clip(t, dir, "film.mkv", 20, 50)
	mp4, b := clip(t, dir, "film.mp4", 20, 50)
	data, _ := os.ReadFile(mkv)
	mp4Data, _ := os.ReadFile(mp4)
	for _, tc := range []struct {
		name string
		body []byte
		a    butler.MediaAnalysis
		want string
	}{
		{"text.mkv", []byte("this is not a film\n"), a, "Invalid data"},
		{"empty.mkv", nil, a, "Invalid data"},
		{"truncated.mp4", mp4Data[:len(mp4Data)/2], b, "moov atom not found"},
		{"truncated.mkv", data[:len(data)/2], a, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.body, 0o644); err != nil {
				t.Fatal(err)
			}
			var e mediaframes.Extractor
			_, err := e.Previews(t.Context(), path, tc.a)
			var fe *mediaframes.FileError
			if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(fe.Reason, tc.want) {
				t.Errorf("Previews = %v; want a *FileError with %q", err, tc.want)
			}
			_, err = e.ChapterThumbs(t.Context(), path, tc.a, []butler.MediaChapter{{Start: 15 * time.Second, End: 20 * time.Second}}, 0)
			if !errors.As(err, &fe) {
				t.Errorf("ChapterThumbs = %v; want a *FileError", err)
			}
		})
	}

	var e mediaframes.Extractor
	_, err := e.Previews(t.Context(), filepath.Join(dir, "gone.mkv"), a)
	if !errors.As(err, new(*mediaframes.FileError)) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v; want a *FileError of fs.ErrNotExist", err)
	}
	audio := butler.MediaAnalysis{Duration: time.Minute, Streams: []butler.MediaStream{{Type: "audio", Codec: "aac"}}}
	if _, err := e.Previews(t.Context(), mkv, audio); !errors.Is(err, mediaframes.ErrNoVideo) || !errors.As(err, new(*mediaframes.FileError)) {
		t.Errorf("no video stream: %v; want a *FileError of ErrNoVideo", err)
	}
	noDuration := a
	noDuration.Duration = 0
	if _, err := e.Previews(t.Context(), mkv, noDuration); !errors.Is(err, mediaframes.ErrNoVideo) {
		t.Errorf("no duration: %v; want ErrNoVideo", err)
	}
}

// TestPreviews_NoFFmpeg: ffmpeg not found is a plain error, not the file's.
func TestPreviews_NoFFmpeg(t *testing.T) {
	e := mediaframes.Extractor{FFmpeg: &mediatool.Tool{Program: filepath.Join(t.TempDir(), "ffmpeg")}}
	a := butler.MediaAnalysis{Duration: time.Minute, Streams: []butler.MediaStream{{Type: "video", Codec: "h264"}}}
	_, err := e.Previews(t.Context(), "/dev/null", a)
	if err == nil || errors.As(err, new(*mediaframes.FileError)) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Previews = %v; want a plain error saying ffmpeg is not found", err)
	}
	_, err = e.ChapterThumbs(t.Context(), "/dev/null", a, []butler.MediaChapter{{}}, 0)
	if err == nil || errors.As(err, new(*mediaframes.FileError)) {
		t.Errorf("ChapterThumbs = %v; want a plain error", err)
	}
}

// fifo makes a named pipe that nobody writes: ffmpeg opening it waits
// until killed. It stands for a file that takes long to decode.
func fifo(t *testing.T) (string, butler.MediaAnalysis) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slow.mkv")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	return path, butler.MediaAnalysis{Duration: time.Hour, Streams: []butler.MediaStream{{Type: "video", Codec: "h264", Width: 640, Height: 360}}}
}

// ffmpegReading returns the pids of the ffmpeg processes whose command
// line names path.
func ffmpegReading(t *testing.T, path string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "ffmpeg" && slices.Contains(args, "file:"+path) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPreviews_Cancel: when the context is done, ffmpeg is killed, and
// gone (by its pid) by the time Previews returns its error.
func TestPreviews_Cancel(t *testing.T) {
	needFFmpeg(t)
	path, a := fifo(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var e mediaframes.Extractor
	done := make(chan error, 1)
	go func() {
		_, err := e.Previews(ctx, path, a)
		done <- err
	}()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for len(pids) == 0 {
		select {
		case err := <-done:
			t.Fatalf("Previews returned before it was cancelled: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no ffmpeg reading the file after 10 s")
		}
		pids = ffmpegReading(t, path)
		time.Sleep(10 * time.Millisecond) // polling: the test has no other view of ffmpeg's start
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.As(err, new(*mediaframes.FileError)) {
		t.Errorf("Previews = %v; want context.Canceled, not the file's fault", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("ffmpeg (pid %d) is still there after Previews returned", pid)
		}
	}
}

// TestPreviews_Timeout: a pass that outlasts its limit is the file's
// fault, ErrTimeout, and its ffmpeg is gone.
func TestPreviews_Timeout(t *testing.T) {
	needFFmpeg(t)
	path, a := fifo(t)
	e := mediaframes.Extractor{Timeout: 300 * time.Millisecond, PerHour: -1}
	start := time.Now()
	_, err := e.Previews(t.Context(), path, a)
	var fe *mediaframes.FileError
	if !errors.As(err, &fe) || !errors.Is(err, mediaframes.ErrTimeout) || !strings.Contains(fe.Reason, "300ms") {
		t.Errorf("Previews = %v; want a *FileError of ErrTimeout after 300ms", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if pids := ffmpegReading(t, path); len(pids) != 0 {
		t.Errorf("ffmpeg still running: %v", pids)
	}
	_, err = e.ChapterThumbs(t.Context(), path, a, []butler.MediaChapter{{Start: time.Minute}}, 0)
	if !errors.Is(err, mediaframes.ErrTimeout) {
		t.Errorf("ChapterThumbs = %v; want ErrTimeout", err)
	}
}

func TestExtractor_Validate(t *testing.T) {
	for _, e := range []*mediaframes.Extractor{
		{Width: 1}, {Width: -2}, {Width: 9000},
		{Interval: 1500 * time.Microsecond}, {Interval: 50 * time.Millisecond}, {Interval: -time.Second},
		{Quality: 1}, {Quality: 32},
		{Decode: "some"}, {Threads: -1},
		{FFmpeg: &mediatool.Tool{Program: "ffmpeg", Nice: 20}},
	} {
		if err := e.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil; want an error", e)
		}
	}
	if err := (&mediaframes.Extractor{}).Validate(); err != nil {
		t.Errorf("zero Extractor: %v", err)
	}
}

func TestFilter(t *testing.T) {
	sdr := butler.MediaStream{Type: "video", ColorTransfer: "bt709"}
	if f := mediaframes.Filter(sdr, 320); f != "scale=w=320:h='max(2,trunc(320/dar/2)*2)',setsar=1" {
		t.Errorf("SDR filter: %s", f)
	}
	for _, s := range []butler.MediaStream{
		{HDR: butler.HLG, ColorTransfer: "arib-std-b67", ColorPrimaries: "bt2020", ColorSpace: "bt2020nc"},
		{HDR: butler.HLG}, // untagged: from the HDR format
	} {
		if f := mediaframes.Filter(s, 320); !strings.Contains(f, "zscale=tin=arib-std-b67:min=bt2020nc:pin=bt2020:t=linear") {
			t.Errorf("HLG filter: %s", f)
		}
	}
	if f := mediaframes.Filter(butler.MediaStream{HDR: butler.HDRDolbyVision}, 320); !strings.Contains(f, "tin=smpte2084") {
		t.Errorf("Dolby Vision filter: %s", f)
	}
}

func TestVideoStream(t *testing.T) {
	a := butler.MediaAnalysis{Streams: []butler.MediaStream{
		{Index: 0, Type: "audio"}, {Index: 1, Type: "video", Codec: "mjpeg"}, {Index: 2, Type: "video", Codec: "hevc"},
	}}
	if s, ok := mediaframes.VideoStream(a); !ok || s.Index != 2 {
		t.Errorf("VideoStream = %+v, %v; want stream 2, not the cover art", s, ok)
	}
	a.Streams = a.Streams[:2]
	if s, ok := mediaframes.VideoStream(a); !ok || s.Index != 1 {
		t.Errorf("VideoStream = %+v, %v; want stream 1, the only video", s, ok)
	}
}
