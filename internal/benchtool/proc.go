package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process started through children.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has been waited for
	err    error         // the Wait error; valid after done
	stderr *tailBuffer
}

// pid returns the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

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
// outlives it.
type children struct {
	mu   sync.Mutex
	live map[*proc]struct{}
}

func newChildren() *children { return &children{live: map[*proc]struct{}{}} }

// start starts cmd. The child gets SIGKILL if this program dies first; its
// standard error (unless cmd already has one) is kept, the last 64 KiB.
func (c *children) start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 64 << 10}}
	if cmd.Stderr == nil {
		cmd.Stderr = p.stderr
	}
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

// stop sends SIGTERM, waits up to grace for the child to exit, then kills it.
// It returns an error when the child had to be killed or did not exit 0.
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
			return fmt.Errorf("%s exited: %v; its stderr ends with:\n%s", p.cmd.Path, p.err, p.stderr.String())
		}
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.cmd.Path, grace)
	}
}

// stopAll stops every child still running.
func (c *children) stopAll() {
	c.mu.Lock()
	var ps []*proc
	for p := range c.live {
		ps = append(ps, p)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.stop(p, 5*time.Second)
		}()
	}
	wg.Wait()
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

// startButler starts `butler serve` on addr and dataDir (with token unless it
// is empty) and waits for the first 200 of GET /healthz, polled every 1 ms.
// It returns the time from just before cmd.Start() to that answer.
func startButler(ctx context.Context, kids *children, bin, addr, dataDir, token string) (*proc, time.Duration, error) {
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir}
	if token != "" {
		args = append(args, "--token", token)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BUTLER_CONFIG=") // no stray config file
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	url := "http://" + addr + "/healthz"

	t0 := time.Now()
	p, err := kids.start(cmd)
	if err != nil {
		return nil, 0, err
	}
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(t0), nil
			}
		}
		if p.exited() {
			return nil, 0, fmt.Errorf("butler serve exited before answering: %v; stderr:\n%s", p.err, p.stderr.String())
		}
		select {
		case <-ctx.Done():
			_ = kids.stop(p, 5*time.Second)
			return nil, 0, ctx.Err()
		case <-limit.C:
			_ = kids.stop(p, 5*time.Second)
			return nil, 0, fmt.Errorf("butler serve did not answer GET /healthz within 10 s; stderr:\n%s", p.stderr.String())
		case <-time.After(time.Millisecond):
		}
	}
}

// procStatus returns the kB values of the given fields of /proc/PID/status.
func procStatus(pid int, fields ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, k := range fields {
		want[k] = true
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !want[k] {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %q", pid, k, v)
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range fields {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command come state (field 3) ... utime (14) and stime (15).
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
