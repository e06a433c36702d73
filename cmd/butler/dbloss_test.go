package main

import (
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards a local port to a server; Cut drops every connection
// and refuses new ones until Restore, as a lost network would.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(up, c); up.Close(); c.Close() })
			p.wg.Go(func() { io.Copy(c, up); up.Close(); c.Close() })
		}
	})
}

// Cut closes the listener and every connection.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore listens again on the same address.
func (p *tcpProxy) Restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestCluster_DatabaseLost: a server that loses the database keeps
// answering what it knows, says 503 for the rest, notices, and comes back
// by itself when the database returns.
func TestCluster_DatabaseLost(t *testing.T) {
	c := startCluster(t, 1)
	u, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	a := startProc(t, "--data-dir", dir, "--addr", "127.0.0.1:0", "--token", clusterToken, "--database", u.String(), "--node", "cut")

	proxy.Cut()
	if resp, body := do(t, "GET", a.url("/butler"), clusterToken); resp.StatusCode != 200 || !strings.Contains(body, "BackupDatabase") {
		t.Fatalf("GET /butler without the database: %d %s", resp.StatusCode, body)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/butler/runs"}, {"POST", "/butler/BackupDatabase?force=1"}, {"DELETE", "/butler/BackupDatabase"},
	} {
		start := time.Now()
		resp, body := do(t, r.method, a.url(r.path), clusterToken)
		if resp.StatusCode != 503 || !strings.Contains(body, "database cannot be reached") {
			t.Fatalf("%s %s without the database: %d %s; want 503 saying why\nserver log:\n%s", r.method, r.path, resp.StatusCode, body, a.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %s took %v to fail", r.method, r.path, d)
		}
	}
	// It notices, and says so in its log.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !strings.Contains(a.stderr.String(), "cannot reach the database") {
			if time.Now().After(deadline) {
				t.Fatalf("the server did not notice the lost database:\n%s", a.stderr)
			}
			time.Sleep(50 * time.Millisecond) // waiting on another process
			continue
		}
		break
	}

	proxy.Restore()
	deadline = time.Now().Add(30 * time.Second)
	for {
		resp, _ := do(t, "GET", a.url("/butler/runs"), clusterToken)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover after the database came back:\n%s", a.stderr)
		}
		time.Sleep(100 * time.Millisecond) // waiting on another process
	}
	startedRun(t, a, "/butler/CleanOldCacheFiles?force=1")
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(a.stderr.String(), "the database is back") {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery logged:\n%s", a.stderr)
		}
		time.Sleep(50 * time.Millisecond) // waiting on another process
	}
}
