package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// syncBuffer is an io.Writer that many goroutines (or a child process's
// output copier) may write while a test reads it. Every write wakes the
// goroutines waiting in waitFor.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer matches re and returns the submatches. It
// gives up (ok false) when stop is closed (the writer is gone) or after
// timeout. It is woken by writes, never polls.
func (b *syncBuffer) waitFor(re *regexp.Regexp, stop <-chan struct{}, timeout time.Duration) (match []string, ok bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		changed := b.changed
		b.mu.Unlock()
		if m != nil {
			return m, true
		}
		select {
		case <-changed:
		case <-stop:
			// One last look: the final writes may have come with the stop.
			b.mu.Lock()
			m := re.FindStringSubmatch(b.buf.String())
			b.mu.Unlock()
			return m, m != nil
		case <-deadline.C:
			return nil, false
		}
	}
}

// envOf returns a getenv that reads m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCmd runs the command line in-process to its end and returns the exit
// code, stdout and stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = run(ctx, args, envOf(env), &out, &errb)
	return code, out.String(), errb.String()
}

// servingRE matches the log line of a server that listens, and captures its
// address.
var servingRE = regexp.MustCompile(`msg="butler: serving" addr=(\S+)`)

// inProcServer is a `butler serve` running in this process.
type inProcServer struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned
	code   int           // run's exit code, once done is closed
	stderr *syncBuffer
	addr   string // host:port it listens on
}

// startInProc runs `butler serve args...` in a goroutine and waits until it
// logs that it serves. The server is stopped at the end of the test.
func startInProc(t *testing.T, env map[string]string, args ...string) *inProcServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcServer{cancel: cancel, done: make(chan struct{}), stderr: newSyncBuffer()}
	go func() {
		defer close(s.done)
		s.code = run(ctx, append([]string{"serve"}, args...), envOf(env), &bytes.Buffer{}, s.stderr)
	}()
	t.Cleanup(func() { s.stop(t) })
	m, ok := s.stderr.waitFor(servingRE, s.done, 60*time.Second)
	if !ok {
		select {
		case <-s.done:
			t.Fatalf("butler serve %v ended with exit code %d before serving; stderr:\n%s", args, s.code, s.stderr)
		default:
			t.Fatalf("butler serve %v did not log that it serves within 60s; stderr:\n%s", args, s.stderr)
		}
	}
	s.addr = m[1]
	return s
}

// stop cancels the server's context (as SIGTERM does) and returns its exit
// code. It may be called more than once.
func (s *inProcServer) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("butler serve did not return within 30s of its context being cancelled; stderr:\n%s", s.stderr)
	}
	return s.code
}

func (s *inProcServer) url(path string) string { return "http://" + s.addr + path }

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request with the token (none when token is "") and returns the
// response with its body read and closed.
func do(t *testing.T, method, url, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Plex-Token", token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body.String()
}

// seedQuietWindow creates the database at path (Butler's schema) and moves
// the maintenance window away from now (UTC, opening in two hours, one hour
// long), so that the planner starts nothing by itself while a test runs.
func seedQuietWindow(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	defer db.Close()
	h := time.Now().UTC().Hour()
	err = db.SaveSettings(ctx, map[string]string{
		butler.SettingTimeZone:  "UTC",
		butler.SettingStartHour: strconv.Itoa((h + 2) % 24),
		butler.SettingEndHour:   strconv.Itoa((h + 3) % 24),
	})
	if err != nil {
		t.Fatalf("seed settings: %v", err)
	}
}

// newDataDir returns a fresh data directory whose database has a quiet
// window (see seedQuietWindow).
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	seedQuietWindow(t, filepath.Join(dir, "butler.db"))
	return dir
}

// lines returns s's non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func mustContain(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s does not contain %q:\n%s", what, sub, s)
	}
}

// binaryForOthers returns a new directory that every user can enter (the
// tests' own temporary directories are root's alone), removed at the end,
// holding a copy of the butler binary that every user can run: for tests
// that run it as another user.
func binaryForOthers(t *testing.T) (base, bin string) {
	t.Helper()
	built := butlerBinary(t)
	base, err := os.MkdirTemp("", "butler-others-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	bin = filepath.Join(base, "butler")
	if err := os.WriteFile(bin, readFile(t, built), 0o755); err != nil {
		t.Fatal(err)
	}
	// Whatever the umask (a server running in this process sets 077).
	for _, p := range []string{base, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return base, bin
}
