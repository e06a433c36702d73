package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
)

// plexjsDir holds the npm package of the plexjs test: package.json and
// package-lock.json (committed) pin @lukehagar/plexjs; node_modules is
// installed there by `npm ci` (CI does it; the test does it when it is
// missing).
var plexjsDir = filepath.Join("testdata", "plexjs")

// requireNode reports whether the Node tests must run (CI sets
// BUTLER_TEST_REQUIRE_NODE): then a missing node or npm fails them rather
// than skipping them.
func requireNode() bool { return os.Getenv("BUTLER_TEST_REQUIRE_NODE") != "" }

// nodeTools returns the paths of node and npm, or skips the test when one is
// missing and BUTLER_TEST_REQUIRE_NODE is unset.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if nodeErr != nil || npmErr != nil {
		msg := "the plexjs test needs Node.js 20 or later with npm (apt-get install nodejs npm)"
		if requireNode() {
			t.Fatalf("%s; BUTLER_TEST_REQUIRE_NODE is set, so it fails rather than skips: node: %v, npm: %v", msg, nodeErr, npmErr)
		}
		t.Skipf("%s; skipped (set BUTLER_TEST_REQUIRE_NODE to make this a failure)", msg)
	}
	return node, npm
}

// installPlexjs runs `npm ci` in plexjsDir unless the locked SDK is there.
func installPlexjs(t *testing.T, npm string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(plexjsDir, "node_modules", "@lukehagar", "plexjs", "package.json")); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = plexjsDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s\nrun `npm ci --prefix api/testdata/plexjs` by hand to see why", plexjsDir, err, out)
	}
}

// plexjs is a running drive.mjs: one SDK operation per call.
type plexjs struct {
	t      *testing.T
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *bytes.Buffer
}

// sdkResult is the answer of one SDK operation (see drive.mjs).
type sdkResult struct {
	OK         bool            `json:"ok"`
	StatusCode int             `json:"statusCode"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
}

// startPlexjs starts drive.mjs with node against s.
func startPlexjs(t *testing.T, s *server, node string) *plexjs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "drive.mjs")
	cmd.Dir = plexjsDir
	cmd.Env = append(os.Environ(), "BUTLER_URL="+s.URL, "BUTLER_TOKEN="+token)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &plexjs{t: t, stdin: stdin, out: bufio.NewScanner(stdout), stderr: &bytes.Buffer{}}
	p.out.Buffer(make([]byte, 0, 64<<10), 4<<20)
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start node drive.mjs: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close() // drive.mjs ends at the end of its input
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("drive.mjs: %v\n%s", err, p.stderr)
			}
		case <-time.After(10 * time.Second):
			cancel()
			<-done
			t.Errorf("drive.mjs did not end at the end of its input\n%s", p.stderr)
		}
		cancel()
	})
	return p
}

// call runs one SDK operation (group.method, as plexAPI.butler.startTask)
// with args (nil for none) and returns its answer.
func (p *plexjs) call(op string, args any) sdkResult {
	p.t.Helper()
	line, err := json.Marshal(map[string]any{"op": op, "args": args})
	if err != nil {
		p.t.Fatal(err)
	}
	if args == nil {
		line, _ = json.Marshal(map[string]any{"op": op})
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		p.t.Fatalf("%s: write to drive.mjs: %v\n%s", op, err, p.stderr)
	}
	if !p.out.Scan() {
		p.t.Fatalf("%s: drive.mjs ended without an answer (%v)\n%s", op, p.out.Err(), p.stderr)
	}
	var r sdkResult
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		p.t.Fatalf("%s: drive.mjs answered %q: %v", op, p.out.Text(), err)
	}
	return r
}

// ok runs an operation that must succeed with status and decodes the SDK's
// parsed response into into (when not nil).
func (p *plexjs) ok(op string, args any, status int, into any) {
	p.t.Helper()
	r := p.call(op, args)
	if !r.OK || r.StatusCode != status {
		p.t.Fatalf("%s(%v): ok=%v status %d %s; want status %d\nresult: %s", op, args, r.OK, r.StatusCode, r.Error, status, r.Result)
	}
	if into != nil {
		if err := json.Unmarshal(r.Result, into); err != nil {
			p.t.Fatalf("%s: decode %s: %v", op, r.Result, err)
		}
	}
}

// TestPlexjs drives the Speakeasy SDK @lukehagar/plexjs (the version
// package-lock.json pins) against a real server: the server's description
// and identity, the five Butler operations, the settings and the
// activities. The SDK validates every JSON answer against the Plex OpenAPI
// schema (types included) and throws when one does not fit.
func TestPlexjs(t *testing.T) {
	node, npm := nodeTools(t)
	installPlexjs(t, npm)
	s := newServer(t)
	p := startPlexjs(t, s, node)
	backup, clean := s.actions[butler.TaskBackupDatabase], s.actions[butler.TaskCleanOldCacheFiles]

	// The server's description and identity.
	var info struct {
		MediaContainerWithDirectory struct {
			MediaContainer struct {
				Size      int
				Directory []struct{ Key, Title string }
			}
		}
	}
	p.ok("general.getServerInfo", map[string]any{}, 200, &info)
	if mc := info.MediaContainerWithDirectory.MediaContainer; mc.Size != 3 || len(mc.Directory) != 3 || mc.Directory[2].Key != "butler" {
		t.Fatalf("getServerInfo: %+v", mc)
	}
	var id struct {
		Object struct {
			MediaContainer struct {
				Claimed           *bool
				MachineIdentifier string
				Version           string
			}
		}
	}
	p.ok("general.getIdentity", nil, 200, &id)
	if mc := id.Object.MediaContainer; mc.Claimed == nil || *mc.Claimed || mc.MachineIdentifier != "abc" || mc.Version != "1.2.3" {
		t.Fatalf("getIdentity: %+v", mc)
	}

	// List.
	var tasks struct {
		Object struct {
			ButlerTasks struct {
				ButlerTask []struct {
					Name     string
					Enabled  bool
					Interval int
				}
			}
		}
	}
	p.ok("butler.getTasks", nil, 200, &tasks)
	if list := tasks.Object.ButlerTasks.ButlerTask; len(list) != 3 || list[0].Name != "BackupDatabase" || !list[0].Enabled || list[0].Interval != 3 || list[2].Enabled {
		t.Fatalf("getTasks: %+v", list)
	}

	// Settings.
	type setting struct {
		ID, Type, Group, EnumValues string
		Value, Default              any
	}
	var prefs struct {
		MediaContainerWithSettings struct {
			MediaContainer struct {
				Size    int
				Setting []setting
			}
		}
	}
	p.ok("preferences.getAllPreferences", nil, 200, &prefs)
	byID := map[string]setting{}
	for _, st := range prefs.MediaContainerWithSettings.MediaContainer.Setting {
		byID[st.ID] = st
	}
	if st := byID["ButlerStartHour"]; st.Type != "int" || !strings.HasPrefix(st.EnumValues, "0:Midnight|1:1 am|") || st.Default != float64(2) {
		t.Fatalf("getAllPreferences: ButlerStartHour %+v", st)
	}
	if st := byID["FriendlyName"]; st.Group != "general" || st.Value != "" {
		t.Fatalf("getAllPreferences: FriendlyName %+v", st)
	}
	if st := byID["ButlerTaskCleanOldCacheFiles"]; st.Value != false || st.Default != true {
		t.Fatalf("getAllPreferences: ButlerTaskCleanOldCacheFiles %+v", st)
	}
	var one struct {
		MediaContainerWithSettings struct {
			MediaContainer struct{ Setting []setting }
		}
	}
	p.ok("preferences.getPreference", map[string]any{"id": "ButlerMaxConcurrentTasks"}, 200, &one)
	if list := one.MediaContainerWithSettings.MediaContainer.Setting; len(list) != 1 || list[0].Value != float64(1) {
		t.Fatalf("getPreference: %+v", list)
	}
	// plexjs 0.43.0 declares the prefs of setPreferences as an empty object,
	// which its validation strips: the PUT carries no setting, and the
	// server answers 200 having changed nothing, as for any empty PUT.
	p.ok("preferences.setPreferences", map[string]any{"prefs": map[string]any{"FriendlyName": "plexjs"}}, 200, nil)
	if got := s.m.Settings().FriendlyName(); got != "" {
		t.Fatalf("FriendlyName %q after setPreferences; this SDK version sends no prefs (see the comment), so a change means it now does: check the value", got)
	}

	// Start one: 200, then 202 while it runs; the activity lists it.
	p.ok("butler.startTask", map[string]any{"task": "BackupDatabase"}, 200, nil)
	wait(t, backup.entered, "BackupDatabase")
	p.ok("butler.startTask", map[string]any{"task": "BackupDatabase"}, 202, nil)
	type activity struct {
		UUID, Type, Title string
		Cancellable       bool
		Progress          float64
		Context           map[string]any
	}
	var acts struct {
		Object struct {
			MediaContainer struct{ Activity []activity }
		}
	}
	p.ok("activities.listActivities", nil, 200, &acts)
	if list := acts.Object.MediaContainer.Activity; len(list) != 1 || list[0].Type != "butler.task" || !list[0].Cancellable ||
		list[0].Progress != 10 || list[0].Context["taskName"] != "BackupDatabase" {
		t.Fatalf("listActivities: %+v", list)
	}

	// Stop one: 200; again, nothing to stop: the SDK's 404 error.
	p.ok("butler.stopTask", map[string]any{"task": "BackupDatabase"}, 200, nil)
	if err := <-backup.ended; err == nil {
		t.Fatal("stopTask: the task ended without its context cancelled")
	}
	if r := p.call("butler.stopTask", map[string]any{"task": "BackupDatabase"}); r.OK || r.StatusCode != 404 {
		t.Fatalf("stopTask with nothing to stop: %+v, want the SDK's 404 error", r)
	}

	// A disabled task starts when asked (python-plexapi's CI does this),
	// and its activity can be cancelled.
	p.ok("butler.startTask", map[string]any{"task": "CleanOldCacheFiles"}, 200, nil)
	wait(t, clean.entered, "CleanOldCacheFiles")
	p.ok("activities.listActivities", nil, 200, &acts)
	if list := acts.Object.MediaContainer.Activity; len(list) != 1 || list[0].Context["taskName"] != "CleanOldCacheFiles" {
		t.Fatalf("listActivities: %+v", list)
	}
	p.ok("activities.cancelActivity", map[string]any{"activityId": acts.Object.MediaContainer.Activity[0].UUID}, 200, nil)
	if err := <-clean.ended; err == nil {
		t.Fatal("cancelActivity: the task ended without its context cancelled")
	}

	// Start all, stop all.
	p.ok("butler.startTasks", nil, 200, nil)
	select { // one slot: one of the two enabled tasks runs, the other waits
	case <-backup.entered:
	case <-s.actions[butler.TaskOptimizeDatabase].entered:
	case <-time.After(10 * time.Second):
		t.Fatal("startTasks: nothing started")
	}
	p.ok("butler.stopTasks", nil, 200, nil)
	if active, err := s.db.ActiveRuns(context.Background()); err != nil || len(active) != 0 {
		t.Fatalf("active runs after stopTasks: %+v, %v", active, err)
	}
}
