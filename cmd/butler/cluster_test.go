package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/postgres"
)

const clusterToken = "cluster-token-123456"

type cluster struct {
	url   string
	nodes []*proc
}

// startCluster starts n `butler serve` processes on a fresh PostgreSQL
// database, with the window twelve hours away and a ballast table that a
// test can lock to hold pg_dump (BackupDatabase) for as long as it likes.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests skipped in -short mode")
	}
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
	if err := db.SaveSettings(ctx, map[string]string{butler.SettingTimeZone: "UTC",
		butler.SettingStartHour: strconv.Itoa((h + 12) % 24), butler.SettingEndHour: strconv.Itoa((h + 13) % 24)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.ExecContext(ctx, `CREATE TABLE ballast AS SELECT g FROM generate_series(1, 1000) g`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c := &cluster{url: url}
	for i := range n {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, startProc(t, "--data-dir", dir, "--addr", "127.0.0.1:0", "--token", clusterToken,
			"--database", url, "--node", fmt.Sprintf("node%d", i)))
	}
	return c
}

// lockBallast holds an exclusive lock on the ballast table until the
// returned function is called: pg_dump waits for it.
func (c *cluster) lockBallast(t *testing.T) func() {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE ballast IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			tx.Rollback(ctx)
			conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

func (c *cluster) runs(t *testing.T, p *proc, query string) []apitype.Run {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url("/butler/runs?"+query), nil)
	req.Header.Set("X-Plex-Token", clusterToken)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out apitype.RunsResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.MediaContainer.Run
}

// waitRun polls (it waits on other processes) until the run satisfies ok.
func (c *cluster) waitRun(t *testing.T, p *proc, id int64, limit time.Duration, ok func(apitype.Run) bool) apitype.Run {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, r := range c.runs(t, p, "limit=50") {
			if r.ID == id && ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not reach the expected state within %v: %+v", id, limit, c.runs(t, p, "limit=5"))
		}
		time.Sleep(50 * time.Millisecond) // waiting on other processes
	}
}

func (c *cluster) nodeNamed(name string) *proc {
	for i, p := range c.nodes {
		if fmt.Sprintf("node%d", i) == name {
			return p
		}
	}
	return nil
}

func startedRun(t *testing.T, p *proc, path string) int64 {
	t.Helper()
	resp, body := do(t, "POST", p.url(path), clusterToken)
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("POST %s: %d %s %v", path, resp.StatusCode, body, resp.Header)
	}
	id, _ := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
	return id
}

// TestCluster_StormNeverTwoRunsAtOnce spreads random starts and stops of the
// same tasks over three servers; the run history must never show two runs
// of one task that overlap in time.
func TestCluster_StormNeverTwoRunsAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	paths := []struct{ method, path string }{
		{"POST", "/butler/BackupDatabase?force=1"}, {"DELETE", "/butler/BackupDatabase"},
		{"POST", "/butler/OptimizeDatabase?force=1"}, {"DELETE", "/butler/OptimizeDatabase"},
		{"POST", "/butler/CleanOldCacheFiles?force=1"}, {"DELETE", "/butler/CleanOldCacheFiles"},
		{"POST", "/butler"}, {"DELETE", "/butler"},
	}
	const clients, perClient = 10, 100
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cl), 11))
			for range perClient {
				op := paths[rng.IntN(len(paths))]
				node := c.nodes[rng.IntN(len(c.nodes))]
				req, _ := http.NewRequest(op.method, node.url(op.path), nil)
				req.Header.Set("X-Plex-Token", clusterToken)
				resp, err := httpClient.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", op.method, op.path, err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 || resp.StatusCode == 400 || resp.StatusCode == 401 {
					t.Errorf("%s %s on %s: %d", op.method, op.path, node.addr, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	// Let what is left finish, then read the whole history.
	do(t, "DELETE", c.nodes[0].url("/butler"), clusterToken)
	var all []apitype.Run
	before := ""
	for {
		page := c.runs(t, c.nodes[1], "limit=1000"+before)
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		before = fmt.Sprintf("&beforeID=%d", page[len(page)-1].ID)
	}
	byTask := map[string][][2]time.Time{}
	nodesUsed := map[string]bool{}
	for _, r := range all {
		if r.StartedAt == "" {
			continue
		}
		nodesUsed[r.Node] = true
		start, _ := time.Parse(time.RFC3339Nano, r.StartedAt)
		end := time.Now().Add(time.Hour)
		if r.EndedAt != "" {
			end, _ = time.Parse(time.RFC3339Nano, r.EndedAt)
		}
		for _, iv := range byTask[r.Task] {
			if start.Before(iv[1]) && iv[0].Before(end) {
				t.Fatalf("two runs of %s overlap: [%v, %v] and [%v, %v]", r.Task, iv[0], iv[1], start, end)
			}
		}
		byTask[r.Task] = append(byTask[r.Task], [2]time.Time{start, end})
	}
	t.Logf("%d runs in the history, %d of them started, on nodes %v", len(all), len(byTask["BackupDatabase"])+len(byTask["OptimizeDatabase"])+len(byTask["CleanOldCacheFiles"]), nodesUsed)
	if len(nodesUsed) < 2 {
		t.Errorf("runs ran on %d node(s), want them spread over the cluster", len(nodesUsed))
	}
}

// TestCluster_StopAndFailover: a stop on one server ends a run on another,
// and a run whose server is killed ends interrupted within 30 s, after
// which its task starts again.
func TestCluster_StopAndFailover(t *testing.T) {
	c := startCluster(t, 3)
	c.lockBallast(t)

	// Stop anywhere.
	id := startedRun(t, c.nodes[0], "/butler/BackupDatabase?force=1")
	r := c.waitRun(t, c.nodes[1], id, 15*time.Second, func(r apitype.Run) bool { return r.State == "running" })
	owner := c.nodeNamed(r.Node)
	var other *proc
	for _, p := range c.nodes {
		if p != owner {
			other = p
			break
		}
	}
	start := time.Now()
	resp, body := do(t, "DELETE", other.url("/butler/BackupDatabase"), clusterToken)
	if resp.StatusCode != 200 {
		t.Fatalf("stop on another node: %d %s", resp.StatusCode, body)
	}
	t.Logf("stop of a run on %s through another node answered in %v", r.Node, time.Since(start))
	if r := c.waitRun(t, owner, id, 5*time.Second, func(r apitype.Run) bool { return r.State == "finished" }); r.Outcome != "stopped" {
		t.Fatalf("run after a remote stop: %+v", r)
	}
	// The owner let go of it: no activity left there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := do(t, "GET", owner.url("/activities"), clusterToken)
		if body != "" && !strings.Contains(body, "BackupDatabase") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the owner still has the run: %s", body)
		}
		time.Sleep(50 * time.Millisecond) // waiting on another process
	}

	// Kill the server running a task.
	id = startedRun(t, c.nodes[1], "/butler/BackupDatabase?force=1")
	r = c.waitRun(t, c.nodes[2], id, 15*time.Second, func(r apitype.Run) bool { return r.State == "running" })
	victim := c.nodeNamed(r.Node)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killed := time.Now()
	var survivor *proc
	for _, p := range c.nodes {
		if p != victim {
			survivor = p
		}
	}
	r = c.waitRun(t, survivor, id, 30*time.Second, func(r apitype.Run) bool { return r.State == "finished" })
	t.Logf("run of killed %s ended %s after %v: %s", victim.addr, r.Outcome, time.Since(killed).Round(time.Millisecond), r.Reason)
	if r.Outcome != "interrupted" {
		t.Fatalf("run of a killed server: %+v", r)
	}
	// Its task is not blocked: it starts again.
	startedRun(t, survivor, "/butler/BackupDatabase?force=1")
}

// TestCluster_LeaderKilledInsideWindow: the window opens, the leader plans
// it and is killed; another server takes over planning, and no task gets a
// second run in the window.
func TestCluster_LeaderKilledInsideWindow(t *testing.T) {
	c := startCluster(t, 3)
	release := c.lockBallast(t)
	leader := c.nodes[0] // the first to start takes the lease
	h := time.Now().UTC().Hour()
	// The tasks at a random time in the window would wait for it: off, so
	// that every run of the window is queued when it opens.
	prefs := fmt.Sprintf("/:/prefs?ButlerStartHour=%d&ButlerEndHour=%d", h, (h+2)%24)
	for _, task := range offeredTasks() {
		if task.Randomized {
			prefs += "&" + task.Setting + "=false"
		}
	}
	resp, body := do(t, "PUT", leader.url(prefs), clusterToken)
	if resp.StatusCode != 200 {
		t.Fatalf("open the window: %d %s", resp.StatusCode, body)
	}
	// The plan is made: every task has a window run.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, r := range c.runs(t, c.nodes[1], "limit=100") {
			if r.Trigger == "window" {
				n++
			}
		}
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window was not planned: %+v", c.runs(t, c.nodes[1], "limit=100"))
		}
		time.Sleep(50 * time.Millisecond) // waiting on other processes
	}
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	release()
	// Another server takes the lease (10 s), ends the dead leader's runs,
	// and plans the window again: nothing may run twice.
	deadline = time.Now().Add(40 * time.Second)
	for {
		active := 0
		for _, r := range c.runs(t, c.nodes[1], "limit=100") {
			if r.State != "finished" {
				active++
			}
		}
		if active == 0 && time.Since(deadline.Add(-40*time.Second)) > 15*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still active: %+v", c.runs(t, c.nodes[1], "limit=100"))
		}
		time.Sleep(100 * time.Millisecond) // waiting on other processes
	}
	perTask := map[string]int{}
	for _, r := range c.runs(t, c.nodes[2], "limit=100") {
		if r.Trigger == "window" {
			perTask[r.Task]++
		}
	}
	for task, n := range perTask {
		if n != 1 {
			t.Errorf("%s has %d window runs, want 1", task, n)
		}
	}
	// The tasks offered out of the box at a fixed time of the window.
	want := []string{"BackupDatabase", "CleanOldBundles", "CleanOldCacheFiles", "GarbageCollectBlobs", "GarbageCollectLibraryMedia", "OptimizeDatabase"}
	if got := slices.Sorted(maps.Keys(perTask)); !slices.Equal(got, want) {
		t.Errorf("window runs %v, want one for each of %v", perTask, want)
	}
}
