package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
)

// Exercise runs the conformance suite against the stores newStore makes. It
// calls newStore once in every subtest, with that subtest's *testing.T, and
// expects a new, empty store each time (no settings, runs or task records);
// newStore should register any cleanup (closing the store) with t.Cleanup.
func Exercise(t *testing.T, newStore func(t *testing.T) butler.Store) {
	t.Helper()
	runSuite(t, suite, newStore)
}

// testCase is a case of a conformance suite over an S.
type testCase[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runSuite runs each case in a subtest of its own, on a new S that
// newS makes with the subtest's *testing.T.
func runSuite[S any](t *testing.T, cases []testCase[S], newS func(t *testing.T) S) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newS(t)
			if any(s) == nil {
				t.Fatalf("the suite's constructor returned nil")
			}
			tc.fn(t, s)
		})
	}
}

var suite = []testCase[butler.Store]{
	// Settings.
	{"SettingsEmpty", testSettingsEmpty},
	{"SettingsRoundTrip", testSettingsRoundTrip},
	{"SaveSettingsOverwrite", testSaveSettingsOverwrite},
	{"SaveSettingsNothing", testSaveSettingsNothing},
	{"SaveSettingsCanceled", testSaveSettingsCanceled},
	{"SaveSettingsAllOrNothing", testSaveSettingsAllOrNothing},
	{"SaveSettingsConcurrent", testSaveSettingsConcurrent},
	{"SaveSettingsCanceledHoldsNothing", testSaveSettingsCanceledHoldsNothing},

	// Creating and reading runs.
	{"CreateRun", testCreateRun},
	{"CreateRunIncreasingIDs", testCreateRunIncreasingIDs},
	{"CreateRunSetsCreatedAt", testCreateRunSetsCreatedAt},
	{"CreateRunActiveRun", testCreateRunActiveRun},
	{"CreateRunAfterFinish", testCreateRunAfterFinish},
	{"CreateRunFinishedBesideActive", testCreateRunFinishedBesideActive},
	{"CreateRunTasksIndependent", testCreateRunTasksIndependent},
	{"CreateRunConcurrent", testCreateRunConcurrent},
	{"CreateRunRacesFinish", testCreateRunRacesFinish},
	{"ManyWritersOfRunsNeverDeadlock", testManyWritersOfRuns},
	{"RunNotFound", testRunNotFound},
	{"CreateRunUUID", testCreateRunUUID},
	{"CreateRunDuplicateUUID", testCreateRunDuplicateUUID},
	{"RunByUUID", testRunByUUID},

	// A run's life.
	{"QueueRun", testQueueRun},
	{"CreateRunEnqueuesInItsTransaction", testCreateRunEnqueue},
	{"CreateRunsInOneTransaction", testCreateRuns},
	{"CreateManyRuns", testCreateManyRuns},
	{"QueueRunEnqueuesInItsTransaction", testQueueRunEnqueue},
	{"MarkStopping", testMarkStopping},
	{"SetRunProcess", testSetRunProcess},
	{"SetRunJob", testSetRunJob},
	{"StartRun", testStartRun},
	{"UnstartRun", testUnstartRun},
	{"SaveProgress", testSaveProgress},
	{"FinishRun", testFinishRun},
	{"FinishRunFromStates", testFinishRunFromStates},
	{"FinishRunOfNode", testFinishRunOfNode},
	{"FinishRunOnce", testFinishRunOnce},
	{"FinishRunSuccessRecordsTask", testFinishRunSuccessRecordsTask},
	{"FinishRunFailureKeepsTask", testFinishRunFailureKeepsTask},
	{"FinishRunRecordsItemPace", testFinishRunRecordsItemPace},
	{"FinishRuns", testFinishRuns},
	{"FinishRunsUndoneByItsTxFunc", testFinishRunsUndone},

	// Task records.
	{"TaskRecordsEmpty", testTaskRecordsEmpty},
	{"Suppress", testSuppress},
	{"SuppressZeroDay", testSuppressZeroDay},
	{"SuppressMany", testSuppressMany},
	{"SuppressKeepsLastSuccess", testSuppressKeepsLastSuccess},
	{"SuccessKeepsSuppressed", testSuccessKeepsSuppressed},
	{"TasksRunSince", testTasksRunSince},
	{"LastFinishedSince", testLastFinishedSince},

	// Queries of the history.
	{"RunsFilter", testRunsFilter},
	{"RunsBeforeClocks", testRunsBeforeClocks},
	{"RunsPaging", testRunsPaging},
	{"RunsLimit", testRunsLimit},
	{"ActiveRuns", testActiveRuns},
	{"PruneRuns", testPruneRuns},
	{"PruneRunsBatches", testPruneRunsBatches},
	{"PruneRunsBatchesConcurrent", testPruneRunsBatchesConcurrent},

	// Round trips.
	{"TimesRoundTrip", testTimesRoundTrip},
	{"DaysRoundTrip", testDaysRoundTrip},
	{"ConcurrentUse", testConcurrentUse},
}

// base is the instant the suite's runs are made around: a whole number of
// microseconds, so that stores that keep microseconds keep it exactly.
var base = time.Date(2025, time.March, 14, 1, 2, 3, 456789000, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// newRun returns a run of task in state, created at created, with every
// field that state allows set to a distinct value.
func newRun(task butler.TaskName, state butler.RunState, created time.Time) *butler.Run {
	r := &butler.Run{
		Task:        task,
		Trigger:     butler.TriggerWindow,
		State:       state,
		Window:      schedule.Day{Year: 2025, Month: time.March, Day: 13},
		Day:         schedule.Day{Year: 2025, Month: time.March, Day: 14},
		Queue:       butler.QueueMaintenance,
		Progress:    -1,
		CreatedAt:   created,
		ScheduledAt: created.Add(time.Minute),
	}
	switch state {
	case butler.StateRunning:
		r.Node, r.StartedAt = "node-a", created.Add(2*time.Minute)
	case butler.StateFinished:
		r.Outcome, r.Reason, r.EndedAt = butler.OutcomeSkipped, "ran today already", created
	}
	return r
}

// finishedRun returns a run of task that was created finished with outcome,
// ending at ended.
func finishedRun(task butler.TaskName, outcome butler.Outcome, created, ended time.Time) *butler.Run {
	r := newRun(task, butler.StateFinished, created)
	r.Outcome, r.EndedAt = outcome, ended
	return r
}

func mustCreate(t *testing.T, s butler.Store, r *butler.Run) butler.Run {
	t.Helper()
	got, err := s.CreateRun(t.Context(), r, nil)
	if err != nil {
		t.Fatalf("CreateRun(%s, %s): %v", r.Task, r.State, err)
	}
	return got
}

func mustRun(t *testing.T, s butler.Store, id int64) butler.Run {
	t.Helper()
	r, err := s.Run(t.Context(), id)
	if err != nil {
		t.Fatalf("Run(%d): %v", id, err)
	}
	return r
}

func mustRuns(t *testing.T, s butler.Store, f butler.RunFilter) []butler.Run {
	t.Helper()
	rs, err := s.Runs(t.Context(), f)
	if err != nil {
		t.Fatalf("Runs(%+v): %v", f, err)
	}
	return rs
}

func mustActive(t *testing.T, s butler.Store) []butler.Run {
	t.Helper()
	rs, err := s.ActiveRuns(t.Context())
	if err != nil {
		t.Fatalf("ActiveRuns: %v", err)
	}
	return rs
}

func mustSettings(t *testing.T, s butler.Store) map[string]string {
	t.Helper()
	m, err := s.Settings(t.Context())
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	return m
}

func mustSaveSettings(t *testing.T, s butler.Store, values map[string]string) {
	t.Helper()
	if err := s.SaveSettings(t.Context(), values); err != nil {
		t.Fatalf("SaveSettings(%v): %v", values, err)
	}
}

func mustRecords(t *testing.T, s butler.Store) map[butler.TaskName]butler.TaskRecord {
	t.Helper()
	m, err := s.TaskRecords(t.Context())
	if err != nil {
		t.Fatalf("TaskRecords: %v", err)
	}
	return m
}

// mustFinish ends the run; the run FinishRun returns must be the run as
// stored.
func mustFinish(t *testing.T, s butler.Store, id int64, from []butler.RunState, f butler.Finish) butler.Run {
	t.Helper()
	ended, ok, err := s.FinishRun(t.Context(), id, from, f)
	if err != nil {
		t.Fatalf("FinishRun(%d, %v): %v", id, from, err)
	}
	if !ok {
		t.Fatalf("FinishRun(%d, %v) = false, want true", id, from)
	}
	if ended.ID != id || ended.State != butler.StateFinished {
		t.Fatalf("FinishRun(%d, %v) returned run %d in state %q; want run %d finished", id, from, ended.ID, ended.State, id)
	}
	checkUnchanged(t, s, fmt.Sprintf("the run FinishRun(%d) returned", id), ended)
	return ended
}

// sameTime reports whether a and b are the same instant, allowing less than
// a microsecond of difference; a zero time matches only a zero time.
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	d := a.Sub(b)
	return d > -time.Microsecond && d < time.Microsecond
}

// diffRun lists the fields in which got differs from want.
func diffRun(got, want butler.Run) []string {
	var diffs []string
	field := func(name string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	timeField := func(name string, g, w time.Time) {
		if !sameTime(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("ID", got.ID, want.ID)
	field("UUID", got.UUID, want.UUID)
	field("Task", got.Task, want.Task)
	field("Trigger", got.Trigger, want.Trigger)
	field("State", got.State, want.State)
	field("Outcome", got.Outcome, want.Outcome)
	field("Reason", got.Reason, want.Reason)
	field("Summary", got.Summary, want.Summary)
	field("Error", got.Error, want.Error)
	field("Window", got.Window, want.Window)
	field("Day", got.Day, want.Day)
	field("Queue", got.Queue, want.Queue)
	field("Node", got.Node, want.Node)
	field("JobID", got.JobID, want.JobID)
	field("Progress", got.Progress, want.Progress)
	field("Step", got.Step, want.Step)
	timeField("CreatedAt", got.CreatedAt, want.CreatedAt)
	timeField("ScheduledAt", got.ScheduledAt, want.ScheduledAt)
	timeField("StartedAt", got.StartedAt, want.StartedAt)
	timeField("EndedAt", got.EndedAt, want.EndedAt)
	return diffs
}

func checkRun(t *testing.T, what string, got, want butler.Run) {
	t.Helper()
	if diffs := diffRun(got, want); len(diffs) > 0 {
		t.Errorf("%s: run %d differs:\n\t%s", what, want.ID, strings.Join(diffs, "\n\t"))
	}
}

// checkUnchanged checks that the stored run id still equals want.
func checkUnchanged(t *testing.T, s butler.Store, what string, want butler.Run) {
	t.Helper()
	checkRun(t, what, mustRun(t, s, want.ID), want)
}

func ids(rs []butler.Run) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func checkIDs(t *testing.T, what string, got []butler.Run, want ...int64) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("%s: ids %v, want %v", what, g, want)
	}
}

// checkRecord compares a task record with want; want's LastSuccessStarted
// is compared only when it is set (the tests about success days check it).
func checkRecord(t *testing.T, what string, got, want butler.TaskRecord) {
	t.Helper()
	if got.LastSuccess != want.LastSuccess || !sameTime(got.LastSuccessAt, want.LastSuccessAt) || got.Suppressed != want.Suppressed ||
		(!want.LastSuccessStarted.IsZero() && !sameTime(got.LastSuccessStarted, want.LastSuccessStarted)) || got.ItemPace != want.ItemPace {
		t.Errorf("%s: record %+v, want %+v", what, got, want)
	}
}

// --- Settings ---

func testSettingsEmpty(t *testing.T, s butler.Store) {
	if got := mustSettings(t, s); len(got) != 0 {
		t.Errorf("Settings of a new store = %v, want none", got)
	}
}

func testSettingsRoundTrip(t *testing.T, s butler.Store) {
	want := map[string]string{
		"ButlerEnabled":     "true",
		"ButlerWindowStart": "2",
		"empty":             "",
		"unicode ünïcødé 🌙": "välue ✓",
		"multi-line":        "one\ntwo\r\n\tthree",
		"quotes":            `it's "quoted"; -- not SQL`,
		"long":              strings.Repeat("x", 10000),
	}
	mustSaveSettings(t, s, want)
	if got := mustSettings(t, s); !maps.Equal(got, want) {
		t.Errorf("Settings = %q, want %q", got, want)
	}
}

func testSaveSettingsOverwrite(t *testing.T, s butler.Store) {
	mustSaveSettings(t, s, map[string]string{"a": "1", "b": "2"})
	mustSaveSettings(t, s, map[string]string{"b": "3", "c": "4"})
	want := map[string]string{"a": "1", "b": "3", "c": "4"}
	if got := mustSettings(t, s); !maps.Equal(got, want) {
		t.Errorf("after overwrite, Settings = %v, want %v (values not saved again are kept)", got, want)
	}
	mustSaveSettings(t, s, map[string]string{"a": ""})
	want["a"] = ""
	if got := mustSettings(t, s); !maps.Equal(got, want) {
		t.Errorf("after saving an empty value, Settings = %v, want %v", got, want)
	}
}

func testSaveSettingsNothing(t *testing.T, s butler.Store) {
	mustSaveSettings(t, s, nil)
	mustSaveSettings(t, s, map[string]string{})
	if got := mustSettings(t, s); len(got) != 0 {
		t.Errorf("after saving nothing, Settings = %v, want none", got)
	}
	mustSaveSettings(t, s, map[string]string{"a": "1"})
	mustSaveSettings(t, s, map[string]string{})
	if got := mustSettings(t, s); !maps.Equal(got, map[string]string{"a": "1"}) {
		t.Errorf("after saving nothing, Settings = %v, want a=1", got)
	}
}

// settingsBatch returns n settings k00..k(n-1), all with the value v.
func settingsBatch(n int, v string) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = v
	}
	return m
}

// batchValue returns the one value every key of a batch of n has in m, and
// an error when m holds a mix (a partial save).
func batchValue(m map[string]string, n int) (string, error) {
	var v string
	for i := range n {
		k := fmt.Sprintf("k%02d", i)
		got, ok := m[k]
		if !ok {
			got = "<missing>"
		}
		if i == 0 {
			v = got
		} else if got != v {
			return "", fmt.Errorf("k00 = %q but %s = %q: a partial save is visible", v, k, got)
		}
	}
	return v, nil
}

// countdownContext is a context that is canceled the moment its Done method
// is called for the (k+1)-th time: a cancellation that lands at a chosen
// point inside a store method, with no timing involved.
type countdownContext struct {
	context.Context
	mu   sync.Mutex
	left int
	done chan struct{}
}

func newCountdownContext(parent context.Context, k int) *countdownContext {
	return &countdownContext{Context: parent, left: k, done: make(chan struct{})}
}

func (c *countdownContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	} else {
		c.left--
	}
	return c.done
}

func (c *countdownContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return c.Context.Err()
	}
}

func (c *countdownContext) tripped() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func testSaveSettingsCanceled(t *testing.T, s butler.Store) {
	const n = 10
	mustSaveSettings(t, s, settingsBatch(n, "old"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.SaveSettings(ctx, settingsBatch(n, "new")); err == nil {
		t.Errorf("SaveSettings with a canceled context: no error")
	}
	if got := mustSettings(t, s); !maps.Equal(got, settingsBatch(n, "old")) {
		t.Errorf("after a failed SaveSettings, Settings = %v, want every value old", got)
	}
}

func testSaveSettingsAllOrNothing(t *testing.T, s butler.Store) {
	const n = 20
	mustSaveSettings(t, s, settingsBatch(n, "v0"))

	// Saves whose context is canceled while they run either happen whole or
	// not at all. The k-th save is canceled at the k-th time the store looks
	// at its context, so the cancellation sweeps through the whole save.
	prev := "v0"
	for k := 0; ; k++ {
		if k > 10000 {
			t.Fatalf("SaveSettings still looks at its context after %d times", k)
		}
		v := fmt.Sprintf("v%d", k+1)
		ctx := newCountdownContext(t.Context(), k)
		err := s.SaveSettings(ctx, settingsBatch(n, v))
		got, perr := batchValue(mustSettings(t, s), n)
		switch {
		case perr != nil:
			t.Fatalf("save canceled at look %d (err %v): %v", k, err, perr)
		case err == nil && got != v:
			t.Fatalf("save canceled at look %d succeeded but the values are %q, want %q", k, got, v)
		case got != v && got != prev:
			t.Fatalf("save canceled at look %d: values are %q, want %q or %q", k, got, prev, v)
		}
		prev = got
		if err == nil && !ctx.tripped() {
			break // the save never reached its k-th look
		}
	}

	// A reader never sees part of a save.
	start := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		<-start
		for i := 100; i < 130; i++ {
			if err := s.SaveSettings(t.Context(), settingsBatch(n, fmt.Sprintf("v%d", i))); err != nil {
				t.Errorf("SaveSettings: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		<-start
		for reads := 0; ; reads++ {
			m, err := s.Settings(t.Context())
			if err != nil {
				t.Errorf("Settings: %v", err)
				return
			}
			if _, err := batchValue(m, n); err != nil {
				t.Errorf("read %d while saving: %v", reads, err)
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	})
	close(start)
	wg.Wait()
	if got, err := batchValue(mustSettings(t, s), n); err != nil || got != "v129" {
		t.Errorf("after the saves, values are %q (%v), want v129", got, err)
	}
}

// --- Creating and reading runs ---

func testCreateRun(t *testing.T, s butler.Store) {
	for _, state := range []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning, butler.StateFinished} {
		r := newRun(butler.TaskName("task-"+string(state)), state, at(0))
		r.Trigger, r.Queue, r.JobID = butler.TriggerStartTask, butler.QueueManual, 42
		r.Summary, r.Step, r.Progress = "summary of "+string(state), "step of "+string(state), 7
		if state == butler.StateFinished {
			r.Outcome, r.Error = butler.OutcomeFailed, "it broke"
		}
		want := *r
		got, err := s.CreateRun(t.Context(), r, nil)
		if err != nil {
			t.Fatalf("CreateRun(%s): %v", state, err)
		}
		if got.ID <= 0 {
			t.Errorf("CreateRun(%s) ID = %d, want > 0", state, got.ID)
		}
		if r.ID != got.ID {
			t.Errorf("CreateRun(%s) set r.ID = %d, returned ID %d; want them equal", state, r.ID, got.ID)
		}
		if got.UUID == "" || r.UUID != got.UUID {
			t.Errorf("CreateRun(%s) with no UUID: returned UUID %q, r.UUID %q; want both set and equal", state, got.UUID, r.UUID)
		}
		want.ID, want.UUID = got.ID, got.UUID
		checkRun(t, "CreateRun returned", got, want)
		checkRun(t, "Run after CreateRun", mustRun(t, s, got.ID), want)
	}
}

func testCreateRunIncreasingIDs(t *testing.T, s butler.Store) {
	var last int64
	for i := range 10 {
		task := butler.TaskName(fmt.Sprintf("task-%d", i%3))
		state := butler.StateFinished
		if i%3 == 0 && i > 0 {
			state = butler.StateQueued
			task = butler.TaskName(fmt.Sprintf("active-%d", i))
		}
		got := mustCreate(t, s, newRun(task, state, at(time.Duration(i)*time.Second)))
		if got.ID <= last {
			t.Errorf("run %d got ID %d after ID %d; want increasing IDs", i, got.ID, last)
		}
		last = got.ID
	}
}

func testCreateRunSetsCreatedAt(t *testing.T, s butler.Store) {
	r := newRun("t", butler.StateScheduled, time.Time{})
	r.ScheduledAt = at(0)
	before := time.Now()
	got := mustCreate(t, s, r)
	after := time.Now()
	if got.CreatedAt.IsZero() || r.CreatedAt.IsZero() {
		t.Fatalf("CreateRun with no CreatedAt: returned %v, r.CreatedAt %v; want both set", got.CreatedAt, r.CreatedAt)
	}
	// Allow a second of clock skew for a store that asks its server.
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(after.Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want between %v and %v", got.CreatedAt, before, after)
	}
	if !sameTime(r.CreatedAt, got.CreatedAt) {
		t.Errorf("r.CreatedAt = %v, returned CreatedAt = %v; want them equal", r.CreatedAt, got.CreatedAt)
	}
	checkRun(t, "Run", mustRun(t, s, got.ID), got)
}

func testCreateRunDuplicateUUID(t *testing.T, s butler.Store) {
	// A UUID that is already taken is an error of its own, not a task's
	// active run: the active-run check must not swallow it.
	first := mustCreate(t, s, newRun("t", butler.StateFinished, at(0)))
	r := newRun("u", butler.StateQueued, at(time.Hour))
	r.UUID = first.UUID
	got, err := s.CreateRun(t.Context(), r, nil)
	if err == nil {
		t.Fatalf("CreateRun with a taken UUID succeeded: %+v", got)
	}
	if errors.Is(err, butler.ErrActiveRun) || strings.Contains(err.Error(), "active run") {
		t.Fatalf("CreateRun with a taken UUID: err = %v, want an error that is not about active runs", err)
	}
	if runs := mustRuns(t, s, butler.RunFilter{Task: "u"}); len(runs) != 0 {
		t.Errorf("runs of u after the refused insert: %d, want 0", len(runs))
	}
}

func testCreateRunActiveRun(t *testing.T, s butler.Store) {
	active := []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning}
	for _, state := range active {
		for _, second := range active {
			task := butler.TaskName(fmt.Sprintf("%s-then-%s", state, second))
			existing := mustCreate(t, s, newRun(task, state, at(0)))
			r := newRun(task, second, at(time.Hour))
			r.Trigger = butler.TriggerForce
			got, err := s.CreateRun(t.Context(), r, nil)
			if !errors.Is(err, butler.ErrActiveRun) {
				t.Errorf("%s: second CreateRun (%s): err = %v, want ErrActiveRun", task, second, err)
				continue
			}
			checkRun(t, string(task)+": run returned with ErrActiveRun", got, existing)
			checkIDs(t, string(task)+": runs of the task", mustRuns(t, s, butler.RunFilter{Task: task}), existing.ID)
		}
	}
	if n := len(mustActive(t, s)); n != 9 {
		t.Errorf("ActiveRuns has %d runs, want 9", n)
	}
}

func testCreateRunAfterFinish(t *testing.T, s butler.Store) {
	first := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, first.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Minute)})
	second := mustCreate(t, s, newRun("t", butler.StateScheduled, at(time.Hour)))
	if second.ID <= first.ID {
		t.Errorf("second run ID %d, want > %d", second.ID, first.ID)
	}
	mustFinish(t, s, second.ID, []butler.RunState{butler.StateScheduled}, butler.Finish{Outcome: butler.OutcomeSkipped, EndedAt: at(2 * time.Hour)})
	third := mustCreate(t, s, newRun("t", butler.StateQueued, at(3*time.Hour)))
	checkIDs(t, "runs of t", mustRuns(t, s, butler.RunFilter{Task: "t"}), third.ID, second.ID, first.ID)
	checkIDs(t, "active runs", mustActive(t, s), third.ID)
}

func testCreateRunFinishedBesideActive(t *testing.T, s butler.Store) {
	// A finished run (a skip, recorded in the history) is no active run: it
	// may be created while the task has one, and any number of them.
	active := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	f1 := mustCreate(t, s, newRun("t", butler.StateFinished, at(time.Minute)))
	f2 := mustCreate(t, s, newRun("t", butler.StateFinished, at(2*time.Minute)))
	checkIDs(t, "runs of t", mustRuns(t, s, butler.RunFilter{Task: "t"}), f2.ID, f1.ID, active.ID)
	checkIDs(t, "active runs", mustActive(t, s), active.ID)
}

func testCreateRunTasksIndependent(t *testing.T, s butler.Store) {
	a := mustCreate(t, s, newRun("a", butler.StateRunning, at(0)))
	b := mustCreate(t, s, newRun("b", butler.StateScheduled, at(time.Second)))
	c := mustCreate(t, s, newRun("c", butler.StateQueued, at(2*time.Second)))
	checkIDs(t, "active runs", mustActive(t, s), a.ID, b.ID, c.ID)
	// Finishing one task's run frees that task only.
	mustFinish(t, s, a.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeFailed, EndedAt: at(time.Minute)})
	if _, err := s.CreateRun(t.Context(), newRun("b", butler.StateScheduled, at(time.Hour)), nil); !errors.Is(err, butler.ErrActiveRun) {
		t.Errorf("CreateRun(b) while b is scheduled: err = %v, want ErrActiveRun", err)
	}
	a2 := mustCreate(t, s, newRun("a", butler.StateScheduled, at(time.Hour)))
	checkIDs(t, "active runs", mustActive(t, s), b.ID, c.ID, a2.ID)
}

func testCreateRunConcurrent(t *testing.T, s butler.Store) {
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		runs  [n]butler.Run
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			r := newRun("t", butler.StateQueued, at(time.Duration(i)*time.Second))
			r.Step = fmt.Sprintf("goroutine %d", i)
			<-start
			runs[i], errs[i] = s.CreateRun(t.Context(), r, nil)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both created an active run of t", winner, i)
			}
			winner = i
		case !errors.Is(err, butler.ErrActiveRun):
			t.Errorf("goroutine %d: err = %v, want nil or ErrActiveRun", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine created the run")
	}
	won := runs[winner]
	for i, err := range errs {
		if errors.Is(err, butler.ErrActiveRun) {
			checkRun(t, fmt.Sprintf("goroutine %d: run returned with ErrActiveRun", i), runs[i], won)
		}
	}
	active := mustActive(t, s)
	checkIDs(t, "active runs", active, won.ID)
	checkIDs(t, "runs of t", mustRuns(t, s, butler.RunFilter{Task: "t"}), won.ID)
}

func testCreateRunRacesFinish(t *testing.T, s butler.Store) {
	// CreateRun while another goroutine ends the active run: it either makes
	// a run or returns the one that was active, never another error.
	const rounds = 100
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		done  = make(chan struct{})
	)
	wg.Go(func() {
		defer close(done)
		<-start
		for i := range rounds {
			r, err := s.CreateRun(t.Context(), newRun("t", butler.StateScheduled, at(time.Duration(i)*time.Second)), nil)
			switch {
			case err == nil:
			case errors.Is(err, butler.ErrActiveRun):
				if r.ID == 0 || r.Task != "t" {
					t.Errorf("round %d: ErrActiveRun came with run %+v, want the active run of t", i, r)
				}
			default:
				t.Errorf("round %d: CreateRun: %v", i, err)
				return
			}
		}
	})
	wg.Go(func() {
		<-start
		for {
			select {
			case <-done:
				return
			default:
			}
			active, err := s.ActiveRuns(t.Context())
			if err != nil {
				t.Errorf("ActiveRuns: %v", err)
				return
			}
			for _, r := range active {
				if _, _, err := s.FinishRun(t.Context(), r.ID, []butler.RunState{butler.StateScheduled}, butler.Finish{Outcome: butler.OutcomeStopped, EndedAt: at(time.Hour)}); err != nil {
					t.Errorf("FinishRun: %v", err)
					return
				}
			}
		}
	})
	close(start)
	wg.Wait()
	if n := len(mustActive(t, s)); n > 1 {
		t.Errorf("%d active runs of t, want at most 1", n)
	}
}

func testSaveSettingsCanceledHoldsNothing(t *testing.T, s butler.Store) {
	// A save whose caller goes away while it runs (the context canceled at
	// each of the times the store looks at it in turn, one of them while
	// the large second value is on its way to the database) leaves nothing
	// behind that a later save would wait for. On PostgreSQL, a statement
	// cut off in the middle of its message left the server waiting for the
	// rest of it, its transaction holding the first value's row, until the
	// driver gave up on the connection fifteen seconds later.
	big := strings.Repeat("x", 16<<20)
	for k := 0; ; k++ {
		if k > 1000 {
			t.Fatalf("SaveSettings still looks at its context after %d times", k)
		}
		ctx := newCountdownContext(t.Context(), k)
		err := s.SaveSettings(ctx, map[string]string{"a": fmt.Sprint(k), "b": big})
		// Five seconds, well above a save's milliseconds and well below the
		// fifteen seconds of a row held by a connection left behind.
		next, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		nerr := s.SaveSettings(next, map[string]string{"a": "next"})
		cancel()
		if nerr != nil {
			t.Fatalf("save canceled at look %d (%v): the next save failed: %v", k, err, nerr)
		}
		if err == nil && !ctx.tripped() {
			break
		}
	}
}

func testSaveSettingsConcurrent(t *testing.T, s butler.Store) {
	// Servers sharing a database save the same settings at once (a map:
	// its order differs from call to call). None may fail.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				values := map[string]string{}
				for k := range 12 {
					values[fmt.Sprintf("setting%02d", k)] = fmt.Sprintf("%d-%d", w, i)
				}
				if err := s.SaveSettings(t.Context(), values); err != nil {
					t.Errorf("writer %d, round %d: SaveSettings: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := mustSettings(t, s); len(got) != 12 {
		t.Errorf("%d settings stored, want 12", len(got))
	}
}

func testManyWritersOfRuns(t *testing.T, s butler.Store) {
	// What several servers sharing one database do at once: start-alls of
	// the same tasks (given in any order), single starts, stop-alls of
	// whatever waits, ends of single runs. None may fail, however their
	// statements interleave (on PostgreSQL, two transactions that take the
	// same rows in opposite orders deadlock, and one of them fails).
	tasks := []butler.TaskName{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	const rounds = 30
	waiting := []butler.RunState{butler.StateScheduled, butler.StateQueued}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			<-start
			for i := range rounds {
				var rs []*butler.Run
				for _, task := range tasks {
					if rng.IntN(4) > 0 {
						rs = append(rs, newRun(task, butler.StateScheduled, at(time.Duration(i)*time.Second)))
					}
				}
				rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
				_, errs, err := s.CreateRuns(t.Context(), rs, nil)
				if err != nil {
					t.Errorf("creator %d, round %d: CreateRuns of %d runs: %v", w, i, len(rs), err)
					return
				}
				for j, err := range errs {
					if err != nil && !errors.Is(err, butler.ErrActiveRun) {
						t.Errorf("creator %d, round %d: CreateRuns refused %s: %v", w, i, rs[j].Task, err)
					}
				}
			}
		})
	}
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			<-start
			for i := range rounds {
				active, err := s.ActiveRuns(t.Context())
				if err != nil {
					t.Errorf("stopper %d: ActiveRuns: %v", w, err)
					return
				}
				f := butler.Finish{Outcome: butler.OutcomeSkipped, Reason: "removed by stop", EndedAt: at(time.Hour), Progress: -1}
				if w == 0 && len(active) > 0 {
					// One run at a time.
					r := active[rng.IntN(len(active))]
					if _, _, err := s.FinishRun(t.Context(), r.ID, waiting, f); err != nil {
						t.Errorf("stopper %d, round %d: FinishRun: %v", w, i, err)
						return
					}
					continue
				}
				ids := make([]int64, len(active))
				for j, r := range active {
					ids[j] = r.ID
				}
				rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				if _, err := s.FinishRuns(t.Context(), ids, waiting, f, nil); err != nil {
					t.Errorf("stopper %d, round %d: FinishRuns of %d runs: %v", w, i, len(ids), err)
					return
				}
				// A stop-all keeps the stopped tasks out of the window.
				stopped := slices.Clone(tasks)
				rng.Shuffle(len(stopped), func(i, j int) { stopped[i], stopped[j] = stopped[j], stopped[i] })
				if err := s.Suppress(t.Context(), stopped, schedule.Day{Year: 2025, Month: time.March, Day: 14 + i%2}); err != nil {
					t.Errorf("stopper %d, round %d: Suppress: %v", w, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	seen := map[butler.TaskName]bool{}
	for _, r := range mustActive(t, s) {
		if seen[r.Task] {
			t.Errorf("two active runs of %s", r.Task)
		}
		seen[r.Task] = true
	}
}

func testRunNotFound(t *testing.T, s butler.Store) {
	check := func(id int64) {
		t.Helper()
		_, err := s.Run(t.Context(), id)
		if err == nil {
			t.Errorf("Run(%d): no error, want ENOTFOUND", id)
		} else if code := butler.ErrorCode(err); code != butler.ENOTFOUND {
			t.Errorf("Run(%d): error %v has code %q, want %q", id, err, code, butler.ENOTFOUND)
		}
	}
	check(1)
	check(12345)
	r := mustCreate(t, s, finishedRun("t", butler.OutcomeSucceeded, at(0), at(time.Minute)))
	check(r.ID + 1)
	check(-1)
	if n, err := s.PruneRuns(t.Context(), at(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneRuns = %d, %v; want 1, nil", n, err)
	}
	check(r.ID)
}

func testCreateRunUUID(t *testing.T, s butler.Store) {
	// Every run gets its own UUID when it has none.
	seen := map[string]int64{}
	for i := range 20 {
		state := butler.StateFinished
		if i%4 == 0 {
			state = butler.StateScheduled
		}
		got := mustCreate(t, s, newRun(butler.TaskName(fmt.Sprintf("t%d", i)), state, at(time.Duration(i)*time.Second)))
		if got.UUID == "" {
			t.Fatalf("run %d has no UUID", got.ID)
		}
		if other, dup := seen[got.UUID]; dup {
			t.Errorf("runs %d and %d share UUID %q", other, got.ID, got.UUID)
		}
		seen[got.UUID] = got.ID
	}
	// A UUID the caller sets is kept.
	const uuid = "0b7c5a1e-3f4d-4c2b-9a8e-1d2c3b4a5f60"
	r := newRun("given", butler.StateQueued, at(time.Hour))
	r.UUID = uuid
	got := mustCreate(t, s, r)
	if got.UUID != uuid || r.UUID != uuid {
		t.Errorf("CreateRun with UUID %q: returned %q, r.UUID %q; want it kept", uuid, got.UUID, r.UUID)
	}
	if stored := mustRun(t, s, got.ID); stored.UUID != uuid {
		t.Errorf("stored UUID %q, want %q", stored.UUID, uuid)
	}
	// The UUID survives the run's life.
	if ok, err := s.StartRun(t.Context(), got.ID, "n", at(2*time.Hour)); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	mustFinish(t, s, got.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(3 * time.Hour)})
	if stored := mustRun(t, s, got.ID); stored.UUID != uuid {
		t.Errorf("finished run UUID %q, want %q", stored.UUID, uuid)
	}
	// The active run returned with ErrActiveRun carries its own UUID.
	active := mustCreate(t, s, newRun("busy", butler.StateRunning, at(0)))
	other, err := s.CreateRun(t.Context(), newRun("busy", butler.StateScheduled, at(time.Hour)), nil)
	if !errors.Is(err, butler.ErrActiveRun) || other.UUID != active.UUID {
		t.Errorf("second CreateRun of busy = UUID %q, %v; want the active run's UUID %q and ErrActiveRun", other.UUID, err, active.UUID)
	}
}

func testRunByUUID(t *testing.T, s butler.Store) {
	notFound := func(uuid string) {
		t.Helper()
		_, err := s.RunByUUID(t.Context(), uuid)
		if err == nil {
			t.Errorf("RunByUUID(%q): no error, want ENOTFOUND", uuid)
		} else if code := butler.ErrorCode(err); code != butler.ENOTFOUND {
			t.Errorf("RunByUUID(%q): error %v has code %q, want %q", uuid, err, code, butler.ENOTFOUND)
		}
	}
	notFound("0b7c5a1e-3f4d-4c2b-9a8e-1d2c3b4a5f60")
	notFound("")

	var runs []butler.Run
	for i, state := range []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning, butler.StateFinished} {
		runs = append(runs, mustCreate(t, s, newRun(butler.TaskName(fmt.Sprintf("t%d", i)), state, at(time.Duration(i)*time.Second))))
	}
	for _, want := range runs {
		got, err := s.RunByUUID(t.Context(), want.UUID)
		if err != nil {
			t.Errorf("RunByUUID(%q): %v", want.UUID, err)
			continue
		}
		checkRun(t, "RunByUUID", got, want)
	}
	// Runs have no empty UUID to be found by.
	notFound("")
	notFound(runs[0].UUID + "x")
	if len(runs[0].UUID) > 1 {
		notFound(runs[0].UUID[1:])
	}

	// A pruned run is gone.
	finished := runs[len(runs)-1]
	if n, err := s.PruneRuns(t.Context(), finished.EndedAt.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("PruneRuns = %d, %v; want 1, nil", n, err)
	}
	notFound(finished.UUID)
}

// --- A run's life ---

func testQueueRun(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateScheduled, at(0)))
	returned, ok, err := s.QueueRun(t.Context(), r.ID, at(time.Minute), nil)
	if err != nil || !ok {
		t.Fatalf("QueueRun of a scheduled run = %v, %v; want true, nil", ok, err)
	}
	got := mustRun(t, s, r.ID)
	checkRun(t, "the run QueueRun returned", returned, got)
	if got.State != butler.StateQueued {
		t.Errorf("after QueueRun, State = %q, want queued", got.State)
	}
	// The rest of the run is kept; ScheduledAt may record the queueing.
	want := r
	want.State, want.ScheduledAt = butler.StateQueued, got.ScheduledAt
	checkRun(t, "after QueueRun", got, want)

	// Only from scheduled.
	queued := got
	if _, ok, err := s.QueueRun(t.Context(), r.ID, at(2*time.Minute), nil); err != nil || ok {
		t.Errorf("QueueRun of a queued run = %v, %v; want false, nil", ok, err)
	}
	checkUnchanged(t, s, "queued run after a second QueueRun", queued)

	running := mustCreate(t, s, newRun("u", butler.StateRunning, at(0)))
	finished := mustCreate(t, s, newRun("v", butler.StateFinished, at(0)))
	for _, other := range []butler.Run{running, finished} {
		if _, ok, err := s.QueueRun(t.Context(), other.ID, at(time.Minute), nil); err != nil || ok {
			t.Errorf("QueueRun of a %s run = %v, %v; want false, nil", other.State, ok, err)
		}
		checkUnchanged(t, s, "after QueueRun of a "+string(other.State)+" run", other)
	}
	if _, ok, err := s.QueueRun(t.Context(), finished.ID+100, at(time.Minute), nil); err != nil || ok {
		t.Errorf("QueueRun of an unknown run = %v, %v; want false, nil", ok, err)
	}
}

// countQueued counts the queued runs that tx sees.
func countQueued(t *testing.T, tx butler.Tx) int {
	t.Helper()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM butler_run WHERE state = 'queued'`).Scan(&n); err != nil {
		t.Fatalf("read runs within the enqueue's transaction: %v", err)
	}
	return n
}

// writeInTx writes, as a queue's insert of jobs would, a setting named key
// through tx, the transaction an enqueue is given.
func writeInTx(t *testing.T, tx butler.Tx, key string) {
	t.Helper()
	if _, err := tx.Exec(`INSERT INTO butler_setting (id, value, updated_at) VALUES ('` + key + `', 'enqueued', 0)`); err != nil {
		t.Fatalf("write within the enqueue's transaction: %v", err)
	}
}

// written reports whether the setting key that writeInTx wrote was
// committed.
func written(t *testing.T, s butler.Store, key string) bool {
	t.Helper()
	settings, err := s.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, ok := settings[key]
	return ok
}

func testCreateRunEnqueue(t *testing.T, s butler.Store) {
	// The job is inserted in the transaction that creates the run: the
	// enqueue is given the run with its id, what it writes commits with the
	// run, and the job's id is recorded.
	var seen butler.Run
	got, err := s.CreateRun(t.Context(), newRun("t", butler.StateQueued, at(0)), each(func(ctx context.Context, tx butler.Tx, r butler.Run) (int64, error) {
		seen = r
		writeInTx(t, tx, "job-of-t")
		return 77, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if seen.ID != got.ID || seen.ID == 0 || got.JobID != 77 || mustRun(t, s, got.ID).JobID != 77 {
		t.Fatalf("enqueue saw run %d; created %d with job %d (stored %d); want the same run, job 77", seen.ID, got.ID, got.JobID, mustRun(t, s, got.ID).JobID)
	}
	if !written(t, s, "job-of-t") {
		t.Fatal("what the enqueue wrote in its transaction was not committed with the run")
	}
	// A failed enqueue leaves no run, and nothing it wrote.
	errQueue := errors.New("the queue refused")
	_, err = s.CreateRun(t.Context(), newRun("u", butler.StateQueued, at(0)), each(func(_ context.Context, tx butler.Tx, _ butler.Run) (int64, error) {
		writeInTx(t, tx, "job-of-u")
		return 0, errQueue
	}))
	if !errors.Is(err, errQueue) {
		t.Fatalf("CreateRun with a failing enqueue: %v, want its error", err)
	}
	if written(t, s, "job-of-u") {
		t.Fatal("a failed CreateRun committed what its enqueue wrote")
	}
	active, err := s.ActiveRuns(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.Task == "u" {
			t.Fatalf("a run whose enqueue failed was kept: %+v", r)
		}
	}
	// Runs that are not queued get no job.
	called := false
	if _, err := s.CreateRun(t.Context(), newRun("v", butler.StateScheduled, at(time.Hour)), each(func(context.Context, butler.Tx, butler.Run) (int64, error) {
		called = true
		return 1, nil
	})); err != nil || called {
		t.Fatalf("CreateRun of a scheduled run: %v, enqueue called %v; want no job", err, called)
	}
}

func testCreateRuns(t *testing.T, s butler.Store) {
	busy := mustCreate(t, s, newRun("busy", butler.StateRunning, at(0)))
	rs := []*butler.Run{
		newRun("a", butler.StateQueued, at(0)),
		newRun("busy", butler.StateQueued, at(0)),
		newRun("b", butler.StateScheduled, at(time.Hour)),
		newRun("c", butler.StateFinished, at(0)),
		newRun("f", butler.StateQueued, at(0)),
		newRun("a", butler.StateQueued, at(0)), // a's first run, made just above, is active
	}
	calls := 0
	var given []int64
	runs, errs, err := s.CreateRuns(t.Context(), rs, func(ctx context.Context, tx butler.Tx, qs []butler.Run) ([]int64, error) {
		calls++
		writeInTx(t, tx, "jobs-of-a-batch")
		var ids []int64
		for i, q := range qs {
			given = append(given, q.ID)
			ids = append(ids, int64(101+i))
		}
		return ids, nil
	})
	if err != nil || len(runs) != len(rs) || len(errs) != len(rs) {
		t.Fatalf("CreateRuns = %d runs, %d errs, %v", len(runs), len(errs), err)
	}
	if !errors.Is(errs[1], butler.ErrActiveRun) || runs[1].ID != busy.ID {
		t.Errorf("the run of a task with an active run: %+v %v; want that active run and ErrActiveRun", runs[1], errs[1])
	}
	if !errors.Is(errs[5], butler.ErrActiveRun) || runs[5].ID != runs[0].ID || runs[5].JobID != 101 {
		t.Errorf("a second run of a task in one batch: %+v %v; want the first (with its job 101) and ErrActiveRun", runs[5], errs[5])
	}
	for _, i := range []int{0, 2, 3, 4} {
		if errs[i] != nil || runs[i].ID == 0 || rs[i].ID != runs[i].ID {
			t.Errorf("run %d (%s): %+v %v; want it created", i, rs[i].Task, runs[i], errs[i])
			continue
		}
		checkRun(t, "created in a batch", mustRun(t, s, runs[i].ID), runs[i])
	}
	// One call for all the queued runs, in order, and each gets its job.
	if calls != 1 || !slices.Equal(given, []int64{runs[0].ID, runs[4].ID}) || runs[0].JobID != 101 || runs[4].JobID != 102 ||
		rs[4].JobID != 102 || mustRun(t, s, runs[4].ID).JobID != 102 {
		t.Errorf("enqueue called %d times with runs %v; jobs %d, %d; want once with %d, %d and jobs 101, 102",
			calls, given, runs[0].JobID, runs[4].JobID, runs[0].ID, runs[4].ID)
	}
	if !written(t, s, "jobs-of-a-batch") {
		t.Error("what the enqueue wrote in its transaction was not committed with the runs")
	}
	// One failure creates none of them.
	errQueue := errors.New("the queue refused")
	_, _, err = s.CreateRuns(t.Context(), []*butler.Run{newRun("d", butler.StateScheduled, at(time.Hour)), newRun("e", butler.StateQueued, at(0))},
		each(func(context.Context, butler.Tx, butler.Run) (int64, error) { return 0, errQueue }))
	if !errors.Is(err, errQueue) {
		t.Fatalf("CreateRuns with a failing enqueue: %v", err)
	}
	// So does an enqueue that answers for fewer runs than it was given.
	_, _, err = s.CreateRuns(t.Context(), []*butler.Run{newRun("d", butler.StateQueued, at(0)), newRun("e", butler.StateQueued, at(0))},
		func(context.Context, butler.Tx, []butler.Run) ([]int64, error) { return []int64{1}, nil })
	if err == nil {
		t.Fatal("CreateRuns with an enqueue that lost a job: no error")
	}
	active, err := s.ActiveRuns(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.Task == "d" || r.Task == "e" {
			t.Fatalf("a run of a failed batch was kept: %+v", r)
		}
	}
}

// testCreateManyRuns creates the runs of 450 distinct tasks in one call, as
// a start-all of a large catalog does: more runs than one statement of a
// store may insert, three of them refused for their task's active run, one
// in each part.
func testCreateManyRuns(t *testing.T, s butler.Store) {
	const n = 450
	busy := map[int]butler.Run{}
	for _, i := range []int{5, 250, 449} {
		busy[i] = mustCreate(t, s, newRun(butler.TaskName(fmt.Sprintf("many%03d", i)), butler.StateRunning, at(0)))
	}
	rs := make([]*butler.Run, n)
	for i := range rs {
		state := butler.StateQueued
		if i%7 == 0 {
			state = butler.StateScheduled
		}
		rs[i] = newRun(butler.TaskName(fmt.Sprintf("many%03d", i)), state, at(time.Duration(i)*time.Second))
		rs[i].Reason = fmt.Sprintf("reason %d", i)
	}
	jobOf := func(runID int64) int64 { return 1_000_000 + runID }
	var given []int64
	runs, errs, err := s.CreateRuns(t.Context(), rs, func(ctx context.Context, tx butler.Tx, qs []butler.Run) ([]int64, error) {
		var ids []int64
		for _, q := range qs {
			given = append(given, q.ID)
			ids = append(ids, jobOf(q.ID))
		}
		return ids, nil
	})
	if err != nil || len(runs) != n || len(errs) != n {
		t.Fatalf("CreateRuns = %d runs, %d errs, %v", len(runs), len(errs), err)
	}
	ids := map[int64]bool{}
	queued := 0
	for i, r := range runs {
		if b, ok := busy[i]; ok {
			if !errors.Is(errs[i], butler.ErrActiveRun) || r.ID != b.ID {
				t.Errorf("run %d of a task with an active run: %+v %v; want run %d and ErrActiveRun", i, r, errs[i], b.ID)
			}
			continue
		}
		if errs[i] != nil || r.ID == 0 || rs[i].ID != r.ID || ids[r.ID] {
			t.Errorf("run %d (%s): id %d (given back %d, seen before %v), %v; want it created with an id of its own",
				i, rs[i].Task, r.ID, rs[i].ID, ids[r.ID], errs[i])
			continue
		}
		ids[r.ID] = true
		want := r
		if rs[i].State == butler.StateQueued {
			queued++
			if r.JobID != jobOf(r.ID) {
				t.Errorf("run %d: job %d, want %d", i, r.JobID, jobOf(r.ID))
			}
		} else if r.JobID != 0 {
			t.Errorf("scheduled run %d got job %d", i, r.JobID)
		}
		checkRun(t, fmt.Sprintf("run %d of %d", i, n), mustRun(t, s, r.ID), want)
	}
	if len(given) != queued {
		t.Errorf("enqueue was given %d runs, want the %d queued", len(given), queued)
	}
}

// each makes an EnqueueFunc of a function that enqueues one run.
func each(f func(ctx context.Context, tx butler.Tx, r butler.Run) (int64, error)) butler.EnqueueFunc {
	return func(ctx context.Context, tx butler.Tx, rs []butler.Run) ([]int64, error) {
		ids := make([]int64, len(rs))
		for i, r := range rs {
			id, err := f(ctx, tx, r)
			if err != nil {
				return nil, err
			}
			ids[i] = id
		}
		return ids, nil
	}
}

func testQueueRunEnqueue(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateScheduled, at(0)))
	errQueue := errors.New("the queue refused")
	if _, ok, err := s.QueueRun(t.Context(), r.ID, at(time.Minute), each(func(context.Context, butler.Tx, butler.Run) (int64, error) {
		return 0, errQueue
	})); !errors.Is(err, errQueue) || ok {
		t.Fatalf("QueueRun with a failing enqueue = %v, %v; want its error", ok, err)
	}
	checkUnchanged(t, s, "a run whose enqueue failed", r)
	got, ok, err := s.QueueRun(t.Context(), r.ID, at(time.Minute), each(func(ctx context.Context, tx butler.Tx, q butler.Run) (int64, error) {
		if q.ID != r.ID || q.State != butler.StateQueued || countQueued(t, tx) != 1 {
			t.Errorf("enqueue given %+v; want the run, queued in this transaction", q)
		}
		return 88, nil
	}))
	if err != nil || !ok || got.JobID != 88 || got.State != butler.StateQueued || mustRun(t, s, r.ID).JobID != 88 {
		t.Fatalf("QueueRun = %+v, %v, %v; want the run queued with job 88", got, ok, err)
	}
}

func testMarkStopping(t *testing.T, s butler.Store) {
	running := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	ok, err := s.MarkStopping(t.Context(), running.ID, "stopped by request")
	if err != nil || !ok {
		t.Fatalf("MarkStopping of a running run = %v, %v", ok, err)
	}
	got := mustRun(t, s, running.ID)
	if got.State != butler.StateStopping || got.Reason != "stopped by request" {
		t.Fatalf("after MarkStopping: %s %q", got.State, got.Reason)
	}
	// Still the task's active run: no other may be made.
	if _, err := s.CreateRun(t.Context(), newRun("t", butler.StateQueued, at(time.Hour)), nil); !errors.Is(err, butler.ErrActiveRun) {
		t.Fatalf("CreateRun beside a stopping run: %v, want ErrActiveRun", err)
	}
	if ok, err := s.MarkStopping(t.Context(), running.ID, "again"); err != nil || ok {
		t.Fatalf("MarkStopping of a stopping run = %v, %v; want false", ok, err)
	}
	if err := s.SaveProgress(t.Context(), running.ID, 60, "winding down"); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, s, running.ID); got.Progress != 60 || got.Reason != "stopped by request" {
		t.Fatalf("progress of a stopping run not kept, or its reason changed: %+v", got)
	}
	if _, ok, err := s.FinishRun(t.Context(), running.ID, []butler.RunState{butler.StateRunning, butler.StateStopping},
		butler.Finish{Outcome: butler.OutcomeStopped, Reason: "stopped by request", EndedAt: at(time.Minute)}); err != nil || !ok {
		t.Fatalf("FinishRun of a stopping run = %v, %v", ok, err)
	}
	for _, st := range []butler.RunState{butler.StateScheduled, butler.StateQueued} {
		r := mustCreate(t, s, newRun(butler.TaskName("w"+string(st)), st, at(0)))
		if ok, err := s.MarkStopping(t.Context(), r.ID, "x"); err != nil || ok {
			t.Fatalf("MarkStopping of a %s run = %v, %v; want false", st, ok, err)
		}
	}
}

func testSetRunProcess(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	p := butler.ProcessGroup{PGID: 4242, Start: 1<<40 + 7, Boot: "b00t/pid:[4026531836]"}
	if err := s.SetRunProcess(t.Context(), r.ID, p); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, s, r.ID); got.Process != p {
		t.Fatalf("process group %+v, want %+v", got.Process, p)
	}
	active, err := s.ActiveRuns(t.Context())
	if err != nil || len(active) != 1 || active[0].Process != p {
		t.Fatalf("ActiveRuns %+v %v, want the run with its group", active, err)
	}
}

func testSetRunJob(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateQueued, at(0)))
	if err := s.SetRunJob(t.Context(), r.ID, 9001); err != nil {
		t.Fatalf("SetRunJob: %v", err)
	}
	want := r
	want.JobID = 9001
	checkUnchanged(t, s, "after SetRunJob", want)
	if err := s.SetRunJob(t.Context(), r.ID, 9002); err != nil {
		t.Fatalf("SetRunJob again: %v", err)
	}
	want.JobID = 9002
	checkUnchanged(t, s, "after a second SetRunJob", want)
	// The job survives the run's life.
	if ok, err := s.StartRun(t.Context(), r.ID, "n1", at(time.Minute)); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour)})
	if got := mustRun(t, s, r.ID); got.JobID != 9002 {
		t.Errorf("finished run JobID = %d, want 9002", got.JobID)
	}
}

func testStartRun(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateQueued, at(0)))
	started := at(3 * time.Minute)
	ok, err := s.StartRun(t.Context(), r.ID, "node-b", started)
	if err != nil || !ok {
		t.Fatalf("StartRun of a queued run = %v, %v; want true, nil", ok, err)
	}
	want := r
	want.State, want.Node, want.StartedAt = butler.StateRunning, "node-b", started
	checkUnchanged(t, s, "after StartRun", want)

	// Only from queued: a second start (another node) changes nothing.
	if ok, err := s.StartRun(t.Context(), r.ID, "node-c", at(4*time.Minute)); err != nil || ok {
		t.Errorf("StartRun of a running run = %v, %v; want false, nil", ok, err)
	}
	checkUnchanged(t, s, "running run after a second StartRun", want)

	scheduled := mustCreate(t, s, newRun("u", butler.StateScheduled, at(0)))
	finished := mustCreate(t, s, newRun("v", butler.StateFinished, at(0)))
	for _, other := range []butler.Run{scheduled, finished} {
		if ok, err := s.StartRun(t.Context(), other.ID, "node-b", at(time.Minute)); err != nil || ok {
			t.Errorf("StartRun of a %s run = %v, %v; want false, nil", other.State, ok, err)
		}
		checkUnchanged(t, s, "after StartRun of a "+string(other.State)+" run", other)
	}
	// A queued run that was finished (removed) before it started.
	removed := mustCreate(t, s, newRun("w", butler.StateQueued, at(0)))
	mustFinish(t, s, removed.ID, []butler.RunState{butler.StateQueued}, butler.Finish{Outcome: butler.OutcomeStopped, EndedAt: at(time.Minute)})
	removed = mustRun(t, s, removed.ID)
	if ok, err := s.StartRun(t.Context(), removed.ID, "node-b", at(2*time.Minute)); err != nil || ok {
		t.Errorf("StartRun of a removed run = %v, %v; want false, nil", ok, err)
	}
	checkUnchanged(t, s, "removed run after StartRun", removed)
	if ok, err := s.StartRun(t.Context(), removed.ID+100, "node-b", at(time.Minute)); err != nil || ok {
		t.Errorf("StartRun of an unknown run = %v, %v; want false, nil", ok, err)
	}
}

func testUnstartRun(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateQueued, at(0)))
	started := at(3 * time.Minute)
	if ok, err := s.StartRun(t.Context(), r.ID, "node-b", started); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	running := r
	running.State, running.Node, running.StartedAt = butler.StateRunning, "node-b", started
	// Only the start that node recorded at that instant is undone.
	for _, c := range []struct {
		node string
		at   time.Time
	}{{"node-c", started}, {"node-b", at(4 * time.Minute)}} {
		if ok, err := s.UnstartRun(t.Context(), r.ID, c.node, c.at); err != nil || ok {
			t.Errorf("UnstartRun(%s, %v) of another start = %v, %v; want false, nil", c.node, c.at, ok, err)
		}
		checkUnchanged(t, s, "after UnstartRun of another start", running)
	}
	if ok, err := s.UnstartRun(t.Context(), r.ID, "node-b", started); err != nil || !ok {
		t.Fatalf("UnstartRun = %v, %v; want true, nil", ok, err)
	}
	checkUnchanged(t, s, "after UnstartRun", r)
	// Queued as it was: it starts again.
	if ok, err := s.StartRun(t.Context(), r.ID, "node-c", at(5*time.Minute)); err != nil || !ok {
		t.Errorf("StartRun after UnstartRun = %v, %v; want true, nil", ok, err)
	}
	// A run that is stopping is not undone.
	if ok, err := s.MarkStopping(t.Context(), r.ID, "stopped by a request"); err != nil || !ok {
		t.Fatalf("MarkStopping = %v, %v", ok, err)
	}
	if ok, err := s.UnstartRun(t.Context(), r.ID, "node-c", at(5*time.Minute)); err != nil || ok {
		t.Errorf("UnstartRun of a stopping run = %v, %v; want false, nil", ok, err)
	}
}

func testSaveProgress(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	if r.Progress != -1 {
		t.Errorf("new run Progress = %d, want -1", r.Progress)
	}
	want := r
	for _, p := range []struct {
		progress int
		step     string
	}{{0, "starting"}, {40, "scanning ünïcødé"}, {100, ""}, {-1, "unknown"}} {
		if err := s.SaveProgress(t.Context(), r.ID, p.progress, p.step); err != nil {
			t.Fatalf("SaveProgress(%d, %q): %v", p.progress, p.step, err)
		}
		want.Progress, want.Step = p.progress, p.step
		checkUnchanged(t, s, fmt.Sprintf("after SaveProgress(%d, %q)", p.progress, p.step), want)
	}
}

func testFinishRun(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateQueued, at(0)))
	if ok, err := s.StartRun(t.Context(), r.ID, "node-a", at(time.Minute)); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	if err := s.SaveProgress(t.Context(), r.ID, 30, "halfway"); err != nil {
		t.Fatal(err)
	}
	f := butler.Finish{
		Outcome:  butler.OutcomeFailed,
		Reason:   "the task failed",
		Summary:  "did 3 of 10",
		Error:    "disk full",
		EndedAt:  at(time.Hour),
		Progress: 33,
		Step:     "writing",
	}
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning}, f)
	want := r
	want.State, want.Node, want.StartedAt = butler.StateFinished, "node-a", at(time.Minute)
	want.Outcome, want.Reason, want.Summary, want.Error = f.Outcome, f.Reason, f.Summary, f.Error
	want.EndedAt, want.Progress, want.Step = f.EndedAt, f.Progress, f.Step
	checkUnchanged(t, s, "after FinishRun", want)
	if got := mustActive(t, s); len(got) != 0 {
		t.Errorf("ActiveRuns after FinishRun = %v, want none", ids(got))
	}

	// Every outcome can be recorded, from every active state.
	states := []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning}
	for i, o := range butler.Outcomes() {
		state := states[i%len(states)]
		task := butler.TaskName("task-" + string(o))
		r := mustCreate(t, s, newRun(task, state, at(0)))
		f := butler.Finish{Outcome: o, Reason: "reason " + string(o), EndedAt: at(time.Duration(i) * time.Minute), Progress: -1}
		mustFinish(t, s, r.ID, []butler.RunState{state}, f)
		got := mustRun(t, s, r.ID)
		if got.State != butler.StateFinished || got.Outcome != o || got.Reason != f.Reason || !sameTime(got.EndedAt, f.EndedAt) {
			t.Errorf("finished %s run from %s: state %q outcome %q reason %q ended %v", o, state, got.State, got.Outcome, got.Reason, got.EndedAt)
		}
	}
}

func testFinishRuns(t *testing.T, s butler.Store) {
	// Waiting runs of several tasks, one running, one finished, one unknown
	// id: only the waiting ones end, all in one transaction, and come back
	// as stored.
	var waiting []butler.Run
	var ids []int64
	for i := range 3 {
		st := butler.StateQueued
		if i == 1 {
			st = butler.StateScheduled
		}
		r := mustCreate(t, s, newRun(butler.TaskName(fmt.Sprintf("w%d", i)), st, at(0)))
		waiting = append(waiting, r)
		ids = append(ids, r.ID)
	}
	running := mustCreate(t, s, newRun("running", butler.StateRunning, at(0)))
	finished := mustCreate(t, s, newRun("finished", butler.StateQueued, at(0)))
	mustFinish(t, s, finished.ID, []butler.RunState{butler.StateQueued}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Minute)})
	finished = mustRun(t, s, finished.ID)
	ids = append(ids, running.ID, finished.ID, 987654)

	f := butler.Finish{Outcome: butler.OutcomeSkipped, Reason: "removed by stop", EndedAt: at(time.Hour), Progress: -1}
	var seen []int64
	ended, err := s.FinishRuns(t.Context(), ids, []butler.RunState{butler.StateScheduled, butler.StateQueued}, f,
		func(ctx context.Context, tx butler.Tx, rs []butler.Run) error {
			for _, r := range rs {
				seen = append(seen, r.ID)
			}
			if n := countQueued(t, tx); n != 0 {
				t.Errorf("within FinishRuns' transaction %d runs are still queued, want none", n)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range ended {
		got = append(got, r.ID)
		checkUnchanged(t, s, "a run FinishRuns returned", r)
	}
	slices.Sort(got)
	slices.Sort(seen)
	want := ids[:3]
	if !slices.Equal(got, want) || !slices.Equal(seen, want) {
		t.Fatalf("FinishRuns ended %v and gave its function %v; want the waiting runs %v", got, seen, want)
	}
	for _, w := range waiting {
		r := mustRun(t, s, w.ID)
		w.State, w.Outcome, w.Reason, w.EndedAt, w.Progress = butler.StateFinished, f.Outcome, f.Reason, f.EndedAt, f.Progress
		checkRun(t, "a waiting run after FinishRuns", r, w)
	}
	checkUnchanged(t, s, "the running run after FinishRuns", running)
	checkUnchanged(t, s, "the finished run after FinishRuns", finished)

	// Nothing to end: no transaction's function is called.
	called := false
	if ended, err := s.FinishRuns(t.Context(), ids, []butler.RunState{butler.StateQueued}, f, func(context.Context, butler.Tx, []butler.Run) error {
		called = true
		return nil
	}); err != nil || len(ended) != 0 || called {
		t.Fatalf("FinishRuns of runs none of which is queued: %v, %v, function called %v; want nothing", ended, err, called)
	}
	// A success is FinishRun's.
	if _, err := s.FinishRuns(t.Context(), []int64{running.ID}, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: schedule.Day{Year: 2025, Month: time.March, Day: 14}}, nil); err == nil {
		t.Fatal("FinishRuns recording a success day: no error")
	}
	checkUnchanged(t, s, "the running run after a refused FinishRuns", running)
}

func testFinishRunsUndone(t *testing.T, s butler.Store) {
	// The function's error undoes the ends: the runs stay waiting.
	a := mustCreate(t, s, newRun("a", butler.StateQueued, at(0)))
	b := mustCreate(t, s, newRun("b", butler.StateScheduled, at(0)))
	errRefused := errors.New("the queue refused")
	_, err := s.FinishRuns(t.Context(), []int64{a.ID, b.ID}, []butler.RunState{butler.StateScheduled, butler.StateQueued},
		butler.Finish{Outcome: butler.OutcomeSkipped, EndedAt: at(time.Hour), Progress: -1},
		func(context.Context, butler.Tx, []butler.Run) error { return errRefused })
	if !errors.Is(err, errRefused) {
		t.Fatalf("FinishRuns with a failing function: %v; want its error", err)
	}
	checkUnchanged(t, s, "a queued run after an undone FinishRuns", a)
	checkUnchanged(t, s, "a scheduled run after an undone FinishRuns", b)
	// Many runs at once (more than one statement's worth).
	var ids []int64
	for i := range 1200 {
		ids = append(ids, mustCreate(t, s, newRun(butler.TaskName(fmt.Sprintf("many%04d", i)), butler.StateScheduled, at(0))).ID)
	}
	ended, err := s.FinishRuns(t.Context(), ids, []butler.RunState{butler.StateScheduled},
		butler.Finish{Outcome: butler.OutcomeSkipped, EndedAt: at(time.Hour), Progress: -1}, nil)
	if err != nil || len(ended) != len(ids) {
		t.Fatalf("FinishRuns of %d scheduled runs: %d ended, %v", len(ids), len(ended), err)
	}
}

func testFinishRunFromStates(t *testing.T, s butler.Store) {
	f := butler.Finish{Outcome: butler.OutcomeStopped, Reason: "stopped", EndedAt: at(time.Hour), Progress: 50, Step: "x"}
	all := []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning}
	for _, state := range all {
		r := mustCreate(t, s, newRun(butler.TaskName("t-"+string(state)), state, at(0)))
		// Every set of from states that leaves state out.
		for _, from := range [][]butler.RunState{
			nil,
			{},
			{butler.StateFinished},
			slices.DeleteFunc(slices.Clone(all), func(x butler.RunState) bool { return x == state }),
		} {
			_, ok, err := s.FinishRun(t.Context(), r.ID, from, f)
			if err != nil || ok {
				t.Errorf("FinishRun of a %s run from %v = %v, %v; want false, nil", state, from, ok, err)
			}
			checkUnchanged(t, s, fmt.Sprintf("%s run after FinishRun from %v", state, from), r)
		}
		mustFinish(t, s, r.ID, []butler.RunState{butler.StateFinished, state}, f)
		if got := mustRun(t, s, r.ID); got.State != butler.StateFinished {
			t.Errorf("after FinishRun from %s, State = %q", state, got.State)
		}
	}
	if _, ok, err := s.FinishRun(t.Context(), 987654, all, f); err != nil || ok {
		t.Errorf("FinishRun of an unknown run = %v, %v; want false, nil", ok, err)
	}
	if got := mustRecords(t, s); len(got) != 0 {
		t.Errorf("TaskRecords after stops = %v, want none", got)
	}
}

// testFinishRunOfNode: a Finish with a Node ends the run only when it is
// recorded as that node's.
func testFinishRunOfNode(t *testing.T, s butler.Store) {
	r := mustCreate(t, s, newRun("t", butler.StateQueued, at(0)))
	if ok, err := s.StartRun(t.Context(), r.ID, "b", at(time.Minute)); err != nil || !ok {
		t.Fatalf("StartRun on b = %v, %v", ok, err)
	}
	r = mustRun(t, s, r.ID)
	from := []butler.RunState{butler.StateRunning, butler.StateStopping}
	f := butler.Finish{Outcome: butler.OutcomeInterrupted, Reason: "its start could not be recorded", EndedAt: at(time.Hour), Progress: -1, Node: "a"}
	if _, ok, err := s.FinishRun(t.Context(), r.ID, from, f); err != nil || ok {
		t.Errorf("FinishRun by a of b's run = %v, %v; want false, nil", ok, err)
	}
	checkUnchanged(t, s, "b's run after a's FinishRun", r)
	f.Node = "b"
	if _, ok, err := s.FinishRun(t.Context(), r.ID, from, f); err != nil || !ok {
		t.Errorf("FinishRun by b of b's run = %v, %v; want true, nil", ok, err)
	}
}

func testFinishRunOnce(t *testing.T, s butler.Store) {
	// Two enders race (the run's worker and a stop): the second finds the run
	// finished and changes nothing, not even the task record.
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	first := butler.Finish{Outcome: butler.OutcomeStopped, Reason: "stopped by a person", EndedAt: at(time.Hour), Progress: 10, Step: "a"}
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning}, first)
	want := mustRun(t, s, r.ID)
	second := butler.Finish{
		Outcome: butler.OutcomeSucceeded, Summary: "done", EndedAt: at(2 * time.Hour), Progress: 100, Step: "b",
		SuccessDay: schedule.Day{Year: 2025, Month: time.March, Day: 14},
	}
	_, ok, err := s.FinishRun(t.Context(), r.ID, []butler.RunState{butler.StateRunning}, second)
	if err != nil || ok {
		t.Errorf("second FinishRun = %v, %v; want false, nil", ok, err)
	}
	checkUnchanged(t, s, "after a second FinishRun", want)
	if got := mustRecords(t, s); len(got) != 0 {
		t.Errorf("TaskRecords after a FinishRun that returned false = %v, want none", got)
	}

	// Concurrent enders: exactly one wins.
	const n = 10
	r = mustCreate(t, s, newRun("u", butler.StateRunning, at(0)))
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		oks   [n]bool
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, oks[i], errs[i] = s.FinishRun(t.Context(), r.ID, []butler.RunState{butler.StateRunning},
				butler.Finish{Outcome: butler.OutcomeFailed, Reason: fmt.Sprintf("ender %d", i), EndedAt: at(time.Hour)})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Errorf("ender %d: %v", i, errs[i])
		}
		if oks[i] {
			if winner >= 0 {
				t.Errorf("enders %d and %d both finished the run", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no ender finished the run")
	}
	if got := mustRun(t, s, r.ID); got.Reason != fmt.Sprintf("ender %d", winner) {
		t.Errorf("run Reason = %q, want the winner's %q", got.Reason, fmt.Sprintf("ender %d", winner))
	}
}

func testFinishRunSuccessRecordsTask(t *testing.T, s butler.Store) {
	day1 := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	day2 := schedule.Day{Year: 2025, Month: time.March, Day: 15}

	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: day1, Progress: 100})
	recs := mustRecords(t, s)
	rec, ok := recs["t"]
	if !ok {
		t.Fatalf("TaskRecords = %v, want a record of t", recs)
	}
	// It keeps when the run started, for the day to be counted again
	// with other hours (TaskRecord.SuccessDay).
	checkRecord(t, "after a success", rec, butler.TaskRecord{LastSuccess: day1, LastSuccessAt: at(time.Hour), LastSuccessStarted: at(2 * time.Minute)})
	if len(recs) != 1 {
		t.Errorf("TaskRecords = %v, want only t", recs)
	}

	// A later success replaces it.
	r = mustCreate(t, s, newRun("t", butler.StateQueued, at(24*time.Hour)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateQueued},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(25 * time.Hour), SuccessDay: day2})
	checkRecord(t, "after a second success", mustRecords(t, s)["t"], butler.TaskRecord{LastSuccess: day2, LastSuccessAt: at(25 * time.Hour)})
	if got := mustRecords(t, s)["t"].LastSuccessStarted; !got.IsZero() {
		t.Errorf("after a second success, of a run that never started: LastSuccessStarted %v, want it replaced by none", got)
	}

	// Another task's success is its own.
	r = mustCreate(t, s, newRun("u", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(2 * time.Hour), SuccessDay: day1})
	recs = mustRecords(t, s)
	checkRecord(t, "t after u's success", recs["t"], butler.TaskRecord{LastSuccess: day2, LastSuccessAt: at(25 * time.Hour)})
	checkRecord(t, "u after its success", recs["u"], butler.TaskRecord{LastSuccess: day1, LastSuccessAt: at(2 * time.Hour), LastSuccessStarted: at(2 * time.Minute)})
}

func testFinishRunFailureKeepsTask(t *testing.T, s butler.Store) {
	day := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	// Failures of a task that never succeeded record no success.
	for i, o := range butler.Outcomes() {
		if o == butler.OutcomeSucceeded {
			continue
		}
		r := mustCreate(t, s, newRun("never", butler.StateRunning, at(time.Duration(i)*time.Hour)))
		mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
			butler.Finish{Outcome: o, EndedAt: at(time.Duration(i)*time.Hour + time.Minute), SuccessDay: day})
	}
	if rec, ok := mustRecords(t, s)["never"]; ok {
		checkRecord(t, "task that never succeeded", rec, butler.TaskRecord{})
	}

	// Failures after a success keep it.
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: day})
	for i, o := range butler.Outcomes() {
		if o == butler.OutcomeSucceeded {
			continue
		}
		r := mustCreate(t, s, newRun("t", butler.StateRunning, at(time.Duration(i+2)*time.Hour)))
		mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
			butler.Finish{Outcome: o, EndedAt: at(time.Duration(i+3) * time.Hour), SuccessDay: day.AddDays(i + 1)})
	}
	checkRecord(t, "after failures", mustRecords(t, s)["t"], butler.TaskRecord{LastSuccess: day, LastSuccessAt: at(time.Hour)})
}

func testFinishRunRecordsItemPace(t *testing.T, s butler.Store) {
	day := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	running := []butler.RunState{butler.StateRunning}
	// A run that worked items records its pace, whatever its outcome.
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, running, butler.Finish{Outcome: butler.OutcomeStopped, EndedAt: at(time.Hour),
		Items: butler.ItemPace{Items: 120, Wall: 10 * time.Minute}})
	checkRecord(t, "after a stopped run of 120 items", mustRecords(t, s)["t"], butler.TaskRecord{ItemPace: butler.ItemPace{Items: 120, Wall: 10 * time.Minute}})

	// A success records both.
	r = mustCreate(t, s, newRun("t", butler.StateRunning, at(2*time.Hour)))
	mustFinish(t, s, r.ID, running, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(3 * time.Hour), SuccessDay: day,
		Items: butler.ItemPace{Items: 30, Wall: time.Minute + 7*time.Nanosecond}})
	want := butler.TaskRecord{LastSuccess: day, LastSuccessAt: at(3 * time.Hour), ItemPace: butler.ItemPace{Items: 30, Wall: time.Minute + 7*time.Nanosecond}}
	checkRecord(t, "after a success of 30 items", mustRecords(t, s)["t"], want)

	// A run that worked no item, or that someone else ended first, leaves
	// the pace as it was.
	r = mustCreate(t, s, newRun("t", butler.StateRunning, at(4*time.Hour)))
	mustFinish(t, s, r.ID, running, butler.Finish{Outcome: butler.OutcomeFailed, EndedAt: at(5 * time.Hour)})
	if _, ok, err := s.FinishRun(t.Context(), r.ID, running, butler.Finish{Outcome: butler.OutcomeFailed, EndedAt: at(5 * time.Hour),
		Items: butler.ItemPace{Items: 1, Wall: time.Hour}}); err != nil || ok {
		t.Errorf("second FinishRun = %v, %v; want false, nil", ok, err)
	}
	checkRecord(t, "after runs that recorded no pace", mustRecords(t, s)["t"], want)

	// Suppress keeps it; another task's pace is its own.
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, day); err != nil {
		t.Fatal(err)
	}
	want.Suppressed = day
	r = mustCreate(t, s, newRun("u", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, running, butler.Finish{Outcome: butler.OutcomeTimedOut, EndedAt: at(time.Hour),
		Items: butler.ItemPace{Items: 2, Wall: time.Second}})
	recs := mustRecords(t, s)
	checkRecord(t, "t after Suppress and u's run", recs["t"], want)
	checkRecord(t, "u after its run", recs["u"], butler.TaskRecord{ItemPace: butler.ItemPace{Items: 2, Wall: time.Second}})

	// FinishRuns records none, and refuses to be asked.
	r = mustCreate(t, s, newRun("v", butler.StateRunning, at(0)))
	if _, err := s.FinishRuns(t.Context(), []int64{r.ID}, running, butler.Finish{Outcome: butler.OutcomeInterrupted, EndedAt: at(time.Hour),
		Items: butler.ItemPace{Items: 2, Wall: time.Second}}, nil); err == nil {
		t.Error("FinishRuns with a pace = nil error; want it refused")
	}
	if got := mustRun(t, s, r.ID); got.State != butler.StateRunning {
		t.Errorf("run after a refused FinishRuns is %s; want running", got.State)
	}
	if _, ok := mustRecords(t, s)["v"]; ok {
		t.Errorf("TaskRecords has v after a refused FinishRuns")
	}
}

// --- Task records ---

func testTaskRecordsEmpty(t *testing.T, s butler.Store) {
	if got := mustRecords(t, s); len(got) != 0 {
		t.Errorf("TaskRecords of a new store = %v, want none", got)
	}
	// Runs alone make no record.
	mustCreate(t, s, newRun("t", butler.StateScheduled, at(0)))
	if rec, ok := mustRecords(t, s)["t"]; ok {
		checkRecord(t, "task with a scheduled run", rec, butler.TaskRecord{})
	}
}

func testSuppress(t *testing.T, s butler.Store) {
	d1 := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	d2 := schedule.Day{Year: 2025, Month: time.March, Day: 15}
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, d1); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	recs := mustRecords(t, s)
	checkRecord(t, "after Suppress", recs["t"], butler.TaskRecord{Suppressed: d1})
	if len(recs) != 1 {
		t.Errorf("TaskRecords = %v, want only t", recs)
	}
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, d2); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	if err := s.Suppress(t.Context(), []butler.TaskName{"u"}, d1); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	recs = mustRecords(t, s)
	checkRecord(t, "t after a second Suppress", recs["t"], butler.TaskRecord{Suppressed: d2})
	checkRecord(t, "u after Suppress", recs["u"], butler.TaskRecord{Suppressed: d1})
}

func testSuppressMany(t *testing.T, s butler.Store) {
	// Many tasks at once (more than one statement's worth), one named
	// twice, one with a record already: each is marked, nothing else
	// changes.
	d := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	r := mustCreate(t, s, newRun("kept", butler.StateRunning, at(0)))
	success := schedule.Day{Year: 2025, Month: time.March, Day: 13}
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: success})
	tasks := []butler.TaskName{"kept", "twice", "twice"}
	for i := range 700 {
		tasks = append(tasks, butler.TaskName(fmt.Sprintf("many%03d", i)))
	}
	if err := s.Suppress(t.Context(), tasks, d); err != nil {
		t.Fatalf("Suppress of %d tasks: %v", len(tasks), err)
	}
	recs := mustRecords(t, s)
	if len(recs) != 702 {
		t.Errorf("%d task records, want 702", len(recs))
	}
	for _, task := range tasks[1:] {
		checkRecord(t, string(task)+" after Suppress", recs[task], butler.TaskRecord{Suppressed: d})
	}
	checkRecord(t, "kept after Suppress", recs["kept"], butler.TaskRecord{LastSuccess: success, LastSuccessAt: at(time.Hour), Suppressed: d})
	if err := s.Suppress(t.Context(), nil, d); err != nil {
		t.Fatalf("Suppress of no task: %v", err)
	}
}

func testSuppressZeroDay(t *testing.T, s butler.Store) {
	// A zero day is no suppression: it reads back as the zero Day, and it
	// replaces one that was set.
	d := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, d); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, schedule.Day{}); err != nil {
		t.Fatalf("Suppress(zero day): %v", err)
	}
	if err := s.Suppress(t.Context(), []butler.TaskName{"u"}, schedule.Day{}); err != nil {
		t.Fatalf("Suppress(zero day): %v", err)
	}
	recs := mustRecords(t, s)
	checkRecord(t, "t after Suppress(zero day)", recs["t"], butler.TaskRecord{})
	checkRecord(t, "u after Suppress(zero day)", recs["u"], butler.TaskRecord{})
}

func testSuppressKeepsLastSuccess(t *testing.T, s butler.Store) {
	success := schedule.Day{Year: 2025, Month: time.March, Day: 13}
	suppressed := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: success})
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, suppressed); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	checkRecord(t, "after success then Suppress", mustRecords(t, s)["t"],
		butler.TaskRecord{LastSuccess: success, LastSuccessAt: at(time.Hour), Suppressed: suppressed})
}

func testSuccessKeepsSuppressed(t *testing.T, s butler.Store) {
	suppressed := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	success := schedule.Day{Year: 2025, Month: time.March, Day: 15}
	if err := s.Suppress(t.Context(), []butler.TaskName{"t"}, suppressed); err != nil {
		t.Fatalf("Suppress: %v", err)
	}
	r := mustCreate(t, s, newRun("t", butler.StateRunning, at(0)))
	mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: success})
	checkRecord(t, "after Suppress then success", mustRecords(t, s)["t"],
		butler.TaskRecord{LastSuccess: success, LastSuccessAt: at(time.Hour), Suppressed: suppressed})
}

func testLastFinishedSince(t *testing.T, s butler.Store) {
	since := at(0)
	got, err := s.LastFinishedSince(t.Context(), since)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store: LastFinishedSince = %v, %v; want none", got, err)
	}
	mustCreate(t, s, finishedRun("before", butler.OutcomeSucceeded, since.Add(-time.Microsecond), since))
	exact := mustCreate(t, s, finishedRun("exact", butler.OutcomeSkipped, since, since))
	first := mustCreate(t, s, finishedRun("twice", butler.OutcomeFailed, since.Add(time.Minute), since.Add(2*time.Minute)))
	second := mustCreate(t, s, finishedRun("twice", butler.OutcomeSucceeded, since.Add(time.Hour), since.Add(2*time.Hour)))
	mustCreate(t, s, newRun("active", butler.StateRunning, since.Add(time.Hour)))
	// A finished run, then an active one: the finished one.
	done := mustCreate(t, s, finishedRun("then-active", butler.OutcomeStopped, since.Add(time.Minute), since.Add(time.Minute)))
	mustCreate(t, s, newRun("then-active", butler.StateQueued, since.Add(time.Hour)))
	got, err = s.LastFinishedSince(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	want := map[butler.TaskName]butler.Run{"exact": exact, "twice": second, "then-active": done}
	if len(got) != len(want) {
		t.Errorf("LastFinishedSince = %d tasks %v, want %d", len(got), slices.Sorted(maps.Keys(got)), len(want))
	}
	for task, w := range want {
		checkRun(t, "LastFinishedSince of "+string(task), got[task], w)
	}
	if got["twice"].ID == first.ID {
		t.Errorf("the older of two finished runs was returned")
	}
}

func testTasksRunSince(t *testing.T, s butler.Store) {
	since := at(0)
	check := func(what string, from time.Time, want ...butler.TaskName) {
		t.Helper()
		got, err := s.TasksRunSince(t.Context(), from)
		if err != nil {
			t.Fatalf("TasksRunSince(%v): %v", from, err)
		}
		wantSet := map[butler.TaskName]bool{}
		for _, w := range want {
			wantSet[w] = true
		}
		if !maps.Equal(got, wantSet) {
			t.Errorf("%s: TasksRunSince(%v) = %v, want %v", what, from, got, wantSet)
		}
	}
	check("empty store", since)

	mustCreate(t, s, finishedRun("before", butler.OutcomeSucceeded, since.Add(-time.Microsecond), since))
	mustCreate(t, s, finishedRun("long-before", butler.OutcomeSucceeded, since.Add(-48*time.Hour), since))
	mustCreate(t, s, finishedRun("exact", butler.OutcomeSkipped, since, since))
	mustCreate(t, s, newRun("after", butler.StateScheduled, since.Add(time.Microsecond)))
	mustCreate(t, s, newRun("later", butler.StateRunning, since.Add(time.Hour)))
	// A task with runs on both sides counts.
	mustCreate(t, s, finishedRun("both", butler.OutcomeFailed, since.Add(-time.Hour), since))
	mustCreate(t, s, finishedRun("both", butler.OutcomeFailed, since.Add(time.Hour), since.Add(2*time.Hour)))

	check("at the bound", since, "exact", "after", "later", "both")
	check("a microsecond later", since.Add(time.Microsecond), "after", "later", "both")
	check("a microsecond earlier", since.Add(-time.Microsecond), "before", "exact", "after", "later", "both")
	check("after every run", since.Add(2*time.Hour))
	check("the same instant elsewhere", since.In(time.FixedZone("UTC+5", 5*3600)), "exact", "after", "later", "both")
}

// --- Queries of the history ---

func testRunsFilter(t *testing.T, s butler.Store) {
	created := func(i int) time.Time { return at(time.Duration(i) * time.Minute) }
	rs := []butler.Run{
		mustCreate(t, s, finishedRun("alpha", butler.OutcomeSucceeded, created(0), created(0))),
		mustCreate(t, s, finishedRun("beta", butler.OutcomeFailed, created(1), created(1))),
		mustCreate(t, s, finishedRun("alpha", butler.OutcomeFailed, created(2), created(2))),
		mustCreate(t, s, finishedRun("beta", butler.OutcomeSucceeded, created(3), created(3))),
		mustCreate(t, s, finishedRun("alpha", butler.OutcomeSkipped, created(4), created(4))),
		mustCreate(t, s, newRun("beta", butler.StateScheduled, created(5))),
		mustCreate(t, s, newRun("alpha", butler.StateRunning, created(6))),
	}
	id := func(i int) int64 { return rs[i].ID }
	for _, tc := range []struct {
		name string
		f    butler.RunFilter
		want []int
	}{
		{"everything", butler.RunFilter{}, []int{6, 5, 4, 3, 2, 1, 0}},
		{"task", butler.RunFilter{Task: "alpha"}, []int{6, 4, 2, 0}},
		{"unknown task", butler.RunFilter{Task: "gamma"}, nil},
		{"outcome", butler.RunFilter{Outcome: butler.OutcomeFailed}, []int{2, 1}},
		{"outcome nobody had", butler.RunFilter{Outcome: butler.OutcomeTimedOut}, nil},
		{"task and outcome", butler.RunFilter{Task: "beta", Outcome: butler.OutcomeSucceeded}, []int{3}},
		{"since is inclusive", butler.RunFilter{Since: created(2)}, []int{6, 5, 4, 3, 2}},
		{"since between runs", butler.RunFilter{Since: created(2).Add(time.Microsecond)}, []int{6, 5, 4, 3}},
		{"before is exclusive", butler.RunFilter{Before: created(2)}, []int{1, 0}},
		{"before between runs", butler.RunFilter{Before: created(2).Add(time.Microsecond)}, []int{2, 1, 0}},
		{"since and before", butler.RunFilter{Since: created(1), Before: created(4)}, []int{3, 2, 1}},
		{"since after everything", butler.RunFilter{Since: created(7)}, nil},
		{"before everything", butler.RunFilter{Before: created(0)}, nil},
		{"before id", butler.RunFilter{BeforeID: id(3)}, []int{2, 1, 0}},
		{"before the first id", butler.RunFilter{BeforeID: id(0)}, nil},
		{"limit", butler.RunFilter{Limit: 2}, []int{6, 5}},
		{"limit above count", butler.RunFilter{Limit: 100}, []int{6, 5, 4, 3, 2, 1, 0}},
		{"before id and limit", butler.RunFilter{BeforeID: id(5), Limit: 2}, []int{4, 3}},
		{"task, before id and limit", butler.RunFilter{Task: "alpha", BeforeID: id(6), Limit: 2}, []int{4, 2}},
		{"since, before id and limit (the plan's next page)", butler.RunFilter{Since: created(1), BeforeID: id(5), Limit: 2}, []int{4, 3}},
		{"everything at once", butler.RunFilter{Task: "alpha", Outcome: butler.OutcomeFailed, Since: created(1), Before: created(6), BeforeID: id(6), Limit: 5}, []int{2}},
	} {
		want := make([]int64, len(tc.want))
		for i, w := range tc.want {
			want[i] = id(w)
		}
		checkIDs(t, tc.name, mustRuns(t, s, tc.f), want...)
	}
	// The runs read back whole.
	for i, got := range mustRuns(t, s, butler.RunFilter{}) {
		checkRun(t, "Runs", got, rs[len(rs)-1-i])
	}
}

// testRunsBeforeClocks: an upper bound on the creation time lists the runs
// created before it even where their creation times are not in the order
// they were made, by a few minutes (two servers' clocks): runs made after
// the newest one created before the bound, or after one created after the
// bound, yet created earlier.
func testRunsBeforeClocks(t *testing.T, s butler.Store) {
	bound := at(24 * time.Hour)
	old := mustCreate(t, s, finishedRun("a", butler.OutcomeSucceeded, bound.Add(-2*time.Hour), bound.Add(-2*time.Hour)))
	newest := mustCreate(t, s, finishedRun("b", butler.OutcomeFailed, bound.Add(-time.Minute), bound.Add(-time.Minute)))
	behind := mustCreate(t, s, finishedRun("c", butler.OutcomeFailed, bound.Add(-3*time.Minute), bound.Add(-3*time.Minute)))
	mustCreate(t, s, finishedRun("d", butler.OutcomeFailed, bound.Add(time.Minute), bound.Add(time.Minute)))
	ahead := mustCreate(t, s, finishedRun("e", butler.OutcomeFailed, bound.Add(-4*time.Minute), bound.Add(-4*time.Minute)))
	checkIDs(t, "before the bound", mustRuns(t, s, butler.RunFilter{Before: bound}), ahead.ID, behind.ID, newest.ID, old.ID)
	checkIDs(t, "before the bound, failed", mustRuns(t, s, butler.RunFilter{Before: bound, Outcome: butler.OutcomeFailed}), ahead.ID, behind.ID, newest.ID)
	checkIDs(t, "before the bound, a page", mustRuns(t, s, butler.RunFilter{Before: bound, Limit: 2}), ahead.ID, behind.ID)
	checkIDs(t, "before the bound, the next page", mustRuns(t, s, butler.RunFilter{Before: bound, BeforeID: behind.ID, Limit: 2}), newest.ID, old.ID)
	checkIDs(t, "before the newest", mustRuns(t, s, butler.RunFilter{Before: bound.Add(-time.Minute)}), ahead.ID, behind.ID, old.ID)
	checkIDs(t, "before every run", mustRuns(t, s, butler.RunFilter{Before: bound.Add(-3 * time.Hour)}))
}

func testRunsPaging(t *testing.T, s butler.Store) {
	const n = 23
	var want []int64
	for i := range n {
		r := mustCreate(t, s, finishedRun(butler.TaskName(fmt.Sprintf("t%d", i%4)), butler.OutcomeSucceeded,
			at(time.Duration(i)*time.Second), at(time.Duration(i)*time.Second)))
		want = append([]int64{r.ID}, want...)
	}
	for _, limit := range []int{1, 5, 10, 23, 50} {
		var got []int64
		f := butler.RunFilter{Limit: limit}
		for page := 0; ; page++ {
			if page > n+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			rs := mustRuns(t, s, f)
			if len(rs) > limit {
				t.Fatalf("limit %d: page %d has %d runs", limit, page, len(rs))
			}
			if len(rs) == 0 {
				break
			}
			got = append(got, ids(rs)...)
			f.BeforeID = rs[len(rs)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: paged ids %v, want %v", limit, got, want)
		}
	}
}

func testRunsLimit(t *testing.T, s butler.Store) {
	const n = 57
	var all []int64
	for i := range n {
		r := mustCreate(t, s, finishedRun("t", butler.OutcomeSucceeded, at(time.Duration(i)*time.Second), at(time.Duration(i)*time.Second)))
		all = append([]int64{r.ID}, all...)
	}
	checkIDs(t, "no limit: the 50 newest", mustRuns(t, s, butler.RunFilter{}), all[:50]...)
	checkIDs(t, "no limit with a task: the 50 newest", mustRuns(t, s, butler.RunFilter{Task: "t"}), all[:50]...)
	checkIDs(t, "limit 10", mustRuns(t, s, butler.RunFilter{Limit: 10}), all[:10]...)
	checkIDs(t, "limit 51", mustRuns(t, s, butler.RunFilter{Limit: 51}), all[:51]...)
	checkIDs(t, "limit above count", mustRuns(t, s, butler.RunFilter{Limit: 1000}), all...)
	checkIDs(t, "no limit, before id", mustRuns(t, s, butler.RunFilter{BeforeID: all[50]}), all[51:]...)
}

func testActiveRuns(t *testing.T, s butler.Store) {
	if got := mustActive(t, s); len(got) != 0 {
		t.Errorf("ActiveRuns of a new store = %v, want none", ids(got))
	}
	a := mustCreate(t, s, newRun("a", butler.StateScheduled, at(0)))
	mustCreate(t, s, newRun("b", butler.StateFinished, at(time.Second)))
	c := mustCreate(t, s, newRun("c", butler.StateQueued, at(2*time.Second)))
	d := mustCreate(t, s, newRun("d", butler.StateRunning, at(3*time.Second)))
	e := mustCreate(t, s, newRun("e", butler.StateScheduled, at(4*time.Second)))
	f := mustCreate(t, s, newRun("f", butler.StateQueued, at(5*time.Second)))

	active := mustActive(t, s)
	checkIDs(t, "active runs", active, a.ID, c.ID, d.ID, e.ID, f.ID)
	for i, want := range []butler.Run{a, c, d, e, f} {
		if i < len(active) {
			checkRun(t, "ActiveRuns", active[i], want)
		}
	}

	mustFinish(t, s, e.ID, []butler.RunState{butler.StateScheduled}, butler.Finish{Outcome: butler.OutcomeSkipped, EndedAt: at(time.Hour)})
	mustFinish(t, s, d.ID, []butler.RunState{butler.StateRunning}, butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour)})
	if _, ok, err := s.QueueRun(t.Context(), a.ID, at(time.Minute), nil); err != nil || !ok {
		t.Fatalf("QueueRun = %v, %v", ok, err)
	}
	if ok, err := s.StartRun(t.Context(), c.ID, "n", at(time.Minute)); err != nil || !ok {
		t.Fatalf("StartRun = %v, %v", ok, err)
	}
	active = mustActive(t, s)
	checkIDs(t, "active runs after finishing two", active, a.ID, c.ID, f.ID)
	for i, want := range []butler.RunState{butler.StateQueued, butler.StateRunning, butler.StateQueued} {
		if i < len(active) && active[i].State != want {
			t.Errorf("active run %d: State = %q, want %q", active[i].ID, active[i].State, want)
		}
	}
}

func testPruneRuns(t *testing.T, s butler.Store) {
	cutoff := at(30 * 24 * time.Hour)
	old := mustCreate(t, s, finishedRun("a", butler.OutcomeSucceeded, cutoff.Add(-2*time.Hour), cutoff.Add(-time.Hour)))
	justBefore := mustCreate(t, s, finishedRun("b", butler.OutcomeFailed, cutoff.Add(-2*time.Hour), cutoff.Add(-time.Microsecond)))
	exact := mustCreate(t, s, finishedRun("c", butler.OutcomeSkipped, cutoff.Add(-2*time.Hour), cutoff))
	// Created long before the cutoff, ended after it: kept.
	later := mustCreate(t, s, finishedRun("d", butler.OutcomeStopped, cutoff.Add(-48*time.Hour), cutoff.Add(time.Hour)))
	// Active runs made long ago are never pruned.
	scheduled := mustCreate(t, s, newRun("e", butler.StateScheduled, cutoff.Add(-48*time.Hour)))
	queued := mustCreate(t, s, newRun("f", butler.StateQueued, cutoff.Add(-48*time.Hour)))
	running := mustCreate(t, s, newRun("g", butler.StateRunning, cutoff.Add(-48*time.Hour)))
	// A success is remembered after its run is pruned.
	day := schedule.Day{Year: 2025, Month: time.March, Day: 14}
	success := mustCreate(t, s, newRun("h", butler.StateRunning, cutoff.Add(-48*time.Hour)))
	mustFinish(t, s, success.ID, []butler.RunState{butler.StateRunning},
		butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: cutoff.Add(-47 * time.Hour), SuccessDay: day})

	if n := pruneAll(t, s, cutoff); n != 3 {
		t.Fatalf("PruneRuns until none is left deleted %d runs; want 3", n)
	}
	for _, r := range []butler.Run{old, justBefore, success} {
		if _, err := s.Run(t.Context(), r.ID); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Errorf("pruned run %d: Run error %v, want ENOTFOUND", r.ID, err)
		}
	}
	for _, r := range []butler.Run{exact, later, scheduled, queued, running} {
		checkUnchanged(t, s, "kept run", r)
	}
	checkIDs(t, "runs after pruning", mustRuns(t, s, butler.RunFilter{}), running.ID, queued.ID, scheduled.ID, later.ID, exact.ID)
	checkRecord(t, "task whose run was pruned", mustRecords(t, s)["h"], butler.TaskRecord{LastSuccess: day, LastSuccessAt: cutoff.Add(-47 * time.Hour)})

	if n, err := s.PruneRuns(t.Context(), cutoff); err != nil || n != 0 {
		t.Errorf("second PruneRuns = %d, %v; want 0, nil", n, err)
	}
	if n := pruneAll(t, s, cutoff.Add(365*24*time.Hour)); n != 2 {
		t.Errorf("PruneRuns far ahead deleted %d runs; want 2", n)
	}
	checkIDs(t, "active runs after pruning everything", mustActive(t, s), scheduled.ID, queued.ID, running.ID)
	checkIDs(t, "runs after pruning everything", mustRuns(t, s, butler.RunFilter{}), running.ID, queued.ID, scheduled.ID)
}

// PruneBatchSetter is implemented by a store whose PruneRuns batch (how many
// runs one call deletes at most) can be set, as the stores over package
// sqlstore can. The suite sets a batch of 3 to see several batches without
// making thousands of runs; for a store without it, those subtests skip.
type PruneBatchSetter interface {
	SetPruneBatch(n int)
}

// pruneAll calls PruneRuns until it returns 0 and returns how many runs the
// calls deleted in all.
func pruneAll(t *testing.T, s butler.Store, before time.Time) int {
	t.Helper()
	total := 0
	for range 1000 {
		n, err := s.PruneRuns(t.Context(), before)
		if err != nil {
			t.Fatalf("PruneRuns(%v) after %d deleted: %v", before, total, err)
		}
		if n < 0 {
			t.Fatalf("PruneRuns(%v) = %d", before, n)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatalf("PruneRuns(%v) still deletes runs after 1000 calls (%d in all)", before, total)
	return total
}

// pruneBatch sets s's prune batch, or skips the test.
func pruneBatch(t *testing.T, s butler.Store, n int) {
	t.Helper()
	b, ok := s.(PruneBatchSetter)
	if !ok {
		t.Skipf("%T does not implement storetest.PruneBatchSetter", s)
	}
	b.SetPruneBatch(n)
}

func testPruneRunsBatches(t *testing.T, s butler.Store) {
	pruneBatch(t, s, 3)
	cutoff := at(30 * 24 * time.Hour)
	// Eight expired runs, created in an order other than the one in which
	// they ended.
	ends := []time.Duration{-5, -1, -8, -3, -7, -2, -6, -4}
	byEnd := map[time.Duration]butler.Run{}
	for i, e := range ends {
		task := butler.TaskName(fmt.Sprintf("old%d", i%3))
		byEnd[e] = mustCreate(t, s, finishedRun(task, butler.OutcomeSucceeded, cutoff.Add(-48*time.Hour+time.Duration(i)*time.Minute), cutoff.Add(e*time.Hour)))
	}
	// Kept: ended at the cutoff or later, and every active run, however old
	// (one of them even has an end time, which no caller sets).
	kept := []butler.Run{
		mustCreate(t, s, finishedRun("old0", butler.OutcomeFailed, cutoff.Add(-72*time.Hour), cutoff)),
		mustCreate(t, s, finishedRun("old1", butler.OutcomeStopped, cutoff.Add(-72*time.Hour), cutoff.Add(time.Hour))),
		mustCreate(t, s, newRun("scheduled", butler.StateScheduled, cutoff.Add(-90*24*time.Hour))),
		mustCreate(t, s, newRun("queued", butler.StateQueued, cutoff.Add(-90*24*time.Hour))),
		mustCreate(t, s, newRun("running", butler.StateRunning, cutoff.Add(-90*24*time.Hour))),
		mustCreate(t, s, newRun("stopping", butler.StateStopping, cutoff.Add(-90*24*time.Hour))),
	}
	odd := newRun("running-ended", butler.StateRunning, cutoff.Add(-90*24*time.Hour))
	odd.EndedAt = cutoff.Add(-80 * 24 * time.Hour)
	kept = append(kept, mustCreate(t, s, odd))

	// Each call deletes one batch, those that ended first.
	for _, batch := range []struct {
		n    int
		ends []time.Duration
	}{
		{3, []time.Duration{-8, -7, -6}},
		{3, []time.Duration{-5, -4, -3}},
		{2, []time.Duration{-2, -1}},
		{0, nil},
	} {
		n, err := s.PruneRuns(t.Context(), cutoff)
		if err != nil || n != batch.n {
			t.Fatalf("PruneRuns = %d, %v; want %d (batches of 3 out of 8), nil", n, err, batch.n)
		}
		for _, e := range batch.ends {
			if _, err := s.Run(t.Context(), byEnd[e].ID); butler.ErrorCode(err) != butler.ENOTFOUND {
				t.Errorf("run ended at cutoff%+dh, in the batch of %d: Run error %v, want ENOTFOUND", e, n, err)
			}
			delete(byEnd, e)
		}
		for e, r := range byEnd {
			checkUnchanged(t, s, fmt.Sprintf("run ended at cutoff%+dh, after the batch", e), r)
		}
	}
	for _, r := range kept {
		checkUnchanged(t, s, "kept run", r)
	}
	checkIDs(t, "active runs after pruning", mustActive(t, s), ids(kept[2:])...)
}

// testPruneRunsBatchesConcurrent prunes while runs are made and finished:
// every batch deletes only finished runs that ended before the bound, and
// the counts add up.
func testPruneRunsBatchesConcurrent(t *testing.T, s butler.Store) {
	pruneBatch(t, s, 4)
	cutoff := at(30 * 24 * time.Hour)
	for i := range 20 {
		mustCreate(t, s, finishedRun(butler.TaskName(fmt.Sprintf("t%d", i%4)), butler.OutcomeSucceeded, cutoff.Add(-72*time.Hour), cutoff.Add(-time.Duration(i+1)*time.Minute)))
	}
	var wg sync.WaitGroup
	var made []butler.Run
	var finishedOld int
	wg.Go(func() {
		// Runs live and end meanwhile: some end before the bound (they may
		// be pruned once finished), others after it.
		for i := range 10 {
			r, err := s.CreateRun(t.Context(), newRun(butler.TaskName(fmt.Sprintf("live%d", i)), butler.StateRunning, cutoff.Add(-time.Hour)), nil)
			if err != nil {
				t.Errorf("CreateRun: %v", err)
				return
			}
			ended := cutoff.Add(time.Minute)
			if i%2 == 0 {
				ended, finishedOld = cutoff.Add(-time.Minute), finishedOld+1
			}
			if _, ok, err := s.FinishRun(t.Context(), r.ID, []butler.RunState{butler.StateRunning},
				butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: ended}); err != nil || !ok {
				t.Errorf("FinishRun = %v, %v", ok, err)
				return
			}
			r.State, r.Outcome, r.EndedAt, r.Progress = butler.StateFinished, butler.OutcomeSucceeded, ended, 0
			made = append(made, r)
		}
	})
	total := 0
	for range 100 {
		n, err := s.PruneRuns(t.Context(), cutoff)
		if err != nil {
			t.Fatalf("PruneRuns: %v", err)
		}
		if n > 4 {
			t.Fatalf("PruneRuns deleted %d runs; the batch is 4", n)
		}
		total += n
		if n == 0 && total >= 20 {
			break
		}
	}
	wg.Wait()
	total += pruneAll(t, s, cutoff)
	if total != 20+finishedOld {
		t.Errorf("the batches deleted %d runs in all; want %d", total, 20+finishedOld)
	}
	var left []int64
	for _, r := range made {
		if r.EndedAt.After(cutoff) {
			checkUnchanged(t, s, "run that ended after the bound", r)
			left = append(left, r.ID)
		}
	}
	slices.Reverse(left)
	checkIDs(t, "runs left", mustRuns(t, s, butler.RunFilter{}), left...)
}

// --- Round trips ---

func testTimesRoundTrip(t *testing.T, s butler.Store) {
	zones := []*time.Location{
		time.UTC,
		time.FixedZone("UTC+05:30", 5*3600+30*60),
		time.FixedZone("UTC-09:00", -9*3600),
	}
	for i, loc := range zones {
		task := butler.TaskName(fmt.Sprintf("t%d", i))
		// Nanoseconds, in a zone that is not UTC, with a monotonic reading.
		created := time.Date(2025, time.June, 1, 23, 59, 59, 123456789, loc)
		if i == 0 {
			created = time.Now()
		}
		r := newRun(task, butler.StateScheduled, created)
		r.ScheduledAt = created.Add(time.Hour + 987*time.Nanosecond)
		got := mustCreate(t, s, r)
		want := *r
		checkRun(t, "CreateRun returned", got, want)
		checkRun(t, "Run", mustRun(t, s, got.ID), want)
		stored := mustRun(t, s, got.ID)
		if !stored.StartedAt.IsZero() || !stored.EndedAt.IsZero() {
			t.Errorf("new run: StartedAt %v, EndedAt %v; want zero times", stored.StartedAt, stored.EndedAt)
		}

		queuedAt := created.Add(2*time.Hour + 1)
		if _, ok, err := s.QueueRun(t.Context(), got.ID, queuedAt, nil); err != nil || !ok {
			t.Fatalf("QueueRun = %v, %v", ok, err)
		}
		startedAt := created.Add(3*time.Hour + 999)
		if ok, err := s.StartRun(t.Context(), got.ID, "n", startedAt); err != nil || !ok {
			t.Fatalf("StartRun = %v, %v", ok, err)
		}
		endedAt := created.Add(4*time.Hour + 500)
		mustFinish(t, s, got.ID, []butler.RunState{butler.StateRunning},
			butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: endedAt, SuccessDay: schedule.Day{Year: 2025, Month: time.June, Day: 1}})
		fin := mustRun(t, s, got.ID)
		if !sameTime(fin.CreatedAt, created) {
			t.Errorf("CreatedAt = %v, want %v", fin.CreatedAt, created)
		}
		if !sameTime(fin.StartedAt, startedAt) {
			t.Errorf("StartedAt = %v, want %v", fin.StartedAt, startedAt)
		}
		if !sameTime(fin.EndedAt, endedAt) {
			t.Errorf("EndedAt = %v, want %v", fin.EndedAt, endedAt)
		}
		if rec := mustRecords(t, s)[task]; !sameTime(rec.LastSuccessAt, endedAt) {
			t.Errorf("LastSuccessAt = %v, want %v", rec.LastSuccessAt, endedAt)
		}
	}

	// Times before 1970 and far ahead.
	for i, tm := range []time.Time{
		time.Date(1969, time.July, 20, 20, 17, 40, 0, time.UTC),
		time.Date(2199, time.December, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		r := finishedRun(butler.TaskName(fmt.Sprintf("edge%d", i)), butler.OutcomeSkipped, tm, tm.Add(time.Second))
		got := mustCreate(t, s, r)
		checkRun(t, "Run", mustRun(t, s, got.ID), got)
	}
}

func testDaysRoundTrip(t *testing.T, s butler.Store) {
	days := []schedule.Day{
		{},
		{Year: 2024, Month: time.February, Day: 29},
		{Year: 1999, Month: time.December, Day: 31},
		{Year: 2025, Month: time.January, Day: 1},
		{Year: 1, Month: time.January, Day: 1},
		{Year: 9999, Month: time.December, Day: 31},
	}
	i := 0
	for _, window := range days {
		for _, day := range days {
			r := newRun(butler.TaskName(fmt.Sprintf("t%d", i)), butler.StateFinished, at(time.Duration(i)*time.Second))
			r.Window, r.Day = window, day
			got := mustCreate(t, s, r)
			if got.Window != window || got.Day != day {
				t.Errorf("CreateRun returned Window %v Day %v, want %v %v", got.Window, got.Day, window, day)
			}
			stored := mustRun(t, s, got.ID)
			if stored.Window != window || stored.Day != day {
				t.Errorf("stored Window %#v Day %#v, want %#v %#v", stored.Window, stored.Day, window, day)
			}
			i++
		}
	}
	// Active runs, and the list queries, too.
	r := newRun("active", butler.StateScheduled, at(time.Hour))
	r.Window, r.Day = schedule.Day{}, schedule.Day{Year: 2024, Month: time.February, Day: 29}
	mustCreate(t, s, r)
	for _, got := range mustActive(t, s) {
		if got.Window != r.Window || got.Day != r.Day {
			t.Errorf("ActiveRuns: Window %#v Day %#v, want %#v %#v", got.Window, got.Day, r.Window, r.Day)
		}
	}
	for _, got := range mustRuns(t, s, butler.RunFilter{Task: "active"}) {
		if got.Window != r.Window || got.Day != r.Day {
			t.Errorf("Runs: Window %#v Day %#v, want %#v %#v", got.Window, got.Day, r.Window, r.Day)
		}
	}

	// Task records.
	for j, d := range days[1:] {
		task := butler.TaskName(fmt.Sprintf("rec%d", j))
		r := mustCreate(t, s, newRun(task, butler.StateRunning, at(0)))
		mustFinish(t, s, r.ID, []butler.RunState{butler.StateRunning},
			butler.Finish{Outcome: butler.OutcomeSucceeded, EndedAt: at(time.Hour), SuccessDay: d})
		if err := s.Suppress(t.Context(), []butler.TaskName{task}, days[len(days)-1-j]); err != nil {
			t.Fatal(err)
		}
		checkRecord(t, string(task), mustRecords(t, s)[task],
			butler.TaskRecord{LastSuccess: d, LastSuccessAt: at(time.Hour), Suppressed: days[len(days)-1-j]})
	}
	// Only suppressed, never succeeded: a zero LastSuccess.
	if err := s.Suppress(t.Context(), []butler.TaskName{"only-suppressed"}, days[1]); err != nil {
		t.Fatal(err)
	}
	checkRecord(t, "only-suppressed", mustRecords(t, s)["only-suppressed"], butler.TaskRecord{Suppressed: days[1]})
}

func testConcurrentUse(t *testing.T, s butler.Store) {
	// Every method is safe for concurrent use: many goroutines drive runs of
	// their own tasks through their lives while others read.
	const workers = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			task := butler.TaskName(fmt.Sprintf("task-%d", w))
			for i := range 5 {
				ctx := t.Context()
				r, err := s.CreateRun(ctx, newRun(task, butler.StateScheduled, at(time.Duration(w*100+i)*time.Second)), nil)
				if err != nil {
					t.Errorf("worker %d: CreateRun: %v", w, err)
					return
				}
				steps := []func() error{
					func() error { _, ok, err := s.QueueRun(ctx, r.ID, at(time.Hour), nil); return okErr(ok, err) },
					func() error { return s.SetRunJob(ctx, r.ID, int64(w*100+i)) },
					func() error { return okErr(s.StartRun(ctx, r.ID, "node", at(time.Hour))) },
					func() error { return s.SaveProgress(ctx, r.ID, 50, "half") },
					func() error {
						_, ok, err := s.FinishRun(ctx, r.ID, []butler.RunState{butler.StateRunning}, butler.Finish{
							Outcome: butler.OutcomeSucceeded, EndedAt: at(2 * time.Hour), SuccessDay: schedule.Day{Year: 2025, Month: time.March, Day: i + 1},
						})
						return okErr(ok, err)
					},
					func() error {
						return s.Suppress(ctx, []butler.TaskName{task}, schedule.Day{Year: 2025, Month: time.April, Day: i + 1})
					},
					func() error {
						return s.SaveSettings(ctx, map[string]string{string(task): fmt.Sprint(i)})
					},
				}
				for j, step := range steps {
					if err := step(); err != nil {
						t.Errorf("worker %d, run %d, step %d: %v", w, i, j, err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for range 20 {
			ctx := t.Context()
			if _, err := s.ActiveRuns(ctx); err != nil {
				t.Errorf("ActiveRuns: %v", err)
			}
			if _, err := s.Runs(ctx, butler.RunFilter{Limit: 10}); err != nil {
				t.Errorf("Runs: %v", err)
			}
			if _, err := s.TaskRecords(ctx); err != nil {
				t.Errorf("TaskRecords: %v", err)
			}
			if _, err := s.TasksRunSince(ctx, at(0)); err != nil {
				t.Errorf("TasksRunSince: %v", err)
			}
			if _, err := s.Settings(ctx); err != nil {
				t.Errorf("Settings: %v", err)
			}
		}
	})
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	if got := mustActive(t, s); len(got) != 0 {
		t.Errorf("ActiveRuns = %v, want none", ids(got))
	}
	if got := mustRuns(t, s, butler.RunFilter{Limit: 1000}); len(got) != workers*5 {
		t.Errorf("%d runs, want %d", len(got), workers*5)
	}
	recs := mustRecords(t, s)
	settings := mustSettings(t, s)
	for w := range workers {
		task := butler.TaskName(fmt.Sprintf("task-%d", w))
		checkRecord(t, string(task), recs[task], butler.TaskRecord{
			LastSuccess:   schedule.Day{Year: 2025, Month: time.March, Day: 5},
			LastSuccessAt: at(2 * time.Hour),
			Suppressed:    schedule.Day{Year: 2025, Month: time.April, Day: 5},
		})
		if settings[string(task)] != "4" {
			t.Errorf("setting %s = %q, want 4", task, settings[string(task)])
		}
	}
}

// okErr turns a (bool, error) result into an error: false is one.
func okErr(ok bool, err error) error {
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("returned false, want true")
	}
	return nil
}
