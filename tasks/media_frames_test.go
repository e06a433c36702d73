package tasks_test

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/mediaframes"
	"github.com/plexbutler/butler/tasks"
)

// outputOf returns item id's output of kind, with its data decoded into v.
func outputOf(t *testing.T, idx butler.OutputIndex, id int64, kind butler.OutputKind, v any) butler.MediaOutput {
	t.Helper()
	outs, err := idx.MediaOutputs(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Kind == kind {
			if v != nil && len(o.Data) > 0 {
				if err := json.Unmarshal(o.Data, v); err != nil {
					t.Fatalf("%s of item %d: %v (%s)", kind, id, err, o.Data)
				}
			}
			return o
		}
	}
	t.Fatalf("item %d has no %s output: %+v", id, kind, outs)
	return butler.MediaOutput{}
}

// TestMediaIndexFilesAndChapterThumbs makes the index files and the
// chapter pictures of a 25 s film with three chapters and of a file with
// no video, and checks what a player would read: the BIF in the bundle
// (and beside the film) parses with one picture per 10 s, the bundle's
// manifest lists every file, the chapter pictures decode, the file
// without video is done with nothing to show, and a second run has
// nothing to do.
func TestMediaIndexFilesAndChapterThumbs(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	film, radio := filepath.Join(root, "Film (2020).mkv"), filepath.Join(root, "Radio.mkv")
	meta := filepath.Join(t.TempDir(), "chapters.txt")
	if err := os.WriteFile(meta, []byte(";FFMETADATA1\n"+
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=8000\ntitle=One\n"+
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=8000\nEND=16000\ntitle=Two\n"+
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=16000\nEND=25000\ntitle=Three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc2=duration=25:size=640x360:rate=25", "-i", meta, "-map", "0", "-map_chapters", "1",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", film)
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac", radio)
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, root, "")
	f, r := items[film], items[radio]
	if f.AnalysisVersion == 0 || r.AnalysisVersion == 0 {
		t.Fatalf("analysis: %+v", items)
	}
	bundles := &tasks.BundleWriter{Bundles: butler.Bundles{Root: t.TempDir()}}

	index := &tasks.GenerateMediaIndexFiles{Index: idx, Bundles: bundles, Trickplay: true, BesideMedia: true, Parallel: 2}
	rep := newTestReporter(t)
	if err := index.Run(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	if s := rep.summary(); s != "made the index files of 2 items, 0 failed, 0 skipped" {
		t.Errorf("summary %q", s)
	}
	var d tasks.IndexFilesData
	o := outputOf(t, idx, f.ID, butler.OutputIndexFiles, &d)
	wantFiles := []string{"index-files/320-10.bif", "index-files/trickplay/320 - 10x10/0.jpg"}
	if o.Version != tasks.IndexFilesVersion || !slices.Equal(o.Files, wantFiles) || d.Frames != 3 || d.Width != 320 || d.Height != 180 || !d.Keyframes {
		t.Fatalf("the film's index files: %+v, data %+v; want %v, 3 keyframe pictures of 320x180", o, d, wantFiles)
	}
	data, err := os.ReadFile(filepath.Join(bundles.Bundles.Dir(f.ID), "index-files", "320-10.bif"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := bif.Verify(data, 3); err != nil || b.Interval.Seconds() != 10 {
		t.Errorf("the BIF in the bundle: %+v, %v", b, err)
	}
	beside, err := os.ReadFile(filepath.Join(root, "Film (2020)-320-10.bif"))
	if err != nil || !bytes.Equal(beside, data) || d.BesideMedia == "" {
		t.Errorf("the BIF beside the film: %v (recorded as %q)", err, d.BesideMedia)
	}
	m, err := bundles.Bundles.ReadManifest(f.ID)
	if err != nil || m.Path != film || !slices.Equal(m.Files, wantFiles) {
		t.Errorf("manifest: %+v, %v", m, err)
	}
	var rd tasks.IndexFilesData
	if o := outputOf(t, idx, r.ID, butler.OutputIndexFiles, &rd); len(o.Files) != 0 || rd.Frames != 0 || rd.Note == "" {
		t.Errorf("the file without video: %+v, data %+v; want done, nothing to show, and why", o, rd)
	}

	chapters := &tasks.GenerateChapterThumbs{Index: idx, Bundles: bundles}
	rep = newTestReporter(t)
	if err := chapters.Run(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	var cd tasks.ChapterThumbsData
	o = outputOf(t, idx, f.ID, butler.OutputChapterThumbs, &cd)
	wantThumbs := []string{"chapter-thumbs/0001.jpg", "chapter-thumbs/0002.jpg", "chapter-thumbs/0003.jpg"}
	if cd.Chapters != 3 || !slices.Equal(o.Files, wantThumbs) {
		t.Fatalf("chapter pictures: %+v, data %+v", o, cd)
	}
	for _, name := range wantThumbs {
		p, err := os.ReadFile(filepath.Join(bundles.Bundles.Dir(f.ID), filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if img, err := jpeg.Decode(bytes.NewReader(p)); err != nil || img.Bounds().Dx() != 320 {
			t.Errorf("%s: %v, %v", name, img.Bounds(), err)
		}
	}
	// Both kinds' files in the one manifest.
	if m, err := bundles.Bundles.ReadManifest(f.ID); err != nil || !slices.Equal(m.Files, slices.Sorted(slices.Values(append(wantFiles, wantThumbs...)))) {
		t.Errorf("manifest after both: %+v, %v", m.Files, err)
	}

	for _, a := range []butler.Action{index, chapters} {
		rep = newTestReporter(t)
		if err := a.Run(t.Context(), rep); err != nil {
			t.Fatal(err)
		}
		if s := rep.summary(); !strings.HasPrefix(s, "nothing to do") {
			t.Errorf("%T again: summary %q; want nothing to do", a, s)
		}
	}
}

// heldFFmpeg returns a program that stands for ffmpeg: its first run
// waits, once it has said so on started, for the test to release it
// (release), then every run is the real ffmpeg.
func heldFFmpeg(t *testing.T) (program string, started <-chan struct{}, release func()) {
	t.Helper()
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	up, gate := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	for _, p := range []string{up, gate} {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	program = filepath.Join(dir, "ffmpeg")
	script := "#!/bin/sh\nif mkdir " + filepath.Join(dir, "once") + " 2>/dev/null; then\n\techo up >" + up + "\n\tread x <" + gate + "\nfi\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		_, _ = os.ReadFile(up) // returns once the program has written
	}()
	return program, ch, func() {
		if err := os.WriteFile(gate, []byte("go\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestMediaIndexFiles_StagingRemovedMeanwhile: while ffmpeg makes an
// item's index files, its staging folder goes (a clean-up on a server
// whose clock is ahead took it for an interrupted write's). ffmpeg's work
// cannot be put in place; that is neither the file's fault nor a reason
// to fail the run: the item is skipped, with no failure recorded, and the
// next run makes it.
func TestMediaIndexFiles_StagingRemovedMeanwhile(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	film := filepath.Join(root, "Film (2020).mkv")
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc2=duration=12:size=320x180:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", film)
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, root, "")
	program, started, release := heldFFmpeg(t)
	bundles := &tasks.BundleWriter{Bundles: butler.Bundles{Root: t.TempDir()}}
	act := &tasks.GenerateMediaIndexFiles{Index: idx, Bundles: bundles,
		Extractor: &mediaframes.Extractor{FFmpeg: &mediatool.Tool{Program: program, Nice: -1, IOClass: mediatool.IONone}}}
	out := make(chan butler.ItemResult, 1)
	go func() { out <- act.RunItem(t.Context(), items[film].ID, newTestReporter(t).Logger()) }()
	select {
	case <-started:
	case res := <-out:
		t.Fatalf("the item ended before ffmpeg started: %+v", res)
	}
	staging, err := filepath.Glob(filepath.Join(bundles.Bundles.Dir(items[film].ID), ".index-files.tmp-*"))
	if err != nil || len(staging) != 1 {
		t.Fatalf("staging folders: %v, %v; want one", staging, err)
	}
	if err := os.RemoveAll(staging[0]); err != nil {
		t.Fatal(err)
	}
	release()
	res := <-out
	if res.Outcome != butler.ItemSkipped || !strings.Contains(res.Reason, "staging folder") {
		t.Fatalf("the item whose staging folder went: %+v; want it skipped (its file is fine, and the run goes on)", res)
	}
	if outs, err := idx.MediaOutputs(t.Context(), items[film].ID); err != nil || len(outs) != 0 {
		t.Errorf("outputs recorded: %+v, %v; want none (no failure: the file is fine)", outs, err)
	}
	if res := act.RunItem(t.Context(), items[film].ID, newTestReporter(t).Logger()); res.Outcome != butler.ItemDone {
		t.Errorf("the next run: %+v; want the item's index files made", res)
	}
}
