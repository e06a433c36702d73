package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/bench/internal/benchmachine"
	"github.com/plexbutler/butler/bench/internal/benchserver"
	"github.com/plexbutler/butler/client"
)

const (
	// token is the server's access token.
	token = "taskbench-token-0123456789"
	// cliRuns is how many times `butler tasks` is timed.
	cliRuns = 30
	// sdkBlocks blocks of sdkBlock calls each, per side.
	sdkBlocks, sdkBlock = 10, 200
	// sdkWarmup calls per side come first, untimed.
	sdkWarmup = 100
)

// cliResult holds sections 4 and 5.
type cliResult struct {
	binSize   int64
	version   string
	taskLines int             // lines of the checked `butler tasks` output
	cli       []time.Duration // wall time of each `butler tasks`
	tasks     int             // tasks in GET /butler
	bodyBytes int             // size of the JSON answer
	sdk, raw  []time.Duration // time of each block of sdkBlock calls
	exitCode  int             // of butler serve after SIGTERM
}

// benchCLI builds butler, starts `butler serve` and measures `butler tasks`
// and the SDK against raw net/http.
func benchCLI(tmp string) (cliResult, error) {
	var res cliResult
	bin := filepath.Join(tmp, "butler")
	logf("building ./cmd/butler (CGO_ENABLED=0)")
	if err := benchserver.Build(context.Background(), bin, true); err != nil {
		return res, err
	}
	res.binSize = fileSize(bin)
	res.version = benchmachine.FirstLine(exec.Command(bin, "version").Output())

	srv, err := benchserver.Start(bin, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--token", token)
	if err != nil {
		return res, err
	}
	defer srv.Kill() // on an early return; after Stop, it does nothing
	base := srv.URL
	logf("butler serve answers on %s", srv.Addr)

	// 4. butler tasks: one checked run, then the timed ones.
	out, err := exec.Command(bin, "tasks", "--url", base, "--token", token).CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("butler tasks: %v\n%s", err, out)
	}
	res.taskLines = strings.Count(string(out), "\n")
	if !strings.Contains(string(out), "BackupDatabase") {
		return res, fmt.Errorf("butler tasks does not list BackupDatabase:\n%s", out)
	}
	for range cliRuns {
		cmd := exec.Command(bin, "tasks", "--url", base, "--token", token)
		var stderr strings.Builder
		cmd.Stderr = &stderr // Stdout nil: /dev/null
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return res, fmt.Errorf("butler tasks: %v\n%s", err, stderr.String())
		}
		res.cli = append(res.cli, d)
	}
	logf("butler tasks: %d runs", cliRuns)

	// 5. The SDK against a raw request.
	if err := benchSDK(base, &res); err != nil {
		return res, err
	}

	err = srv.Stop(15 * time.Second)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exitCode = ee.ExitCode()
	} else if err != nil {
		return res, err
	}
	return res, nil
}

// newTransport is the transport of both sides of section 5: keep-alive
// connections to the one server, no proxy, no HTTP/2.
func newTransport() *http.Transport {
	return &http.Transport{
		MaxIdleConns:        4,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
}

func benchSDK(base string, res *cliResult) error {
	ctx := context.Background()
	c, err := client.New(base, client.WithToken(token), client.WithHTTPClient(&http.Client{Transport: newTransport()}))
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: newTransport()}
	var sink int
	raw := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/butler", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Plex-Token", token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /butler: %s", resp.Status)
		}
		var out apitype.ButlerTasksResponse
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		sink, res.bodyBytes = len(out.ButlerTasks.ButlerTask), len(body)
		return nil
	}
	sdk := func() error {
		r, err := c.GetButlerTasks(ctx)
		if err != nil {
			return err
		}
		sink = len(r.Tasks)
		return nil
	}
	if err := raw(); err != nil {
		return err
	}
	rawTasks := sink
	if err := sdk(); err != nil {
		return err
	}
	if sink != rawTasks || sink == 0 {
		return fmt.Errorf("the SDK saw %d tasks, the raw request %d", sink, rawTasks)
	}
	res.tasks = sink
	for range sdkWarmup {
		if err := errors.Join(sdk(), raw()); err != nil {
			return err
		}
	}
	block := func(f func() error) (time.Duration, error) {
		t0 := time.Now()
		for range sdkBlock {
			if err := f(); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	for range sdkBlocks {
		d, err := block(sdk)
		if err != nil {
			return err
		}
		res.sdk = append(res.sdk, d)
		if d, err = block(raw); err != nil {
			return err
		}
		res.raw = append(res.raw, d)
	}
	logf("SDK and raw: %d calls each", sdkBlocks*sdkBlock)
	return nil
}
