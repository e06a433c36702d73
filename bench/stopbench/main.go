// Command stopbench measures whether a stop that waits for one task's work
// delays the starts and stops of other tasks. A real butler server runs
// stubborn commands (they ignore SIGTERM for their 10 s grace) and quick
// ones (they end at SIGTERM). Clients start and stop the quick tasks, each
// request timed, twice: with nothing else going on (the baseline), and
// while every stubborn task has a stop pending (their stop requests wait
// and answer "stopping"). It writes a markdown section for BENCHMARKS.md:
// the latency percentiles of both phases and their ratio.
//
//	go -C bench run ./stopbench -out FRAGMENT.md
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/bench/internal/benchstat"
)

const (
	token    = "stopbench-token-1234"
	stubborn = 4 // stubborn tasks, all stopped at once
	rounds   = 40
)

// clientCounts are the numbers of concurrent clients measured; there is a
// quick task for each client of the largest.
var clientCounts = []int{1, 4, 8}

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	bin := flag.String("butler", "", "butler binary (default: build cmd/butler)")
	flag.Parse()
	text, err := run(*bin)
	benchserver.Output("stopbench", *out, text, err)
}

func run(bin string) (string, error) {
	tmp, err := os.MkdirTemp("", "stopbench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if bin, err = benchserver.Binary(bin, tmp); err != nil {
		return "", err
	}
	var cfg strings.Builder
	cfg.WriteString("tasks:\n")
	for i := range stubborn {
		fmt.Fprintf(&cfg, "  Stubborn%d:\n    exec:\n      argv: [/bin/sh, -c, \"trap '' TERM; echo PROGRESS 1 trapped; while :; do sleep 0.1; done\"]\n      grace: 10s\n", i)
	}
	for i := range slices.Max(clientCounts) {
		fmt.Fprintf(&cfg, "  Quick%d:\n    exec:\n      argv: [/bin/sleep, \"60\"]\n", i)
	}
	config := filepath.Join(tmp, "butler.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		return "", err
	}
	srv, err := benchserver.Start(bin, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--token", token, "--config", config)
	if err != nil {
		return "", err
	}
	defer srv.Stop(0)
	base := srv.URL
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

	// load makes each of clients start and stop its own quick task rounds
	// times, and returns every request's latency.
	load := func(clients int) ([]time.Duration, error) {
		var mu sync.Mutex
		var lat []time.Duration
		var errs []error
		var wg sync.WaitGroup
		for c := range clients {
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
	// until polls the server (another process) until cond holds.
	until := func(what string, cond func() (bool, error)) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := cond()
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not within 30 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// stubbornStates returns the state and step of each stubborn task's
	// newest run.
	stubbornStates := func() ([]string, error) {
		out := make([]string, stubborn)
		for i := range stubborn {
			req, _ := http.NewRequest(http.MethodGet, base+fmt.Sprintf("/butler/runs?task=Stubborn%d&limit=1", i), nil)
			req.Header.Set("X-Plex-Token", token)
			req.Header.Set("Accept", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return nil, err
			}
			var body apitype.RunsResponse
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			if runs := body.MediaContainer.Run; len(runs) == 1 {
				out[i] = runs[0].State + "/" + runs[0].Step
			}
		}
		return out, nil
	}
	all := func(states []string, want string) bool {
		for _, st := range states {
			if !strings.HasPrefix(st, want) {
				return false
			}
		}
		return true
	}

	type phase struct {
		clients             int
		alone, whilePending []time.Duration
	}
	var phases []phase
	for _, clients := range clientCounts {
		if _, err := load(clients); err != nil { // warm-up
			return "", err
		}
		alone, err := load(clients)
		if err != nil {
			return "", err
		}
		// Every stubborn task runs (and has trapped SIGTERM), then is
		// stopped: its stop waits (2 s) and answers "stopping"; its command
		// lives on through its 10 s grace.
		for i := range stubborn {
			if code, _, _, err := call(http.MethodPost, fmt.Sprintf("/butler/Stubborn%d", i)); err != nil || code != http.StatusOK {
				return "", fmt.Errorf("start Stubborn%d: %d %v", i, code, err)
			}
		}
		if err := until("the stubborn commands trap SIGTERM", func() (bool, error) {
			st, err := stubbornStates()
			return err == nil && all(st, "running/trapped"), err
		}); err != nil {
			return "", err
		}
		stopOutcomes := make([]string, stubborn)
		var stops sync.WaitGroup
		for i := range stubborn {
			stops.Go(func() {
				_, outcome, _, _ := call(http.MethodDelete, fmt.Sprintf("/butler/Stubborn%d", i))
				stopOutcomes[i] = outcome
			})
		}
		if err := until("the stubborn runs are stopping", func() (bool, error) {
			st, err := stubbornStates()
			return err == nil && all(st, "stopping"), err
		}); err != nil {
			return "", err
		}
		t0 := time.Now()
		pending, err := load(clients)
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
		if loadTime > 7*time.Second {
			return "", fmt.Errorf("the load took %v: longer than the stubborn tasks' stops were pending", loadTime)
		}
		// The stubborn runs end (SIGKILL after their grace) before the next
		// phase.
		if err := until("the stubborn runs end", func() (bool, error) {
			st, err := stubbornStates()
			return err == nil && all(st, "finished"), err
		}); err != nil {
			return "", err
		}
		phases = append(phases, phase{clients, alone, pending})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Starts and stops while other stops wait\n\n")
	fmt.Fprintf(&b, "Command: `go -C bench run ./stopbench` (run by `scripts/bench.sh`). N clients each start and stop their own quick exec task (`/bin/sleep`, which ends at SIGTERM) %d times, first with nothing else going on, then while %d stubborn exec tasks (SIGTERM trapped, 10 s grace) each have a stop pending: their stop requests answered `stopping` after 2 s and their commands lived on. Each start and each stop is one timed request; a stop answers once the command has ended and its run is recorded. Target: p99 under 50 ms while stops are pending, for the unrelated tasks.\n\n", rounds, stubborn)
	fmt.Fprintf(&b, "| clients | phase | requests | p50 | p90 | p99 | max |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	row := func(clients int, name string, l []time.Duration) {
		slices.Sort(l)
		fmt.Fprintf(&b, "| %d | %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", clients, name, len(l), ms(benchstat.Percentile(l, 50)), ms(benchstat.Percentile(l, 90)), ms(benchstat.Percentile(l, 99)), ms(l[len(l)-1]))
	}
	for _, p := range phases {
		row(p.clients, "alone", p.alone)
		row(p.clients, "stubborn stops pending", p.whilePending)
	}
	fmt.Fprintf(&b, "\n| clients | p99 pending / p99 alone | target (p99 < 50 ms while pending) |\n| ---: | ---: | --- |\n")
	for _, p := range phases {
		fmt.Fprintf(&b, "| %d | %.2f× | %s |\n", p.clients, ms(benchstat.Percentile(p.whilePending, 99))/ms(benchstat.Percentile(p.alone, 99)), verdict(benchstat.Percentile(p.whilePending, 99) < 50*time.Millisecond))
	}
	return b.String(), nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
