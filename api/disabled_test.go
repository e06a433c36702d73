package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/schedule"
)

// TestStartDisabledTask: the enable setting governs the nightly plan and
// start-all only. An explicit start of a disabled task runs it, decided by
// the due and window rules, and its reason says it is disabled for the
// schedule; start-all leaves it alone and tonight's plan leaves it out.
func TestStartDisabledTask(t *testing.T) {
	s := newServer(t)
	clean := s.actions[butler.TaskCleanOldCacheFiles]
	if s.m.Settings().Get("ButlerTaskCleanOldCacheFiles") != "false" {
		t.Fatal("CleanOldCacheFiles should be disabled on the test server")
	}
	// Start-all: the two enabled tasks, not the disabled one.
	if resp, _ := s.do(t, req{method: "POST", path: "/butler"}); resp.StatusCode != 200 {
		t.Fatalf("start all: %d", resp.StatusCode)
	}
	active, err := s.db.ActiveRuns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.Task == butler.TaskCleanOldCacheFiles {
			t.Fatalf("start-all made a run of the disabled task: %+v", r)
		}
	}
	if resp, _ := s.do(t, req{method: "DELETE", path: "/butler"}); resp.StatusCode != 200 {
		t.Fatalf("stop all: %d", resp.StatusCode)
	}
	_, plan := s.do(t, req{method: "GET", path: "/butler/plan"})
	if !strings.Contains(plan, `name="CleanOldCacheFiles" decision="disabled"`) {
		t.Fatalf("plan: %s; want the disabled task left out", plan)
	}

	// An explicit start runs it: outside the window, due, it starts now.
	resp, body := s.do(t, req{method: "POST", path: "/butler/CleanOldCacheFiles"})
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "started" || body != "" ||
		resp.Header.Get(apitype.HeaderReason) != "outside the window: starts now; "+schedule.DisabledNote {
		t.Fatalf("start of a disabled task: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	wait(t, clean.entered, "the disabled task to run")
	if resp, _ := s.do(t, req{method: "POST", path: "/butler/CleanOldCacheFiles"}); resp.StatusCode != 202 {
		t.Fatalf("second start: %d, want 202 running", resp.StatusCode)
	}
	clean.release <- struct{}{}
	if err := <-clean.ended; err != nil {
		t.Fatalf("the run ended with %v", err)
	}
	// Succeeded: not due again until its interval has passed, enabled or not.
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, _ := s.db.Runs(context.Background(), butler.RunFilter{Task: butler.TaskCleanOldCacheFiles, Limit: 1})
		if len(runs) == 1 && runs[0].Outcome == butler.OutcomeSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not recorded as succeeded: %+v", runs)
		}
		time.Sleep(5 * time.Millisecond) // waits on the worker's store write, not on the behaviour under test
	}
	resp, _ = s.do(t, req{method: "POST", path: "/butler/CleanOldCacheFiles"})
	if resp.StatusCode != 200 || resp.Header.Get(apitype.HeaderOutcome) != "skipped" ||
		!strings.HasPrefix(resp.Header.Get(apitype.HeaderReason), "not due until ") || !strings.HasSuffix(resp.Header.Get(apitype.HeaderReason), schedule.DisabledNote) {
		t.Fatalf("start when not due: %d %v", resp.StatusCode, resp.Header)
	}
}
