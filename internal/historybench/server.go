package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a butler serve child process.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has been waited for
	err    error         // the Wait error; valid after done
	stderr *tailBuffer
}

// exited reports whether the child has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// children keeps every child process this program started, so that none
// outlives it: each has Pdeathsig SIGKILL, and stopAll ends those still
// running when the program returns.
type children struct {
	mu   sync.Mutex
	live map[*proc]struct{}
}

func newChildren() *children { return &children{live: map[*proc]struct{}{}} }

// start starts cmd and a goroutine that waits for it (it ends with the
// child; done is closed then).
func (c *children) start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 64 << 10}}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.live[p] = struct{}{}
	c.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM, waits up to grace for the child to exit, then kills
// it. It returns an error when the child had to be killed or did not exit 0.
func (c *children) stop(p *proc, grace time.Duration) error {
	defer func() {
		c.mu.Lock()
		delete(c.live, p)
		c.mu.Unlock()
	}()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("butler serve exited: %v; its output ends with:\n%s", p.err, p.stderr.String())
		}
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("butler serve did not exit within %v of SIGTERM; killed", grace)
	}
}

// stopAll stops every child still running, one after another.
func (c *children) stopAll() {
	c.mu.Lock()
	var ps []*proc
	for p := range c.live {
		ps = append(ps, p)
	}
	c.mu.Unlock()
	for _, p := range ps {
		_ = c.stop(p, 15*time.Second)
	}
}

// tailBuffer is an io.Writer that keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// server is how to start butler serve on one database.
type server struct {
	kids     *children
	bin      string
	dataDir  string
	database string // "" for the data directory's SQLite file
	config   string
}

// firstAnswer is the call whose first 200 ends a cold start.
const firstAnswer = "/butler/runs?limit=1"

// start starts butler serve on a free port and polls GET
// /butler/runs?limit=1 every millisecond over fresh connections until it
// answers 200. It returns the process, its base URL and the time from just
// before cmd.Start() to that answer.
func (s *server) start(ctx context.Context) (*proc, string, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", 0, err
	}
	args := []string{"serve", "--addr", addr, "--data-dir", s.dataDir, "--token", token, "--config", s.config, "--node", "historybench"}
	if s.database != "" {
		args = append(args, "--database", s.database)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), "BUTLER_CONFIG=", "BUTLER_DATABASE=", "BUTLER_LOG_LEVEL=warn")
	poll := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer poll.CloseIdleConnections()
	base := "http://" + addr
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+firstAnswer, nil)
	if err != nil {
		return nil, "", 0, err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")

	t0 := time.Now()
	p, err := s.kids.start(cmd)
	if err != nil {
		return nil, "", 0, err
	}
	limit := time.NewTimer(2 * time.Minute)
	defer limit.Stop()
	for {
		resp, err := poll.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base, time.Since(t0), nil
			}
		}
		if p.exited() {
			return nil, "", 0, fmt.Errorf("butler serve exited before answering: %v; its output ends with:\n%s", p.err, p.stderr.String())
		}
		select {
		case <-ctx.Done():
			_ = s.kids.stop(p, 15*time.Second)
			return nil, "", 0, ctx.Err()
		case <-limit.C:
			_ = s.kids.stop(p, 15*time.Second)
			return nil, "", 0, fmt.Errorf("butler serve did not answer GET %s within 2 minutes; its output ends with:\n%s", firstAnswer, p.stderr.String())
		case <-time.After(time.Millisecond):
		}
	}
}

// api is a keep-alive client of one running server.
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// do sends one request with the token and Accept: application/json, reads
// the whole answer, and returns it with the time from just before sending to
// the last byte read. A status other than 200 is an error.
func (a *api) do(ctx context.Context, method, path string) (*http.Response, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	t0 := time.Now()
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	resp.Body.Close()
	if err != nil {
		return nil, nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, body, d, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp, body, d, nil
}

// getJSON GETs path and decodes the answer into v.
func (a *api) getJSON(ctx context.Context, path string, v any) error {
	_, body, _, err := a.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (a *api) close() { a.hc.CloseIdleConnections() }
