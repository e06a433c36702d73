package faultprobe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The probe tests build the probe once per test binary.
var (
	probeOnce sync.Once
	probeDir  string
	probeBin  string
	probeErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if probeDir != "" {
		os.RemoveAll(probeDir)
	}
	os.Exit(code)
}

func probeBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the probe; skipped with -short")
	}
	probeOnce.Do(func() {
		probeDir, probeErr = os.MkdirTemp("", "faultprobe-bin-")
		if probeErr != nil {
			return
		}
		probeBin = filepath.Join(probeDir, "probe")
		out, err := exec.Command("go", "build", "-o", probeBin, "./probe").CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("go build ./probe: %v\n%s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeBin
}

// probeRun is one probe started as Butler starts a program: in a process
// group of its own.
type probeRun struct {
	cmd    *exec.Cmd
	done   chan struct{}
	status syscall.WaitStatus
}

// files is a task's log and lock in a fresh directory.
type files struct{ dir, log, lock string }

func newFiles(t *testing.T) files {
	dir := t.TempDir()
	return files{dir: dir, log: filepath.Join(dir, "T.log"), lock: filepath.Join(dir, "T.lock")}
}

func startProbe(t *testing.T, f files, mode string, dur time.Duration) *probeRun {
	t.Helper()
	bin := probeBinary(t)
	p := &probeRun{done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-log", f.log, "-lock", f.lock, "-dur", dur.String(), "-mode", mode)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.status, _ = p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(p.done)
	}()
	t.Cleanup(func() {
		// Whatever the test did: nothing of this probe outlives it.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if live, err := LiveProbes(bin, f.dir); err == nil {
			_ = KillProbes(live)
		}
	})
	return p
}

func (p *probeRun) pid() int { return p.cmd.Process.Pid }

func (p *probeRun) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("probe %d did not end within %v", p.pid(), limit)
	}
}

// waitLog polls the log (another process writes it) until ok holds for its
// lines, and returns them.
func waitLog(t *testing.T, path string, limit time.Duration, what string, ok func([]Line) bool) []Line {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		lines, bad, err := ReadLog(path)
		if err != nil || len(bad) > 0 {
			t.Fatalf("read %s: %v %v", path, err, bad)
		}
		if ok(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; log:\n%s", what, limit, dump(path))
		}
		time.Sleep(5 * time.Millisecond) // polling another process's file
	}
}

func dump(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func count(lines []Line, kind Kind, role string) int {
	n := 0
	for _, l := range lines {
		if l.Kind == kind && (role == "" || l.Role == role) {
			n++
		}
	}
	return n
}

// childStarted: the leader pid's grandchild has logged its start.
func childStarted(pid int) func([]Line) bool {
	return func(lines []Line) bool {
		for _, l := range lines {
			if l.Kind == KindStart && l.Role == RoleChild && l.Parent == pid {
				return true
			}
		}
		return false
	}
}

func lockHeldBy(t *testing.T, f files) (bool, int) {
	t.Helper()
	held, holder, err := LockState(f.lock)
	if err != nil {
		t.Fatal(err)
	}
	return held, holder
}

func TestProbe_QuickExitsZeroAndLeavesNothing(t *testing.T) {
	f := newFiles(t)
	p := startProbe(t, f, "quick", 200*time.Millisecond)
	p.wait(t, 10*time.Second)
	if !p.status.Exited() || p.status.ExitStatus() != 0 {
		t.Fatalf("quick probe: wait status %v, want exit 0", p.status)
	}
	lines, _, _ := ReadLog(f.log)
	execs, problems := Executions("T", lines)
	if len(problems) > 0 || len(execs) != 1 {
		t.Fatalf("executions %d, problems %v; log:\n%s", len(execs), problems, dump(f.log))
	}
	e := execs[0]
	if e.Leader.PID != p.pid() || e.Leader.PGID != p.pid() || e.Leader.Mode != "quick" || e.Leader.How != HowExit0 {
		t.Errorf("leader %+v, want pid=pgid=%d, quick, exit0", e.Leader, p.pid())
	}
	if len(e.Children) != 1 || e.Children[0].PGID != p.pid() || e.Children[0].How != HowQuit {
		t.Errorf("children %+v, want one in group %d that quit", e.Children, p.pid())
	}
	if last, all := e.LastEnd(); !all || !last.Equal(e.Leader.End) {
		t.Errorf("LastEnd %v %v, want the leader's end %v", last, all, e.Leader.End)
	}
	if d := e.Leader.End.Sub(e.Leader.Start); d < 200*time.Millisecond {
		t.Errorf("worked %v, want at least 200ms", d)
	}
	if held, holder := lockHeldBy(t, f); held {
		t.Errorf("lock held by %d after the probe ended", holder)
	}
	if live, err := LiveProbes(probeBinary(t), f.dir); err != nil || len(live) > 0 {
		t.Errorf("live probes after the end: %+v %v", live, err)
	}
}

func TestProbe_OverlapIsLoggedWithItsHolder(t *testing.T) {
	f := newFiles(t)
	run1 := time.Now()
	a := startProbe(t, f, "normal", 30*time.Second)
	waitLog(t, f.log, 10*time.Second, "the first probe's child starts", childStarted(a.pid()))
	run2 := time.Now()
	if held, holder := lockHeldBy(t, f); !held || holder != a.pid() {
		t.Fatalf("lock held %v by %d, want held by the first probe %d", held, holder, a.pid())
	}
	live, err := LiveProbes(probeBinary(t), f.dir)
	if err != nil || len(live) != 2 {
		t.Fatalf("live probes %+v (%v), want the leader and its child", live, err)
	}
	for _, p := range live {
		if p.PGID != a.pid() {
			t.Errorf("live probe %+v not in group %d", p, a.pid())
		}
	}

	b := startProbe(t, f, "quick", 100*time.Millisecond)
	b.wait(t, 10*time.Second)
	// The first one ends by SIGTERM to its group.
	if err := syscall.Kill(-a.pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	if !a.status.Exited() || a.status.ExitStatus() != 143 {
		t.Errorf("normal probe after SIGTERM: %v, want exit 143", a.status)
	}
	if held, holder := lockHeldBy(t, f); held {
		t.Errorf("lock held by %d after both ended", holder)
	}

	lines, _, _ := ReadLog(f.log)
	if n := count(lines, KindOverlap, ""); n != 1 {
		t.Fatalf("%d overlap lines, want 1; log:\n%s", n, dump(f.log))
	}
	rep := Check(Evidence{
		Lines: map[string][]Line{"T": lines},
		Runs: []Run{
			{ID: 1, Task: "T", State: "finished", Outcome: "stopped", StartedAt: run1, EndedAt: time.Now()},
			{ID: 2, Task: "T", State: "finished", Outcome: "succeeded", StartedAt: run2, EndedAt: time.Now()},
		},
	})
	want := fmt.Sprintf("OVERLAP: probe pid %d found the task's lock held by pid %d", b.pid(), a.pid())
	if len(rep.Violations) != 1 || !strings.Contains(rep.Violations[0], want) {
		t.Errorf("violations %q, want one with %q", rep.Violations, want)
	}
}

func TestProbe_StubbornIgnoresSIGTERMUntilSIGKILL(t *testing.T) {
	f := newFiles(t)
	p := startProbe(t, f, "stubborn", 30*time.Second)
	waitLog(t, f.log, 10*time.Second, "the child starts", childStarted(p.pid()))
	if err := syscall.Kill(-p.pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, f.log, 10*time.Second, "both log the SIGTERM they ignore", func(l []Line) bool { return count(l, KindSignal, "") == 2 })
	select {
	case <-p.done:
		t.Fatalf("the stubborn probe ended after SIGTERM: %v", p.status)
	default:
	}
	if held, _ := lockHeldBy(t, f); !held {
		t.Errorf("lock free while the stubborn probe lives")
	}
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	if !p.status.Signaled() || p.status.Signal() != syscall.SIGKILL {
		t.Errorf("wait status %v, want killed by SIGKILL", p.status)
	}
	// The child, reparented, may take a moment to die.
	deadline := time.Now().Add(5 * time.Second)
	for {
		live, err := LiveProbes(probeBinary(t), f.dir)
		if err != nil {
			t.Fatal(err)
		}
		held, holder := lockHeldBy(t, f)
		if len(live) == 0 && !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGKILL of the group: live %+v, lock held %v by %d", live, held, holder)
		}
		time.Sleep(5 * time.Millisecond) // waiting on the kernel to end the child
	}
	lines, _, _ := ReadLog(f.log)
	if n := count(lines, KindEnd, ""); n != 0 {
		t.Errorf("%d end lines after SIGKILL, want none; log:\n%s", n, dump(f.log))
	}
}

// TestProbe_OrphanHoldsTheLock: SIGKILL to the leader alone leaves its child
// behind, alive and holding the task's lock, and the checker says so.
func TestProbe_OrphanHoldsTheLock(t *testing.T) {
	f := newFiles(t)
	p := startProbe(t, f, "normal", 30*time.Second)
	waitLog(t, f.log, 10*time.Second, "the child starts", childStarted(p.pid()))
	started := time.Now()
	if err := p.cmd.Process.Kill(); err != nil { // the leader only
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	ended := time.Now()
	held, holder := lockHeldBy(t, f)
	if !held || holder != p.pid() {
		t.Errorf("lock held %v by %d after the leader died, want held (taken by %d) through the orphan", held, holder, p.pid())
	}
	live, err := LiveProbes(probeBinary(t), f.dir)
	if err != nil || len(live) != 1 || live[0].PGID != p.pid() {
		t.Fatalf("live %+v (%v), want the orphaned child in group %d", live, err, p.pid())
	}
	lines, _, _ := ReadLog(f.log)
	rep := Check(Evidence{
		Lines:        map[string][]Line{"T": lines},
		Runs:         []Run{{ID: 1, Task: "T", State: "finished", Outcome: "stopped", StartedAt: started.Add(-time.Second), EndedAt: ended}},
		Observations: []Observation{{Task: "T", RunID: 1, At: time.Now(), Held: held, Holder: holder}},
		Live:         live,
	})
	if len(rep.Violations) != 2 ||
		!strings.Contains(rep.Violations[0], fmt.Sprintf("still held by probe pid %d (of run 1)", p.pid())) ||
		!strings.Contains(rep.Violations[1], fmt.Sprintf("probe pid %d (pgid %d; child of leader %d of T", live[0].PID, p.pid(), p.pid())) {
		t.Errorf("violations:\n%s", strings.Join(rep.Violations, "\n"))
	}
	if err := KillProbes(live); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for held {
		if time.Now().After(deadline) {
			t.Fatal("lock still held after the orphan was killed")
		}
		time.Sleep(5 * time.Millisecond) // waiting on the kernel to end the orphan
		held, _ = lockHeldBy(t, f)
	}
}

func TestProbe_LockStateNeedsNoProbe(t *testing.T) {
	f := newFiles(t)
	if held, _ := lockHeldBy(t, f); held {
		t.Fatal("a lock file that does not exist is held")
	}
	if _, _, err := ProcLockHolder(f.lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ProcLockHolder of a missing file: %v, want not exist", err)
	}
	lf, err := os.Create(f.lock)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if held, holder := lockHeldBy(t, f); !held || holder != os.Getpid() {
		t.Errorf("held %v by %d, want held by this process %d", held, holder, os.Getpid())
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if held, holder := lockHeldBy(t, f); held {
		t.Errorf("held by %d after unlock", holder)
	}
}

// TestProbe_LockStateFallback: where /proc/locks shows nothing, LockState
// tries the lock itself.
func TestProbe_LockStateFallback(t *testing.T) {
	f := newFiles(t)
	procLocksChecked.Store(f.dir, false)
	t.Cleanup(func() { procLocksChecked.Delete(f.dir) })
	lf, err := os.Create(f.lock)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if held, _ := lockHeldBy(t, f); held {
		t.Fatal("an unlocked file is held")
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("LockState left the lock taken: %v", err)
	}
	if held, holder := lockHeldBy(t, f); !held || holder != 0 {
		t.Errorf("held %v by %d, want held by an unknown holder", held, holder)
	}
}
