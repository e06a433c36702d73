// Package childproc runs the child processes of the benchmark programs
// (butler serve, above all): none outlives the program that started it, the
// end of each one's output is kept for the error that explains its death,
// and a server can be started and polled until it answers.
package childproc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process started by a Group.
type Proc struct {
	// Cmd is the command; its Process is set.
	Cmd *exec.Cmd
	// Output keeps the last 64 KiB the child wrote to the standard output
	// and error that the command did not send elsewhere.
	Output *TailBuffer
	done   chan struct{} // closed once the process has been waited for
	err    error         // the Wait error; valid after done
}

// PID returns the child's process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed once the child has ended and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the child ended (exec.Cmd.Wait's error); nil while it
// runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Group keeps every child process a program started, so that none
// outlives it: each gets SIGKILL should the program die first, and StopAll
// ends those still running.
type Group struct {
	mu   sync.Mutex
	live map[*Proc]struct{}
}

// NewGroup returns an empty group.
func NewGroup() *Group { return &Group{live: map[*Proc]struct{}{}} }

// Start starts cmd, with the parent-death signal SIGKILL, its standard
// output and error (those not set) into the Proc's Output, and a goroutine
// that waits for it (it ends with the child).
func (g *Group) Start(cmd *exec.Cmd) (*Proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, Output: NewTailBuffer(64 << 10), done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Output
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Output
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.live[p] = struct{}{}
	g.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Stop sends SIGTERM, waits up to grace for the child to exit, then kills
// it. It returns an error when the child had to be killed or did not exit
// 0, with the end of its output.
func (g *Group) Stop(p *Proc, grace time.Duration) error {
	defer func() {
		g.mu.Lock()
		delete(g.live, p)
		g.mu.Unlock()
	}()
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited: %v; its output ends with:\n%s", p.Cmd.Path, p.err, p.Output.String())
		}
		return nil
	case <-t.C:
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.Cmd.Path, grace)
	}
}

// StopAll stops every child still running, all at once, each as Stop does.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	var ps []*Proc
	for p := range g.live {
		ps = append(ps, p)
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = g.Stop(p, grace) })
	}
	wg.Wait()
}

// StartUntilOK starts cmd in g and sends req every millisecond, each time
// over a fresh connection, until it answers 200. It returns the process and
// the time from just before the start to that answer. It gives up (and
// stops the child) when the child exits, ctx ends or limit passes.
func (g *Group) StartUntilOK(ctx context.Context, cmd *exec.Cmd, req *http.Request, limit time.Duration) (*Proc, time.Duration, error) {
	poll := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer poll.CloseIdleConnections()
	t0 := time.Now()
	p, err := g.Start(cmd)
	if err != nil {
		return nil, 0, err
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		resp, err := poll.Do(req.Clone(ctx))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(t0), nil
			}
		}
		if p.Exited() {
			return nil, 0, fmt.Errorf("%s exited before answering: %v; its output ends with:\n%s", cmd.Path, p.err, p.Output.String())
		}
		select {
		case <-ctx.Done():
			_ = g.Stop(p, 15*time.Second)
			return nil, 0, ctx.Err()
		case <-deadline.C:
			_ = g.Stop(p, 15*time.Second)
			return nil, 0, fmt.Errorf("%s did not answer %s %s within %v; its output ends with:\n%s",
				cmd.Path, req.Method, req.URL.Path, limit, p.Output.String())
		case <-time.After(time.Millisecond):
		}
	}
}

// TailBuffer is an io.Writer that keeps the last bytes written to it.
type TailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

// NewTailBuffer returns a buffer that keeps the last max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

// Write keeps the end of p and what it has, up to max bytes.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String returns what the buffer keeps.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
