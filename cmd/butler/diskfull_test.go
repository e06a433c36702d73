package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// mountSmallFS mounts a tmpfs of size bytes at a new directory (root only);
// it skips the test where it cannot.
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the disk-full test needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file at path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill: %v", err)
		}
	}
}

// waitFor polls cond every 20 ms until it holds or limit passes (the
// server is another process: there is nothing to wait on but its answers).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// smallFSServer starts butler serve with the config file config, its
// token faultToken and its data directory on a small file system of its
// own (fsDir, which the caller fills), the window hours away. A first
// start migrates River's tables (a large write-ahead log); a clean stop
// checkpoints and removes it, so that the server returned has to grow its
// log for each new write, as on a long-running server.
func smallFSServer(t *testing.T, config string) (p *proc, fsDir string) {
	t.Helper()
	fsDir = mountSmallFS(t, "8m")
	dataDir := filepath.Join(fsDir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	seedQuietWindow(t, filepath.Join(dataDir, "butler.db"))
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", faultToken, "--config", config}
	if code := startProc(t, args...).terminate(t, 30*time.Second); code != 0 {
		t.Fatalf("first server exited %d", code)
	}
	return startProc(t, args...), fsDir
}

// TestProcessDiskFull: the database's file system fills while a task runs.
// The run's end cannot be written: the run stays running (a start answers
// 202), /healthz answers 503, a new start is refused without leaving a
// run behind; once space is freed the run is recorded as what it was
// (succeeded), /healthz answers 200 and starts work again.
func TestProcessDiskFull(t *testing.T) {
	butlerBinary(t)
	work := t.TempDir() // outside the small file system
	release := filepath.Join(work, "release")
	script := filepath.Join(work, "job.sh")
	// The job reports a step (which Butler reads only once the job's
	// process group is recorded), waits for the test's signal, then prints
	// 100 KB (the run's log keeps 64 KiB of it: its end is a large write)
	// and succeeds.
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
echo "PROGRESS 1 waiting for the test"
while [ ! -e %q ]; do sleep 0.02; done
head -c 100000 /dev/zero | tr '\0' x
echo
exit 0
`, release)), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(work, "butler.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`tasks:
  Nightly:
    exec:
      argv: [%q]
  Other:
    exec:
      argv: [/bin/true]
`, script)), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = faultToken
	p, fsDir := smallFSServer(t, config)

	resp, _ := do(t, "POST", p.url("/butler/Nightly"), token)
	if resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("start: %d %v", resp.StatusCode, resp.Header)
	}
	runID, _ := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
	run := func() apitype.Run {
		r, err := getRun(p, runID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// "running" alone comes before the process group is recorded: a disk
	// filled in between kills the job at its start (as it should).
	waitFor(t, 15*time.Second, "the job runs, its process group recorded", func() bool {
		r := run()
		return r.State == "running" && r.Step == "waiting for the test"
	})

	ballast := filepath.Join(fsDir, "ballast")
	fill(t, ballast)
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "/healthz answers 503", func() bool {
		resp, _ := do(t, "GET", p.url("/healthz"), "")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	_, health := do(t, "GET", p.url("/healthz"), "")
	if !strings.Contains(health, "full") {
		t.Errorf("/healthz while the disk is full says %q; want the reason", health)
	}
	if !strings.Contains(p.stderr.String(), "cannot record the end of a run") {
		t.Fatalf("the server did not try to record the run's end; output:\n%s", p.stderr)
	}
	if r := run(); r.State != "running" {
		t.Fatalf("run while its end cannot be written: %+v, want running", r)
	}
	if resp, _ := do(t, "POST", p.url("/butler/Nightly"), token); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start while the end is not recorded: %d, want 202 (already running)", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", p.url("/butler/Other"), token); resp.StatusCode < 500 {
		t.Fatalf("start of another task on a full disk: %d, want an error", resp.StatusCode)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the run's end is recorded", func() bool { return run().State == "finished" })
	if r := run(); r.Outcome != "succeeded" {
		t.Fatalf("run after space was freed: %+v, want succeeded", r)
	}
	waitFor(t, 5*time.Second, "/healthz answers 200", func() bool {
		resp, _ := do(t, "GET", p.url("/healthz"), "")
		return resp.StatusCode == http.StatusOK
	})
	// The refused start left nothing queued: Other starts now, once.
	resp, _ = do(t, "POST", p.url("/butler/Other"), token)
	if resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("start of the other task once space is back: %d %v", resp.StatusCode, resp.Header)
	}
	otherID, _ := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
	waitFor(t, 15*time.Second, "the other task's run ends", func() bool {
		r, err := getRun(p, otherID)
		return err == nil && r.State == "finished"
	})
	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestProcessDiskFullStop: the database's file system is full while a
// task runs, and the task is stopped: the store cannot record the stop,
// but the task's process is told (SIGTERM) and ends all the same, the
// stop answers 200, and once space is freed the run is recorded stopped.
// (Before, the stop answered 500 and the task ran on: perhaps the very
// task that filled the disk.)
func TestProcessDiskFullStop(t *testing.T) {
	butlerBinary(t)
	work := t.TempDir() // outside the small file system
	termed := filepath.Join(work, "termed")
	script := filepath.Join(work, "job.sh")
	// The job works until SIGTERM, which it records (outside the full
	// file system) before it exits.
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
trap 'echo term > %q; exit 143' TERM
echo "PROGRESS 1 working"
while :; do sleep 0.02; done
`, termed)), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(work, "butler.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("tasks:\n  Nightly:\n    exec:\n      argv: [%q]\n      grace: 5s\n", script)), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = faultToken
	p, fsDir := smallFSServer(t, config)
	resp, _ := do(t, "POST", p.url("/butler/Nightly"), token)
	if resp.Header.Get(apitype.HeaderOutcome) != "started" {
		t.Fatalf("start: %d %v", resp.StatusCode, resp.Header)
	}
	runID, _ := strconv.ParseInt(resp.Header.Get(apitype.HeaderRunID), 10, 64)
	waitFor(t, 15*time.Second, "the job runs, its process group recorded", func() bool {
		r, err := getRun(p, runID)
		return err == nil && r.State == "running" && r.Step == "working"
	})

	ballast := filepath.Join(fsDir, "ballast")
	fill(t, ballast)
	resp, body := do(t, "DELETE", p.url("/butler/Nightly"), token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stop on a full disk: %d %s %v; want 200", resp.StatusCode, body, resp.Header)
	}
	t.Logf("stop on a full disk answered %s", resp.Header.Get(apitype.HeaderOutcome))
	waitFor(t, 15*time.Second, "the job got SIGTERM", func() bool {
		_, err := os.Stat(termed)
		return err == nil
	})

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the run's end is recorded", func() bool {
		r, err := getRun(p, runID)
		return err == nil && r.State == "finished"
	})
	if r, _ := getRun(p, runID); r.Outcome != "stopped" {
		t.Fatalf("run after space was freed: %+v, want stopped", r)
	}
}

// TestProcessDiskFullAtStart: a server whose data directory's file system
// is full does not start, says why, and exits 1 — a failure that may pass,
// which a service manager retries — rather than 2, which waits for a
// person. Once there is room it starts.
func TestProcessDiskFullAtStart(t *testing.T) {
	butlerBinary(t)
	fsDir := mountSmallFS(t, "2m")
	ballast := filepath.Join(fsDir, "ballast")
	fill(t, ballast)
	dataDir := filepath.Join(fsDir, "data")
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", faultToken}
	r := runBinary(t, "", nil, args...)
	if r.code != 1 || !strings.Contains(r.out, "no space left on device") && !strings.Contains(r.out, "disk is full") {
		t.Fatalf("start on a full disk: exit %d; want 1 and the reason. Output:\n%s", r.code, r.out)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if code := startProc(t, args[1:]...).terminate(t, 30*time.Second); code != 0 {
		t.Fatalf("the server, started once there was room, exited %d", code)
	}
}
