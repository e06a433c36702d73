package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/store/sqlite"
)

// TestProcessKillDuringItemJobs kills a real `butler serve` with -9 while
// two of its item jobs run an "ffprobe" that records its pid and hangs
// (the probes' own record is the truth): both probes die with the server;
// at the next start the run ends interrupted, and the next run analyses the
// items again (the two in flight and the rest), none left behind.
func TestProcessKillDuringItemJobs(t *testing.T) {
	butlerBinary(t)
	tmp := t.TempDir()
	movies, pids := filepath.Join(tmp, "movies"), filepath.Join(tmp, "pids")
	os.MkdirAll(movies, 0o755)
	os.MkdirAll(pids, 0o755)
	for i := range 4 {
		writeFile(t, filepath.Join(movies, "film"+strconv.Itoa(i)+".mkv"), "not really a film\n", 0o644)
	}
	hang := filepath.Join(tmp, "hang")
	writeFile(t, hang, "", 0o644)
	probe := filepath.Join(tmp, "ffprobe")
	// Answers serve's -version check; for a file, records its pid, hangs
	// while the file hang exists, then says the file is not media.
	writeFile(t, probe, "#!/bin/sh\n[ \"$1\" = -version ] && { echo 'ffprobe version 6'; exit 0; }\necho $$ > "+pids+"/$$\n[ -e "+hang+" ] && exec sleep 600\necho 'Invalid data found when processing input' >&2\nexit 1\n", 0o755)
	cfg := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfg, "libraries:\n  - {name: Movies, kind: movies, folders: ["+movies+"]}\nmedia:\n  ffprobe: "+probe+"\n  parallel: 2\n  nice: 0\n", 0o600)
	dataDir := newDataDir(t)
	const token = "item-kill-token"
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token, "--config", cfg}

	p := startProc(t, args...)
	waitRunEnded(t, p, token, startRun(t, p, token, "RefreshLibraries"))
	startRun(t, p, token, "DeepMediaAnalysis")
	started := func() []int {
		entries, _ := os.ReadDir(pids)
		var out []int
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				out = append(out, pid)
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(started()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d probes started in 60 s; want 2; output:\n%s", len(started()), p.stderr)
		}
		time.Sleep(10 * time.Millisecond) // waiting on other processes
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	// The kernel kills each probe with the thread that started it.
	first := started()
	deadline = time.Now().Add(15 * time.Second)
	for _, pid := range first {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("probe %d outlived the killed server by 15 s", pid)
			}
			time.Sleep(10 * time.Millisecond) // waiting on the kernel
		}
	}
	if len(first) != 2 {
		t.Errorf("%d probes were started before the kill; want the 2 item workers' own", len(first))
	}

	// Restarted, without the hang: the killed run ended interrupted, and a
	// new run analyses all four files, each failing alone (not media).
	os.Remove(hang)
	p2 := startProc(t, args...)
	waitRunEnded(t, p2, token, startRun(t, p2, token, "DeepMediaAnalysis"))
	if code := p2.terminate(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, p2.stderr)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(dataDir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, err := db.Runs(t.Context(), butler.RunFilter{Task: butler.TaskDeepMediaAnalysis, Limit: 10})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs %+v %v; want two", runs, err)
	}
	if killed := runs[1]; killed.Outcome != butler.OutcomeInterrupted {
		t.Errorf("the killed run: %s (%s); want interrupted", killed.Outcome, killed.Reason)
	}
	if again := runs[0]; again.Outcome != butler.OutcomeSucceeded || !strings.HasPrefix(again.Summary, "analysed 0 items, 4 failed, 0 skipped") {
		t.Errorf("the run after the restart: %s, %q; want the 4 files tried, each failing alone", again.Outcome, again.Summary)
	}
	items, err := db.MediaItems(t.Context(), butler.MediaItemFilter{Library: "Movies"})
	if err != nil || len(items) != 4 {
		t.Fatalf("items %+v %v", items, err)
	}
	for _, it := range items {
		if it.AnalysisFailures != 1 {
			t.Errorf("%s: %d failures; want exactly one (the run after the restart), none from the killed one", it.Path, it.AnalysisFailures)
		}
	}
	for _, pid := range started() {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("probe %d still alive at the end", pid)
		}
	}
}

// startRun starts task now and returns its run's id.
func startRun(t *testing.T, p *proc, token, task string) string {
	t.Helper()
	resp, _ := do(t, http.MethodPost, p.url("/butler/"+task+"?force=1"), token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Butler-Run-Id") == "" {
		t.Fatalf("POST /butler/%s: %d %s", task, resp.StatusCode, resp.Header.Get("X-Butler-Outcome"))
	}
	return resp.Header.Get("X-Butler-Run-Id")
}

// waitRunEnded waits until run id has ended.
func waitRunEnded(t *testing.T, p *proc, token, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := do(t, http.MethodGet, p.url("/butler/runs/"+id), token)
		if strings.Contains(body, `state="finished"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not ended after 60 s: %s", id, body)
		}
		time.Sleep(20 * time.Millisecond) // waiting on another process
	}
}
