// Command scalebench measures how a Butler cluster scales out: a window
// with 300 due user-defined tasks (each a one-second command),
// ButlerMaxConcurrentTasks 4, drained by one, two and three servers sharing
// one PostgreSQL database. It writes a markdown section for BENCHMARKS.md.
//
//	go run ./internal/scalebench -out FRAGMENT.md
//
// PostgreSQL comes from BUTLER_BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres); each run gets a database
// of its own, dropped afterwards.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plexbutler/butler/apitype"
)

const (
	tasks     = 300
	perNode   = 4
	token     = "scalebench-token-1234"
	taskSleep = "1"
)

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	bin := flag.String("butler", "", "butler binary (default: build ./cmd/butler)")
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
		build := exec.Command("go", "build", "-o", bin, "./cmd/butler")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build butler: %v\n%s", err, b)
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
			p.stop()
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

type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

var servingRE = regexp.MustCompile(`msg="butler: serving" addr=(\S+)`)

func startServer(bin, cfg, dir, dbURL, node string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data-dir", dir, "--addr", "127.0.0.1:0",
		"--token", token, "--database", dbURL, "--node", node)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				once.Do(func() { found <- m[1] })
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.addr = <-found:
		return p, nil
	case <-p.done:
		return nil, errors.New("butler serve exited before serving")
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, errors.New("butler serve did not start within 60 s")
	}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func put(p *proc, q url.Values) error {
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.addr+"/:/prefs?"+q.Encode(), nil)
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
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/butler/runs?limit=1000"+before, nil)
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
	b.WriteString("Command: `go run ./internal/scalebench` (run by `scripts/bench.sh`). For each cluster size: a fresh PostgreSQL database, that many `butler serve` processes on this machine with the same config file binding `Job001`..`Job300` to the command, the built-in tasks disabled; then `PUT /:/prefs` moves the window over now, the leader plans it (300 runs queued), and the clock stops when all 300 runs have succeeded (polled every 100 ms through `GET /butler/runs`).\n\n")
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
