// Command stopbench measures whether a stop that waits for one task's work
// delays the starts and stops of other tasks. A real butler server runs
// stubborn commands (they ignore SIGTERM for their 10 s grace) and quick
// ones (they end at SIGTERM). Clients start and stop the quick tasks, each
// request timed, twice: with nothing else going on (the baseline), and
// while every stubborn task has a stop pending (their stop requests wait
// and answer "stopping"). It writes a markdown section for BENCHMARKS.md:
// the latency percentiles of both phases and their ratio.
//
//	go run ./internal/stopbench -out FRAGMENT.md
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	token    = "stopbench-token-1234"
	stubborn = 4 // stubborn tasks, all stopped at once
	quick    = 8 // quick tasks, each worked by one client
	rounds   = 40
)

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	bin := flag.String("butler", "", "butler binary (default: build ./cmd/butler)")
	flag.Parse()
	text, err := run(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stopbench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(text)
		return
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "stopbench:", err)
		os.Exit(1)
	}
}

var servingRE = regexp.MustCompile(`msg="butler: serving" addr=(\S+)`)

func run(bin string) (string, error) {
	tmp, err := os.MkdirTemp("", "stopbench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "butler")
		build := exec.Command("go", "build", "-o", bin, "./cmd/butler")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build butler: %v\n%s", err, b)
		}
	}
	var cfg strings.Builder
	cfg.WriteString("tasks:\n")
	for i := range stubborn {
		fmt.Fprintf(&cfg, "  Stubborn%d:\n    exec:\n      argv: [/bin/sh, -c, \"trap '' TERM; while :; do sleep 0.1; done\"]\n      grace: 10s\n", i)
	}
	for i := range quick {
		fmt.Fprintf(&cfg, "  Quick%d:\n    exec:\n      argv: [/bin/sleep, \"60\"]\n", i)
	}
	config := filepath.Join(tmp, "butler.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		return "", err
	}
	srv := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--token", token, "--config", config)
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := srv.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := srv.Start(); err != nil {
		return "", err
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		return "", errors.New("butler serve did not start")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	call := func(method, path string) (int, string, time.Duration, error) {
		req, _ := http.NewRequestWithContext(context.Background(), method, base+path, nil)
		req.Header.Set("X-Plex-Token", token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Butler-Outcome"), time.Since(t0), nil
	}

	// load makes each client start and stop its own quick task rounds
	// times, and returns every request's latency.
	load := func() ([]time.Duration, error) {
		var mu sync.Mutex
		var lat []time.Duration
		var errs []error
		var wg sync.WaitGroup
		for c := range quick {
			wg.Go(func() {
				task := fmt.Sprintf("/butler/Quick%d", c)
				for range rounds {
					for _, method := range []string{http.MethodPost, http.MethodDelete} {
						code, _, d, err := call(method, task)
						mu.Lock()
						if err == nil && code != http.StatusOK {
							err = fmt.Errorf("%s %s: %d", method, task, code)
						}
						if err != nil {
							errs = append(errs, err)
						} else {
							lat = append(lat, d)
						}
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		return lat, errors.Join(errs...)
	}
	if _, err := load(); err != nil { // warm-up
		return "", err
	}
	baseline, err := load()
	if err != nil {
		return "", err
	}

	// Every stubborn task runs, then is stopped: its stop waits (2 s) and
	// answers "stopping"; its command lives on through its 10 s grace.
	for i := range stubborn {
		if code, _, _, err := call(http.MethodPost, fmt.Sprintf("/butler/Stubborn%d", i)); err != nil || code != http.StatusOK {
			return "", fmt.Errorf("start Stubborn%d: %d %v", i, code, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the commands start and trap SIGTERM
	stopOutcomes := make([]string, stubborn)
	var stops sync.WaitGroup
	for i := range stubborn {
		stops.Go(func() {
			_, outcome, _, _ := call(http.MethodDelete, fmt.Sprintf("/butler/Stubborn%d", i))
			stopOutcomes[i] = outcome
		})
	}
	time.Sleep(100 * time.Millisecond) // the stops are recorded and waiting
	t0 := time.Now()
	pending, err := load()
	if err != nil {
		return "", err
	}
	loadTime := time.Since(t0)
	stops.Wait()
	for i, o := range stopOutcomes {
		if o != "stopping" {
			return "", fmt.Errorf("the stop of Stubborn%d answered %q, want stopping: the phase did not overlap a pending stop", i, o)
		}
	}
	if loadTime > 9*time.Second {
		return "", fmt.Errorf("the load took %v: longer than the stubborn tasks' grace", loadTime)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Starts and stops while other stops wait\n\n")
	fmt.Fprintf(&b, "Command: `go run ./internal/stopbench` (run by `scripts/bench.sh`). %d clients each start and stop their own quick exec task %d times (%d requests a phase), first with nothing else going on, then while %d stubborn exec tasks (SIGTERM ignored, 10 s grace) each have a stop pending: their stop requests answered `stopping` after 2 s and their commands lived on. Target: p99 under 50 ms while stops are pending.\n\n", quick, rounds, quick*rounds*2, stubborn)
	fmt.Fprintf(&b, "| phase | requests | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- | --- |\n")
	row := func(name string, l []time.Duration) {
		slices.Sort(l)
		fmt.Fprintf(&b, "| %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", name, len(l), ms(pct(l, 50)), ms(pct(l, 90)), ms(pct(l, 99)), ms(l[len(l)-1]))
	}
	row("nothing else going on", baseline)
	row("stubborn stops pending", pending)
	fmt.Fprintf(&b, "\np99 with stops pending / p99 alone: %.2f×. Target met: %v.\n", ms(pct(pending, 99))/ms(pct(baseline, 99)), pct(pending, 99) < 50*time.Millisecond)
	return b.String(), nil
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
