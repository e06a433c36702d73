// Command scalebench measures how a Butler cluster scales out: a window
// with 300 due user-defined tasks (each a one-second command),
// ButlerMaxConcurrentTasks 4, drained by one, two and three servers sharing
// one PostgreSQL database. It writes a markdown section for BENCHMARKS.md.
//
//	go -C bench run ./scalebench -out FRAGMENT.md
//
// PostgreSQL comes from BUTLER_BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres); each run gets a database
// of its own, dropped afterwards.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/internal/benchserver"
)

const (
	tasks     = 300
	perNode   = 4
	token     = "scalebench-token-1234"
	taskSleep = "1"
)

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	bin := flag.String("butler", "", "butler binary (default: build cmd/butler)")
	flag.Parse()
	if err := run(*out, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func run(out, bin string) error {
	base := os.Getenv("BUTLER_BENCH_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	tmp, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "butler")
		if err := benchserver.Build(context.Background(), bin, true); err != nil {
			return err
		}
	}
	cfg := filepath.Join(tmp, "butler.yaml")
	if err := writeConfig(cfg); err != nil {
		return err
	}
	var results []result
	for _, n := range []int{1, 2, 3} {
		logf("%d server(s): draining %d one-second tasks, %d at a time on each", n, tasks, perNode)
		r, err := drain(base, bin, cfg, tmp, n)
		if err != nil {
			return fmt.Errorf("%d servers: %w", n, err)
		}
		logf("  drained in %v; runs per server %v", r.elapsed.Round(10*time.Millisecond), r.perNode)
		results = append(results, r)
	}
	text := report(results)
	lat, err := crossNode(base, bin, cfg, tmp)
	if err != nil {
		return fmt.Errorf("cross-node latency: %w", err)
	}
	text += lat
	fo, err := failover(base, bin, cfg, tmp)
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	text += fo
	if out == "" {
		fmt.Print(text)
		return nil
	}
	return os.WriteFile(out, []byte(text), 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scalebench: "+format+"\n", args...)
}

func writeConfig(path string) error {
	var b strings.Builder
	b.WriteString("# 300 one-second commands, due every day, queued when the window opens.\ntasks:\n")
	b.WriteString("  Long:\n    exec: {argv: [\"/bin/sleep\", \"3600\"], time_limit: 2h, grace: 1s}\n    enabled: false\n")
	for i := 1; i <= tasks; i++ {
		fmt.Fprintf(&b, "  Job%03d:\n    exec: {argv: [\"/bin/sleep\", %q], time_limit: 1m}\n    interval: 1\n    randomized: false\n", i, taskSleep)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

type result struct {
	nodes   int
	elapsed time.Duration
	perNode map[string]int
}

// drain starts n servers on a fresh database, opens the window, and waits
// until every task's run has finished.
func drain(base, bin, cfg, tmp string, n int) (result, error) {
	ctx := context.Background()
	dbURL, drop, err := freshDatabase(ctx, base)
	if err != nil {
		return result{}, err
	}
	defer drop()
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.Stop(20 * time.Second)
		}
	}()
	for i := range n {
		dir := filepath.Join(tmp, fmt.Sprintf("n%d-%d", n, i))
		p, err := startServer(bin, cfg, dir, dbURL, fmt.Sprintf("node%d", i))
		if err != nil {
			return result{}, err
		}
		procs = append(procs, p)
		if i == 0 {
			// The first server migrates; quiet the window and the built-in
			// tasks before the others join.
			h := time.Now().UTC().Hour()
			q := url.Values{}
			q.Set("ButlerTimeZone", "UTC")
			q.Set("ButlerStartHour", strconv.Itoa((h+12)%24))
			q.Set("ButlerEndHour", strconv.Itoa((h+14)%24))
			q.Set("ButlerMaxConcurrentTasks", strconv.Itoa(perNode))
			for _, t := range []string{"BackupDatabase", "OptimizeDatabase", "CleanOldCacheFiles"} {
				q.Set("ButlerTask"+t, "0")
			}
			if err := put(p, q); err != nil {
				return result{}, err
			}
		}
	}
	h := time.Now().UTC().Hour()
	q := url.Values{}
	q.Set("ButlerStartHour", strconv.Itoa(h))
	q.Set("ButlerEndHour", strconv.Itoa((h+2)%24))
	start := time.Now()
	if err := put(procs[0], q); err != nil {
		return result{}, err
	}
	deadline := start.Add(10 * time.Minute)
	for {
		runs, err := allRuns(procs[len(procs)-1])
		if err != nil {
			return result{}, err
		}
		done := 0
		per := map[string]int{}
		for _, r := range runs {
			if r.Trigger == "window" && r.State == "finished" {
				if r.Outcome != "succeeded" {
					return result{}, fmt.Errorf("run %d of %s ended %s: %s %s", r.ID, r.Task, r.Outcome, r.Reason, r.Error)
				}
				done++
				per[r.Node]++
			}
		}
		if done == tasks {
			return result{nodes: n, elapsed: time.Since(start), perNode: per}, nil
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d runs finished in 10 minutes", done, tasks)
		}
		time.Sleep(100 * time.Millisecond) // polls other processes
	}
}

func freshDatabase(ctx context.Context, base string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL (BUTLER_BENCH_DATABASE_URL): %w", err)
	}
	name := fmt.Sprintf("butler_scale_%08x", rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String(), func() {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	}, nil
}

// proc is one `butler serve` of the cluster.
type proc = benchserver.Server

func startServer(bin, cfg, dir, dbURL, node string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return benchserver.Start(bin, "--config", cfg, "--data-dir", dir, "--addr", "127.0.0.1:0",
		"--token", token, "--database", dbURL, "--node", node)
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func put(p *proc, q url.Values) error {
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/:/prefs?"+q.Encode(), nil)
	req.Header.Set("X-Plex-Token", token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT /:/prefs: %s", resp.Status)
	}
	return nil
}

func allRuns(p *proc) ([]apitype.Run, error) {
	var all []apitype.Run
	before := ""
	for {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/butler/runs?limit=1000"+before, nil)
		req.Header.Set("X-Plex-Token", token)
		req.Header.Set("Accept", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		var page apitype.RunsResponse
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, page.MediaContainer.Run...)
		if len(page.MediaContainer.Run) < 1000 {
			return all, nil
		}
		before = fmt.Sprintf("&beforeID=%d", page.MediaContainer.Run[len(page.MediaContainer.Run)-1].ID)
	}
}

func report(rs []result) string {
	var b strings.Builder
	b.WriteString("## Cluster scale-out\n\n")
	b.WriteString("Target: a window of 300 due user-defined tasks (each `/bin/sleep 1`), `ButlerMaxConcurrentTasks` 4, drained by three servers **at least 2.5×** as fast as by one.\n\n")
	b.WriteString("Command: `go -C bench run ./scalebench` (run by `scripts/bench.sh`). For each cluster size: a fresh PostgreSQL database, that many `butler serve` processes on this machine with the same config file binding `Job001`..`Job300` to the command, the built-in tasks disabled; then `PUT /:/prefs` moves the window over now, the leader plans it (300 runs queued), and the clock stops when all 300 runs have succeeded (polled every 100 ms through `GET /butler/runs`).\n\n")
	b.WriteString("| servers | drained in | speed-up vs 1 | runs per server |\n| ---: | ---: | ---: | --- |\n")
	one := rs[0].elapsed
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %.1f s | %.2f× | %s |\n", r.nodes, r.elapsed.Seconds(), one.Seconds()/r.elapsed.Seconds(), nodeCounts(r.perNode))
	}
	last := rs[len(rs)-1]
	speed := one.Seconds() / last.elapsed.Seconds()
	verdict := "**met**"
	if speed < 2.5 {
		verdict = "**not met**"
	}
	fmt.Fprintf(&b, "\nResult: three servers drain the window %.2f× as fast as one, against 2.5×: %s. The ideal is 3× (75 s of sleeping per server slot shared by 4, 8 or 12 slots); the servers, the commands and PostgreSQL share this machine's 2 cores.\n", speed, verdict)
	return b.String()
}

func nodeCounts(m map[string]int) string {
	var parts []string
	for i := range 3 {
		name := fmt.Sprintf("node%d", i)
		if n, ok := m[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}

// quiet sets the window twelve hours away, ButlerMaxConcurrentTasks, and
// disables the built-in tasks.
func quiet(p *proc) error {
	h := time.Now().UTC().Hour()
	q := url.Values{}
	q.Set("ButlerTimeZone", "UTC")
	q.Set("ButlerStartHour", strconv.Itoa((h+12)%24))
	q.Set("ButlerEndHour", strconv.Itoa((h+14)%24))
	q.Set("ButlerMaxConcurrentTasks", strconv.Itoa(perNode))
	for _, t := range []string{"BackupDatabase", "OptimizeDatabase", "CleanOldCacheFiles"} {
		q.Set("ButlerTask"+t, "0")
	}
	return put(p, q)
}

func startNodes(bin, cfg, tmp, dbURL, tag string, n int) ([]*proc, error) {
	var procs []*proc
	for i := range n {
		p, err := startServer(bin, cfg, filepath.Join(tmp, fmt.Sprintf("%s-%d", tag, i)), dbURL, fmt.Sprintf("node%d", i))
		if err != nil {
			for _, q := range procs {
				q.Stop(20 * time.Second)
			}
			return nil, err
		}
		procs = append(procs, p)
		if i == 0 {
			if err := quiet(p); err != nil {
				return nil, err
			}
		}
	}
	return procs, nil
}

func do(p *proc, method, path string) (*http.Response, error) {
	req, _ := http.NewRequest(method, p.URL+path, nil)
	req.Header.Set("X-Plex-Token", token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// runOf polls a node until the run with id satisfies ok.
func runOf(p *proc, id int64, limit time.Duration, ok func(apitype.Run) bool) (apitype.Run, error) {
	deadline := time.Now().Add(limit)
	for {
		runs, err := allRuns(p)
		if err != nil {
			return apitype.Run{}, err
		}
		for _, r := range runs {
			if r.ID == id && ok(r) {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			return apitype.Run{}, fmt.Errorf("run %d did not reach the state in %v", id, limit)
		}
		time.Sleep(2 * time.Millisecond) // polls another process
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// crossNode measures, on three servers, stops and starts made through a
// server other than the one that runs the task.
func crossNode(base, bin, cfg, tmp string) (string, error) {
	ctx := context.Background()
	dbURL, drop, err := freshDatabase(ctx, base)
	if err != nil {
		return "", err
	}
	defer drop()
	procs, err := startNodes(bin, cfg, tmp, dbURL, "lat", 3)
	if err != nil {
		return "", err
	}
	defer func() {
		for _, p := range procs {
			p.Stop(20 * time.Second)
		}
	}()
	const n = 100
	byName := map[string]*proc{}
	for i, p := range procs {
		byName[fmt.Sprintf("node%d", i)] = p
	}
	var starts, stops, gone []time.Duration
	ran := map[string]int{}
	for i := range n {
		via := procs[i%3]
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, via.URL+"/butler/Long?force=1", nil)
		req.Header.Set("X-Plex-Token", token)
		resp, err := httpClient.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		id, _ := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
		r, err := runOf(via, id, 20*time.Second, func(r apitype.Run) bool { return r.State == "running" })
		if err != nil {
			return "", err
		}
		startedAt, _ := time.Parse(time.RFC3339Nano, r.StartedAt)
		starts = append(starts, startedAt.Sub(t0))
		ran[r.Node]++
		owner := byName[r.Node]
		other := procs[(indexOf(procs, owner)+1)%3]
		t1 := time.Now()
		resp, err = do(other, http.MethodDelete, "/butler/Long")
		if err != nil {
			return "", err
		}
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("stop through another node: %s", resp.Status)
		}
		stops = append(stops, time.Since(t1))
		// Until the owner's activities no longer list it: its context was
		// cancelled and its worker returned.
		for {
			acts, err := activities(owner)
			if err != nil {
				return "", err
			}
			if !strings.Contains(acts, `"taskName":"Long"`) {
				break
			}
			if time.Since(t1) > 20*time.Second {
				return "", errors.New("the owner never let go of a stopped run")
			}
			time.Sleep(time.Millisecond) // polls another process
		}
		gone = append(gone, time.Since(t1))
	}
	var b strings.Builder
	b.WriteString("\n## Cluster: cross-node start and stop\n\n")
	b.WriteString("Targets: **p99 < 50 ms** for a stop through one server of a run on another, and for a start through one server of a run that another picks up.\n\n")
	fmt.Fprintf(&b, "Command: `go -C bench run ./scalebench`. Three `butler serve` processes on one PostgreSQL database; a config-file task `Long` (`/bin/sleep 3600`). %d times: `POST /butler/Long?force=1` through server i mod 3; the run's `startedAt` (written by the server that runs it; same machine, same clock) minus the POST's send time is the start latency; then `DELETE /butler/Long` through a server other than the owner: its round trip (the answer comes once the stop is stored), and the time until the owner's `GET /activities` no longer lists the run (its task's context was cancelled through River's LISTEN/NOTIFY and its worker returned; polled every millisecond).\n\n", n)
	b.WriteString("| measured | p50 ms | p90 ms | p99 ms | max ms | n |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"start: POST on one server → run started on another", starts}, {"stop: DELETE round trip through a non-owner", stops}, {"stop: DELETE sent → gone from the owner's activities", gone}} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", row.name, ms(pct(row.d, .5)), ms(pct(row.d, .9)), ms(pct(row.d, .99)), ms(pct(row.d, 1)), len(row.d))
	}
	verdict := func(d []time.Duration) string {
		if pct(d, .99) < 50*time.Millisecond {
			return "**met**"
		}
		return "**not met**"
	}
	fmt.Fprintf(&b, "\nResult: start p99 %s ms: %s; stop p99 %s ms (round trip) and %s ms (until the owner let go): %s. Runs ran on %s.\n",
		ms(pct(starts, .99)), verdict(starts), ms(pct(stops, .99)), ms(pct(gone, .99)), verdict(gone), nodeCounts(ran))
	return b.String(), nil
}

func indexOf(ps []*proc, p *proc) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return 0
}

func activities(p *proc) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/activities", nil)
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = io.Copy(&sb, resp.Body)
	return sb.String(), err
}

// failover measures, three times each on a fresh cluster, how long a
// killed leader's successor takes to plan, and how long a killed server's
// run takes to end interrupted.
func failover(base, bin, cfg, tmp string) (string, error) {
	ctx := context.Background()
	var leader, interrupted []time.Duration
	for rep := range 3 {
		dbURL, drop, err := freshDatabase(ctx, base)
		if err != nil {
			return "", err
		}
		procs, err := startNodes(bin, cfg, tmp, dbURL, fmt.Sprintf("fo%d", rep), 3)
		if err != nil {
			drop()
			return "", err
		}
		// A run on some server, then kill that server.
		resp, err := http.NewRequest(http.MethodPost, procs[1].URL+"/butler/Long?force=1", nil)
		if err != nil {
			return "", err
		}
		resp.Header.Set("X-Plex-Token", token)
		answer, err := httpClient.Do(resp)
		if err != nil {
			return "", err
		}
		answer.Body.Close()
		id, _ := strconv.ParseInt(answer.Header.Get(apitype.HeaderRunID), 10, 64)
		r, err := runOf(procs[1], id, 20*time.Second, func(r apitype.Run) bool { return r.State == "running" })
		if err != nil {
			return "", err
		}
		var victim *proc
		for i, p := range procs {
			if fmt.Sprintf("node%d", i) == r.Node {
				victim = p
			}
		}
		var survivor *proc
		for _, p := range procs {
			if p != victim {
				survivor = p
			}
		}
		victim.Kill()
		t0 := time.Now()
		if _, err := runOf(survivor, id, 60*time.Second, func(r apitype.Run) bool { return r.Outcome == "interrupted" }); err != nil {
			return "", err
		}
		interrupted = append(interrupted, time.Since(t0))
		// Kill the leader (node0, unless it was the victim) and wait for a
		// successor: it shows by planning a window moved over now.
		lead := procs[0]
		if lead == victim {
			lead = procs[1]
		}
		var other *proc
		for _, p := range procs {
			if p != victim && p != lead {
				other = p
			}
		}
		h := time.Now().UTC().Hour()
		q := url.Values{}
		q.Set("ButlerStartHour", strconv.Itoa(h))
		q.Set("ButlerEndHour", strconv.Itoa((h+2)%24))
		lead.Kill()
		t1 := time.Now()
		if err := put(other, q); err != nil {
			return "", err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			runs, err := allRuns(other)
			if err != nil {
				return "", err
			}
			planned := false
			for _, r := range runs {
				planned = planned || r.Trigger == "window"
			}
			if planned {
				break
			}
			if time.Now().After(deadline) {
				return "", errors.New("no server took over planning")
			}
			time.Sleep(10 * time.Millisecond) // polls another process
		}
		leader = append(leader, time.Since(t1))
		for _, p := range procs {
			p.Stop(20 * time.Second)
		}
		drop()
		logf("  failover %d: run interrupted after %v, planning taken over after %v", rep+1, interrupted[rep].Round(time.Millisecond), leader[rep].Round(time.Millisecond))
	}
	var b strings.Builder
	b.WriteString("\n## Cluster: failover after kill -9\n\n")
	b.WriteString("No numeric target: the design bounds both by its timings (heartbeat every 2 s, a server silent for 10 s is dead, the planner's lease lasts 10 s).\n\n")
	b.WriteString("Command: `go -C bench run ./scalebench`. Three servers on a fresh database, three times: a task starts on some server, which gets SIGKILL; the clock runs until a surviving server reports the run `interrupted`. Then the planner (the lease holder) gets SIGKILL and the window is moved over now through a third server; the clock runs until a window run exists (another server took the lease and planned).\n\n")
	b.WriteString("| measured | min s | median s | max s |\n| --- | ---: | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"kill -9 of the server running a task → run interrupted", interrupted}, {"kill -9 of the planner → another server plans", leader}} {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f |\n", row.name, pct(row.d, 0).Seconds(), pct(row.d, .5).Seconds(), pct(row.d, 1).Seconds())
	}
	return b.String(), nil
}
