package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexbutler/butler/bench/internal/benchstat"
	"github.com/plexbutler/butler/internal/childproc"
)

// staticServerCmd is the hidden subcommand that runs the reference server.
const staticServerCmd = "static-server"

// staticServer serves the bytes of -body with the headers of -headers (a JSON
// object of header lists) on every request, and prints "listening ADDR" once
// it listens. It stops on SIGTERM or SIGINT.
func staticServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(staticServerCmd, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	bodyFile := fs.String("body", "", "file with the body to serve")
	headerFile := fs.String("headers", "", "JSON file with the headers to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	var headers http.Header
	if *headerFile != "" {
		b, err := os.ReadFile(*headerFile)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &headers); err != nil {
			return fmt.Errorf("%s: %w", *headerFile, err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range headers {
				h[k] = v
			}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Printf("listening %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// loadRun is one window of the GET load.
type loadRun struct {
	target    string // "butler" or "reference"
	ok        int64  // 200s completed inside the window
	bad       int64  // other answers and errors inside the window
	window    time.Duration
	rps       float64
	p50, p99  time.Duration
	serverCPU time.Duration // the server's user+system CPU time over the window
}

// getResult is the outcome of the GET /butler comparison.
type getResult struct {
	concurrency      int
	warmup, duration time.Duration
	bodyBytes        int
	contentType      string
	headers          []string // header names the reference copies
	butlerFraming    string
	refFraming       string
	runs             []loadRun
	butlerMean       float64
	refMean          float64
	ratio            float64
}

// measureGet runs the real binary and the reference server as children and
// loads them alternately.
func measureGet(ctx context.Context, kids *childproc.Group, bin, self, tmp string, cfg config, logf func(string, ...any)) (*getResult, error) {
	const token = "bench-token-0123456789"
	addr, err := childproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	bp, _, err := startButler(ctx, kids, bin, addr, filepath.Join(tmp, "get-data"), token)
	if err != nil {
		return nil, err
	}
	defer kids.Stop(bp, 15*time.Second)
	butlerURL := "http://" + addr + "/butler"

	body, hdr, framing, err := fetchOnce(ctx, butlerURL, token)
	if err != nil {
		return nil, fmt.Errorf("butler: %w", err)
	}
	res := &getResult{concurrency: cfg.concurrency, warmup: cfg.warmup, duration: cfg.duration,
		bodyBytes: len(body), contentType: hdr.Get("Content-Type"), butlerFraming: framing}
	copied := http.Header{}
	for k, v := range hdr {
		switch k {
		case "Date", "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		copied[k] = v
		res.headers = append(res.headers, k)
	}
	slices.Sort(res.headers)
	bodyFile, headerFile := filepath.Join(tmp, "butler.xml"), filepath.Join(tmp, "headers.json")
	hj, err := json.Marshal(copied)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(os.WriteFile(bodyFile, body, 0o600), os.WriteFile(headerFile, hj, 0o600)); err != nil {
		return nil, err
	}

	rp, refAddr, err := startStatic(ctx, kids, self, bodyFile, headerFile)
	if err != nil {
		return nil, fmt.Errorf("reference server: %w", err)
	}
	defer kids.Stop(rp, 5*time.Second)
	refURL := "http://" + refAddr + "/butler"
	refBody, refHdr, refFraming, err := fetchOnce(ctx, refURL, token)
	if err != nil {
		return nil, fmt.Errorf("reference server: %w", err)
	}
	if !bytes.Equal(refBody, body) || refHdr.Get("Content-Type") != res.contentType {
		return nil, errors.New("the reference server does not serve the same bytes and Content-Type")
	}
	res.refFraming = refFraming

	targets := []struct {
		name, url string
		pid       int
	}{{"butler", butlerURL, bp.PID()}, {"reference", refURL, rp.PID()}}
	var sums [2]float64
	for round := range 2 {
		for i, t := range targets {
			r, err := loadOnce(ctx, t.url, token, t.pid, cfg.concurrency, cfg.warmup, cfg.duration)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", t.name, round+1, err)
			}
			r.target = t.name
			logf("  %s run %d: %.0f req/s", t.name, round+1, r.rps)
			res.runs = append(res.runs, r)
			sums[i] += r.rps
		}
	}
	res.butlerMean, res.refMean = sums[0]/2, sums[1]/2
	if res.refMean > 0 {
		res.ratio = res.butlerMean / res.refMean
	}
	return res, nil
}

// startStatic re-executes this program as the reference server and returns
// the address it listens on.
func startStatic(ctx context.Context, kids *childproc.Group, self, bodyFile, headerFile string) (*childproc.Proc, string, error) {
	cmd := exec.Command(self, staticServerCmd, "-addr", "127.0.0.1:0", "-body", bodyFile, "-headers", headerFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	p, err := kids.Start(cmd)
	if err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			_ = kids.Stop(p, 5*time.Second)
			return nil, "", fmt.Errorf("unexpected first line %q; stderr:\n%s", s, p.Output.String())
		}
		return p, addr, nil
	case <-time.After(10 * time.Second):
		_ = kids.Stop(p, 5*time.Second)
		return nil, "", errors.New("it did not print its address within 10 s")
	case <-ctx.Done():
		_ = kids.Stop(p, 5*time.Second)
		return nil, "", ctx.Err()
	}
}

// fetchOnce sends one GET (token, no Accept header) and returns the body,
// headers and how the body was framed.
func fetchOnce(ctx context.Context, url, token string) ([]byte, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, "", err
	}
	req.Header.Set("X-Plex-Token", token)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, "", fmt.Errorf("GET %s answered %d", url, resp.StatusCode)
	}
	framing := fmt.Sprintf("Content-Length %d", resp.ContentLength)
	if len(resp.TransferEncoding) > 0 {
		framing = "Transfer-Encoding " + strings.Join(resp.TransferEncoding, ", ")
	}
	return body, resp.Header, framing, nil
}

// loadOnce sends GETs from c goroutines over keep-alive connections for
// warmup+duration and counts the answers completed inside the last duration.
func loadOnce(ctx context.Context, url, token string, pid, c int, warmup, duration time.Duration) (loadRun, error) {
	tr := &http.Transport{
		MaxIdleConns:        2 * c,
		MaxIdleConnsPerHost: 2 * c,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+duration)

	var cpu0, cpu1 time.Duration
	var cpuErr error
	var cpuWG sync.WaitGroup
	cpuWG.Add(1)
	go func() {
		defer cpuWG.Done()
		var err0, err1 error
		_ = sleepCtx(ctx, time.Until(from))
		cpu0, err0 = procCPU(pid)
		_ = sleepCtx(ctx, time.Until(to))
		cpu1, err1 = procCPU(pid)
		cpuErr = errors.Join(err0, err1)
	}()

	var ok, bad atomic.Int64
	lats := make([][]time.Duration, c)
	var wg sync.WaitGroup
	for g := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(to) {
					break
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					bad.Add(1)
					return
				}
				req.Header.Set("X-Plex-Token", token)
				resp, err := client.Do(req)
				good := false
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					good = err == nil && resp.StatusCode == http.StatusOK
				}
				end := time.Now()
				if end.Before(from) || end.After(to) {
					continue
				}
				if good {
					ok.Add(1)
					mine = append(mine, end.Sub(t))
				} else {
					bad.Add(1)
				}
			}
			lats[g] = mine
		}()
	}
	wg.Wait()
	cpuWG.Wait()
	if err := ctx.Err(); err != nil {
		return loadRun{}, err
	}
	if cpuErr != nil {
		return loadRun{}, fmt.Errorf("read the server's CPU time: %w", cpuErr)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := loadRun{ok: ok.Load(), bad: bad.Load(), window: duration, serverCPU: cpu1 - cpu0}
	r.rps = float64(r.ok) / duration.Seconds()
	r.p50, r.p99 = benchstat.Percentile(all, 50), benchstat.Percentile(all, 99)
	if r.bad > 0 && r.bad*100 > r.ok {
		return r, fmt.Errorf("%d of %d answers were not 200", r.bad, r.bad+r.ok)
	}
	return r, nil
}
