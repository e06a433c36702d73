package butler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/schedule"
	"github.com/plexbutler/butler/store/sqlite"
)

// stubborn is an action that does not return when told to stop: it
// returns only when released, like a program that traps SIGTERM until its
// grace runs out. It counts how many of its runs are alive at once.
type stubborn struct {
	release chan struct{}
	alive   atomic.Int32
	most    atomic.Int32
	starts  atomic.Int32
}

func newStubborn() *stubborn { return &stubborn{release: make(chan struct{})} }

func (s *stubborn) Run(ctx context.Context, r butler.Reporter) error {
	s.starts.Add(1)
	n := s.alive.Add(1)
	defer s.alive.Add(-1)
	for {
		if m := s.most.Load(); n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	r.Progress(10, "ignoring stops")
	<-s.release
	return ctx.Err()
}

func TestStop_StubbornTaskIsStoppingUntilItsWorkStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		work := newStubborn()
		f := start(t, []butler.Task{task("Stubborn", 1, false, work)}, quietWindow, func(c *butler.Config) {
			c.StopWait = 3 * time.Second
		})
		if res, err := f.m.StartTask(ctx, "Stubborn", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v %v", res, err)
		}
		synctest.Wait()

		t0 := time.Now()
		res, err := f.m.StopTask(ctx, "Stubborn")
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(t0); waited != 3*time.Second {
			t.Errorf("the stop answered after %v, want StopWait (3s)", waited)
		}
		if res.Outcome != butler.StopStopping || res.Run.State != butler.StateStopping {
			t.Fatalf("stop of a task that has not returned: outcome %q, run %s; want stopping", res.Outcome, res.Run.State)
		}
		if got := f.runs("Stubborn"); len(got) != 1 || got[0].State != butler.StateStopping || got[0].Reason != "stopped by request" {
			t.Fatalf("stored runs %+v, want one stopping run", got)
		}
		acts, err := f.m.Activities(ctx)
		if err != nil || len(acts) != 1 || !acts[0].Stopping {
			t.Fatalf("activities %+v %v, want the run, stopping", acts, err)
		}
		plan, err := f.m.Plan(ctx)
		if err != nil || len(plan.Tasks) != 1 || plan.Tasks[0].Decision != butler.PlanStopping {
			t.Fatalf("plan %+v %v, want the task stopping", plan, err)
		}

		// A start while it stops is "already running", and starts nothing.
		for _, force := range []bool{false, true} {
			res, err := f.m.StartTask(ctx, "Stubborn", force)
			if err != nil || res.Outcome != butler.StartRunning {
				t.Fatalf("start (force %v) while stopping: %+v %v, want running", force, res, err)
			}
		}
		synctest.Wait()
		if n := work.starts.Load(); n != 1 {
			t.Fatalf("the action started %d times", n)
		}

		close(work.release)
		synctest.Wait()
		got := f.runs("Stubborn")
		if len(got) != 1 || got[0].State != butler.StateFinished || got[0].Outcome != butler.OutcomeStopped {
			t.Fatalf("runs after the work stopped: %+v, want one stopped run", got)
		}
		if !got[0].EndedAt.Equal(time.Now()) {
			t.Errorf("ended at %v, want when the action returned (%v)", got[0].EndedAt, time.Now())
		}
		if most := work.most.Load(); most != 1 {
			t.Fatalf("%d runs of the task were alive at once", most)
		}
	})
}

func TestStop_CooperativeTaskAnswersStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow)
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		t0 := time.Now()
		res, err := f.m.StopTask(ctx, "Job")
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != butler.StopStopped || res.Run.Outcome != butler.OutcomeStopped || time.Since(t0) != 0 {
			t.Fatalf("stop: outcome %q run %s/%s after %v; want stopped at once", res.Outcome, res.Run.State, res.Run.Outcome, time.Since(t0))
		}
	})
}

// A stop that waits for one task's work never delays a start or a stop of
// another.
func TestStop_OtherTasksNeverWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		work := newStubborn()
		defer close(work.release)
		other := newProbe(true)
		f := start(t, []butler.Task{task("Stubborn", 1, false, work), task("Other", 1, false, other)}, quietWindow)
		if _, err := f.m.StartTask(ctx, "Stubborn", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			if _, err := f.m.StopTask(ctx, "Stubborn"); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait() // the stop is waiting for the stubborn work now
		t0 := time.Now()
		if res, err := f.m.StartTask(ctx, "Other", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start of another task: %+v %v", res, err)
		}
		synctest.Wait()
		if res, err := f.m.StopTask(ctx, "Other"); err != nil || res.Outcome != butler.StopStopped {
			t.Fatalf("stop of another task: %+v %v", res, err)
		}
		if d := time.Since(t0); d != 0 {
			t.Fatalf("the other task's start and stop took %v while a stubborn stop was pending; want no wait", d)
		}
		<-stopped
	})
}

// failingStore is the SQLite store with FinishRun failing while full is
// set, as a full disk makes it fail.
type failingStore struct {
	*sqlite.DB
	full     atomic.Bool
	mu       sync.Mutex
	failures int
}

var errDiskFull = errors.New("database or disk is full (SQLITE_FULL)")

func (s *failingStore) CheckWrite(ctx context.Context) error {
	if s.full.Load() {
		return errDiskFull
	}
	return s.DB.CheckWrite(ctx)
}

func (s *failingStore) FinishRun(ctx context.Context, id int64, from []butler.RunState, f butler.Finish) (butler.Run, bool, error) {
	if s.full.Load() {
		s.mu.Lock()
		s.failures++
		s.mu.Unlock()
		return butler.Run{}, false, errDiskFull
	}
	return s.DB.FinishRun(ctx, id, from, f)
}

func TestExecute_FinishIsRetriedUntilTheStoreCanWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		var fs *failingStore
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow, func(c *butler.Config) {
			fs = &failingStore{DB: c.Store.(*sqlite.DB)}
			c.Store = fs
		})
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		fs.full.Store(true)
		close(p.release) // the work succeeds while the store cannot write
		time.Sleep(time.Minute)
		synctest.Wait()
		fs.mu.Lock()
		failures := fs.failures
		fs.mu.Unlock()
		if failures < 5 {
			t.Fatalf("the end was tried %d times in a minute, want it tried again and again", failures)
		}
		if got := f.runs("Job"); len(got) != 1 || got[0].State != butler.StateRunning {
			t.Fatalf("runs while the store cannot write: %+v, want the run still running", got)
		}
		if res, err := f.m.StartTask(ctx, "Job", false); err != nil || res.Outcome != butler.StartRunning {
			t.Fatalf("start while the end is not recorded: %+v %v, want running", res, err)
		}
		if h := f.m.Health(); h.OK || h.Reason != errDiskFull.Error() || h.WriteFailures < int64(failures) {
			t.Fatalf("health while the store cannot write: %+v", h)
		}
		fs.full.Store(false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h := f.m.Health(); !h.OK {
			t.Fatalf("health once the store writes again: %+v", h)
		}
		got := f.runs("Job")
		if len(got) != 1 || got[0].Outcome != butler.OutcomeSucceeded {
			t.Fatalf("runs once the store can write: %+v, want the run succeeded", got)
		}
		if n := len(p.Starts()); n != 1 {
			t.Fatalf("the action ran %d times", n)
		}
	})
}

// recordingReaper is a Reaper that records what it was asked to end; the
// real one (tasks.GroupReaper) is tested on real processes.
type recordingReaper struct {
	mu     sync.Mutex
	groups []butler.ProcessGroup
	graces []time.Duration
}

func (r *recordingReaper) Reap(ctx context.Context, p butler.ProcessGroup, grace time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, p)
	r.graces = append(r.graces, grace)
	return true, nil
}

// graceful is a probe whose stop grace is known.
type graceful struct{ *probe }

func (graceful) StopGrace() time.Duration { return 42 * time.Second }

func TestStart_ReapsWhatACrashLeftBeforeAnythingRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := memStore(t)
		// What a server that died left: a run of its, with a process group.
		r := butler.Run{Task: "Job", Trigger: butler.TriggerStartTask, State: butler.StateQueued, Queue: butler.QueueManual, Progress: -1}
		if _, err := db.CreateRun(ctx, &r, nil); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.StartRun(ctx, r.ID, "local", time.Now()); !ok || err != nil {
			t.Fatal(ok, err)
		}
		group := butler.ProcessGroup{PGID: 4242, Start: 99, Boot: "boot"}
		if err := db.SetRunProcess(ctx, r.ID, group); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.MarkStopping(ctx, r.ID, "stopped by request"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		reaper := &recordingReaper{}
		q := &testQueue{cancels: map[int64]context.CancelFunc{}}
		m, err := butler.NewManager(ctx, butler.Config{
			Catalog: []butler.Task{task("Job", 1, false, graceful{newProbe(false)})},
			Store:   db, Queue: q, HostZone: "UTC", DataDir: t.TempDir(), Reaper: reaper,
		})
		if err != nil {
			t.Fatal(err)
		}
		q.m = m
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer m.Stop(ctx)
		reaper.mu.Lock()
		if len(reaper.groups) != 1 || reaper.groups[0] != group || reaper.graces[0] != 42*time.Second {
			t.Fatalf("reaped %v with graces %v, want the recorded group with the task's grace", reaper.groups, reaper.graces)
		}
		reaper.mu.Unlock()
		got, err := db.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != butler.OutcomeInterrupted || got.Process != group {
			t.Fatalf("run after the restart: %+v, want interrupted with its group kept", got)
		}
	})
}

// quietWindow puts the window (12:00–13:00 UTC) hours after the bubble's
// clock starts (midnight), so that the planner starts nothing on its own.
var quietWindow = map[string]string{"ButlerStartHour": "12", "ButlerEndHour": "13"}

// The probe finds a store that cannot write while nothing else writes, and
// finds it writing again.
func TestHealth_ProbeWritesWhileNothingElseDoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fs *failingStore
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(false))}, quietWindow, func(c *butler.Config) {
			fs = &failingStore{DB: c.Store.(*sqlite.DB)}
			c.Store = fs
			c.HealthProbeEvery = 10 * time.Second
		})
		synctest.Wait()
		if h := f.m.Health(); !h.OK {
			t.Fatalf("health at start: %+v", h)
		}
		fs.full.Store(true)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h := f.m.Health(); h.OK || h.Reason != errDiskFull.Error() {
			t.Fatalf("health 10 s after the disk filled: %+v, want failing", h)
		}
		fs.full.Store(false)
		time.Sleep(time.Second) // the probe tries every second while failing
		synctest.Wait()
		if h := f.m.Health(); !h.OK {
			t.Fatalf("health 1 s after space was freed: %+v", h)
		}
	})
}

// A window of quick runs drains at once: no run waits at the gate for a
// place kept for a run that has already been handled (the place's key, made
// at queueing, must match the key the run arrives with, read back from the
// store).
func TestGate_WindowOfQuickRunsDrainsWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var catalog []butler.Task
		var probes []*probe
		for i := range 10 {
			p := newProbe(false)
			probes = append(probes, p)
			catalog = append(catalog, task(butler.TaskName(fmt.Sprintf("Quick%d", i)), 1, false, p))
		}
		// The clock in UTC, as a real one has a monotonic reading: either
		// way the instant a run is queued with is not a map key equal to the
		// one read back from the store (Local, no monotonic reading).
		start(t, catalog, nil, func(c *butler.Config) { // window 02:00-05:00 UTC, one run at a time
			c.NowFunc = func() time.Time { return time.Now().UTC() }
		})
		sleepUntil(at(1, 2, 0))
		for i, p := range probes {
			s := p.Starts()
			if len(s) != 1 || !s[0].Equal(at(1, 2, 0)) {
				t.Fatalf("Quick%d started at %v; want every run at 02:00 exactly, none waiting for a timer", i, s)
			}
		}
	})
}

// heldQueue keeps the jobs it is given without working them: a started
// run stays queued, as it is for the milliseconds before a worker takes it.
type heldQueue struct{ n atomic.Int64 }

func (q *heldQueue) Enqueue(context.Context, butler.Run) (int64, error) { return q.n.Add(1), nil }
func (q *heldQueue) Cancel(context.Context, int64) error                { return nil }

// A start right after a start answers "already running", as a Plex server
// does: the first start's run counts as running from the moment it
// answered, even before a worker has taken it.
func TestStartTask_StartedRunIsAlreadyRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(false))}, quietWindow, func(c *butler.Config) {
			c.Queue = &heldQueue{}
		})
		first, err := f.m.StartTask(ctx, "Job", false)
		if err != nil || first.Outcome != butler.StartStarted {
			t.Fatalf("first start: %+v %v", first, err)
		}
		for _, force := range []bool{false, true} {
			res, err := f.m.StartTask(ctx, "Job", force)
			if err != nil || res.Outcome != butler.StartRunning || res.Run.ID != first.Run.ID {
				t.Fatalf("start (force %v) right after a start: %+v %v; want running, the same run", force, res, err)
			}
		}
		if runs := f.runs("Job"); len(runs) != 1 {
			t.Fatalf("%d runs, want 1", len(runs))
		}
	})
}

// lostAnswerStore records a run's start and then reports a failure, as when
// the connection drops after the commit (or the statement is cut off by a
// cancellation after the server ran it).
type lostAnswerStore struct {
	*sqlite.DB
}

func (s lostAnswerStore) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	if _, err := s.DB.StartRun(ctx, id, node, at); err != nil {
		return false, err
	}
	return false, errors.New("connection reset by peer")
}

// A start whose record was committed but whose answer was lost does not
// leave a running run that nobody ends (it would stay running, and then
// stopping, for ever).
func TestExecute_LostStartAnswerLeavesNoRunBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow, func(c *butler.Config) {
			c.Store = lostAnswerStore{c.Store.(*sqlite.DB)}
		})
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		runs := f.runs("Job")
		if len(runs) != 1 || runs[0].State != butler.StateFinished || runs[0].Outcome != butler.OutcomeInterrupted {
			t.Fatalf("runs: %+v; want the run ended interrupted", runs)
		}
		if n := len(p.Starts()); n != 0 {
			t.Fatalf("the action ran %d times", n)
		}
		// The task can start again.
		if res, err := f.m.StartTask(ctx, "Job", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start after: %+v %v", res, err)
		}
	})
}

// startedElsewhereStore's StartRun does not record the start: it stands
// for a start lost on the way to the database while another server (B)
// was given the run and started it.
type startedElsewhereStore struct {
	*sqlite.DB
}

func (s startedElsewhereStore) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	if _, err := s.DB.StartRun(ctx, id, "B", at); err != nil {
		return false, err
	}
	return false, errors.New("connection reset by peer")
}

// A start whose answer was lost ends the run only if it is this server's:
// when another server started it meanwhile, that server's run goes on.
func TestExecute_LostStartLeavesAnotherServersRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow, func(c *butler.Config) {
			c.Store = startedElsewhereStore{c.Store.(*sqlite.DB)}
		})
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		runs := f.runs("Job")
		if len(runs) != 1 || runs[0].State != butler.StateRunning || runs[0].Node != "B" {
			t.Fatalf("runs: %+v; want the run running on B, as B started it", runs)
		}
		if n := len(p.Starts()); n != 0 {
			t.Fatalf("the action ran %d times here", n)
		}
	})
}

// callCounter is a store that counts some of its calls.
type callCounter struct {
	butler.Store
	marks, records, reads, finishes, batches, suppressions atomic.Int32
}

func (s *callCounter) Suppress(ctx context.Context, tasks []butler.TaskName, d schedule.Day) error {
	s.suppressions.Add(1)
	return s.Store.Suppress(ctx, tasks, d)
}

func (s *callCounter) FinishRun(ctx context.Context, id int64, from []butler.RunState, f butler.Finish) (butler.Run, bool, error) {
	s.finishes.Add(1)
	return s.Store.FinishRun(ctx, id, from, f)
}

func (s *callCounter) FinishRuns(ctx context.Context, ids []int64, from []butler.RunState, f butler.Finish, inTx butler.RunsTxFunc) ([]butler.Run, error) {
	s.batches.Add(1)
	return s.Store.FinishRuns(ctx, ids, from, f, inTx)
}

func (s *callCounter) Run(ctx context.Context, id int64) (butler.Run, error) {
	s.reads.Add(1)
	return s.Store.Run(ctx, id)
}

func (s *callCounter) MarkStopping(ctx context.Context, id int64, reason string) (bool, error) {
	s.marks.Add(1)
	return s.Store.MarkStopping(ctx, id, reason)
}

func (s *callCounter) TaskRecords(ctx context.Context) (map[butler.TaskName]butler.TaskRecord, error) {
	s.records.Add(1)
	return s.Store.TaskRecords(ctx)
}

// counting returns an option of start that wraps the store in c.
func counting(c *callCounter) func(*butler.Config) {
	return func(cfg *butler.Config) {
		c.Store = cfg.Store
		cfg.Store = c
	}
}

// Stop-all removes every waiting run in one transaction of the store (and
// cancels their jobs in it), not one at a time, and keeps all the stopped
// tasks out of the window with one write; the running run is stopped as
// before, and no removed run ever starts.
func TestStopAll_RemovesWaitingRunsTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		counter := &callCounter{}
		catalog := []butler.Task{task("Running", 1, false, newProbe(true)), task("Queued", 1, false, newProbe(true))}
		var later []*probe
		for i := range 5 {
			p := newProbe(true)
			later = append(later, p)
			catalog = append(catalog, task(butler.TaskName(fmt.Sprintf("Scheduled%d", i)), 1, true, p))
		}
		f := start(t, catalog, nil, counting(counter))
		sleepUntil(at(1, 2, 0))
		waiting := 0
		for _, t := range catalog[1:] {
			if rs := f.runs(t.Name); len(rs) == 1 && (rs[0].State == butler.StateScheduled || rs[0].State == butler.StateQueued) {
				waiting++
			}
		}
		if waiting != 6 {
			t.Fatalf("%d runs waiting at window open, want 6", waiting)
		}
		counter.finishes.Store(0)
		results, err := f.m.StopAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removed := 0
		for _, r := range results {
			switch {
			case r.Task == "Running" && r.Outcome == butler.StopStopped:
			case r.Task != "Running" && r.Outcome == butler.StopRemoved && r.Run.Outcome == butler.OutcomeSkipped:
				removed++
			default:
				t.Errorf("StopAll: %s %s (run %s)", r.Task, r.Outcome, r.Run.Outcome)
			}
		}
		if removed != 6 {
			t.Errorf("StopAll removed %d runs, want 6", removed)
		}
		if n, m := counter.batches.Load(), counter.finishes.Load(); n != 1 || m != 1 {
			t.Errorf("StopAll ended runs in %d batches and %d single ends; want the waiting ones in 1 batch, the running one on its own", n, m)
		}
		if n := counter.suppressions.Load(); n != 1 {
			t.Errorf("StopAll recorded the stopped tasks with %d writes, want 1", n)
		}
		recs, err := counter.Store.TaskRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range catalog {
			if recs[task.Name].Suppressed.IsZero() {
				t.Errorf("%s is not kept out of the window after stop-all", task.Name)
			}
		}
		sleepUntil(at(1, 4, 59))
		for i, p := range later {
			if n := len(p.Starts()); n != 0 {
				t.Errorf("removed run of Scheduled%d started %d times", i, n)
			}
		}
	})
}

// A stop answers with the run as it ended without reading it back: a
// running run of this server as its executor recorded its end, a waiting
// run as its removal did. The answer is the run as stored.
func TestStop_ReadsNoRunToAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		counter := &callCounter{}
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(true)), task("Random", 1, true, newProbe(true))}, nil, counting(counter))
		check := func(name butler.TaskName, id int64, want butler.StopOutcome) {
			t.Helper()
			counter.reads.Store(0)
			stop, err := f.m.StopTask(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if stop.Outcome != want || stop.Run.ID != id || stop.Run.State != butler.StateFinished {
				t.Fatalf("stop of %s: %s, run %d %s; want %s, run %d finished", name, stop.Outcome, stop.Run.ID, stop.Run.State, want, id)
			}
			if n := counter.reads.Load(); n != 0 {
				t.Errorf("the stop of %s read a run %d times, want none", name, n)
			}
			stored, err := counter.Store.Run(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if stop.Run.Outcome != stored.Outcome || stop.Run.Reason != stored.Reason || !stop.Run.EndedAt.Equal(stored.EndedAt) ||
				!stop.Run.StartedAt.Equal(stored.StartedAt) || stop.Run.Node != stored.Node || stop.Run.UUID != stored.UUID {
				t.Errorf("the stop of %s answered with %+v; the store holds %+v", name, stop.Run, stored)
			}
		}
		// Running here: its executor recorded the end.
		res, err := f.m.StartTask(ctx, "Job", true)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v, %v", res, err)
		}
		synctest.Wait()
		check("Job", res.Run.ID, butler.StopStopped)
		// Waiting: its removal recorded the end.
		sleepUntil(at(1, 2, 0))
		runs := f.runs("Random")
		if len(runs) != 1 || runs[0].State != butler.StateScheduled {
			t.Fatalf("runs of Random: %+v; want one scheduled", runs)
		}
		check("Random", runs[0].ID, butler.StopRemoved)
	})
}

// A stop of a run of this server records it stopping once, not again
// from the run's executor, and the subscribers hear of it once.
func TestStop_RecordsStoppingOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		counter := &callCounter{}
		f := start(t, []butler.Task{task("Job", 1, false, newProbe(true))}, quietWindow, counting(counter))
		if _, err := f.m.StartTask(ctx, "Job", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		sub := f.m.Subscribe()
		defer sub.Close()
		res, err := f.m.StopTask(ctx, "Job")
		if err != nil || res.Outcome != butler.StopStopped {
			t.Fatalf("stop: %v, %v", res.Outcome, err)
		}
		synctest.Wait()
		if n := counter.marks.Load(); n != 1 {
			t.Errorf("MarkStopping called %d times, want once", n)
		}
		stopping := 0
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == butler.EventUpdated && ev.Activity.Stopping {
				stopping++
			}
			if ev.Type == butler.EventEnded {
				break
			}
		}
		if stopping != 1 {
			t.Errorf("%d events said the run was stopping, want 1", stopping)
		}
	})
}

// A queue may hand a run to this process's workers before Start has
// recovered what the previous process left (River starts before the
// Manager, and takes the runs left queued at once). That run is this
// process's and running: recovery must not end it; its work begins only
// once Start has had the Recoverers tidy up (a backup's partial files,
// which a backup under way would be writing), and it ends as its work
// does.
func TestStart_LeavesTheRunsItsWorkersStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := memStore(t)
		// Left queued by the previous process.
		left, err := db.CreateRun(ctx, &butler.Run{Task: "Job", Trigger: butler.TriggerStartTask, State: butler.StateQueued,
			Queue: butler.QueueManual, Progress: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := &recoveringProbe{probe: newProbe(true)}
		q := &testQueue{cancels: map[int64]context.CancelFunc{}}
		m, err := butler.NewManager(ctx, butler.Config{Catalog: []butler.Task{task("Job", 1, false, p)}, Store: db, Queue: q,
			HostZone: "UTC", DataDir: t.TempDir(), HealthProbeEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		q.m = m
		done := make(chan error, 1)
		go func() { done <- m.Execute(ctx, left.ID) }() // a worker takes it before Start
		synctest.Wait()
		if r, err := db.Run(ctx, left.ID); err != nil || r.State != butler.StateRunning || len(p.Starts()) != 0 {
			t.Fatalf("before Start the run is %s (%v) and its work started %d times; want it running, its work waiting for Start", r.State, err, len(p.Starts()))
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := m.Stop(ctx); err != nil {
				t.Error(err)
			}
			q.wg.Wait()
		}()
		synctest.Wait()
		if r, err := db.Run(ctx, left.ID); err != nil || r.State != butler.StateRunning {
			t.Fatalf("after Start the run is %s (%s), %v; want it running: its work runs here", r.State, r.Reason, err)
		}
		close(p.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r, err := db.Run(ctx, left.ID); err != nil || r.Outcome != butler.OutcomeSucceeded {
			t.Fatalf("run after its work ended: %s (%s), %v; want succeeded", r.Outcome, r.Reason, err)
		}
		if n := len(p.Starts()); n != 1 {
			t.Errorf("the run's work started %d times; want once", n)
		}
		if p.recovered.Load() != 1 || p.recoverDuring.Load() {
			t.Errorf("Recover called %d times, during the run's work: %v; want once, before it", p.recovered.Load(), p.recoverDuring.Load())
		}
	})
}

// recoveringProbe is a blocking action that tidies up after a crash
// (Recoverer), as BackupDatabase does, and records whether its Recover was
// called while its work was going on.
type recoveringProbe struct {
	*probe
	running       atomic.Bool
	recoverDuring atomic.Bool
	recovered     atomic.Int32
}

func (p *recoveringProbe) Run(ctx context.Context, r butler.Reporter) error {
	p.running.Store(true)
	defer p.running.Store(false)
	return p.probe.Run(ctx, r)
}

func (p *recoveringProbe) Recover(ctx context.Context, s butler.Settings) error {
	p.recovered.Add(1)
	if p.running.Load() {
		p.recoverDuring.Store(true)
	}
	return nil
}

// A run stopped by another server (here: the run recorded stopping with
// that server's reason, and its job cancelled, as River cancels it) ends
// with the reason that server recorded — the window's end — not "stopped
// from another node".
func TestStop_FromAnotherServerKeepsItsReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe(true)
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow)
		ctx := context.Background()
		res, err := f.m.StartTask(ctx, "Job", false)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v, %v", res, err)
		}
		synctest.Wait()
		if ok, err := f.store.MarkStopping(ctx, res.Run.ID, "window closed"); err != nil || !ok {
			t.Fatalf("MarkStopping: %v, %v", ok, err)
		}
		r := f.runs("Job")[0]
		if err := f.q.Cancel(ctx, r.JobID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got := f.runs("Job")[0]
		if got.Outcome != butler.OutcomeStopped || got.Reason != "window closed" {
			t.Fatalf("run ended %s with reason %q; want stopped, \"window closed\"", got.Outcome, got.Reason)
		}
	})
}

// stallStartStore holds StartRun, once armed, until told to go on: the
// store's only writer is busy (a start-all storm) while a worker that has
// registered its run waits to record it running.
type stallStartStore struct {
	*sqlite.DB
	armed   atomic.Bool
	entered chan struct{}
	proceed chan struct{}
}

func (s *stallStartStore) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.proceed
	}
	return s.DB.StartRun(ctx, id, node, at)
}

// A shutdown that comes while a worker records its run's start (after it
// registered the run) leaves the run queued for the next start, its action
// never called: it used to end interrupted having done nothing, and was
// never run (a window counts it as the task's run of that window).
func TestStop_ShutdownWhileItsStartIsRecordedKeepsItQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		var ss *stallStartStore
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow, func(c *butler.Config) {
			ss = &stallStartStore{DB: c.Store.(*sqlite.DB), entered: make(chan struct{}), proceed: make(chan struct{})}
			ss.armed.Store(true)
			c.Store = ss
		})
		res, err := f.m.StartTask(ctx, "Job", false)
		if err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v %v", res, err)
		}
		<-ss.entered
		stopped := make(chan error, 1)
		go func() { stopped <- f.m.Stop(ctx) }()
		synctest.Wait() // Stop has told the run to stop, and waits for it
		close(ss.proceed)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		runs := f.runs("Job")
		if len(runs) != 1 {
			t.Fatalf("runs: %+v", runs)
		}
		if r := runs[0]; r.State != butler.StateQueued || !r.StartedAt.IsZero() || r.Node != "" {
			t.Errorf("a run whose start was being recorded when the server shut down is %s/%s (%q), started %v on %q; want queued as it was",
				r.State, r.Outcome, r.Reason, r.StartedAt, r.Node)
		}
		if n := len(p.Starts()); n != 0 {
			t.Errorf("the action was called %d times; want never", n)
		}
	})
}

// raceStore: StartRun stalls until told; UnstartRun waits until a
// MarkStopping has begun, and MarkStopping waits until UnstartRun is done.
type raceStore struct {
	*sqlite.DB
	armed       atomic.Bool
	entered     chan struct{}
	proceed     chan struct{}
	unstartIn   chan struct{}
	markIn      chan struct{}
	unstartDone chan struct{}
}

func (s *raceStore) StartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	if s.armed.Load() {
		close(s.entered)
		<-s.proceed
	}
	return s.DB.StartRun(ctx, id, node, at)
}

func (s *raceStore) UnstartRun(ctx context.Context, id int64, node string, at time.Time) (bool, error) {
	close(s.unstartIn)
	<-s.markIn
	ok, err := s.DB.UnstartRun(ctx, id, node, at)
	close(s.unstartDone)
	return ok, err
}

func (s *raceStore) MarkStopping(ctx context.Context, id int64, reason string) (bool, error) {
	if s.armed.Load() {
		close(s.markIn)
		<-s.unstartDone
	}
	return s.DB.MarkStopping(ctx, id, reason)
}

// A user's stop that read the run running while the server's shutdown
// gives it back to the queue (UnstartRun: its action never began) removes
// it: it used to answer "stopping" and leave the run queued, to run at the
// next start, or at once on another server.
func TestStop_RacingTheGiveBackRemovesTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newProbe(true)
		var ss *raceStore
		f := start(t, []butler.Task{task("Job", 1, false, p)}, quietWindow, func(c *butler.Config) {
			ss = &raceStore{DB: c.Store.(*sqlite.DB), entered: make(chan struct{}), proceed: make(chan struct{}),
				unstartIn: make(chan struct{}), markIn: make(chan struct{}), unstartDone: make(chan struct{})}
			ss.armed.Store(true)
			c.Store = ss
		})
		if res, err := f.m.StartTask(ctx, "Job", false); err != nil || res.Outcome != butler.StartStarted {
			t.Fatalf("start: %+v %v", res, err)
		}
		<-ss.entered
		stopped := make(chan error, 1)
		go func() { stopped <- f.m.Stop(ctx) }()
		synctest.Wait()
		close(ss.proceed) // the start is recorded; the worker then gives the run back
		<-ss.unstartIn
		type answer struct {
			res butler.StopResult
			err error
		}
		user := make(chan answer, 1)
		go func() { r, err := f.m.StopTask(ctx, "Job"); user <- answer{r, err} }()
		a := <-user
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		runs := f.runs("Job")
		if a.err != nil || runs[0].State != butler.StateFinished || len(p.Starts()) != 0 {
			t.Errorf("StopTask answered %q (%v); the run is %s/%s, its action called %d times; want it removed, never begun",
				a.res.Outcome, a.err, runs[0].State, runs[0].Outcome, len(p.Starts()))
		}
	})
}
