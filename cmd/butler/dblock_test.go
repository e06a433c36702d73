package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// binRun is a finished run of the butler binary.
type binRun struct {
	code int
	out  string // stdout and stderr, interleaved
}

// runBinary runs the butler binary with args in dir ("" for the test's
// directory), without BUTLER_* variables unless given in env, to its end.
// A `butler serve` that starts serving instead of exiting is killed and
// fails the test at once.
func runBinary(t *testing.T, dir string, env map[string]string, args ...string) binRun {
	t.Helper()
	bin := butlerBinary(t)
	out := newSyncBuffer()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUTLER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start butler %v: %v", args, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if _, serving := out.waitFor(servingRE, done, 60*time.Second); serving {
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("butler %v started serving; want it to refuse. Output:\n%s", args, out)
	}
	select {
	case <-done:
	default:
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("butler %v did not exit within 60s; output:\n%s", args, out)
	}
	return binRun{code: cmd.ProcessState.ExitCode(), out: out.String()}
}

// wantRefusal checks that r exited 2 with one line of output holding every
// one of want.
func wantRefusal(t *testing.T, r binRun, want ...string) {
	t.Helper()
	if r.code != 2 {
		t.Errorf("exit code %d, want 2; output:\n%s", r.code, r.out)
	}
	if n := len(lines(r.out)); n != 1 {
		t.Errorf("%d lines of output, want one:\n%s", n, r.out)
	}
	for _, w := range want {
		mustContain(t, "output", r.out, w)
	}
}

// TestProcessOneDatabaseOneServer: a server given, through its own data
// directory, the SQLite file of a running server is refused, whatever path
// leads it there, and the message names the file and the holder's pid.
// Once the first server stops, the same command starts.
func TestProcessOneDatabaseOneServer(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	tmp := t.TempDir()
	dataA := newDataDir(t)
	dbA := filepath.Join(dataA, "butler.db")
	const token = "first-token-123"
	a := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataA, "--token", token)
	holder := ""
	if runtime.GOOS == "linux" {
		holder = fmt.Sprintf("pid %d, butler serve", a.cmd.Process.Pid)
	}

	linkDir := filepath.Join(tmp, "links")
	if err := os.MkdirAll(linkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(linkDir, "other-name.db")
	if err := os.Symlink(dbA, link); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(tmp, "data-link")
	if err := os.Symlink(dataA, dirLink); err != nil {
		t.Fatal(err)
	}
	// A relative path, from the parent of dataA's parent, through "..".
	parent := filepath.Dir(filepath.Dir(dataA))
	rel, err := filepath.Rel(parent, dbA)
	if err != nil {
		t.Fatal(err)
	}
	rel = filepath.Dir(rel) + "/../" + filepath.Base(filepath.Dir(rel)) + "/" + filepath.Base(rel)

	cases := []struct {
		name, dir, database string
		want                []string
	}{
		{"absolute path", "", dbA, []string{"database " + dbA + " is in use"}},
		{"sqlite URL", "", "sqlite://" + dbA, []string{"database " + dbA + " is in use"}},
		{"symlink to the file", "", link, []string{"database " + link + " (" + dbA + ") is in use"}},
		{"path through a symlinked directory", "", filepath.Join(dirLink, "butler.db"), []string{dbA}},
		{"relative path", parent, rel, []string{"database " + rel + " (" + dbA + ") is in use"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dataB := filepath.Join(tmp, fmt.Sprintf("b%d", i))
			r := runBinary(t, c.dir, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataB, "--token", "second-token-123", "--database", c.database)
			wantRefusal(t, r, append(c.want, holder, "stop it, or point --database at another file")...)
		})
	}
	// A second name of the file (a hard link) would lead to a lock of its
	// own: the file is refused by any of its names while it has two.
	hardLink := filepath.Join(linkDir, "hard-link.db")
	if err := os.Link(dbA, hardLink); err != nil {
		t.Fatal(err)
	}
	for i, db := range []string{hardLink, dbA} {
		dataB := filepath.Join(tmp, fmt.Sprintf("h%d", i))
		r := runBinary(t, "", nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataB, "--token", "second-token-123", "--database", db)
		wantRefusal(t, r, "database "+db+" has 2 names (hard links)", "remove the other names")
	}
	if resp, _ := do(t, "GET", a.url("/butler"), token); resp.StatusCode != 200 {
		t.Errorf("the first server no longer answers: %d", resp.StatusCode)
	}
	if code := a.terminate(t, 15*time.Second); code != 0 {
		t.Errorf("first server: exit code %d after SIGTERM; output:\n%s", code, a.stderr)
	}
	checkNoRunsRunning(t, dbA)
	if err := os.Remove(hardLink); err != nil {
		t.Fatal(err)
	}

	// The lock goes with its holder.
	b := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "b0"), "--token", "second-token-123", "--database", link)
	if code := b.terminate(t, 15*time.Second); code != 0 {
		t.Errorf("second server: exit code %d after SIGTERM; output:\n%s", code, b.stderr)
	}
	if _, err := os.Stat(dbA + ".lock"); err != nil {
		t.Errorf("no lock file beside the database: %v", err)
	}
	if _, err := os.Stat(link + ".lock"); err == nil {
		t.Errorf("a lock file was made beside the symlink %s, not beside the file it points at", link)
	}
}

// TestServeDataDirLockNamesHolder: the data directory's lock, too, names
// the server that holds it.
func TestServeDataDirLockNamesHolder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder's pid comes from /proc/locks")
	}
	dataDir := newDataDir(t)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "first-token-123"}
	a := startProc(t, args...)
	r := runBinary(t, "", nil, append([]string{"serve"}, args...)...)
	wantRefusal(t, r, "data directory "+dataDir+" is in use by another butler serve",
		fmt.Sprintf("(pid %d, butler serve)", a.cmd.Process.Pid))
}
