package butler_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
	"github.com/plexbutler/butler/store/sqlite"
)

// testQueue is an in-process queue for the manager's loop tests: every job
// runs at once in a goroutine of its own (the manager's gate applies the
// maintenance limit), and a job whose Execute says ErrRetryLater runs again
// a second later. The engine package tests the manager on River itself.
type testQueue struct {
	m       *butler.Manager
	mu      sync.Mutex
	next    int64
	cancels map[int64]context.CancelFunc
	wg      sync.WaitGroup
}

func (q *testQueue) Enqueue(ctx context.Context, r butler.Run) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	id := q.next
	jctx, cancel := context.WithCancel(context.Background())
	q.cancels[id] = cancel
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer cancel()
		for {
			err := q.m.Execute(jctx, r.ID)
			if !errors.Is(err, butler.ErrRetryLater) {
				if err != nil && !errors.Is(err, butler.ErrRequeue) {
					panic(err)
				}
				return
			}
			// Offered again a second later, as River's worker does.
			select {
			case <-time.After(time.Second):
			case <-jctx.Done():
				return
			}
		}
	}()
	return id, nil
}

func (q *testQueue) Cancel(ctx context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c := q.cancels[id]; c != nil {
		c()
	}
	return nil
}

// probe is an action that records when it starts and blocks until it is
// released or its context ends.
type probe struct {
	mu      sync.Mutex
	starts  []time.Time
	release chan struct{}
	block   bool
}

func newProbe(block bool) *probe { return &probe{release: make(chan struct{}), block: block} }

func (p *probe) Run(ctx context.Context, r butler.Reporter) error {
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	p.mu.Unlock()
	r.Progress(50, "working")
	if !p.block {
		return nil
	}
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *probe) Starts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.starts...)
}

type fixture struct {
	t     *testing.T
	m     *butler.Manager
	store *sqlite.DB
	q     *testQueue
}

// task returns a catalog entry with the action.
func task(name butler.TaskName, interval int, randomized bool, a butler.Action) butler.Task {
	return butler.Task{Name: name, Title: string(name), Interval: interval, Randomized: randomized,
		EnabledDefault: true, Setting: "ButlerTask" + string(name), Action: a}
}

// start makes a manager on a fresh in-memory SQLite store inside the
// current bubble, applies settings, and starts it. It is stopped when the
// test's bubble ends. Each option may change the manager's Config (its
// Store is the SQLite store until an option wraps it).
func start(t *testing.T, catalog []butler.Task, settings map[string]string, options ...func(*butler.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db := memStore(t)
	if err := db.SaveSettings(ctx, settings); err != nil {
		t.Fatal(err)
	}
	q := &testQueue{cancels: map[int64]context.CancelFunc{}}
	// No health probe: its writes every 10 s would cost days of simulated
	// time dearly.
	cfg := butler.Config{Catalog: catalog, Store: db, Queue: q, HostZone: "UTC", DataDir: t.TempDir(), HealthProbeEvery: -1}
	for _, o := range options {
		o(&cfg)
	}
	m, err := butler.NewManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	q.m = m
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, m: m, store: db, q: q}
	t.Cleanup(func() {
		if err := m.Stop(ctx); err != nil {
			t.Error(err)
		}
		q.wg.Wait()
	})
	return f
}

// memStore opens a fresh in-memory SQLite store, closed at the test's end
// (after what cleanups registered later have done).
func memStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f *fixture) runs(name butler.TaskName) []butler.Run {
	f.t.Helper()
	runs, err := f.store.Runs(context.Background(), butler.RunFilter{Task: name, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	// Oldest first reads better in assertions.
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

// sleepUntil advances the bubble's clock to t and lets everything settle.
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t))
	synctest.Wait()
}

// The bubble's clock starts at 2000-01-01 00:00 UTC.
func at(day, hour, minute int) time.Time {
	return time.Date(2000, 1, day, hour, minute, 0, 0, time.UTC)
}

func TestPlanner_OpensWindowOnTheDot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fixed := newProbe(false)
		f := start(t, []butler.Task{task("Fixed", 1, false, fixed)}, nil) // window 02:00-05:00 UTC
		sleepUntil(at(1, 2, 0).Add(-time.Nanosecond))
		if n := len(fixed.Starts()); n != 0 {
			t.Fatalf("started %d times before the window opened", n)
		}
		sleepUntil(at(1, 2, 0))
		if s := fixed.Starts(); len(s) != 1 || !s[0].Equal(at(1, 2, 0)) {
			t.Fatalf("starts %v, want exactly once at 02:00", s)
		}
		runs := f.runs("Fixed")
		if len(runs) != 1 || runs[0].Outcome != butler.OutcomeSucceeded || runs[0].Trigger != butler.TriggerWindow {
			t.Fatalf("runs %+v, want one succeeded window run", runs)
		}
		if runs[0].Window != (schedule.Day{Year: 2000, Month: 1, Day: 1}) {
			t.Fatalf("run belongs to window %v", runs[0].Window)
		}
	})
}

func TestPlanner_IntervalAcrossDays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		every3 := newProbe(false)
		daily := newProbe(false)
		start(t, []butler.Task{task("Every3", 3, false, every3), task("Daily", 1, false, daily)}, nil)
		sleepUntil(at(10, 12, 0))
		var days []int
		for _, s := range every3.Starts() {
			days = append(days, s.Day())
		}
		if want := []int{1, 4, 7, 10}; !equalInts(days, want) {
			t.Fatalf("interval-3 task ran on days %v, want %v", days, want)
		}
		if n := len(daily.Starts()); n != 10 {
			t.Fatalf("daily task ran %d times in 10 days", n)
		}
		for _, s := range daily.Starts() {
			if s.Hour() != 2 || s.Minute() != 0 {
				t.Fatalf("daily task started at %v, want 02:00", s)
			}
		}
	})
}

func TestPlanner_RandomizedStartsAtItsInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(false)
		f := start(t, []butler.Task{task("Random", 1, true, p)}, nil)
		sleepUntil(at(1, 2, 0))
		runs := f.runs("Random")
		if len(runs) != 1 || runs[0].State != butler.StateScheduled {
			t.Fatalf("runs %+v, want one scheduled run at window open", runs)
		}
		when := runs[0].ScheduledAt
		if when.Before(at(1, 2, 0)) || !when.Before(at(1, 5, 0)) {
			t.Fatalf("scheduled at %v, want inside [02:00, 05:00)", when)
		}
		plan, err := f.m.Plan(context.Background())
		if err != nil || len(plan.Tasks) != 1 || plan.Tasks[0].Decision != butler.PlanScheduled ||
			!plan.Tasks[0].At.Equal(when) || !plan.Tasks[0].Random {
			t.Fatalf("plan %+v %v, want scheduled at the drawn instant, random", plan.Tasks, err)
		}
		sleepUntil(when.Add(-time.Nanosecond))
		if len(p.Starts()) != 0 {
			t.Fatalf("started before its instant")
		}
		sleepUntil(when)
		if s := p.Starts(); len(s) != 1 || !s[0].Equal(when) {
			t.Fatalf("started at %v, want %v", s, when)
		}
	})
}

func TestPlanner_WindowCloseSkipsWaitingRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		long := newProbe(true)
		behind := newProbe(false)
		stopper := newProbe(true)
		stopAtEnd := task("StopAtEnd", 1, false, stopper)
		stopAtEnd.StopAtWindowEnd = true
		behind2 := newProbe(false)
		counter := &callCounter{}
		// MaxConcurrentTasks 2: Long and StopAtEnd take the slots, Behind
		// and Behind2 wait.
		f := start(t, []butler.Task{task("Long", 1, false, long), stopAtEnd, task("Behind", 1, false, behind), task("Behind2", 1, false, behind2)},
			map[string]string{butler.SettingMaxConcurrentTasks: "2"}, counting(counter))
		sleepUntil(at(1, 4, 59))
		for _, name := range []butler.TaskName{"Behind", "Behind2"} {
			if r := f.runs(name); len(r) != 1 || r[0].State != butler.StateQueued {
				t.Fatalf("%s: %+v, want queued behind the two long runs", name, r)
			}
		}
		counter.finishes.Store(0)
		sleepUntil(at(1, 5, 0))
		for _, name := range []butler.TaskName{"Behind", "Behind2"} {
			if r := f.runs(name); r[0].Outcome != butler.OutcomeSkipped || r[0].Reason != "window closed" {
				t.Fatalf("%s after close: %+v, want skipped, window closed", name, r[0])
			}
		}
		// The waiting runs are skipped together; StopAtEnd's run ends on its own.
		if n, m := counter.batches.Load(), counter.finishes.Load(); n != 1 || m != 1 {
			t.Errorf("at window close runs ended in %d batches and %d single ends; want the waiting ones in 1 batch, StopAtEnd's on its own", n, m)
		}
		if r := f.runs("StopAtEnd"); r[0].Outcome != butler.OutcomeStopped || r[0].Reason != "the window closed" {
			t.Fatalf("StopAtEnd after close: %+v, want stopped at window end", r[0])
		}
		if r := f.runs("Long"); r[0].State != butler.StateRunning {
			t.Fatalf("Long after close: %+v, want still running", r[0])
		}
		if len(behind.Starts())+len(behind2.Starts()) != 0 {
			t.Fatalf("a skipped run started")
		}
		close(long.release)
		synctest.Wait()
		if r := f.runs("Long"); r[0].Outcome != butler.OutcomeSucceeded {
			t.Fatalf("Long: %+v", r[0])
		}
		// Behind is still due: it runs in the next window.
		sleepUntil(at(2, 2, 0))
		if s := behind.Starts(); len(s) != 1 || !s[0].Equal(at(2, 2, 0)) {
			t.Fatalf("Behind starts %v, want next window", s)
		}
	})
}

func TestExecute_TimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(true)
		tk := task("Slow", 1, false, p)
		tk.TimeLimit = 90 * time.Minute
		f := start(t, []butler.Task{tk}, nil)
		sleepUntil(at(1, 3, 30).Add(-time.Nanosecond))
		if r := f.runs("Slow"); r[0].State != butler.StateRunning {
			t.Fatalf("%+v, want running until its limit", r[0])
		}
		sleepUntil(at(1, 3, 30))
		r := f.runs("Slow")[0]
		if r.Outcome != butler.OutcomeTimedOut || !r.EndedAt.Equal(at(1, 3, 30)) {
			t.Fatalf("%+v, want timed_out at 03:30", r)
		}
		// A timed-out run is not a success: the task is due next window.
		if recs, _ := f.store.TaskRecords(context.Background()); !recs["Slow"].LastSuccess.IsZero() {
			t.Fatalf("timed-out run recorded as success")
		}
	})
}

func TestStopTask_NotPlannedAgainInWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, nil)
		ctx := context.Background()
		sleepUntil(at(1, 2, 0))
		res, err := f.m.StopTask(ctx, "Job")
		if err != nil || res.Outcome != "stopped" || res.Run.Outcome != butler.OutcomeStopped {
			t.Fatalf("StopTask = %+v, %v; want stopped", res, err)
		}
		// A settings change re-plans the open window: the task stays out.
		if err := f.m.SetSettings(ctx, map[string]string{butler.SettingEndHour: "6"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(p.Starts()); n != 1 {
			t.Fatalf("started %d times, want once: a stopped task is not planned again in its window", n)
		}
		if _, err := f.m.StopTask(ctx, "Job"); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Fatalf("second stop: %v, want ENOTFOUND", err)
		}
		// An explicit start still works.
		if res, err := f.m.StartTask(ctx, "Job", true); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("forced start after stop: %+v, %v", res, err)
		}
		synctest.Wait()
		close(p.release)
		synctest.Wait()
		// The next window plans it again.
		sleepUntil(at(2, 2, 0))
		if n := len(p.Starts()); n != 3 {
			t.Fatalf("started %d times, want 3 (window, forced, next window)", n)
		}
	})
}

func TestStopAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running, queued, scheduled := newProbe(true), newProbe(true), newProbe(true)
		f := start(t, []butler.Task{
			task("Running", 1, false, running), task("Queued", 1, false, queued), task("Scheduled", 1, true, scheduled),
		}, nil)
		sleepUntil(at(1, 2, 0))
		results, err := f.m.StopAll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 3 {
			t.Fatalf("StopAll did %d things, want 3: %+v", len(results), results)
		}
		want := map[butler.TaskName]butler.Outcome{"Running": butler.OutcomeStopped, "Queued": butler.OutcomeSkipped, "Scheduled": butler.OutcomeSkipped}
		for name, outcome := range want {
			r := f.runs(name)
			if len(r) != 1 || r[0].Outcome != outcome {
				t.Fatalf("%s: %+v, want %s", name, r, outcome)
			}
		}
		sleepUntil(at(1, 4, 59))
		if len(scheduled.Starts())+len(queued.Starts()) != 0 {
			t.Fatalf("removed runs started")
		}
	})
}

func TestStartTask_Table(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(true)
		r := newProbe(true)
		f := start(t, []butler.Task{task("Fixed", 3, false, p), task("Random", 1, true, r)},
			map[string]string{"ButlerTaskFixed": "false"})
		ctx := context.Background()
		// 00:00, outside the window.
		if _, err := f.m.StartTask(ctx, "Nope", false); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Fatalf("unknown: %v", err)
		}
		// Disabled: the setting governs the schedule only; an explicit
		// start runs it by the same rules, and says it is disabled.
		res, err := f.m.StartTask(ctx, "Fixed", false)
		if err != nil || res.Outcome != butler.StartStarted || res.Reason != "outside the window: starts now; "+schedule.DisabledNote {
			t.Fatalf("start of a disabled task: %+v, %v", res, err)
		}
		synctest.Wait()
		if res, _ := f.m.StartTask(ctx, "Fixed", true); res.Outcome != butler.StartRunning {
			t.Fatalf("force while running: %+v, want running (202)", res)
		}
		// Randomized, outside the window: starts now.
		if res, _ := f.m.StartTask(ctx, "Random", false); res.Outcome != butler.StartStarted {
			t.Fatalf("randomized outside: %+v", res)
		}
		synctest.Wait()
		close(p.release)
		close(r.release)
		synctest.Wait()
		// The run succeeded on butler day 1 (the coming window's day):
		// not due again until day 4.
		if err := f.m.SetSettings(ctx, map[string]string{"ButlerTaskFixed": "1"}); err != nil {
			t.Fatal(err)
		}
		sleepUntil(at(1, 3, 0))
		if res, _ := f.m.StartTask(ctx, "Fixed", false); res.Outcome != butler.StartSkipped || res.Reason != "not due until 2000-01-04" {
			t.Fatalf("not due: %+v", res)
		}
		// Randomized inside the window, not due (ran today): skipped too.
		if res, _ := f.m.StartTask(ctx, "Random", false); res.Outcome != butler.StartSkipped {
			t.Fatalf("randomized, ran today: %+v", res)
		}
		sleepUntil(at(2, 2, 30))
		// Day 2: the planner scheduled Random inside the window; a start
		// answers with its instant; force replaces it.
		runs := f.runs("Random")
		last := runs[len(runs)-1]
		if last.State == butler.StateScheduled {
			res, _ := f.m.StartTask(ctx, "Random", false)
			if res.Outcome != butler.StartScheduled || !res.RunAt.Equal(last.ScheduledAt) {
				t.Fatalf("already scheduled: %+v, want scheduled at %v", res, last.ScheduledAt)
			}
			res, _ = f.m.StartTask(ctx, "Random", true)
			if res.Outcome != butler.StartStarted {
				t.Fatalf("force over scheduled: %+v", res)
			}
			if old, _ := f.store.Run(ctx, last.ID); old.Outcome != butler.OutcomeSkipped || old.Reason != "replaced by a forced start" {
				t.Fatalf("replaced run: %+v", old)
			}
		}
	})
}

func TestStartAll_Table(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := newProbe(false), newProbe(false), newProbe(false)
		f := start(t, []butler.Task{task("A", 1, false, a), task("B", 1, true, b), task("Off", 1, false, c)},
			map[string]string{"ButlerTaskOff": "0"})
		ctx := context.Background()
		// Outside the window: every enabled task is queued now, randomized or not.
		results, err := f.m.StartAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 2 || results[0].Outcome != butler.StartQueued || results[1].Outcome != butler.StartQueued {
			t.Fatalf("start all outside: %+v", results)
		}
		synctest.Wait()
		if len(a.Starts()) != 1 || len(b.Starts()) != 1 || len(c.Starts()) != 0 {
			t.Fatalf("starts a=%d b=%d off=%d", len(a.Starts()), len(b.Starts()), len(c.Starts()))
		}
		// Again: both ran for today's butler day, so both are skipped.
		results, _ = f.m.StartAll(ctx)
		for _, r := range results {
			if r.Outcome != butler.StartSkipped {
				t.Fatalf("second start all: %+v, want skipped", r)
			}
		}
		// Queued runs of start-all outside the window belong to no window.
		if r := f.runs("A"); !r[0].Window.IsZero() {
			t.Fatalf("start-all run belongs to window %v", r[0].Window)
		}
	})
}

// TestStartNotDue_OneSkippedRunPerDay: starts of a task that is not due
// record one skipped run per butler day, reason and kind of start (a start
// of the task, start-all), not one per call: the later calls answer with
// that run.
func TestStartNotDue_OneSkippedRunPerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newProbe(false)
		f := start(t, []butler.Task{task("A", 3, false, a)}, nil)
		ctx := context.Background()
		if res, err := f.m.StartTask(ctx, "A", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("first start: %+v, %v", res, err)
		}
		synctest.Wait()
		skipped := func(what string, want int) (one, all int64) {
			t.Helper()
			for range 3 {
				res, err := f.m.StartTask(ctx, "A", false)
				if err != nil || res.Outcome != butler.StartSkipped || res.Run.ID == 0 || res.Run.Trigger != butler.TriggerStartTask {
					t.Fatalf("%s: start %+v, %v; want skipped, by a start of the task", what, res, err)
				}
				results, err := f.m.StartAll(ctx)
				if err != nil || len(results) != 1 || results[0].Outcome != butler.StartSkipped || results[0].Run.Trigger != butler.TriggerStartAll {
					t.Fatalf("%s: start-all %+v, %v; want skipped, by a start-all", what, results, err)
				}
				if one != 0 && (res.Run.ID != one || results[0].Run.ID != all) {
					t.Fatalf("%s: skipped runs %d and %d after %d and %d", what, res.Run.ID, results[0].Run.ID, one, all)
				}
				one, all = res.Run.ID, results[0].Run.ID
			}
			n := 0
			for _, r := range f.runs("A") {
				if r.Outcome == butler.OutcomeSkipped {
					n++
				}
			}
			if n != want {
				t.Fatalf("%s: %d skipped runs in the history; want %d", what, n, want)
			}
			return one, all
		}
		one, all := skipped("day 1", 2)
		sleepUntil(at(2, 12, 0)) // the next butler day: runs of its own
		if one2, all2 := skipped("day 2", 4); one2 == one || all2 == all {
			t.Fatalf("day 2 answered with day 1's skipped runs")
		}
	})
}

func TestMaxConcurrentTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probes := []*probe{newProbe(true), newProbe(true), newProbe(true)}
		f := start(t, []butler.Task{task("One", 1, false, probes[0]), task("Two", 1, false, probes[1]), task("Three", 1, false, probes[2])}, nil)
		sleepUntil(at(1, 2, 0))
		started := func() (n int) {
			for _, p := range probes {
				n += len(p.Starts())
			}
			return n
		}
		if n := started(); n != 1 || len(probes[0].Starts()) != 1 {
			t.Fatalf("%d started, want 1, the first in queue order (ButlerMaxConcurrentTasks 1)", n)
		}
		if err := f.m.SetSettings(context.Background(), map[string]string{butler.SettingMaxConcurrentTasks: "2"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := started(); n != 2 {
			t.Fatalf("%d started after raising the limit to 2, want 2", n)
		}
		for _, p := range probes {
			if len(p.Starts()) == 1 {
				close(p.release)
				break
			}
		}
		synctest.Wait()
		if n := started(); n != 3 {
			t.Fatalf("%d started, want the third when a slot freed", n)
		}
		for _, p := range probes {
			select {
			case <-p.release:
			default:
				close(p.release)
			}
		}
	})
}

func TestGate_GrantsInQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := butler.NewGateForTest(1)
		ctx := context.Background()
		if err := g.Acquire(ctx, 0); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []int64
		var wg sync.WaitGroup
		for _, k := range []int64{5, 3, 4, 1, 2} {
			wg.Go(func() {
				if err := g.Acquire(ctx, k); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, k)
				mu.Unlock()
				g.Release()
			})
			synctest.Wait() // all five wait before the slot frees
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := g.Acquire(cancelled, 0); err == nil {
			t.Fatal("acquire with a cancelled context succeeded")
		}
		g.Release()
		wg.Wait()
		if want := []int64{1, 2, 3, 4, 5}; !equalInts64(order, want) {
			t.Fatalf("granted in order %v, want %v", order, want)
		}
	})
}

func equalInts64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSettings_MovingWindowToNowStartsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(false)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, nil)
		sleepUntil(at(1, 12, 0))
		if len(p.Starts()) != 1 {
			t.Fatalf("want the 02:00 run")
		}
		sleepUntil(at(2, 12, 0))
		// Day 2's window (02:00-05:00) already ran; move the window over now.
		if err := f.m.SetSettings(context.Background(), map[string]string{butler.SettingStartHour: "11", butler.SettingEndHour: "14"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := p.Starts(); len(s) != 2 || !s[1].Equal(at(2, 2, 0)) && !s[1].Equal(at(2, 12, 0)) {
			t.Fatalf("starts %v", s)
		}
	})
}

func TestSettings_AllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(false))}, nil)
		ctx := context.Background()
		for name, values := range map[string]map[string]string{
			"Unknown":    {butler.SettingStartHour: "3", "NoSuchSetting": "1"},
			"OutOfRange": {butler.SettingStartHour: "3", butler.SettingEndHour: "24"},
			"NotABool":   {butler.SettingStartHour: "3", "ButlerTaskJob": "yes"},
			"BadZone":    {butler.SettingStartHour: "3", butler.SettingTimeZone: "Mars/Olympus"},
			"NotANumber": {butler.SettingMaxConcurrentTasks: "two"},
			"RelPath":    {butler.SettingBackupPath: "backups"},
		} {
			err := f.m.SetSettings(ctx, values)
			if butler.ErrorCode(err) != butler.EINVALID {
				t.Errorf("%s: %v, want EINVALID", name, err)
			}
			if got := f.m.Settings().Get(butler.SettingStartHour); got != "2" {
				t.Fatalf("%s: start hour became %s; a rejected PUT must change nothing", name, got)
			}
		}
		if err := f.m.SetSettings(ctx, map[string]string{"ButlerTaskJob": "0", butler.SettingTimeZone: "Europe/Berlin"}); err != nil {
			t.Fatal(err)
		}
		stored, _ := f.store.Settings(ctx)
		if stored["ButlerTaskJob"] != "false" || stored[butler.SettingTimeZone] != "Europe/Berlin" {
			t.Fatalf("stored %v, want canonical values persisted", stored)
		}
	})
}

func TestStart_RecoversAfterCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := memStore(t)
		// What a killed process leaves: one run running, one queued.
		now := time.Now()
		crashed := butler.Run{Task: "Crashed", Trigger: butler.TriggerStartTask, State: butler.StateQueued, Queue: butler.QueueManual, CreatedAt: now, ScheduledAt: now, Progress: -1}
		if _, err := db.CreateRun(ctx, &crashed, nil); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.StartRun(ctx, crashed.ID, "local", now); !ok || err != nil {
			t.Fatal(ok, err)
		}
		waiting := butler.Run{Task: "Waiting", Trigger: butler.TriggerStartAll, State: butler.StateQueued, Queue: butler.QueueMaintenance, CreatedAt: now, ScheduledAt: now, Progress: -1}
		if _, err := db.CreateRun(ctx, &waiting, nil); err != nil {
			t.Fatal(err)
		}
		// Its last sign of life 5 s later; it starts again three days on.
		time.Sleep(5 * time.Second)
		if err := db.CheckWrite(ctx); err != nil {
			t.Fatal(err)
		}
		lastAlive := time.Now()
		time.Sleep(72 * time.Hour)
		cp, wp := newProbe(false), newProbe(false)
		q := &testQueue{cancels: map[int64]context.CancelFunc{}}
		m, err := butler.NewManager(ctx, butler.Config{Catalog: []butler.Task{task("Crashed", 1, false, cp), task("Waiting", 1, false, wp)}, Store: db, Queue: q})
		if err != nil {
			t.Fatal(err)
		}
		q.m = m
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		// The probe writes every 10 s: by then the previous process was
		// gone.
		if r, _ := db.Run(ctx, crashed.ID); r.Outcome != butler.OutcomeInterrupted || !r.EndedAt.Equal(lastAlive.Add(10*time.Second)) || !strings.Contains(r.Reason, "last sign of life") {
			t.Fatalf("crashed run: %+v, want interrupted, ended 10 s after the last sign of life %v", r, lastAlive)
		}
		if r, _ := db.Run(ctx, waiting.ID); r.Outcome != butler.OutcomeSucceeded || len(wp.Starts()) != 1 {
			t.Fatalf("queued run after restart: %+v", r)
		}
		// The interrupted task is still due: a start runs it.
		if res, err := m.StartTask(ctx, "Crashed", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start after interruption: %+v, %v", res, err)
		}
		synctest.Wait()
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		q.wg.Wait()
	})
}

func TestStop_ShutdownInterruptsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, nil)
		sleepUntil(at(1, 2, 0))
		sub := f.m.Subscribe()
		defer sub.Close()
		if err := f.m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := f.runs("Job")[0]
		if r.Outcome != butler.OutcomeInterrupted || r.Reason != "the server shut down" {
			t.Fatalf("%+v, want interrupted by shutdown", r)
		}
		// A subscription gets the run's end, then ends: a notification
		// stream does not outlive the Manager. So does a new one, at once.
		var seen []butler.EventType
		for {
			ev, err := sub.Next(context.Background())
			if err != nil {
				if !errors.Is(err, butler.ErrStopped) {
					t.Fatalf("the subscription ended with %v; want ErrStopped", err)
				}
				break
			}
			seen = append(seen, ev.Type)
		}
		if len(seen) == 0 || seen[len(seen)-1] != butler.EventEnded {
			t.Fatalf("events before the subscription ended: %v; want the run's end last", seen)
		}
		if _, err := f.m.Subscribe().Next(context.Background()); !errors.Is(err, butler.ErrStopped) {
			t.Fatalf("a subscription after Stop: %v; want ErrStopped", err)
		}
		if _, err := f.m.StartTask(context.Background(), "Job", true); butler.ErrorCode(err) != butler.EUNAVAILABLE {
			t.Fatalf("start while shutting down: %v", err)
		}
	})
}

func TestExecute_FailureAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error { return errors.New("disk on fire") })
		panics := butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error { panic("oops") })
		f := start(t, []butler.Task{task("Fails", 1, false, fails), task("Panics", 1, false, panics)}, nil)
		sleepUntil(at(1, 2, 0))
		if r := f.runs("Fails")[0]; r.Outcome != butler.OutcomeFailed || r.Error != "disk on fire" {
			t.Fatalf("%+v", r)
		}
		if r := f.runs("Panics")[0]; r.Outcome != butler.OutcomeFailed || r.Error != "the task panicked: oops" {
			t.Fatalf("%+v", r)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPlanner_PrunesHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(false)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, map[string]string{butler.SettingRunRetentionDays: "2"})
		sleepUntil(at(1, 12, 0))
		if n := len(f.runs("Job")); n != 1 {
			t.Fatalf("%d runs, want 1", n)
		}
		// Day 1's run ended at 02:00 on day 1: past two days' retention at
		// 02:00 on day 3, and pruned within the hour after.
		sleepUntil(at(3, 1, 59))
		if runs := f.runs("Job"); len(runs) != 2 || runs[0].StartedAt.Day() != 1 {
			t.Fatalf("%d runs before the retention passed, want days 1 and 2", len(runs))
		}
		sleepUntil(at(3, 3, 1))
		runs := f.runs("Job")
		if len(runs) != 2 || runs[0].StartedAt.Day() != 2 {
			t.Fatalf("runs %+v, want day 1's pruned", runs)
		}
	})
}

func TestGate_ExpectedRunKeepsItsPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := butler.NewGateForTest(1)
		ctx := context.Background()
		g.Expect(1)
		g.Expect(2)
		granted := make(chan int64, 2)
		go func() {
			if g.Acquire(ctx, 2) == nil {
				granted <- 2
			}
		}()
		synctest.Wait()
		select {
		case k := <-granted:
			t.Fatalf("run %d overtook expected run 1", k)
		default:
		}
		// Run 1 never comes (another server took it): after its place
		// expires, run 2 goes.
		time.Sleep(time.Second)
		synctest.Wait()
		if k := <-granted; k != 2 {
			t.Fatalf("granted %d", k)
		}
		g.Release()
	})
}

func TestExecute_KeepsARunLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error {
			r.Logger().Info("copying", "files", 3)
			r.Logger().Debug("not kept")
			if o, ok := r.(interface{ Output(string) }); ok {
				o.Output("hello from the command\n")
			}
			return nil
		})
		f := start(t, []butler.Task{task("Logs", 1, false, logs)}, nil)
		sleepUntil(at(1, 2, 0))
		r := f.runs("Logs")[0]
		text, err := f.m.RunLog(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"INFO copying files=3", "---- output ----\nhello from the command\n"} {
			if !strings.Contains(text, want) {
				t.Fatalf("run log %q lacks %q", text, want)
			}
		}
		if strings.Contains(text, "not kept") {
			t.Fatalf("debug line kept: %q", text)
		}
		if _, err := f.m.RunLog(context.Background(), 9999); butler.ErrorCode(err) != butler.ENOTFOUND {
			t.Fatalf("log of no run: %v", err)
		}
	})
}

// A forced start reads the active runs and no task record: whether the
// task is due does not matter to it. (An unforced one reads them.)
func TestStartTask_ForcedReadsNoTaskRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		counter := &callCounter{}
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(true))}, quietWindow, counting(counter))
		synctest.Wait()
		before := counter.records.Load()
		if res, err := f.m.StartTask(ctx, "Job", true); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("forced start: %v, %v", res.Outcome, err)
		}
		if n := counter.records.Load() - before; n != 0 {
			t.Errorf("a forced start read the task records %d times, want none", n)
		}
		synctest.Wait()
		if _, err := f.m.StopTask(ctx, "Job"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		before = counter.records.Load()
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		if n := counter.records.Load() - before; n == 0 {
			t.Errorf("an unforced start read no task record; it decides by the last success")
		}
	})
}

// TestStopTask_WorkCompletedAnyway: a stop that reaches a run whose work
// has already ended by itself, in full (its action says so through
// CompletionReporter and returns nil), leaves the run succeeded: a run is
// stopped when its work was stopped. An action that returns nil when told
// to stop without saying so is stopped.
func TestStopTask_WorkCompletedAnyway(t *testing.T) {
	for _, c := range []struct {
		name      string
		completed bool
		want      butler.Outcome
	}{{"completed", true, butler.OutcomeSucceeded}, {"not completed", false, butler.OutcomeStopped}} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := butler.ActionFunc(func(ctx context.Context, r butler.Reporter) error {
					<-ctx.Done()
					if c.completed {
						r.(butler.CompletionReporter).Completed()
					}
					return nil
				})
				f := start(t, []butler.Task{task("Job", 1, false, a)}, nil)
				ctx := context.Background()
				sleepUntil(at(1, 2, 0))
				if _, err := f.m.StopTask(ctx, "Job"); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				runs := f.runs("Job")
				if len(runs) != 1 || runs[0].Outcome != c.want {
					t.Fatalf("runs %+v; want one %s", runs, c.want)
				}
			})
		})
	}
}
