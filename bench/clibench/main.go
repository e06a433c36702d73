// Command clibench measures the command line and the Go SDK against a real
// server: the wall time of `butler tasks` (process start included), and the
// SDK's per-call cost against a raw net/http request for the same answer.
// It writes a markdown section for BENCHMARKS.md.
//
//	go -C bench run ./clibench -out FRAGMENT.md
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/client"
)

const token = "clibench-token-12345"

func main() {
	out := flag.String("out", "", "write the markdown section here (default stdout)")
	bin := flag.String("butler", "", "butler binary (default: build cmd/butler)")
	flag.Parse()
	text, err := run(*bin)
	benchserver.Output("clibench", *out, text, err)
}

func run(bin string) (string, error) {
	tmp, err := os.MkdirTemp("", "clibench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if bin, err = benchserver.Binary(bin, tmp); err != nil {
		return "", err
	}
	srv, err := benchserver.Start(bin, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--token", token)
	if err != nil {
		return "", err
	}
	defer srv.Stop(0)
	base := srv.URL

	// 1. butler tasks, process start included.
	var cli []time.Duration
	for range 30 {
		cmd := exec.Command(bin, "tasks", "--url", base, "--token", token)
		cmd.Stdout = io.Discard
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("butler tasks: %w", err)
		}
		cli = append(cli, time.Since(t0))
	}

	// 2. SDK against raw net/http, alternating blocks.
	transport := &http.Transport{MaxIdleConnsPerHost: 4}
	hc := &http.Client{Transport: transport}
	c, err := client.New(base, client.WithToken(token), client.WithHTTPClient(hc))
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	raw := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/butler", nil)
		req.Header.Set("X-Plex-Token", token)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out apitype.ButlerTasksResponse
		return json.NewDecoder(resp.Body).Decode(&out)
	}
	sdk := func() error {
		_, err := c.GetButlerTasks(ctx)
		return err
	}
	var sdkTotal, rawTotal time.Duration
	const blocks, per = 10, 200
	for range 100 { // warm-up
		if err := raw(); err != nil {
			return "", err
		}
		if err := sdk(); err != nil {
			return "", err
		}
	}
	for range blocks {
		for _, side := range []struct {
			f     func() error
			total *time.Duration
		}{{sdk, &sdkTotal}, {raw, &rawTotal}} {
			t0 := time.Now()
			for range per {
				if err := side.f(); err != nil {
					return "", err
				}
			}
			*side.total += time.Since(t0)
		}
	}
	n := blocks * per
	sdkPer, rawPer := sdkTotal/time.Duration(n), rawTotal/time.Duration(n)
	ratio := float64(sdkPer) / float64(rawPer)

	slices.Sort(cli)
	p := func(q float64) time.Duration { return cli[min(len(cli)-1, int(q*float64(len(cli))))] }
	var b strings.Builder
	b.WriteString("\n## Command line and SDK\n\n")
	b.WriteString("Targets: `butler tasks` against a local server **under 50 ms** including process start; the SDK's per-call cost **under 1.2×** a raw `net/http` request.\n\n")
	b.WriteString("Command: `go -C bench run ./clibench` (run by `scripts/bench.sh`). A real `butler serve` (fresh data directory) as a child process. `butler tasks --url ... --token ...` is run 30 times, each a new process (it asks for the tasks, the runs and the plan); wall time from `exec` to exit. Then 2,000 `client.GetButlerTasks` calls and 2,000 raw `GET /butler` requests (same token and Accept headers, same keep-alive transport, JSON decoded into the same `apitype` struct), in alternating blocks of 200 after a warm-up.\n\n")
	b.WriteString("| measured | p50 ms | p90 ms | max ms |\n| --- | ---: | ---: | ---: |\n")
	fmt.Fprintf(&b, "| `butler tasks` wall time (n=30) | %.1f | %.1f | %.1f |\n\n", ms(p(.5)), ms(p(.9)), ms(p(1)))
	b.WriteString("| per call | µs |\n| --- | ---: |\n")
	fmt.Fprintf(&b, "| SDK `GetButlerTasks` | %.0f |\n| raw net/http + json | %.0f |\n| ratio | %.2f× |\n", us(sdkPer), us(rawPer), ratio)
	verdict := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**not met**"
	}
	fmt.Fprintf(&b, "\nResult: `butler tasks` p90 %.1f ms against 50 ms: %s; SDK %.2f× a raw request against 1.2×: %s.\n",
		ms(p(.9)), verdict(p(.9) < 50*time.Millisecond), ratio, verdict(ratio < 1.2))
	return b.String(), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
