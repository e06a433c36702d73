package tasks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/loudness"
	"github.com/plexbutler/butler/tasks"
)

// ffmpegMake runs ffmpeg with args (after -v error -nostdin -y).
func ffmpegMake(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// scanAndAnalyse indexes films (a movies library, "Films") and music (a
// music library, "Music"), either "" for none, analyses their files, and
// returns the items by path.
func scanAndAnalyse(t *testing.T, idx butler.MediaIndex, films, music string) map[string]butler.MediaItem {
	t.Helper()
	var libs []butler.Library
	if films != "" {
		libs = append(libs, butler.Library{Name: "Films", Kind: butler.LibraryMovies, Folders: []string{films}})
	}
	if music != "" {
		libs = append(libs, butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{music}})
	}
	return scanLibraries(t, idx, libs)
}

// scanLibraries scans libs into idx, analyses their files, and returns the
// items by path.
func scanLibraries(t *testing.T, idx butler.MediaIndex, libs []butler.Library) map[string]butler.MediaItem {
	t.Helper()
	if err := (&tasks.RefreshLibraries{Index: idx, Libraries: libs}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if err := (&tasks.DeepMediaAnalysis{Index: idx, Parallel: 2}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	items := map[string]butler.MediaItem{}
	for _, l := range libs {
		for p, it := range libraryItems(t, idx, l.Name) {
			items[p] = it
		}
	}
	return items
}

// loudnessOf returns the stored loudness of item id.
func loudnessOf(t *testing.T, idx butler.OutputIndex, id int64) (butler.MediaOutput, tasks.LoudnessData) {
	t.Helper()
	outs, err := idx.MediaOutputs(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Kind == butler.OutputLoudness {
			var d tasks.LoudnessData
			if len(o.Data) > 0 {
				if err := json.Unmarshal(o.Data, &d); err != nil {
					t.Fatalf("loudness data of item %d: %v (%s)", id, err, o.Data)
				}
			}
			return o, d
		}
	}
	return butler.MediaOutput{}, tasks.LoudnessData{}
}

// TestLoudnessAnalysis measures a film and a song of known loudness
// (ffmpeg's 1 kHz sine, of amplitude 1/8, is -3.01 - 18.06 = -21.07 LUFS;
// 20 and 10 dB below it: -41.07 and -31.07 LUFS), fails a
// file damaged on disk after its analysis (same size and time, so the
// index cannot tell) alone, and then has nothing left to do.
func TestLoudnessAnalysis(t *testing.T) {
	needFFmpeg(t)
	root, music := t.TempDir(), t.TempDir()
	film, song, bad := filepath.Join(root, "film.mkv"), filepath.Join(music, "song.flac"), filepath.Join(root, "bad.mkv")
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=duration=6:size=160x120:rate=10", "-f", "lavfi", "-i", "sine=frequency=1000:duration=6",
		"-af", "volume=-20dB", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", film)
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=frequency=1000:duration=6", "-af", "volume=-10dB", song)
	ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=duration=6:size=160x120:rate=10", "-f", "lavfi", "-i", "sine=duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", bad)
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, root, music)
	if items[song].AnalysisVersion == 0 || items[bad].AnalysisVersion == 0 {
		t.Fatalf("analysis: %+v", items)
	}
	// bad.mkv is damaged in place: same size, same modification time.
	damageInPlace(t, bad)

	act := &tasks.LoudnessAnalysis{Index: idx, Parallel: 2}
	if n, err := act.Backlog(t.Context()); err != nil || n != 3 {
		t.Errorf("Backlog before the run = %d, %v; want 3", n, err)
	}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatalf("run: %v; want success (the damaged file fails alone)", err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "measured 2 items, 1 failed, 0 skipped; the first failure: "+bad) {
		t.Errorf("summary %q", s)
	}
	for _, tc := range []struct {
		path string
		want float64
	}{{film, -41.07}, {song, -31.07}} {
		o, d := loudnessOf(t, idx, items[tc.path].ID)
		if o.Version != tasks.LoudnessVersion || len(d.Streams) != 1 {
			t.Fatalf("%s: output %+v, data %+v; want one stream, version %d", tc.path, o, d, tasks.LoudnessVersion)
		}
		s := d.Streams[0]
		if math.Abs(s.Integrated-tc.want) > 1 || math.Abs(s.Gain-(-18-s.Integrated)) > 0.01 || s.Silent {
			t.Errorf("%s: %+v; want about %.1f LUFS, gain -18 - I", tc.path, s, tc.want)
		}
	}
	o, _ := loudnessOf(t, idx, items[bad].ID)
	if o.Failures != 1 || o.Version != 0 || o.Error == "" || o.RetryAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("the damaged file's output: %+v; want one failure, retried a day later", o)
	}

	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "nothing to do") {
		t.Errorf("second run: summary %q; want nothing to do (the damaged file waits for its retry)", s)
	}
	if n, err := act.Backlog(t.Context()); err != nil || n != 0 {
		t.Errorf("Backlog after the run = %d, %v; want 0", n, err)
	}
}

// TestLoudnessAnalysis_UnreadableFileFailsAloneAndBacksOff: a file that
// is there but cannot be stat'ed (a loop of symbolic links put in its
// place after its analysis) fails alone, and its failure is recorded with
// its retry, as a file ffmpeg cannot read: the next run leaves it to wait.
func TestLoudnessAnalysis_UnreadableFileFailsAloneAndBacksOff(t *testing.T) {
	needFFmpeg(t)
	music := t.TempDir()
	a, b := filepath.Join(music, "a.flac"), filepath.Join(music, "b.flac")
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=duration=1", a)
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=duration=1", b)
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, "", music)
	if items[a].AnalysisVersion == 0 || items[b].AnalysisVersion == 0 {
		t.Fatalf("analysis: %+v", items)
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(b, b); err != nil { // stat: too many levels of symbolic links
		t.Fatal(err)
	}
	act := &tasks.LoudnessAnalysis{Index: idx, Parallel: 1}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatalf("run: %v; want success (the unreadable file fails alone)", err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "measured 1 item, 1 failed, 0 skipped; the first failure: "+b+": cannot stat it: ") {
		t.Errorf("summary %q", s)
	}
	if o, _ := loudnessOf(t, idx, items[a].ID); o.Version != tasks.LoudnessVersion {
		t.Errorf("a.flac: %+v; want it measured", o)
	}
	if o, _ := loudnessOf(t, idx, items[b].ID); o.Failures != 1 || o.Version != 0 || !strings.Contains(o.Error, "cannot stat it") ||
		o.RetryAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("the unreadable file's output: %+v; want one failure, retried a day later", o)
	}
	r = newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if s := r.summary(); !strings.HasPrefix(s, "nothing to do") {
		t.Errorf("second run: summary %q; want nothing to do (the unreadable file waits for its retry)", s)
	}
}

// TestLoudnessAnalysis_KilledFFmpegIsNotTheFilesFault: an ffmpeg killed
// from outside (SIGKILL: the out-of-memory killer, a server's group guard)
// leaves its item skipped, with no failure recorded against the file, and
// the run goes on: it is not the file's fault, nor one that stops the run.
func TestLoudnessAnalysis_KilledFFmpegIsNotTheFilesFault(t *testing.T) {
	needFFmpeg(t)
	music := t.TempDir()
	a := filepath.Join(music, "a.flac")
	ffmpegMake(t, "-f", "lavfi", "-i", "sine=duration=1", a)
	idx := mediaIndex(t)
	items := scanAndAnalyse(t, idx, "", music)
	killed := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(killed, []byte("#!/bin/sh\nkill -9 $$\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	act := &tasks.LoudnessAnalysis{Index: idx, Parallel: 1,
		Analyzer: &loudness.Analyzer{FFmpeg: &mediatool.Tool{Program: killed, Nice: -1, IOClass: mediatool.IONone}}}
	r := newTestReporter(t)
	if err := act.Run(t.Context(), r); err != nil {
		t.Fatalf("run: %v; want it to go on past the killed program", err)
	}
	if s := r.summary(); !strings.Contains(s, "1 skipped") {
		t.Errorf("summary %q; want the item skipped", s)
	}
	if o, _ := loudnessOf(t, idx, items[a].ID); o.Failures != 0 || o.Version != 0 || !o.RetryAt.IsZero() {
		t.Errorf("the output after ffmpeg was killed: %+v; want nothing recorded against the file", o)
	}
}

// holder is an item task whose items wait for release: its item jobs hold
// the items while another task's run wants them.
type holder struct {
	items   []int64
	release chan struct{}
}

func (h *holder) Run(ctx context.Context, r butler.Reporter) error {
	q := r.(butler.ItemReporter).Items()
	if _, err := q.Add(ctx, h.items); err != nil {
		return err
	}
	for q.Pending() > 0 {
		if _, err := q.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (h *holder) RunItem(ctx context.Context, item int64, log *slog.Logger) butler.ItemResult {
	select {
	case <-h.release:
		return butler.ItemResult{Outcome: butler.ItemDone}
	case <-ctx.Done():
		return butler.ItemResult{Outcome: butler.ItemSkipped, Reason: "told to stop"}
	}
}

// TestLoudnessAnalysis_ItemsHeldByAnotherRun: while another task's run
// holds every item (its item jobs wait), LoudnessAnalysis queues them
// all, is told each is held, and queues them again once they are free:
// every item is measured in that run, none left skipped.
func TestLoudnessAnalysis_ItemsHeldByAnotherRun(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	for _, name := range []string{"a.flac", "b.flac", "c.flac"} {
		ffmpegMake(t, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", filepath.Join(root, name))
	}
	act := &tasks.LoudnessAnalysis{}
	h := &holder{release: make(chan struct{})}
	const holderTask butler.TaskName = "HoldItems"
	s := newServer(t, butler.TaskLoudnessAnalysis, act, 2, func(c *butler.Config) {
		c.Catalog = append(c.Catalog, butler.Task{Name: holderTask, Title: "Hold items", Interval: 1, EnabledDefault: true,
			Setting: butler.EnableSetting(holderTask), SettingLabel: "Hold items", TimeLimit: time.Hour, Action: h})
	})
	act.Index = s.db
	items := scanAndAnalyse(t, s.db, "", root)
	for _, it := range items {
		h.items = append(h.items, it.ID)
	}
	hr, err := s.m.StartTask(t.Context(), holderTask, true)
	if err != nil || hr.Outcome != butler.StartStarted {
		t.Fatalf("start the holder: %+v %v", hr, err)
	}
	// Every item's job is queued (two being worked, one waiting).
	deadline := time.Now().Add(30 * time.Second)
	for jobs := s.itemJobs(t); jobs["running"]+jobs["available"] < 3; jobs = s.itemJobs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("the holder's item jobs: %v", jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	lr, err := s.m.StartTask(t.Context(), butler.TaskLoudnessAnalysis, true)
	if err != nil || lr.Outcome != butler.StartStarted {
		t.Fatalf("start LoudnessAnalysis: %+v %v", lr, err)
	}
	// The loudness run's items are all held: it waits, running.
	for {
		r, err := s.m.Run(t.Context(), lr.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == butler.StateFinished {
			t.Fatalf("LoudnessAnalysis ended while its items were held: %s, %q", r.Outcome, r.Summary)
		}
		// Held items are requeued 200 ms after the feed at the earliest:
		// once the run has been going that long it has seen them held.
		if r.StartedAt.IsZero() || time.Since(r.StartedAt) < 300*time.Millisecond {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	close(h.release)
	if run := s.waitEnded(t, hr.Run.ID); run.Outcome != butler.OutcomeSucceeded {
		t.Fatalf("holder: %s %q", run.Outcome, run.Error)
	}
	run := s.waitEnded(t, lr.Run.ID)
	if run.Outcome != butler.OutcomeSucceeded || run.Summary != "measured 3 items, 0 failed, 0 skipped" {
		t.Fatalf("LoudnessAnalysis: %s, summary %q, error %q; want all 3 measured", run.Outcome, run.Summary, run.Error)
	}
	for p, it := range items {
		if o, d := loudnessOf(t, s.db, it.ID); o.Version != tasks.LoudnessVersion || len(d.Streams) != 1 {
			t.Errorf("%s: %+v", p, o)
		}
	}
}

// TestManagerStopEndsItemWork: a server's stop ends the item work its
// workers are doing (here two items of a run that would wait forever),
// and returns once it has ended, well before its deadline.
func TestManagerStopEndsItemWork(t *testing.T) {
	h := &holder{release: make(chan struct{}), items: []int64{1, 2, 3}}
	const holderTask butler.TaskName = "HoldItems"
	s := newServer(t, holderTask, h, 2)
	res, err := s.m.StartTask(t.Context(), holderTask, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.itemJobs(t)["running"] < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("item jobs: %v; want two running", s.itemJobs(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.m.Stop(ctx); err != nil {
		t.Fatalf("Stop with item work going: %v; want the item work ended and Stop done", err)
	}
}

// TestRunCarriesSettingsAndAnnouncements: actions get what they need of
// the server through their run, not through wiring: CheckForUpdates
// announces a newer version on the server's event stream, and
// BackupDatabase writes into the backup directory setting as it is when
// the run starts (changed after the server started).
func TestRunCarriesSettingsAndAnnouncements(t *testing.T) {
	check := &tasks.CheckForUpdates{FeedURL: feedServer(t, http.StatusOK, `{"version":"9.0.0","notes_url":"https://example.invalid/9"}`), Current: "1.0.0"}
	s := newServer(t, butler.TaskCheckForUpdates, check, 1)
	sub := s.m.Subscribe()
	defer sub.Close()
	res, err := s.m.StartTask(t.Context(), butler.TaskCheckForUpdates, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	if run := s.waitEnded(t, res.Run.ID); run.Outcome != butler.OutcomeSucceeded {
		t.Fatalf("CheckForUpdates: %s %q", run.Outcome, run.Error)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("no update announced: %v", err)
		}
		if ev.Type == butler.EventUpdate {
			if ev.Update.Version != "9.0.0" || ev.Update.NotesURL != "https://example.invalid/9" {
				t.Errorf("announced %+v", ev.Update)
			}
			break
		}
	}

	src := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := &tasks.BackupDatabase{Source: src, Subdir: "app"}
	s = newServer(t, butler.TaskBackupDatabase, backup, 1)
	dir := t.TempDir()
	if err := s.m.SetSettings(t.Context(), map[string]string{butler.SettingBackupPath: dir}); err != nil {
		t.Fatal(err)
	}
	res, err = s.m.StartTask(t.Context(), butler.TaskBackupDatabase, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	if run := s.waitEnded(t, res.Run.ID); run.Outcome != butler.OutcomeSucceeded {
		t.Fatalf("BackupDatabase: %s %q", run.Outcome, run.Error)
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "app", "app-*.db")); len(got) != 1 {
		t.Errorf("backups in %s/app: %v; want one", dir, got)
	}
}

// damageInPlace overwrites the file at path with as many bytes of
// nonsense and gives it back its modification time: the index, which
// goes by size and time, sees the same file.
func damageInPlace(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", int(fi.Size()))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}
