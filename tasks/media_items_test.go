package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/busyprobe"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// itemServer is one server's real stack on a SQLite file (River, a
// Manager) offering one media-analysis task, with itemWorkers item
// workers.
type itemServer struct {
	db *sqlite.DB
	m  *butler.Manager
}

func newItemServer(t testing.TB, action butler.Action, itemWorkers int, opts ...func(*butler.Config)) *itemServer {
	t.Helper()
	return newServer(t, butler.TaskDeepMediaAnalysis, action, itemWorkers, opts...)
}

// newServer is newItemServer for a task of any name.
func newServer(t testing.TB, name butler.TaskName, action butler.Action, itemWorkers int, opts ...func(*butler.Config)) *itemServer {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The window twelve hours away: the tests start their runs themselves.
	h := time.Now().UTC().Hour()
	if err := db.SaveSettings(ctx, map[string]string{butler.SettingTimeZone: "UTC",
		butler.SettingStartHour: strconv.Itoa((h + 12) % 24), butler.SettingEndHour: strconv.Itoa((h + 13) % 24)}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "test", ItemWorkers: itemWorkers, ItemPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	catalog := []butler.Task{{Name: name, Title: string(name), Interval: 1, EnabledDefault: true,
		Setting: butler.EnableSetting(name), SettingLabel: string(name), TimeLimit: time.Hour, Action: action}}
	cfg := butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC",
		DataDir: t.TempDir(), HealthProbeEvery: -1, StopWait: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := butler.NewManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx, m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Stop(ctx) })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a stop that hangs fails the test rather than the package.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := m.Stop(sctx); err != nil {
			t.Errorf("stop the manager: %v", err)
		}
	})
	return &itemServer{db: db, m: m}
}

// waitEnded waits for run id to finish and returns it.
func (s *itemServer) waitEnded(t testing.TB, id int64) butler.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.m.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == butler.StateFinished {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d still %s after 30 s", id, r.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// planItems returns the plan's item work of DeepMediaAnalysis.
func (s *itemServer) planItems(t *testing.T) *butler.PlanItems {
	t.Helper()
	return s.planItemsOf(t, butler.TaskDeepMediaAnalysis)
}

// planItemsOf returns the plan's item work of task.
func (s *itemServer) planItemsOf(t *testing.T, task butler.TaskName) *butler.PlanItems {
	t.Helper()
	p, err := s.m.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Tasks {
		if e.Task == task {
			return e.Items
		}
	}
	t.Fatalf("%s is not in the plan", task)
	return nil
}

// itemJobs counts the item jobs of River's table by state.
func (s *itemServer) itemJobs(t *testing.T) map[string]int {
	t.Helper()
	rows, err := s.db.SQL().Query(`SELECT state, count(*) FROM river_job WHERE kind = 'butler_item' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			t.Fatal(err)
		}
		got[state] = n
	}
	return got
}

// settledItemJobs is itemJobs once no item job is running, or after 10 s.
func (s *itemServer) settledItemJobs(t *testing.T) map[string]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs := s.itemJobs(t)
		if jobs["running"] == 0 || time.Now().After(deadline) {
			return jobs
		}
		time.Sleep(10 * time.Millisecond) // River's completer records them in batches
	}
}

func TestDeepMediaAnalysis_ItemJobsThroughTheServer(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", filepath.Join(root, "good.mkv"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	touch(t, root, "empty.mkv", 0)
	os.WriteFile(filepath.Join(root, "text.mkv"), []byte("not a film\n"), 0o644)

	act := &tasks.DeepMediaAnalysis{Parallel: 2}
	s := newItemServer(t, act, 2)
	act.Index = s.db
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: s.db, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if items := s.planItems(t); items == nil || items.Left != 3 || items.Estimate != 0 {
		t.Errorf("plan before any run: items %+v; want 3 left, no estimate (nothing measured)", items)
	}
	res, err := s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	run := s.waitEnded(t, res.Run.ID)
	// The two broken files wait for their retry: nothing is left tonight.
	if items := s.planItems(t); items == nil || items.Left != 0 {
		t.Errorf("plan after the run: items %+v; want 0 left", items)
	}
	if run.Outcome != butler.OutcomeSucceeded || !strings.HasPrefix(run.Summary, "analysed 1 item, 2 failed, 0 skipped; the first failure: analyse ") {
		t.Fatalf("run: %s, summary %q, error %q; want succeeded, 1 analysed, 2 failed", run.Outcome, run.Summary, run.Error)
	}
	// The run learns of each item's end from its worker; River records the
	// jobs' ends in batches, within 250 ms.
	if jobs := s.settledItemJobs(t); jobs["completed"] != 3 || len(jobs) != 1 {
		t.Errorf("item jobs by state: %v; want the 3 items, completed", jobs)
	}
	items := libraryItems(t, s.db, "L")
	if it := items[filepath.Join(root, "good.mkv")]; it.AnalysisVersion != mediaprobe.Version {
		t.Errorf("good.mkv: analysis version %d; want %d", it.AnalysisVersion, mediaprobe.Version)
	}
	if it := items[filepath.Join(root, "text.mkv")]; it.AnalysisFailures != 1 {
		t.Errorf("text.mkv: %d failures; want 1", it.AnalysisFailures)
	}
}

// newHeldProbeServer returns a server with 2 item workers whose
// DeepMediaAnalysis runs an "ffprobe" that records its pid as a file in
// pids and then waits for ever, over a scanned library of 6 files.
func newHeldProbeServer(tb testing.TB) (s *itemServer, pids string) {
	tb.Helper()
	root, pids := tb.TempDir(), tb.TempDir()
	for i := range 6 {
		touch(tb, root, "film"+strconv.Itoa(i)+".mkv", 10)
	}
	probe := filepath.Join(tb.TempDir(), "ffprobe")
	script := "#!/bin/sh\necho $$ > " + pids + "/$$\nexec sleep 600\n"
	if err := os.WriteFile(probe, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	act := &tasks.DeepMediaAnalysis{Parallel: 2, Prober: &mediaprobe.Prober{FFprobe: probe, Nice: -1, Timeout: time.Hour}}
	s = newItemServer(tb, act, 2)
	act.Index = s.db
	lib := butler.Library{Name: "L", Kind: butler.LibraryMovies, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: s.db, Libraries: []butler.Library{lib}}).Run(tb.Context(), newTestReporter(tb)); err != nil {
		tb.Fatal(err)
	}
	return s, pids
}

// TestDeepMediaAnalysis_StopEndsTheItemsBeingWorked holds the processes to
// account: an "ffprobe" that records its pid and then waits forever is
// being run for two items when the run is stopped; the run must end
// stopped only once both are dead, and start no other.
func TestDeepMediaAnalysis_StopEndsTheItemsBeingWorked(t *testing.T) {
	s, pids := newHeldProbeServer(t)
	res, err := s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	started := func() []int {
		entries, _ := os.ReadDir(pids)
		var out []int
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				out = append(out, pid)
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(started()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d probes started in 30 s; want 2 (two item workers)", len(started()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.m.StopTask(t.Context(), butler.TaskDeepMediaAnalysis); err != nil {
		t.Fatal(err)
	}
	run := s.waitEnded(t, res.Run.ID)
	if run.Outcome != butler.OutcomeStopped {
		t.Errorf("run after the stop: %s (%s); want stopped", run.Outcome, run.Reason)
	}
	probes := started()
	if len(probes) != 2 {
		t.Errorf("%d probes were started; want the 2 working when the run was stopped", len(probes))
	}
	for _, pid := range probes {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("probe %d outlived its stopped run (kill 0: %v)", pid, err)
		}
	}
	for path, it := range libraryItems(t, s.db, "L") {
		if it.AnalysisVersion != 0 || it.AnalysisFailures != 0 {
			t.Errorf("%s after a stop: version %d, %d failures; want untouched", path, it.AnalysisVersion, it.AnalysisFailures)
		}
	}
	// The run hears of its items' ends from their workers; River records
	// them within 250 ms.
	if jobs := s.settledItemJobs(t); jobs["running"]+jobs["available"] != 0 {
		t.Errorf("item jobs by state after the stop: %v; want none left to work", jobs)
	}
}

// TestDeepMediaAnalysis_ResumesWhereAStoppedRunLeftOff: a run stopped
// while its fourth item is being analysed leaves the first three analysed;
// the next run analyses the other three and no item twice. The probes'
// own log is the truth of what was analysed.
func TestDeepMediaAnalysis_ResumesWhereAStoppedRunLeftOff(t *testing.T) {
	needFFmpeg(t)
	root, dir := t.TempDir(), t.TempDir()
	sample := filepath.Join(dir, "sample.mkv")
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", sample)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := os.WriteFile(filepath.Join(root, "film"+strconv.Itoa(i)+".mka"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The probe logs the file it is given, and hangs on film3 while the
	// file "hold" exists.
	log, hold := filepath.Join(dir, "probes.log"), filepath.Join(dir, "hold")
	real, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "ffprobe")
	script := `#!/bin/sh
for f; do :; done
echo "$f" >> ` + log + `
case "$f" in *film3*) [ -e ` + hold + ` ] && exec sleep 600;; esac
exec ` + real + ` "$@"
`
	if err := os.WriteFile(probe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	act := &tasks.DeepMediaAnalysis{Parallel: 1, Prober: &mediaprobe.Prober{FFprobe: probe, Nice: -1}}
	s := newItemServer(t, act, 1)
	act.Index = s.db
	lib := butler.Library{Name: "L", Kind: butler.LibraryMusic, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: s.db, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	probed := func() []string {
		b, _ := os.ReadFile(log)
		var names []string
		for _, l := range strings.Fields(string(b)) {
			names = append(names, filepath.Base(l))
		}
		return names
	}

	res, err := s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(strings.Join(probed(), " "), "film3") {
		if time.Now().After(deadline) {
			t.Fatalf("film3 not probed in 30 s; probed %v", probed())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.m.StopTask(t.Context(), butler.TaskDeepMediaAnalysis); err != nil {
		t.Fatal(err)
	}
	first := s.waitEnded(t, res.Run.ID)
	// Three left, at the measured pace of the stopped run, once River has
	// recorded its item jobs (within 250 ms of their ends).
	items := s.planItems(t)
	for deadline := time.Now().Add(10 * time.Second); items != nil && items.Estimate <= 0 && time.Now().Before(deadline); items = s.planItems(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if items == nil || items.Left != 3 || items.Estimate <= 0 {
		t.Errorf("plan after the stopped run: items %+v; want 3 left and an estimate", items)
	}
	if first.Outcome != butler.OutcomeStopped || !strings.HasPrefix(first.Summary, "analysed 3 items, 0 failed") {
		t.Fatalf("first run: %s, summary %q; want stopped after 3 items", first.Outcome, first.Summary)
	}
	if got := strings.Join(probed(), " "); got != "film0.mka film1.mka film2.mka film3.mka" {
		t.Fatalf("first run probed %q; want film0..film3 in order", got)
	}

	os.Remove(hold)
	res, err = s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("second start: %+v %v", res, err)
	}
	second := s.waitEnded(t, res.Run.ID)
	if second.Outcome != butler.OutcomeSucceeded || !strings.HasPrefix(second.Summary, "analysed 3 items, 0 failed, 0 skipped") {
		t.Fatalf("second run: %s, summary %q; want the other 3 analysed", second.Outcome, second.Summary)
	}
	// In any order: film3's job, whose work the stop ended, may still be
	// running in River's record when the second run queues it (it is
	// queued again shortly, as a held item).
	second3 := slices.Clone(probed()[4:])
	slices.Sort(second3)
	if got := strings.Join(second3, " "); got != "film3.mka film4.mka film5.mka" {
		t.Errorf("second run probed %q; want only film3, film4 and film5", got)
	}
	for path, it := range libraryItems(t, s.db, "L") {
		if it.AnalysisVersion != mediaprobe.Version {
			t.Errorf("%s: analysis version %d after both runs; want %d", path, it.AnalysisVersion, mediaprobe.Version)
		}
	}
}

// pauseFixture is a server analysing three songs with a probe that logs
// each file it is run on (after waiting for wait, when it is not ""),
// whose busy probe asks a Plex sessions endpoint served by the test.
type pauseFixture struct {
	s        *itemServer
	sessions atomic.Int32 // what the endpoint answers
	toldBusy atomic.Int32 // how often it answered someone is watching
	log      string
}

func newPauseFixture(t *testing.T, wait string) *pauseFixture {
	t.Helper()
	needFFmpeg(t)
	f := &pauseFixture{}
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status/sessions" || r.Header.Get("X-Plex-Token") != "plex-token" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		n := f.sessions.Load()
		if n > 0 {
			f.toldBusy.Add(1)
		}
		fmt.Fprintf(w, `{"MediaContainer":{"size":%d}}`, n)
	}))
	t.Cleanup(plex.Close)

	root, dir := t.TempDir(), t.TempDir()
	sample := filepath.Join(dir, "sample.mka")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", sample).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(sample)
	for i := range 3 {
		os.WriteFile(filepath.Join(root, "song"+strconv.Itoa(i)+".mka"), data, 0o644)
	}
	f.log = filepath.Join(dir, "probes.log")
	real, _ := exec.LookPath("ffprobe")
	probe := filepath.Join(dir, "ffprobe")
	script := "#!/bin/sh\nfor f; do :; done\necho \"$f\" >> " + f.log + "\n"
	if wait != "" {
		script += "while [ ! -e " + wait + " ]; do sleep 0.01; done\n"
	}
	os.WriteFile(probe, []byte(script+"exec "+real+" \"$@\"\n"), 0o755)

	act := &tasks.DeepMediaAnalysis{Parallel: 1, Prober: &mediaprobe.Prober{FFprobe: probe, Nice: -1}}
	f.s = newItemServer(t, act, 1, func(c *butler.Config) {
		c.Busy = &busyprobe.Plex{URL: plex.URL, Token: "plex-token"}
		c.BusyEvery = 20 * time.Millisecond
	})
	act.Index = f.s.db
	lib := butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{root}}
	if err := (&tasks.RefreshLibraries{Index: f.s.db, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	return f
}

// probed counts the files the probe was run on.
func (f *pauseFixture) probed() int {
	b, _ := os.ReadFile(f.log)
	return len(strings.Fields(string(b)))
}

// waitPaused waits until the run's activity shows it paused for Plex.
func (f *pauseFixture) waitPaused(t *testing.T, deadline time.Time) {
	t.Helper()
	for {
		acts, err := f.s.m.Activities(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) == 1 && acts[0].Paused == "Plex: 1 session playing" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("activities %+v; want the run paused for Plex's session", acts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeepMediaAnalysis_PausesWhileSomeoneIsWatching: with a Plex server
// (a sessions endpoint served by the test) playing something, a run
// starts no analysis and shows itself paused, with the reason, in its
// activity and the plan; once nobody watches it goes on and does every
// item. The probe's own log is the truth of what was analysed when.
func TestDeepMediaAnalysis_PausesWhileSomeoneIsWatching(t *testing.T) {
	f := newPauseFixture(t, "")
	f.sessions.Store(1)
	s := f.s
	res, err := s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	f.waitPaused(t, time.Now().Add(30*time.Second))
	p, err := s.m.Plan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Tasks {
		if e.Task == butler.TaskDeepMediaAnalysis && !strings.HasPrefix(e.Reason, "paused while Plex: 1 session playing; running since") {
			t.Errorf("plan while paused: %s, %q; want paused with the reason", e.Decision, e.Reason)
		}
	}
	if n := f.probed(); n != 0 {
		t.Fatalf("%d files analysed while someone was watching; want none", n)
	}
	f.sessions.Store(0)
	run := s.waitEnded(t, res.Run.ID)
	if run.Outcome != butler.OutcomeSucceeded || !strings.HasPrefix(run.Summary, "analysed 3 items, 0 failed, 0 skipped") {
		t.Errorf("run: %s, %q; want all 3 analysed once nobody watched", run.Outcome, run.Summary)
	}
	if n := f.probed(); n != 3 {
		t.Errorf("%d files analysed; want 3", n)
	}
}

// TestExec_OutputInTheRunsLogAsItComes: a command's output is in its
// run's log while it runs (the dashboard's run page follows it), and once
// only when it has ended.
func TestExec_OutputInTheRunsLogAsItComes(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	script := filepath.Join(dir, "two-lines.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho first line\nwhile [ ! -e "+release+" ]; do sleep 0.01; done\nprintf 'second line'\n"), 0o755)
	s := newServer(t, "TwoLines", &tasks.Exec{Argv: []string{script}}, 1)
	res, err := s.m.StartTask(t.Context(), "TwoLines", true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, err := s.m.RunLog(t.Context(), res.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "---- output ----\nfirst line\n") {
			if strings.Contains(text, "second") {
				t.Fatalf("log while waiting: %q", text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first line is not in the running run's log after 30 s: %q", text)
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.WriteFile(release, nil, 0o644)
	run := s.waitEnded(t, res.Run.ID)
	text, err := s.m.RunLog(t.Context(), run.ID)
	if err != nil || run.Outcome != butler.OutcomeSucceeded {
		t.Fatalf("run %s, log %v", run.Outcome, err)
	}
	if strings.Count(text, "---- output ----") != 1 || !strings.Contains(text, "---- output ----\nfirst line\nsecond line\n") {
		t.Errorf("log of the ended run: %q; want the output once, its last line ended", text)
	}
}

// startAndPause starts DeepMediaAnalysis and, once one item is being
// analysed and the others are queued, has someone start watching; once
// Butler has been told so, the probe being run (held on release) may end,
// and the run shows itself paused. It returns the start. (The waits keep
// to a deadline: they wait on the probe programs and the server.)
func (f *pauseFixture) startAndPause(t *testing.T, release string) butler.StartResult {
	t.Helper()
	res, err := f.s.m.StartTask(t.Context(), butler.TaskDeepMediaAnalysis, true)
	if err != nil || res.Outcome != butler.StartStarted {
		t.Fatalf("start: %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.probed() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no file analysed after 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.sessions.Store(1)
	for f.toldBusy.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Butler did not ask the sessions endpoint while its run waited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.WriteFile(release, nil, 0o644)
	f.waitPaused(t, deadline)
	return res
}

// TestDeepMediaAnalysis_PausesMidRun: someone starts watching while the
// run's items are queued and one is being analysed (the run waits for
// results, its feed done): the item being worked ends, no other starts,
// and the run shows itself paused until nobody watches; then every item
// is analysed. The probe's own log is the truth.
func TestDeepMediaAnalysis_PausesMidRun(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	f := newPauseFixture(t, release)
	s := f.s
	res := f.startAndPause(t, release)
	if n := f.probed(); n != 1 {
		t.Fatalf("%d files started while someone was watching; want only the one already being analysed", n)
	}
	f.sessions.Store(0)
	run := s.waitEnded(t, res.Run.ID)
	if run.Outcome != butler.OutcomeSucceeded || !strings.HasPrefix(run.Summary, "analysed 3 items, 0 failed, 0 skipped") {
		t.Errorf("run: %s, %q; want all 3 analysed once nobody watched", run.Outcome, run.Summary)
	}
	if n := f.probed(); n != 3 {
		t.Errorf("%d files analysed; want 3", n)
	}
}

// TestDeepMediaAnalysis_PaceLeavesOutPauses: the pace a run records, and
// the plan estimates the items left from, leaves out the time its item
// workers waited while someone watched. A run of 3 songs paused for
// watch records a pace of their work alone (an item was being probed when
// the watching began: its probe waited for Butler to be told, ~1 s of
// work); the plan's estimate of 30 new songs is less than the pause alone
// would make it (watch for every 3 songs), which it was by far when the
// pace was the run's whole time.
func TestDeepMediaAnalysis_PaceLeavesOutPauses(t *testing.T) {
	const watch = 4 * time.Second
	release := filepath.Join(t.TempDir(), "release")
	f := newPauseFixture(t, release)
	s := f.s
	res := f.startAndPause(t, release)
	time.Sleep(watch) // someone watches for a while: the pause measured
	f.sessions.Store(0)
	if run := s.waitEnded(t, res.Run.ID); run.Outcome != butler.OutcomeSucceeded {
		t.Fatalf("run: %s, %q", run.Outcome, run.Summary)
	}
	recs, err := s.db.TaskRecords(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := recs[butler.TaskDeepMediaAnalysis].ItemPace
	if p.Items != 3 || p.Wall <= 0 || p.Wall >= watch {
		t.Errorf("recorded pace %+v; want 3 songs in less than the %s paused", p, watch)
	}

	// 30 more songs, scanned.
	var song butler.MediaItem
	for _, it := range libraryItems(t, s.db, "Music") {
		song = it
	}
	data, err := os.ReadFile(song.Path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(song.Path)
	for i := range 30 {
		os.WriteFile(filepath.Join(dir, "more"+strconv.Itoa(i)+".mka"), data, 0o644)
	}
	lib := butler.Library{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{dir}}
	if err := (&tasks.RefreshLibraries{Index: s.db, Libraries: []butler.Library{lib}}).Run(t.Context(), newTestReporter(t)); err != nil {
		t.Fatal(err)
	}
	if items := s.planItems(t); items == nil || items.Left != 30 || items.Estimate <= 0 || items.Estimate >= 30*watch/3 {
		t.Errorf("plan: %+v; want 30 left, estimated below the %s the pause alone would make it", items, 30*watch/3)
	}
}
