package main

// Fault-injection scenarios: real `butler serve` processes run exec tasks
// bound to the probe program (internal/faultprobe/probe), and the test
// holds what Butler says (its API, its database) against what the probes
// saw (their logs, their locks, /proc). See internal/faultprobe for the
// rules; every scenario ends with faultEnv.check.
//
// Knobs for longer runs (scripts/soak.sh sets them):
//
//	BUTLER_FAULT_STORM       how long the storms last (Go duration; 5s)
//	BUTLER_FAULT_ITERATIONS  stop-then-start rounds (100)
//	BUTLER_FAULT_SEED        the storms' random seed (the time)
//	BUTLER_FAULT_RESULTS     a file to append one result line per scenario to:
//	                         "<scenario>\t<executions>\t<violations>\t<status>"
//	                         and each violation as "#\t<scenario>\t<message>"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/internal/faultprobe"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

const faultToken = "fault-token-1234567"

// The probe is built once per test binary, beside the butler binary (so
// that TestMain removes it).
var (
	probeBuildOnce sync.Once
	probeBuildBin  string
	probeBuildErr  error
)

func faultProbeBinary(t *testing.T) string {
	t.Helper()
	bin := butlerBinary(t) // skips in -short mode
	probeBuildOnce.Do(func() {
		probeBuildBin = filepath.Join(filepath.Dir(bin), "faultprobe")
		out, err := exec.Command("go", "build", "-o", probeBuildBin, "github.com/plexbutler/butler/internal/faultprobe/probe").CombinedOutput()
		if err != nil {
			probeBuildErr = fmt.Errorf("go build the probe: %v\n%s", err, out)
		}
	})
	if probeBuildErr != nil {
		t.Fatal(probeBuildErr)
	}
	return probeBuildBin
}

// faultTask is an exec task bound to the probe.
type faultTask struct {
	name  string
	mode  string // quick, normal or stubborn
	dur   time.Duration
	grace time.Duration
}

// faultEnv is one scenario: its probe tasks, config file, the servers it
// started, what it observed and its verdict.
type faultEnv struct {
	t      *testing.T
	dir    string // every probe's arguments hold it: LiveProbes' marker
	probe  string
	config string
	specs  []faultTask
	tasks  []faultprobe.Task
	byName map[string]faultprobe.Task

	mu         sync.Mutex
	nodes      []*proc
	obs        []faultprobe.Observation
	violations []string // seen by the scenario itself (API answers, timings)
	report     *faultprobe.Report

	// sessionsEnded says the scenario ended the database's sessions under
	// the servers: a connection of their pools ended while it lay idle
	// fails the one call that takes it next (503), after the scenario too.
	// The calls that settle and check are then tried again on a 503.
	sessionsEnded bool
	// clusterURL is the database of the cluster startCluster started.
	clusterURL string
}

// again reports whether a call that failed with err is to be tried again:
// a 503 after the database's sessions were ended (sessionsEnded).
func (e *faultEnv) again(err error) bool {
	return e.sessionsEnded && err != nil && strings.Contains(err.Error(), ": 503 ")
}

// newFaultEnv writes the config file binding the tasks to the probe. At the
// end of the test it kills whatever probe is left (after the servers are
// killed) and, when BUTLER_FAULT_RESULTS is set, appends the verdict.
func newFaultEnv(t *testing.T, tasks ...faultTask) *faultEnv {
	t.Helper()
	e := &faultEnv{t: t, probe: faultProbeBinary(t), dir: t.TempDir(), specs: tasks, byName: map[string]faultprobe.Task{}}
	t.Cleanup(e.cleanup)
	for _, ft := range tasks {
		task := faultprobe.Task{Name: ft.name, Log: filepath.Join(e.dir, ft.name+".log"), Lock: filepath.Join(e.dir, ft.name+".lock")}
		e.tasks = append(e.tasks, task)
		e.byName[ft.name] = task
	}
	e.config = e.writeConfig(t, "butler.yaml", 0)
	return e
}

// writeConfig writes a config file named name binding the env's tasks to
// the probe, each with its own grace, or with grace when it is not 0, and
// returns its path.
func (e *faultEnv) writeConfig(t *testing.T, name string, grace time.Duration) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("log_level: info\ntasks:\n")
	for i, ft := range e.specs {
		task := e.tasks[i]
		argv := []string{e.probe, "-log", task.Log, "-lock", task.Lock, "-dur", ft.dur.String(), "-mode", ft.mode}
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = strconv.Quote(a)
		}
		g := ft.grace
		if grace != 0 {
			g = grace
		}
		fmt.Fprintf(&b, "  %s:\n    exec:\n      argv: [%s]\n      grace: %s\n", ft.name, strings.Join(quoted, ", "), g)
	}
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *faultEnv) cleanup() {
	if live, err := faultprobe.LiveProbes(e.probe, e.dir); err == nil && len(live) > 0 {
		e.t.Logf("clean-up: killing %d probe process(es) left alive", len(live))
		_ = faultprobe.KillProbes(live)
	}
	path := os.Getenv("BUTLER_FAULT_RESULTS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		e.t.Errorf("results file: %v", err)
		return
	}
	defer f.Close()
	status := "pass"
	if e.t.Failed() {
		status = "fail"
	}
	if e.t.Skipped() {
		status = "skip"
	}
	if e.report == nil {
		fmt.Fprintf(f, "%s\t0\t0\taborted\n", e.t.Name())
		return
	}
	all := append(append([]string(nil), e.violations...), e.report.Violations...)
	fmt.Fprintf(f, "%s\t%d\t%d\t%s\n", e.t.Name(), e.report.Total(), len(all), status)
	for _, v := range all {
		fmt.Fprintf(f, "#\t%s\t%s\n", e.t.Name(), strings.ReplaceAll(v, "\n", " "))
	}
}

// violate records a violation the scenario saw itself; safe from any
// goroutine.
func (e *faultEnv) violate(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.violations = append(e.violations, fmt.Sprintf(format, args...))
}

// startNode starts `butler serve` with the env's config file.
func (e *faultEnv) startNode(t *testing.T, args ...string) *proc {
	t.Helper()
	p := startProc(t, append([]string{"--addr", "127.0.0.1:0", "--token", faultToken, "--config", e.config}, args...)...)
	e.mu.Lock()
	e.nodes = append(e.nodes, p)
	e.mu.Unlock()
	return p
}

// spawnNode starts a server as startNode does, without waiting for it to
// serve (proc.waitServing).
func (e *faultEnv) spawnNode(t *testing.T, args ...string) *proc {
	t.Helper()
	p := spawnProc(t, append([]string{"--addr", "127.0.0.1:0", "--token", faultToken, "--config", e.config}, args...)...)
	e.mu.Lock()
	e.nodes = append(e.nodes, p)
	e.mu.Unlock()
	return p
}

// startSQLiteNode starts one server on the data directory dir.
func (e *faultEnv) startSQLiteNode(t *testing.T, dir string) *proc {
	t.Helper()
	return e.startNode(t, "--data-dir", dir)
}

// builtinsOff returns the settings that disable the tasks a server offers
// out of the box: start-all then starts the fault tasks alone, whose slots
// the storms are about (ten built-in runs queued ahead of them once left a
// 5 s storm no time to start one).
func builtinsOff() map[string]string {
	settings := map[string]string{}
	for _, t := range offeredTasks() {
		settings[t.Setting] = "false"
	}
	return settings
}

// offeredTasks returns the tasks a server without a config file offers
// (those of the default catalog that have an action).
func offeredTasks() []butler.Task {
	c, err := buildCatalog(&config.File{}, butler.DefaultCatalog(), wiring{DataDir: "/data", Database: "/data/butler.db"})
	if err != nil {
		panic(err) // a catalog without a config file cannot fail
	}
	var out []butler.Task
	for _, t := range c {
		if t.Action != nil {
			out = append(out, t)
		}
	}
	return out
}

// startCluster starts n servers on a fresh PostgreSQL database (skipping
// without one), with the window twelve hours away and the built-in tasks
// off (builtinsOff).
func (e *faultEnv) startCluster(t *testing.T, n int) []*proc {
	t.Helper()
	e.clusterURL = e.clusterDatabase(t)
	var nodes []*proc
	for i := range n {
		nodes = append(nodes, e.startClusterNode(t, e.clusterURL, i))
	}
	return nodes
}

// clusterDatabase makes startCluster's database and returns its URL.
func (e *faultEnv) clusterDatabase(t *testing.T) string {
	t.Helper()
	url := pgtest.Database(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := time.Now().UTC().Hour()
	settings := builtinsOff()
	settings[butler.SettingTimeZone] = "UTC"
	settings[butler.SettingStartHour] = strconv.Itoa((h + 12) % 24)
	settings[butler.SettingEndHour] = strconv.Itoa((h + 13) % 24)
	if err := db.SaveSettings(ctx, settings); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return url
}

// startClusterNode starts the cluster's server fault<i> on the database at
// url, with a data directory of its own; args come last (a later --config
// replaces the env's).
func (e *faultEnv) startClusterNode(t *testing.T, url string, i int, args ...string) *proc {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return e.startNode(t, append([]string{"--data-dir", dir, "--database", url, "--node", fmt.Sprintf("fault%d", i)}, args...)...)
}

// request sends one API request with the token; it never fails the test
// (callers may be storm goroutines).
func request(method, url string) (code int, h http.Header, body []byte, err error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("X-Plex-Token", faultToken)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// startAnswer is what POST /butler/{task} answered.
type startAnswer struct {
	code    int
	outcome string
	runID   int64
}

// start sends POST /butler/{task}, with ?force=1 when force.
func (e *faultEnv) start(p *proc, task string, force bool) (startAnswer, error) {
	path := "/butler/" + task
	if force {
		path += "?force=1"
	}
	code, h, body, err := request(http.MethodPost, p.url(path))
	if err != nil {
		return startAnswer{}, err
	}
	a := startAnswer{code: code, outcome: h.Get(apitype.HeaderOutcome)}
	a.runID, _ = strconv.ParseInt(h.Get(apitype.HeaderRunID), 10, 64)
	if code != http.StatusOK && code != http.StatusAccepted {
		return a, fmt.Errorf("POST %s on %s: %d %s", path, p.addr, code, body)
	}
	return a, nil
}

// mustStart starts the task with ?force=1 and wants it started.
func (e *faultEnv) mustStart(t *testing.T, p *proc, task string) int64 {
	t.Helper()
	a, err := e.start(p, task, true)
	if err != nil || a.code != http.StatusOK || a.outcome != "started" || a.runID == 0 {
		t.Fatalf("POST /butler/%s?force=1: %+v %v; want 200 started", task, a, err)
	}
	return a.runID
}

// stop sends DELETE /butler/{task}; it returns the status, the outcome
// (stopped, stopping or removed) and the run.
func (e *faultEnv) stop(p *proc, task string) (code int, outcome string, runID int64, err error) {
	code, h, body, err := request(http.MethodDelete, p.url("/butler/"+task))
	if err != nil {
		return 0, "", 0, err
	}
	runID, _ = strconv.ParseInt(h.Get(apitype.HeaderRunID), 10, 64)
	if code != http.StatusOK && code != http.StatusNotFound {
		return code, "", runID, fmt.Errorf("DELETE /butler/%s on %s: %d %s", task, p.addr, code, body)
	}
	return code, h.Get(apitype.HeaderOutcome), runID, nil
}

// all sends POST /butler (start-all) or DELETE /butler (stop-all), which
// must answer 200.
func (e *faultEnv) all(p *proc, method string) error {
	code, _, body, err := request(method, p.url("/butler"))
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s /butler on %s: %d %s", method, p.addr, code, body)
	}
	return nil
}

// stopRun stops the task's running run id through p (DELETE must answer
// 200 for it), looks at it at once (afterStop), and waits until it is
// finished.
func (e *faultEnv) stopRun(t *testing.T, p *proc, task string, id int64) {
	t.Helper()
	code, _, stopped, err := e.stop(p, task)
	if err != nil || code != http.StatusOK || stopped != id {
		t.Fatalf("DELETE /butler/%s: %d run %d %v; want 200 for run %d", task, code, stopped, err, id)
	}
	if _, err := e.afterStop(p, task, id); err != nil {
		t.Fatal(err)
	}
	e.waitFinished(t, p, task, id, 15*time.Second)
}

// getRun reads one run through the API.
func getRun(p *proc, id int64) (apitype.Run, error) {
	code, _, body, err := request(http.MethodGet, p.url(fmt.Sprintf("/butler/runs/%d", id)))
	if err != nil {
		return apitype.Run{}, err
	}
	var out apitype.RunsResponse
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.MediaContainer.Run) != 1 {
		return apitype.Run{}, fmt.Errorf("GET /butler/runs/%d: %d %s", id, code, body)
	}
	return out.MediaContainer.Run[0], nil
}

// allRuns reads the whole history through the API.
func allRuns(p *proc) ([]apitype.Run, error) {
	var all []apitype.Run
	before := ""
	for {
		code, _, body, err := request(http.MethodGet, p.url("/butler/runs?limit=1000"+before))
		if err != nil {
			return nil, err
		}
		var out apitype.RunsResponse
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET /butler/runs: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("GET /butler/runs: %v", err)
		}
		page := out.MediaContainer.Run
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		before = fmt.Sprintf("&beforeID=%d", page[len(page)-1].ID)
	}
}

// lockNow looks at the task's lock and records what the test saw: run id
// finished, and the lock then.
func (e *faultEnv) lockNow(task string, runID int64, what string) faultprobe.Observation {
	held, holder, err := faultprobe.LockState(e.byName[task].Lock)
	if err != nil {
		e.violate("%s: cannot look at the lock: %v", task, err)
	}
	o := faultprobe.Observation{Task: task, RunID: runID, At: time.Now(), Held: held, Holder: holder, What: what}
	e.mu.Lock()
	e.obs = append(e.obs, o)
	e.mu.Unlock()
	return o
}

// afterStop looks at a run that a DELETE answered for: it must be stopping
// or finished, and when finished its task's lock is looked at at once.
func (e *faultEnv) afterStop(p *proc, task string, runID int64) (apitype.Run, error) {
	r, err := getRun(p, runID)
	if err != nil {
		return r, err
	}
	switch r.State {
	case "finished":
		e.lockNow(task, runID, "right after its DELETE answered")
	case "stopping":
	default:
		e.violate("%s: run %d is %s right after its DELETE answered; want stopping or finished", task, runID, r.State)
	}
	return r, nil
}

// leaders counts the leader start lines in the task's log.
func (e *faultEnv) leaders(t *testing.T, task string) (n int, lines []faultprobe.Line) {
	t.Helper()
	lines, bad, err := faultprobe.ReadLog(e.byName[task].Log)
	if err != nil || len(bad) > 0 {
		t.Fatalf("read the probe log of %s: %v %v", task, err, bad)
	}
	for _, l := range lines {
		if l.Kind == faultprobe.KindStart && l.Role == faultprobe.RoleLeader {
			n++
		}
	}
	return n, lines
}

// waitProbes waits until the task's log holds n leader starts and each
// leader's grandchild has started too.
func (e *faultEnv) waitProbes(t *testing.T, task string, n int, limit time.Duration) []faultprobe.Line {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, lines := e.leaders(t, task)
		if got >= n {
			execs, _ := faultprobe.Executions(task, lines)
			ready := true
			for _, x := range execs {
				if len(x.Children) == 0 && !x.Leader.Ended() {
					ready = false
				}
			}
			if ready {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d probe execution(s) started within %v, want %d", task, got, limit, n)
		}
		time.Sleep(5 * time.Millisecond) // polling files other processes write
	}
}

// waitFinished polls the run (other processes decide) until it is
// finished, and looks at its task's lock at once.
func (e *faultEnv) waitFinished(t *testing.T, p *proc, task string, id int64, limit time.Duration) apitype.Run {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r, err := getRun(p, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == "finished" {
			e.lockNow(task, id, "as soon as it was seen finished")
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: run %d is still %s after %v", task, id, r.State, limit)
		}
		time.Sleep(10 * time.Millisecond) // waiting on the server
	}
}

// settle stops every task of the env, waits until every run of them is
// finished, looks at once at each task's lock, and returns the history.
func (e *faultEnv) settle(t *testing.T, p *proc, limit time.Duration) []faultprobe.Run {
	t.Helper()
	deadline := time.Now().Add(limit)
	for _, task := range e.tasks {
		_, _, _, err := e.stop(p, task.Name)
		for e.again(err) && time.Now().Before(deadline) {
			_, _, _, err = e.stop(p, task.Name)
		}
		if err != nil {
			e.violate("settle: %v", err)
		}
	}
	for {
		all, err := allRuns(p)
		if e.again(err) && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var runs []faultprobe.Run
		newest := map[string]int64{}
		active := 0
		for _, r := range all {
			if _, ok := e.byName[r.Task]; !ok {
				continue
			}
			runs = append(runs, faultprobe.RunFromAPI(r))
			if r.State != "finished" {
				active++
			}
			newest[r.Task] = max(newest[r.Task], r.ID)
		}
		if active == 0 {
			for _, task := range e.tasks {
				if id := newest[task.Name]; id != 0 {
					e.lockNow(task.Name, id, "when every run was finished")
				}
			}
			return runs
		}
		if time.Now().After(deadline) {
			// The checker reports the runs that are not finished.
			e.violate("settle: %d run(s) still not finished %v after every task was stopped", active, limit)
			return runs
		}
		time.Sleep(20 * time.Millisecond) // waiting on the servers
	}
}

// check judges the scenario: the probes' logs, the live processes now, the
// history runs and what the scenario observed. Every violation fails the
// test.
func (e *faultEnv) check(t *testing.T, runs []faultprobe.Run) faultprobe.Report {
	t.Helper()
	ev, err := faultprobe.Collect(e.tasks, e.probe, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	ev.Runs = runs
	ev.Observations = append([]faultprobe.Observation(nil), e.obs...)
	own := append([]string(nil), e.violations...)
	e.mu.Unlock()
	rep := faultprobe.Check(ev)
	e.report = &rep
	t.Logf("%d probe executions %v, %d runs (%s), %d observations of a finished run",
		rep.Total(), rep.Executions, len(runs), summarize(runs), len(ev.Observations))
	all := append(own, rep.Violations...)
	const show = 40
	for i, v := range all {
		if i == show {
			t.Errorf("... and %d more violations", len(all)-show)
			break
		}
		t.Errorf("violation: %s", v)
	}
	if len(all) > 0 {
		for _, p := range e.nodes {
			out := p.stderr.String()
			if len(out) > 6000 {
				out = "...\n" + out[len(out)-6000:]
			}
			t.Logf("server %s output (end):\n%s", p.addr, out)
		}
	}
	return rep
}

// summarize counts runs by task, started or not, and outcome.
func summarize(runs []faultprobe.Run) string {
	counts := map[string]int{}
	for _, r := range runs {
		k := r.Task + " " + r.State
		if r.Outcome != "" {
			k += "/" + r.Outcome
		}
		if r.StartedAt.IsZero() {
			k += " (never started)"
		}
		counts[k]++
	}
	keys := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// storm runs clients goroutines for d, each starting (?force=1) and
// stopping the env's tasks on random nodes in random order, with a
// start-all or a stop-all for one request in ten, and returns how many
// requests were sent. After a DELETE that stopped a run it looks
// at the run (afterStop). Every answer but the expected ones is a
// violation; with dbOutages, a 503 (the database went away under the
// call) is expected too, and counted in unavailable.
func (e *faultEnv) storm(t *testing.T, nodes []*proc, clients int, d time.Duration, dbOutages bool) (sent, unavailable int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("BUTLER_FAULT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("BUTLER_FAULT_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("storm: %d clients for %v on %d node(s), seed %d (BUTLER_FAULT_SEED)", clients, d, len(nodes), seed)
	deadline := time.Now().Add(d)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		down int
	)
	// judge reports whether err (nil or not) let the client go on.
	judge := func(err error) bool {
		if err == nil {
			return true
		}
		if dbOutages && strings.Contains(err.Error(), ": 503 ") {
			mu.Lock()
			down++
			mu.Unlock()
			return false
		}
		e.violate("storm: %v", err)
		return false
	}
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			n := 0
			for time.Now().Before(deadline) {
				n++
				p := nodes[rng.IntN(len(nodes))]
				task := e.tasks[rng.IntN(len(e.tasks))].Name
				switch rng.IntN(20) {
				case 0: // start-all and stop-all, one request in ten
					judge(e.all(p, http.MethodPost))
					continue
				case 1:
					judge(e.all(p, http.MethodDelete))
					continue
				}
				if rng.IntN(2) == 0 {
					_, err := e.start(p, task, true)
					judge(err)
					continue
				}
				code, outcome, id, err := e.stop(p, task)
				if !judge(err) {
					continue
				}
				if code == http.StatusOK && outcome != "removed" && id != 0 {
					_, err := e.afterStop(p, task, id)
					judge(err)
				}
			}
			mu.Lock()
			sent += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return sent, down
}

// runEachOnce starts each task once more after a storm has settled (no run
// active), by force, and waits until its probe has started: whatever the
// storm's draw and the
// machine's load (a storm's stops may end every run of a task before its
// program has even logged its start), the check then judges at least one
// execution of each task.
func (e *faultEnv) runEachOnce(t *testing.T, p *proc) {
	t.Helper()
	for _, task := range e.tasks {
		n, _ := e.leaders(t, task.Name)
		_, err := e.start(p, task.Name, true)
		for tries := 0; e.again(err) && tries < 100; tries++ {
			_, err = e.start(p, task.Name, true)
		}
		if err != nil {
			e.violate("after the storm: %v", err)
			continue
		}
		// Its leader's start line is enough: the storm's executions,
		// killed early, may never have started their second process.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if got, _ := e.leaders(t, task.Name); got > n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no probe started within 30s of a forced start after the storm", task.Name)
			}
		}
	}
}

// stormTasks are the storms' tasks: a quick one and one that ignores
// SIGTERM for its grace.
var stormTasks = []faultTask{
	{name: "FaultQuick", mode: "quick", dur: 300 * time.Millisecond, grace: time.Second},
	{name: "FaultStubborn", mode: "stubborn", dur: 30 * time.Second, grace: time.Second},
}

// TestFault_StormOneNode: 50 clients start and stop a quick task and a
// stubborn one on one server for a few seconds.
func TestFault_StormOneNode(t *testing.T) {
	e := newFaultEnv(t, stormTasks...)
	dir := newDataDir(t)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSettings(context.Background(), builtinsOff()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p := e.startSQLiteNode(t, dir)
	sent, _ := e.storm(t, []*proc{p}, 50, envDuration(t, "BUTLER_FAULT_STORM", 5*time.Second), false)
	e.settle(t, p, 30*time.Second)
	e.runEachOnce(t, p)
	runs := e.settle(t, p, 30*time.Second)
	t.Logf("storm: %d requests", sent)
	if rep := e.check(t, runs); rep.Executions["FaultQuick"] == 0 || rep.Executions["FaultStubborn"] == 0 {
		t.Errorf("the storm ran %v: each task should have run at least once", rep.Executions)
	}
}

// TestFault_StormCluster: the same storm spread over three servers on one
// PostgreSQL database.
func TestFault_StormCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	e := newFaultEnv(t, stormTasks...)
	nodes := e.startCluster(t, 3)
	sent, _ := e.storm(t, nodes, 50, envDuration(t, "BUTLER_FAULT_STORM", 5*time.Second), false)
	e.settle(t, nodes[0], 30*time.Second)
	e.runEachOnce(t, nodes[len(nodes)-1])
	runs := e.settle(t, nodes[0], 30*time.Second)
	t.Logf("storm: %d requests", sent)
	if rep := e.check(t, runs); rep.Executions["FaultQuick"] == 0 || rep.Executions["FaultStubborn"] == 0 {
		t.Errorf("the storm ran %v: each task should have run at least once", rep.Executions)
	}
}

// TestFault_StormClusterSessionsEnded: the storm of TestFault_StormCluster
// while every session of the cluster's database is ended
// (pg_terminate_backend) every 700 ms: the servers' pools, their
// heartbeats' connections, their LISTENs, River's. A call may answer 503
// (its connection ended under it); nothing else but the expected answers,
// and the processes must show no violation.
func TestFault_StormClusterSessionsEnded(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	e := newFaultEnv(t, stormTasks...)
	e.sessionsEnded = true
	nodes := e.startCluster(t, 3)
	stop := endSessions(t, e.clusterURL, 700*time.Millisecond)
	sent, down := e.storm(t, nodes, 30, envDuration(t, "BUTLER_FAULT_STORM", 5*time.Second), true)
	ended := stop()
	t.Logf("storm: %d requests, %d answered 503; %d sessions ended", sent, down, ended)
	if ended == 0 {
		t.Fatal("no session of the cluster's database was ended: the test tested nothing")
	}
	e.settle(t, nodes[0], 60*time.Second)
	e.runEachOnce(t, nodes[len(nodes)-1])
	runs := e.settle(t, nodes[0], 60*time.Second)
	e.check(t, runs)
}

// endSessions ends every session of the database of dbURL but its own,
// every period, until stop is called; stop returns how many it ended.
func endSessions(t *testing.T, dbURL string, period time.Duration) (stop func() int) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		defer conn.Close(context.Background())
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var k int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid()) x`, name).Scan(&k); err == nil {
				n += k
			}
		}
	}()
	return func() int { cancel(); return <-done }
}

// TestFault_KillServerThenRestart: kill -9 of the server while a probe
// runs; at its restart on the same data directory the probe's process
// group must be gone by the time /healthz answers, the run recorded
// interrupted, and a new start must run exactly one probe.
func TestFault_KillServerThenRestart(t *testing.T) {
	const task = "FaultNormal"
	e := newFaultEnv(t, faultTask{name: task, mode: "normal", dur: 60 * time.Second, grace: 2 * time.Second})
	dataDir := newDataDir(t)
	p1 := e.startSQLiteNode(t, dataDir)
	id := e.mustStart(t, p1, task)
	e.waitProbes(t, task, 1, 15*time.Second)
	if err := p1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p1.done
	killed := time.Now()
	// The kernel's parent-death signal ends the probe's first process; its
	// grandchild (the probe's sleeper, in its group, which works on for
	// twice the probe's duration when orphaned) is the group guard's to
	// kill, at once: in a cluster another server would take the task over
	// long before this one restarts.
	for {
		live, err := faultprobe.LiveProbes(e.probe, e.dir)
		if err != nil {
			t.Fatal(err)
		}
		held, holder, err := faultprobe.LockState(e.byName[task].Lock)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) == 0 && !held {
			t.Logf("server killed; nothing of run %d's process group was alive %v later", id, time.Since(killed).Round(time.Millisecond))
			break
		}
		if time.Since(killed) > 10*time.Second {
			e.violate("%s: 10 s after the server was killed, probe processes of run %d were alive (%+v; lock held %v by %d): nothing killed its process group", task, id, live, held, holder)
			break
		}
		time.Sleep(10 * time.Millisecond) // waiting on other processes
	}

	p2 := e.startSQLiteNode(t, dataDir) // returns once /healthz answers 200
	live, err := faultprobe.LiveProbes(e.probe, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	held, holder, err := faultprobe.LockState(e.byName[task].Lock)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) > 0 || held {
		pids := make([]string, len(live))
		for i, p := range live {
			pids[i] = strconv.Itoa(p.PID)
		}
		e.violate("%s: when the restarted server answered /healthz, the killed server's probe was not gone: pids [%s] alive, lock held %v (by %d)",
			task, strings.Join(pids, " "), held, holder)
	}
	r, err := getRun(p2, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State == "finished" {
		e.lockNow(task, id, "when the restarted server answered /healthz")
	}
	if r.State != "finished" || r.Outcome != "interrupted" {
		e.violate("%s: run %d is %s/%s after the restart; want finished/interrupted", task, id, r.State, r.Outcome)
	}

	id2 := e.mustStart(t, p2, task)
	e.waitProbes(t, task, 2, 15*time.Second)
	e.stopRun(t, p2, task, id2)
	runs := e.settle(t, p2, 15*time.Second)
	rep := e.check(t, runs)
	if rep.Executions[task] != 2 {
		t.Errorf("%s ran %d probe executions; want 2: the killed one and exactly one for the new start", task, rep.Executions[task])
	}
}

// TestFault_SIGTERMWaitsForGrace: SIGTERM to the server while a stubborn
// probe with a 17 s grace runs: the server waits for the process group
// (SIGKILL after the grace), exits 0 and leaves nothing running; the run
// ends interrupted.
func TestFault_SIGTERMWaitsForGrace(t *testing.T) {
	const task = "FaultStubborn"
	const grace = 17 * time.Second
	e := newFaultEnv(t, faultTask{name: task, mode: "stubborn", dur: 60 * time.Second, grace: grace})
	dataDir := newDataDir(t)
	p := e.startSQLiteNode(t, dataDir)
	id := e.mustStart(t, p, task)
	e.waitProbes(t, task, 1, 15*time.Second)

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(grace + 20*time.Second):
		t.Fatalf("the server did not exit within %v of SIGTERM", grace+20*time.Second)
	}
	exited := time.Now()
	// At once: what is left of the probe.
	held, holder, err := faultprobe.LockState(e.byName[task].Lock)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the server exited %v after SIGTERM, code %d; lock held %v (by %d)", exited.Sub(sent).Round(time.Millisecond), p.cmd.ProcessState.ExitCode(), held, holder)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		e.violate("the server exited with code %d after SIGTERM; want 0", code)
	}
	_, lines := e.leaders(t, task)
	var termed time.Time
	for _, l := range lines {
		if l.Kind == faultprobe.KindSignal && termed.IsZero() {
			termed = l.At
		}
	}
	switch {
	case termed.IsZero():
		e.violate("%s: the probe never got SIGTERM: the server did not stop the task", task)
	case exited.Sub(termed) < grace-250*time.Millisecond:
		e.violate("%s: the server exited %v after its probe got SIGTERM, before the task's grace of %v had passed", task, exited.Sub(termed).Round(time.Millisecond), grace)
	}

	// The history the server left in its database.
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list, err := db.Runs(ctx, butler.RunFilter{Task: task, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var runs []faultprobe.Run
	for _, r := range list {
		fr := faultprobe.Run{ID: r.ID, Task: string(r.Task), State: string(r.State), Outcome: string(r.Outcome),
			Reason: r.Reason, StartedAt: r.StartedAt, EndedAt: r.EndedAt}
		runs = append(runs, fr)
		if r.ID != id {
			continue
		}
		if fr.State == "finished" {
			e.mu.Lock()
			e.obs = append(e.obs, faultprobe.Observation{Task: task, RunID: id, At: exited, Held: held, Holder: holder, What: "when the server exited"})
			e.mu.Unlock()
		}
		if fr.State != "finished" || fr.Outcome != "interrupted" {
			e.violate("%s: run %d is %s/%s in the database the server left; want finished/interrupted", task, id, fr.State, fr.Outcome)
		}
	}
	e.check(t, runs)
}

// TestFault_SIGTERMWithStreamsOpen: SIGTERM to a server that a dashboard
// and a Plex client watch (an event stream and a websocket open) while a
// probe runs: the probe is told at once, not after the HTTP shutdown gave
// up waiting for the streams (which took shutdownBase, 15 s, plus the
// grace, and then left the probe no grace and its run's end unwritten);
// the streams see the run end and then close; the server exits 0 and the
// run ends interrupted.
func TestFault_SIGTERMWithStreamsOpen(t *testing.T) {
	const task = "FaultNormal"
	e := newFaultEnv(t, faultTask{name: task, mode: "normal", dur: 60 * time.Second, grace: 3 * time.Second})
	dataDir := newDataDir(t)
	p := e.startSQLiteNode(t, dataDir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The event stream: every line it reads, until it ends.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/:/eventsource/notifications"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Plex-Token", faultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /:/eventsource/notifications: %v %v", resp, err)
	}
	sse := make(chan string) // all it read, when it ends
	go func() {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		sse <- string(b)
	}()
	// The websocket: the close status it ends with.
	ws, _, err := websocket.Dial(ctx, "ws://"+p.addr+"/:/websockets/notifications",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Plex-Token": {faultToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsEnd := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				wsEnd <- websocket.CloseStatus(err)
				return
			}
		}
	}()

	id := e.mustStart(t, p, task)
	e.waitProbes(t, task, 1, 15*time.Second)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(shutdownBase + 3*time.Second + 10*time.Second):
		t.Fatalf("the server did not exit within %v of SIGTERM", shutdownBase+13*time.Second)
	}
	exited := time.Now()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		e.violate("the server exited with code %d after SIGTERM; want 0", code)
	}
	_, lines := e.leaders(t, task)
	var ended time.Time
	for _, l := range lines {
		if l.Kind == faultprobe.KindEnd && l.How == faultprobe.HowSIGTERM && ended.IsZero() {
			ended = l.At
		}
	}
	t.Logf("the server exited %v after SIGTERM; the probe ended by SIGTERM %v after it", exited.Sub(sent).Round(time.Millisecond), ended.Sub(sent).Round(time.Millisecond))
	switch {
	case ended.IsZero():
		e.violate("%s: the probe did not end by SIGTERM: %v", task, lines)
	case ended.Sub(sent) > shutdownBase/2:
		// Before streams ended with the Manager: shutdownBase plus the grace.
		e.violate("%s: the probe got SIGTERM %v after the server did: the shutdown waited for something else first", task, ended.Sub(sent).Round(time.Millisecond))
	case ended.After(exited):
		e.violate("%s: the server exited before its probe ended", task)
	}

	var body string
	select {
	case body = <-sse:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not end with the server")
	}
	if !strings.Contains(body, `"event":"ended"`) || !strings.Contains(body, fmt.Sprintf(`"runID":%d`, id)) {
		t.Errorf("the event stream ended without the run's end; it read:\n%s", body)
	}
	select {
	case code := <-wsEnd:
		if code != websocket.StatusGoingAway {
			t.Errorf("the websocket ended with status %v; want %v (the server is stopping)", code, websocket.StatusGoingAway)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the websocket did not end with the server")
	}

	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Run(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != butler.StateFinished || r.Outcome != butler.OutcomeInterrupted {
		e.violate("%s: run %d is %s/%s in the database the server left; want finished/interrupted", task, id, r.State, r.Outcome)
	}
	e.check(t, []faultprobe.Run{{ID: r.ID, Task: string(r.Task), State: string(r.State), Outcome: string(r.Outcome),
		Reason: r.Reason, StartedAt: r.StartedAt, EndedAt: r.EndedAt}})
}

// TestFault_StopThenStart: a stop immediately followed by a start, again and
// again, by one client: never two executions alive at once.
func TestFault_StopThenStart(t *testing.T) {
	const task = "FaultNormal"
	e := newFaultEnv(t, faultTask{name: task, mode: "normal", dur: 30 * time.Second, grace: 2 * time.Second})
	p := e.startSQLiteNode(t, newDataDir(t))
	rounds := envInt(t, "BUTLER_FAULT_ITERATIONS", 100)
	started, busy := 0, 0
	var toProbe, toStop []time.Duration
	for range rounds {
		asked := time.Now()
		a, err := e.start(p, task, true)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a.code == http.StatusOK && a.outcome == "started":
			// Stop it only once its probe runs.
			started++
			e.waitProbes(t, task, started, 15*time.Second)
			toProbe = append(toProbe, time.Since(asked))
		case a.code == http.StatusAccepted:
			busy++ // the previous run is still stopping
		default:
			t.Fatalf("POST /butler/%s?force=1: %+v", task, a)
		}
		asked = time.Now()
		code, outcome, id, err := e.stop(p, task)
		if err != nil {
			t.Fatal(err)
		}
		toStop = append(toStop, time.Since(asked))
		if code == http.StatusOK && outcome != "removed" {
			if _, err := e.afterStop(p, task, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d rounds: %d starts, %d answered 202 (still stopping); POST to probe running %s; DELETE %s",
		rounds, started, busy, spread(toProbe), spread(toStop))
	runs := e.settle(t, p, 15*time.Second)
	if rep := e.check(t, runs); rep.Executions[task] != started {
		t.Errorf("%d probe executions for %d starts", rep.Executions[task], started)
	}
}

// spread describes durations: min, median, max.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, max %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// sigkillRE matches a stop reason that says SIGKILL was needed.
var sigkillRE = regexp.MustCompile(`(?i)sigkill|killed`)

// TestFault_StubbornStop: DELETE of a stubborn probe (grace 3 s). Right
// after the DELETE answers the run is stopping, or finished with its probe
// gone; a start while it is stopping answers 202 and starts nothing; the
// run ends stopped, saying SIGKILL was needed.
func TestFault_StubbornStop(t *testing.T) {
	const task = "FaultStubborn"
	const grace = 3 * time.Second
	e := newFaultEnv(t, faultTask{name: task, mode: "stubborn", dur: 60 * time.Second, grace: grace})
	p := e.startSQLiteNode(t, newDataDir(t))
	id := e.mustStart(t, p, task)
	e.waitProbes(t, task, 1, 15*time.Second)

	asked := time.Now()
	code, outcome, stopped, err := e.stop(p, task)
	took := time.Since(asked)
	if err != nil || code != http.StatusOK || stopped != id {
		t.Fatalf("DELETE /butler/%s: %d %s run %d %v; want 200 for run %d", task, code, outcome, stopped, err, id)
	}
	t.Logf("DELETE answered %s in %v", outcome, took.Round(time.Millisecond))
	if took > 5*time.Second {
		e.violate("%s: DELETE took %v; want an answer within a few seconds", task, took.Round(time.Millisecond))
	}
	r, err := e.afterStop(p, task, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State == "stopping" {
		for _, force := range []bool{true, false} {
			a, err := e.start(p, task, force)
			if err != nil {
				t.Fatal(err)
			}
			if a.code != http.StatusAccepted {
				e.violate("%s: POST (force %v) while run %d is stopping answered %d %s (run %d); want 202 already running", task, force, id, a.code, a.outcome, a.runID)
			}
		}
	} else {
		// Finished already: a start is legitimate, provided the probe is
		// gone (the checker looks); it runs a second probe.
		a, err := e.start(p, task, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d was finished (%s, %q) when the DELETE answered; a new start answered %d %s", id, r.Outcome, r.Reason, a.code, a.outcome)
	}
	final := e.waitFinished(t, p, task, id, grace+15*time.Second)
	if r.State == "stopping" {
		if n, _ := e.leaders(t, task); n != 1 {
			e.violate("%s: %d probe executions while run %d was stopping; want 1", task, n, id)
		}
	}
	if final.Outcome != "stopped" || !sigkillRE.MatchString(final.Reason+" "+final.Error) {
		e.violate("%s: run %d ended %s with reason %q; want stopped, with a reason saying SIGKILL was needed", task, id, final.Outcome, final.Reason)
	}
	runs := e.settle(t, p, grace+15*time.Second)
	e.check(t, runs)
}

// TestFault_FrozenServerInCluster: SIGSTOP to the server running a probe in
// a cluster of two. The other server counts it dead, ends its run
// interrupted, and the task starts again there; by then the frozen
// server's group guard must have killed the probe's process group (the
// lease the server no longer renewed ran out), so that the two executions
// never overlap. Resumed (SIGCONT), the server stops what it still held
// and runs nothing twice.
//
// The frozen server's task has a longer grace (8 s) than the other's
// (2 s): its guard's lease is the longer, and the other must wait for it,
// not for what its own grace would give.
func TestFault_FrozenServerInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	const task = "FaultNormal"
	e := newFaultEnv(t, faultTask{name: task, mode: "normal", dur: 120 * time.Second, grace: 8 * time.Second})
	url := e.clusterDatabase(t)
	owner := e.startClusterNode(t, url, 0)
	id := e.mustStart(t, owner, task)
	e.waitProbes(t, task, 1, 15*time.Second)
	if r, err := getRun(owner, id); err != nil || r.Node != "fault0" {
		t.Fatalf("run %d is on %q (%v); want fault0, the only server", id, r.Node, err)
	}
	other := e.startClusterNode(t, url, 1, "--config", e.writeConfig(t, "short-grace.yaml", 2*time.Second))
	nodes := []*proc{owner, other}
	// Nothing was frozen yet: what the resumed server says below is new.
	for _, p := range nodes {
		if strings.Contains(p.stderr.String(), "stopped local runs") {
			t.Fatalf("a server stopped its runs before any freeze:\n%s", p.stderr)
		}
	}
	if err := owner.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	t.Cleanup(func() { _ = owner.cmd.Process.Signal(syscall.SIGCONT) })

	// The other server gives the frozen one up; the lock must be free as
	// soon as the run is seen finished (check looks at it).
	got := e.waitFinished(t, other, task, id, 45*time.Second)
	t.Logf("run %d of frozen fault0 ended %s %v after SIGSTOP: %s", id, got.Outcome, time.Since(frozen).Round(time.Millisecond), got.Reason)
	if got.Outcome != "interrupted" {
		e.violate("%s: run %d of a frozen server ended %s; want interrupted", task, id, got.Outcome)
	}
	id2 := e.mustStart(t, other, task)
	e.waitProbes(t, task, 2, 15*time.Second)

	// Resumed, the server says what happened, and the guard said what it
	// did while it was frozen.
	if err := owner.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`did not renew its lease.*SIGKILL to 1 process groups`),
		regexp.MustCompile(`stopped local runs: the other servers counted this server dead`),
	} {
		if _, ok := owner.stderr.waitFor(re, owner.done, 20*time.Second); !ok {
			e.violate("the resumed server's output does not match %q", re)
		}
	}
	if r2, err := getRun(other, id2); err != nil || r2.State != "running" {
		e.violate("%s: run %d is %s after the frozen server resumed (%v); want it running on", task, id2, r2.State, err)
	}
	if got, err := getRun(owner, id); err != nil || got.Outcome != "interrupted" {
		e.violate("%s: run %d is %s/%s through the resumed server (%v); want it left interrupted", task, id, got.State, got.Outcome, err)
	}
	e.stopRun(t, other, task, id2)
	runs := e.settle(t, other, 15*time.Second)
	if rep := e.check(t, runs); rep.Executions[task] != 2 {
		t.Errorf("%s ran %d probe executions; want 2: the frozen server's and the new start's", task, rep.Executions[task])
	}
}

// riverJob reads the newest River job of a run: its state and the client
// IDs that took it, the last one last (none yet: an empty list).
func riverJob(ctx context.Context, conn *pgx.Conn, runID int64) (state string, attemptedBy []string, err error) {
	err = conn.QueryRow(ctx, `SELECT state::text, coalesce(attempted_by, '{}') FROM river_job
		WHERE kind = 'butler_run' AND (args->>'run_id')::bigint = $1 ORDER BY id DESC LIMIT 1`, runID).Scan(&state, &attemptedBy)
	return state, attemptedBy, err
}

// heldBy reports whether a River client ID is one of node's processes: the
// node's name alone, or <node>#<incarnation>.
func heldBy(attemptedBy []string, node string) bool {
	if len(attemptedBy) == 0 {
		return false
	}
	id := attemptedBy[len(attemptedBy)-1]
	return id == node || strings.HasPrefix(id, node+"#")
}

// TestFault_ClusterServerRestartedAtOnce: kill -9 of a cluster's server
// that runs one task and holds the River job of a second one, queued behind
// ButlerMaxConcurrentTasks=1, and its restart at once under the same name
// (systemd's Restart=on-failure), well before the 13 s after which a
// server counts as dead. The restarted server ends the first run
// interrupted itself; the queued run, whose job the killed process held,
// must run exactly once, within seconds, instead of staying queued for
// ever behind a job nobody works.
func TestFault_ClusterServerRestartedAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	const (
		first  = "FaultFirst"  // runs when the server is killed
		queued = "FaultQueued" // waits for the slot when the server is killed
		node   = "fault0"
		bound  = 30 * time.Second // from the restart to the queued run's probe
	)
	e := newFaultEnv(t,
		faultTask{name: first, mode: "normal", dur: 120 * time.Second, grace: 2 * time.Second},
		faultTask{name: queued, mode: "quick", dur: 2 * time.Second, grace: 2 * time.Second})
	url := e.clusterDatabase(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// One slot; the queued task is left out of the first start-all.
	err = db.SaveSettings(ctx, map[string]string{butler.SettingMaxConcurrentTasks: "1", butler.EnableSetting(queued): "false"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", dataDir, "--database", url, "--node", node}
	p1 := e.startNode(t, args...)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })

	// The first task takes the only slot.
	if err := e.all(p1, http.MethodPost); err != nil {
		t.Fatal(err)
	}
	e.waitProbes(t, first, 1, 15*time.Second)
	// The second queues behind it.
	if code, _, body, err := request(http.MethodPut, p1.url("/:/prefs?"+butler.EnableSetting(queued)+"=true")); err != nil || code != http.StatusOK {
		t.Fatalf("PUT /:/prefs: %d %s %v", code, body, err)
	}
	if err := e.all(p1, http.MethodPost); err != nil {
		t.Fatal(err)
	}
	runs, err := allRuns(p1)
	if err != nil {
		t.Fatal(err)
	}
	var idFirst, idQueued int64
	for _, r := range runs {
		switch {
		case r.Task == first && r.State == "running":
			idFirst = r.ID
		case r.Task == queued && r.State == "queued":
			idQueued = r.ID
		}
	}
	if idFirst == 0 || idQueued == 0 {
		t.Fatalf("want %s running and %s queued after the two start-alls; the history: %s", first, queued, summarize(runsOf(runs)))
	}

	// Kill the server only once its River holds the queued run's job (it
	// waits at the gate): that job is what a restart must not leave behind.
	deadline := time.Now().Add(15 * time.Second)
	for {
		state, by, err := riverJob(ctx, conn, idQueued)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if state == "running" && heldBy(by, node) {
			t.Logf("run %d of %s is queued; its River job is running, taken by %v", idQueued, queued, by)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d of %s: its River job is %q, taken by %v, 15 s after the start-all; want running, taken by %s", idQueued, queued, state, by, node)
		}
		time.Sleep(20 * time.Millisecond) // waiting on the server's River
	}
	if n, _ := e.leaders(t, queued); n != 0 {
		t.Fatalf("%s ran %d probe executions while %s held the only slot", queued, n, first)
	}

	if err := p1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p1.done
	killed := time.Now()
	p2 := e.startNode(t, args...) // returns once /healthz answers 200
	restarted := time.Now()
	t.Logf("server %s killed, and serving again %v later", node, restarted.Sub(killed).Round(time.Millisecond))

	// The restarted server ended its earlier process's run itself, at its
	// start (the leader's reason would name the server).
	if r, err := getRun(p2, idFirst); err != nil {
		t.Fatal(err)
	} else if r.State != "finished" || r.Outcome != "interrupted" || !strings.HasPrefix(r.Reason, "the server stopped while the task ran") {
		e.violate("%s: run %d is %s/%s (%q) once the restarted server answered; want finished/interrupted, ended by the server at its start",
			first, idFirst, r.State, r.Outcome, r.Reason)
	} else {
		e.lockNow(first, idFirst, "when the restarted server answered /healthz")
	}

	// The queued run runs, once, within the bound.
	for {
		n, _ := e.leaders(t, queued)
		if n > 0 {
			t.Logf("run %d of %s: its probe started %v after the restart", idQueued, queued, time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Since(restarted) > bound {
			r, _ := getRun(p2, idQueued)
			state, by, err := riverJob(ctx, conn, idQueued)
			e.violate("%s: run %d is still %s %v after the server's restart, its River job %q taken by %v (%v): the job the killed process held was never given back",
				queued, idQueued, r.State, bound, state, by, err)
			break
		}
		time.Sleep(20 * time.Millisecond) // waiting on the server
	}
	if n, _ := e.leaders(t, queued); n > 0 {
		if r := e.waitFinished(t, p2, queued, idQueued, 15*time.Second); r.Outcome != "succeeded" {
			e.violate("%s: run %d ended %s (%q); want succeeded", queued, idQueued, r.Outcome, r.Reason)
		}
	}
	all := e.settle(t, p2, 15*time.Second)
	rep := e.check(t, all)
	if rep.Executions[first] != 1 || rep.Executions[queued] != 1 {
		t.Errorf("probe executions %v; want 1 of %s (the killed one) and 1 of %s", rep.Executions, first, queued)
	}
	for _, r := range all {
		if r.Task == queued && r.ID != idQueued {
			t.Errorf("%s: run %d (%s/%s) besides run %d; want the queued run alone", queued, r.ID, r.State, r.Outcome, idQueued)
		}
	}
}

// runsOf converts runs of the API for summarize.
func runsOf(runs []apitype.Run) []faultprobe.Run {
	out := make([]faultprobe.Run, len(runs))
	for i, r := range runs {
		out[i] = faultprobe.RunFromAPI(r)
	}
	return out
}

// TestFault_ClusterTwinsStartedTogether: two servers given the same name
// (two containers with the same hostname and port get the same default)
// started at the same moment on one cluster database. Exactly one serves;
// the other refuses to start, saying why, and exits with an error, so that
// no task can run under one name on two machines.
func TestFault_ClusterTwinsStartedTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	e := newFaultEnv(t, faultTask{name: "FaultTwin", mode: "quick", dur: time.Second, grace: time.Second})
	url := e.clusterDatabase(t)
	var procs [2]*proc
	for i := range procs {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		procs[i] = e.spawnNode(t, "--data-dir", dir, "--database", url, "--node", "twin")
	}
	var errs [2]error
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.waitServing() })
	}
	wg.Wait()
	var serving, refused []*proc
	for i, p := range procs {
		if errs[i] == nil {
			serving = append(serving, p)
			continue
		}
		// The refused one exits by itself, once it has seen the other's
		// heartbeat move: waiting on an external process, bounded.
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("server %d neither serves nor exits: %v", i, errs[i])
		}
		refused = append(refused, p)
	}
	if len(serving) != 1 || len(refused) != 1 {
		t.Fatalf("two servers of one name started together: %d serve, %d refused; want exactly one of each", len(serving), len(refused))
	}
	r := refused[0]
	if r.cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("the refused server exited with code 0; want an error")
	}
	if out := r.stderr.String(); !strings.Contains(out, "under this server's name") && !strings.Contains(out, "holds this server's name") {
		t.Errorf("the refused server's output does not say another server runs under its name:\n%s", out)
	}
	// The one that serves works: a start runs its task once.
	e.mustStart(t, serving[0], "FaultTwin")
	e.waitProbes(t, "FaultTwin", 1, 15*time.Second)
	e.check(t, e.settle(t, serving[0], 30*time.Second))
}

// TestFault_ClusterSupersededServerExits: a server whose name a process
// started later has taken (its heartbeat refused) stops its runs, whose
// processes end, and exits with status 2, saying why, instead of staying
// up for ever doing nothing.
func TestFault_ClusterSupersededServerExits(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t) // skip early without PostgreSQL
	const task = "FaultTaken"
	e := newFaultEnv(t, faultTask{name: task, mode: "normal", dur: 120 * time.Second, grace: 2 * time.Second})
	url := e.clusterDatabase(t)
	p := e.startClusterNode(t, url, 0)
	e.mustStart(t, p, task)
	e.waitProbes(t, task, 1, 15*time.Second)

	// A later process of fault0 writes the record.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE butler_node SET incarnation = incarnation + 1 WHERE name = 'fault0'`); err != nil {
		t.Fatal(err)
	}
	// Waiting on an external process, bounded: a heartbeat, the run's
	// grace, the shutdown.
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the superseded server still runs 30 s after its name was taken; output:\n%s", p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("the superseded server exited with status %d; want 2", code)
	}
	if out := p.stderr.String(); !strings.Contains(out, "took it over; this one stopped its runs and exits") {
		t.Errorf("the superseded server's output does not say why it exits:\n%s", out)
	}
	// The probes: nothing left running, the run ended.
	other := e.startClusterNode(t, url, 1)
	e.check(t, e.settle(t, other, 30*time.Second))
}

// TestFault_ClusterTaskMissingOnOneServer: two servers whose config files
// differ (a rolling change of the config): one offers the task, the other
// does not. Every run started through the first answers "started" and must
// run its program once, whichever server's worker fetches its job first:
// the other hands it back.
func TestFault_ClusterTaskMissingOnOneServer(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
	pgtest.URL(t)
	const task = "FaultNew"
	e := newFaultEnv(t, faultTask{name: task, mode: "quick", dur: 200 * time.Millisecond, grace: time.Second})
	dbURL := e.clusterDatabase(t)
	a := e.startClusterNode(t, dbURL, 0)
	empty := filepath.Join(e.dir, "without.yaml")
	if err := os.WriteFile(empty, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startClusterNode(t, dbURL, 1, "--config", empty)
	// Each run's job goes to either server: 8 runs all miss the second
	// with a chance of 1 in 256.
	const starts = 8
	for range starts {
		id := e.mustStart(t, a, task)
		// A run handed back is offered again every few seconds, to either
		// server: one that the first has not taken in two minutes is lost.
		if r := e.waitFinished(t, a, task, id, 2*time.Minute); r.Outcome != "succeeded" {
			e.violate("%s: run %d, started through a server that offers the task, ended %s: %s", task, id, r.Outcome, r.Reason)
		}
	}
	runs := e.settle(t, a, 30*time.Second)
	if rep := e.check(t, runs); rep.Executions[task] != starts {
		t.Errorf("%s ran its program %d times for %d runs that answered started", task, rep.Executions[task], starts)
	}
}
