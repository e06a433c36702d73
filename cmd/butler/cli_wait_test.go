package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/client/clienttest"
	"github.com/plexbutler/butler/tasks"
)

// TestCLIStartWaitShowsTheFirstProgressLine runs a real program whose
// second PROGRESS line comes a tenth of a second after its first: start
// --wait shows the first (it once showed Exec's own step and then the
// second line only), and never shows a progress older than one it showed.
func TestCLIStartWaitShowsTheFirstProgressLine(t *testing.T) {
	script := `echo "PROGRESS 10 starting"; sleep 0.1; echo "PROGRESS 20 second"; sleep 1.2; echo "PROGRESS 60 more"; sleep 1.2`
	s := clienttest.New(t, clienttest.Config{Tasks: []butler.TaskName{}, Bind: map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: &tasks.Exec{Argv: []string{"/bin/sh", "-c", script}},
	}})
	code, out, stderr := runCmd(t, cliEnv(s), "start", "OptimizeDatabase", "--now", "--wait")
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	var shown []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  ") {
			shown = append(shown, strings.TrimSpace(line))
		}
	}
	if len(shown) == 0 || shown[0] != "10% starting" {
		t.Fatalf("the first progress shown is not the program's first line, \"10%% starting\":\n%s", out)
	}
	pct := regexp.MustCompile(`^\s*(\d+)%`)
	last := -1
	for _, l := range shown {
		m := pct.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("progress line %q has no percentage:\n%s", l, out)
		}
		n, _ := strconv.Atoi(m[1])
		if n < last {
			t.Fatalf("progress went back from %d%% to %d%%:\n%s", last, n, out)
		}
		last = n
	}
	if !strings.Contains(out, "60% more") {
		t.Errorf("the progress of a line a second later is not shown:\n%s", out)
	}
}

// TestCLIStoppedRunReasonOnce: a stopped command's run says how its work
// stopped once, in start --wait's error and in the history, not twice.
func TestCLIStoppedRunReasonOnce(t *testing.T) {
	s := clienttest.New(t, clienttest.Config{Tasks: []butler.TaskName{}, Bind: map[butler.TaskName]butler.Action{
		butler.TaskOptimizeDatabase: &tasks.Exec{Argv: []string{"/bin/sleep", "30"}},
	}})
	env := cliEnv(s)
	b := runBackground(t, env, "start", "OptimizeDatabase", "--now", "--wait")
	b.waitOut(t, b.stdout, `started \(run 1\)`)
	// The step Exec reports once the program has run a second.
	b.waitOut(t, b.stdout, `running sleep`)
	if code, out, stderr := runCmd(t, env, "stop", "OptimizeDatabase"); code != 0 {
		t.Fatalf("stop: exit %d\n%s%s", code, out, stderr)
	}
	if code := b.wait(t); code != 1 {
		t.Fatalf("start --wait: exit %d, want 1\n%s%s", code, b.stdout, b.stderr)
	}
	const how = `"/bin/sleep" stopped (ended after SIGTERM)`
	_, hist, _ := runCmd(t, env, "history")
	for what, out := range map[string]string{"start --wait": b.stderr.String(), "history": hist} {
		if n := strings.Count(out, how); n != 1 {
			t.Errorf("%s says %q %d times, want once:\n%s", what, how, n, out)
		}
	}
	mustContain(t, "start --wait", b.stderr.String(), "run 1 of OptimizeDatabase ended stopped: stopped by request; "+how)
}
