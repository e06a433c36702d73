package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/groupguard"
	"github.com/plexbutler/butler/store/sqlite"
)

// The real-process tests build the butler binary once per test binary.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// butler serve run in this process (the in-process tests) starts its
	// group guard as this program with the guard's command, as the butler
	// binary does: this is the guard then, not the tests.
	if len(os.Args) == 2 && os.Args[1] == groupGuardCmd {
		if _, err := groupguard.Main(os.Stdin, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "group guard:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// A process that keeps a database's WAL written (restore's tests).
	if path := os.Getenv(walHolderEnv); path != "" {
		holdWAL(path, os.Getenv(walReaderEnv) != "")
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// butlerBinary returns the path of a freshly built butler binary. It skips
// the test in -short mode.
func butlerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the butler binary; skipped with -short")
	}
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go tool to build the binary: %w", err)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "butler-test-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "butler")
		// The test runs in the package's directory: "." is ./cmd/butler.
		cmd := exec.Command(goTool, "build", "-o", buildBin, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// proc is a butler serve child process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has been waited for
	addr   string
}

// startProc starts `butler serve args...` with no BUTLER_* variables in its
// environment, waits until it logs its address and then until GET /healthz
// answers 200. The process is killed at the end of the test if still alive.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := spawnProc(t, args...)
	if err := p.waitServing(); err != nil {
		t.Fatal(err)
	}
	return p
}

// spawnProc starts `butler serve args...` as startProc does, without
// waiting for it to serve (waitServing).
func spawnProc(t *testing.T, args ...string) *proc {
	t.Helper()
	bin := butlerBinary(t)
	p := &proc{stderr: newSyncBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUTLER_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start butler: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			logProblems(t, p)
		}
	})
	return p
}

// waitServing waits until p logs its address and then until GET /healthz
// answers 200; an error when it exits first or takes too long.
func (p *proc) waitServing() error {
	m, ok := p.stderr.waitFor(servingRE, p.done, 60*time.Second)
	if !ok {
		if p.exited() {
			return fmt.Errorf("butler serve exited (%v) before serving; output:\n%s", p.cmd.ProcessState, p.stderr)
		}
		return fmt.Errorf("butler serve did not log its address within 60s; output:\n%s", p.stderr)
	}
	p.addr = m[1]

	// Waiting on an external process: poll /healthz with a deadline.
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := httpClient.Get(p.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-p.done:
			return fmt.Errorf("butler serve exited (%v) before /healthz answered; output:\n%s", p.cmd.ProcessState, p.stderr)
		case <-deadline.C:
			return fmt.Errorf("GET /healthz of butler serve at %s did not answer 200 within 15s (last error %v); output:\n%s", p.addr, err, p.stderr)
		}
	}
}

// logProblems logs the errors a server logged (but those of work cancelled
// by a stop), so that a test that failed on what a server answered shows why
// it answered so.
func logProblems(t *testing.T, p *proc) {
	var lines []string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && !strings.Contains(l, "context canceled") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 40 {
		lines = append(lines[:20], append([]string{"..."}, lines[len(lines)-20:]...)...)
	}
	if len(lines) > 0 {
		t.Logf("server %s logged:\n%s", p.addr, strings.Join(lines, "\n"))
	}
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits up to limit for the process to exit; it
// returns the exit code.
func (p *proc) terminate(t *testing.T, limit time.Duration) int {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("butler serve did not exit within %v of SIGTERM; output:\n%s", limit, p.stderr)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	return p.cmd.ProcessState.ExitCode()
}

func TestProcessSIGTERM(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	dataDir := newDataDir(t)
	const token = "sigterm-token-123"
	p := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token)

	if resp, _ := do(t, http.MethodGet, p.url("/butler"), token); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /butler: %d, want 200", resp.StatusCode)
	}
	resp, _ := do(t, http.MethodPost, p.url("/butler/OptimizeDatabase?force=1"), token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /butler/OptimizeDatabase?force=1: %d, want 200", resp.StatusCode)
	}
	runID, _ := strconv.ParseInt(resp.Header.Get("X-Butler-Run-Id"), 10, 64)

	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; output:\n%s", code, p.stderr)
	}
	out := p.stderr.String()
	mustContain(t, "output", out, "butler: shutting down")
	mustContain(t, "output", out, "butler: stopped")

	dbPath := filepath.Join(dataDir, "butler.db")
	checkNoRunsRunning(t, dbPath)
	if runID != 0 {
		db, err := sqlite.Open(context.Background(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		r, err := db.Run(context.Background(), runID)
		if err != nil {
			t.Errorf("the forced run %d is not in the history: %v", runID, err)
		} else {
			t.Logf("forced OptimizeDatabase run %d at exit: state %s, outcome %q", runID, r.State, r.Outcome)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "token")); err == nil {
		t.Errorf("a token file was written although --token was given")
	}
}

// ballastMiB is the size of the ballast that makes the database big enough
// for a backup to be caught in the act.
const ballastMiB = 400

// addBallast adds a table of ballastMiB MiB of blobs to the database.
func addBallast(t *testing.T, dbPath string) {
	t.Helper()
	start := time.Now()
	// Rollback journal and no syncs while filling: new pages are not
	// journaled. The server switches the database back to WAL.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=journal_mode(DELETE)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE ballast(b BLOB)`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO ballast SELECT zeroblob(1048576) FROM n`, ballastMiB)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ballast: database of %d MiB made in %v", fi.Size()>>20, time.Since(start).Round(time.Millisecond))
}

var backupFinalRE = regexp.MustCompile(`^butler-\d{8}-\d{6}\.db$`)

// backupFiles lists the backup directory: hidden (temporary) files and
// finished backups.
func backupFiles(t *testing.T, dir string) (temps, finals []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "."):
			temps = append(temps, e.Name())
		case backupFinalRE.MatchString(e.Name()):
			finals = append(finals, e.Name())
		}
	}
	return temps, finals
}

// TestProcessKillDuringBackup kills the server with SIGKILL while it writes
// a backup, restarts it, and checks what the restart leaves: no partial
// backup, the run recorded as interrupted, the task still due.
func TestProcessKillDuringBackup(t *testing.T) {
	butlerBinary(t) // skip early in -short mode, before making the ballast
	ctx := context.Background()
	dataDir := newDataDir(t)
	dbPath := filepath.Join(dataDir, "butler.db")
	addBallast(t, dbPath)
	backups := filepath.Join(dataDir, "Backups")
	const token = "kill-token-12345"
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token}

	p := startProc(t, args...)
	posted := time.Now()
	resp, _ := do(t, http.MethodPost, p.url("/butler/BackupDatabase?force=1"), token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Butler-Outcome") != "started" {
		t.Fatalf("POST /butler/BackupDatabase?force=1: %d, outcome %q; want 200 started", resp.StatusCode, resp.Header.Get("X-Butler-Outcome"))
	}
	runID, err := strconv.ParseInt(resp.Header.Get("X-Butler-Run-Id"), 10, 64)
	if err != nil {
		t.Fatalf("X-Butler-Run-Id %q: %v", resp.Header.Get("X-Butler-Run-Id"), err)
	}

	// Kill the server as soon as the temporary file is there.
	seen := waitForTemp(t, p, backups, nil)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	t.Logf("temporary backup file %v seen %v after the start; server killed", seen, time.Since(posted).Round(time.Millisecond))

	// The kill landed while the task ran: no backup was finished, and the run
	// is still marked running in the database the dead server left.
	temps, finals := backupFiles(t, backups)
	if len(finals) > 0 {
		t.Fatalf("the backup finished before the kill (%v); make the ballast bigger", finals)
	}
	t.Logf("left by the killed server in %s: %v", backups, temps)
	func() {
		db, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			t.Fatalf("open the database after SIGKILL: %v", err)
		}
		defer db.Close()
		r, err := db.Run(ctx, runID)
		if err != nil {
			t.Fatalf("run %d after SIGKILL: %v", runID, err)
		}
		if r.State != butler.StateRunning {
			t.Fatalf("run %d is %s/%s after SIGKILL, want running: the kill came too late", runID, r.State, r.Outcome)
		}
	}()

	// Restart on the same data directory.
	restart := time.Now()
	p2 := startProc(t, args...)
	t.Logf("restarted and healthy in %v", time.Since(restart).Round(time.Millisecond))

	temps, finals = backupFiles(t, backups)
	if len(temps) > 0 {
		t.Errorf("temporary backup files left in %s after the restart: %v (the server should remove a crashed backup's partial file at start)", backups, temps)
	}
	if len(finals) > 0 {
		t.Errorf("a backup file is in %s after a backup was killed: %v", backups, finals)
	}

	// A second connection to the live database (WAL) sees the run ended.
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open the database beside the restarted server: %v", err)
	}
	defer db.Close()
	runs, err := db.Runs(ctx, butler.RunFilter{Task: butler.TaskBackupDatabase})
	if err != nil {
		t.Fatal(err)
	}
	var killed *butler.Run
	for i := range runs {
		if runs[i].ID == runID {
			killed = &runs[i]
		}
	}
	switch {
	case killed == nil:
		t.Errorf("run %d of BackupDatabase is not in the history: %+v", runID, runs)
	case killed.State != butler.StateFinished || killed.Outcome != butler.OutcomeInterrupted:
		t.Errorf("killed run %d is %s/%s, want finished/interrupted", runID, killed.State, killed.Outcome)
	default:
		t.Logf("killed run %d: %s, %q", runID, killed.Outcome, killed.Reason)
	}

	// The task did not succeed, so it is still due: a plain start starts it.
	resp, _ = do(t, http.MethodPost, p2.url("/butler/BackupDatabase"), token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Butler-Outcome") != "started" {
		t.Errorf("POST /butler/BackupDatabase after the restart: %d, outcome %q, reason %q; want 200 started",
			resp.StatusCode, resp.Header.Get("X-Butler-Outcome"), resp.Header.Get("X-Butler-Reason"))
	}
	second, _ := strconv.ParseInt(resp.Header.Get("X-Butler-Run-Id"), 10, 64)

	// A SIGTERM while that backup writes stops it cleanly: the run ends
	// interrupted and its temporary file goes. Wait (polling, as above) for
	// a temporary file that was not there before.
	stale := temps
	fresh := waitForTemp(t, p2, backups, stale)
	if code := p2.terminate(t, 15*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; output:\n%s", code, p2.stderr)
	}
	mustContain(t, "output", p2.stderr.String(), "butler: stopped")
	if second != 0 {
		r, err := db.Run(ctx, second)
		switch {
		case err != nil:
			t.Errorf("second backup run %d: %v", second, err)
		case r.State != butler.StateFinished || r.Outcome != butler.OutcomeInterrupted:
			t.Errorf("second backup run %d is %s/%s after SIGTERM during the copy, want finished/interrupted", second, r.State, r.Outcome)
		default:
			t.Logf("second backup run %d ended %s after SIGTERM: %q", second, r.Outcome, r.Reason)
		}
	}
	after, finals := backupFiles(t, backups)
	for _, n := range after {
		if !contains(stale, n) {
			t.Errorf("the backup stopped by SIGTERM left its temporary file %s (seen while it ran: %v)", n, fresh)
		}
	}
	if len(finals) > 0 {
		t.Errorf("a backup file is in %s after the backup was stopped: %v", backups, finals)
	}
	var check string
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("quick_check after the restart and stop: %q, %v", check, err)
	}
}

// waitForTemp waits until the backup directory holds a temporary backup
// file (hidden, "tmp" in its name) that is not in old, and returns the
// directory's temporary files. Waiting on an external process, it polls
// every millisecond, with a deadline. It fails the test if a finished backup
// appears first.
func waitForTemp(t *testing.T, p *proc, dir string, old []string) []string {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		temps, finals := backupFiles(t, dir)
		if len(finals) > 0 {
			t.Fatalf("the backup finished (%v) before its temporary file was seen; make the ballast bigger", finals)
		}
		for _, n := range temps {
			if strings.Contains(n, "tmp") && !contains(old, n) {
				return temps
			}
		}
		select {
		case <-tick.C:
		case <-p.done:
			t.Fatalf("the server exited (%v) before a temporary backup file appeared in %s; output:\n%s", p.cmd.ProcessState, dir, p.stderr)
		case <-deadline.C:
			t.Fatalf("no temporary backup file appeared in %s within 30s; output:\n%s", dir, p.stderr)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestProcessDatabaseCheckAtStart: a server started after a clean stop
// skips the full check of its database; one started after a kill -9 makes
// it (the check each start made is in its log).
func TestProcessDatabaseCheckAtStart(t *testing.T) {
	butlerBinary(t) // skip early in -short mode
	dataDir := newDataDir(t)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "check-token-123"}
	checked := func(p *proc) string {
		t.Helper()
		m := databaseCheckedRE.FindStringSubmatch(p.stderr.String())
		if m == nil {
			t.Fatalf("no \"database opened\" line in the log:\n%s", p.stderr)
		}
		return strings.Trim(m[1], `"`)
	}
	// The data directory's database was made and closed by the test.
	p := startProc(t, args...)
	if got := checked(p); got != "closed cleanly" {
		t.Errorf("first start: checked %q, want \"closed cleanly\"", got)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p = startProc(t, args...)
	if got := checked(p); got != "full" {
		t.Errorf("start after a kill -9: checked %q, want full", got)
	}
	if code := p.terminate(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; output:\n%s", code, p.stderr)
	}
	p = startProc(t, args...)
	if got := checked(p); got != "closed cleanly" {
		t.Errorf("start after a clean stop: checked %q, want \"closed cleanly\"", got)
	}
}

var databaseCheckedRE = regexp.MustCompile(`butler: database opened.* checked=("[^"]*"|\S+)`)
