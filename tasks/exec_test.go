package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/tasks"
)

// outputReporter is a testReporter that also keeps output, as a run log
// would.
type outputReporter struct {
	*testReporter
	omu     sync.Mutex
	outputs []string
}

var _ butler.Reporter = (*outputReporter)(nil)

func newOutputReporter(t *testing.T) *outputReporter {
	return &outputReporter{testReporter: newTestReporter(t)}
}

func (r *outputReporter) Output(text string) {
	r.omu.Lock()
	defer r.omu.Unlock()
	r.outputs = append(r.outputs, text)
}

// output returns the only output reported; the test fails when there was
// not exactly one.
func (r *outputReporter) output(t *testing.T) string {
	t.Helper()
	r.omu.Lock()
	defer r.omu.Unlock()
	if len(r.outputs) != 1 {
		t.Fatalf("Output called %d times, want once", len(r.outputs))
	}
	return r.outputs[0]
}

// sh returns the argv of a /bin/sh script.
func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// processGone reports whether process pid has ended (or is a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// waitGone fails the test when pid has not ended within d.
func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still running %s after the run ended", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidFromProgress returns the pid that a script reported as the message of
// its first PROGRESS line.
func pidFromProgress(t *testing.T, r *outputReporter) int {
	t.Helper()
	for _, e := range r.progress() {
		if pid, err := strconv.Atoi(e.Step); err == nil {
			return pid
		}
	}
	t.Fatalf("no PROGRESS line with a pid in %+v", r.progress())
	return 0
}

func TestExecSuccessWithProgress(t *testing.T) {
	r := newOutputReporter(t)
	a := &tasks.Exec{Argv: sh(`echo "PROGRESS 10 starting up"
echo hello
echo oops >&2
echo "PROGRESS abc not a report"
printf 'PROGRESS\t55\tcopying\n'
echo "PROGRESS 100"
echo bye`)}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var reports []progressEvent
	for _, e := range r.progress() {
		if e.Percent >= 0 {
			reports = append(reports, e)
		}
	}
	want := []progressEvent{{10, "starting up"}, {55, "copying"}, {100, ""}, {100, "done"}}
	if !slices.Equal(reports, want) {
		t.Errorf("progress reports = %+v, want %+v", reports, want)
	}
	out := r.output(t)
	for _, s := range []string{"hello\n", "oops\n", "bye\n", "PROGRESS abc not a report\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output %q lacks %q", out, s)
		}
	}
	for _, s := range []string{"starting up", "copying"} {
		if strings.Contains(out, s) {
			t.Errorf("output %q holds the progress report %q", out, s)
		}
	}
	// Standard output and error keep their order.
	if sum, want := r.summary(), "exited with status 0; output: oops | PROGRESS abc not a report | bye"; sum != want {
		t.Errorf("summary = %q, want %q", sum, want)
	}
}

// TestExecKeepsOutputOrder: lines written in turn to standard output and
// standard error are kept in the order the program wrote them.
func TestExecKeepsOutputOrder(t *testing.T) {
	r := newOutputReporter(t)
	script := `i=0; while [ $i -lt 300 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`
	if err := (&tasks.Exec{Argv: sh(script)}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 300 {
		fmt.Fprintf(&want, "out %d\nerr %d\n", i, i)
	}
	if got := r.output(t); got != want.String() {
		t.Errorf("output is not in the order written:\n%.300s", got)
	}
}

// TestExecFirstProgressFirst: a program's first PROGRESS line is its run's
// first report (no step of Exec's own comes just before it, which would
// make a server hold the line back and a second line replace it unseen).
func TestExecFirstProgressFirst(t *testing.T) {
	r := newOutputReporter(t)
	if err := (&tasks.Exec{Argv: sh(`echo "PROGRESS 10 starting"; echo "PROGRESS 20 second"`)}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if ev := r.progress(); len(ev) == 0 || ev[0] != (progressEvent{10, "starting"}) {
		t.Errorf("progress reports = %+v, want {10 starting} first", ev)
	}
}

// TestExecQuietProgramGetsAStep: a program that reports no progress gets
// the step "running NAME" a second into its run.
func TestExecQuietProgramGetsAStep(t *testing.T) {
	r := newOutputReporter(t)
	dir := t.TempDir()
	stepped := make(chan struct{})
	var once sync.Once
	r.setOnProgress(func(percent int, step string) {
		if percent == -1 && step == "running sh" {
			once.Do(func() { close(stepped) })
		}
	})
	// The program waits until the test has seen the step.
	a := &tasks.Exec{Argv: []string{"/bin/sh", "-c", `while [ ! -e release ]; do sleep 0.02; done`}, Dir: dir}
	done := make(chan error, 1)
	go func() { done <- a.Run(t.Context(), r) }()
	select {
	case <-stepped:
	case err := <-done:
		t.Fatalf("Run ended before the step was reported: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no step \"running sh\" within 20s")
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestExecFailure(t *testing.T) {
	r := newOutputReporter(t)
	err := (&tasks.Exec{Argv: sh(`echo working; echo "disk full" >&2; exit 3`)}).Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v, want an error with \"exited with status 3\" quoting the output", err)
	}
	if sum := r.summary(); !strings.HasPrefix(sum, "exited with status 3; output: ") {
		t.Errorf("summary = %q", sum)
	}
	if out := r.output(t); !strings.Contains(out, "disk full") {
		t.Errorf("output = %q", out)
	}
}

func TestExecKilledBySignal(t *testing.T) {
	r := newOutputReporter(t)
	err := (&tasks.Exec{Argv: sh(`kill -KILL $$`)}).Run(t.Context(), r)
	if err == nil || !strings.Contains(err.Error(), "killed by signal 9") {
		t.Fatalf("Run = %v, want \"killed by signal 9\"", err)
	}
}

func TestExecNoShell(t *testing.T) {
	// Arguments are passed as they are: no expansion, no word splitting.
	r := newOutputReporter(t)
	a := &tasks.Exec{Argv: []string{"/bin/sh", "-c", `printf '%s|' "$@"`, "sh", "$HOME", "a b", "*"}}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if out := r.output(t); out != "$HOME|a b|*|" {
		t.Errorf("output = %q, want the arguments untouched", out)
	}
}

func TestExecEnvironmentAndDir(t *testing.T) {
	t.Setenv("BUTLER_TOKEN", "secret-token")
	t.Setenv("LANG", "C.UTF-8")
	dir := t.TempDir()
	r := newOutputReporter(t)
	a := &tasks.Exec{Argv: []string{"/usr/bin/env"}, Dir: dir, Env: []string{"FOO=bar", "LANG=de_DE.UTF-8", "EMPTY="}}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	env := strings.Split(strings.TrimSpace(r.output(t)), "\n")
	for _, want := range []string{"FOO=bar", "LANG=de_DE.UTF-8", "EMPTY="} {
		if !slices.Contains(env, want) {
			t.Errorf("environment %q lacks %s", env, want)
		}
	}
	if !slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "PATH=") }) {
		t.Errorf("environment %q has no PATH", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "BUTLER_TOKEN=") {
			t.Errorf("environment holds Butler's %s", kv)
		}
		if kv == "LANG=C.UTF-8" {
			t.Errorf("Env did not replace the inherited LANG: %q", env)
		}
	}

	r = newOutputReporter(t)
	if err := (&tasks.Exec{Argv: []string{"/bin/pwd"}, Dir: dir}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(r.output(t)); got != dir {
		t.Errorf("working directory = %q, want %q", got, dir)
	}
}

func TestExecInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		a    tasks.Exec
		want string
	}{
		{"no argv", tasks.Exec{}, "no program set"},
		{"relative", tasks.Exec{Argv: []string{"sh", "-c", "true"}}, `"sh" is not an absolute path`},
		{"bad env", tasks.Exec{Argv: []string{"/bin/true"}, Env: []string{"NOEQUALS"}}, `"NOEQUALS" is not KEY=VALUE`},
		{"missing program", tasks.Exec{Argv: []string{"/nonexistent/program"}}, `start "/nonexistent/program"`},
		{"missing dir", tasks.Exec{Argv: []string{"/bin/true"}, Dir: "/nonexistent/dir"}, `start "/bin/true"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.a.Run(t.Context(), newOutputReporter(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestExecCancelledBeforeStart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := (&tasks.Exec{Argv: sh("touch ran"), Dir: dir}).Run(ctx, newOutputReporter(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("the program ran: %q", n)
	}
}

// stopAtProgress1 returns a reporter and a context that is cancelled (a
// stop) when the program reports PROGRESS 1: the program is up by then.
func stopAtProgress1(t *testing.T) (*outputReporter, context.Context) {
	r := newOutputReporter(t)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	r.setOnProgress(func(percent int, _ string) {
		if percent == 1 {
			cancel()
		}
	})
	return r, ctx
}

// TestExecStopTerminatesGroup stops a script that waits for a child: both
// end at SIGTERM, promptly.
func TestExecStopTerminatesGroup(t *testing.T) {
	r, ctx := stopAtProgress1(t)
	start := time.Now()
	err := (&tasks.Exec{Argv: sh(`sleep 30 & echo "PROGRESS 1 $!"; wait`), Grace: 20 * time.Second}).Run(ctx, r)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "SIGTERM") {
		t.Fatalf("Run = %v, want a stop after SIGTERM wrapping context.Canceled", err)
	}
	if elapsed > 10*time.Second {
		t.Errorf("Run took %s after SIGTERM, want well under the 20s grace", elapsed)
	}
	waitGone(t, pidFromProgress(t, r), 5*time.Second)
	r.output(t) // reported even when stopped
}

// TestExecStopKillsAfterGrace stops a script that ignores SIGTERM, and whose
// child does too: both are SIGKILLed once the grace period is over.
func TestExecStopKillsAfterGrace(t *testing.T) {
	r, ctx := stopAtProgress1(t)
	const grace = 200 * time.Millisecond
	start := time.Now()
	err := (&tasks.Exec{Argv: sh(`trap '' TERM; sleep 30 & echo "PROGRESS 1 $!"; while :; do sleep 1; done`), Grace: grace}).Run(ctx, r)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "SIGKILL") {
		t.Fatalf("Run = %v, want a stop by SIGKILL wrapping context.Canceled", err)
	}
	if elapsed < grace || elapsed > grace+5*time.Second {
		t.Errorf("Run took %s, want the grace of %s and then promptly", elapsed, grace)
	}
	waitGone(t, pidFromProgress(t, r), 5*time.Second)
}

// TestExecStopKillsWhatIgnoresSIGTERM: the program ends at SIGTERM, a
// child in its group does not: the child is SIGKILLed after the grace, and
// the stop says so (not "ended after SIGTERM").
func TestExecStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	r, ctx := stopAtProgress1(t)
	const grace = 200 * time.Millisecond
	err := (&tasks.Exec{Argv: sh(`sh -c 'trap "" TERM; echo "PROGRESS 1 $$"; exec sleep 30' & wait`), Grace: grace}).Run(ctx, r)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "did not were killed with SIGKILL after a grace period of 200ms") {
		t.Fatalf("Run = %v, want a stop that says the group's rest was SIGKILLed", err)
	}
	waitGone(t, pidFromProgress(t, r), 5*time.Second)
}

// completionReporter records Completed.
type completionReporter struct {
	*outputReporter
	completed atomic.Bool
}

func (r *completionReporter) Completed() { r.completed.Store(true) }

// TestExecStopExit0IsItsOwnEnd: a program that exits 0 after SIGTERM (its
// work done as the stop came, by its own account) ended by itself: Run
// returns nil and reports its completion, so that the run is recorded
// succeeded and its task not run again. (One that SIGTERM cuts short exits
// non-zero: TestExecStopTerminatesGroup.)
func TestExecStopExit0IsItsOwnEnd(t *testing.T) {
	out, ctx := stopAtProgress1(t)
	r := &completionReporter{outputReporter: out}
	err := (&tasks.Exec{Argv: sh(`trap 'exit 0' TERM; echo "PROGRESS 1 $$"; while :; do sleep 0.05; done`), Grace: 5 * time.Second}).Run(ctx, r)
	if err != nil || !r.completed.Load() {
		t.Fatalf("Run = %v, completed %v; want nil and the completion reported", err, r.completed.Load())
	}
	if got := r.summary(); !strings.HasPrefix(got, "exited with status 0") {
		t.Errorf("summary %q; want it to say it exited 0", got)
	}
}

// TestExecTimeLimit ends a program at its context's deadline.
func TestExecTimeLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := (&tasks.Exec{Argv: []string{"/bin/sleep", "30"}, Grace: time.Second}).Run(ctx, newOutputReporter(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s", d)
	}
}

// TestExecLeftoverProcesses runs scripts that exit while a child of theirs
// still runs and holds their output: the child is ended (SIGTERM, or
// SIGKILL after the grace when it ignores SIGTERM) and Run returns.
func TestExecLeftoverProcesses(t *testing.T) {
	for _, c := range []struct {
		name   string
		script string
		max    time.Duration
	}{
		{"leaves a child", `sleep 30 & echo "PROGRESS 1 $!"`, 5 * time.Second},
		{"leaves a child that ignores SIGTERM", `(trap '' TERM; exec sleep 30) & echo "PROGRESS 1 $!"`, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newOutputReporter(t)
			start := time.Now()
			if err := (&tasks.Exec{Argv: sh(c.script), Grace: 300 * time.Millisecond}).Run(t.Context(), r); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if d := time.Since(start); d > c.max {
				t.Errorf("Run took %s, want at most %s", d, c.max)
			}
			waitGone(t, pidFromProgress(t, r), 5*time.Second)
		})
	}
}

// TestExecWaitsForKilledGroup: what the program left in its group and
// SIGKILL ends takes a while to be gone (here 512 MiB of memory to free);
// Run returns only once it is, so that the run is not recorded ended while
// a process of it lives.
func TestExecWaitsForKilledGroup(t *testing.T) {
	r := newOutputReporter(t)
	script := `(trap '' TERM; exec perl -e 'my $x = "a" x (512*1024*1024); print "ready\n"; sleep 100') >/dev/null 2>&1 & echo "PROGRESS 1 $!"`
	if err := (&tasks.Exec{Argv: sh(script), Grace: 2 * time.Second}).Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if pid := pidFromProgress(t, r); !processGone(pid) {
		t.Errorf("Run returned while process %d of the program's group was still alive", pid)
		waitGone(t, pid, 10*time.Second)
	}
}

// TestExecHugeOutput runs a program that prints 100 MB: what is kept, and
// the memory used, stay bounded.
func TestExecHugeOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("prints 100 MB")
	}
	r := newOutputReporter(t)
	a := &tasks.Exec{Argv: sh(`echo first line; head -c 100000000 /dev/zero | tr '\0' 'a'; echo; echo last line`)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatalf("Run: %v", err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes", alloc)
	if alloc > 16<<20 {
		t.Errorf("Run allocated %d bytes for 100 MB of output, want a bounded amount (under 16 MiB)", alloc)
	}
	out := r.output(t)
	if len(out) > 64<<10+100 {
		t.Errorf("output holds %d bytes, want at most 64 KiB and a marker", len(out))
	}
	if !strings.HasPrefix(out, "first line\naaaa") || !strings.HasSuffix(out, "aaaa\nlast line\n") {
		t.Errorf("output does not keep both ends: %q ... %q", out[:40], out[len(out)-40:])
	}
	wantOmitted := fmt.Sprintf("[... %d bytes omitted ...]", 11+100000000+1+10-64<<10)
	if !strings.Contains(out, wantOmitted) {
		t.Errorf("output lacks %q", wantOmitted)
	}
	if sum := r.summary(); len(sum) > 600 || !strings.HasSuffix(sum, "last line") {
		t.Errorf("summary is %d bytes, ending %q; want a bounded one ending with the last line", len(sum), sum[max(len(sum)-40, 0):])
	}
}

func TestExecMaxOutput(t *testing.T) {
	r := newOutputReporter(t)
	a := &tasks.Exec{Argv: sh(`i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done`), MaxOutput: 100}
	if err := a.Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	out := r.output(t)
	if !strings.HasPrefix(out, "line 0\nline 1\n") || !strings.HasSuffix(out, "line 98\nline 99\n") || !strings.Contains(out, " bytes omitted ...]\n") {
		t.Errorf("output = %q, want the head, a marker and the tail", out)
	}
	if sum := r.summary(); sum != "exited with status 0; output: line 97 | line 98 | line 99" {
		t.Errorf("summary = %q", sum)
	}
}

// TestExecWithoutOutputReporter runs with a Reporter that discards the
// output: the summary quotes it all the same.
func TestExecWithoutOutputReporter(t *testing.T) {
	r := newTestReporter(t)
	if err := (&tasks.Exec{Argv: sh("echo hi")}).Run(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if sum := r.summary(); sum != "exited with status 0; output: hi" {
		t.Errorf("summary = %q", sum)
	}
}

// TestExecOutputHeldOutsideGroup runs a script that starts a process in a
// session of its own which keeps the script's output open: Run does not
// wait for it (beyond a short drain) and leaves it alone.
func TestExecOutputHeldOutsideGroup(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("no setsid")
	}
	r := newOutputReporter(t)
	start := time.Now()
	// The detached shell prints its own pid and becomes the sleep (exec), so
	// the pid is the process holding the output pipe, whether or not setsid
	// forked on the way. It also writes the pid to a file once the line is
	// out, and the script waits for that file before it ends, so the line
	// is in the pipe before "done".
	ready := filepath.Join(t.TempDir(), "ready")
	script := `/usr/bin/setsid /bin/sh -c 'echo "PROGRESS 1 $$"; echo $$ > "$1"; exec /bin/sleep 30' detached "$0" &
while [ ! -s "$0" ]; do sleep 0.01; done
echo done`
	err := (&tasks.Exec{Argv: []string{"/bin/sh", "-c", script, ready}, Grace: 200 * time.Millisecond}).Run(t.Context(), r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("Run took %s, want about a second", d)
	}
	pid := pidFromProgress(t, r)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if processGone(pid) {
		t.Error("the process outside the group was ended")
	}
	if out := r.output(t); out != "done\n" {
		t.Errorf("output = %q", out)
	}
}
