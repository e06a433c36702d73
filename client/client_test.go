package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
	"github.com/plexbutler/butler/client/clienttest"
)

// newClient returns a client of the server with its token.
func newClient(t *testing.T, serverURL string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(serverURL, append([]client.Option{client.WithToken(clienttest.Token)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clientError asserts err is a *client.Error with the status, matching
// sentinel, and a message containing msg.
func clientError(t *testing.T, err error, status int, sentinel error, msg string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *client.Error", err, err)
	}
	if e.StatusCode != status {
		t.Fatalf("status %d, want %d (%v)", e.StatusCode, status, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) is false", err, sentinel)
	}
	if !strings.Contains(e.Message, msg) {
		t.Fatalf("message %q lacks %q", e.Message, msg)
	}
	return e
}

// waitRun waits until the run is finished and returns it.
func waitRun(t *testing.T, c *client.Client, id int64) *apitype.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.Run(ctxT(t), id)
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

func TestNew(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:32400", "ftp://host", "http://", "http://u:p@host", "http://host/?x=1", "%zz"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	for name, o := range map[string]client.Option{
		"nil http client":  client.WithHTTPClient(nil),
		"negative timeout": client.WithTimeout(-time.Second),
		"zero attempts":    client.WithRetry(0, time.Second),
		"negative backoff": client.WithRetry(2, -time.Second),
	} {
		if _, err := client.New("http://127.0.0.1:1", o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	c, err := client.New("https://example.com/plex/")
	if err != nil || c.URL() != "https://example.com/plex" {
		t.Fatalf("New: %v %v", c, err)
	}
}

func TestTaskNames(t *testing.T) {
	names := client.TaskNames()
	if len(names) != 26 {
		t.Fatalf("%d task names, want 26", len(names))
	}
	want := map[client.TaskName]bool{}
	for _, task := range butler.DefaultCatalog() {
		want[client.TaskName(task.Name)] = true
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("%s is not a catalog task", n)
		}
		delete(want, n)
	}
	if len(want) != 0 {
		t.Errorf("catalog tasks without a constant: %v", want)
	}
}

// TestHeaders checks what every request carries, through a proxy in front of
// the real server that records the requests.
func TestHeaders(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	target, _ := url.Parse(s.URL)
	var mu sync.Mutex
	var seen []http.Header
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer proxy.Close()
	c := newClient(t, proxy.URL, client.WithClientIdentifier("test-id"), client.WithUserAgent("test-agent/2"))
	if _, err := c.GetButlerTasks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartTask(ctxT(t), "NoSuchTask"); !errors.Is(err, client.ErrNotFound) {
		t.Fatal(err)
	}
	mu.Lock()
	for _, h := range seen {
		if h.Get("Accept") != "application/json" || h.Get("X-Plex-Token") != clienttest.Token ||
			h.Get("X-Plex-Client-Identifier") != "test-id" || h.Get("User-Agent") != "test-agent/2" {
			t.Errorf("request headers %v", h)
		}
	}
	n := len(seen)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	// Defaults: a user agent, no client identifier.
	c = newClient(t, proxy.URL)
	if _, err := c.GetButlerTasks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if h := seen[2]; h.Get("User-Agent") != client.DefaultUserAgent || h.Get("X-Plex-Client-Identifier") != "" {
		t.Errorf("default headers %v", h)
	}
}

func TestGetButlerTasks(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	res, err := newClient(t, s.URL).GetButlerTasks(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	var got []string
	for _, task := range res.Tasks {
		got = append(got, task.Name)
	}
	if strings.Join(got, ",") != "BackupDatabase,OptimizeDatabase,CleanOldCacheFiles,RefreshLocalMedia" {
		t.Fatalf("tasks %v", got)
	}
	b := res.Tasks[0]
	if b.Interval != 3 || !bool(b.Enabled) || bool(b.ScheduleRandomized) || b.Title != "Backup Database" || b.Description == "" {
		t.Fatalf("BackupDatabase %+v", b)
	}
	if bool(res.Tasks[2].Enabled) || !bool(res.Tasks[3].ScheduleRandomized) {
		t.Fatalf("CleanOldCacheFiles / RefreshLocalMedia %+v %+v", res.Tasks[2], res.Tasks[3])
	}
}

// TestStartTask walks every answer of POST /butler/{task}: 200 started,
// 202 running, 200 queued, 200 skipped, 404, a disabled task (started, as
// on a Plex server), and ?force=1.
func TestStartTask(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	backup := s.Action(butler.TaskBackupDatabase)

	res, err := c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Outcome != client.OutcomeStarted || res.RunID == 0 || res.RunAt.IsZero() {
		t.Fatalf("start: %+v", res)
	}
	first := res.RunID
	backup.WaitStarted(t)

	res, err = c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 202 || res.Outcome != client.OutcomeRunning || res.RunID != first || res.Reason != "already running" || !res.RunAt.IsZero() {
		t.Fatalf("second start: %+v", res)
	}
	backup.Finish(t, nil)
	if r := waitRun(t, c, first); r.Outcome != "succeeded" {
		t.Fatalf("run %+v", r)
	}

	// Succeeded: not due again for three days.
	res, err = c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Outcome != client.OutcomeSkipped || !strings.HasPrefix(res.Reason, "not due until ") || res.RunID == 0 || !res.RunAt.IsZero() {
		t.Fatalf("start when not due: %+v", res)
	}
	// Forced, it runs.
	res, err = c.StartTask(ctx, client.TaskBackupDatabase, client.Force())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != client.OutcomeStarted {
		t.Fatalf("forced start: %+v", res)
	}
	backup.WaitStarted(t)

	// 404: unknown, offered by no server, wrong case. The message comes
	// from X-Butler-Reason.
	_, err = c.StartTask(ctx, "NoSuchTask")
	e := clientError(t, err, 404, client.ErrNotFound, `no task named "NoSuchTask"`)
	if e.Op != "start task NoSuchTask" || !strings.HasPrefix(err.Error(), "client: start task NoSuchTask: no task named") {
		t.Fatalf("error %q op %q", err, e.Op)
	}
	_, err = c.StartTask(ctx, client.TaskRefreshLibraries)
	clientError(t, err, 404, client.ErrNotFound, "does nothing on this server")
	_, err = c.StartTask(ctx, "backupdatabase")
	clientError(t, err, 404, client.ErrNotFound, "case-sensitive")
	if _, err := c.StartTask(ctx, ""); err == nil {
		t.Fatal("empty name accepted")
	}

	// Disabled: the setting governs the schedule only; the start runs it
	// and says it is disabled for the schedule.
	res, err = c.StartTask(ctx, client.TaskCleanOldCacheFiles)
	if err != nil || res.StatusCode != 200 || res.Outcome != client.OutcomeStarted || !strings.HasSuffix(res.Reason, "disabled for the schedule: only an explicit start runs it") {
		t.Fatalf("disabled: %+v %v", res, err)
	}
	s.Action(butler.TaskCleanOldCacheFiles).WaitStarted(t)
}

// TestStartAllQueuedStopAll: start-all queues the due tasks (one slot: one
// runs, one waits), a start of the waiting one answers queued, a stop
// removes it, stop-all stops the rest.
func TestStartAllQueuedStopAll(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Tasks: []butler.TaskName{butler.TaskBackupDatabase, butler.TaskOptimizeDatabase}})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	res, err := c.StartAllTasks(ctx)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("start all: %+v %v", res, err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t) // catalog order: it runs first
	start, err := c.StartTask(ctx, client.TaskOptimizeDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if start.StatusCode != 200 || start.Outcome != client.OutcomeQueued || start.Reason != "already queued" || start.RunID == 0 || start.RunAt.IsZero() {
		t.Fatalf("start of the waiting task: %+v", start)
	}
	stop, err := c.StopTask(ctx, client.TaskOptimizeDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if stop.StatusCode != 200 || stop.Outcome != client.OutcomeRemoved || stop.RunID != start.RunID {
		t.Fatalf("stop of the waiting task: %+v", stop)
	}
	all, err := c.StopAllTasks(ctx)
	if err != nil || all.StatusCode != 200 {
		t.Fatalf("stop all: %+v %v", all, err)
	}
	runs, err := c.Runs(ctx, client.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range runs {
		got[r.Task] = r.Outcome + " " + r.Reason
	}
	if !strings.HasPrefix(got["BackupDatabase"], "stopped") {
		t.Errorf("BackupDatabase: %q", got["BackupDatabase"])
	}
	if !strings.HasPrefix(got["OptimizeDatabase"], "skipped") {
		t.Errorf("OptimizeDatabase: %q", got["OptimizeDatabase"])
	}
}

func TestStopTask(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	start, err := c.StartTask(ctx, client.TaskOptimizeDatabase)
	if err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskOptimizeDatabase).WaitStarted(t)
	stop, err := c.StopTask(ctx, client.TaskOptimizeDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if stop.StatusCode != 200 || stop.Outcome != client.OutcomeStopped || stop.RunID != start.RunID {
		t.Fatalf("stop: %+v (start %+v)", stop, start)
	}
	if r := waitRun(t, c, start.RunID); r.Outcome != "stopped" {
		t.Fatalf("run %+v", r)
	}
	_, err = c.StopTask(ctx, client.TaskOptimizeDatabase)
	clientError(t, err, 404, client.ErrNotFound, "nothing to stop")
	_, err = c.StopTask(ctx, "NoSuchTask")
	clientError(t, err, 404, client.ErrNotFound, "NoSuchTask")
}

// TestRemoveRun: a waiting run is removed by its id; a running or ended
// run, or none, is refused.
func TestRemoveRun(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	// Start-all, one slot: BackupDatabase runs, OptimizeDatabase waits.
	if _, err := c.StartAllTasks(ctx); err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	runOf := func(task client.TaskName) apitype.Run {
		t.Helper()
		runs, err := c.Runs(ctx, client.RunsQuery{Task: task})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs of %s: %+v, %v", task, runs, err)
		}
		return runs[0]
	}
	running, queued := runOf(client.TaskBackupDatabase), runOf(client.TaskOptimizeDatabase)
	if running.State != "running" || queued.State != "queued" {
		t.Fatalf("runs %+v and %+v, want one running and one queued", running, queued)
	}
	res, err := c.RemoveRun(ctx, queued.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Outcome != client.OutcomeRemoved || res.RunID != queued.ID {
		t.Fatalf("remove: %+v", res)
	}
	if r := waitRun(t, c, queued.ID); r.Outcome != "skipped" {
		t.Fatalf("the removed run: %+v", r)
	}
	_, err = c.RemoveRun(ctx, queued.ID)
	clientError(t, err, 409, client.ErrNotWaiting, "it has ended")
	_, err = c.RemoveRun(ctx, running.ID)
	clientError(t, err, 409, client.ErrNotWaiting, "it has started")
	if errors.Is(err, client.ErrFixed) || errors.Is(err, client.ErrDisabled) {
		t.Errorf("the 409 of a removal matches another sentinel: %v", err)
	}
	if r, err := c.Run(ctx, running.ID); err != nil || r.State != "running" {
		t.Errorf("the running run after a refused removal: %+v, %v", r, err)
	}
	_, err = c.RemoveRun(ctx, 9999)
	clientError(t, err, 404, client.ErrNotFound, "")
	if _, err := c.RemoveRun(ctx, 0); err == nil {
		t.Error("RemoveRun(0) sent a request")
	}
}

// TestStartScheduled: a randomized task started inside the window gets a
// run at a random instant in the rest of it.
func TestStartScheduled(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{WindowOpen: true, Tasks: []butler.TaskName{butler.TaskRefreshLocalMedia}})
	c := newClient(t, s.URL)
	res, err := c.StartTask(ctxT(t), client.TaskRefreshLocalMedia)
	if err != nil {
		t.Fatal(err)
	}
	// The planner may have scheduled it first ("already scheduled").
	if res.StatusCode != 200 || res.Outcome != client.OutcomeScheduled || res.RunID == 0 || res.Reason == "" {
		t.Fatalf("start: %+v", res)
	}
	if res.RunAt.Before(time.Now().Add(-time.Minute)) || res.RunAt.After(time.Now().Add(4*time.Hour)) {
		t.Fatalf("run at %v, want inside the window", res.RunAt)
	}
	r, err := c.Run(ctxT(t), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != "scheduled" {
		t.Fatalf("run %+v", r)
	}
	at, _ := time.Parse(time.RFC3339Nano, r.ScheduledAt)
	if !at.Equal(res.RunAt) {
		t.Fatalf("run scheduled at %v, start said %v", at, res.RunAt)
	}
}

func TestUnauthorized(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	ctx := ctxT(t)
	for name, c := range map[string]*client.Client{
		"wrong":   newClient(t, s.URL, client.WithToken("wrong-token")),
		"missing": newClient(t, s.URL, client.WithToken("")),
	} {
		_, err := c.GetButlerTasks(ctx)
		e := clientError(t, err, 401, client.ErrUnauthorized, "Unauthorized")
		if err.Error() != "client: get butler tasks: 401 Unauthorized" {
			t.Errorf("%s: %q", name, err)
		}
		if errors.Is(err, client.ErrNotFound) || e.Op != "get butler tasks" {
			t.Errorf("%s: %+v", name, e)
		}
		if _, err := c.StartTask(ctx, client.TaskBackupDatabase); !errors.Is(err, client.ErrUnauthorized) {
			t.Errorf("%s: start: %v", name, err)
		}
		// Identity needs no token.
		id, err := c.Identity(ctx)
		if err != nil || id.MachineIdentifier != "clienttest" || id.Version != "1.2.3" || id.FriendlyName != "test" {
			t.Errorf("%s: identity %+v %v", name, id, err)
		}
	}
}

func TestSettings(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	list, err := c.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]apitype.Setting{}
	for _, st := range list {
		byID[st.ID] = st
	}
	for _, id := range []string{"ButlerStartHour", "ButlerEndHour", "ButlerTimeZone", "ButlerMaxConcurrentTasks", "ButlerTaskBackupDatabase", "ButlerTaskCleanOldCacheFiles"} {
		if _, ok := byID[id]; !ok {
			t.Errorf("no setting %s", id)
		}
	}
	if b := byID["ButlerTaskCleanOldCacheFiles"]; b.Type != "bool" || b.Value != (apitype.SettingValue{Type: "bool", Text: "false"}) || b.Default.Text != "true" {
		t.Errorf("bool setting %+v", b)
	}
	if n := byID["ButlerMaxConcurrentTasks"]; n.Value != (apitype.SettingValue{Type: "int", Text: "1"}) {
		t.Errorf("int setting %+v", n)
	}

	one, err := c.Setting(ctx, "ButlerTimeZone")
	if err != nil || one.Value.Text != "UTC" || one.Value.Type != one.Type || one.Type == "" {
		t.Fatalf("setting %+v %v", one, err)
	}
	_, err = c.Setting(ctx, "Nope")
	clientError(t, err, 404, client.ErrNotFound, "no setting with id Nope")
	// The first letter in either case, as the server takes it; the setting
	// has the server's id. Any other difference in case is another id.
	if one, err := c.Setting(ctx, "butlerTimeZone"); err != nil || one.ID != "ButlerTimeZone" || one.Value.Text != "UTC" {
		t.Fatalf("setting butlerTimeZone: %+v %v", one, err)
	}
	_, err = c.Setting(ctx, "butlertimezone")
	clientError(t, err, 404, client.ErrNotFound, "butlertimezone")
	// An answer that holds another setting than the one asked for.
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MediaContainer":{"size":1,"Setting":[{"id":"ButlerTimeZone","type":"text","value":"UTC"}]}}`)
	}))
	defer stub.Close()
	_, err = newClient(t, stub.URL).Setting(ctx, "butlertimezone")
	clientError(t, err, 404, client.ErrNotFound, "the answer does not hold setting butlertimezone")

	// All or nothing.
	// (The server's start hour depends on the clock: ask for another.)
	before, err := c.Setting(ctx, "ButlerStartHour")
	if err != nil {
		t.Fatal(err)
	}
	other := "4"
	if before.Value.Text == other {
		other = "5"
	}
	err = c.SetSettings(ctx, map[string]string{"ButlerStartHour": other, "ButlerEndHour": "99"})
	clientError(t, err, 400, client.ErrBadRequest, "ButlerEndHour: 99 is out of range")
	if one, _ := c.Setting(ctx, "ButlerStartHour"); one.Value.Text != before.Value.Text {
		t.Fatal("a refused change was applied")
	}
	err = c.SetSettings(ctx, map[string]string{"NoSuchSetting": "1"})
	clientError(t, err, 400, client.ErrBadRequest, "NoSuchSetting")

	if err := c.SetSettings(ctx, map[string]string{"ButlerTaskCleanOldCacheFiles": "1", "ButlerTimeZone": "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	if one, _ := c.Setting(ctx, "ButlerTaskCleanOldCacheFiles"); one.Value.Text != "true" {
		t.Fatalf("after set: %+v", one)
	}
	if one, _ := c.Setting(ctx, "ButlerTimeZone"); one.Value.Text != "Europe/Berlin" {
		t.Fatalf("after set: %+v", one)
	}
}

func TestActivities(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	list, err := c.Activities(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("activities of an idle server: %+v %v", list, err)
	}
	start, err := c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)
	list, err = c.Activities(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("activities: %+v %v", list, err)
	}
	a := list[0]
	if a.Type != apitype.ActivityType || !bool(a.Cancellable) || a.Title != "Backup Database" || a.Context == nil ||
		a.Context.TaskName != "BackupDatabase" || a.Context.RunID != start.RunID || a.Context.Trigger != "start_task" {
		t.Fatalf("activity %+v %+v", a, a.Context)
	}
	_, err = c.CancelActivity(ctx, "not-a-uuid")
	clientError(t, err, 400, client.ErrBadRequest, "is not an activity id")
	_, err = c.CancelActivity(ctx, "00000000-0000-4000-8000-000000000000")
	clientError(t, err, 404, client.ErrNotFound, "no activity")
	res, err := c.CancelActivity(ctx, a.UUID)
	if err != nil || res.Outcome != client.OutcomeStopped || res.StatusCode != 200 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if r := waitRun(t, c, start.RunID); r.Outcome != "stopped" {
		t.Fatalf("run %+v", r)
	}
	_, err = c.CancelActivity(ctx, a.UUID)
	clientError(t, err, 404, client.ErrNotFound, "is not running")
}

func TestRuns(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	before := time.Now().Add(-time.Second)
	var ids []int64
	for _, task := range []client.TaskName{client.TaskBackupDatabase, client.TaskOptimizeDatabase, client.TaskBackupDatabase} {
		res, err := c.StartTask(ctx, task, client.Force())
		if err != nil {
			t.Fatal(err)
		}
		s.Action(butler.TaskName(task)).WaitStarted(t)
		if task == client.TaskOptimizeDatabase {
			s.Action(butler.TaskName(task)).Finish(t, clienttest.ErrTaskFailed)
		} else {
			s.Action(butler.TaskName(task)).Finish(t, nil)
		}
		waitRun(t, c, res.RunID)
		ids = append(ids, res.RunID)
	}
	all, err := c.Runs(ctx, client.RunsQuery{})
	if err != nil || len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("runs %+v %v", all, err)
	}
	r := all[1]
	if r.Task != "OptimizeDatabase" || r.Outcome != "failed" || r.Error != clienttest.ErrTaskFailed.Error() || r.Trigger != "force" || r.StartedAt == "" || r.EndedAt == "" {
		t.Fatalf("failed run %+v", r)
	}
	for name, tc := range map[string]struct {
		q    client.RunsQuery
		want []int64
	}{
		"task":     {client.RunsQuery{Task: client.TaskBackupDatabase}, []int64{ids[2], ids[0]}},
		"outcome":  {client.RunsQuery{Outcome: "failed"}, []int64{ids[1]}},
		"limit":    {client.RunsQuery{Limit: 1}, []int64{ids[2]}},
		"beforeID": {client.RunsQuery{BeforeID: ids[2], Limit: 1}, []int64{ids[1]}},
		"since":    {client.RunsQuery{Since: before}, []int64{ids[2], ids[1], ids[0]}},
		"before":   {client.RunsQuery{Before: before}, nil},
		"all":      {client.RunsQuery{Task: client.TaskOptimizeDatabase, Outcome: "succeeded"}, nil},
	} {
		runs, err := c.Runs(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: runs %v, want %v", name, got, tc.want)
		}
	}
	_, err = c.Runs(ctx, client.RunsQuery{Outcome: "exploded"})
	clientError(t, err, 400, client.ErrBadRequest, `unknown outcome "exploded"`)
	_, err = c.Runs(ctx, client.RunsQuery{Limit: 5000})
	clientError(t, err, 400, client.ErrBadRequest, "out of range")

	one, err := c.Run(ctx, ids[1])
	if err != nil || !reflect.DeepEqual(*one, all[1]) {
		t.Fatalf("run %+v %v, want %+v", one, err, all[1])
	}
	_, err = c.Run(ctx, 999999)
	clientError(t, err, 404, client.ErrNotFound, "")
}

func TestPlan(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	p, err := c.Plan(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if bool(p.Inside) || p.Day == "" || p.Open == "" || p.Close == "" || p.Size != 4 || len(p.Task) != 4 {
		t.Fatalf("plan %+v", p)
	}
	got := map[string]string{}
	for _, e := range p.Task {
		got[e.Name] = e.Decision
	}
	want := map[string]string{"BackupDatabase": "runs", "OptimizeDatabase": "runs", "CleanOldCacheFiles": "disabled", "RefreshLocalMedia": "runs"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions %v, want %v", got, want)
	}
	if p.Task[0].At != p.Open || !bool(p.Task[3].Random) {
		t.Fatalf("plan entries %+v", p.Task)
	}
}

// TestXML decodes the real server's XML answers (a proxy drops the Accept
// header, so the server answers XML as it does to Plex clients) and checks
// they read the same as its JSON answers.
func TestXML(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	target, _ := url.Parse(s.URL)
	var xmlAnswers atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
			xmlAnswers.Add(1)
		}
		return nil
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept")
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	js, xc := newClient(t, s.URL), newClient(t, proxy.URL)
	ctx := ctxT(t)

	start, err := js.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil {
		t.Fatal(err)
	}
	s.Action(butler.TaskBackupDatabase).WaitStarted(t)

	same := func(what string, j, x any, jerr, xerr error) {
		t.Helper()
		if jerr != nil || xerr != nil {
			t.Fatalf("%s: %v / %v", what, jerr, xerr)
		}
		if !reflect.DeepEqual(j, x) {
			t.Errorf("%s: JSON %+v, XML %+v", what, j, x)
		}
	}
	jt, jerr := js.GetButlerTasks(ctx)
	xt, xerr := xc.GetButlerTasks(ctx)
	same("tasks", jt, xt, jerr, xerr)
	jset, jerr := js.Settings(ctx)
	xset, xerr := xc.Settings(ctx)
	same("settings", jset, xset, jerr, xerr)
	jone, jerr := js.Setting(ctx, "ButlerStartHour")
	xone, xerr := xc.Setting(ctx, "ButlerStartHour")
	same("setting", jone, xone, jerr, xerr)
	ja, jerr := js.Activities(ctx)
	xa, xerr := xc.Activities(ctx)
	same("activities", ja, xa, jerr, xerr)
	jr, jerr := js.Runs(ctx, client.RunsQuery{})
	xr, xerr := xc.Runs(ctx, client.RunsQuery{})
	same("runs", jr, xr, jerr, xerr)
	jrun, jerr := js.Run(ctx, start.RunID)
	xrun, xerr := xc.Run(ctx, start.RunID)
	same("run", jrun, xrun, jerr, xerr)
	jp, jerr := js.Plan(ctx)
	xp, xerr := xc.Plan(ctx)
	if xp != nil {
		xp.XMLName = jp.XMLName
	}
	same("plan", jp, xp, jerr, xerr)
	jid, jerr := js.Identity(ctx)
	xid, xerr := xc.Identity(ctx)
	if xid != nil {
		xid.XMLName = jid.XMLName
	}
	same("identity", jid, xid, jerr, xerr)
	if n := xmlAnswers.Load(); n != 8 {
		t.Fatalf("%d XML answers, want 8", n)
	}
	// Errors without JSON: a 400 is an HTML page; the reason comes in the
	// X-Butler-Reason header.
	err = xc.SetSettings(ctx, map[string]string{"ButlerEndHour": "99"})
	clientError(t, err, 400, client.ErrBadRequest, "ButlerEndHour: 99 is out of range")
}

// plexFixture answers as a real Plex Media Server does: XML, and start and
// stop answers without the X-Butler-* headers. The XML bodies are recorded
// from the real server.
func plexFixture(t *testing.T) *httptest.Server {
	s := clienttest.New(t, clienttest.Config{})
	req, _ := http.NewRequest("GET", s.URL+"/butler", nil)
	req.Header.Set("X-Plex-Token", clienttest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recorded, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(recorded), `<?xml`) {
		t.Fatalf("recorded %q", recorded)
	}
	var starts atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/butler":
			w.Header().Set("Content-Type", "text/xml;charset=utf-8")
			w.Write(recorded)
		case r.Method == "POST" && r.URL.Path == "/butler/BackupDatabase":
			if starts.Add(1) > 1 {
				w.WriteHeader(http.StatusAccepted)
			}
		case r.Method == "DELETE" && r.URL.Path == "/butler/BackupDatabase":
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<html><head><title>Not Found</title></head><body><h1>404 Not Found</h1></body></html>`)
		}
	}))
}

func TestPlexServer(t *testing.T) {
	plex := plexFixture(t)
	defer plex.Close()
	c := newClient(t, plex.URL)
	ctx := ctxT(t)
	tasks, err := c.GetButlerTasks(ctx)
	if err != nil || len(tasks.Tasks) != 4 || tasks.Tasks[0].Name != "BackupDatabase" || !bool(tasks.Tasks[0].Enabled) || bool(tasks.Tasks[2].Enabled) {
		t.Fatalf("tasks %+v %v", tasks, err)
	}
	res, err := c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil || *res != (client.StartResponse{StatusCode: 200, Outcome: client.OutcomeStarted}) {
		t.Fatalf("start %+v %v", res, err)
	}
	res, err = c.StartTask(ctx, client.TaskBackupDatabase)
	if err != nil || *res != (client.StartResponse{StatusCode: 202, Outcome: client.OutcomeRunning}) {
		t.Fatalf("second start %+v %v", res, err)
	}
	stop, err := c.StopTask(ctx, client.TaskBackupDatabase)
	if err != nil || *stop != (client.StopResponse{StatusCode: 200, Outcome: client.OutcomeStopped}) {
		t.Fatalf("stop %+v %v", stop, err)
	}
	_, err = c.StartTask(ctx, client.TaskDeepMediaAnalysis)
	e := clientError(t, err, 404, client.ErrNotFound, "Not Found")
	if e.Error() != "client: start task DeepMediaAnalysis: 404 Not Found" {
		t.Fatalf("error %q", e)
	}
}

// TestRetry: GETs are retried on 503 and on transport errors, with backoff;
// POSTs never.
func TestRetry(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var calls, failures atomic.Int32
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failures.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errors":[{"code":503,"message":"the database is busy","status":503}]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer failing.Close()
	c := newClient(t, failing.URL, client.WithRetry(3, time.Millisecond))
	ctx := ctxT(t)

	calls.Store(0)
	failures.Store(2)
	if _, err := c.GetButlerTasks(ctx); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("GET: %d calls, want 3", calls.Load())
	}

	calls.Store(0)
	failures.Store(2)
	_, err := c.StartTask(ctx, client.TaskBackupDatabase)
	clientError(t, err, 503, nil, "the database is busy")
	if calls.Load() != 1 {
		t.Fatalf("POST: %d calls, want 1", calls.Load())
	}
	calls.Store(0)
	failures.Store(2)
	if err := c.SetSettings(ctx, map[string]string{"ButlerStartHour": "3"}); err == nil || calls.Load() != 1 {
		t.Fatalf("PUT: %v after %d calls, want one failed call", err, calls.Load())
	}

	// Out of attempts: the last answer's error.
	calls.Store(0)
	failures.Store(5)
	_, err = c.Plan(ctx)
	clientError(t, err, 503, nil, "the database is busy")
	if calls.Load() != 3 {
		t.Fatalf("GET out of attempts: %d calls, want 3", calls.Load())
	}

	// Without WithRetry: one try.
	calls.Store(0)
	failures.Store(1)
	if _, err := newClient(t, failing.URL).GetButlerTasks(ctx); err == nil || calls.Load() != 1 {
		t.Fatalf("no retry: %v after %d calls", err, calls.Load())
	}

	// The backoff doubles, and gives way to the context.
	calls.Store(0)
	failures.Store(100)
	slow := newClient(t, failing.URL, client.WithRetry(10, 200*time.Millisecond))
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = slow.GetButlerTasks(sctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 5*time.Second {
		t.Fatalf("retries past the context: %v after %v", err, time.Since(began))
	}
	// 200 ms, then 400 ms: the third try would come after 600 ms.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls within 500 ms, want 2", n)
	}

	// Transport errors: a listener that drops the first two connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int32
	dropping := &httptest.Server{Listener: &droppingListener{Listener: ln, drop: &dropped, n: 2}, Config: &http.Server{Handler: rp}}
	dropping.Start()
	defer dropping.Close()
	dc := newClient(t, dropping.URL, client.WithRetry(3, time.Millisecond))
	if _, err := dc.Identity(ctx); err != nil || dropped.Load() != 2 {
		t.Fatalf("GET after two dropped connections: %v (%d dropped)", err, dropped.Load())
	}
}

// droppingListener closes its first n connections at once.
type droppingListener struct {
	net.Listener
	drop *atomic.Int32
	n    int32
}

func (l *droppingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.drop.Add(1) <= l.n {
			c.Close()
			continue
		}
		l.drop.Add(-1)
		return c, nil
	}
}

func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newClient(t, "http://"+addr)
	ctx := ctxT(t)
	_, err = c.StartTask(ctx, client.TaskBackupDatabase)
	var ue *url.Error
	if err == nil || !strings.HasPrefix(err.Error(), "client: start task BackupDatabase: ") || !errors.As(err, &ue) {
		t.Fatalf("error %v", err)
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		t.Fatal("a transport error is a *client.Error")
	}
	if _, err := c.Settings(ctx); err == nil || !strings.HasPrefix(err.Error(), "client: get settings: ") {
		t.Fatalf("error %v", err)
	}
	events, watchErr := c.Watch(ctx)
	if _, open := <-events; open {
		t.Fatal("watch of nothing delivered an event")
	}
	if err := watchErr(); err == nil || !strings.HasPrefix(err.Error(), "client: watch notifications: ") {
		t.Fatalf("watch error %v", err)
	}

	// A server that does not answer in time.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	defer hang.CloseClientConnections()
	hc := newClient(t, hang.URL, client.WithTimeout(50*time.Millisecond))
	if _, err := hc.Identity(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	events, watchErr = hc.Watch(ctx)
	if _, open := <-events; open || !errors.Is(watchErr(), context.DeadlineExceeded) {
		t.Fatalf("watch timeout: %v", watchErr())
	}
	// Watch's timeout is a transport error, as a request's is.
	if err := watchErr(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("watch timeout: %v (%T), want a *url.Error that says how long it waited", err, err)
	}
	// Not a Butler: an answer that is neither JSON nor XML.
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}))
	defer text.Close()
	if _, err := newClient(t, text.URL).GetButlerTasks(ctx); err == nil || !strings.Contains(err.Error(), "neither JSON nor XML") {
		t.Fatalf("text answer: %v", err)
	}
	events, watchErr = newClient(t, text.URL).Watch(ctx)
	if _, open := <-events; open || watchErr() == nil || !strings.Contains(watchErr().Error(), "not an event stream") {
		t.Fatalf("text stream: %v", watchErr())
	}
}

// nextEvent returns the next event of the run, skipping others.
func nextEvent(t *testing.T, events <-chan client.Event, runID int64) client.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event channel closed")
			}
			if ev.RunID() == runID {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 20s")
		}
	}
}

func TestWatch(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	c := newClient(t, s.URL)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	events, watchErr := c.Watch(ctx)
	if watchErr() != nil {
		t.Fatal(watchErr())
	}
	for i, want := range []string{"succeeded", "failed"} {
		res, err := c.StartTask(ctx, client.TaskOptimizeDatabase, client.Force())
		if err != nil {
			t.Fatal(err)
		}
		a := s.Action(butler.TaskOptimizeDatabase)
		a.WaitStarted(t)
		ev := nextEvent(t, events, res.RunID)
		if ev.Type != client.EventStarted || ev.Task() != client.TaskOptimizeDatabase || ev.UUID == "" || ev.UUID != ev.Activity.UUID || ev.Outcome() != "" {
			t.Fatalf("event %d: %+v", i, ev)
		}
		ev = nextEvent(t, events, res.RunID)
		if ev.Type != client.EventUpdated || ev.Activity.Progress != 10 || ev.Activity.Subtitle != clienttest.Step {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if want == "succeeded" {
			a.Finish(t, nil)
		} else {
			a.Finish(t, clienttest.ErrTaskFailed)
		}
		for ev.Type != client.EventEnded {
			ev = nextEvent(t, events, res.RunID)
		}
		if ev.Outcome() != want {
			t.Fatalf("ended event: %+v %+v", ev, ev.Activity.Context)
		}
	}
	cancel()
	for range events {
	}
	if err := watchErr(); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

func TestWatchEnds(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{})
	ctx := ctxT(t)
	events, watchErr := newClient(t, s.URL, client.WithToken("wrong")).Watch(ctx)
	if _, open := <-events; open {
		t.Fatal("an unauthorized watch delivered an event")
	}
	if err := watchErr(); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("unauthorized watch: %v", err)
	}
	events, watchErr = newClient(t, s.URL).Watch(ctx)
	s.Close() // the stream breaks
	for range events {
	}
	if err := watchErr(); err == nil || !strings.HasPrefix(err.Error(), "client: watch notifications: ") {
		t.Fatalf("broken stream: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    client.Error
		want string
	}{
		{client.Error{StatusCode: 404, Message: "no task named \"X\"", Op: "start task X"}, `client: start task X: no task named "X" (404 Not Found)`},
		{client.Error{StatusCode: 401, Message: "Unauthorized", Op: "get plan"}, `client: get plan: 401 Unauthorized`},
		{client.Error{StatusCode: 400, Op: "set settings"}, `client: set settings: 400 Bad Request`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
	e := &client.Error{StatusCode: 500}
	for _, s := range []error{client.ErrNotFound, client.ErrUnauthorized, client.ErrDisabled, client.ErrBadRequest} {
		if errors.Is(e, s) {
			t.Errorf("500 is %v", s)
		}
	}
	// A 409 means what the call says it means (TestConflicts): made by
	// hand, with no call, it is none of the sentinels.
	e = &client.Error{StatusCode: 409}
	for _, s := range []error{client.ErrNotFound, client.ErrUnauthorized, client.ErrDisabled, client.ErrFixed, client.ErrBadRequest} {
		if errors.Is(e, s) {
			t.Errorf("a bare 409 is %v", s)
		}
	}
}

// TestConflicts: a 409 to a settings change is ErrFixed (a setting the
// config file fixes), never ErrDisabled; a 409 to a task start, which
// Butler servers before this one answered for a disabled task, is
// ErrDisabled alone. The settings list marks the fixed setting and keeps
// its built-in default.
func TestConflicts(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Fixed: map[string]string{"ButlerStartHour": "1"}})
	c := newClient(t, s.URL)
	ctx := ctxT(t)
	err := c.SetSettings(ctx, map[string]string{"ButlerStartHour": "3"})
	clientError(t, err, 409, client.ErrFixed, "ButlerStartHour is fixed to \"1\" by the config file /etc/butler/butler.yaml")
	if errors.Is(err, client.ErrDisabled) {
		t.Error("a fixed setting's 409 is ErrDisabled")
	}
	st, err := c.Setting(ctx, "ButlerStartHour")
	if err != nil || !st.Fixed || st.Value.Text != "1" || st.Default.Text != "2" {
		t.Errorf("the fixed setting: %+v %v; want fixed, value 1, the built-in default 2", st, err)
	}
	if other, err := c.Setting(ctx, "ButlerEndHour"); err != nil || other.Fixed {
		t.Errorf("a setting the file leaves alone: %+v %v; want it not fixed", other, err)
	}

	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(apitype.HeaderReason, "task BackupDatabase is disabled")
		w.WriteHeader(http.StatusConflict)
	}))
	defer old.Close()
	_, err = newClient(t, old.URL).StartTask(ctx, client.TaskBackupDatabase)
	clientError(t, err, 409, client.ErrDisabled, "disabled")
	if errors.Is(err, client.ErrFixed) {
		t.Error("a start's 409 is ErrFixed")
	}
}
