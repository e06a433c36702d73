package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/metrics"
	"github.com/plexbutler/butler/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const token = "test-token-0123456789"

// testUpdatedAt is the updatedAt of the test servers' root.
var testUpdatedAt = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)

// blocker is an action that announces each start and runs until its context
// ends or it is released. It counts how many of its runs overlap.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	running atomic.Int32
	maxSeen atomic.Int32
	ended   chan error
	// ticking makes it report progress every 2 ms while it runs.
	ticking atomic.Bool
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 1000), release: make(chan struct{}), ended: make(chan error, 1000)}
}

func (b *blocker) Run(ctx context.Context, r butler.Reporter) error {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		m := b.maxSeen.Load()
		if n <= m || b.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	// Entered is announced after the first progress, so that a test that
	// has seen it finds the progress in the activity.
	r.Progress(10, "blocking")
	b.entered <- struct{}{}
	var tick <-chan time.Time
	if b.ticking.Load() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	var err error
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-b.release:
		case <-tick:
			r.Progress(i%100, "ticking")
			continue
		}
		break
	}
	b.ended <- err
	return err
}

type server struct {
	*httptest.Server
	m       *butler.Manager
	db      *sqlite.DB
	eng     *engine.Engine
	actions map[butler.TaskName]*blocker
}

// newServer starts the real stack: SQLite file, River engine, manager and
// handler, with blocking actions bound to three catalog tasks and the window
// twelve hours away from now, so that the planner stays quiet.
func newServer(t *testing.T) *server {
	t.Helper()
	return newServerBinding(t, butler.TaskBackupDatabase, butler.TaskOptimizeDatabase, butler.TaskCleanOldCacheFiles)
}

// newServerBinding is newServer with blocking actions bound to the named
// catalog tasks.
func newServerBinding(t *testing.T, bound ...butler.TaskName) *server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	startHour := (time.Now().UTC().Hour() + 12) % 24
	if err := db.SaveSettings(ctx, map[string]string{
		butler.SettingStartHour: fmt.Sprint(startHour), butler.SettingEndHour: fmt.Sprint((startHour + 1) % 24),
		"ButlerTaskCleanOldCacheFiles": "false",
	}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[butler.TaskName]*blocker{}
	catalog := butler.DefaultCatalog()
	for _, name := range bound {
		actions[name] = newBlocker()
		catalog = butler.Bind(catalog, name, actions[name])
	}
	mt := metrics.New()
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC", DataDir: dir, Node: "test", Observer: mt})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mt.Watch(m)
	// The tests send wrong tokens to every route on purpose, from one
	// address: unthrottled here (TestWrongTokensThrottled holds the
	// default).
	h, err := api.NewHandler(api.Config{Manager: m, Token: token, Version: "1.2.3", MachineIdentifier: "abc", FriendlyName: "test",
		Platform: "Linux", PlatformVersion: "6.1.0-test", UpdatedAt: testUpdatedAt, Metrics: mt.Handler(),
		WrongTokens: api.GuessLimit{Burst: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: httptest.NewServer(h), m: m, db: db, eng: eng, actions: actions}
	t.Cleanup(s.shutdown)
	return s
}

var shutdownOnce sync.Map

func (s *server) shutdown() {
	if _, done := shutdownOnce.LoadOrStore(s, true); done {
		return
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.m.Stop(ctx)
	s.eng.Stop(ctx)
	s.db.Close()
}

type req struct {
	method, path string
	header       map[string]string
	noToken      bool
	body         string // sent when not empty
}

// bodyOf is the request body of r, nil when it has none.
func (r req) bodyOf() io.Reader {
	if r.body == "" {
		return nil
	}
	return strings.NewReader(r.body)
}

func (s *server) do(t *testing.T, r req) (*http.Response, string) {
	t.Helper()
	hr, err := http.NewRequest(r.method, s.URL+r.path, r.bodyOf())
	if err != nil {
		t.Fatal(err)
	}
	if !r.noToken {
		hr.Header.Set("X-Plex-Token", token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestGetButler(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{"/butler", "/butler/"} {
		resp, body := s.do(t, req{method: "GET", path: path})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml;charset=utf-8" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("X-Plex-Protocol") != "1.0" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("plex headers missing: %v", resp.Header)
		}
		golden(t, "butler.xml", body)
	}
	for _, accept := range []string{"application/json", "text/plain, application/json;q=0.9"} {
		resp, body := s.do(t, req{method: "GET", path: "/butler", header: map[string]string{"Accept": accept}})
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("Accept %q gave %s", accept, resp.Header.Get("Content-Type"))
		}
		golden(t, "butler.json", body)
		var decoded apitype.ButlerTasksResponse
		if err := json.Unmarshal([]byte(body), &decoded); err != nil || len(decoded.ButlerTasks.ButlerTask) != 3 {
			t.Fatalf("decode: %v %+v", err, decoded)
		}
	}
	// python-plexapi sends Accept: */* and wants XML.
	if resp, _ := s.do(t, req{method: "GET", path: "/butler", header: map[string]string{"Accept": "*/*"}}); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("*/* gave %s", resp.Header.Get("Content-Type"))
	}
}

func TestAuth(t *testing.T) {
	s := newServer(t)
	const body401 = `<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>`
	for name, r := range map[string]req{
		"Missing":     {method: "GET", path: "/butler", noToken: true},
		"Wrong":       {method: "POST", path: "/butler/BackupDatabase", noToken: true, header: map[string]string{"X-Plex-Token": "nope"}},
		"AskedJSON":   {method: "GET", path: "/:/prefs", noToken: true, header: map[string]string{"Accept": "application/json"}},
		"Prefix":      {method: "DELETE", path: "/butler", noToken: true, header: map[string]string{"X-Plex-Token": token[:len(token)-1]}},
		"UnknownPath": {method: "GET", path: "/library/sections", noToken: true},
	} {
		resp, body := s.do(t, r)
		if resp.StatusCode != 401 || body != body401 || resp.Header.Get("Content-Type") != "text/html" {
			t.Errorf("%s: %d %q %s", name, resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := s.do(t, req{method: "GET", path: "/butler?X-Plex-Token=" + token, noToken: true}); resp.StatusCode != 200 {
		t.Fatalf("token in query: %d", resp.StatusCode)
	}
	resp, body := s.do(t, req{method: "GET", path: "/identity", noToken: true})
	if resp.StatusCode != 200 || !strings.Contains(body, `machineIdentifier="abc"`) || !strings.Contains(body, `version="1.2.3"`) {
		t.Fatalf("identity without a token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(t, req{method: "GET", path: "/", noToken: true}); resp.StatusCode != 401 {
		t.Fatalf("GET / without a token: %d, want 401", resp.StatusCode)
	}
}

func TestBadRequests(t *testing.T) {
	s := newServer(t)
	const body404 = `<html><head><title>Not Found</title></head><body><h1>404 Not Found</h1></body></html>`
	for _, tc := range []struct {
		name   string
		r      req
		status int
		body   string // exact, or "" to skip
		has    string // substring
	}{
		{"UnknownRoute", req{method: "GET", path: "/nope"}, 404, body404, ""},
		{"UnknownTask", req{method: "POST", path: "/butler/NoSuchTask"}, 404, body404, ""},
		{"UnknownTaskStop", req{method: "DELETE", path: "/butler/NoSuchTask/"}, 404, body404, ""},
		{"KnownNameNotOffered", req{method: "POST", path: "/butler/RefreshLibraries"}, 404, body404, ""},
		{"CaseSensitive", req{method: "POST", path: "/butler/backupdatabase"}, 404, body404, ""},
		{"NothingToStop", req{method: "DELETE", path: "/butler/BackupDatabase"}, 404, body404, ""},
		{"WrongMethod", req{method: "PUT", path: "/butler"}, 405, "", "PUT is not allowed on /butler"},
		{"WrongMethodJSON", req{method: "PATCH", path: "/butler/BackupDatabase", header: map[string]string{"Accept": "application/json"}}, 405, `{"errors":[{"code":405,"message":"PATCH is not allowed on /butler/BackupDatabase; use POST or DELETE","status":405}]}`, ""},
		{"MalformedQuery", req{method: "POST", path: "/butler/BackupDatabase?force=%zz"}, 400, "", "malformed query string"},
		{"BadForce", req{method: "POST", path: "/butler/BackupDatabase?force=maybe"}, 400, "", "not a bool"},
		{"OversizedQuery", req{method: "GET", path: "/butler?x=" + strings.Repeat("a", 9000)}, 414, "", "longer than"},
		{"UnknownSetting", req{method: "GET", path: "/:/prefs/get?id=Nope"}, 404, body404, ""},
		{"SettingWithoutID", req{method: "GET", path: "/:/prefs/get"}, 400, "", "give the setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.r)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.body != "" && body != tc.body {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
			if !strings.Contains(body, tc.has) {
				t.Fatalf("body %q lacks %q", body, tc.has)
			}
			if tc.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	// An oversized body is refused before it is read.
	hr, _ := http.NewRequest("PUT", s.URL+"/:/prefs", bytes.NewReader(make([]byte, 100<<10)))
	hr.Header.Set("X-Plex-Token", token)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized body: %d, want 413", resp.StatusCode)
	}
}

func TestStartStopTask(t *testing.T) {
	s := newServer(t)
	b := s.actions[butler.TaskBackupDatabase]
	resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase/", header: map[string]string{"X-Plex-Client-Identifier": "x", "accepts": "application/xml"}})
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("start: %d %v", resp.StatusCode, resp.Header)
	}
	wait(t, b.entered, "the task to start")
	resp, _ = s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	if resp.StatusCode != 202 || resp.Header.Get(apitype.HeaderOutcome) != "running" {
		t.Fatalf("second start: %d %s, want 202 running", resp.StatusCode, resp.Header.Get(apitype.HeaderOutcome))
	}
	resp, _ = s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"})
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "stopped" {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	// The stop is durable and the task's context was cancelled before the answer.
	select {
	case err := <-b.ended:
		if err == nil {
			t.Fatal("the task ended without its context cancelled")
		}
	default:
		t.Fatal("the stop answered before the task returned")
	}
	runs, _ := s.db.Runs(context.Background(), butler.RunFilter{Task: butler.TaskBackupDatabase})
	if len(runs) != 1 || runs[0].Outcome != butler.OutcomeStopped {
		t.Fatalf("runs %+v, want one stopped", runs)
	}
	if resp, _ := s.do(t, req{method: "DELETE", path: "/butler/BackupDatabase"}); resp.StatusCode != 404 {
		t.Fatalf("stop again: %d, want 404", resp.StatusCode)
	}
	// Not due: the stopped run was not a success, so a start runs it again.
	if resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase"}); resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("start after stop: %v", resp.Header)
	}
	wait(t, b.entered, "the task to start again")
	close(b.release)
	<-b.ended
	// Succeeded now: the next start is skipped until it is due.
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, _ := s.db.Runs(context.Background(), butler.RunFilter{Task: butler.TaskBackupDatabase, Limit: 1})
		if runs[0].Outcome == butler.OutcomeSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not recorded as succeeded: %+v", runs[0])
		}
		time.Sleep(5 * time.Millisecond) // waits on the worker's store write, not on the behaviour under test
	}
	resp, _ = s.do(t, req{method: "POST", path: "/butler/BackupDatabase"})
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "skipped" || !strings.HasPrefix(resp.Header.Get(apitype.HeaderReason), "not due until ") {
		t.Fatalf("start when not due: %d %v", resp.StatusCode, resp.Header)
	}
	// Forced, it runs.
	if resp, _ := s.do(t, req{method: "POST", path: "/butler/BackupDatabase?force=1"}); resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("forced: %v", resp.Header)
	}
	wait(t, b.entered, "the forced run")
}

// TestRemoveWaitingRun: DELETE /butler/runs/{id} removes that run while
// it waits (scheduled here, for its random time in the open window), and
// never stops a run that has started: 409 for a running run and for one
// that has ended, each left as it was, 404 for a run there is not, 400
// for an id that is not one.
func TestRemoveWaitingRun(t *testing.T) {
	s := newWebServer(t, true, map[butler.TaskName]butler.Action{
		butler.TaskRefreshLocalMedia: shellTask(`true`),
		butler.TaskOptimizeDatabase:  shellTask(`sleep 60`),
	})
	waiting := waitRun(t, s, butler.TaskRefreshLocalMedia, "the run to wait for its time", func(r butler.Run) bool { return r.State == butler.StateScheduled }).ID
	// The planner may have started OptimizeDatabase already (202).
	resp, _ := s.do(t, req{method: "POST", path: "/butler/OptimizeDatabase?force=1"})
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start OptimizeDatabase: %d", resp.StatusCode)
	}
	running := waitRun(t, s, butler.TaskOptimizeDatabase, "OptimizeDatabase to run", func(r butler.Run) bool { return r.State == butler.StateRunning }).ID

	remove := func(id string) (*http.Response, string) {
		t.Helper()
		return s.do(t, req{method: "DELETE", path: "/butler/runs/" + id})
	}
	resp, body := remove(fmt.Sprint(running))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Header.Get(apitype.HeaderReason), "has started") {
		t.Errorf("DELETE the running run: %d %q %.200s, want 409 saying it has started", resp.StatusCode, resp.Header.Get(apitype.HeaderReason), body)
	}
	if r, err := s.m.Run(t.Context(), running); err != nil || r.State != butler.StateRunning {
		t.Errorf("the running run after DELETE /butler/runs/%d: %s (%v), want still running", running, r.State, err)
	}
	resp, body = remove(fmt.Sprint(waiting))
	if resp.StatusCode != http.StatusOK || resp.Header.Get(apitype.HeaderOutcome) != "removed" || resp.Header.Get(apitype.HeaderRunID) != fmt.Sprint(waiting) ||
		body != "" || resp.Header.Get("Content-Type") != "" {
		t.Errorf("DELETE the waiting run: %d %s run %s %q (%q), want 200 removed, its id, no body and no type", resp.StatusCode,
			resp.Header.Get(apitype.HeaderOutcome), resp.Header.Get(apitype.HeaderRunID), body, resp.Header.Get("Content-Type"))
	}
	if r, err := s.m.Run(t.Context(), waiting); err != nil || r.State != butler.StateFinished || r.Outcome != butler.OutcomeSkipped {
		t.Errorf("the waiting run after its DELETE: %s/%s (%v), want finished/skipped", r.State, r.Outcome, err)
	}
	resp, _ = remove(fmt.Sprint(waiting))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Header.Get(apitype.HeaderReason), "has ended (skipped)") {
		t.Errorf("DELETE the removed run again: %d %q, want 409 saying it has ended", resp.StatusCode, resp.Header.Get(apitype.HeaderReason))
	}
	if resp, _ := remove("999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE /butler/runs/999: %d, want 404", resp.StatusCode)
	}
	for _, bad := range []string{"abc", "0", "-1"} {
		if resp, _ := remove(bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("DELETE /butler/runs/%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp, _ := s.do(t, req{method: "DELETE", path: "/butler/runs/" + fmt.Sprint(running), noToken: true}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE /butler/runs/%d without the token: %d, want 401", running, resp.StatusCode)
	}
}

func TestStartAllStopAll(t *testing.T) {
	s := newServer(t)
	resp, body := s.do(t, req{method: "POST", path: "/butler"})
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("start all: %d %q", resp.StatusCode, body)
	}
	// ButlerMaxConcurrentTasks is 1: one of the two enabled tasks runs, the
	// other waits in the queue; the disabled one is left alone.
	select {
	case <-s.actions[butler.TaskBackupDatabase].entered:
	case <-s.actions[butler.TaskOptimizeDatabase].entered:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing started")
	}
	active, err := s.db.ActiveRuns(context.Background())
	if err != nil || len(active) != 2 {
		t.Fatalf("active runs %+v, %v; want 2", active, err)
	}
	resp, _ = s.do(t, req{method: "DELETE", path: "/butler/"})
	if resp.StatusCode != 200 {
		t.Fatalf("stop all: %d", resp.StatusCode)
	}
	if active, _ := s.db.ActiveRuns(context.Background()); len(active) != 0 {
		t.Fatalf("active after stop all: %+v", active)
	}
	outcomes := map[butler.Outcome]int{}
	runs, _ := s.db.Runs(context.Background(), butler.RunFilter{})
	for _, r := range runs {
		outcomes[r.Outcome]++
	}
	if outcomes[butler.OutcomeStopped] != 1 || outcomes[butler.OutcomeSkipped] != 1 || len(runs) != 2 {
		t.Fatalf("outcomes %v over %d runs, want one stopped, one skipped (removed)", outcomes, len(runs))
	}
	if s.actions[butler.TaskCleanOldCacheFiles].running.Load() != 0 {
		t.Fatal("a disabled task ran")
	}
}

func TestPrefs(t *testing.T) {
	s := newServer(t)
	resp, body := s.do(t, req{method: "GET", path: "/:/prefs", header: map[string]string{"Accept": "application/json"}})
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	var prefs apitype.SettingsResponse
	if err := json.Unmarshal([]byte(body), &prefs); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, st := range prefs.MediaContainer.Setting {
		ids[st.ID] = true
	}
	for _, id := range []string{"ButlerStartHour", "ButlerEndHour", "ButlerDatabaseBackupPath", "ButlerTaskBackupDatabase",
		"ButlerTaskOptimizeDatabase", "ButlerTaskCleanOldCacheFiles", "ButlerMaxConcurrentTasks", "ButlerTimeZone", "ButlerRunRetentionDays"} {
		if !ids[id] {
			t.Errorf("GET /:/prefs lacks %s", id)
		}
	}
	if ids["ButlerTaskRefreshLibraries"] {
		t.Error("a setting for a task the server does not offer")
	}
	if prefs.MediaContainer.Size != len(prefs.MediaContainer.Setting) {
		t.Error("size does not match")
	}
	// Typed JSON values, plain XML ones.
	_, one := s.do(t, req{method: "GET", path: "/:/prefs/get?id=ButlerTaskBackupDatabase", header: map[string]string{"Accept": "application/json"}})
	if !strings.Contains(one, `"default":true,"value":true`) {
		t.Fatalf("bool setting JSON: %s", one)
	}
	_, one = s.do(t, req{method: "GET", path: "/:/prefs/get?id=ButlerMaxConcurrentTasks"})
	if !strings.Contains(one, `default="1" value="1" hidden="0" advanced="1"`) {
		t.Fatalf("int setting XML: %s", one)
	}
	// The id with its first letter in lower case, as PUT takes it.
	_, one = s.do(t, req{method: "GET", path: "/:/prefs/get?id=butlerMaxConcurrentTasks"})
	if !strings.Contains(one, `id="ButlerMaxConcurrentTasks"`) {
		t.Fatalf("lower-first id: %s", one)
	}

	// All or nothing.
	// (The server's start hour depends on the clock: the PUT asks for
	// another one.)
	before := s.m.Settings().Get("ButlerStartHour")
	other := "4"
	if before == other {
		other = "5"
	}
	resp, body = s.do(t, req{method: "PUT", path: "/:/prefs?ButlerStartHour=" + other + "&ButlerEndHour=99"})
	if resp.StatusCode != 400 || !strings.Contains(body, "ButlerEndHour: 99 is out of range") {
		t.Fatalf("invalid PUT: %d %s", resp.StatusCode, body)
	}
	if got := s.m.Settings().Get("ButlerStartHour"); got != before {
		t.Fatalf("a rejected PUT changed a setting: ButlerStartHour %s, was %s", got, before)
	}
	if resp, _ := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerStartHour=4&ButlerStartHour=5"}); resp.StatusCode != 400 {
		t.Fatalf("duplicate id: %d", resp.StatusCode)
	}
	if resp, _ := s.do(t, req{method: "PUT", path: "/:/prefs"}); resp.StatusCode != 200 {
		t.Fatalf("empty PUT: %d, want 200", resp.StatusCode)
	}
	// Bools as 0/1/true/false, python-plexapi's lower-case first letter, and
	// X-Plex-* query keys that are not settings.
	resp, body = s.do(t, req{method: "PUT", path: "/:/prefs?ButlerTaskBackupDatabase=0&butlerTaskOptimizeDatabase=false&ButlerTimeZone=Europe%2FBerlin&X-Plex-Client-Identifier=abc"})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	set := s.m.Settings()
	if set.Get("ButlerTaskBackupDatabase") != "false" || set.Get("ButlerTaskOptimizeDatabase") != "false" || set.Get("ButlerTimeZone") != "Europe/Berlin" {
		t.Fatalf("settings after PUT: %v", set.Values())
	}
	_, xml := s.do(t, req{method: "GET", path: "/:/prefs/get?id=ButlerTaskBackupDatabase"})
	if !strings.Contains(xml, `default="true" value="false"`) {
		t.Fatalf("bool setting XML: %s", xml)
	}
	// Backup path: must be absolute and creatable (not below a file).
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, body := s.do(t, req{method: "PUT", path: "/:/prefs?ButlerDatabaseBackupPath=" + url.QueryEscape(file+"/nope")}); resp.StatusCode != 400 || !strings.Contains(body, "cannot create the backup directory") {
		t.Fatalf("uncreatable backup path: %d %s", resp.StatusCode, body)
	}
}

// TestWrongTokensThrottled: with the default limit, a client's eleventh
// wrong token in a row answers 429 with Retry-After, and so does its right
// token then (uncompared); the dashboard's sign-in says the same.
func TestWrongTokensThrottled(t *testing.T) {
	base := newServer(t)
	h, err := api.NewHandler(api.Config{Manager: base.m, Token: token, Version: "1.2.3", MachineIdentifier: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/butler", nil)
		req.Header.Set("X-Plex-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(token); resp.StatusCode != 200 {
		t.Fatalf("the right token: %d", resp.StatusCode)
	}
	for i := range 10 {
		if resp := get("wrong-token-" + strconv.Itoa(i)); resp.StatusCode != 401 {
			t.Fatalf("wrong token %d: %d; want 401", i+1, resp.StatusCode)
		}
	}
	for _, tok := range []string{"wrong-token-10", token} {
		resp := get(tok)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "6" || !strings.Contains(resp.Header.Get(apitype.HeaderReason), "too many wrong tokens from this address") {
			t.Errorf("after 10 wrong tokens, %s: %d Retry-After %q %q; want 429, 6 s", tok, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get(apitype.HeaderReason))
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/web/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a sign-in then: %d; want 429", resp.StatusCode)
	}
}
