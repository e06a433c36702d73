package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/client/clienttest"
)

var updateGolden = flag.Bool("update", false, "rewrite the CLI golden files under testdata/cli")

// cliEnv is the environment of a CLI run against the test server: its URL
// and its data directory (whose token file gives the token).
func cliEnv(s *clienttest.Server) map[string]string {
	return map[string]string{"BUTLER_URL": s.URL, "BUTLER_DATA_DIR": s.DataDir}
}

// transcript records CLI runs as a shell session, for a golden file.
type transcript struct {
	t   *testing.T
	s   *clienttest.Server
	env map[string]string
	buf strings.Builder
	// collapse turns runs of spaces into two: for tables whose widths
	// depend on a temporary directory's name.
	collapse bool
}

func newTranscript(t *testing.T, s *clienttest.Server) *transcript {
	return &transcript{t: t, s: s, env: cliEnv(s)}
}

// run runs the command line, records it, and checks its exit code.
func (tr *transcript) run(wantCode int, args ...string) (stdout, stderr string) {
	tr.t.Helper()
	code, stdout, stderr := runCmd(tr.t, tr.env, args...)
	tr.record(args, code, stdout, stderr)
	if code != wantCode {
		tr.t.Fatalf("butler %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, stdout, stderr)
	}
	return stdout, stderr
}

func (tr *transcript) record(args []string, code int, stdout, stderr string) {
	fmt.Fprintf(&tr.buf, "$ butler %s\n", strings.Join(args, " "))
	tr.buf.WriteString(stdout)
	for _, l := range lines(stderr) {
		fmt.Fprintf(&tr.buf, "stderr: %s\n", l)
	}
	fmt.Fprintf(&tr.buf, "[exit %d]\n\n", code)
}

// check compares the masked transcript with testdata/cli/NAME.golden.
func (tr *transcript) check(name string) {
	tr.t.Helper()
	out := mask(tr.buf.String(), tr.s)
	if tr.collapse {
		out = regexp.MustCompile(`  +`).ReplaceAllString(out, "  ")
	}
	golden(tr.t, name, out)
}

// Masks of what changes from run to run, each as long as what it hides so
// that tables stay aligned.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), "TIME"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}`), "YYYY-MM-DD hh:mm"},
	{regexp.MustCompile(`\d{2}:\d{2}:\d{2}`), "hh:mm:ss"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}`), "YYYY-MM-DD"},
	{regexp.MustCompile(`\b\d{2}:\d{2}\b`), "hh:mm"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
	{regexp.MustCompile(`\b\d\.\ds\b`), "D.Ds"},
	{regexp.MustCompile(`butler-\d{8}-\d{6}\.db`), "butler-DATE-TIME.db"},
}

// mask hides times, UUIDs, durations, the server's URL and data directory.
func mask(s string, srv *clienttest.Server) string {
	if srv != nil {
		s = strings.ReplaceAll(s, srv.URL, "http://SERVER")
		s = strings.ReplaceAll(s, srv.DataDir, "DATADIR")
	}
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// golden compares got with testdata/cli/NAME.golden (rewritten by -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// bgRun is a CLI run in the background.
type bgRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	code   int
	stdout *syncBuffer
	stderr *syncBuffer
}

// runBackground runs the command line in a goroutine.
func runBackground(t *testing.T, env map[string]string, args ...string) *bgRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	b := &bgRun{cancel: cancel, done: make(chan struct{}), stdout: newSyncBuffer(), stderr: newSyncBuffer()}
	go func() {
		defer close(b.done)
		b.code = run(ctx, args, envOf(env), b.stdout, b.stderr)
	}()
	t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// wait waits for the run to end and returns its exit code.
func (b *bgRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end within 30s; stdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
	}
	return -1
}

// waitOut waits until stdout (or stderr) matches re.
func (b *bgRun) waitOut(t *testing.T, buf *syncBuffer, re string) {
	t.Helper()
	if _, ok := buf.waitFor(regexp.MustCompile(re), b.done, 30*time.Second); !ok {
		t.Fatalf("output does not match %s; stdout:\n%s\nstderr:\n%s", re, b.stdout, b.stderr)
	}
}
