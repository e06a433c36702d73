package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
	"github.com/plexbutler/butler/client/clienttest"
)

// sdk returns a client of the test server, for the test's own moves.
func sdk(t *testing.T, s *clienttest.Server) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, client.WithToken(s.Token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFinished waits until the run is finished.
func waitFinished(t *testing.T, s *clienttest.Server, id int64) *apitype.Run {
	t.Helper()
	c := sdk(t, s)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == "finished" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not finish: %+v", id, r)
		}
		time.Sleep(10 * time.Millisecond) // waits on the worker's store write
	}
}

func TestCLITasksHistoryPlan(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	tr.run(0, "tasks")

	tr.run(0, "start", "BackupDatabase")
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	tr.run(0, "tasks")
	tr.run(0, "history")
	s.Action(butler.TaskBackupDatabase).Finish(t, nil)
	waitFinished(t, s, 1)

	tr.run(0, "start", "OptimizeDatabase", "--now")
	s.Action(butler.TaskOptimizeDatabase).WaitStarted(t)
	s.Action(butler.TaskOptimizeDatabase).Finish(t, clienttest.ErrTaskFailed)
	waitFinished(t, s, 2)
	// Not due: recorded as skipped; the task's last run stays the success.
	tr.run(0, "start", "BackupDatabase")

	tr.run(0, "tasks")
	tr.run(0, "tasks", "--output", "json")
	tr.run(0, "history")
	tr.run(0, "history", "BackupDatabase", "--limit", "1")
	tr.run(0, "history", "--outcome", "failed")
	tr.run(0, "history", "-n", "1", "-o", "json")
	tr.run(1, "history", "NoSuchTask")
	tr.run(1, "history", "BackupDatabse")
	tr.run(1, "history", "RefreshLibraries") // known, but no action here
	tr.run(0, "history", "CleanOldCacheFiles")
	tr.run(0, "history", "CleanOldCacheFiles", "-o", "json")
	tr.run(0, "plan")
	tr.run(0, "plan", "-o", "json")
	tr.check("tasks_history_plan")
}

// TestCLITasksLastRunOlderThanThePage: a task's last run is the newest that
// ran even when skipped runs push it out of the newest page of runs: of
// every task (BackupDatabase), or of the task itself (RefreshLocalMedia).
func TestCLITasksLastRunOlderThanThePage(t *testing.T) {
	// The window is open, and the tasks disabled for the schedule so that
	// the planner leaves them to the test's starts.
	s := clienttest.New(t, clienttest.Config{
		WindowOpen: true,
		Tasks:      []butler.TaskName{butler.TaskBackupDatabase, butler.TaskRefreshLocalMedia},
		Settings:   map[string]string{"ButlerTaskBackupDatabase": "false", "ButlerTaskRefreshLocalMedia": "false"},
	})
	c := sdk(t, s)
	ctx := context.Background()
	want := map[client.TaskName]string{client.TaskBackupDatabase: "succeeded", client.TaskRefreshLocalMedia: "failed"}
	ran := map[client.TaskName]int64{}
	for task, outcome := range want {
		res, err := c.StartTask(ctx, task, client.Force())
		if err != nil || res.Outcome != client.OutcomeStarted {
			t.Fatalf("start %s: %+v %v", task, res, err)
		}
		a := s.Action(butler.TaskName(task))
		a.WaitStarted(t)
		if outcome == "failed" {
			a.Finish(t, clienttest.ErrTaskFailed)
		} else {
			a.Finish(t, nil)
		}
		if r := waitFinished(t, s, res.RunID); r.Outcome != outcome {
			t.Fatalf("run %+v", r)
		}
		ran[task] = res.RunID
	}
	// A failed randomized task is still due: a start in the open window
	// schedules a run, and a stop removes it (a skipped run). A page of
	// them, and then a start of BackupDatabase, which is not due (skipped).
	for i := 0; i < historyPage; i++ {
		r, err := c.StartTask(ctx, client.TaskRefreshLocalMedia)
		if err != nil || r.Outcome != client.OutcomeScheduled {
			t.Fatalf("start %d: %+v %v", i, r, err)
		}
		if st, err := c.StopTask(ctx, client.TaskRefreshLocalMedia); err != nil || st.Outcome != client.OutcomeRemoved {
			t.Fatalf("stop %d: %+v %v", i, st, err)
		}
	}
	if r, err := c.StartTask(ctx, client.TaskBackupDatabase); err != nil || r.Outcome != client.OutcomeSkipped {
		t.Fatalf("start: %+v %v", r, err)
	}
	code, stdout, stderr := runCmd(t, cliEnv(s), "tasks", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rows []taskRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, r := range rows {
		task := client.TaskName(r.Name)
		if id, ok := ran[task]; ok {
			found++
			if r.LastRun == nil || r.LastRun.ID != id || r.LastRun.Outcome != want[task] {
				t.Errorf("%s's last run: %+v, want run %d, %s", r.Name, r.LastRun, id, want[task])
			}
		}
	}
	if found != len(ran) {
		t.Fatalf("%d of the tasks listed, want %d:\n%s", found, len(ran), stdout)
	}
}

func TestCLIStartStop(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	tr.run(0, "start", "BackupDatabase")
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	tr.run(0, "start", "BackupDatabase")
	tr.run(0, "start", "BackupDatabase", "-o", "json")
	tr.run(0, "stop", "BackupDatabase", "-o", "json")
	tr.run(1, "stop", "BackupDatabase")
	// Disabled in the settings: started all the same, saying so.
	tr.run(0, "start", "CleanOldCacheFiles")
	s.Action(butler.TaskCleanOldCacheFiles).WaitStarted(t)
	tr.run(0, "start", "CleanOldCacheFiles", "--now")
	tr.run(1, "start", "NoSuchTask")
	tr.run(1, "start", "BakupDatabase")
	tr.run(1, "start", "refreshlocalmedia")
	tr.run(1, "start", "RefreshLibrary") // near a known name this server binds no action to
	tr.run(1, "stop", "NoSuchTask")
	tr.run(1, "stop", "OptimiseDatabase")
	tr.run(1, "start", "RefreshLibraries")
	tr.run(1, "start", "RefreshLibraries", "--wait")
	tr.run(1, "stop", "RefreshLibraries")
	tr.run(0, "stop", "CleanOldCacheFiles")
	tr.run(0, "stop", "--all") // nothing to stop: it says so

	// Start-all queues the three enabled tasks; one slot: BackupDatabase
	// runs, the others wait.
	tr.run(0, "start", "--all")
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	tr.run(0, "tasks")
	tr.run(0, "stop", "OptimizeDatabase")
	tr.run(0, "stop", "--all")
	tr.run(0, "history")
	tr.check("start_stop")
}

// TestCLIStartStopAllJSON: `start --all -o json` prints the answer's status;
// `stop --all -o json` also says which runs it stopped and removed.
func TestCLIStartStopAllJSON(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	env := cliEnv(s)
	stopAll := func() stopAllResult {
		t.Helper()
		code, stdout, stderr := runCmd(t, env, "stop", "--all", "-o", "json")
		var r stopAllResult
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || !strings.Contains(stdout, `"status": 200`) {
			t.Fatalf("stop --all: exit %d\n%s%s", code, stdout, stderr)
		}
		return r
	}
	if r := stopAll(); r.Stopped == nil || r.Removed == nil || len(r.Stopped)+len(r.Removed) != 0 {
		t.Fatalf("stop --all of nothing: %+v, want empty lists", r)
	}
	code, stdout, stderr := runCmd(t, env, "start", "--all", "-o", "json")
	if code != 0 || strings.Join(strings.Fields(stdout), " ") != `{ "status": 200 }` {
		t.Fatalf("start --all: exit %d\n%s%s", code, stdout, stderr)
	}
	// One slot: BackupDatabase runs, the other enabled tasks wait.
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	r := stopAll()
	slices.Sort(r.Removed)
	if !slices.Equal(r.Stopped, []string{"BackupDatabase"}) || !slices.Equal(r.Removed, []string{"OptimizeDatabase", "RefreshLocalMedia"}) {
		t.Fatalf("stop --all: %+v", r)
	}
}

func TestCLIStartWait(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	env := cliEnv(s)
	optimize := s.Action(butler.TaskOptimizeDatabase)

	follow := func(wantCode int, a *clienttest.Action, err error, stop bool, args ...string) {
		t.Helper()
		b := runBackground(t, env, args...)
		a.WaitStarted(t)
		if !strings.Contains(strings.Join(args, " "), "json") {
			b.waitOut(t, b.stdout, `10% working`)
		}
		if stop {
			if _, err := sdk(t, s).StopTask(context.Background(), client.TaskBackupDatabase); err != nil {
				t.Fatal(err)
			}
		} else {
			a.Finish(t, err)
		}
		code := b.wait(t)
		tr.record(args, code, b.stdout.String(), b.stderr.String())
		if code != wantCode {
			t.Fatalf("butler %v: exit code %d, want %d\n%s%s", args, code, wantCode, b.stdout, b.stderr)
		}
	}
	follow(0, optimize, nil, false, "start", "OptimizeDatabase", "--wait")
	follow(1, optimize, clienttest.ErrTaskFailed, false, "start", "OptimizeDatabase", "--now", "--wait")
	follow(0, s.Action(butler.TaskBackupDatabase), nil, false, "start", "BackupDatabase", "--wait", "-o", "json")
	follow(1, s.Action(butler.TaskBackupDatabase), nil, true, "start", "BackupDatabase", "--now", "--wait")
	// OptimizeDatabase succeeded above: not due, nothing to wait for.
	tr.run(1, "start", "OptimizeDatabase", "--wait")
	tr.run(2, "start", "--all", "--wait")
	tr.check("start_wait")
}

// TestCLIStartWaitPolling: a run that never starts has no events; polling
// sees it end (here, removed by a stop).
func TestCLIStartWaitPolling(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Tasks: []butler.TaskName{butler.TaskBackupDatabase, butler.TaskOptimizeDatabase}})
	c := sdk(t, s)
	ctx := context.Background()
	if _, err := c.StartAllTasks(ctx); err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t) // OptimizeDatabase waits for the slot
	b := runBackground(t, cliEnv(s), "start", "OptimizeDatabase", "--wait")
	b.waitOut(t, b.stdout, `waiting for run 2 to start`)
	if _, err := c.StopTask(ctx, client.TaskOptimizeDatabase); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", code, b.stdout, b.stderr)
	}
	tr := newTranscript(t, s)
	tr.record([]string{"start", "OptimizeDatabase", "--wait"}, b.code, b.stdout.String(), b.stderr.String())
	tr.check("start_wait_polling")
}

// TestCLIFixedSettings: the list marks a setting the server's config file
// fixes, with its built-in default beside it; a change of it is refused,
// naming the file.
func TestCLIFixedSettings(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Fixed: map[string]string{butler.SettingStartHour: "1"}})
	env := cliEnv(s)
	code, stdout, stderr := runCmd(t, env, "settings")
	if code != 0 {
		t.Fatalf("settings: exit %d\n%s%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`(?m)^ButlerStartHour +1 \(fixed\) +2 `).MatchString(stdout) {
		t.Errorf("the fixed setting's line; want its value 1 marked fixed and the default 2:\n%s", stdout)
	}
	if regexp.MustCompile(`(?m)^ButlerEndHour .*\(fixed\)`).MatchString(stdout) {
		t.Errorf("a setting the file leaves alone is marked fixed:\n%s", stdout)
	}
	code, stdout, stderr = runCmd(t, env, "settings", "set", "ButlerStartHour=3")
	if code != 1 || !strings.Contains(stderr, "ButlerStartHour is fixed to \"1\" by the config file /etc/butler/butler.yaml") {
		t.Errorf("set of a fixed setting: exit %d\n%s%s; want 1 naming the file", code, stdout, stderr)
	}
}

func TestCLISettings(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Settings: map[string]string{butler.SettingStartHour: "2", butler.SettingEndHour: "5"}})
	tr := newTranscript(t, s)
	tr.collapse = true // the backup path's column is as wide as the data directory's name
	tr.run(0, "settings")
	tr.run(0, "settings", "get", "ButlerStartHour")
	tr.run(0, "settings", "get", "ButlerTaskBackupDatabase", "-o", "json")
	tr.run(1, "settings", "get", "Nope")
	tr.run(0, "settings", "set", "ButlerStartHour=3", "ButlerTaskCleanOldCacheFiles=1")
	tr.run(0, "settings", "get", "ButlerStartHour")
	tr.run(1, "settings", "set", "ButlerStartHour=4", "ButlerEndHour=99")
	tr.run(1, "settings", "set", "NoSuchSetting=1")
	tr.run(0, "settings", "get", "ButlerStartHour")
	tr.run(2, "settings", "set", "ButlerStartHour")
	tr.run(2, "settings", "set", "ButlerStartHour=1", "ButlerStartHour=2")
	tr.run(2, "settings", "get")
	tr.run(0, "settings")
	tr.check("settings")
}

func TestCLIActivities(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	tr.run(0, "activities")
	tr.run(0, "activities", "-o", "json")
	if _, err := sdk(t, s).StartTask(context.Background(), client.TaskBackupDatabase); err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	tr.run(0, "activities")
	out, _ := tr.run(0, "activities", "-o", "json")
	var list []apitype.Activity
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("activities JSON %q: %v", out, err)
	}
	// Not an activity id: nothing is sent.
	tr.run(2, "activities", "cancel", "not-a-uuid")
	tr.run(2, "activities", "cancel", "0b7c5a8e5d0e4c1a9f1e3f4b2a1c9d7e")
	tr.run(0, "activities", "cancel", list[0].UUID)
	tr.run(1, "activities", "cancel", list[0].UUID)
	tr.run(0, "activities")
	tr.check("activities")
}

func TestCLIWatch(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	c := sdk(t, s)
	for i, args := range [][]string{{"watch"}, {"watch", "-o", "json"}} {
		b := runBackground(t, cliEnv(s), args...)
		b.waitOut(t, b.stderr, `watching the runs of`)
		if _, err := c.StartTask(context.Background(), client.TaskOptimizeDatabase, client.Force()); err != nil {
			t.Fatal(err)
		}
		a := s.Action(butler.TaskOptimizeDatabase)
		a.WaitStarted(t)
		b.waitOut(t, b.stdout, `10% working|"subtitle":"working"`)
		a.Finish(t, nil)
		b.waitOut(t, b.stdout, `succeeded`)
		b.cancel() // Ctrl-C
		if code := b.wait(t); code != 0 {
			t.Fatalf("watch %d: exit code %d\n%s%s", i, code, b.stdout, b.stderr)
		}
		tr.record(args, b.code, b.stdout.String(), b.stderr.String())
	}
	// The server goes away.
	b := runBackground(t, cliEnv(s), "watch")
	b.waitOut(t, b.stderr, `watching the runs of`)
	s.Close()
	if code := b.wait(t); code != 3 {
		t.Fatalf("watch of a stopped server: exit code %d\n%s", code, b.stderr)
	}
	tr.record([]string{"watch"}, b.code, b.stdout.String(), b.stderr.String())
	tr.check("watch")
}

// TestCLIWatchNoAnswer: a server that takes the connection but never
// answers cannot be reached, exit 3, for the event stream as for any other
// request.
func TestCLIWatchNoAnswer(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	defer hang.CloseClientConnections()
	cl, err := client.New(hang.URL, client.WithToken("t"), client.WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cn := &conn{Client: cl, url: cl.URL(), tokenFrom: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, gerr := cl.GetButlerTasks(ctx)
	events, watchErr := cl.Watch(ctx)
	for range events {
	}
	for what, err := range map[string]error{"GET /butler": gerr, "watch": watchErr()} {
		var ee *exitError
		if e := cn.fail(err); !errors.As(e, &ee) || ee.code != 3 || !strings.Contains(e.Error(), "cannot reach "+hang.URL+": no answer in time") {
			t.Errorf("%s without an answer: %v, want exit 3, cannot reach: no answer in time", what, e)
		}
	}
}

func TestCLIToken(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)
	out, _ := tr.run(0, "token")
	if out != clienttest.Token+"\n" {
		t.Fatalf("token %q", out)
	}
	tr.run(0, "token", "--data-dir", s.DataDir)
	tr.env = map[string]string{}
	tr.run(1, "token", "--data-dir", filepath.Join(s.DataDir, "absent"))
	tr.run(2, "token", "extra")
	tr.check("token")
}

// TestCLIErrors: exit codes and one-line messages that say what to do.
func TestCLIErrors(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	tr := newTranscript(t, s)

	// 3: nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	tr.env = map[string]string{"BUTLER_URL": dead, "BUTLER_TOKEN": "whatever-token"}
	for _, args := range [][]string{
		{"tasks"}, {"start", "BackupDatabase"}, {"start", "BackupDatabase", "--wait"}, {"start", "--all"},
		{"stop", "BackupDatabase"}, {"stop", "--all"}, {"history"}, {"plan"}, {"settings"}, {"settings", "get", "X"},
		{"settings", "set", "X=1"}, {"activities"}, {"activities", "cancel", "0b7c5a8e-5d0e-4c1a-9f1e-3f4b2a1c9d7e"}, {"watch"},
	} {
		_, stderr := tr.run(3, args...)
		if want := "butler: cannot reach " + dead + ": connection refused; is `butler serve` running? (--url, BUTLER_URL)\n"; stderr != want {
			t.Errorf("butler %v: stderr %q, want %q", args, stderr, want)
		}
	}
	tr.run(3, "tasks", "--url", strings.TrimPrefix(dead, "http://")) // no scheme: http

	// 1: the server refuses the token, wherever it came from.
	tr.env = cliEnv(s)
	tr.run(1, "tasks", "--token", "wrong-token")
	tr.env = map[string]string{"BUTLER_URL": s.URL, "BUTLER_TOKEN": "wrong-token"}
	tr.run(1, "start", "BackupDatabase")
	empty := t.TempDir()
	tr.env = map[string]string{"BUTLER_URL": s.URL, "BUTLER_DATA_DIR": empty}
	tr.run(1, "plan")
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "token"), []byte("stale-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.run(1, "history", "--data-dir", bad)
	// --token beats BUTLER_TOKEN beats the token file.
	tr.env = map[string]string{"BUTLER_URL": s.URL, "BUTLER_TOKEN": clienttest.Token, "BUTLER_DATA_DIR": bad}
	tr.run(0, "activities")
	tr.run(1, "activities", "--token", "wrong-token")

	// 1: the server refuses the request.
	tr.env = cliEnv(s)
	tr.run(1, "start", "NoSuchTask")
	tr.run(1, "start", "backupdatabase")
	tr.run(1, "settings", "get", "Nope")

	// 2: usage.
	for _, args := range [][]string{
		{"start"}, {"start", "BackupDatabase", "--all"}, {"start", "--all", "--now"}, {"start", "A", "B"},
		{"stop"}, {"stop", "BackupDatabase", "--all"}, {"tasks", "extra"}, {"tasks", "--output", "yaml"},
		{"tasks", "--bogus"}, {"history", "A", "B"}, {"settings", "get"}, {"settings", "set"}, {"activities", "cancel"}, {"activities", "cancel", "x"}, {"history", "--limit", "x"}, {"history", "--limit", "5000"},
		{"history", "--outcome", "exploded"}, {"tasks", "--url", "ftp://host"}, {"watch", "extra"},
		{"runs"}, {"histroy"}, {"tasks", "--config", "butler.yaml"}, {"serve", "--bogus"},
	} {
		_, stderr := tr.run(2, args...)
		if len(lines(stderr)) != 1 {
			t.Errorf("butler %v: stderr is not one line:\n%s", args, stderr)
		}
	}
	out := strings.ReplaceAll(tr.buf.String(), dead, "http://DEAD")
	out = strings.ReplaceAll(out, strings.TrimPrefix(dead, "http://"), "DEAD")
	out = strings.ReplaceAll(out, empty, "EMPTY")
	out = strings.ReplaceAll(out, bad, "BAD")
	tr.buf.Reset()
	tr.buf.WriteString(out)
	tr.check("errors")
}

func TestCLICompletion(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, stderr := runCmd(t, nil, "completion", shell)
		if code != 0 || !strings.Contains(out, "butler") || len(out) < 1000 {
			t.Errorf("completion %s: exit code %d, %d bytes\n%s", shell, code, len(out), stderr)
		}
	}
	tr := newTranscript(t, s)
	tr.run(0, "__complete", "start", "")
	tr.run(0, "__complete", "stop", "Opt")
	tr.run(0, "__complete", "start", "BackupDatabase", "")
	tr.run(0, "__complete", "history", "--outcome", "")
	tr.run(0, "__complete", "tasks", "--output", "")
	tr.run(0, "__complete", "settings", "get", "ButlerTask")
	tr.run(0, "__complete", "settings", "set", "ButlerStartHour=3", "ButlerE")
	tr.env = map[string]string{"BUTLER_URL": s.URL, "BUTLER_TOKEN": "wrong-token"}
	tr.run(0, "__complete", "start", "")
	tr.check("completion")
}

// TestCLINextToServe: `butler tasks` needs no flags next to a `butler serve`
// that shares its data directory; a real task runs to its end with --wait.
func TestCLINextToServe(t *testing.T) {
	dataDir := newDataDir(t)
	srv := startInProc(t, map[string]string{"BUTLER_DATA_DIR": dataDir}, "--addr", "127.0.0.1:0")
	env := map[string]string{"BUTLER_DATA_DIR": dataDir, "BUTLER_URL": srv.addr}
	code, out, stderr := runCmd(t, env, "tasks")
	if code != 0 {
		t.Fatalf("tasks: exit code %d\n%s", code, stderr)
	}
	for _, name := range []string{"BackupDatabase", "OptimizeDatabase", "CleanOldCacheFiles"} {
		mustContain(t, "tasks", out, name)
	}
	code, out, stderr = runCmd(t, env, "start", "BackupDatabase", "--now", "--wait")
	if code != 0 {
		t.Fatalf("start --wait: exit code %d\n%s%s", code, out, stderr)
	}
	if !regexp.MustCompile(`(?m)^BackupDatabase succeeded in \S+ \(run 1\): backup butler-\d{8}-\d{6}\.db`).MatchString(out) {
		t.Errorf("start --wait printed:\n%s", out)
	}
	code, out, _ = runCmd(t, env, "token")
	raw, err := os.ReadFile(filepath.Join(dataDir, "token"))
	if code != 0 || out != string(bytes.TrimSpace(raw))+"\n" {
		t.Errorf("token: %d %q, file %q %v", code, out, raw, err)
	}
}

func TestCLIColor(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if !newPainter(devnull, envOf(nil)).on {
		t.Error("no colour on a character device")
	}
	if newPainter(devnull, envOf(map[string]string{"NO_COLOR": "1"})).on {
		t.Error("colour despite NO_COLOR")
	}
	if newPainter(&bytes.Buffer{}, envOf(nil)).on {
		t.Error("colour on a buffer")
	}
	var b bytes.Buffer
	tb := &table{header: []string{"A", "OUTCOME", "C"}}
	tb.add(plain("x"), styled("succeeded"), plain("1"))
	tb.add(plain("long"), styled("failed"), plain("2"))
	if err := tb.write(&b, painter{on: true}); err != nil {
		t.Fatal(err)
	}
	want := "\x1b[1mA\x1b[0m     \x1b[1mOUTCOME\x1b[0m    \x1b[1mC\x1b[0m\n" +
		"x     \x1b[32msucceeded\x1b[0m  1\n" +
		"long  \x1b[31mfailed\x1b[0m     2\n"
	if b.String() != want {
		t.Errorf("coloured table %q, want %q", b.String(), want)
	}
}

func TestCLIProgressBar(t *testing.T) {
	var b bytes.Buffer
	f := &follower{out: &b, tty: true}
	f.progress(-1, "")
	f.progress(50, "copying pages")
	f.progress(-1, "thinking")
	f.clearBar()
	want := "\r\x1b[K[############............]  50% copying pages" +
		"\r\x1b[K[------------------------] thinking" +
		"\r\x1b[K"
	if b.String() != want {
		t.Errorf("progress %q, want %q", b.String(), want)
	}
	b.Reset()
	f = &follower{out: &b}
	f.progress(10, "a")
	f.progress(10, "a")
	f.progress(20, "a")
	f.progress(-1, "scanning Movies: 3 files") // no percentage: the step alone
	if b.String() != "  10% a\n  20% a\n  scanning Movies: 3 files\n" {
		t.Errorf("plain progress %q", b.String())
	}
	// butler watch: no percentage either when the run gives none.
	ev := client.Event{Type: client.EventUpdated, Activity: apitype.Activity{Progress: -1, Subtitle: "fetching the update feed"}}
	if got := watchLine(ev, painter{}); strings.Contains(got, "?") || !strings.HasSuffix(got, "fetching the update feed") {
		t.Errorf("watch line of an unknown progress: %q", got)
	}
	ev.Activity.Progress = 30
	if got := watchLine(ev, painter{}); !strings.HasSuffix(got, "30% fetching the update feed") {
		t.Errorf("watch line: %q", got)
	}
}

func TestShowDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond: "0.4s", 12300 * time.Millisecond: "12.3s", 245 * time.Second: "4m05s",
		130 * time.Minute: "2h10m", -time.Second: "-",
	} {
		if got := showDuration(d); got != want {
			t.Errorf("showDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestCLIStartWaitInterrupted: Ctrl-C stops the waiting, not the run.
func TestCLIStartWaitInterrupted(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	b := runBackground(t, cliEnv(s), "start", "BackupDatabase", "--wait")
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	b.waitOut(t, b.stdout, `10% working`)
	b.cancel()
	if code := b.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", code, b.stdout, b.stderr)
	}
	if want := "butler: stopped waiting; run 1 goes on (`butler history BackupDatabase`)\n"; b.stderr.String() != want {
		t.Errorf("stderr %q, want %q", b.stderr, want)
	}
	r, err := sdk(t, s).Run(context.Background(), 1)
	if err != nil || r.State != "running" {
		t.Fatalf("run after the interrupted wait: %+v %v", r, err)
	}
}

// TestCLITasksPlexServer: a Plex Media Server has no plan and no history;
// `butler tasks` lists its tasks all the same. (The fixture serves the real
// server's GET /butler answer, recorded, and Plex's 404 page elsewhere.)
func TestCLITasksPlexServer(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Tasks: []butler.TaskName{butler.TaskBackupDatabase}})
	tasks, err := sdk(t, s).GetButlerTasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(apitype.ButlerTasksResponse{ButlerTasks: apitype.ButlerTasks{ButlerTask: tasks.Tasks}})
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/butler" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
	}))
	defer plex.Close()
	code, out, stderr := runCmd(t, map[string]string{"BUTLER_URL": plex.URL, "BUTLER_TOKEN": "plex-token"}, "tasks")
	want := "NAME            ENABLED  INTERVAL  RANDOM  STATE  LAST RUN  LAST OUTCOME  NEXT\n" +
		"BackupDatabase  yes      3d        no      idle   -         -             -\n"
	if code != 0 || out != want {
		t.Fatalf("exit code %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out, want, stderr)
	}
}

func TestCLILog(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	env := cliEnv(s)
	if code, _, _ := runCmd(t, env, "start", "BackupDatabase", "--now"); code != 0 {
		t.Fatalf("start: %d", code)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	// Live, while the run goes on; then stored when it ends.
	if code, out, errOut := runCmd(t, env, "log", "1"); code != 0 || out == "" {
		t.Fatalf("log of a running run: %d %q %q", code, out, errOut)
	}
	s.Action(butler.TaskBackupDatabase).Finish(t, nil)
	waitFinished(t, s, 1)
	code, out, errOut := runCmd(t, env, "log", "1", "-o", "json")
	if code != 0 || !strings.Contains(out, `"run": 1`) {
		t.Fatalf("log as JSON: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, env, "log", "999"); code != 1 || !strings.Contains(errOut, "no run with id 999") {
		t.Fatalf("log of no run: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, env, "log", "x"); code != 2 || !strings.Contains(errOut, "want a run number") {
		t.Fatalf("log x: %d %q", code, errOut)
	}
}

// TestCLITokenFile: --token-file and BUTLER_TOKEN_FILE read the token from a
// file, so that it is on no command line; --token and BUTLER_TOKEN still win
// over the environment's file, and a missing or empty file is a usage error
// that names it.
func TestCLITokenFile(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	stale := filepath.Join(dir, "stale")
	empty := filepath.Join(dir, "empty")
	for path, content := range map[string]string{good: clienttest.Token + "\n", stale: "stale-token\n", empty: "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tr := newTranscript(t, s)
	// No token in the data directory: only the file can give it.
	tr.env = map[string]string{"BUTLER_URL": s.URL, "BUTLER_DATA_DIR": dir}
	tr.run(0, "activities", "--token-file", good)
	tr.env["BUTLER_TOKEN_FILE"] = good
	tr.run(0, "activities")
	tr.run(1, "activities", "--token-file", stale) // the flag beats the environment
	tr.run(1, "activities", "--token", "wrong-token")
	tr.env["BUTLER_TOKEN_FILE"] = stale
	tr.run(1, "activities")
	tr.env["BUTLER_TOKEN"] = clienttest.Token // BUTLER_TOKEN beats BUTLER_TOKEN_FILE
	tr.run(0, "activities")
	delete(tr.env, "BUTLER_TOKEN")
	tr.run(2, "activities", "--token-file", filepath.Join(dir, "absent"))
	tr.run(2, "activities", "--token-file", empty)
	tr.run(2, "activities", "--token-file", good, "--token", clienttest.Token)
	tr.env["BUTLER_TOKEN_FILE"] = filepath.Join(dir, "absent")
	tr.run(2, "activities")
	out := strings.ReplaceAll(tr.buf.String(), dir, "DIR")
	tr.buf.Reset()
	tr.buf.WriteString(out)
	tr.check("tokenfile")
}

// TestCLIPlanServerZone: the plan shows the window in the server's zone
// and names it, whatever this computer's zone.
func TestCLIPlanServerZone(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Settings: map[string]string{
		butler.SettingTimeZone: "America/New_York", butler.SettingStartHour: "3", butler.SettingEndHour: "4",
	}})
	code, out, errOut := runCmd(t, cliEnv(s), "plan")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	re := regexp.MustCompile(`^(next window|window \(open now\)): \d{4}-\d{2}-\d{2} 03:00 to \d{4}-\d{2}-\d{2} 04:00, America/New_York \((EST|EDT)\)$`)
	if !re.MatchString(first) {
		t.Errorf("first line %q: want the window 03:00 to 04:00 in America/New_York, named", first)
	}
	if strings.Contains(out, "every 1 days") {
		t.Errorf("plan says %q:\n%s", "every 1 days", out)
	}
}

// stubbornAction ignores the stop until released: its run stays stopping.
type stubbornAction struct {
	started chan struct{}
	release chan struct{}
}

func (a *stubbornAction) Run(ctx context.Context, r butler.Reporter) error {
	r.Progress(10, "working")
	a.started <- struct{}{}
	<-a.release
	return ctx.Err()
}

// TestCLIStopAllStillStopping: `stop --all` says a run is still stopping
// only when it is: not for a run that stopped at once, nor for a waiting
// run it removed, but for one whose work outlasts the server's wait.
func TestCLIStopAllStillStopping(t *testing.T) {
	slow := &stubbornAction{started: make(chan struct{}, 1), release: make(chan struct{})}
	s := clienttest.New(t, clienttest.Config{Bind: map[butler.TaskName]butler.Action{butler.TaskRefreshLibraries: slow}})
	t.Cleanup(func() { close(slow.release) })
	env := cliEnv(s)
	stopAll := func() string {
		t.Helper()
		code, stdout, stderr := runCmd(t, env, "stop", "--all")
		if code != 0 {
			t.Fatalf("stop --all: exit %d\n%s%s", code, stdout, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	// A run that stops at once, and a waiting run: nothing is stopping.
	if code, out, errOut := runCmd(t, env, "start", "--all"); code != 0 {
		t.Fatalf("start --all: exit %d\n%s%s", code, out, errOut)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	if got := stopAll(); got != "stopped the run of BackupDatabase; removed the waiting run of OptimizeDatabase, RefreshLocalMedia" &&
		got != "stopped the run of BackupDatabase; removed the waiting run of RefreshLocalMedia, OptimizeDatabase" {
		t.Fatalf("stop --all of a run that stopped at once:\n%s", got)
	}
	// A run whose work does not stop within the server's wait.
	if code, out, errOut := runCmd(t, env, "start", "RefreshLibraries", "--now"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	<-slow.started
	if got, want := stopAll(), "stopped the run of RefreshLibraries; the run of RefreshLibraries is still stopping (`butler activities` shows it until it ends)"; got != want {
		t.Fatalf("stop --all of a run still stopping:\n%s\nwant:\n%s", got, want)
	}
	code, stdout, stderr := runCmd(t, env, "stop", "--all", "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"stopping": [`) {
		t.Fatalf("stop --all -o json: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestCLIStopRun: `stop --run N` removes one waiting run by its number;
// a running run, an ended one or none is refused (exit 1), and the
// running run goes on.
func TestCLIStopRun(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	env := cliEnv(s)
	ctx := context.Background()
	// Start-all, one slot: BackupDatabase runs, the others wait.
	if code, out, errOut := runCmd(t, env, "start", "--all"); code != 0 {
		t.Fatalf("start --all: exit %d\n%s%s", code, out, errOut)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	runOf := func(task client.TaskName) int64 {
		t.Helper()
		runs, err := sdk(t, s).Runs(ctx, client.RunsQuery{Task: task})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs of %s: %+v, %v", task, runs, err)
		}
		return runs[0].ID
	}
	running, waiting := runOf(client.TaskBackupDatabase), runOf(client.TaskOptimizeDatabase)
	n := func(id int64) string { return strconv.FormatInt(id, 10) }

	code, stdout, stderr := runCmd(t, env, "stop", "--run", n(waiting))
	if code != 0 || stdout != "run "+n(waiting)+": removed\n" {
		t.Fatalf("stop --run of a waiting run: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, c := range []struct {
		id   int64
		want string
	}{
		{waiting, "is not waiting: it has ended (skipped); nothing was removed"},
		{running, "is not waiting: it has started (running); nothing was removed"},
		{9999, "`butler history` lists the runs"},
	} {
		code, stdout, stderr := runCmd(t, env, "stop", "--run", n(c.id))
		if code != 1 || stdout != "" || len(lines(stderr)) != 1 {
			t.Errorf("stop --run %d: exit %d, want 1 and one line on stderr\n%s%s", c.id, code, stdout, stderr)
		}
		mustContain(t, "stderr", stderr, c.want)
	}
	code, stdout, stderr = runCmd(t, env, "stop", "--run", n(runOf(client.TaskRefreshLocalMedia)), "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"outcome": "removed"`) {
		t.Fatalf("stop --run -o json: exit %d\n%s%s", code, stdout, stderr)
	}
	if r, err := sdk(t, s).Run(ctx, running); err != nil || r.State != "running" {
		t.Errorf("the running run after stop --run: %+v, %v", r, err)
	}
	for _, args := range [][]string{{"stop", "--run", "0"}, {"stop", "BackupDatabase", "--run", "3"}, {"stop", "--all", "--run", "3"}} {
		if code, _, stderr := runCmd(t, env, args...); code != 2 {
			t.Errorf("butler %v: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}
